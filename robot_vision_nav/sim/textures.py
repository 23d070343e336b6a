"""Procedural textures for the MuJoCo warehouse: concrete floors and painted hazard stripes.

Every texture is a pure function of its parameters and a seed (numpy's PCG64), so a world renders
the same pixels for the same seed on every run. They are written into the compiled model's
`tex_data` before the render context uploads it; the MJCF only declares placeholders of the right
size. Pure numpy/OpenCV; this module must never import ROS or MuJoCo.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

RGB = tuple[int, int, int]


def _smooth_noise(rng: np.random.Generator, size_px: int, cells: int) -> NDArray[np.float32]:
    """Tileable value noise in [-1, 1]: a `cells` x `cells` random lattice, wrapped and resized smoothly."""
    lattice = rng.uniform(-1.0, 1.0, (cells, cells)).astype(np.float32)
    wrapped = np.pad(lattice, ((0, 1), (0, 1)), mode="wrap")  # the last row/column repeats the first: tiles
    step = size_px / cells
    big = cv2.resize(wrapped, (round(size_px + step), round(size_px + step)), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(big[:size_px, :size_px])


def concrete(seed: int, size_px: int, base_rgb: RGB, roughness: float, seam_every_px: int, stains: float = 1.0
             ) -> NDArray[np.uint8]:  # fmt: skip
    """A worn concrete or epoxy floor tile: several octaves of noise, dark stains, saw-cut seams.

    Args:
        seed: seed of the noise.
        size_px: square texture size in pixels.
        base_rgb: mean colour.
        roughness: noise amplitude (0 smooth epoxy .. 1 rough concrete).
        seam_every_px: distance between joint lines in pixels (0: none).
        stains: how dark the stains are (0 none, 1 the house floor's).

    Returns:
        size_px x size_px x 3 uint8 RGB, tileable.

    """
    rng = np.random.default_rng(seed)
    shade = np.zeros((size_px, size_px), np.float32)
    for cells, weight in ((4, 0.45), (16, 0.3), (64, 0.15)):
        shade += weight * _smooth_noise(rng, size_px, cells)
    shade += 0.1 * rng.uniform(-1.0, 1.0, (size_px, size_px)).astype(np.float32)  # grain
    blotches = np.clip(_smooth_noise(rng, size_px, 6) - 0.55, 0.0, None) * 1.5
    value = 1.0 + 0.18 * roughness * shade - 0.35 * stains * blotches
    if seam_every_px > 0:
        seams = np.zeros(size_px, bool)
        seams[::seam_every_px] = True
        value[seams, :] *= 0.6
        value[:, seams] *= 0.6
    tint = 1.0 + 0.03 * rng.uniform(-1.0, 1.0, 3)
    rgb = value[..., None] * (np.asarray(base_rgb, np.float32) * tint)[None, None, :]
    return np.asarray(np.clip(rgb, 0, 255), dtype=np.uint8)


def stripes(seed: int, size_px: int, rgb_a: RGB, rgb_b: RGB, wear: float) -> NDArray[np.uint8]:
    """Diagonal paint stripes (45 degrees, two per tile, tileable) with worn, dirty patches.

    Args:
        seed: seed of the wear pattern.
        size_px: square texture size in pixels (even).
        rgb_a: first stripe colour (e.g. safety yellow).
        rgb_b: second stripe colour (e.g. black).
        wear: how much floor grime shows through, 0..1.

    Returns:
        size_px x size_px x 3 uint8 RGB, tileable.

    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size_px, 0:size_px]
    band = ((xx + yy) // (size_px // 2)) % 2 == 0
    out = np.where(band[..., None], np.asarray(rgb_a, np.float32), np.asarray(rgb_b, np.float32))
    dirt = 1.0 - wear * 0.35 * np.clip(_smooth_noise(rng, size_px, 8) + 0.2, 0.0, 1.0)
    dirt -= 0.06 * wear * rng.uniform(0.0, 1.0, (size_px, size_px)).astype(np.float32)
    return np.asarray(np.clip(out * dirt[..., None], 0, 255), dtype=np.uint8)


def paint(seed: int, size_px: int, rgb: RGB, wear: float) -> NDArray[np.uint8]:
    """A solid painted surface with wear: the base for red zones and painted walls."""
    rng = np.random.default_rng(seed)
    dirt = 1.0 - wear * 0.25 * np.clip(_smooth_noise(rng, size_px, 8) + 0.3, 0.0, 1.0)
    dirt -= 0.05 * wear * rng.uniform(0.0, 1.0, (size_px, size_px)).astype(np.float32)
    return np.asarray(np.clip(np.asarray(rgb, np.float32)[None, None, :] * dirt[..., None], 0, 255), dtype=np.uint8)

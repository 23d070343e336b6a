"""Paired image/label transforms: geometry on both, colour on the image only, labels never blended.

Training (`TrainTransform`): rescale the whole image to a random factor of the network's input size
(the engine resizes whole frames to that size, aspect ratio and all, so the network learns at the
scales it will see), pad to at least the input size (image with the normalisation mean, labels
with 255, so padding is "nothing to learn"), crop the input size (or a smaller `crop`) at a random
place, flip horizontally at random, and jitter brightness, contrast and saturation of the image.

Appearance randomisation, each step off by default and on the image alone: an exposure gain in
linear light and a gamma (both one lookup table on the uint8 values, before the colour jitter),
then a Gaussian or motion blur, then (`flatten_prob`) texture flattening, then additive Gaussian
sensor noise. Noise comes last, as in a camera, so its standard deviation is the one asked for in
output units; it is signal-independent (no shot-noise term) so that one number sets it.

Labels are class ids (STYLE point 11): they are resized with OpenCV's INTER_NEAREST_EXACT, which
takes the source pixel whose centre is nearest to the destination pixel's centre, the same pixel
grid INTER_LINEAR samples the image on. Plain INTER_NEAREST takes floor(x * scale) instead and
drifts up to a source pixel away from the image when shrinking.

Every random number comes from the `torch.Generator` passed in, drawn in a fixed order whatever
the options (a disabled step still draws), so one (seed, epoch, index) gives the same sample in
any worker process, on any rank, and before and after a resume. The appearance steps draw after
the crop, so a run without them gets the samples it got before they existed; the noise field,
the one draw whose size depends on the image, is drawn after them only when noise is on, and the
flattening draw last only when flattening is on.

Evaluation (`eval_image`): the image resized to the input size exactly as the inference engine
does it (torch bilinear on float, no antialiasing); the labels stay at their own resolution and
the prediction is brought back to it, as `rvn eval` scores. Must never import ROS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from numpy.typing import NDArray

from robot_vision_nav.core.segmentation.labels import IGNORE_INDEX

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # core.segmentation.inference's, on RGB scaled to 0..1
IMAGENET_STD = (0.229, 0.224, 0.225)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601, as torchvision's rgb_to_grayscale
BLUR_SIGMA_PX = (0.5, 1.5)  # range of a Gaussian blur's sigma
MOTION_LENGTH_PX = (3, 9)  # range of a motion blur's length, whole pixels


class TransformError(ValueError):
    """A transform setting or an image/label pair the transforms cannot use."""


def _uniform(generator: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=generator, dtype=torch.float64))


def _randint(generator: torch.Generator, n: int) -> int:
    """A whole number in 0..n-1."""
    return int(torch.randint(n, (), generator=generator))


def check_pair(rgb: NDArray[np.uint8], labels: NDArray[np.uint8]) -> None:
    """Raise TransformError unless `rgb` is uint8 HxWx3 and `labels` uint8 HxW of the same size."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise TransformError(f"expected an RGB image as uint8 HxWx3, got {rgb.dtype} {rgb.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 2:
        raise TransformError(f"expected labels as uint8 HxW, got {labels.dtype} {labels.shape}")
    if rgb.shape[:2] != labels.shape:
        raise TransformError(
            f"image is {rgb.shape[1]}x{rgb.shape[0]} but its labels are {labels.shape[1]}x{labels.shape[0]}"
        )


@dataclass(frozen=True)
class TrainTransform:
    """Random rescale, pad, crop, flip, colour jitter and appearance of an image and its labels (module docstring).

    Attributes:
        size: (height, width) of the output in pixels: the network's input size.
        scale_range: (min, max) factor of `size` the whole image is first resized to.
        flip_prob: probability of a horizontal flip.
        jitter: brightness, contrast and saturation each scaled by a factor in [1 - jitter, 1 + jitter].
        fill_rgb: the image's padding colour (0..255); the normalisation mean makes it 0 for the network.
        exposure: F >= 1: linear intensity times a log-uniform gain in [1/F, F], then clipped (1 is off).
        gamma: G >= 1: values in 0..1 raised to a log-uniform power in [1/G, G] (1 is off).
        noise: S >= 0: Gaussian noise of a standard deviation drawn uniformly in [0, S] (0..255 units; 0 is off).
        blur_prob: probability of a blur: Gaussian (sigma in BLUR_SIGMA_PX) or motion (length in
            MOTION_LENGTH_PX at any angle), one or the other with equal odds.
        flatten_prob: probability of flattening the image's texture (`flatten_texture`: edge-preserving
            smoothing) after the blur, before the noise; its draw is the last of all, made only when on.
        crop: (height, width) of the crop taken after the rescale, at most `size` (None: `size`).
            The rescale stays relative to `size`, so a smaller crop sees the engine's scales, only
            less of each frame: fewer pixels per sample, the same pixels per object.

    """

    size: tuple[int, int]
    scale_range: tuple[float, float] = (0.5, 2.0)
    flip_prob: float = 0.5
    jitter: float = 0.2
    fill_rgb: tuple[float, float, float] = tuple(255.0 * m for m in IMAGENET_MEAN)  # type: ignore[assignment]
    exposure: float = 1.0
    gamma: float = 1.0
    noise: float = 0.0
    blur_prob: float = 0.0
    crop: tuple[int, int] | None = None
    flatten_prob: float = 0.0

    def __post_init__(self) -> None:
        h, w = self.size
        if h < 1 or w < 1:
            raise TransformError(f"size {self.size} must be positive (height, width) px")
        if self.crop is not None:
            ch, cw = self.crop
            if not (1 <= ch <= h and 1 <= cw <= w):
                raise TransformError(f"crop {self.crop} must be positive and at most the input size {self.size} px")
        lo, hi = self.scale_range
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 < lo <= hi):
            raise TransformError(f"scale_range {self.scale_range} must be 0 < min <= max")
        if not 0.0 <= self.flip_prob <= 1.0:
            raise TransformError(f"flip_prob {self.flip_prob} is outside [0, 1]")
        if not 0.0 <= self.jitter < 1.0:
            raise TransformError(f"jitter {self.jitter} is outside [0, 1)")
        for name in ("exposure", "gamma"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 1.0):
                raise TransformError(f"{name} {value} must be a finite number >= 1 (1 is off)")
        if not (math.isfinite(self.noise) and 0.0 <= self.noise <= 255.0):
            raise TransformError(f"noise {self.noise} is outside [0, 255] (standard deviation, 0..255 units)")
        if not 0.0 <= self.blur_prob <= 1.0:
            raise TransformError(f"blur_prob {self.blur_prob} is outside [0, 1]")
        if not 0.0 <= self.flatten_prob <= 1.0:
            raise TransformError(f"flatten_prob {self.flatten_prob} is outside [0, 1]")

    def __call__(
        self, rgb: NDArray[np.uint8], labels: NDArray[np.uint8], generator: torch.Generator
    ) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
        """One augmented pair: image float32 HxWx3 in 0..255 (RGB), labels uint8 HxW (ids and 255).

        Args:
            rgb: uint8 HxWx3 RGB image.
            labels: uint8 HxW class ids of the same size (255 = ignore).
            generator: the source of every random draw (seeded per sample by the caller).

        Raises:
            TransformError: the image and labels are not a uint8 pair of one size.

        """
        check_pair(rgb, labels)
        size_h, size_w = self.size
        out_h, out_w = self.crop or self.size
        # Draws first, in a fixed order, whatever the options.
        scale = _uniform(generator, *self.scale_range)
        flip_draw = _uniform(generator, 0.0, 1.0)
        factors = [_uniform(generator, 1.0 - self.jitter, 1.0 + self.jitter) for _ in range(3)]
        new_h, new_w = max(1, round(size_h * scale)), max(1, round(size_w * scale))
        if (new_h, new_w) != rgb.shape[:2]:
            rgb = np.asarray(cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
            labels = np.asarray(cv2.resize(labels, (new_w, new_h), interpolation=cv2.INTER_NEAREST_EXACT),
                                dtype=np.uint8)  # fmt: skip
        pad_h, pad_w = max(0, out_h - new_h), max(0, out_w - new_w)
        if pad_h or pad_w:
            fill = tuple(round(v) for v in self.fill_rgb)
            rgb = np.asarray(cv2.copyMakeBorder(rgb, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=fill),
                             dtype=np.uint8)  # fmt: skip
            labels = np.asarray(cv2.copyMakeBorder(labels, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT,
                                                   value=IGNORE_INDEX), dtype=np.uint8)  # fmt: skip
        y0 = _randint(generator, labels.shape[0] - out_h + 1)
        x0 = _randint(generator, labels.shape[1] - out_w + 1)
        rgb = rgb[y0 : y0 + out_h, x0 : x0 + out_w]
        labels = labels[y0 : y0 + out_h, x0 : x0 + out_w]
        # The appearance draws, after the crop's (module docstring).
        gain = self.exposure ** _uniform(generator, -1.0, 1.0)
        power = self.gamma ** _uniform(generator, -1.0, 1.0)
        blur_draw = _uniform(generator, 0.0, 1.0)
        motion = _uniform(generator, 0.0, 1.0) < 0.5
        sigma = _uniform(generator, *BLUR_SIGMA_PX)
        length = MOTION_LENGTH_PX[0] + _randint(generator, MOTION_LENGTH_PX[1] - MOTION_LENGTH_PX[0] + 1)
        angle_deg = _uniform(generator, 0.0, 180.0)
        noise_std = _uniform(generator, 0.0, self.noise)
        if flip_draw < self.flip_prob:
            rgb, labels = rgb[:, ::-1], labels[:, ::-1]
        if self.exposure > 1.0 or self.gamma > 1.0:
            image = np.asarray(cv2.LUT(rgb, tone_lut(gain, power)), dtype=np.float32)  # 8x numpy's indexing
        else:
            image = rgb.astype(np.float32)
        if self.jitter > 0.0:
            image = color_jitter(image, *factors)
        if blur_draw < self.blur_prob:
            image = motion_blur(image, length, angle_deg) if motion else gaussian_blur(image, sigma)
        field = None
        if self.noise > 0.0 and noise_std > 0.0:
            field = torch.randn(image.shape, generator=generator, dtype=torch.float32).numpy()
        if self.flatten_prob > 0.0 and _uniform(generator, 0.0, 1.0) < self.flatten_prob:
            image = flatten_texture(image)
        if field is not None:
            image = add_noise(image, noise_std, field)
        return np.ascontiguousarray(image), np.ascontiguousarray(labels)


def srgb_to_linear(v: NDArray[np.float64]) -> NDArray[np.float64]:
    """sRGB-encoded values in 0..1 -> linear intensity in 0..1 (IEC 61966-2-1)."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v: NDArray[np.float64]) -> NDArray[np.float64]:
    """Linear intensity in 0..1 -> sRGB-encoded values in 0..1 (the inverse of `srgb_to_linear`)."""
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(v, 1.0 / 2.4) - 0.055)


def tone_lut(gain: float, power: float) -> NDArray[np.float32]:
    """The 256-entry table (float32, 0..255) of an exposure `gain` in linear light, clipped, then a gamma `power`.

    Indexed by a uint8 image it gives the image as if exposed `gain` times longer (saturating at
    white) and seen through a tone curve v ** `power` (v in 0..1).
    """
    v = np.arange(256, dtype=np.float64) / 255.0
    exposed = linear_to_srgb(np.clip(srgb_to_linear(v) * gain, 0.0, 1.0))
    return np.asarray(255.0 * np.clip(exposed, 0.0, 1.0) ** power, dtype=np.float32)


FLATTEN_PASSES = 3  # bilateral passes of `flatten_texture`
FLATTEN_SIGMA_COLOR = 60.0  # 0..255 units: differences below this are smoothed away, edges above it kept
FLATTEN_SIGMA_SPACE_PX = 5.0


def flatten_texture(image: NDArray[np.float32]) -> NDArray[np.float32]:
    """The image with its fine texture smoothed away and its edges kept (bilateral filter, FLATTEN_PASSES times).

    A renderer that textures every floor and paints every keep-out zone flat teaches "texture is
    floor, flat is paint"; another renderer or a clean real floor is flat. Flattening some samples
    leaves the network outlines, colours and context to go by.
    """
    out = image
    for _ in range(FLATTEN_PASSES):
        out = np.asarray(cv2.bilateralFilter(out, 9, FLATTEN_SIGMA_COLOR, FLATTEN_SIGMA_SPACE_PX), dtype=np.float32)
    return out


def gaussian_blur(image: NDArray[np.float32], sigma: float) -> NDArray[np.float32]:
    """Gaussian blur of standard deviation `sigma` px (kernel out to 4 sigma, mirrored borders)."""
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    return np.asarray(blurred, dtype=np.float32)


def motion_kernel(length: int, angle_deg: float) -> NDArray[np.float32]:
    """A line `length` px long through the centre of an odd square kernel, summing to 1.

    The angle is counter-clockwise from the image's +x axis (rows grow downwards); the line is
    sampled finely and each sample spread bilinearly over its four nearest kernel cells.
    """
    if length < 1:
        raise TransformError(f"motion blur length {length} px must be at least 1")
    size = length | 1
    centre = size // 2
    t = np.linspace(-(length - 1) / 2.0, (length - 1) / 2.0, 8 * length)
    a = math.radians(angle_deg)
    x = np.clip(centre + t * math.cos(a), 0.0, size - 1.0)
    y = np.clip(centre - t * math.sin(a), 0.0, size - 1.0)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - x0, y - y0
    x1, y1 = np.minimum(x0 + 1, size - 1), np.minimum(y0 + 1, size - 1)
    kernel = np.zeros((size, size), dtype=np.float64)
    for ys, xs, w in (
        (y0, x0, (1 - fy) * (1 - fx)),
        (y0, x1, (1 - fy) * fx),
        (y1, x0, fy * (1 - fx)),
        (y1, x1, fy * fx),
    ):
        np.add.at(kernel, (ys, xs), w)
    return np.asarray(kernel / kernel.sum(), dtype=np.float32)


def motion_blur(image: NDArray[np.float32], length: int, angle_deg: float) -> NDArray[np.float32]:
    """Blur along a line `length` px long at `angle_deg` (`motion_kernel`), mirrored borders."""
    kernel = motion_kernel(length, angle_deg)
    return np.asarray(cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101), dtype=np.float32)


def add_noise(image: NDArray[np.float32], std: float, field: NDArray[np.float32]) -> NDArray[np.float32]:
    """`image` plus `std` times `field` (standard normal, the image's shape), clipped to 0..255."""
    return np.asarray(np.clip(image + np.float32(std) * field, 0.0, 255.0), dtype=np.float32)


def color_jitter(
    image: NDArray[np.float32], brightness: float, contrast: float, saturation: float
) -> NDArray[np.float32]:
    """Scale brightness, then contrast (about the mean grey), then saturation (about each pixel's grey).

    Args:
        image: float32 HxWx3 RGB in 0..255.
        brightness: factor on every value (1 keeps the image).
        contrast: factor on the distance from the image's mean grey level.
        saturation: factor on each pixel's distance from its own grey level.

    Returns:
        The jittered image, clipped to 0..255.

    """
    out = np.clip(image * np.float32(brightness), 0.0, 255.0)
    mean = np.float32((out @ LUMA).mean())
    out = np.clip(mean + np.float32(contrast) * (out - mean), 0.0, 255.0)
    grey = (out @ LUMA)[..., None]
    out = np.clip(grey + np.float32(saturation) * (out - grey), 0.0, 255.0)
    return np.asarray(out, dtype=np.float32)


def normalize(
    image: NDArray[np.float32], mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """float32 HxWx3 RGB in 0..255 -> normalised float32 3xHxW tensor ((x / 255 - mean) / std)."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1) * 255.0
    inv = 1.0 / (torch.tensor(std, dtype=torch.float32).view(3, 1, 1) * 255.0)
    return ((x - m) * inv).contiguous()


def eval_image(
    rgb: NDArray[np.uint8],
    size: tuple[int, int],
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    dither: torch.Tensor | None = None,
) -> torch.Tensor:
    """uint8 HxWx3 RGB -> normalised float32 3 x size tensor, resized exactly as `Segmenter.preprocess` does.

    `dither`: the card's input dither pattern (`inference.dither_pattern` at `size`, 8-bit levels), added
    after normalisation as the engine adds it.
    """
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0).float()
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=False)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255.0
    inv = 1.0 / (torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255.0)
    x = (x - m) * inv
    if dither is not None:
        x = x + dither * inv
    return x[0].contiguous()

"""core.rectify: undistorting a distorted camera's depth and mask onto its pinhole model (no ROS)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from robot_vision_nav.core.geometry import PinholeIntrinsics
from robot_vision_nav.core.rectify import DISTORTION_TOLERANCE, Distortion, RectifyError, Undistorter, undistort_maps

K = PinholeIntrinsics(fx=380.0, fy=382.0, cx=321.5, cy=238.0, width=640, height=480)
# Barrel and pincushion lenses of the size real calibrations give.
MODELS = {
    "plumb_bob": Distortion("plumb_bob", (-0.28, 0.07, 0.0008, -0.0004, 0.0)),
    "plumb_bob_pincushion": Distortion("plumb_bob", (0.12, -0.03, 0.0, 0.0, 0.004)),
    "rational_polynomial": Distortion("rational_polynomial", (0.45, -0.02, 0.0006, 0.0003, 0.001, 0.8, 0.05, 0.0)),
    "equidistant": Distortion("equidistant", (-0.02, 0.004, -0.001, 0.0002)),
}


def camera_matrix(k: PinholeIntrinsics) -> np.ndarray:
    return np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])


def distorted_pixel(point: np.ndarray, distortion: Distortion) -> np.ndarray:
    """Where the real (distorted) camera images a 3D point in its optical frame: OpenCV's own projection."""
    obj = point.reshape(1, 1, 3).astype(np.float64)
    zero = np.zeros(3)
    d = np.asarray(distortion.coefficients, np.float64)
    if distortion.model == "equidistant":
        pixels, _ = cv2.fisheye.projectPoints(obj, zero, zero, camera_matrix(K), d)
    else:
        pixels, _ = cv2.projectPoints(obj, zero, zero, camera_matrix(K), d)
    return np.asarray(pixels).reshape(2)


def pinhole_pixel(point: np.ndarray) -> np.ndarray:
    return np.array([K.fx * point[0] / point[2] + K.cx, K.fy * point[1] / point[2] + K.cy])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_point_seen_through_the_lens_lands_back_on_its_pinhole_pixel(name: str) -> None:
    distortion = MODELS[name]
    undistorter = Undistorter()
    rng = np.random.default_rng(7)
    checked, far = 0, 0.0
    for _ in range(12):
        # Points across the view, out to the corners where distortion is largest.
        point = np.array([rng.uniform(-0.75, 0.75), rng.uniform(-0.55, 0.55), 1.0]) * rng.uniform(0.5, 4.0)
        ud, vd = distorted_pixel(point, distortion)
        u0, v0 = pinhole_pixel(point)
        inside = 1 <= ud < K.width - 1 and 1 <= vd < K.height - 1 and 1 <= u0 < K.width - 1 and 1 <= v0 < K.height - 1
        if not inside:
            continue
        image = np.zeros((K.height, K.width), np.uint16)
        # The depth pixels the real camera gives for the point: 3x3, since where the pinhole view is
        # smaller than the lens's (pincushion), nearest-neighbour keeps only some of the source pixels.
        image[round(vd) - 1 : round(vd) + 2, round(ud) - 1 : round(ud) + 2] = 1234
        out = undistorter.undistort(image, K, distortion)
        rows, cols = np.nonzero(out)
        assert len(rows), f"{name}: the point at ({ud:.1f}, {vd:.1f}) vanished"
        assert set(out[rows, cols].tolist()) == {1234}  # moved, not blended
        # Within a pixel in each axis (the pixel grid rounds the point once on each side); where the
        # pinhole view magnifies (a fisheye's edge) one source pixel fills a few: their centre counts.
        assert abs(cols.mean() - u0) <= 1.0 and abs(rows.mean() - v0) <= 1.0, (name, cols, rows, (u0, v0))
        # Without undistorting, the corners are off by many pixels: the test does see the lens.
        far = max(far, math.hypot(ud - u0, vd - v0))
        checked += 1
    assert checked >= 6 and far > 3.0, (checked, far)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_undistorted_values_are_input_values_or_zero(dtype: type) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(1, 200, (K.height, K.width)).astype(dtype)
    if dtype is np.float32:
        image[10:20, 10:20] = np.nan  # an invalid depth stays invalid, never spreads into a blend
    for name in ("plumb_bob", "plumb_bob_pincushion", "equidistant"):
        out = Undistorter().undistort(image, K, MODELS[name])
        assert out.dtype == image.dtype and out.shape == image.shape
        values = set(np.unique(out[np.isfinite(out)]).tolist())
        assert values <= set(np.unique(image[np.isfinite(image)]).tolist()) | {0}, name
    # Pincushion: the pinhole view's corners lie outside the lens's image, and read 0 (invalid depth).
    pincushion = Undistorter().undistort(image, K, MODELS["plumb_bob_pincushion"])
    assert pincushion[0, 0] == 0 and pincushion[K.height // 2, K.width // 2] == image[K.height // 2, K.width // 2]


def test_maps_are_computed_once_per_camera_model() -> None:
    undistorter = Undistorter(cache_size=2)
    first = undistorter.maps(K, MODELS["plumb_bob"])
    assert undistorter.maps(K, MODELS["plumb_bob"]) is first
    other = undistorter.maps(K, MODELS["equidistant"])
    assert other is not first
    undistorter.maps(K.scaled_to(320, 240), MODELS["plumb_bob"])  # a third model: the least recent goes
    assert undistorter.maps(K, MODELS["equidistant"]) is other
    assert undistorter.maps(K, MODELS["plumb_bob"]) is not first
    np.testing.assert_array_equal(undistort_maps(K, MODELS["plumb_bob"])[0], first[0])


@pytest.mark.parametrize(
    "model", ["plumb_bob", "rational_polynomial", "equidistant", "inverse_brown_conrady", "kannala_brandt4", ""]
)
def test_zero_coefficients_are_no_distortion_in_any_model(model: str) -> None:
    assert Distortion(model, (0.0,) * 5).is_zero
    assert Distortion(model, (DISTORTION_TOLERANCE, -DISTORTION_TOLERANCE / 2, 0.0, 0.0)).is_zero
    assert Distortion(model, ()).is_zero
    assert not Distortion(model, (0.0, 2e-6, 0.0, 0.0, 0.0)).is_zero
    assert not Distortion(model, (math.nan, 0.0, 0.0, 0.0, 0.0)).is_zero


def test_what_cannot_be_undistorted_is_refused_naming_it() -> None:
    undistorter = Undistorter()
    image = np.zeros((K.height, K.width), np.uint16)
    with pytest.raises(
        RectifyError, match=r"'inverse_brown_conrady' \(inverse_brown_conrady D = \[0.1, 0, 0, 0, 0\]\)"
    ):
        undistorter.undistort(image, K, Distortion("inverse_brown_conrady", (0.1, 0.0, 0.0, 0.0, 0.0)))
    with pytest.raises(RectifyError, match="'plumb_bob' takes 5 coefficients, got 4"):
        undistorter.undistort(image, K, Distortion("plumb_bob", (0.1, 0.0, 0.0, 0.0)))
    with pytest.raises(RectifyError, match="must be finite"):
        undistorter.undistort(image, K, Distortion("equidistant", (math.inf, 0.0, 0.0, 0.0)))
    with pytest.raises(RectifyError, match="image is 320x240, the camera model 640x480"):
        undistorter.undistort(np.zeros((240, 320), np.uint16), K, MODELS["plumb_bob"])
    with pytest.raises(RectifyError, match="HxW uint8, uint16 or float32"):
        undistorter.undistort(np.zeros((K.height, K.width, 3), np.uint8), K, MODELS["plumb_bob"])
    assert Distortion("", (0.5,)).describe() == "(no model) D = [0.5]"

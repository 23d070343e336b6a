"""Undistorting depth images and masks of a camera whose calibration declares lens distortion.

The stack projects depth as a pinhole camera (`core.geometry.PinholeIntrinsics`). An image of a
lens with distortion (a camera_info with a non-zero D) is not one: used as it is, every point away
from the image centre lands in the wrong place, by centimetres at the edge of a wide lens.
`Undistorter` remaps such an image onto the pinhole camera with the same K and R = identity (the
camera's own optical frame, where TF and the camera mount place it), so nothing downstream changes.

The remap is nearest-neighbour: depths and mask labels are moved, never blended, since a depth
half-way between a box edge and the wall behind it would be a point in mid-air, and a blended label
a class that is not there. Output pixels the lens does not cover read 0 (invalid depth); where the
pinhole view is smaller than the lens's (pincushion), some source pixels are skipped, as any
nearest-neighbour resize skips them. The maps (~3 ms for 640x480 here) are cached per camera model;
a frame then costs one remap (~0.3 ms).

Distortion models are the ROS ones (sensor_msgs/distortion_models.hpp): `plumb_bob` (k1, k2, p1,
p2, k3), `rational_polynomial` (k1, k2, p1, p2, k3, k4, k5, k6), both OpenCV's standard model, and
`equidistant` (k1..k4, OpenCV's fisheye model). A distortion whose coefficients are all within
DISTORTION_TOLERANCE of zero is none at all, whatever model it names (a RealSense D435's colour
stream: plumb_bob or inverse_brown_conrady with five zeros). This module must never import ROS.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.geometry import PinholeIntrinsics

__all__ = [
    "DISTORTION_TOLERANCE",
    "RECTIFIABLE_MODELS",
    "Distortion",
    "RectifyError",
    "Undistorter",
    "undistort_maps",
]

# A coefficient this close to zero is zero: calibration files print 1e-9 for a coefficient fixed at 0.
DISTORTION_TOLERANCE = 1e-6
# The models `Undistorter` handles and how many coefficients each takes.
RECTIFIABLE_MODELS: dict[str, int] = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4}
# A mask or depth image has one channel; OpenCV's remap takes these element types for it.
_REMAP_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


class RectifyError(ValueError):
    """A distortion that cannot be undone here (model, coefficient count, non-finite value), or a bad image."""


@dataclass(frozen=True)
class Distortion:
    """A camera's lens distortion as a camera_info declares it.

    Attributes:
        model: the distortion model name (`plumb_bob`, `rational_polynomial`, `equidistant`, or a
            driver's own, such as librealsense's `inverse_brown_conrady`); may be empty.
        coefficients: the D vector, in the model's order.

    """

    model: str
    coefficients: tuple[float, ...]

    @property
    def is_zero(self) -> bool:
        """Whether every coefficient is within DISTORTION_TOLERANCE of zero (NaN is not): no distortion."""
        return all(abs(c) <= DISTORTION_TOLERANCE for c in self.coefficients)

    def describe(self) -> str:
        """The model and coefficients as people read them: `plumb_bob D = [0.1, -0.05, 0, 0, 0]`."""
        values = ", ".join(f"{c:.6g}" for c in self.coefficients)
        return f"{self.model or '(no model)'} D = [{values}]"


def _camera_matrix(k: PinholeIntrinsics) -> NDArray[np.float64]:
    return np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def _check(distortion: Distortion) -> NDArray[np.float64]:
    """The coefficients as OpenCV takes them, or RectifyError saying what is wrong."""
    expected = RECTIFIABLE_MODELS.get(distortion.model)
    if expected is None:
        raise RectifyError(
            f"distortion model {distortion.model!r} ({distortion.describe()}) cannot be undistorted here: "
            f"expected one of {', '.join(RECTIFIABLE_MODELS)}"
        )
    if len(distortion.coefficients) != expected:
        raise RectifyError(
            f"distortion model {distortion.model!r} takes {expected} coefficients, got "
            f"{len(distortion.coefficients)} ({distortion.describe()})"
        )
    if not all(math.isfinite(c) for c in distortion.coefficients):
        raise RectifyError(f"distortion coefficients must be finite, got {distortion.describe()}")
    return np.asarray(distortion.coefficients, dtype=np.float64)


def undistort_maps(
    intrinsics: PinholeIntrinsics, distortion: Distortion
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """For each pixel of the undistorted (pinhole, same K) image, where it lies in the distorted one.

    Args:
        intrinsics: K and image size (pixels) of the camera; the undistorted image keeps both.
        distortion: the lens distortion; one of RECTIFIABLE_MODELS.

    Returns:
        (map_x, map_y): HxW float32 source columns and rows, as `cv2.remap` takes them.

    Raises:
        RectifyError: an unknown model, a wrong coefficient count or a non-finite coefficient.

    """
    import cv2  # here, not at the top: ros.messages imports Distortion, and most nodes need no OpenCV

    d = _check(distortion)
    k = _camera_matrix(intrinsics)
    size = (intrinsics.width, intrinsics.height)
    if distortion.model == "equidistant":
        map_x, map_y = cv2.fisheye.initUndistortRectifyMap(k, d.reshape(4, 1), np.eye(3), k, size, cv2.CV_32FC1)
    else:
        map_x, map_y = cv2.initUndistortRectifyMap(k, d, None, k, size, cv2.CV_32FC1)
    return np.asarray(map_x, dtype=np.float32), np.asarray(map_y, dtype=np.float32)


class Undistorter:
    """Undistorts images of distorted cameras, nearest-neighbour, with the maps of each camera cached.

    Args:
        cache_size: camera models whose maps are kept (least recently used dropped first); a
            robot has one camera per node, a few leave room for a recalibration.

    """

    def __init__(self, cache_size: int = 4) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be >= 1, got {cache_size}")
        self._cache_size = cache_size
        self._maps: OrderedDict[tuple[Any, ...], tuple[NDArray[np.float32], NDArray[np.float32]]] = OrderedDict()

    def maps(
        self, intrinsics: PinholeIntrinsics, distortion: Distortion
    ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """`undistort_maps` for this camera, computed once per camera model.

        Raises:
            RectifyError: as `undistort_maps`.

        """
        k = intrinsics
        key = (distortion.model, distortion.coefficients, k.fx, k.fy, k.cx, k.cy, k.width, k.height)
        found = self._maps.get(key)
        if found is not None:
            self._maps.move_to_end(key)
            return found
        maps = undistort_maps(intrinsics, distortion)
        self._maps[key] = maps
        while len(self._maps) > self._cache_size:
            self._maps.popitem(last=False)
        return maps

    def undistort(self, image: NDArray[Any], intrinsics: PinholeIntrinsics, distortion: Distortion) -> NDArray[Any]:
        """The image as the pinhole camera with the same K would see it.

        Args:
            image: HxW uint8 (mask), uint16 (depth, mm) or float32 (depth, m), of the camera's size.
            intrinsics: the camera's K and size.
            distortion: its lens distortion; one of RECTIFIABLE_MODELS.

        Returns:
            A new HxW array of the same dtype; every value is one of the input's, or 0 where the
            undistorted view reaches past the distorted image.

        Raises:
            RectifyError: as `undistort_maps`, or an image of another size, shape or dtype.

        """
        if image.ndim != 2 or image.dtype not in _REMAP_DTYPES:
            raise RectifyError(
                f"undistort takes an HxW uint8, uint16 or float32 image, got shape {image.shape} dtype {image.dtype}"
            )
        if image.shape != (intrinsics.height, intrinsics.width):
            raise RectifyError(
                f"image is {image.shape[1]}x{image.shape[0]}, the camera model {intrinsics.width}x{intrinsics.height}"
            )
        import cv2

        map_x, map_y = self.maps(intrinsics, distortion)
        out = cv2.remap(
            np.ascontiguousarray(image), map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        return np.asarray(out, dtype=image.dtype)

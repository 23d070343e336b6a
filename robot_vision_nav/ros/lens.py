"""What the depth nodes do with a camera_info that declares lens distortion.

costmap_node, safety_node and semantic_obstacles_node project depth as a pinhole camera with K. A
camera_info with a non-zero D (any coefficient above `core.rectify.DISTORTION_TOLERANCE`, in any
model) describes an image that is not rectified: projected as it is, points away from the image
centre land in the wrong place and nothing would say so. `LensCorrection.correct` refuses such a
frame with a message naming the model, the coefficients and what to do, or, with the stack-wide
`rectify_distorted: true`, undistorts the depth image and the mask (and segmentation's confidence
image, `correct_like_mask`) onto the pinhole camera with the same K (`core.rectify.Undistorter`:
nearest-neighbour, maps cached per camera model). An all-zero D in any model (a RealSense D435's
colour stream: plumb_bob, or inverse_brown_conrady, with zeros) passes untouched, at no cost.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.config import param
from robot_vision_nav.core.geometry import PinholeIntrinsics
from robot_vision_nav.core.rectify import RECTIFIABLE_MODELS, Distortion, RectifyError, Undistorter


def rectify_distorted_param() -> bool:
    """`rectify_distorted`: what costmap, safety and obstacle nodes do with a distorted camera."""
    field: bool = param(  # a dataclass field typed as its default, as dataclasses.field is
        False,
        "a camera_info with lens distortion (a non-zero D) describes an image that is not rectified: true "
        f"undistorts depth and mask here ({', '.join(RECTIFIABLE_MODELS)}; nearest-neighbour); false refuses such "
        "frames with a warning (safety_node stops the robot): use the driver's rectified or aligned stream",
    )
    return field


class DistortedImageError(ValueError):
    """A frame of a distorted camera that is not used, saying why and what to do."""


class LensCorrection:
    """One node's handling of lens distortion (the undistortion maps it has computed are kept)."""

    def __init__(self) -> None:
        self._undistorter = Undistorter()

    def correct(
        self,
        distortion: Distortion,
        intrinsics: PinholeIntrinsics,
        depth: NDArray[np.uint16] | NDArray[np.float32],
        mask: NDArray[np.uint8] | None,
        rectify: bool,
    ) -> tuple[NDArray[np.uint16] | NDArray[np.float32], NDArray[np.uint8] | None]:
        """Depth and mask as the pinhole camera `intrinsics` sees them.

        Args:
            distortion: what the camera_info declares (`ros.messages.camera_info_distortion`).
            intrinsics: K and size from the same camera_info; depth and mask have its size.
            depth: HxW uint16 (mm) or float32 (m).
            mask: HxW uint8, or None.
            rectify: the node's `rectify_distorted`.

        Returns:
            The inputs themselves when the distortion is zero, else undistorted copies.

        Raises:
            DistortedImageError: a non-zero distortion without `rectify`, or one that cannot be undone
                (an unknown model, a wrong coefficient count, a non-finite coefficient).

        """
        if distortion.is_zero:
            return depth, mask
        if not rectify:
            raise DistortedImageError(
                f"distorted image refused: camera_info declares {distortion.describe()}, and depth is projected "
                "as an undistorted pinhole camera (points off the image centre would land in the wrong place); "
                "use the driver's rectified or aligned stream with its zero-D camera_info, or set "
                "rectify_distorted: true to undistort it here"
            )
        try:
            out_depth = self._undistorter.undistort(depth, intrinsics, distortion)
            out_mask = None if mask is None else self._undistorter.undistort(mask, intrinsics, distortion)
        except RectifyError as err:
            raise DistortedImageError(
                f"distorted image refused: rectify_distorted cannot undistort it: {err}; use the driver's "
                "rectified or aligned stream with its zero-D camera_info"
            ) from err
        return out_depth, out_mask

    def correct_like_mask(
        self, distortion: Distortion, intrinsics: PinholeIntrinsics, image: NDArray[np.uint8]
    ) -> NDArray[np.uint8]:
        """Another mono8 image of the frame (segmentation's confidence) undistorted as `correct` does the mask.

        Called after `correct` accepted the frame with the same distortion and intrinsics: the image
        itself when the distortion is zero, else an undistorted copy (nearest-neighbour, cached maps).

        Raises:
            DistortedImageError: a distortion that cannot be undone (as `correct` would have said).

        """
        if distortion.is_zero:
            return image
        try:
            out: NDArray[np.uint8] = self._undistorter.undistort(image, intrinsics, distortion)
        except RectifyError as err:
            raise DistortedImageError(f"distorted image refused: rectify_distorted cannot undistort it: {err}") from err
        return out

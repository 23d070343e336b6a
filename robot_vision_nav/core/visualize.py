"""Pictures of costmaps for people: Nav2 costs to colours, robot and camera drawn on top.

Row 0 of a grid is the lowest y; pictures are flipped so +y points up, as RViz shows a map viewed
from above with x to the right. Pure numpy/opencv; this module must never import ROS.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.costmap import INSCRIBED_INFLATED_OBSTACLE, LETHAL_OBSTACLE, NO_INFORMATION, RollingCostmap
from robot_vision_nav.core.geometry import Pose2D

UNKNOWN_RGB = (90, 90, 100)
FREE_RGB = (245, 245, 245)
LETHAL_RGB = (10, 10, 10)
INSCRIBED_RGB = (150, 40, 170)


def costs_to_rgb(costs: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Nav2 costs (0..255) to an RGB picture, flipped so +y is up.

    Free is white, inflation yellow to red, inscribed purple, lethal black, unknown grey.
    """
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[0] = FREE_RGB
    ramp = np.linspace(0.0, 1.0, 252)
    lut[1:253, 0] = 255
    lut[1:253, 1] = (230 * (1.0 - ramp)).astype(np.uint8)
    lut[1:253, 2] = (120 * (1.0 - ramp)).astype(np.uint8)
    lut[INSCRIBED_INFLATED_OBSTACLE] = INSCRIBED_RGB
    lut[LETHAL_OBSTACLE] = LETHAL_RGB
    lut[NO_INFORMATION] = UNKNOWN_RGB
    return np.ascontiguousarray(lut[costs][::-1])


def draw_robot(
    picture: NDArray[np.uint8],
    origin_xy_m: tuple[float, float],
    resolution_m: float,
    pose_xy_yaw: tuple[float, float, float],
    radius_m: float,
    scale: int = 1,
) -> None:
    """Draw the robot footprint and heading onto a picture made by `costs_to_rgb` (in place)."""
    rows = picture.shape[0] // scale
    x, y, yaw = pose_xy_yaw

    def to_px(wx: float, wy: float) -> tuple[int, int]:
        col = (wx - origin_xy_m[0]) / resolution_m
        row = rows - (wy - origin_xy_m[1]) / resolution_m
        return round(col * scale), round(row * scale)

    centre = to_px(x, y)
    cv2.circle(picture, centre, max(1, round(radius_m / resolution_m * scale)), (30, 120, 255), max(1, scale))
    tip = to_px(x + 1.5 * radius_m * math.cos(yaw), y + 1.5 * radius_m * math.sin(yaw))
    cv2.arrowedLine(picture, centre, tip, (30, 120, 255), max(1, scale))


def upscale(picture: NDArray[np.uint8], scale: int) -> NDArray[np.uint8]:
    """Enlarge by an integer factor with nearest-neighbour (cells stay crisp squares)."""
    if scale == 1:
        return picture
    return np.ascontiguousarray(np.repeat(np.repeat(picture, scale, axis=0), scale, axis=1))


def overlay_labels(
    rgb: NDArray[np.uint8], labels: NDArray[np.uint8], palette: NDArray[np.uint8], alpha: float
) -> NDArray[np.uint8]:
    """Class colours blended over an image: `(1 - alpha) * rgb + alpha * palette[labels]`, rounded.

    Args:
        rgb: HxWx3 uint8 image.
        labels: HxW uint8 class ids.
        palette: 256x3 uint8 RGB table (`LabelSet.palette()`).
        alpha: weight of the colours, 0 (image only) to 1 (colours only).

    Returns:
        A new HxWx3 uint8 RGB picture.

    Raises:
        ValueError: shapes that do not match, or alpha outside [0, 1].

    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or labels.shape != rgb.shape[:2]:
        raise ValueError(f"expected an HxWx3 image and HxW labels, got {rgb.shape} and {labels.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha {alpha} is outside [0, 1]")
    colors = palette[labels]
    return np.asarray(cv2.addWeighted(np.ascontiguousarray(rgb), 1.0 - alpha, colors, alpha, 0.0), dtype=np.uint8)


def cell_counts(costs: NDArray[np.uint8]) -> dict[str, int]:
    """Cells per Nav2 cost band: free (0), inflated (1..252), inscribed (253), lethal (254), unknown (255)."""
    hist = np.bincount(costs.ravel(), minlength=256)
    return {
        "free": int(hist[0]),
        "inflated": int(hist[1:INSCRIBED_INFLATED_OBSTACLE].sum()),
        "inscribed": int(hist[INSCRIBED_INFLATED_OBSTACLE]),
        "lethal": int(hist[LETHAL_OBSTACLE]),
        "unknown": int(hist[NO_INFORMATION]),
    }


def costmap_picture(costmap: RollingCostmap, pose: Pose2D, scale: int = 3) -> NDArray[np.uint8]:
    """The costmap as an RGB picture (+y up), `scale` pixels per cell, with the robot drawn at `pose`."""
    picture = upscale(costs_to_rgb(costmap.costs), scale)
    draw_robot(
        picture, costmap.origin_m, costmap.resolution_m, (pose.x_m, pose.y_m, pose.yaw_rad),
        costmap.config.robot_radius_m, scale,
    )  # fmt: skip
    return picture

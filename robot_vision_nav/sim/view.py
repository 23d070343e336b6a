"""Pictures of a simulated warehouse for people: `rvn sim-view`.

The top view is MuJoCo's orthographic render of the floor from above (ceiling hidden), with the
route, start, goal, keep-out zone outlines, the people's paths and the robot drawn on it; beside it
the robot camera's colour frame, its depth (near bright, invalid black) and its labels in the
warehouse palette with a legend. Pure numpy/OpenCV on top of `sim.Simulator`; must never import ROS.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.sim.mjcf import top_view_size
from robot_vision_nav.sim.sim import Frame, Simulator
from robot_vision_nav.sim.world_types import LABEL_SET, World

ROUTE_RGB = (40, 200, 60)
START_RGB = (30, 120, 255)
GOAL_RGB = (40, 200, 60)
ZONE_RGB = (255, 40, 40)
PERSON_RGB = (220, 20, 200)
ROBOT_RGB = (20, 200, 160)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def world_to_top_px(world: World, x_m: float, y_m: float) -> tuple[float, float]:
    """(column, row) in the top view of a world point; +x right, +y up, pixel centres at integers."""
    w, h, m_per_px = top_view_size(world)
    return (x_m + w * m_per_px / 2.0) / m_per_px - 0.5, (h * m_per_px / 2.0 - y_m) / m_per_px - 0.5


def _pt(world: World, x: float, y: float) -> tuple[int, int]:
    c, r = world_to_top_px(world, x, y)
    return round(c), round(r)


def annotate_top(sim: Simulator, top: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Route, zones, people's paths, start, goal and the robot drawn on a top-view render (a copy)."""
    world = sim.world
    out = top.copy()
    _, _, m_per_px = top_view_size(world)
    for zone in world.zones:
        corners = np.array([_pt(world, x, y) for x, y in zone.area.corners()], np.int32)
        cv2.polylines(out, [corners], True, ZONE_RGB, 2, cv2.LINE_AA)
    for mover in world.movers:
        cv2.line(out, _pt(world, *mover.a_xy), _pt(world, *mover.b_xy), PERSON_RGB, 1, cv2.LINE_AA)
    route = np.array([_pt(world, x, y) for x, y in world.route_xy], np.int32)
    cv2.polylines(out, [route], False, ROUTE_RGB, 2, cv2.LINE_AA)
    radius_px = max(2, round(world.robot_radius_m / m_per_px))
    s = world.start
    cv2.circle(out, _pt(world, s.x_m, s.y_m), radius_px, START_RGB, 2, cv2.LINE_AA)
    gx, gy = world.goal_xy
    cv2.drawMarker(out, _pt(world, gx, gy), GOAL_RGB, cv2.MARKER_STAR, 2 * radius_px + 6, 2, cv2.LINE_AA)
    p = sim.pose
    centre = _pt(world, p.x_m, p.y_m)
    tip = _pt(world, p.x_m + 2.0 * world.robot_radius_m * math.cos(p.yaw_rad),
              p.y_m + 2.0 * world.robot_radius_m * math.sin(p.yaw_rad))  # fmt: skip
    cv2.circle(out, centre, radius_px, ROBOT_RGB, -1, cv2.LINE_AA)
    cv2.arrowedLine(out, centre, tip, (0, 0, 0), 2, cv2.LINE_AA, tipLength=0.35)
    return out


def depth_picture(depth_m: NDArray[np.float32], max_m: float) -> NDArray[np.uint8]:
    """Depth as a colour picture: near bright yellow to far dark purple (OpenCV's inferno), invalid black."""
    scaled = np.clip(1.0 - depth_m / max_m, 0.0, 1.0)
    picture = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    picture = cv2.cvtColor(picture, cv2.COLOR_BGR2RGB)
    picture[depth_m <= 0.0] = 0
    return np.asarray(picture, dtype=np.uint8)  # already uint8: typed for mypy


def _caption(img: NDArray[np.uint8], text: str) -> NDArray[np.uint8]:
    out = img.copy()
    cv2.rectangle(out, (0, 0), (min(out.shape[1], 8 + 8 * len(text)), 18), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 13), FONT, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def legend(names: tuple[str, ...], palette: NDArray[np.uint8], width_px: int, height_px: int) -> NDArray[np.uint8]:
    """A panel of class colour swatches and names."""
    panel = np.full((height_px, width_px, 3), 255, np.uint8)
    rows = max(1, len(names))
    step = min(22, (height_px - 8) // rows)
    for i, name in enumerate(names):
        y = 6 + i * step
        colour = tuple(int(c) for c in palette[i])
        cv2.rectangle(panel, (8, y), (8 + step - 4, y + step - 4), colour, -1)
        cv2.rectangle(panel, (8, y), (8 + step - 4, y + step - 4), (0, 0, 0), 1)
        cv2.putText(panel, f"{i} {name}", (14 + step, y + step - 8), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return panel


def sim_view_picture(sim: Simulator, frame: Frame | None = None) -> NDArray[np.uint8]:
    """The annotated top view beside the camera frame, its depth and its labels (RGB picture)."""
    from robot_vision_nav.package_files import load_label_set

    frame = sim.render() if frame is None else frame
    labels = load_label_set(LABEL_SET)
    top = annotate_top(sim, sim.render_top())
    h, w = frame.rgb.shape[:2]
    cam = _caption(frame.rgb, "camera (rgb8)")
    depth = _caption(depth_picture(frame.depth_m, sim.camera_config.max_depth_m),
                     f"depth 0..{sim.camera_config.max_depth_m:g} m")  # fmt: skip
    lab = _caption(labels.colorize(frame.labels), "labels (ground truth)")
    key = legend(labels.names, labels.palette(), w, h)
    grid = np.vstack([np.hstack([cam, depth]), np.hstack([lab, key])])
    height = max(top.shape[0], grid.shape[0])
    pad = np.full((height, 8, 3), 255, np.uint8)
    top = np.pad(top, ((0, height - top.shape[0]), (0, 0), (0, 0)), constant_values=255)
    grid = np.pad(grid, ((0, height - grid.shape[0]), (0, 0), (0, 0)), constant_values=255)
    w = sim.world
    title = f"seed {w.seed}: {w.length_m:g} x {w.width_m:g} m, route {w.route_length_m():.1f} m"
    top = _caption(top, title)
    return np.ascontiguousarray(np.hstack([top, pad, grid]))

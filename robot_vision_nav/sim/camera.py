"""The simulated RGB-D camera: D435-like intrinsics, its MuJoCo camera, and a two-pass offscreen renderer.

Intrinsics: square pixels with the RealSense D435 colour camera's horizontal field of view (69.4 deg)
at any resolution (320x240 default, 640x480 available); principal point at the image centre,
`((W - 1) / 2, (H - 1) / 2)` in the pixel-centre convention of sensor_msgs/CameraInfo. MuJoCo
renders a symmetric frustum with `fovy`, which gives exactly these intrinsics.

The camera body pose in base_link is a `core.geometry.CameraMount` (x forward, y left, z up;
pitch > 0 looks down), the same convention the costmap uses for its extrinsics; the optical frame
is z forward, x right, y down. A MuJoCo camera looks along its -z with y up, i.e. the optical frame
turned by pi about x, which is what `mujoco_camera_axes` writes into the MJCF.

Rendering: one scene update and two passes per frame. Pass 1 draws colour and reads colour and
depth together (MuJoCo's reversed-Z float depth buffer, turned into metres along the optical axis);
pass 2 draws segmentation ids, which become warehouse class ids through a geom -> class table. No
multisampling: it would blend the segmentation ids at edges, and on a software renderer it costs
as much again as the whole frame. Depth readings outside [min_depth_m, max_depth_m] are 0
(invalid), as RealSense drivers publish them; an optional noise model adds D435-like error that
grows with the square of the range, and random dropouts. `MUJOCO_GL` defaults to `egl` (headless)
when unset. Must never import ROS.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.config import param, validate_fields
from robot_vision_nav.core.geometry import CameraMount, PinholeIntrinsics
from robot_vision_nav.core.projection import camera_mount_param

IGNORE_LABEL = 255  # label of pixels that show no geom (never in a closed warehouse)


@dataclass(frozen=True)
class CameraConfig:
    """Resolution, field of view, mount and depth model of the simulated RGB-D camera."""

    width_px: int = param(320, "image width (640 for 640x480)", unit="px", min_value=16, max_value=1280)
    height_px: int = param(240, "image height (480 for 640x480)", unit="px", min_value=16, max_value=960)
    hfov_deg: float = param(69.4, "horizontal field of view (D435 colour: 69.4)", unit="deg", min_value=10.0,
                            max_value=150.0)  # fmt: skip
    mount_xyzrpy: tuple[float, ...] = camera_mount_param()  # the costmap's and the safety layer's default
    min_depth_m: float = param(0.1, "nearer depth readings are invalid (0)", unit="m", min_value=0.0, max_value=10.0)
    max_depth_m: float = param(10.0, "farther depth readings are invalid (0)", unit="m", min_value=0.1, max_value=100.0)
    depth_noise: bool = param(False, "add D435-like depth noise and dropouts (seeded)")
    depth_noise_per_m2: float = param(
        0.002, "with depth_noise: standard deviation of the depth error per metre of range squared", unit="1/m",
        min_value=0.0, max_value=0.1,
    )  # fmt: skip
    depth_dropout: float = param(
        0.01, "with depth_noise: fraction of valid pixels randomly reported invalid", min_value=0.0, max_value=1.0
    )

    def __post_init__(self) -> None:
        validate_fields(self)

    @property
    def mount(self) -> CameraMount:
        """The mount as the geometry core's type."""
        return CameraMount.from_sequence(self.mount_xyzrpy)


def camera_intrinsics(config: CameraConfig) -> PinholeIntrinsics:
    """Square-pixel intrinsics with the configured horizontal field of view, principal point at the centre."""
    fx = (config.width_px / 2.0) / math.tan(math.radians(config.hfov_deg) / 2.0)
    return PinholeIntrinsics(fx, fx, (config.width_px - 1) / 2.0, (config.height_px - 1) / 2.0,
                             config.width_px, config.height_px)  # fmt: skip


def fovy_deg(config: CameraConfig) -> float:
    """MuJoCo's vertical field of view for these intrinsics."""
    k = camera_intrinsics(config)
    return math.degrees(2.0 * math.atan((config.height_px / 2.0) / k.fy))


def mujoco_camera_axes(mount: CameraMount) -> tuple[float, ...]:
    """MJCF `xyaxes` of the camera in base_link: its x (image right) and y (image up) axes."""
    r = mount.rotation_base_optical()
    x_axis = r[:, 0]
    y_axis = -r[:, 1]  # optical y points down, MuJoCo's camera y up
    return tuple(float(v) for v in (*x_axis, *y_axis))


def linear_depth(raw: NDArray[np.float32], znear_m: float, zfar_m: float) -> NDArray[np.float32]:
    """Metres along the optical axis from MuJoCo's reversed-Z depth buffer (0 = far plane).

    The buffer holds n (f - z) / (z (f - n)) for a point at depth z, so z = f n / ((f - n) d + n).
    Near and far are rounded to float32 first, as glFrustum sees them.
    """
    n = float(np.float32(znear_m))
    f = float(np.float32(zfar_m))
    d = raw.astype(np.float64)
    return (f * n / ((f - n) * d + n)).astype(np.float32)


def add_depth_noise(
    depth_m: NDArray[np.float32], config: CameraConfig, rng: np.random.Generator
) -> NDArray[np.float32]:
    """D435-like noise on valid pixels: N(0, (k z^2)^2) error and a fraction of dropouts (set to 0)."""
    valid = depth_m > 0.0
    noisy = depth_m + rng.standard_normal(depth_m.shape).astype(np.float32) * (
        np.float32(config.depth_noise_per_m2) * depth_m * depth_m
    )
    drop = rng.random(depth_m.shape) < config.depth_dropout
    out = np.where(valid & ~drop, noisy, 0.0).astype(np.float32)
    out[(out < config.min_depth_m) | (out > config.max_depth_m)] = 0.0
    return out


def ensure_gl_backend() -> None:
    """Default MUJOCO_GL to `egl` (headless) before mujoco is imported; an explicit setting wins."""
    os.environ.setdefault("MUJOCO_GL", "egl")


class RGBDRenderer:
    """Offscreen colour + depth + class-id rendering of one MuJoCo model.

    Args:
        model: the compiled model (`mujoco.MjModel`); its offscreen buffer must fit every image asked for.
        geom_class: per geom id, the warehouse class id its pixels get.
        max_width_px: widest image this renderer will draw.
        max_height_px: tallest image this renderer will draw.

    """

    def __init__(self, model: object, geom_class: NDArray[np.uint8], max_width_px: int, max_height_px: int) -> None:
        ensure_gl_backend()
        import mujoco
        from mujoco.rendering.classic import gl_context

        self._mj = mujoco
        self.model = model
        self._geom_class = geom_class
        self._gl = gl_context.GLContext(max_width_px, max_height_px)
        self._gl.make_current()
        self._con = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100.value)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN.value, self._con)
        self._con.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scene = mujoco.MjvScene(model, maxgeom=max(1000, 2 * int(model.ngeom)))  # type: ignore[attr-defined]
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self.option = mujoco.MjvOption()
        self.top_option = mujoco.MjvOption()
        extent = float(model.stat.extent)  # type: ignore[attr-defined]
        self.znear_m = float(model.vis.map.znear) * extent  # type: ignore[attr-defined]
        self.zfar_m = float(model.vis.map.zfar) * extent  # type: ignore[attr-defined]
        self._closed = False

    def _update(self, data: object, camera_id: int, option: object) -> None:
        mj = self._mj
        self._camera.fixedcamid = camera_id
        mj.mjv_updateScene(self.model, data, option, None, self._camera, mj.mjtCatBit.mjCAT_ALL.value, self._scene)

    def _segment_lut(self) -> NDArray[np.uint8]:
        """Segmentation colour id -> class id for the scene just updated (id 0 is the background)."""
        mj = self._mj
        scene = self._scene
        lut = np.full(scene.ngeom + 2, IGNORE_LABEL, np.uint8)
        geom_type = int(mj.mjtObj.mjOBJ_GEOM)
        for g in scene.geoms[: scene.ngeom]:
            if g.segid >= 0 and g.objtype == geom_type and 0 <= g.objid < len(self._geom_class):
                lut[g.segid + 1] = self._geom_class[g.objid]
        return lut

    def render(
        self, data: object, camera_id: int, width_px: int, height_px: int
    ) -> tuple[NDArray[np.uint8], NDArray[np.float32], NDArray[np.uint8]]:
        """Colour (HxWx3 rgb8), raw depth converted to metres (HxW, no range limits), class ids (HxW)."""
        if self._closed:
            raise RuntimeError("renderer used after close()")
        mj = self._mj
        self._gl.make_current()
        self._update(data, camera_id, self.option)
        rect = mj.MjrRect(0, 0, width_px, height_px)
        flags = self._scene.flags
        rgb = np.empty((height_px, width_px, 3), np.uint8)
        raw = np.empty((height_px, width_px), np.float32)
        flags[mj.mjtRndFlag.mjRND_SEGMENT] = False
        flags[mj.mjtRndFlag.mjRND_IDCOLOR] = False
        mj.mjr_render(rect, self._scene, self._con)
        mj.mjr_readPixels(rgb, raw, rect, self._con)
        seg = np.empty((height_px, width_px, 3), np.uint8)
        flags[mj.mjtRndFlag.mjRND_SEGMENT] = True
        flags[mj.mjtRndFlag.mjRND_IDCOLOR] = True
        mj.mjr_render(rect, self._scene, self._con)
        mj.mjr_readPixels(seg, None, rect, self._con)
        flags[mj.mjtRndFlag.mjRND_SEGMENT] = False
        flags[mj.mjtRndFlag.mjRND_IDCOLOR] = False
        lut = self._segment_lut()
        seg_id = seg[..., 0].astype(np.int32) | (seg[..., 1].astype(np.int32) << 8)
        np.minimum(seg_id, len(lut) - 1, out=seg_id)
        labels = lut[seg_id[::-1]]
        depth = linear_depth(raw[::-1], self.znear_m, self.zfar_m)
        depth[raw[::-1] <= 0.0] = 0.0  # nothing drawn there: the far plane
        return np.ascontiguousarray(rgb[::-1]), depth, labels

    def render_rgb(self, data: object, camera_id: int, width_px: int, height_px: int, top: bool = False
                   ) -> NDArray[np.uint8]:  # fmt: skip
        """Colour only (HxWx3 rgb8); `top` uses the top-view options (ceiling hidden)."""
        mj = self._mj
        self._gl.make_current()
        self._update(data, camera_id, self.top_option if top else self.option)
        rect = mj.MjrRect(0, 0, width_px, height_px)
        rgb = np.empty((height_px, width_px, 3), np.uint8)
        mj.mjr_render(rect, self._scene, self._con)
        mj.mjr_readPixels(rgb, None, rect, self._con)
        return np.ascontiguousarray(rgb[::-1])

    def close(self) -> None:
        """Free the GL resources (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._gl.make_current()
        self._con.free()
        self._gl.free()

    def __del__(self) -> None:
        # At interpreter shutdown GL may already be torn down; nothing useful can be done then.
        with contextlib.suppress(Exception):
            self.close()

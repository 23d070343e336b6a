"""The stepping simulator: a generated warehouse in MuJoCo, the kinematic base, the RGB-D camera, scoring.

`Simulator` owns sim time (integer ns, `step_s` per step, starting at 0) and advances only when
asked, so a caller can run it in real time, as fast as possible, or in lock-step with a controller.
Each step:
  1. the base moves toward the last velocity command (zero after `cmd_timeout_s` of silence),
     within its speed and acceleration limits (`sim.robot`);
  2. people walk on (their positions are functions of sim time);
  3. the footprint circle is checked against every obstacle footprint and person (2-D, exact) and
     against every keep-out zone: a step that would drive into an obstacle ends at the contact
     when `block_on_collision` (the base stops there, resting against it); collisions and keep-out
     violations are counted at every step (`Score`).
`render()` draws the camera at the current sim time: colour, depth in metres (0 invalid), per-pixel
warehouse class ids from MuJoCo's segmentation, the true pose and the camera pose. The robot and
people are mocap bodies; MuJoCo only draws, it never integrates dynamics. Deterministic: the same
world, configs and noise seed give the same steps and the same pixels. Must never import ROS.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.core.config import param, validate_fields
from robot_vision_nav.core.geometry import PinholeIntrinsics, Pose2D, rotation_from_rpy
from robot_vision_nav.core.units import MM_PER_M, NS_PER_S
from robot_vision_nav.sim import textures
from robot_vision_nav.sim.camera import (
    CameraConfig,
    RGBDRenderer,
    add_depth_noise,
    camera_intrinsics,
    ensure_gl_backend,
    mujoco_camera_axes,
)
from robot_vision_nav.sim.mjcf import (
    CAMERA_NAME,
    OWN_BODY_GROUP,
    ROBOT_BODY,
    TOP_CAMERA_NAME,
    top_view_size,
    world_xml,
)
from robot_vision_nav.sim.robot import DiffDriveBase, RobotConfig
from robot_vision_nav.sim.world_types import LABEL_SET, TOP_VIEW_GROUP, Footprint, World


@dataclass(frozen=True)
class SimConfig:
    """Time step, camera rate and collision handling of the simulator."""

    step_s: float = param(0.01, "simulation step: odometry and /clock advance by this much", unit="s",
                          min_value=0.001, max_value=0.2)  # fmt: skip
    camera_rate_hz: float = param(
        15.0, "camera frames per second of sim time (rounded to a whole number of steps)", unit="Hz",
        min_value=0.1, max_value=200.0,
    )  # fmt: skip
    block_on_collision: bool = param(
        True, "a step that would drive the footprint into an obstacle is refused: the base stops (it is counted)"
    )
    moving_people: bool = param(True, "people walk their paths (false: they stand where they are at t = 0)")

    def __post_init__(self) -> None:
        validate_fields(self)

    @property
    def step_ns(self) -> int:
        """The step in integer nanoseconds."""
        return round(self.step_s * NS_PER_S)

    @property
    def camera_every_steps(self) -> int:
        """Steps between camera frames."""
        return max(1, round(1.0 / (self.camera_rate_hz * self.step_s)))


@dataclass
class Score:
    """What happened so far, counted at every step.

    Attributes:
        steps: steps taken.
        collision_steps: steps that ended with the footprint touching an obstacle or a person (or
            refused because they would have).
        collisions: collision events (a run of collision steps counts once).
        keep_out_steps: steps that ended with the footprint overlapping a keep-out zone.
        keep_out_violations: keep-out events (a run of keep-out steps counts once).
        distance_m: path length actually driven.
        hit_labels: classes of everything the robot collided with.

    """

    steps: int = 0
    collision_steps: int = 0
    collisions: int = 0
    keep_out_steps: int = 0
    keep_out_violations: int = 0
    distance_m: float = 0.0
    hit_labels: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        out = asdict(self)
        out["hit_labels"] = sorted(self.hit_labels)
        return out


@dataclass(frozen=True)
class StepResult:
    """The state after one step (world frame; odometry in the odom frame, which starts on the world frame)."""

    stamp_ns: int
    pose: Pose2D
    odom: Pose2D
    linear_mps: float
    angular_rps: float
    odom_linear_mps: float
    odom_angular_rps: float
    collided_with: tuple[str, ...]
    in_keep_out: bool
    camera_due: bool

    @property
    def collided(self) -> bool:
        """Whether the footprint touched (or was refused from entering) an obstacle or a person."""
        return bool(self.collided_with)


@dataclass(frozen=True)
class Frame:
    """One camera frame: rgb8 HxWx3, depth in metres (0 = invalid), warehouse class ids, poses at `stamp_ns`."""

    stamp_ns: int
    rgb: NDArray[np.uint8]
    depth_m: NDArray[np.float32]
    labels: NDArray[np.uint8]
    pose: Pose2D
    T_world_optical: NDArray[np.float64]

    def depth_mm(self) -> NDArray[np.uint16]:
        """Depth as 16UC1 millimetres (0 = invalid), as RealSense drivers publish it."""
        return np.clip(np.round(self.depth_m * MM_PER_M), 0, 65535).astype(np.uint16)


class FootprintSet:
    """Many rectangles and circles, with the distance from a point to each in one vectorised pass."""

    def __init__(self, shapes: list[Footprint] | tuple[Footprint, ...]) -> None:
        self.shapes = tuple(shapes)
        arr = np.array([[s.x_m, s.y_m, s.half_x_m, s.half_y_m, s.yaw_rad, float(s.circle)] for s in shapes],
                       np.float64).reshape(-1, 6)  # fmt: skip
        self._xy = arr[:, :2]
        self._half = arr[:, 2:4]
        self._cos = np.cos(arr[:, 4])
        self._sin = np.sin(arr[:, 4])
        self._circle = arr[:, 5] > 0

    def distances(self, x_m: float, y_m: float) -> NDArray[np.float64]:
        """Distance (m) from the point to every shape, 0 inside."""
        dx = x_m - self._xy[:, 0]
        dy = y_m - self._xy[:, 1]
        lx = self._cos * dx + self._sin * dy
        ly = -self._sin * dx + self._cos * dy
        rect = np.hypot(np.maximum(np.abs(lx) - self._half[:, 0], 0.0), np.maximum(np.abs(ly) - self._half[:, 1], 0.0))
        circ = np.maximum(np.hypot(dx, dy) - self._half[:, 0], 0.0)
        return np.where(self._circle, circ, rect)

    def touching(self, x_m: float, y_m: float, radius_m: float) -> list[Footprint]:
        """Shapes a circle of `radius_m` at (x, y) overlaps."""
        if not self.shapes:
            return []
        return [self.shapes[i] for i in np.flatnonzero(self.distances(x_m, y_m) < radius_m)]


def pose_matrix(pose: Pose2D) -> NDArray[np.float64]:
    """4x4 transform of base_link in the world for a planar pose."""
    t = np.eye(4)
    t[:3, :3] = rotation_from_rpy(0.0, 0.0, pose.yaw_rad)
    t[:2, 3] = (pose.x_m, pose.y_m)
    return t


class Simulator:
    """A world, a robot, a camera and the clock; see the module docstring.

    Args:
        world: the generated warehouse.
        robot: base shape, limits and odometry model (its radius is what collisions are scored with).
        camera: resolution, field of view, mount and depth model.
        config: time step, camera rate, collision handling.
        noise_seed: seed of odometry drift and depth noise.

    """

    def __init__(
        self,
        world: World,
        robot: RobotConfig | None = None,
        camera: CameraConfig | None = None,
        config: SimConfig | None = None,
        noise_seed: int = 0,
    ) -> None:
        ensure_gl_backend()
        import mujoco

        self._mj = mujoco
        self.world = world
        self.robot_config = RobotConfig() if robot is None else robot
        self.camera_config = CameraConfig() if camera is None else camera
        self.config = SimConfig() if config is None else config
        self.intrinsics: PinholeIntrinsics = camera_intrinsics(self.camera_config)
        self.xml = world_xml(world, self.camera_config, self.robot_config)
        self.model = mujoco.MjModel.from_xml_string(self.xml)
        self._fill_textures()
        self.data = mujoco.MjData(self.model)
        self.geom_class = self._geom_classes()
        self._camera_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, CAMERA_NAME)
        self._top_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, TOP_CAMERA_NAME)
        robot_body = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, ROBOT_BODY)
        self._robot_mocap = int(self.model.body_mocapid[robot_body])
        self._people_mocap = [
            int(self.model.body_mocapid[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, f"person_{i}")])
            for i in range(len(world.movers))
        ]
        self.obstacles = FootprintSet(world.obstacles)
        self.zones = FootprintSet([z.area for z in world.zones])
        self._rng = np.random.default_rng(noise_seed)
        self.base = DiffDriveBase(self.robot_config, world.start, seed=noise_seed)
        self.score = Score()
        self.step_count = 0
        self._cmd = (0.0, 0.0)
        self._cmd_stamp_ns: int | None = None
        self._in_collision = False
        self._in_keep_out = False
        self._renderer: RGBDRenderer | None = None
        self._synced_ns: int | None = None
        # Called with every StepResult, in step order (a demo's scorer, a recorder); never by render().
        self.step_observers: list[Callable[[StepResult], None]] = []

    # ------------------------------------------------------------------ model
    def _fill_textures(self) -> None:
        mj = self._mj
        for t in self.world.textures:
            tex_id = mj.mj_name2id(self.model, mj.mjtObj.mjOBJ_TEXTURE, t.name)
            if t.kind == "concrete":
                img = textures.concrete(t.seed, t.size_px, t.rgb_a, t.amount, t.seam_px, t.stains)
            elif t.kind == "stripes":
                img = textures.stripes(t.seed, t.size_px, t.rgb_a, t.rgb_b, t.amount)
            else:
                img = textures.paint(t.seed, t.size_px, t.rgb_a, t.amount)
            adr = int(self.model.tex_adr[tex_id])
            n = int(self.model.tex_width[tex_id] * self.model.tex_height[tex_id] * self.model.tex_nchannel[tex_id])
            if self.model.tex_nchannel[tex_id] == 4:
                img = np.concatenate([img, np.full((*img.shape[:2], 1), 255, np.uint8)], axis=2)
            self.model.tex_data[adr : adr + n] = img.reshape(-1)

    def _geom_classes(self) -> NDArray[np.uint8]:
        """Geom id -> warehouse class id, from the `<class>:<n>` geom names the MJCF writer gives."""
        from robot_vision_nav.package_files import load_label_set

        ids = {c.name: c.id for c in load_label_set(LABEL_SET).classes}
        mj = self._mj
        table = np.full(self.model.ngeom, ids["other"], np.uint8)
        for g in range(self.model.ngeom):
            label = (mj.mj_id2name(self.model, mj.mjtObj.mjOBJ_GEOM, g) or "other").split(":")[0]
            table[g] = ids.get(label, ids["other"])
        return table

    # ------------------------------------------------------------------ time
    @property
    def time_ns(self) -> int:
        """Sim time now (integer ns since the start)."""
        return self.step_count * self.config.step_ns

    @property
    def pose(self) -> Pose2D:
        """True pose of base_link in the world, stamped with the sim time."""
        p = self.base.pose
        return Pose2D(p.x_m, p.y_m, p.yaw_rad, self.time_ns)

    def command(self, linear_mps: float, angular_rps: float) -> None:
        """Set the velocity command (base_link: forward m/s, counter-clockwise rad/s), received now."""
        if not (math.isfinite(linear_mps) and math.isfinite(angular_rps)):
            raise ValueError(f"velocity command must be finite, got linear={linear_mps}, angular={angular_rps}")
        self._cmd = (float(linear_mps), float(angular_rps))
        self._cmd_stamp_ns = self.time_ns

    def set_pose(self, pose: Pose2D) -> None:
        """Teleport the robot (at rest; odometry reset to the same pose). For tests and datasets."""
        self.base.reset(Pose2D(pose.x_m, pose.y_m, pose.yaw_rad, 0))
        self._synced_ns = None

    def set_time(self, step_count: int) -> None:
        """Jump sim time to `step_count` steps (people move; the robot stays). For datasets and tests."""
        if step_count < 0:
            raise ValueError(f"step_count must be >= 0, got {step_count}")
        self.step_count = int(step_count)
        self._synced_ns = None

    def people_at(self, t_ns: int) -> list[Footprint]:
        """Footprints of the people at sim time `t_ns`."""
        t_s = t_ns / NS_PER_S if self.config.moving_people else 0.0
        return [m.footprint_at(t_s) for m in self.world.movers]

    def check(self, x_m: float, y_m: float, t_ns: int) -> tuple[list[str], bool]:
        """(classes the footprint at (x, y) touches at `t_ns`, whether it overlaps a keep-out zone)."""
        r = self.robot_config.radius_m
        hits = [fp.label for fp in self.obstacles.touching(x_m, y_m, r)]
        hits += [fp.label for fp in self.people_at(t_ns) if float(fp.distance(x_m, y_m)) < r]
        in_zone = bool(self.zones.touching(x_m, y_m, r))
        return hits, in_zone

    def _last_free(self, before: Pose2D, proposed: Pose2D, t_ns: int) -> Pose2D:
        """The last collision-free pose on the straight line from `before` to `proposed` (to 1 um)."""
        lo, hi = 0.0, 1.0
        dx, dy = proposed.x_m - before.x_m, proposed.y_m - before.y_m
        while (hi - lo) * math.hypot(dx, dy) > 1e-6:
            mid = 0.5 * (lo + hi)
            hits = self.check(before.x_m + mid * dx, before.y_m + mid * dy, t_ns)[0]
            lo, hi = (lo, mid) if [h for h in hits if h != "person"] else (mid, hi)
        return Pose2D(before.x_m + lo * dx, before.y_m + lo * dy, before.yaw_rad, proposed.stamp_ns)

    def step(self) -> StepResult:
        """Advance sim time by one step: move the base, check and count collisions and keep-out."""
        dt = self.config.step_s
        t_next = self.time_ns + self.config.step_ns
        v_cmd, w_cmd = self._cmd
        timeout_ns = round(self.robot_config.cmd_timeout_s * NS_PER_S)
        if self._cmd_stamp_ns is None or t_next - self._cmd_stamp_ns > timeout_ns:
            v_cmd, w_cmd = 0.0, 0.0
        before = self.base.pose
        proposed, v, w = self.base.propose(v_cmd, w_cmd, dt)
        hits, in_zone = self.check(proposed.x_m, proposed.y_m, t_next)
        static_hit = [h for h in hits if h != "person"]
        if static_hit and self.config.block_on_collision and not self.check(before.x_m, before.y_m, t_next)[0]:
            # Move up to the contact, then stop: the robot rests against the obstacle, so pushing on
            # into it keeps it in contact (one collision, however long it pushes).
            contact = self._last_free(before, proposed, t_next)
            self.base.commit(contact, 0.0, 0.0, dt)
            in_zone = bool(self.zones.touching(contact.x_m, contact.y_m, self.robot_config.radius_m))
        else:
            self.base.commit(proposed, v, w, dt)
        self.step_count += 1
        after = self.base.pose
        s = self.score
        s.steps += 1
        s.distance_m += math.hypot(after.x_m - before.x_m, after.y_m - before.y_m)
        if hits:
            s.collision_steps += 1
            s.hit_labels.update(hits)
            if not self._in_collision:
                s.collisions += 1
        if in_zone:
            s.keep_out_steps += 1
            if not self._in_keep_out:
                s.keep_out_violations += 1
        self._in_collision, self._in_keep_out = bool(hits), in_zone
        b = self.base
        result = StepResult(
            stamp_ns=self.time_ns,
            pose=self.pose,
            odom=Pose2D(b.odom.x_m, b.odom.y_m, b.odom.yaw_rad, self.time_ns),
            linear_mps=b.linear_mps,
            angular_rps=b.angular_rps,
            odom_linear_mps=b.odom_linear_mps,
            odom_angular_rps=b.odom_angular_rps,
            collided_with=tuple(sorted(set(hits))),
            in_keep_out=in_zone,
            camera_due=self.step_count % self.config.camera_every_steps == 0,
        )
        for observer in self.step_observers:
            observer(result)
        return result

    # ------------------------------------------------------------------ rendering
    def _sync(self) -> None:
        """Move the mocap bodies to the current poses and update MuJoCo's kinematics."""
        if self._synced_ns == self.time_ns:
            return
        mj = self._mj
        p = self.base.pose
        self.data.mocap_pos[self._robot_mocap] = (p.x_m, p.y_m, 0.0)
        self.data.mocap_quat[self._robot_mocap] = DiffDriveBase.quaternion_wxyz(p.yaw_rad)
        t_s = self.time_ns / NS_PER_S if self.config.moving_people else 0.0
        for mocap, mover in zip(self._people_mocap, self.world.movers, strict=True):
            x, y, yaw = mover.pose_at(t_s)
            self.data.mocap_pos[mocap] = (x, y, 0.0)
            self.data.mocap_quat[mocap] = DiffDriveBase.quaternion_wxyz(yaw)
        mj.mj_kinematics(self.model, self.data)
        mj.mj_camlight(self.model, self.data)
        self._synced_ns = self.time_ns

    @property
    def renderer(self) -> RGBDRenderer:
        """The offscreen renderer, made on first use (stepping and scoring need no GL)."""
        if self._renderer is None:
            top_w, top_h, _ = top_view_size(self.world)
            self._renderer = RGBDRenderer(
                self.model,
                self.geom_class,
                max(self.camera_config.width_px, top_w),
                max(self.camera_config.height_px, top_h),
            )
            self._renderer.option.geomgroup[OWN_BODY_GROUP] = 0
            self._renderer.top_option.geomgroup[TOP_VIEW_GROUP] = 0
        return self._renderer

    def camera_pose(self, pose: Pose2D | None = None) -> NDArray[np.float64]:
        """4x4 T_world_optical of the camera for the robot at `pose` (default: now)."""
        mount = self.camera_config.mount
        t_base_optical = np.eye(4)
        t_base_optical[:3, :3] = mount.rotation_base_optical()
        t_base_optical[:3, 3] = mount.translation_m()
        return pose_matrix(self.pose if pose is None else pose) @ t_base_optical

    def set_camera_mount(self, mount_xyzrpy: tuple[float, ...]) -> None:
        """Move the camera on the robot (x, y, z in m, roll, pitch, yaw in rad in base_link). For datasets.

        The compiled model's camera is moved in place (no recompile), and `camera_pose` and
        `render` use the new mount from then on, so depth, labels and T_world_optical stay exact.
        """
        config = replace(self.camera_config, mount_xyzrpy=tuple(float(v) for v in mount_xyzrpy))
        mount = config.mount
        x_axis, y_axis = np.split(np.asarray(mujoco_camera_axes(mount), np.float64), 2)
        rotation = np.column_stack([x_axis, y_axis, np.cross(x_axis, y_axis)])
        quat = np.zeros(4)
        self._mj.mju_mat2Quat(quat, rotation.ravel())
        self.model.cam_pos[self._camera_id] = mount.translation_m()
        self.model.cam_quat[self._camera_id] = quat
        self.camera_config = config
        self._synced_ns = None

    def render(self) -> Frame:
        """The camera frame at the current sim time (depth range-limited, noisy if configured)."""
        self._sync()
        cfg = self.camera_config
        rgb, depth, labels = self.renderer.render(self.data, self._camera_id, cfg.width_px, cfg.height_px)
        if cfg.depth_noise:
            depth = add_depth_noise(depth, cfg, self._rng)
        else:
            depth[(depth < cfg.min_depth_m) | (depth > cfg.max_depth_m)] = 0.0
        pose = self.pose
        return Frame(self.time_ns, rgb, depth, labels, pose, self.camera_pose(pose))

    def render_top(self) -> NDArray[np.uint8]:
        """Colour picture of the whole floor from above (ceiling hidden), +x right, +y up."""
        self._sync()
        w, h, _ = top_view_size(self.world)
        return self.renderer.render_rgb(self.data, self._top_id, w, h, top=True)

    def close(self) -> None:
        """Free the renderer's GL resources."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

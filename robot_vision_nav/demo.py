"""`rvn demo`: the whole stack drives the robot from start to goal in generated MuJoCo warehouses.

For each world seed the node list of `ros.bringup` (simulator + segmentation + costmap + planner +
controller, the shipped SegNet weights, config/robot_vision_nav.yaml and config/sim.yaml) runs in
this process over real rclpy topics on one executor thread, the simulator stepping as fast as that
thread lets it (`step_mode: fast`): while segmentation or the costmap works, sim time stands
still, so a slow machine slows the clock instead of the robot driving blind. A
goal is published on goal_pose as RViz would; the run ends when the controller reports
goal_reached at the goal, or at the scene's time limit. The robot's true pose, collisions and
keep-out violations come from the simulator, never from the stack. `ablation="depth-only"` runs
the same scenes with the costmap ignoring segmentation (every pixel drivable), which measures what
perception is worth.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.files import encode_image, write_bytes_atomic
from robot_vision_nav.ros import topics

ABLATIONS = ("none", "depth-only")
GOAL_TOPIC = topics.GOAL_POSE
SCENE_TIME_BASE_S = 30.0  # time limit = this + SCENE_TIME_FACTOR x route length / cruise speed
SCENE_TIME_FACTOR = 3.0
LOCALIZED_MAP_FRAME = "map"  # with --localized, the simulator's world frame: the goal's frame
GOAL_MARGIN_M = 0.1  # the true pose must be within xy_goal_tolerance + this of the goal
PANEL_PX = 360  # height of one scene's panel in summary.png


@dataclass
class SceneResult:
    """One scene's run (the numbers of the table and the JSON)."""

    seed: int
    success: bool
    reason: str
    time_s: float
    path_m: float
    shortest_m: float
    path_ratio: float
    min_clearance_m: float
    collisions: int
    keepout_violations: int
    loop_hz: float  # camera frames folded into the costmap per wall-clock second
    frames: int  # camera frames the simulator rendered
    costmap_updates: int  # of them, how many made it through perception into the costmap
    wall_s: float
    odom_error_m: float = 0.0  # at the end, how far the odometry pose is from the true one (drift)
    extras: dict[str, Any] = field(default_factory=dict, repr=False)  # pictures; not in the JSON

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        out = asdict(self)
        out.pop("extras")
        return {k: (round(v, 4) if isinstance(v, float) and math.isfinite(v) else v) for k, v in out.items()}


@dataclass(frozen=True)
class DemoOptions:
    """What `rvn demo` runs; see `rvn demo --help`."""

    scenes: int = 10
    seed: int = 1
    ablation: str = "none"
    params_file: str = ""
    sim_params_file: str = ""
    model: str = ""
    device: str = ""
    time_limit_s: float = 0.0  # 0: per scene from the route length
    localized: bool = False  # drifting odometry, map -> odom from the simulator, goal in map, pose from TF

    def __post_init__(self) -> None:
        if self.ablation not in ABLATIONS:
            raise ValueError(f"ablation {self.ablation!r} is not one of {', '.join(ABLATIONS)}")
        if self.scenes < 1:
            raise ValueError(f"scenes must be >= 1, got {self.scenes}")


class _Observer:
    """A node of the demo itself: sends the goal, hears the controller's status, keeps pictures."""

    def __init__(self, context: Any, with_mask: bool) -> None:
        from geometry_msgs.msg import PoseStamped
        from nav_msgs.msg import OccupancyGrid
        from rclpy.node import Node
        from sensor_msgs.msg import Image
        from std_msgs.msg import String

        from robot_vision_nav.ros.qos import MAP_QOS, SENSOR_QOS

        self.node = Node("rvn_demo", context=context)
        self.with_mask = with_mask
        self.goal_pub = self.node.create_publisher(PoseStamped, GOAL_TOPIC, 10)
        self.status = ""
        self.costmap: Any = None
        self.images: dict[str, Any] = {}
        self.keep_frame = False
        self.node.create_subscription(String, topics.CONTROLLER_STATUS, self._on_status, 10)
        self.node.create_subscription(OccupancyGrid, topics.LOCAL_COSTMAP, self._on_costmap, MAP_QOS)
        self.node.create_subscription(Image, topics.COLOR_IMAGE, lambda m: self._on_image("rgb", m), SENSOR_QOS)
        self.node.create_subscription(
            Image, "segmentation/traversable", lambda m: self._on_image("mask", m), SENSOR_QOS
        )
        self.frame: tuple[Any, Any] | None = None

    def _on_status(self, msg: Any) -> None:
        self.status = str(msg.data)

    def _on_costmap(self, msg: Any) -> None:
        self.costmap = msg

    def _on_image(self, kind: str, msg: Any) -> None:
        if not self.keep_frame:
            return
        self.images[kind] = msg
        rgb, mask = self.images.get("rgb"), self.images.get("mask")
        if rgb is not None and (
            mask.header.stamp == rgb.header.stamp if self.with_mask and mask else not self.with_mask
        ):
            self.frame = (rgb, mask)

    def send_goal(self, x_m: float, y_m: float, yaw_rad: float, frame_id: str, stamp: Any) -> None:
        from geometry_msgs.msg import PoseStamped

        from robot_vision_nav.ros.messages import yaw_orientation

        goal = PoseStamped()
        goal.header.frame_id = frame_id
        goal.header.stamp = stamp
        goal.pose.position.x, goal.pose.position.y = float(x_m), float(y_m)
        goal.pose.orientation = yaw_orientation(yaw_rad)
        self.goal_pub.publish(goal)


class _Track:
    """Follows the simulator step by step: the true trajectory and the smallest clearance to obstacles and people."""

    def __init__(self, sim: Any, radius_m: float) -> None:
        self.sim = sim
        self.radius_m = radius_m
        self.xy: list[tuple[float, float]] = [(sim.pose.x_m, sim.pose.y_m)]
        self.min_clearance_m = math.inf

    def on_step(self, result: Any) -> None:
        x, y = result.pose.x_m, result.pose.y_m
        self.xy.append((x, y))
        static = self.sim.obstacles.distances(x, y)
        nearest = float(static.min()) if len(static) else math.inf
        for person in self.sim.people_at(result.stamp_ns):
            nearest = min(nearest, float(person.distance(x, y)))
        self.min_clearance_m = min(self.min_clearance_m, nearest - self.radius_m)


def route_length(route_xy: tuple[tuple[float, float], ...]) -> float:
    """Length of a polyline (m)."""
    pts = np.asarray(route_xy, np.float64).reshape(-1, 2)
    return float(np.hypot(*np.diff(pts, axis=0).T).sum()) if len(pts) > 1 else 0.0


def camera_mount_source() -> str:
    """How the demo's stack places the camera: `tf` (the simulator's TF only) where tf2_ros is installed.

    The simulator publishes its TF with tf2_msgs (which a tf2_ros install brings along); without
    either, the camera mount is camera_mount_xyzrpy.
    """
    import importlib.util

    from robot_vision_nav.ros.tf import tf_available

    return "tf" if tf_available() and importlib.util.find_spec("tf2_msgs") is not None else "parameter"


def demo_specs(seed: int, options: DemoOptions) -> list[Any]:
    """The node list of one scene: `ros.bringup.stack_nodes` with the simulator in fast mode.

    Raises:
        BringupError: a params file or model that does not exist, or an unknown parameter in a file.

    """
    from robot_vision_nav.ros.bringup import BringupError, BringupOptions, stack_nodes

    depth_only = options.ablation == "depth-only"
    extra: dict[str, dict[str, Any]] = {"sim_node": {"step_mode": "fast", "publish_labels": False}}
    # Where tf2_ros is installed the camera pose comes from the simulator's TF alone, as on a robot
    # with a URDF; elsewhere from camera_mount_xyzrpy.
    mount = {"camera_mount_source": camera_mount_source()}
    extra["costmap_node"] = dict(mount)
    extra["safety_node"] = dict(mount)
    if mount["camera_mount_source"] == "tf":
        extra["sim_node"]["publish_tf"] = True  # what the stack then places the camera by
    if depth_only:
        extra["costmap_node"]["use_traversability_mask"] = False
    if options.localized:
        if mount["camera_mount_source"] != "tf":
            raise BringupError(
                "--localized needs tf2_ros and tf2_msgs (the map -> odom -> base_link TF): not installed"
            )
        # A robot with a localiser: its wheel odometry drifts, and the simulator publishes map -> odom
        # (from the true pose) as AMCL or a SLAM node would. The goal goes in map, and the nodes take the
        # robot pose from TF odom -> base_link instead of the odom topic.
        extra["sim_node"].update(world_frame=LOCALIZED_MAP_FRAME, odom_drift=True)
        for name in ("costmap_node", "planner_node", "controller_node"):
            extra.setdefault(name, {})["robot_pose_source"] = "tf"
    specs = stack_nodes(
        BringupOptions(
            params_file=options.params_file,
            sim_params_file=options.sim_params_file,
            model=options.model,
            device=options.device,
            sim=True,
            world_seed=seed,
            log_level="warn",
            extra_parameters=extra,
        )
    )
    if depth_only:  # the mask is not used: segmentation would only cost time
        specs = [s for s in specs if s.name != "segmentation_node"]
    return specs


def run_scene(seed: int, options: DemoOptions, progress: Callable[[str], None] | None = None) -> SceneResult:
    """Run the stack on the world of `seed` until the goal is reached or time runs out."""
    import rclpy
    from rclpy.context import Context

    from robot_vision_nav.ros.messages import ns_to_stamp
    from robot_vision_nav.ros.runner import InProcessStack, apply_ros_environment

    depth_only = options.ablation == "depth-only"
    specs = demo_specs(seed, options)
    apply_ros_environment()
    context = Context()
    rclpy.init(context=context, args=[], signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    stack: InProcessStack | None = None
    try:
        stack = InProcessStack(specs, context, "events")
        observer = _Observer(context, with_mask=not depth_only)
        stack.executor.add_node(observer.node)
        sim_node: Any = stack.nodes["sim_node"]
        planner: Any = stack.nodes["planner_node"]
        controller: Any = stack.nodes["controller_node"]
        sim = sim_node.stepper.sim
        world = sim.world
        ctrl = controller.control_config
        shortest = route_length(world.route_xy)
        limit_s = options.time_limit_s or SCENE_TIME_BASE_S + SCENE_TIME_FACTOR * shortest / ctrl.desired_linear_vel_mps
        goal_xy = world.goal_xy
        goal_yaw = math.atan2(goal_xy[1] - world.route_xy[-2][1], goal_xy[0] - world.route_xy[-2][0])
        tolerance = ctrl.xy_goal_tolerance_m + GOAL_MARGIN_M

        # Wait (wall time) until the planner hears goals, then send the one goal of this scene.
        deadline = time.monotonic() + 10.0
        while observer.goal_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            stack.executor.spin_once(timeout_sec=0.05)
        # Sim time. Odometry starts on the world frame and does not drift by default: the goal's world
        # coordinates are its odom coordinates. With --localized they are in map (the world frame).
        start_ns = sim_node.stepper.stamp_ns
        goal_frame = LOCALIZED_MAP_FRAME if options.localized else planner.node_config.global_frame
        observer.send_goal(goal_xy[0], goal_xy[1], goal_yaw, goal_frame, ns_to_stamp(start_ns))

        radius = sim.robot_config.radius_m
        track = _Track(sim, radius)
        sim.step_observers.append(track.on_step)
        wall0 = time.monotonic()
        frames0 = sim_node.stepper.frames
        costmap_node: Any = stack.nodes["costmap_node"]
        updates0 = costmap_node.step.times.count
        reason = "time limit"
        success = False
        next_report = wall0
        half_route = 0.5 * shortest
        while True:
            stack.executor.spin_once(timeout_sec=0.1)
            pose = sim.pose
            elapsed_s = (sim_node.stepper.stamp_ns - start_ns) / 1e9
            dist_goal = math.hypot(pose.x_m - goal_xy[0], pose.y_m - goal_xy[1])
            observer.keep_frame = observer.frame is None and sim.score.distance_m >= half_route
            if observer.status == "goal_reached" and dist_goal <= tolerance:
                success, reason = True, "goal reached"
                break
            if elapsed_s >= limit_s:
                reason = f"time limit {limit_s:.0f} s ({dist_goal:.2f} m to go)"
                break
            if progress is not None and time.monotonic() >= next_report:
                next_report = time.monotonic() + 1.0
                progress(
                    f"scene {seed}: t = {elapsed_s:5.1f} s, {dist_goal:5.2f} m to go, "
                    f"driven {sim.score.distance_m:5.2f} m, "
                    f"collisions {sim.score.collisions}, keep-out {sim.score.keep_out_violations}"
                )
        wall_s = time.monotonic() - wall0
        frames = sim_node.stepper.frames - frames0
        updates = costmap_node.step.times.count - updates0
        score = sim.score
        odom = sim.base.odom
        extras = {
            "world": world,
            "top": sim.render_top(),
            "trajectory": np.asarray(track.xy),
            "costmap": observer.costmap,
            "frame": observer.frame,
        }
        return SceneResult(
            seed=seed,
            success=success,
            reason=reason,
            time_s=(sim_node.stepper.stamp_ns - start_ns) / 1e9,
            path_m=score.distance_m,
            shortest_m=shortest,
            path_ratio=score.distance_m / shortest if shortest > 0 else math.nan,
            min_clearance_m=track.min_clearance_m,
            collisions=score.collisions,
            keepout_violations=score.keep_out_violations,
            loop_hz=updates / wall_s if wall_s > 0 else 0.0,
            frames=frames,
            costmap_updates=updates,
            wall_s=wall_s,
            odom_error_m=math.hypot(odom.x_m - sim.pose.x_m, odom.y_m - sim.pose.y_m),
            extras=extras,
        )
    finally:
        if stack is not None:
            stack.close()
        rclpy.try_shutdown(context=context)


def totals(results: list[SceneResult]) -> dict[str, Any]:
    """The totals row: success rate, collisions, keep-out violations, mean time and path ratio of successes."""
    done = [r for r in results if r.success]
    return {
        "scenes": len(results),
        "success_rate": len(done) / len(results) if results else 0.0,
        "collisions": sum(r.collisions for r in results),
        "keepout_violations": sum(r.keepout_violations for r in results),
        "mean_time_s": round(float(np.mean([r.time_s for r in done])), 3) if done else None,
        "path_ratio": round(float(np.mean([r.path_ratio for r in done])), 4) if done else None,
        "min_clearance_m": round(min(r.min_clearance_m for r in results), 4) if results else None,
        "mean_loop_hz": round(float(np.mean([r.loop_hz for r in results])), 2) if results else None,
        "wall_s": round(sum(r.wall_s for r in results), 1),
    }


def format_table(summary: dict[str, Any]) -> str:
    """The per-scene table and the totals, for people."""
    head = (
        f"{'seed':>6} {'result':<8} {'time s':>7} {'path m':>7} {'ratio':>6} {'clear m':>8} "
        f"{'coll':>5} {'keepout':>8} {'loop Hz':>8}  note"
    )
    mount = {"tf": "camera pose from the simulator's TF", "parameter": "camera pose from camera_mount_xyzrpy"}
    title = f"rvn demo: {summary['ablation']} perception, {len(summary['scenes'])} scenes"
    if summary.get("camera_mount") in mount:
        title += f", {mount[summary['camera_mount']]}"
    if summary.get("localized"):
        title += ", localized (drifting odometry, goal in map, robot pose from TF)"
    lines = [title, head, "-" * len(head)]
    for s in summary["scenes"]:
        lines.append(
            f"{s['seed']:>6} {'success' if s['success'] else 'FAIL':<8} {s['time_s']:>7.1f} {s['path_m']:>7.2f} "
            f"{s['path_ratio']:>6.2f} {s['min_clearance_m']:>8.2f} {s['collisions']:>5} {s['keepout_violations']:>8} "
            f"{s['loop_hz']:>8.1f}  {s['reason']}"
        )
    t = summary["totals"]
    lines.append("-" * len(head))
    mean_time = "n/a" if t["mean_time_s"] is None else f"{t['mean_time_s']:.1f} s"
    ratio = "n/a" if t["path_ratio"] is None else f"{t['path_ratio']:.2f}"
    lines.append(
        f"success {100 * t['success_rate']:.0f} % ({round(t['success_rate'] * t['scenes'])}/{t['scenes']}), "
        f"collisions {t['collisions']}, keep-out violations {t['keepout_violations']}, mean time {mean_time}, "
        f"path ratio {ratio}, min clearance {t['min_clearance_m']:.2f} m, loop {t['mean_loop_hz']:.1f} Hz, "
        f"wall {t['wall_s']:.0f} s"
    )
    if summary.get("picture"):
        lines.append(f"picture: {summary['picture']}")
    return "\n".join(lines)


def _scene_panel(result: SceneResult) -> NDArray[np.uint8]:
    """Top view with costmap, route, trajectory, start and goal; beside it the camera frame and its mask."""
    from robot_vision_nav.ros.image import image_to_numpy, to_rgb
    from robot_vision_nav.ros.messages import occupancy_grid_to_numpy
    from robot_vision_nav.sim.mjcf import top_view_size
    from robot_vision_nav.sim.view import world_to_top_px

    ex = result.extras
    world = ex["world"]
    top = ex["top"].copy()

    def px(x: float, y: float) -> tuple[int, int]:
        c, r = world_to_top_px(world, x, y)
        return round(c), round(r)

    grid = ex["costmap"]
    if grid is not None:  # the last costmap, tinted over the floor: lethal dark, inflation orange
        values = occupancy_grid_to_numpy(grid).astype(np.int16)
        res = grid.info.resolution
        ox, oy = grid.info.origin.position.x, grid.info.origin.position.y
        h, w = top.shape[:2]
        cols, rows = np.meshgrid(np.arange(w), np.arange(h))
        _, _, m_per_px = top_view_size(world)
        xs = (cols + 0.5) * m_per_px - w * m_per_px / 2.0
        ys = h * m_per_px / 2.0 - (rows + 0.5) * m_per_px
        gc = np.floor((xs - ox) / res).astype(int)
        gr = np.floor((ys - oy) / res).astype(int)
        inside = (gc >= 0) & (gc < values.shape[1]) & (gr >= 0) & (gr < values.shape[0])
        v = np.full((h, w), -2, np.int16)
        v[inside] = values[gr[inside], gc[inside]]
        tint = top.astype(np.float32)
        lethal = v >= 99
        inflated = (v > 0) & (v < 99)
        tint[lethal] = 0.4 * tint[lethal] + 0.6 * np.array([40, 0, 60])
        tint[inflated] = 0.7 * tint[inflated] + 0.3 * np.array([255, 140, 0])
        top = tint.astype(np.uint8)
    for zone in world.zones:
        corners = np.array([px(x, y) for x, y in zone.area.corners()], np.int32)
        cv2.polylines(top, [corners], True, (255, 0, 0), 2, cv2.LINE_AA)
    route = np.array([px(x, y) for x, y in world.route_xy], np.int32)
    cv2.polylines(top, [route], False, (0, 160, 255), 1, cv2.LINE_AA)
    traj = np.array([px(x, y) for x, y in ex["trajectory"]], np.int32)
    cv2.polylines(top, [traj], False, (0, 200, 0), 2, cv2.LINE_AA)
    cv2.circle(top, px(world.start.x_m, world.start.y_m), 6, (0, 0, 255), 2, cv2.LINE_AA)
    cv2.drawMarker(top, px(*world.goal_xy), (255, 0, 255), cv2.MARKER_STAR, 16, 2, cv2.LINE_AA)
    scale = PANEL_PX / top.shape[0]
    top = cv2.resize(top, (round(top.shape[1] * scale), PANEL_PX), interpolation=cv2.INTER_AREA)
    side_h = PANEL_PX // 2
    side_w = round(side_h * 4 / 3)
    cam = np.full((side_h, side_w, 3), 60, np.uint8)
    mask_pic = np.full((side_h, side_w, 3), 60, np.uint8)
    if ex["frame"] is not None:
        rgb_msg, mask_msg = ex["frame"]
        rgb = to_rgb(image_to_numpy(rgb_msg), rgb_msg.encoding)
        cam = np.asarray(cv2.resize(rgb, (side_w, side_h), interpolation=cv2.INTER_AREA), np.uint8)
        if mask_msg is not None:
            mask = image_to_numpy(mask_msg)
            tinted = rgb.astype(np.float32)
            blocked = mask < 128
            tinted[blocked] = 0.45 * tinted[blocked] + 0.55 * np.array([230, 30, 30])
            tinted[~blocked] = 0.6 * tinted[~blocked] + 0.4 * np.array([30, 200, 60])
            mask_pic = np.asarray(
                cv2.resize(tinted.astype(np.uint8), (side_w, side_h), interpolation=cv2.INTER_AREA), np.uint8
            )
        else:
            mask_pic = cam.copy()
            cv2.putText(mask_pic, "depth only: no mask", (6, side_h - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (255, 255, 255), 1, cv2.LINE_AA)  # fmt: skip
    side = np.vstack([cam, mask_pic])
    panel = np.hstack([top, side])
    verdict = "success" if result.success else "FAIL"
    text = (
        f"seed {result.seed}: {verdict} {result.time_s:.1f} s, path x{result.path_ratio:.2f}, "
        f"coll {result.collisions}, keep-out {result.keepout_violations}"
    )
    cv2.rectangle(panel, (0, 0), (panel.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(panel, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def summary_picture(results: list[SceneResult]) -> NDArray[np.uint8]:
    """Every scene's panel, two per row."""
    panels = [_scene_panel(r) for r in results]
    width = max(p.shape[1] for p in panels)
    panels = [np.pad(p, ((0, 4), (0, width - p.shape[1] + 4), (0, 0)), constant_values=255) for p in panels]
    if len(panels) % 2:
        panels.append(np.full_like(panels[0], 255))
    rows = [np.hstack(panels[i : i + 2]) for i in range(0, len(panels), 2)]
    return np.vstack(rows)


def run_demo(out_dir: Path, options: DemoOptions, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every scene, write DIR/summary.png and DIR/summary.json, return the summary."""
    demo_specs(options.seed, options)  # a bad file or model fails here, before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[SceneResult] = []
    for seed in range(options.seed, options.seed + options.scenes):
        result = run_scene(seed, options, progress)
        results.append(result)
        if progress is not None:
            progress(
                f"scene {seed}: {'success' if result.success else 'FAIL'} ({result.reason}) in {result.time_s:.1f} s, "
                f"collisions {result.collisions}, keep-out {result.keepout_violations}\n"
            )
    picture = out_dir / "summary.png"
    write_bytes_atomic(picture, encode_image(summary_picture(results)))
    summary = {
        "ablation": "depth-only" if options.ablation == "depth-only" else "segnet",
        "camera_mount": camera_mount_source(),
        "localized": options.localized,
        "scenes": [r.as_dict() for r in results],
        "totals": totals(results),
        "picture": str(picture),
    }
    write_bytes_atomic(out_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    return summary

"""sim_node: the built-in MuJoCo warehouse as the robot's RGB-D camera, odometry and clock.

Publishes (stamps are sim time, the same stamp on every message of one step):
  /clock                                    rosgraph_msgs/Clock, every step (this node owns sim time;
                                            every other node runs with use_sim_time)
  odom                                      nav_msgs/Odometry odom -> base_link, every step
  camera/color/image_raw                    sensor_msgs/Image rgb8, at camera_rate_hz (sim time)
  camera/color/camera_info                  sensor_msgs/CameraInfo, with each colour image
  camera/aligned_depth_to_color/image_raw   sensor_msgs/Image 16UC1 (mm) or 32FC1 (m), 0 = invalid
  sim/labels                                sensor_msgs/Image mono8 warehouse class ids (ground truth)
  sim/ground_truth                          nav_msgs/Odometry world -> base_link, the true pose
  /tf                                       odom -> base_link and world -> odom, every step; /tf_static:
                                            base_link -> camera_link -> camera_frame (without tf2_msgs
                                            the node says so once and skips TF)
  /diagnostics                              diagnostic_msgs/DiagnosticArray: rate, timing, score
Subscribes:
  cmd_vel                                   geometry_msgs/TwistStamped (Twist with use_stamped_cmd_vel: false;
                                            bringup gives it the stack's value)

The simulation is `sim.Simulator`, stepped in `step_mode` real_time, fast or lock_step (each frame
waits for a cmd_vel) by `sim.stepper.SimStepper`; this node converts messages (ros/sim_messages.py),
reads parameters, runs the timers (steady clock, never ROS time: this node makes ROS time) and
reports. Camera images are in the optical frame of the mount `mount_xyzrpy` (the costmap's
`camera_mount_xyzrpy` convention). A parameter update rebuilds the world and restarts the robot at
its start pose; sim time keeps counting up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.node import Node
from rclpy.timer import Timer

from robot_vision_nav.core.config import ConfigError
from robot_vision_nav.nodes.sim_params import SimNodeConfig
from robot_vision_nav.ros import topics
from robot_vision_nav.ros.diagnostics import DiagnosticsReporter
from robot_vision_nav.ros.entry import run_node
from robot_vision_nav.ros.messages import ns_to_stamp, twist_velocity
from robot_vision_nav.ros.params import ConfigParameters, ParameterError
from robot_vision_nav.ros.sim_messages import (
    TfPublishers,
    camera_messages,
    camera_publishers,
    state_messages,
    state_publishers,
)
from robot_vision_nav.ros.timers import PeriodicTimer
from robot_vision_nav.ros.velocity_topics import CommandSubscription
from robot_vision_nav.ros.warn import ThrottledWarnings
from robot_vision_nav.sim.camera import CameraConfig
from robot_vision_nav.sim.robot import RobotConfig
from robot_vision_nav.sim.sim import SimConfig, Simulator
from robot_vision_nav.sim.stepper import Cmd, SimStepper
from robot_vision_nav.sim.world import WorldError, generate_world
from robot_vision_nav.sim.world_types import WorldConfig

NODE_NAME = "sim_node"
LOCK_STEP_POLL_S = 0.005  # how often a lock-step wait checks its wall-clock timeout
TF_FIELDS = ("publish_tf", "base_frame", "camera_link_frame", "camera_frame")  # a change republishes /tf_static


class SimNode(Node):
    """The thin ROS wrapper around Simulator, stepped by a SimStepper."""

    def __init__(self, **node_kwargs: Any) -> None:  # Any: rclpy Node's keyword arguments (context, cli_args...)
        super().__init__(NODE_NAME, **node_kwargs)
        classes = [SimNodeConfig, SimConfig, RobotConfig, CameraConfig]
        try:
            self._params = ConfigParameters(self, classes, on_change=self._on_config)
            self.node_config: SimNodeConfig = self._params.get(SimNodeConfig)
            self.stepper = SimStepper(self._make_sim(), self.node_config.pacing, time.monotonic())
        except BaseException:
            super().destroy_node()  # a refused start leaves no half-made node in the graph
            raise
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._state_pubs = state_publishers(self)  # /clock, odom, sim/ground_truth
        self._camera_pubs = camera_publishers(self)  # colour, camera_info, depth, labels
        self._diagnostics = DiagnosticsReporter(self, "simulator")
        self._cmd_in = CommandSubscription(self, topics.CMD_VEL, self._on_cmd, self.node_config.use_stamped_cmd_vel)
        self._tf = TfPublishers(self)
        self._make_tf_publishers()
        self._warnings = ThrottledWarnings(self.get_logger())
        self._step_timer = self._timer(self.stepper.period_s, self._on_step)
        self._wait_timer = self._timer(LOCK_STEP_POLL_S, self._check_wait)
        self._wait_timer.cancel()
        self._diag_timer = PeriodicTimer(
            self, self.node_config.diagnostics_period_s, self._publish_diagnostics, clock=self._steady
        )
        self.get_logger().info(self.stepper.summary())

    def _make_sim(self) -> Simulator:
        cfg = self.node_config
        robot: RobotConfig = self._params.get(RobotConfig)
        try:
            world = generate_world(cfg.world_seed, WorldConfig(robot_radius_m=robot.radius_m))
        except (WorldError, ConfigError) as err:
            raise ParameterError(f"parameter 'world_seed' = {cfg.world_seed}: {err}") from err
        return Simulator(world, robot, self._params.get(CameraConfig), self._params.get(SimConfig), cfg.noise_seed)

    def _timer(self, period_s: float, callback: Callable[[], None]) -> Timer:
        return self.create_timer(period_s, callback, clock=self._steady)  # never ROS time: this node makes it

    def _make_tf_publishers(self) -> None:
        if self.node_config.publish_tf and self._tf.make():
            self._publish_static_tf()

    def _publish_static_tf(self) -> None:
        if self.node_config.publish_tf:
            self._tf.camera(self.stepper.sim.camera_config.mount, self.node_config.frames, self.stepper.stamp_ns)

    def _on_config(self, cls: type[Any], config: Any) -> None:  # Any: ros/params.ConfigCallback, one class per call
        old, rebuild = self.node_config, True
        if cls is SimNodeConfig:
            self.node_config, self.stepper.pacing = config, config.pacing
            self._cmd_in.switch(config.use_stamped_cmd_vel)
            if any(getattr(old, f) != getattr(config, f) for f in TF_FIELDS):
                self._make_tf_publishers()
            self._diag_timer.set_period(config.diagnostics_period_s)
            rebuild = (old.world_seed, old.noise_seed) != (config.world_seed, config.noise_seed)
        if rebuild:
            try:
                new_sim = self._make_sim()
            except ParameterError as err:  # a seed with no route: the running world carries on
                self.get_logger().error(f"{err}; the simulator carries on unchanged")
            else:
                self.stepper.replace(new_sim)
                self._publish_static_tf()  # the camera may have moved
                self.get_logger().warning(f"simulator rebuilt ({cls.__name__} changed): robot back at its start pose")
        self.destroy_timer(self._step_timer)
        self.stepper.release()
        self._wait_timer.cancel()
        self._step_timer = self._timer(self.stepper.period_s, self._on_step)

    def _on_cmd(self, msg: Twist | TwistStamped) -> None:
        v, w, _ = twist_velocity(msg)
        taken = self.stepper.on_cmd(v, w)
        if taken is Cmd.REFUSED:
            text = f"{self.resolve_topic_name(topics.CMD_VEL)}: non-finite command ({v}, {w}) ignored"
            self._warnings.warn("", text, 2.0, kind="cmd")
        elif taken is Cmd.RESUME:
            self._resume()

    def _resume(self) -> None:
        self._wait_timer.cancel()
        self._step_timer.reset()

    def _check_wait(self) -> None:
        if not self.stepper.waiting:
            self._wait_timer.cancel()
        elif self.stepper.wait_over(time.monotonic()):
            self._resume()

    def _on_step(self) -> None:
        cfg, step = self.node_config, self.stepper.on_tick()
        # Each message is built after the one before went out (the messages are generators).
        for pub, msg in zip(self._state_pubs, state_messages(step.result, cfg.frames, step.stamp_ns), strict=True):
            pub.publish(msg)
        if cfg.publish_tf:
            self._tf.robot(step.result, cfg.frames, step.stamp_ns)
        for kind, text in step.warnings:
            self._warnings.warn("", text, 2.0, kind=kind)
        if not step.frame_due:
            return
        frame = self.stepper.render()  # once the state is out; a lock-step wait starts once the frame is out too
        images = camera_messages(frame, self.stepper.sim.intrinsics, cfg.camera_frame, step.stamp_ns,
                                 cfg.depth_encoding, cfg.publish_labels)  # fmt: skip
        for pub, msg in zip(self._camera_pubs, images, strict=False):  # no labels: one fewer
            pub.publish(msg)
        if self.stepper.hold(time.monotonic()):
            self._step_timer.cancel()
            self._wait_timer.reset()

    def _publish_diagnostics(self) -> None:
        status = self._diagnostics.status()
        status.level, status.message = DiagnosticStatus.OK, "ok"
        values = self.stepper.diagnostics(time.monotonic())
        self._diagnostics.publish(status, values, stamp=ns_to_stamp(self.stepper.stamp_ns))

    def destroy_node(self) -> None:
        """Free the renderer with the node."""
        self.stepper.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Run sim_node until shutdown; a bad parameter ends it with a one-line error (exit 1)."""
    return run_node(SimNode, NODE_NAME, args)


if __name__ == "__main__":
    raise SystemExit(main())

"""safety_node over real rclpy: commands pass, slow down or stop by raw depth; the e-stop latches; stale
inputs, bad input and shutdown leave the robot with a zero command; parameters are checked."""

from __future__ import annotations

import array
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import pytest
from geometry_msgs.msg import PolygonStamped, Twist, TwistStamped
from rcl_interfaces.msg import Log
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Bool, String

from robot_vision_nav.core.geometry import PinholeIntrinsics
from robot_vision_nav.nodes.safety_node import SafetyNode
from robot_vision_nav.ros.image import numpy_to_image
from robot_vision_nav.ros.messages import intrinsics_to_camera_info, ns_to_stamp, stamp_to_ns
from robot_vision_nav.ros.qos import COMMAND_QOS, E_STOP_QOS, LATCHED_QOS, SENSOR_QOS

pytestmark = pytest.mark.ros

K = PinholeIntrinsics(fx=60.0, fy=60.0, cx=39.5, cy=29.5, width=80, height=60)
LEVEL_MOUNT = [0.0, 0.0, 0.3, 0.0, 0.0, 0.0]  # looking straight ahead: a wall at d m is depth d everywhere
FAR, SLOW, NEAR = 2.0, 0.85, 0.3  # free, slow-down zone, stop zone (default polygons end at 1.0 and 0.65 m)


class SafetyRig:
    """safety_node and a driver node that plays the controller, the camera, the e-stop button and the base."""

    def __init__(self, context: Any, overrides: list[Parameter] | None = None) -> None:
        params = [
            # The mount is the parameter unless a test says otherwise: `auto` would hold the robot for
            # the first second while it listens for a camera TF nobody sends (test_tf.py tests TF).
            Parameter("camera_mount_source", value="parameter"),
            Parameter("camera_mount_xyzrpy", value=LEVEL_MOUNT),
            Parameter("warn_throttle_s", value=0.0),
            Parameter("cmd_timeout_s", value=0.3),
            Parameter("depth_timeout_s", value=0.3),
            *(overrides or []),
        ]
        self.node = SafetyNode(context=context, parameter_overrides=params)
        self.driver = Node("safety_driver", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.driver)
        d = self.driver
        stamped = self.node.node_config.use_stamped_cmd_vel
        self.cmd_type: type = TwistStamped if stamped else Twist
        self.pub_cmd = d.create_publisher(self.cmd_type, "/cmd_vel_nav", COMMAND_QOS)
        self.pub_depth = d.create_publisher(Image, "/camera/aligned_depth_to_color/image_raw", SENSOR_QOS)
        self.pub_depth_png = d.create_publisher(
            CompressedImage, "/camera/aligned_depth_to_color/image_raw/compressedDepth", SENSOR_QOS
        )
        self.pub_info = d.create_publisher(CameraInfo, "/camera/color/camera_info", SENSOR_QOS)
        self.pub_e_stop = d.create_publisher(Bool, "/e_stop", E_STOP_QOS)
        self.out: list[tuple[float, float, float]] = []  # (monotonic s, linear, angular)
        self.raw: list[Any] = []  # the messages the base got, as they came
        self.states: list[str] = []
        self.zones: dict[str, PolygonStamped] = {}
        self.logs: list[str] = []
        d.create_subscription(self.cmd_type, "/cmd_vel", self._on_out, COMMAND_QOS)
        d.create_subscription(String, "/safety_state", lambda m: self.states.append(m.data), LATCHED_QOS)
        for name in ("stop", "slowdown"):
            d.create_subscription(
                PolygonStamped, f"/safety/{name}_zone", lambda m, n=name: self.zones.__setitem__(n, m), LATCHED_QOS
            )
        d.create_subscription(
            Log,
            "/rosout",
            lambda m: self.logs.append(m.msg),
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL),
        )
        self.compressed = self.node.node_config.depth_transport == "compressedDepth"
        pubs = (self.pub_cmd, self.pub_depth_png if self.compressed else self.pub_depth, self.pub_info)
        pubs = (*pubs, self.pub_e_stop, self.node._cmd_pub)
        matched = self.spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs), 5.0)
        assert matched, "discovery between the driver and safety_node did not complete"

    def _on_out(self, msg: Any) -> None:
        self.raw.append(msg)
        twist = msg.twist if isinstance(msg, TwistStamped) else msg
        self.out.append((time.monotonic(), twist.linear.x, twist.angular.z))

    def now_ns(self) -> int:
        return int(self.node.get_clock().now().nanoseconds)

    def camera(
        self,
        distance_m: float,
        encoding: str = "32FC1",
        lens: tuple[str, list[float]] = ("plumb_bob", [0.0] * 5),
        payload: tuple[str, bytes] | None = None,
    ) -> None:
        """A wall at `distance_m` in front of the camera: camera_info and one depth frame, both stamped now.

        `lens` is the camera_info's distortion_model and D; with depth_transport compressedDepth the
        frame goes as compressed_depth_image_transport sends 16UC1 (or as `payload`, a bad one).
        """
        depth = np.full((K.height, K.width), distance_m, np.float32)
        stamp = self.now_ns()
        info = intrinsics_to_camera_info(K, "camera_color_optical_frame", stamp)
        info.distortion_model, info.d = lens
        self.pub_info.publish(info)
        self.spin(0.02)  # camera_info first, as a driver's arrive close together in either order
        if self.compressed:
            self.pub_depth_png.publish(compressed_depth((depth * 1000).astype(np.uint16), stamp, payload))
        elif encoding == "16UC1":
            mm = (depth * 1000).astype(np.uint16)
            self.pub_depth.publish(numpy_to_image(mm, "16UC1", stamp, "camera_color_optical_frame"))
        else:
            self.pub_depth.publish(numpy_to_image(depth, "32FC1", stamp, "camera_color_optical_frame"))
        self.spin(0.05)

    def command(self, linear: float = 0.4, angular: float = 0.2) -> tuple[float, float]:
        """Send one controller command; the command the base got for it."""
        msg = self.cmd_type()
        twist = msg.twist if isinstance(msg, TwistStamped) else msg
        twist.linear.x, twist.angular.z = linear, angular
        if isinstance(msg, TwistStamped):
            msg.header.stamp = ns_to_stamp(self.now_ns())
        before = len(self.out)
        self.pub_cmd.publish(msg)
        assert self.spin_until(lambda: len(self.out) > before, 2.0), "no command reached the base"
        return self.out[-1][1], self.out[-1][2]

    def logged(self, words: str, timeout_s: float = 1.0) -> bool:
        """Whether a /rosout line contains `words` (waiting for it, up to `timeout_s`)."""
        return self.spin_until(lambda: any(words in line for line in self.logs), timeout_s)

    def state_is(self, state: str, timeout_s: float = 1.0) -> bool:
        """Whether safety_state reads `state` (waiting for it to arrive, up to `timeout_s`)."""
        return self.spin_until(lambda: bool(self.states) and self.states[-1] == state, timeout_s)

    def spin(self, seconds: float) -> None:
        self.spin_until(lambda: False, seconds)

    def spin_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)
            if done():
                return True
        return False

    def close(self) -> None:
        self.executor.shutdown()
        for n in (self.node, self.driver):
            n.destroy_node()


def compressed_depth(depth_mm: np.ndarray, stamp_ns: int, payload: tuple[str, bytes] | None = None) -> CompressedImage:
    """compressed_depth_image_transport's 16UC1 message: a 12-byte header (INV_DEPTH, 0, 0), then a 16-bit PNG."""
    ok, png = cv2.imencode(".png", depth_mm)
    assert ok
    fmt, data = payload or ("16UC1; compressedDepth png", struct.pack("<iff", 0, 0.0, 0.0) + png.tobytes())
    msg = CompressedImage(format=fmt)
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = "camera_color_optical_frame"
    msg.data = array.array("B", data)
    return msg


@pytest.fixture
def rig(ros_context: Any) -> Iterator[SafetyRig]:
    r = SafetyRig(ros_context)
    try:
        yield r
    finally:
        r.close()


def test_no_depth_yet_means_zero_and_says_why(rig: SafetyRig) -> None:
    assert rig.command() == (0.0, 0.0)
    assert rig.state_is("stale: depth")


def test_free_slowdown_and_stop_follow_the_wall_distance(rig: SafetyRig) -> None:
    rig.camera(FAR)
    assert rig.command(0.4, 0.2) == (0.4, 0.2) and rig.state_is("free")
    rig.camera(SLOW)
    assert rig.command(0.4, 0.2) == pytest.approx((0.2, 0.1)) and rig.state_is("slowdown")
    rig.camera(NEAR)
    assert rig.command(0.4, 0.2) == (0.0, 0.2) and rig.state_is("stop")  # turning in place is allowed
    rig.camera(NEAR, "16UC1")  # millimetres too
    assert rig.command(0.4, 0.2) == (0.0, 0.2)
    rig.camera(FAR)
    assert rig.command(0.4, 0.2) == (0.4, 0.2)


def test_e_stop_stops_at_once_and_holds_until_released(rig: SafetyRig) -> None:
    rig.camera(FAR)
    assert rig.command() == (0.4, 0.2)
    before = len(rig.out)
    rig.pub_e_stop.publish(Bool(data=True))
    assert rig.spin_until(lambda: len(rig.out) > before, 1.0), "no zero published when the e-stop engaged"
    assert rig.out[-1][1:] == (0.0, 0.0) and rig.state_is("e_stop")
    for _ in range(5):
        rig.camera(FAR)
        assert rig.command() == (0.0, 0.0)
    rig.pub_e_stop.publish(Bool(data=False))
    assert rig.state_is("free")
    assert rig.command() == (0.4, 0.2)
    assert rig.logged("e-stop ENGAGED")


def test_e_stop_at_start_holds_a_restarted_node_stopped_until_released(ros_context: Any) -> None:
    # A volatile e-stop is heard only by the nodes running when it is said: a respawned safety node
    # would let the robot go. e_stop_at_start makes it start engaged instead.
    rig = SafetyRig(ros_context, [Parameter("e_stop_at_start", value=True)])
    try:
        assert rig.state_is("e_stop"), rig.states
        assert not any(state.startswith("stale") for state in rig.states), rig.states  # engaged from the first
        assert rig.logged("e-stop engaged at start")
        for _ in range(3):
            rig.camera(FAR)
            assert rig.command() == (0.0, 0.0)
        assert rig.state_is("e_stop"), rig.states  # not overwritten by the watchdog
        rig.pub_e_stop.publish(Bool(data=False))
        assert rig.state_is("free"), rig.states
        assert rig.command() == (0.4, 0.2)
    finally:
        rig.close()


def test_watchdog_zeroes_a_moving_robot_when_commands_stop(rig: SafetyRig) -> None:
    rig.camera(FAR)
    assert rig.command() == (0.4, 0.2)
    sent = time.monotonic()
    before = len(rig.out)
    end = time.monotonic() + 1.0
    while time.monotonic() < end and len(rig.out) == before:
        rig.camera(FAR)  # depth stays fresh; only the controller fell silent
    assert len(rig.out) > before, "no zero when cmd_vel_nav went silent"
    t, lin, ang = rig.out[before]
    assert (lin, ang) == (0.0, 0.0)
    assert t - sent < 0.3 + 0.2, f"zero came {t - sent:.3f} s after the last command (cmd_timeout_s 0.3)"
    assert rig.state_is("stale: cmd_vel")


def test_commands_are_zeroed_once_depth_falls_silent(rig: SafetyRig) -> None:
    last_frame = time.monotonic()  # the frame is stamped with the node clock inside camera()
    rig.camera(FAR)
    outputs = []
    while time.monotonic() - last_frame < 1.0:
        outputs.append((time.monotonic() - last_frame, rig.command()))
        if outputs[-1][1] == (0.0, 0.0):
            break
        rig.spin(0.03)
    age, out = outputs[-1]
    assert out == (0.0, 0.0) and rig.state_is("stale: depth")
    assert 0.29 < age < 0.3 + 0.2, f"zeroed {age:.3f} s after the last depth frame (depth_timeout_s 0.3)"
    assert all(o == (0.4, 0.2) for _, o in outputs[:-1])


def test_bad_depth_and_bad_camera_info_stop_the_robot_with_a_warning(rig: SafetyRig) -> None:
    rig.camera(FAR)
    assert rig.command() == (0.4, 0.2)
    bad = numpy_to_image(np.zeros((K.height, K.width), np.uint8), "mono8", rig.now_ns(), "cam")
    rig.pub_depth.publish(bad)
    assert rig.spin_until(lambda: rig.out[-1][1:] == (0.0, 0.0), 1.0)
    assert rig.command() == (0.0, 0.0)
    assert rig.logged("encoding 'mono8'")
    rig.camera(FAR)
    assert rig.command() == (0.4, 0.2)
    info = intrinsics_to_camera_info(K, "cam", rig.now_ns())
    info.k = [0.0] * 9
    rig.pub_info.publish(info)
    assert rig.spin_until(lambda: rig.out[-1][1:] == (0.0, 0.0), 1.0)
    assert rig.logged("unusable camera_info")
    small = numpy_to_image(np.full((10, 10), 2.0, np.float32), "32FC1", rig.now_ns(), "cam")
    rig.camera(FAR)
    rig.pub_depth.publish(small)
    rig.spin(0.05)
    assert rig.command() == (0.0, 0.0)
    assert rig.logged("camera_info says 80x60")


def test_a_camera_info_that_sees_past_180_degrees_stops_the_robot_instead_of_blinding_it(rig: SafetyRig) -> None:
    # fx = 1e-8 put every point of a wall 0.3 m ahead a billion metres away, outside every zone: the
    # layer said "free" (found by fuzzing). Such a K is refused, and no usable camera model means stop.
    rig.camera(FAR)
    assert rig.command() == (0.4, 0.2)
    stamp = rig.now_ns()
    info = intrinsics_to_camera_info(K, "cam", stamp)
    info.k = [1e-8, 0.0, K.cx, 0.0, 1e-8, K.cy, 0.0, 0.0, 1.0]
    rig.pub_info.publish(info)
    rig.spin(0.02)
    rig.pub_depth.publish(numpy_to_image(np.full((K.height, K.width), NEAR, np.float32), "32FC1", stamp, "cam"))
    assert rig.spin_until(lambda: rig.out[-1][1:] == (0.0, 0.0), 1.0)
    assert rig.command() == (0.0, 0.0)
    assert rig.logged("off the optical axis")


def test_a_covered_lens_stops_a_moving_robot_at_once_and_says_depth_blind(rig: SafetyRig) -> None:
    rig.camera(FAR)
    assert rig.command() == (0.4, 0.2)
    before = len(rig.out)
    rig.camera(0.0)  # every pixel 0: no depth anywhere (a hand over the lens, a box against it)
    assert rig.spin_until(lambda: len(rig.out) > before, 1.0), "no zero when the depth went blind"
    assert rig.out[before][1:] == (0.0, 0.0)
    assert rig.state_is("stop: depth blind"), rig.states
    assert rig.command() == (0.0, 0.2)  # turning in place stays allowed, as in the stop zone
    assert rig.logged("depth blind: 0% of the pixels hold a depth in range")
    rig.camera(FAR)
    assert rig.command() == (0.4, 0.2)


def test_non_finite_command_is_zeroed(rig: SafetyRig) -> None:
    rig.camera(FAR)
    assert rig.command(float("nan"), 0.1) == (0.0, 0.0)
    assert rig.logged("non-finite")


def test_zones_are_published_latched_in_base_link(rig: SafetyRig) -> None:
    assert rig.spin_until(lambda: len(rig.zones) == 2, 2.0)
    stop = rig.zones["stop"]
    assert stop.header.frame_id == "base_link"
    xy = [c for p in stop.polygon.points for c in (p.x, p.y)]
    assert xy == pytest.approx([0.0, -0.27, 0.65, -0.27, 0.65, 0.27, 0.0, 0.27])


def test_parameter_update_applies_to_the_next_command_and_a_bad_one_is_refused(rig: SafetyRig) -> None:
    rig.camera(SLOW)
    assert rig.command(0.4, 0.2) == pytest.approx((0.2, 0.1))
    result = rig.node.set_parameters([Parameter("slowdown_ratio", value=0.25)])[0]
    assert result.successful
    rig.camera(SLOW)
    assert rig.command(0.4, 0.2) == pytest.approx((0.1, 0.05))
    bad = rig.node.set_parameters([Parameter("stop_polygon_xy", value=[0.0, 0.0, 1.0, 0.0])])[0]
    assert not bad.successful and "stop_polygon_xy" in bad.reason and "3 vertices" in bad.reason
    assert rig.node.config.slowdown_ratio == 0.25 and len(rig.node.config.stop_polygon) == 4
    # A bigger stop zone takes the 0.6 m wall into it from the next frame.
    wide = [0.0, -0.3, 0.9, -0.3, 0.9, 0.3, 0.0, 0.3]
    assert rig.node.set_parameters([Parameter("stop_polygon_xy", value=wide)])[0].successful
    assert rig.command() == (0.0, 0.0)  # the old verdict is forgotten: stopped until a frame is judged
    rig.camera(SLOW)
    assert rig.command() == (0.0, 0.2) and rig.state_is("stop")


def test_destroying_the_node_sends_a_last_zero(ros_context: Any) -> None:
    r = SafetyRig(ros_context)
    try:
        r.camera(FAR)
        assert r.command() == (0.4, 0.2)
        before = len(r.out)
        r.node.destroy_node()
        assert r.spin_until(lambda: len(r.out) > before, 2.0)
        assert r.out[-1][1:] == (0.0, 0.0)
    finally:
        r.executor.shutdown()
        r.driver.destroy_node()


@pytest.mark.parametrize("base_frame", [None, "base_footprint"])
def test_stamped_commands_by_default_carry_their_stamp_in_base_frame(ros_context: Any, base_frame: str | None) -> None:
    r = SafetyRig(ros_context, [Parameter("base_frame", value=base_frame)] if base_frame else [])
    try:
        assert r.cmd_type is TwistStamped  # the default, as Kilted's diff_drive_controller takes
        r.camera(FAR)
        sent_ns = r.now_ns()
        msg = TwistStamped()
        msg.header.stamp = ns_to_stamp(sent_ns)
        msg.header.frame_id = "base_link"
        msg.twist.linear.x, msg.twist.angular.z = 0.4, 0.2
        r.pub_cmd.publish(msg)
        assert r.spin_until(lambda: any(m.twist.linear.x == 0.4 for m in r.raw), 2.0)
        out = next(m for m in r.raw if m.twist.linear.x == 0.4)
        assert r.spin_until(lambda: "stop" in r.zones, 2.0)
        assert isinstance(out, TwistStamped) and out.twist.angular.z == 0.2
        assert out.header.frame_id == (base_frame or "base_link") == r.zones["stop"].header.frame_id
        assert stamp_to_ns(out.header.stamp) == sent_ns  # the controller's stamp carried through
    finally:
        r.close()


def test_unstamped_commands_in_and_out_for_a_humble_era_base(ros_context: Any) -> None:
    r = SafetyRig(ros_context, [Parameter("use_stamped_cmd_vel", value=False)])
    try:
        assert r.cmd_type is Twist
        r.camera(FAR)
        assert r.command() == (0.4, 0.2)
        assert r.raw and all(type(m) is Twist for m in r.raw)
    finally:
        r.close()


def test_a_wall_in_the_stop_zone_stops_a_moving_robot_without_waiting_for_a_command(rig: SafetyRig) -> None:
    rig.camera(FAR)
    assert rig.command() == (0.4, 0.2)
    before = len(rig.out)
    rig.camera(NEAR)  # no command follows: the controller may be late, or hung
    assert rig.spin_until(lambda: len(rig.out) > before, 1.0), "no zero on the stop verdict itself"
    assert rig.out[before][1:] == (0.0, 0.0) and rig.state_is("stop")


def test_under_sim_time_nothing_moves_before_the_first_clock(ros_context: Any) -> None:
    r = SafetyRig(ros_context, [Parameter("use_sim_time", value=True)])
    try:
        r.camera(FAR)  # stamped 0: no /clock yet
        assert r.command() == (0.0, 0.0) and r.state_is("stale: clock")
    finally:
        r.close()


# ------------------------------------------------------------------ compressed depth, lens distortion
DEPTH_PNG = "/camera/aligned_depth_to_color/image_raw/compressedDepth"
PLUMB_BOB = [-0.12, 0.05, 0.001, -0.0005, 0.01]


def test_compressed_depth_is_judged_like_raw_and_an_undecodable_frame_stops_the_robot(ros_context: Any) -> None:
    rig = SafetyRig(ros_context, [Parameter("depth_transport", value="compressedDepth")])
    try:
        rig.camera(FAR)
        assert rig.command(0.4, 0.2) == (0.4, 0.2) and rig.state_is("free")
        rig.camera(NEAR)
        assert rig.command(0.4, 0.2) == (0.0, 0.2) and rig.state_is("stop")
        rig.camera(FAR)
        assert rig.command() == (0.4, 0.2)
        rig.camera(FAR, payload=("16UC1; compressedDepth png", struct.pack("<iff", 0, 0.0, 0.0) + b"\x89PNG junk"))
        assert rig.spin_until(lambda: rig.out[-1][1:] == (0.0, 0.0), 1.0), "a moving robot kept going"
        assert rig.command() == (0.0, 0.0)
        assert rig.logged(f"{DEPTH_PNG}: undecodable CompressedImage")
        rig.camera(FAR, payload=("16UC1; compressedDepth rvl", bytes(32)))  # rvl: not supported, same answer
        assert rig.command() == (0.0, 0.0) and rig.logged("rvl")
        rig.camera(FAR)
        assert rig.command() == (0.4, 0.2)  # and back as soon as a frame decodes
    finally:
        rig.close()


def test_a_distorted_camera_stops_the_robot_unless_rectify_distorted(ros_context: Any) -> None:
    rig = SafetyRig(ros_context)
    try:
        rig.camera(FAR)
        assert rig.command() == (0.4, 0.2)
        rig.camera(FAR, lens=("plumb_bob", PLUMB_BOB))
        assert rig.spin_until(lambda: rig.out[-1][1:] == (0.0, 0.0), 1.0), "a moving robot kept going"
        assert rig.command() == (0.0, 0.0)
        assert rig.logged("/camera/color/camera_info: distorted image refused")
        assert rig.logged("plumb_bob D = [-0.12, 0.05, 0.001, -0.0005, 0.01]") and rig.logged("rectify_distorted")
        for model in ("plumb_bob", "inverse_brown_conrady", "equidistant"):  # a D435's colour stream: zeros
            rig.camera(FAR, lens=(model, [0.0] * 5))
            assert rig.command() == (0.4, 0.2), model
    finally:
        rig.close()
    rig = SafetyRig(ros_context, [Parameter("rectify_distorted", value=True)])
    try:
        for distance, expected in ((FAR, (0.4, 0.2)), (NEAR, (0.0, 0.2)), (FAR, (0.4, 0.2))):
            rig.camera(distance, lens=("plumb_bob", PLUMB_BOB))
            assert rig.command() == expected, distance
        rig.camera(FAR, lens=("kannala_brandt4", [0.1, 0.0, 0.0, 0.0]))  # a model it cannot undo: stop
        assert rig.command() == (0.0, 0.0)
        assert rig.logged("cannot undistort it")
        assert not any("distorted image refused: camera_info declares" in line for line in rig.logs), rig.logs
    finally:
        rig.close()

"""core.safety_step: what safety_node decides on each command, camera model, depth frame, e-stop and
watchdog tick, without ROS."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from robot_vision_nav.core.geometry import PinholeIntrinsics
from robot_vision_nav.core.rectify import Distortion
from robot_vision_nav.core.safety import GateOutput, SafetyConfig, SafetyError
from robot_vision_nav.core.safety_step import CMD, DEPTH, INFO, Reaction, SafetyStep

NS = 1_000_000_000
T0 = 10 * NS  # a node clock well past 0 (0 is "no clock yet")
K = PinholeIntrinsics(fx=60.0, fy=60.0, cx=39.5, cy=29.5, width=80, height=60)
NO_LENS = Distortion("plumb_bob", (0.0,) * 5)
CONFIG = SafetyConfig(camera_mount_xyzrpy=(0.0, 0.0, 0.3, 0.0, 0.0, 0.0))  # level: a wall at d m is depth d
FAR, SLOW, NEAR = 2.0, 0.85, 0.3  # free, slow-down zone, stop zone


Decode = Callable[[PinholeIntrinsics, Distortion | None], NDArray[np.float32]]


def wall(distance_m: float) -> Decode:
    """A decode callback giving a wall at `distance_m` filling the view (32FC1)."""

    def decode(intrinsics: PinholeIntrinsics, distortion: Distortion | None) -> NDArray[np.float32]:
        return np.full((intrinsics.height, intrinsics.width), distance_m, np.float32)

    return decode


def judge(step: SafetyStep, distance_m: float, stamp_ns: int, now_ns: int | None = None) -> Reaction:
    """Camera model and one depth frame stamped `stamp_ns`, received at `now_ns` (default: the stamp)."""
    now_ns = stamp_ns if now_ns is None else now_ns
    step.on_camera(K, NO_LENS, now_ns)
    assert step.check_camera(now_ns) is None
    return step.on_depth(wall(distance_m), CONFIG.mount, stamp_ns, now_ns)


def moving_step(now_ns: int = T0) -> SafetyStep:
    """A step with a free view that has just passed (0.4, 0.2) to the base."""
    step = SafetyStep(CONFIG)
    judge(step, FAR, now_ns)
    assert step.on_cmd(0.4, 0.2, None, now_ns).send == GateOutput(0.4, 0.2, "free")
    assert step.moving
    return step


def test_the_step_starts_stopped_and_says_what_is_missing() -> None:
    step = SafetyStep(CONFIG)
    assert step.state == "stale: cmd_vel, depth" and not step.moving
    assert SafetyStep(SafetyConfig(use_depth=False)).state == "stale: cmd_vel"
    reaction = step.on_cmd(0.4, 0.2, 7, T0)
    assert reaction == Reaction(GateOutput(0.0, 0.0, "stale: depth"), 7, (CMD,), "")
    assert step.state == "stale: depth" and step.counts["zeroed"] == 1


def test_a_command_passes_with_its_stamp_slows_down_and_stops_with_the_zone() -> None:
    step = SafetyStep(CONFIG)
    judge(step, FAR, T0)
    assert step.on_cmd(0.4, 0.2, 5, T0) == Reaction(GateOutput(0.4, 0.2, "free"), 5, (CMD,), "")
    judge(step, SLOW, T0 + 1)
    out = step.on_cmd(0.4, 0.2, None, T0 + 1).send
    assert out is not None and (out.linear_mps, out.angular_rps, out.state) == pytest.approx((0.2, 0.1, "slowdown"))
    judge(step, NEAR, T0 + 2)
    assert step.on_cmd(0.4, 0.2, None, T0 + 2).send == GateOutput(0.0, 0.2, "stop")  # turning in place allowed
    assert step.counts == {"commands": 3, "zeroed": 0, "slowed": 1, "e_stops": 0, "out_of_order": 0}


def test_a_non_finite_command_is_zeroed_with_a_warning() -> None:
    step = SafetyStep(CONFIG)
    judge(step, FAR, T0)
    reaction = step.on_cmd(float("nan"), 0.1, None, T0)
    assert reaction.send == GateOutput(0.0, 0.0, "stop: non-finite command")
    assert (reaction.about, reaction.problem) == ((CMD,), "non-finite command; zero velocity sent")


def test_depth_is_judged_only_with_a_fresh_camera_model() -> None:
    step = SafetyStep(CONFIG)
    missing = step.check_camera(T0)
    assert missing == Reaction(about=(INFO,), problem="no usable camera_info yet: depth cannot be judged; stopping")
    step.on_camera(K, NO_LENS, T0)
    assert step.check_camera(T0 + round(CONFIG.depth_timeout_s * NS)) is None
    stale = step.check_camera(T0 + round(CONFIG.depth_timeout_s * NS) + 1)
    assert stale == Reaction(about=(INFO,), problem="camera_info is stale; depth cannot be judged; stopping")


def test_losing_depth_or_the_camera_zeroes_a_moving_robot_at_once_and_a_still_one_quietly() -> None:
    step = moving_step()
    reaction = step.lose_depth(DEPTH, "bad frame; stopping")
    assert reaction == Reaction(GateOutput(0.0, 0.0, "stale: depth"), None, (DEPTH,), "bad frame; stopping")
    assert not step.moving and step.gate.verdict is None
    assert step.lose_depth() == Reaction()  # still: nothing to send
    step = moving_step()
    reaction = step.lose_camera("unusable camera_info: x; stopping")
    assert reaction.send == GateOutput(0.0, 0.0, "stale: depth") and reaction.about == (INFO,)
    assert step.check_camera(T0) is not None  # the model is gone too


def test_a_stop_verdict_zeroes_a_moving_robot_without_waiting_for_a_command() -> None:
    step = moving_step()
    assert judge(step, NEAR, T0 + 1) == Reaction(GateOutput(0.0, 0.0, "stop"), None, (DEPTH,), "")
    assert step.state == "stop" and not step.moving
    assert judge(step, NEAR, T0 + 2) == Reaction(about=(DEPTH,))  # already still: nothing more to send


def test_a_blind_frame_stops_a_moving_robot_and_says_depth_blind() -> None:
    step = moving_step()
    reaction = judge(step, 0.0, T0 + 1)
    assert reaction.send == GateOutput(0.0, 0.0, "stop: depth blind")
    assert reaction.problem == "depth blind: 0% of the pixels hold a depth in range; stopping"


def test_a_frame_reordered_in_transport_is_ignored_but_a_bad_one_stops_in_any_order() -> None:
    step = moving_step(T0 + NS // 2)
    reaction = judge(step, NEAR, T0, now_ns=T0 + NS // 2)  # older than the judged frame: its verdict is stale
    assert reaction.send is None and step.gate.verdict is not None and step.gate.verdict.name == "free"
    assert reaction.problem == f"stamps out of order: {T0} ns is older than the judged {T0 + NS // 2} ns; ignored"
    assert step.counts["out_of_order"] == 1 and step.moving

    def unusable(intrinsics: PinholeIntrinsics, distortion: Distortion | None) -> NDArray[np.float32]:
        raise SafetyError("depth image is 10x10, camera_info says 80x60")

    reaction = step.on_depth(unusable, CONFIG.mount, T0, T0 + NS // 2)
    assert reaction.send == GateOutput(0.0, 0.0, "stale: depth")
    assert reaction.problem == "unusable depth: depth image is 10x10, camera_info says 80x60; stopping"


def test_a_decode_error_that_is_not_a_safety_error_passes_through_with_nothing_changed() -> None:
    step = moving_step()
    judge_ms, verdict = step.judge_ms, step.gate.verdict

    def refused(intrinsics: PinholeIntrinsics, distortion: Distortion | None) -> NDArray[np.float32]:
        raise ValueError("distorted image refused")

    with pytest.raises(ValueError, match="distorted"):
        step.on_depth(refused, CONFIG.mount, T0 + 1, T0 + 1)
    assert (step.judge_ms, step.gate.verdict, step.depth_order.newest_ns, step.moving) == (judge_ms, verdict, T0, True)


def test_the_watchdog_zeroes_a_moving_robot_naming_the_stale_inputs_and_only_reports_a_still_one() -> None:
    step = moving_step()
    late = T0 + round(CONFIG.cmd_timeout_s * NS) + 1
    reaction = step.on_watchdog(late)
    assert reaction == Reaction(
        GateOutput(0.0, 0.0, "stale: cmd_vel, depth"), None, ("cmd_vel", "depth"),
        "stale input: older than its timeout; zero velocity",
    )  # fmt: skip
    assert step.on_watchdog(late) == Reaction() and step.state == "stale: cmd_vel, depth"
    still = SafetyStep(CONFIG)
    still.state = "free"
    assert still.on_watchdog(0) == Reaction() and still.state == "stale: clock"  # no /clock yet
    assert moving_step().on_watchdog(T0) == Reaction()  # all fresh


def test_the_e_stop_zeroes_at_once_on_every_message_and_holds_until_released() -> None:
    step = moving_step()
    assert step.on_e_stop(True, T0) == (True, Reaction(GateOutput(0.0, 0.0, "e_stop")))
    assert step.on_e_stop(True, T0) == (False, Reaction(GateOutput(0.0, 0.0, "e_stop")))  # zero again
    assert step.on_cmd(0.4, 0.2, None, T0).send == GateOutput(0.0, 0.0, "e_stop")
    assert step.on_watchdog(T0 + 10 * NS) == Reaction() and step.state == "e_stop"  # not overwritten
    assert step.on_e_stop(False, T0) == (True, Reaction())
    assert step.state == "free" and step.counts["e_stops"] == 1
    assert step.on_cmd(0.4, 0.2, None, T0).send == GateOutput(0.4, 0.2, "free")


def test_an_e_stop_at_start_holds_from_the_first_command() -> None:
    step = SafetyStep(CONFIG, e_stop=True)
    assert step.state == "e_stop" and step.counts["e_stops"] == 1
    judge(step, FAR, T0)
    assert step.on_cmd(0.4, 0.2, None, T0).send == GateOutput(0.0, 0.0, "e_stop")
    assert step.stop("inactive") == Reaction(GateOutput(0.0, 0.0, "inactive")) and step.state == "inactive"


def test_new_parameters_forget_the_verdict_until_the_next_frame() -> None:
    step = moving_step()
    step.reconfigure(SafetyConfig(camera_mount_xyzrpy=CONFIG.camera_mount_xyzrpy, slowdown_ratio=0.25))
    assert step.on_cmd(0.4, 0.2, None, T0).send == GateOutput(0.0, 0.0, "stale: depth")
    judge(step, SLOW, T0 + 1)
    out = step.on_cmd(0.4, 0.2, None, T0 + 1).send
    assert out is not None and (out.linear_mps, out.angular_rps) == pytest.approx((0.1, 0.05))


def test_diagnostics_values_in_order_before_and_after_a_verdict() -> None:
    step = SafetyStep(CONFIG)
    assert step.values("none yet") == {
        "state": "stale: cmd_vel, depth", "e_stop": "False", "zone": "unknown", "stop_points": "0",
        "slowdown_points": "0", "nearest_m": "none", "valid_depth_fraction": "none", "judge_ms_last": "0.000",
        "camera_mount_from": "none yet", "commands": "0", "zeroed": "0", "slowed": "0", "e_stops": "0",
        "out_of_order": "0",
    }  # fmt: skip
    judge(step, NEAR, T0)
    values = step.values("parameter")
    assert list(values) == list(step.values("x"))
    assert (values["zone"], values["valid_depth_fraction"], values["camera_mount_from"]) == (
        "stop",
        "1.000",
        "parameter",
    )
    assert int(values["stop_points"]) > 0 and float(values["nearest_m"]) == pytest.approx(NEAR, abs=0.01)

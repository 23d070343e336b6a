"""SimStepper without ROS: the tick period of each step mode, lock-step holds that a command or the
timeout ends, sim time that counts on across a rebuild, the warnings and the /diagnostics values."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.sim.camera import CameraConfig
from robot_vision_nav.sim.sim import SimConfig, Simulator
from robot_vision_nav.sim.stepper import Cmd, Pacing, SimStepper
from robot_vision_nav.sim.world import build_world
from robot_vision_nav.sim.world_types import Footprint, World, Zone

BOX = Footprint("box", 3.0, 0.0, 0.3, 0.3)
ZONE = Zone(Footprint("keep_out", 0.0, 2.5, 0.6, 0.6), "hazard")
TINY = CameraConfig(width_px=32, height_px=24)
STEP_NS = SimConfig().step_ns
EVERY = SimConfig().camera_every_steps  # steps per camera frame
LOCK = Pacing("lock_step", 1.0, 0.5)
ORIGIN = Pose2D(0.0, 0.0, 0.0)


def world(start: Pose2D = ORIGIN) -> World:
    return build_world(10.0, 8.0, [(BOX, 0.8)], [ZONE], start=start, goal_xy=(4.0, -3.0))


@pytest.fixture
def stepper() -> Iterator[SimStepper]:
    s = SimStepper(Simulator(world(), camera=TINY), LOCK, now_wall_s=100.0)
    try:
        yield s
    finally:
        s.close()


def tick_to_frame(stepper: SimStepper) -> int:
    """Tick until a frame is due; the ticks taken."""
    for n in range(1, EVERY + 1):
        if stepper.on_tick().frame_due:
            return n
    raise AssertionError("no frame due")


def test_real_time_ticks_every_step_over_the_factor_and_the_others_as_fast_as_they_can(
    stepper: SimStepper,
) -> None:
    stepper.pacing = Pacing("real_time", 4.0, 1.0)
    assert stepper.period_s == pytest.approx(SimConfig().step_s / 4.0)
    for mode in ("fast", "lock_step"):
        stepper.pacing = Pacing(mode, 4.0, 1.0)
        assert stepper.period_s == 0.0


def test_each_tick_is_one_step_and_a_frame_is_due_at_the_camera_rate(stepper: SimStepper) -> None:
    stamps, due = [], []
    for _ in range(3 * EVERY):
        out = stepper.on_tick()
        stamps.append(out.stamp_ns)
        due.append(out.frame_due)
        assert out.stamp_ns == stepper.stamp_ns == out.result.stamp_ns
    assert stamps == [STEP_NS * (i + 1) for i in range(3 * EVERY)]
    assert [i + 1 for i, d in enumerate(due) if d] == [EVERY, 2 * EVERY, 3 * EVERY]


def test_lock_step_holds_after_a_frame_until_a_command_arrives(stepper: SimStepper) -> None:
    assert tick_to_frame(stepper) == EVERY
    assert not stepper.waiting
    assert stepper.hold(now_wall_s=200.0) and stepper.waiting
    assert stepper.wait_over(200.0 + 0.49) is False and stepper.waiting
    assert stepper.on_cmd(0.3, 0.2) is Cmd.RESUME and not stepper.waiting
    assert stepper.on_cmd(0.3, 0.2) is Cmd.TAKEN  # no wait left to end
    stepper.on_tick()
    assert stepper.sim.base.linear_mps > 0.0  # the command drives the next step


def test_lock_step_goes_on_after_its_timeout_without_a_command(stepper: SimStepper) -> None:
    tick_to_frame(stepper)
    stepper.hold(now_wall_s=10.0)
    assert not stepper.wait_over(10.4)
    assert stepper.wait_over(10.5) and not stepper.waiting
    assert not stepper.wait_over(99.0)  # over once


def test_other_modes_never_hold(stepper: SimStepper) -> None:
    for mode in ("real_time", "fast"):
        stepper.pacing = Pacing(mode, 1.0, 0.5)
        tick_to_frame(stepper)
        assert not stepper.hold(now_wall_s=1.0) and not stepper.waiting


def test_a_non_finite_command_is_refused_and_neither_drives_nor_ends_the_wait(stepper: SimStepper) -> None:
    tick_to_frame(stepper)
    stepper.hold(now_wall_s=0.0)
    assert stepper.on_cmd(float("nan"), 0.0) is Cmd.REFUSED
    assert stepper.on_cmd(0.2, float("inf")) is Cmd.REFUSED
    assert stepper.waiting
    stepper.release()
    stepper.on_tick()
    assert stepper.sim.base.linear_mps == 0.0 and stepper.sim.base.angular_rps == 0.0


def test_a_replaced_simulator_keeps_sim_time_counting_up_and_the_old_one_is_closed(stepper: SimStepper) -> None:
    for _ in range(7):
        stepper.on_tick()
    old, closed = stepper.sim, []
    old.close = lambda: closed.append(True)  # type: ignore[method-assign]
    fresh = Simulator(world(), camera=TINY)
    stepper.replace(fresh)
    assert closed == [True] and stepper.sim is fresh and stepper.time_offset_ns == 7 * STEP_NS
    assert stepper.on_tick().stamp_ns == 8 * STEP_NS and fresh.time_ns == STEP_NS


def first_warnings(stepper: SimStepper, linear_mps: float, skip: str = "") -> list[tuple[str, str]]:
    """Drive straight on until a step warns about something other than `skip`; its warnings."""
    for _ in range(2000):
        stepper.on_cmd(linear_mps, 0.0)
        warnings = list(stepper.on_tick().warnings)
        if warnings and warnings[0][0] != skip:
            return warnings
    raise AssertionError("no warning")


def test_a_collision_and_a_keep_out_zone_are_warned_about_with_the_sim_time() -> None:
    pacing = Pacing("fast", 1.0, 1.0)
    with Simulator(world(), camera=TINY) as sim:
        stepper = SimStepper(sim, pacing, 0.0)
        warnings = first_warnings(stepper, 0.8)
        assert warnings == [("collision", f"collision with box at t = {stepper.stamp_ns / 1e9:.2f} s")]
    with Simulator(world(Pose2D(-3.0, 2.5, 0.0)), camera=TINY) as sim:
        stepper = SimStepper(sim, pacing, 0.0)
        warnings = first_warnings(stepper, 0.5, skip="collision")
        t = stepper.stamp_ns / 1e9
        assert warnings == [("keep_out", f"robot footprint in a keep-out zone at t = {t:.2f} s")]


def test_diagnostics_report_frames_render_time_score_and_the_real_time_factor_since_the_last_report(
    stepper: SimStepper,
) -> None:
    values = stepper.diagnostics(now_wall_s=100.0)
    assert list(values) == [
        "sim_time_s",
        "real_time_factor",
        "frames",
        "render_ms_median",
        "world_seed",
        "collisions",
        "collision_steps",
        "keep_out_violations",
        "keep_out_steps",
        "distance_m",
    ]
    assert values["frames"] == "0" and values["render_ms_median"] == "nan" and values["sim_time_s"] == "0.000"
    for _ in range(2):
        tick_to_frame(stepper)
        frame = stepper.render()
        assert frame.rgb.shape == (24, 32, 3) and frame.stamp_ns == stepper.stamp_ns
    assert stepper.frames == 2
    values = stepper.diagnostics(now_wall_s=100.0 + 2 * EVERY * STEP_NS / 1e9 / 0.25)  # a quarter of real time
    assert values["frames"] == "2" and float(values["render_ms_median"]) > 0.0
    assert values["real_time_factor"] == "0.25"
    assert values["sim_time_s"] == f"{2 * EVERY * STEP_NS / 1e9:.3f}"
    assert values["collisions"] == "0" and values["distance_m"] == "0.00"

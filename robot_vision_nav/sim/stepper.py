"""When sim_node steps the simulator, and when it waits: the step modes, without ROS.

Step modes: `real_time` advances one step per `step_s / real_time_factor` of wall time; `fast`
steps as fast as the machine allows; `lock_step` is `fast` but waits after each camera frame until
a velocity command arrives (the consumers have answered) or `lock_step_timeout_s` of wall time has
passed. The caller's timer ticks every `period_s` (0: as often as it can) and calls `on_tick`; it
publishes the state, then `render`s and publishes the frame when one is due, then asks `hold`
whether to stop ticking; while held it polls `wait_over` and goes on when that, or a command
(`on_cmd` says RESUME), ends the wait.

`SimStepper` owns the `Simulator`: sim time counts on across a rebuild (`replace`), and it keeps
what /diagnostics reports (frames, render time, the real-time factor measured, the score). Wall
times are `time.monotonic()` seconds handed in by the caller; stamps are integer ns of sim time.
This module must never import ROS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from robot_vision_nav.core.pacing import StepTimes
from robot_vision_nav.sim.sim import Frame, Simulator, StepResult

STEP_MODES = ("real_time", "fast", "lock_step")


@dataclass(frozen=True)
class Pacing:
    """How steps follow each other (sim_node's step_mode, real_time_factor and lock_step_timeout_s)."""

    step_mode: str
    real_time_factor: float
    lock_step_timeout_s: float


class Cmd(Enum):
    """What became of a velocity command."""

    REFUSED = "refused"  # not finite: ignored, the simulator keeps the last one
    TAKEN = "taken"
    RESUME = "resume"  # taken, and it ends a lock-step wait: step again now


@dataclass(frozen=True)
class StepOutcome:
    """One step: the simulator's result, the stamp to publish it with, and what to warn about."""

    result: StepResult
    stamp_ns: int
    warnings: tuple[tuple[str, str], ...]  # (kind, text), throttled per kind by the caller

    @property
    def frame_due(self) -> bool:
        """Whether a camera frame is due at this step (`SimStepper.render` draws it)."""
        return self.result.camera_due


class SimStepper:
    """The simulator and its pacing between timer ticks (see the module docstring).

    Args:
        sim: the simulator, owned from now on (`close` frees it).
        pacing: the step mode and its settings (assign `pacing` when they change).
        now_wall_s: wall time now, the start of the first real-time factor measured.

    """

    def __init__(self, sim: Simulator, pacing: Pacing, now_wall_s: float) -> None:
        self.sim = sim
        self.pacing = pacing
        self.time_offset_ns = 0  # sim time of the simulators replaced so far
        self.waiting_since: float | None = None  # wall time a lock-step wait began
        self.render_times = StepTimes()
        self._rate_mark = (now_wall_s, self.stamp_ns)

    @property
    def stamp_ns(self) -> int:
        """Sim time now, as published."""
        return self.time_offset_ns + self.sim.time_ns

    @property
    def frames(self) -> int:
        """Camera frames rendered so far."""
        return self.render_times.count

    @property
    def period_s(self) -> float:
        """Wall time between ticks: `step_s / real_time_factor` in real_time, else 0 (as fast as possible)."""
        if self.pacing.step_mode != "real_time":
            return 0.0
        return self.sim.config.step_s / self.pacing.real_time_factor

    @property
    def waiting(self) -> bool:
        """Whether a lock-step wait is on (ticking stopped)."""
        return self.waiting_since is not None

    def on_tick(self) -> StepOutcome:
        """Advance the simulator one step."""
        result = self.sim.step()
        stamp_ns = self.stamp_ns
        warnings: list[tuple[str, str]] = []
        at = f"at t = {stamp_ns / 1e9:.2f} s"
        if result.collided:
            warnings.append(("collision", f"collision with {', '.join(result.collided_with)} {at}"))
        if result.in_keep_out:
            warnings.append(("keep_out", f"robot footprint in a keep-out zone {at}"))
        return StepOutcome(result, stamp_ns, tuple(warnings))

    def render(self) -> Frame:
        """The camera frame now, timed and counted."""
        started = self.render_times.start()
        frame = self.sim.render()
        self.render_times.done(started)
        return frame

    def hold(self, now_wall_s: float) -> bool:
        """After a published frame: whether to stop ticking and wait (lock_step), the wait starting now."""
        if self.pacing.step_mode != "lock_step":
            return False
        self.waiting_since = now_wall_s
        return True

    def wait_over(self, now_wall_s: float) -> bool:
        """Whether the lock-step wait has lasted `lock_step_timeout_s` (it then ends)."""
        if self.waiting_since is None or now_wall_s - self.waiting_since < self.pacing.lock_step_timeout_s:
            return False
        self.release()
        return True

    def release(self) -> None:
        """End any lock-step wait."""
        self.waiting_since = None

    def on_cmd(self, linear_mps: float, angular_rps: float) -> Cmd:
        """A velocity command (base_link: forward m/s, counter-clockwise rad/s) arrived."""
        if not (math.isfinite(linear_mps) and math.isfinite(angular_rps)):
            return Cmd.REFUSED
        self.sim.command(linear_mps, angular_rps)
        if self.waiting_since is None:
            return Cmd.TAKEN
        self.release()
        return Cmd.RESUME

    def replace(self, sim: Simulator) -> None:
        """Carry on with `sim` (a rebuilt world): sim time keeps counting up; the old one is closed."""
        self.time_offset_ns += self.sim.time_ns
        self.sim.close()
        self.sim = sim

    def summary(self) -> str:
        """The world, the camera and the step mode, in one line (the start-up log)."""
        w, camera = self.sim.world, self.sim.camera_config
        return (
            f"warehouse seed {w.seed}: {w.length_m} x {w.width_m} m, {len(w.zones)} keep-out zones, "
            f"{len(w.movers)} people; start ({w.start.x_m:.2f}, {w.start.y_m:.2f}, {w.start.yaw_rad:.2f} rad), goal "
            f"({w.goal_xy[0]:.2f}, {w.goal_xy[1]:.2f}); camera {camera.width_px}x"
            f"{camera.height_px} at {self.sim.config.camera_rate_hz:g} Hz; {self.pacing.step_mode}"
        )

    def diagnostics(self, now_wall_s: float) -> dict[str, str]:
        """The values /diagnostics reports, in order; the real-time factor is measured since the last call."""
        wall0, sim0 = self._rate_mark
        factor = (self.stamp_ns - sim0) / 1e9 / max(now_wall_s - wall0, 1e-9)
        self._rate_mark = (now_wall_s, self.stamp_ns)
        score = self.sim.score
        return {
            "sim_time_s": f"{self.stamp_ns / 1e9:.3f}",
            "real_time_factor": f"{factor:.2f}",
            "frames": str(self.frames),
            "render_ms_median": self.render_times.median_ms(),
            "world_seed": str(self.sim.world.seed),
            "collisions": str(score.collisions),
            "collision_steps": str(score.collision_steps),
            "keep_out_violations": str(score.keep_out_violations),
            "keep_out_steps": str(score.keep_out_steps),
            "distance_m": f"{score.distance_m:.2f}",
        }

    def close(self) -> None:
        """Free the simulator's renderer."""
        self.sim.close()

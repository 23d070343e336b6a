"""bench/controller: one control step of `RegulatedPurePursuit.compute` against a textbook pure pursuit.

The world is a 10 m x 10 m local window (200 x 200 cells at 5 cm) with random boxes, inflated with
Nav2's formula into OccupancyGrid values; the path is the shortest 8-connected path across it that
keeps 15 cm clear of inscribed cells (scipy.sparse.csgraph Dijkstra, not our planner, so that this
benchmark and the controller tests do not depend on it). Our controller drives the path once in
closed loop (`core.kinematics.simulate`, 20 Hz) and the poses are recorded; then both sides are
timed replaying those poses in order, so each call sees the progress a real run would.

The peer, "textbook-pp", is pure pursuit as tutorials write it (PythonRobotics' pure_pursuit.py is
the model) in plain Python on lists: nearest path vertex by walking forward from the last one, the
first vertex at the lookahead distance, the circle crossing, curvature 2 y / L^2, a constant speed.
It does less than ours (no regulation, no smoothing, no rotate-in-place, no goal logic, no collision
check), so a speedup under 1 means ours pays that much for the rest. No pip-installable controller
is worth measuring (Nav2's RPP is C++ inside ROS, not in this environment; its docs claim above
1 kHz, i.e. under 1 ms a step, which the notes print as a reference line, not a measurement). As a
check that both compute the same thing, `carrot_agreement` is the fraction of following steps whose
carrots are within 1 mm of each other.

The world comes from `robot_vision_nav.sim.scenarios.random_scenario`, which test/test_controller.py
drives as well.

Run: `python -m bench.controller [--json] [--quick]` (or `rvn bench controller`).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bench.common import machine, print_table, row, time_call
from robot_vision_nav.core.controller import FOLLOWING, Command, ControllerConfig, RegulatedPurePursuit
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.grid import Grid
from robot_vision_nav.core.kinematics import simulate
from robot_vision_nav.sim.scenarios import COLS, ROWS, random_scenario

NAME = "controller"
DT_S = 0.05
WORLD_SEED = 20240612
REPEATS = 30
QUICK_REPEATS = 3
CARROT_TOL_M = 1e-3
NAV2_NOTE = "reference, not measured: Nav2's RPP (C++) documents a control rate above 1 kHz (< 1 ms a step)"


# ------------------------------------------------------------------------------------- peer
class TextbookPurePursuit:
    """Pure pursuit as a tutorial writes it, in plain Python: no regulation, limits or collision check."""

    def __init__(self, path_xy: NDArray[np.float64], config: ControllerConfig) -> None:
        self.xs: list[float] = path_xy[:, 0].tolist()
        self.ys: list[float] = path_xy[:, 1].tolist()
        self.speed = config.desired_linear_vel_mps
        self.lookahead_time_s = config.lookahead_time_s
        self.min_l, self.max_l = config.min_lookahead_m, config.max_lookahead_m
        self.index: int | None = None

    def compute(self, x: float, y: float, yaw: float, speed_now: float) -> tuple[float, float, float, float]:
        """(v, w, carrot x, carrot y) for the robot at (x, y, yaw) moving at `speed_now`."""
        xs, ys, n = self.xs, self.ys, len(self.xs)
        if self.index is None:
            self.index = min(range(n), key=lambda i: math.hypot(xs[i] - x, ys[i] - y))
        else:
            i = self.index
            while i + 1 < n and math.hypot(xs[i + 1] - x, ys[i + 1] - y) < math.hypot(xs[i] - x, ys[i] - y):
                i += 1
            self.index = i
        lookahead = min(max(speed_now * self.lookahead_time_s, self.min_l), self.max_l)
        i = self.index
        while i + 1 < n and math.hypot(xs[i] - x, ys[i] - y) < lookahead:
            i += 1
        cx, cy = xs[i], ys[i]
        if i > self.index and math.hypot(cx - x, cy - y) >= lookahead:
            px, py = xs[i - 1], ys[i - 1]
            dx, dy, fx, fy = cx - px, cy - py, px - x, py - y
            a, b, c = dx * dx + dy * dy, fx * dx + fy * dy, fx * fx + fy * fy - lookahead * lookahead
            t = (-b + math.sqrt(max(b * b - a * c, 0.0))) / a
            cx, cy = px + t * dx, py + t * dy
        alpha = math.atan2(cy - y, cx - x) - yaw
        curvature = 2.0 * math.sin(alpha) / lookahead
        return self.speed, self.speed * curvature, cx, cy


# -------------------------------------------------------------------------------------- run
def bench_world() -> tuple[Grid, Pose2D, NDArray[np.float64], float]:
    """The benchmark's 200 x 200 world and a path at least 7 m long across it."""
    return random_scenario(WORLD_SEED, ROWS, COLS, n_boxes=14, min_distance_m=7.0)


def per_call_ms(
    config: ControllerConfig, path: NDArray[np.float64], goal_yaw: float, poses: list[Pose2D], grid: Grid | None
) -> list[float]:
    """Each `compute` of one replay timed on its own (the slowest step matters at a fixed control rate)."""
    ctl = RegulatedPurePursuit(config)
    ctl.set_plan(path, goal_yaw)
    times: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for pose in poses:
            start = time.perf_counter()
            ctl.compute(pose, grid, DT_S)
            times.append((time.perf_counter() - start) * 1e3)
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def run(quick: bool = False) -> dict[str, Any]:
    """Record a closed-loop run with ours, then time both controllers replaying it; the bench JSON object."""
    grid, start, path, goal_yaw = bench_world()
    config = ControllerConfig(xy_goal_tolerance_m=0.1, yaw_goal_tolerance_rad=0.1)
    recorder = RegulatedPurePursuit(config)
    recorder.set_plan(path, goal_yaw)
    traj = simulate(recorder, start, DT_S, 4000, grid)
    if not traj.done:
        raise RuntimeError("bench run did not reach its goal: the benchmark world is broken")
    poses = traj.poses[:-1]
    speeds = [0.0] + [c.linear_mps for c in traj.commands[:-1]]
    repeats = QUICK_REPEATS if quick else REPEATS
    steps = len(poses)
    rows: list[dict[str, Any]] = []

    # Agreement: the peer's carrot against ours on every following step, given the same speed.
    peer = TextbookPurePursuit(path, config)
    agree = total = 0
    for pose, speed, command in zip(poses, speeds, traj.commands, strict=True):
        _, _, cx, cy = peer.compute(pose.x_m, pose.y_m, pose.yaw_rad, speed)
        # Every command is a core Command (the recorder is ours); the check tells mypy so.
        if isinstance(command, Command) and command.status == FOLLOWING and command.lookahead_xy is not None:
            total += 1
            agree += math.dist((cx, cy), command.lookahead_xy) <= CARROT_TOL_M
    agreement = agree / max(1, total)

    for case, step_grid in (("compute, 200x200 grid", grid), ("compute, no grid", None)):
        ctl = RegulatedPurePursuit(config)

        def ours(ctl: RegulatedPurePursuit = ctl, step_grid: Grid | None = step_grid) -> None:
            ctl.set_plan(path, goal_yaw)
            ctl.reset()
            for pose in poses:
                ctl.compute(pose, step_grid, DT_S)

        def theirs() -> None:
            pp = TextbookPurePursuit(path, config)
            for pose, speed in zip(poses, speeds, strict=True):
                pp.compute(pose.x_m, pose.y_m, pose.yaw_rad, speed)

        ours_ms = [t / steps for t in time_call(ours, repeats, warmup=1)]
        peer_ms = [t / steps for t in time_call(theirs, repeats, warmup=1)]
        single = sorted(per_call_ms(config, path, goal_yaw, poses, step_grid))
        r = row(f"{case}, {steps} steps", ours_ms, "textbook-pp", peer_ms)
        r.update(
            steps=steps, path_points=len(path), steps_per_s=round(1e3 / r["ours_ms"]),
            ours_step_p99_ms=round(single[min(len(single) - 1, round(0.99 * len(single)))], 4),
            ours_step_max_ms=round(single[-1], 4), carrot_agreement=round(agreement, 4), carrot_steps=total,
        )  # fmt: skip
        rows.append(r)
    notes = [
        NAV2_NOTE,
        f"ours: full RPP step (track, regulate, smooth, collision + brake check); textbook-pp: carrot and curvature "
        f"only. Carrots agree within {CARROT_TOL_M * 1e3:g} mm on {agreement:.1%} of {total} following steps.",
    ]
    return {"bench": NAME, "machine": machine(), "rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.controller [--json] [--quick]`."""
    parser = argparse.ArgumentParser(prog="bench.controller", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REPEATS} repeats (a smoke test)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
        for r in result["rows"]:
            print(
                f"{r['case']}: {r['steps_per_s']} control steps/s; slowest single step {r['ours_step_max_ms']:.3f} ms "
                f"(p99 {r['ours_step_p99_ms']:.3f} ms)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

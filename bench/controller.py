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

The world helpers (`random_costmap`, `grid_path`, `random_scenario`) are shared with
test/test_controller.py.

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
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from bench.common import machine, print_table, row, time_call
from robot_vision_nav.core.controller import FOLLOWING, ControllerConfig, RegulatedPurePursuit
from robot_vision_nav.core.costmap import COST_TO_OCCUPANCY
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.core.grid import OCC_INSCRIBED, Grid
from robot_vision_nav.core.kinematics import simulate

NAME = "controller"
ROWS = COLS = 200
RESOLUTION_M = 0.05
DT_S = 0.05
WORLD_SEED = 20240612
REPEATS = 30
QUICK_REPEATS = 3
CARROT_TOL_M = 1e-3
NAV2_NOTE = "reference, not measured: Nav2's RPP (C++) documents a control rate above 1 kHz (< 1 ms a step)"


# ------------------------------------------------------------------------------------ world
def random_costmap(
    rng: np.random.Generator,
    rows: int,
    cols: int,
    *,
    resolution_m: float = RESOLUTION_M,
    n_boxes: int = 12,
    box_m: tuple[float, float] = (0.2, 1.2),
    robot_radius_m: float = 0.2,
    inflation_radius_m: float = 0.55,
    cost_scaling_factor: float = 3.0,
) -> Grid:
    """A grid of random lethal boxes inflated as Nav2's InflationLayer does, in OccupancyGrid values."""
    lethal = np.zeros((rows, cols), dtype=bool)
    for _ in range(n_boxes):
        h, w = (np.maximum(1, rng.uniform(*box_m, size=2) / resolution_m)).astype(int)
        r0, c0 = int(rng.integers(0, max(1, rows - h))), int(rng.integers(0, max(1, cols - w)))
        lethal[r0 : r0 + h, c0 : c0 + w] = True
    return inflate(lethal, resolution_m, robot_radius_m, inflation_radius_m, cost_scaling_factor)


def inflate(
    lethal: NDArray[np.bool_],
    resolution_m: float,
    robot_radius_m: float = 0.2,
    inflation_radius_m: float = 0.55,
    cost_scaling_factor: float = 3.0,
    origin_xy_m: tuple[float, float] = (0.0, 0.0),
) -> Grid:
    """Nav2 inflation of a lethal mask (253 within the radius, 252 exp(-f (d - r)) out to the inflation radius)."""
    dist_m = ndimage.distance_transform_edt(~lethal) * resolution_m if lethal.any() else np.full(lethal.shape, np.inf)
    with np.errstate(over="ignore"):
        decayed = np.floor(252.0 * np.exp(-cost_scaling_factor * (dist_m - robot_radius_m)))
    cost = np.where(dist_m <= robot_radius_m, 253, decayed)
    cost[dist_m > inflation_radius_m] = 0
    cost[lethal] = 254
    return Grid(COST_TO_OCCUPANCY[cost.astype(np.uint8)], resolution_m, origin_xy_m[0], origin_xy_m[1])


def usable_cells(grid: Grid, clearance_m: float) -> NDArray[np.bool_]:
    """Known cells below inscribed that are at least `clearance_m` from every inscribed or lethal cell."""
    blocked = (grid.values >= OCC_INSCRIBED) | (grid.values < 0)
    if not blocked.any():
        return np.ones(grid.values.shape, dtype=bool)
    return np.asarray(ndimage.distance_transform_edt(~blocked) * grid.resolution_m > clearance_m)


def grid_path(
    grid: Grid,
    start_rc: tuple[int, int],
    goal_rc: tuple[int, int],
    clearance_m: float = 0.15,
    cost_weight: float = 1.0,
) -> NDArray[np.float64] | None:
    """Shortest 8-connected path of cell centres (N, 2) in metres over usable cells, or None.

    Step cost = step length x (1 + cost_weight x value / 98), no corner cutting. A test oracle, not a
    planner: a plain Dijkstra over a scipy sparse graph.
    """
    ok = usable_cells(grid, clearance_m)
    rows, cols = ok.shape
    if not (ok[start_rc] and ok[goal_rc]):
        return None
    index = np.arange(rows * cols).reshape(rows, cols)
    penalty = 1.0 + cost_weight * np.clip(grid.values, 0, None).astype(np.float64) / 98.0
    src_all: list[NDArray[np.intp]] = []
    dst_all: list[NDArray[np.intp]] = []
    w_all: list[NDArray[np.float64]] = []
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr == 0 and dc == 0:
                continue
            r0, r1 = max(0, -dr), rows - max(0, dr)
            c0, c1 = max(0, -dc), cols - max(0, dc)
            both = ok[r0:r1, c0:c1] & ok[r0 + dr : r1 + dr, c0 + dc : c1 + dc]
            if dr and dc:  # a diagonal step needs both side cells usable
                both &= ok[r0 + dr : r1 + dr, c0:c1] & ok[r0:r1, c0 + dc : c1 + dc]
            src_all.append(index[r0:r1, c0:c1][both])
            dst_all.append(index[r0 + dr : r1 + dr, c0 + dc : c1 + dc][both])
            w_all.append(math.hypot(dr, dc) * penalty[r0 + dr : r1 + dr, c0 + dc : c1 + dc][both])
    graph = csr_matrix((np.concatenate(w_all), (np.concatenate(src_all), np.concatenate(dst_all))),
                       shape=(rows * cols, rows * cols))  # fmt: skip
    start, goal = int(index[start_rc]), int(index[goal_rc])
    dist, pred = dijkstra(graph, indices=start, return_predecessors=True)
    if not math.isfinite(dist[goal]):
        return None
    chain = [goal]
    while chain[-1] != start:
        chain.append(int(pred[chain[-1]]))
    cells = np.array(chain[::-1])
    r, c = np.divmod(cells, cols)
    return np.column_stack(
        (grid.origin_x_m + (c + 0.5) * grid.resolution_m, grid.origin_y_m + (r + 0.5) * grid.resolution_m)
    )


def random_scenario(
    seed: int,
    rows: int = ROWS,
    cols: int = COLS,
    *,
    n_boxes: int = 12,
    min_distance_m: float = 2.0,
    clearance_m: float = 0.15,
) -> tuple[Grid, Pose2D, NDArray[np.float64], float]:
    """A world, a start pose (random yaw) and a path to a goal at least `min_distance_m` away, and a goal yaw."""
    rng = np.random.default_rng(seed)
    for _ in range(100):
        grid = random_costmap(rng, rows, cols, n_boxes=n_boxes)
        free = np.argwhere(usable_cells(grid, clearance_m))
        if len(free) < 2:
            continue
        for _ in range(20):
            a, b = free[rng.integers(len(free), size=2)]
            start_xy, goal_xy = grid.cell_center(int(a[0]), int(a[1])), grid.cell_center(int(b[0]), int(b[1]))
            if math.dist(start_xy, goal_xy) < min_distance_m:
                continue
            path = grid_path(grid, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), clearance_m)
            if path is not None:
                start = Pose2D(start_xy[0], start_xy[1], float(rng.uniform(-math.pi, math.pi)))
                return grid, start, path, float(rng.uniform(-math.pi, math.pi))
    raise RuntimeError(f"no scenario with a path found for seed {seed}")


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
        if command.status == FOLLOWING and command.lookahead_xy is not None:
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

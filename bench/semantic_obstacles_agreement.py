"""bench/semantic_obstacles_agreement: does Nav2, fed our obstacle cloud, mark what our costmap marks?

For the worlds `make demo` drives (seeds 1-10) and a few poses along each world's route, one
simulator frame (depth + ground-truth traversability mask) goes to

- ours: `RollingCostmap.update` once on a fresh map (no decay, no inflation counted): its lethal
  cells (OccupancyGrid 100);
- the peer: `ObstacleCloudBuilder.build` (what semantic_obstacles_node publishes), rasterised by an
  independent model of Nav2's ObstacleLayer (`test/nav2_obstacle_layer.py`) with the observation
  source of config/nav2_semantic_obstacles.yaml: the cells Nav2 would mark lethal.

It reports, each way, the share of one side's cells that have a cell of the other within one cell
(8-neighbourhood), and the cells marked by both exactly. Two settings: `default` (both nodes as
shipped: voxel_size_m 0.025 and the costmap's min_points_per_cell 2 / keepout_min_fraction 0.5,
which the cloud mirrors per voxel column) and `raw` (every point published, voxel_size_m 0; the
costmap with min_points_per_cell 1 and keepout_min_fraction 0). Each row also times one cloud
(ours_ms) against one costmap update (peer_ms) of the same frame.

Run: `.venv/bin/python bench/semantic_obstacles_agreement.py [--quick] [--png /tmp/x.png]` (a JSON
line, then the table), or `rvn bench semantic_obstacles_agreement [--json]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: the checkout root, for `bench` and `test`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from numpy.typing import NDArray

from bench.common import machine, summary, time_call
from robot_vision_nav.core.costmap import RollingCostmap
from test.nav2_obstacle_layer import (
    DEMO_SEEDS,
    DemoFrame,
    ObservationSource,
    agreement,
    compare_frame,
    demo_frames,
    load_source,
)

NAME = "semantic_obstacles_agreement"
POSES_PER_WORLD = 4
QUICK_SEEDS = (1, 2, 3)
QUICK_POSES = 2
REPEATS = 3
DEFAULT_PNG = Path("/tmp/semantic_obstacles_agreement.png")
# (costmap overrides, cloud overrides) per setting; obstacle_decay_s 0 keeps everything of the one update.
SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "default": ({}, {}),
    "raw": ({"min_points_per_cell": 1, "keepout_min_fraction": 0.0}, {"voxel_size_m": 0.0}),
}


def compare(frame: DemoFrame, setting: str, source: ObservationSource, timed: bool = False) -> dict[str, Any]:
    """One frame through both sides; counts of cells (and times with `timed`)."""
    costmap_kw, cloud_kw = SETTINGS[setting]
    both = compare_frame(frame, costmap_kw, cloud_kw, source)
    ours, marked, costmap, builder = both.ours, both.marked, both.costmap, both.builder
    ours_near, ours_n = agreement(ours, marked)
    cloud_near, cloud_n = agreement(marked, ours)
    out: dict[str, Any] = {
        "ours_lethal": ours_n,
        "ours_near_cloud": ours_near,
        "cloud_marked": cloud_n,
        "cloud_near_ours": cloud_near,
        "same_cell": int(np.count_nonzero(ours & marked)),
        "points": both.points,
        "grids": (ours, marked, costmap.occupancy, costmap.origin_m),
    }
    if timed:
        out["cloud_ms"] = time_call(lambda: builder.build(frame.depth_mm, frame.intrinsics, frame.mask), REPEATS)
        fresh = costmap.config

        def one_update() -> None:
            RollingCostmap(fresh).update(frame.depth_mm, frame.intrinsics, frame.pose, 1, frame.mask)

        out["costmap_ms"] = time_call(one_update, REPEATS)
    return out


def _share(near: int, total: int) -> float:
    return near / total if total else 1.0


def run(quick: bool = False, png: Path | None = None) -> dict[str, Any]:
    """Every world and setting; with `png`, a picture of the frame with the most cells (default setting)."""
    source = load_source()
    seeds = QUICK_SEEDS if quick else DEMO_SEEDS
    frames = list(demo_frames(seeds, QUICK_POSES if quick else POSES_PER_WORLD))
    rows: list[dict[str, Any]] = []
    totals: dict[str, dict[str, int]] = {}
    best: tuple[int, DemoFrame, Any] | None = None
    for setting in SETTINGS:
        total = dict.fromkeys(("ours_lethal", "ours_near_cloud", "cloud_marked", "cloud_near_ours", "same_cell"), 0)
        for seed in seeds:
            world = [f for f in frames if f.seed == seed]
            sums = dict.fromkeys((*total, "points"), 0)
            cloud_ms: list[float] = []
            costmap_ms: list[float] = []
            for frame in world:
                result = compare(frame, setting, source, timed=True)
                for key in sums:
                    sums[key] += result[key]
                cloud_ms += result["cloud_ms"]
                costmap_ms += result["costmap_ms"]
                if setting == "default" and (best is None or result["ours_lethal"] > best[0]):
                    best = (result["ours_lethal"], frame, result["grids"])
            for key in total:
                total[key] += sums[key]
            ours, peer = summary(cloud_ms)["median"], summary(costmap_ms)["median"]
            rows.append(
                {
                    "case": f"world {seed} {setting}",
                    "setting": setting,
                    "seed": seed,
                    "frames": len(world),
                    **{k: v for k, v in sums.items() if k != "points"},
                    "points_per_frame": round(sums["points"] / max(len(world), 1)),
                    "ours_to_cloud": round(_share(sums["ours_near_cloud"], sums["ours_lethal"]), 4),
                    "cloud_to_ours": round(_share(sums["cloud_near_ours"], sums["cloud_marked"]), 4),
                    "ours_ms": round(ours, 3),
                    "peer": "costmap update",
                    "peer_ms": round(peer, 3),
                    "speedup": round(peer / ours, 3),
                }
            )
        totals[setting] = total
    summary_rows = {
        setting: {
            **t,
            "ours_to_cloud": round(_share(t["ours_near_cloud"], t["ours_lethal"]), 4),
            "cloud_to_ours": round(_share(t["cloud_near_ours"], t["cloud_marked"]), 4),
            "same_cell_of_ours": round(_share(t["same_cell"], t["ours_lethal"]), 4),
        }
        for setting, t in totals.items()
    }
    if png is not None and best is not None:
        write_png(png, best[1], best[2])
    return {
        "bench": NAME,
        "machine": machine(),
        "frames": len(frames),
        "worlds": list(seeds),
        "nav2_source": {
            "min_obstacle_height": source.min_obstacle_height,
            "max_obstacle_height": source.max_obstacle_height,
            "obstacle_max_range": source.obstacle_max_range,
        },
        "totals": summary_rows,
        "rows": rows,
    }


def print_result(result: dict[str, Any]) -> None:
    """The per-world table and the totals."""
    print(f"bench {result['bench']} on {result['machine']}: {result['frames']} frames of worlds {result['worlds']}")
    head = (
        f"{'case':<20} {'ours lethal':>11} {'near cloud':>11} {'cloud cells':>11} {'near ours':>10} "
        f"{'same cell':>9} {'pts/frame':>9} {'cloud ms':>8} {'costmap ms':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in result["rows"]:
        print(
            f"{r['case']:<20} {r['ours_lethal']:>11} {r['ours_to_cloud']:>10.2%} {r['cloud_marked']:>11} "
            f"{r['cloud_to_ours']:>9.2%} {r['same_cell']:>9} {r['points_per_frame']:>9} {r['ours_ms']:>8.2f} "
            f"{r['peer_ms']:>10.2f}"
        )
    for setting, t in result["totals"].items():
        print(
            f"{setting}: {t['ours_near_cloud']}/{t['ours_lethal']} = {t['ours_to_cloud']:.2%} of our lethal cells "
            f"have a Nav2-marked cell within one cell; {t['cloud_near_ours']}/{t['cloud_marked']} = "
            f"{t['cloud_to_ours']:.2%} of Nav2's marked cells have one of ours; {t['same_cell_of_ours']:.1%} of ours "
            "marked in the very cell"
        )


def write_png(path: Path, frame: DemoFrame, grids: Any) -> None:
    """Top view of both grids around the robot beside the camera image with its mask.

    Colours: black both, red lethal in our costmap only, blue marked by Nav2 from the cloud only,
    white free in ours, light grey unknown in ours; green the robot and its heading.
    """
    import cv2

    ours, marked, occupancy, origin = grids
    img = np.full((*ours.shape, 3), 200, np.uint8)  # unknown
    img[occupancy == 0] = 255
    img[(occupancy > 0) & (occupancy < 100)] = (235, 235, 235)
    img[ours & ~marked] = (220, 30, 30)
    img[marked & ~ours] = (30, 60, 230)
    img[ours & marked] = 0
    scale = 4
    top = np.ascontiguousarray(np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)[::-1])  # row 0 = highest y
    res = 0.05
    cx = int((frame.pose.x_m - origin[0]) / res * scale)
    cy = top.shape[0] - int((frame.pose.y_m - origin[1]) / res * scale)
    tip = (
        int(cx + 0.5 / res * scale * np.cos(frame.pose.yaw_rad)),
        int(cy - 0.5 / res * scale * np.sin(frame.pose.yaw_rad)),
    )
    cv2.circle(top, (cx, cy), int(0.25 / res * scale), (0, 160, 0), 2)
    cv2.line(top, (cx, cy), tip, (0, 160, 0), 2)
    camera = frame.rgb.copy()
    keepout = frame.mask < 128
    camera[keepout] = (0.5 * camera[keepout] + 0.5 * np.array([255, 0, 255])).astype(np.uint8)
    h = top.shape[0]
    camera = np.asarray(
        cv2.resize(camera, (int(camera.shape[1] * h / camera.shape[0] / 2), h // 2), interpolation=cv2.INTER_NEAREST),
        np.uint8,
    )
    depth = np.clip(frame.depth_mm.astype(np.float32) / 10000.0 * 255.0, 0, 255).astype(np.uint8)
    depth = cv2.resize(
        cv2.cvtColor(depth, cv2.COLOR_GRAY2RGB), (camera.shape[1], camera.shape[0]), interpolation=cv2.INTER_NEAREST
    )
    side: NDArray[np.uint8] = np.vstack([camera, depth])
    out = np.hstack([top, side[:h]])
    cv2.putText(out, f"world {frame.seed}: black both, red costmap only, blue Nav2-from-cloud only", (8, 20),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))


def main(argv: list[str] | None = None) -> int:
    """Print the result as one JSON line, then as a table; write the picture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"worlds {QUICK_SEEDS}, {QUICK_POSES} poses each")
    parser.add_argument("--png", type=Path, default=DEFAULT_PNG, help=f"comparison picture (default {DEFAULT_PNG})")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, png=args.png)
    print(json.dumps(result))
    print_result(result)
    print(f"picture: {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""bench replay: lock-step `rvn replay` of the committed regression bags against real time.

The peer is the clock: a bag of D seconds played by `ros2 bag play` takes D seconds, so
`speedup = D / replay wall time` says how much faster than real time the deterministic replay is
(> 1: a regression run of a recorded drive takes less time than the drive). Wall time is the
lock-step loop (every message published, processed and its outputs written); the stack's start-up
(torch import, model load, node creation) is reported separately in `startup_ms` since it does not
grow with the bag. The shipped model (segnet_tiny, the smallest and only one) on the configured
device; median of the repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import machine, print_table

REPO = Path(__file__).resolve().parents[1]
BAGS = REPO / "test" / "data" / "bags"
CASES = (
    ("sim_compressed (mcap, JPEG/PNG)", BAGS / "sim_compressed", None),
    ("sim_db3 (sqlite3, raw)", BAGS / "sim_db3", None),
    ("realsense_ros1 (ROS 1, JPEG/PNG)", BAGS / "realsense_ros1.bag", REPO / "config" / "topics_realsense.yaml"),
)
REPEATS = 3


def run(quick: bool = False, device: str = "") -> dict[str, Any]:
    """Replay each committed bag REPEATS times (once, and only the first bag, when quick)."""
    from robot_vision_nav.replay.replay import ReplayOptions, replay

    rows = []
    for name, bag, topics_map in CASES[:1] if quick else CASES:
        walls, totals = [], []
        duration_s = 0.0
        for _ in range(1 if quick else REPEATS):
            started = time.perf_counter()
            result = replay(ReplayOptions(bag=bag, topics_map=topics_map, device=device))
            totals.append((time.perf_counter() - started) * 1e3)
            walls.append(result.wall_s * 1e3)
            duration_s = result.bag_duration_s
        wall_ms = statistics.median(walls)
        rows.append({
            "case": name, "ours_ms": round(wall_ms, 1), "peer": "real time (bag duration)",
            "peer_ms": round(duration_s * 1e3, 1), "speedup": round(duration_s * 1e3 / wall_ms, 3),
            "startup_ms": round(statistics.median(totals) - wall_ms, 1), "inputs": sum(result.inputs.values()),
        })  # fmt: skip
    return {"bench": "replay", "machine": machine(), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.replay [--json] [--quick] [--device D]`."""
    parser = argparse.ArgumentParser(prog="bench.replay", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--quick", action="store_true", help="one bag, once (a smoke test)")
    parser.add_argument("--device", default="", help="segmentation device (default the YAML's: auto)")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, device=args.device)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

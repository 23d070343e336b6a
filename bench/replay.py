"""bench replay: the direct lock-step of `rvn replay` against rclpy's executor lock-step, and real time.

Each committed regression bag is replayed with `--lock-step direct` (ours) and `--lock-step
executor` (the peer: rclpy's SingleThreadedExecutor settling the stack after every message, what
`rvn replay` did before), alternating, REPEATS times each; both write the same output bytes
(test_replay_lockstep). `speedup` = executor wall / direct wall. `x_realtime` = bag duration /
direct wall (> 1: a recorded drive replays faster than it was driven), `x_realtime_executor` the
same for the peer. Wall time is the lock-step loop (every message published, processed and its
outputs summarised); start-up (torch import, model load, node creation) is `startup_ms`, apart,
since it does not grow with the bag. `segmentation_share` is the part of the direct wall spent in
the segmentation node (frame in to mask out): what bounds the replay once the executor does not.
The shipped model on the configured device; medians of the repeats.
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
    """Replay each committed bag REPEATS times per lock-step (once, and only the first bag, when quick)."""
    from robot_vision_nav.replay.replay import ReplayOptions, replay

    rows = []
    for name, bag, topics_map in CASES[:1] if quick else CASES:
        walls: dict[str, list[float]] = {"direct": [], "executor": []}
        totals: list[float] = []
        shares: list[float] = []
        duration_s = 0.0
        inputs = 0
        for _ in range(1 if quick else REPEATS):
            for kind in ("executor", "direct"):
                started = time.perf_counter()
                result = replay(ReplayOptions(bag=bag, topics_map=topics_map, device=device, lock_step=kind))
                walls[kind].append(result.wall_s * 1e3)
                if kind == "direct":
                    totals.append((time.perf_counter() - started) * 1e3)
                    shares.append(result.segmentation_s / result.wall_s)
                duration_s, inputs = result.bag_duration_s, sum(result.inputs.values())
        ours, peer = statistics.median(walls["direct"]), statistics.median(walls["executor"])
        rows.append({
            "case": name, "ours_ms": round(ours, 1), "peer": "rclpy executor lock-step", "peer_ms": round(peer, 1),
            "speedup": round(peer / ours, 3), "x_realtime": round(duration_s * 1e3 / ours, 3),
            "x_realtime_executor": round(duration_s * 1e3 / peer, 3),
            "segmentation_share": round(statistics.median(shares), 3),
            "startup_ms": round(statistics.median(totals) - ours, 1), "inputs": inputs,
            "bag_ms": round(duration_s * 1e3, 1),
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

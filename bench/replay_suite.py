"""bench replay_suite: one suite of bags replayed serially (the peer), in 2 worker processes, and on Ray.

The suite is the committed regression bags plus simulator bags recorded for it (`rvn record
--seconds 3 --compress` at 160x120, world seeds 101, 102, ...; kept in out/bench_replay_suite/ and
reused), 12 bags by default. Goldens for this machine are written once by a serial
`--update-goldens` run. Each mode then runs the whole suite through `rvn replay --suite` in a
fresh report folder: `speedup` = serial wall / the mode's wall (whole suite, start-up included),
and `same_report` says whether its junit.xml and summary.md equal the serial run's, less the
timings (they must). Ray is a local instance started by the run (loopback only).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import machine, print_table
from robot_vision_nav.replay.suite_report import without_timings

REPO = Path(__file__).resolve().parents[1]
BAGS = REPO / "test" / "data" / "bags"
WORK = REPO / "out" / "bench_replay_suite"
COMMITTED = (
    ("sim_compressed", BAGS / "sim_compressed", None),
    ("sim_db3", BAGS / "sim_db3", None),
    ("realsense_ros1", BAGS / "realsense_ros1.bag", REPO / "config" / "topics_realsense.yaml"),
)
RVN = [sys.executable, "-m", "robot_vision_nav.cli"]


def _rvn(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([*RVN, *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"rvn {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return time.perf_counter() - started


def _suite(count: int) -> Path:
    """The suite file of `count` bags (recording the simulator bags it lacks) with goldens for this machine."""
    bags = WORK / "bags"
    bags.mkdir(parents=True, exist_ok=True)
    entries: list[tuple[str, Path, Path | None]] = list(COMMITTED[: min(count, len(COMMITTED))])
    for i in range(max(0, count - len(COMMITTED))):
        name = f"sim_w{101 + i}"
        if not (bags / name).exists():
            _rvn("record", str(bags / name), "--seconds", "3", "--world-seed", str(101 + i), "--compress",
                 "--set", "sim_node.width_px=160", "--set", "sim_node.height_px=120")  # fmt: skip
        entries.append((name, bags / name, None))
    lines = ["suite: bench", "bags:"]
    for name, bag, topics in entries:
        lines += [f"  - name: {name}", f"    bag: {bag}", f"    golden: goldens/{name}.json"]
        if topics is not None:
            lines.append(f"    topics_map: {topics}")
    suite = WORK / f"suite_{count}.yaml"
    suite.write_text("\n".join(lines) + "\n")
    if any(not (WORK / "goldens" / f"{name}.json").exists() for name, _, _ in entries):
        _rvn("replay", "--suite", str(suite), "--update-goldens")
    return suite


def run(quick: bool = False) -> dict[str, Any]:
    """Serial, 2 workers and Ray on a 12-bag suite (quick: the 3 committed bags, serial and 2 workers)."""
    count = 3 if quick else 12
    suite = _suite(count)
    reports = WORK / "reports"
    shutil.rmtree(reports, ignore_errors=True)
    modes = [("serial", []), ("2 workers", ["--workers", "2"])] + ([] if quick else [("ray (local)", ["--ray"])])
    walls: dict[str, float] = {}
    for name, extra in modes:
        walls[name] = _rvn("replay", "--suite", str(suite), "--report", str(reports / name.split()[0]), *extra)
    serial = without_timings(reports / "serial")
    rows = []
    for name, _ in modes:
        rows.append({
            "case": f"{count} bags, {name}", "ours_ms": round(walls[name] * 1e3, 1), "peer": "serial",
            "peer_ms": round(walls["serial"] * 1e3, 1), "speedup": round(walls["serial"] / walls[name], 3),
            "same_report": without_timings(reports / name.split()[0]) == serial,
        })  # fmt: skip
    return {"bench": "replay_suite", "machine": machine(), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.replay_suite [--json] [--quick]`."""
    parser = argparse.ArgumentParser(
        prog="bench.replay_suite", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--quick", action="store_true", help="the 3 committed bags, serial and 2 workers")
    args = parser.parse_args(argv)
    result = run(quick=args.quick)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
        for row in result["rows"]:
            print(f"{row['case']}: report {'identical to' if row['same_report'] else 'DIFFERS from'} the serial one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

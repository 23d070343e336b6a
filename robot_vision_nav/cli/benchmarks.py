"""`rvn bench NAME`: run a benchmark module of the checkout's bench/ folder and print its table or JSON.

The benchmark itself is imported only when it runs; this module must never import ROS at module level.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import robot_vision_nav
from robot_vision_nav.cli.common import CliError, positive

if TYPE_CHECKING:
    from robot_vision_nav.cli.common import Subparsers

REPO = Path(robot_vision_nav.__file__).resolve().parents[1]
BENCH_DIR = REPO / "bench"
BENCH_HELPERS = {"__init__", "common"}


def bench_names(bench_dir: Path | None = None) -> list[str]:
    """Benchmarks in `bench_dir` (default: the checkout's bench/): its .py files but the package and helpers."""
    bench_dir = BENCH_DIR if bench_dir is None else bench_dir
    if not bench_dir.is_dir():
        return []
    return sorted(p.stem for p in bench_dir.glob("*.py") if p.stem not in BENCH_HELPERS)


def _bench(args: argparse.Namespace) -> int:
    names = bench_names()
    if not BENCH_DIR.is_dir():
        raise CliError(f"no bench/ folder at {str(BENCH_DIR)!r}; benchmarks run from a source checkout")
    if args.name not in names:
        available = ", ".join(names) if names else "none"
        raise CliError(f"unknown benchmark {args.name!r}; available: {available}")
    # Benchmarks import `bench.common`, so the checkout root must be importable; an editable install
    # maps only the package itself.
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        module = importlib.import_module(f"bench.{args.name}")
        common = importlib.import_module("bench.common")
    except ModuleNotFoundError as err:
        raise CliError(
            f"benchmark {args.name!r} needs module {err.name!r}: install requirements-bench.txt ({err})"
        ) from err
    if not callable(getattr(module, "run", None)):
        raise CliError(f"benchmark {args.name!r} ({module.__file__}) has no run(quick=...) function")
    options: dict[str, bool | float] = {"quick": args.quick}
    if args.minutes is not None:
        import inspect

        if "minutes" not in inspect.signature(module.run).parameters:
            raise CliError(f"benchmark {args.name!r} has no --minutes: only benchmarks that run for a time (soak)")
        options["minutes"] = args.minutes
    result = module.run(**options)
    if args.json:
        print(json.dumps(result))
    else:  # a bench with its own table (p50/p99 per stage) says so with print_result
        getattr(module, "print_result", common.print_table)(result)
    return 0


def register(sub: Subparsers) -> None:
    """Add `rvn bench` to `sub`."""
    names = bench_names()
    p = sub.add_parser(
        "bench",
        help="run a benchmark from bench/",
        description="Run bench/NAME.py: ours against peers measured in the same run, times in ms.",
    )
    p.add_argument("name", metavar="NAME", help=f"benchmark name (available: {', '.join(names) or 'none'})")
    p.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object {"bench", "machine", "rows": [{"case", "ours_ms", "peer", "peer_ms", "speedup"}]}',
    )
    p.add_argument("--quick", action="store_true", help="fewer repeats and cases (a smoke run, seconds)")
    p.add_argument(
        "--minutes",
        type=positive("min"),
        default=None,
        metavar="M",
        help="how long a benchmark that runs for a time goes on (min, > 0; soak: default 10, --quick 0.4)",
    )
    p.set_defaults(handler=_bench)

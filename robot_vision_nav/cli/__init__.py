"""`rvn`: the one command line of robot_vision_nav, one subcommand per job.

Every subcommand documents its units in `--help`, answers bad input with exit status 2 and one line
`rvn <subcommand>: error: ...` on stderr naming what was wrong and what was expected (never a
traceback), and has `--json` where a machine reads the result. Files are written atomically (a
temporary file in the same folder, then `os.replace`), so a failure never leaves half a picture.
Heavy imports (numba, OpenCV) happen inside the subcommands, so `rvn --help` stays quick.
No module of this package may import ROS at module level: `rvn costmap` and `rvn bench` work without it.

Each command group is a module with a `register(sub)` that adds its subcommands and their handlers;
`common` holds what they share.
"""

from __future__ import annotations

import argparse
import sys

import robot_vision_nav
from robot_vision_nav.cli import bags, benchmarks, costmap, goto, health, labels, perception, sim, stack, train
from robot_vision_nav.cli.benchmarks import bench_names
from robot_vision_nav.cli.common import EXIT_USAGE, CliError, Parser, glue_negative_values

__all__ = ["EXIT_USAGE", "CliError", "bench_names", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The `rvn` argument parser with every subcommand."""
    parser = Parser(
        prog="rvn",
        description="robot_vision_nav: camera-to-wheels local navigation. Units: metres, radians, seconds, pixels.",
    )
    parser.add_argument("--version", action="version", version=f"rvn {robot_vision_nav.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    # The order of `rvn --help`'s command list.
    for group in (costmap, perception, train, labels, benchmarks, stack, sim, goto, bags, health):
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `rvn` with `argv` (default: the process arguments) and return the exit status."""
    parser = build_parser()
    args_in = glue_negative_values(sys.argv[1:] if argv is None else argv, ("--mount",))
    try:
        args = parser.parse_args(args_in)
    except SystemExit as exc:  # --help, --version, or a usage error already reported in one line
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    try:
        return int(args.handler(args))
    except CliError as err:
        print(f"rvn {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130

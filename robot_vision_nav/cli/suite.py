"""`rvn replay --suite SUITE.yaml`: every bag of a suite through the stack, one report, one exit status."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from robot_vision_nav.cli.common import CliError

if TYPE_CHECKING:
    from robot_vision_nav.replay.suite import BagCase, Suite
    from robot_vision_nav.replay.suite_run import CaseResult

DEFAULT_REPORT = "replay-report"
# Options that describe one bag: a suite file gives them per bag instead.
_PER_BAG = (("--out", "out"), ("--check", "check"), ("--summary", "summary"), ("--topics-map", "topics_map"),
            ("--tolerances", "tolerances"), ("--params", "params"), ("--model", "model"))  # fmt: skip


def run_suite_command(args: argparse.Namespace) -> int:
    """Load the suite, run it (serially or in --workers), write the report or the goldens; the exit status."""
    from robot_vision_nav.cli.bags import _set_values
    from robot_vision_nav.replay.suite import SuiteError, load_suite, with_parameters
    from robot_vision_nav.replay.suite_report import JUNIT, MARKDOWN, outcome, write_report
    from robot_vision_nav.replay.suite_run import RunSettings, run_suite

    if args.bag:
        raise CliError("give BAG or --suite, not both")
    for option, dest in _PER_BAG:
        if getattr(args, dest, None):
            raise CliError(f"argument {option}: not with --suite (the suite file sets it per bag)")
    try:
        suite = load_suite(args.suite)
    except SuiteError as err:
        raise CliError(str(err)) from err
    if args.shard:
        suite = replace(suite, cases=_shard(suite.cases, args.shard))
    overrides = _set_values(args.set)
    if overrides:
        suite = replace(suite, cases=tuple(with_parameters(case, overrides) for case in suite.cases))
    report = Path(args.report or DEFAULT_REPORT)
    if not args.update_goldens:
        taken = [name for name in (JUNIT, MARKDOWN) if (report / name).exists()]
        if taken:
            raise CliError(f"argument --report: {str(report)!r} already holds {taken[0]}; not overwritten")
        if report.exists() and not report.is_dir():
            raise CliError(f"argument --report: {str(report)!r} is not a folder")
    settings = RunSettings(
        device=args.device or "", lock_step=args.lock_step,
        out_dir=report / "bags" if args.out_bags else None, compare=not args.update_goldens,
    )  # fmt: skip
    interactive = not args.json

    def progress(result: CaseResult, done: int, total: int) -> None:
        if interactive:
            detail = f"{result.wall_s:.1f} s, {result.realtime_factor:.2f}x real time" if result.wall_s else ""
            why = f": {result.message}" if result.message else ""
            print(f"[{done}/{total}] {result.name}: {result.status}{why}" + (f" ({detail})" if detail else ""),
                  file=sys.stderr, flush=True)  # fmt: skip

    if args.ray is not None:
        if args.workers != 1 or args.bag_timeout is not None:
            raise CliError("argument --ray: not with --workers or --bag-timeout (Ray schedules the bags)")
        from robot_vision_nav.replay.suite_ray import RayError, connect, run_on_ray

        how = f"Ray at {args.ray}" if args.ray else "a local Ray instance"
        # Ray prints its own notices (a worker that died, ...) on stdout from a thread of its own;
        # stdout is the result's (--json), so they go to stderr with the rest of the diagnostics.
        with contextlib.redirect_stdout(sys.stderr):
            try:
                ray = connect(args.ray or None)
            except RayError as err:
                raise CliError(str(err)) from err
            started = time.perf_counter()
            try:
                results = run_on_ray(suite.cases, settings, ray, progress=progress)
            finally:
                ray.shutdown()
    else:
        how = "serially" if args.workers == 1 else f"{args.workers} worker processes"
        if args.workers == 1 and args.bag_timeout is not None:
            how = "serially in a worker process"
        started = time.perf_counter()
        results = run_suite(suite, settings, workers=args.workers, progress=progress, bag_timeout_s=args.bag_timeout)
    wall_s = time.perf_counter() - started
    if args.update_goldens:
        return _update_goldens(suite, results, args.json)
    write_report(report, suite.name, results, wall_s=wall_s, how=how, base=suite.path.parent)
    summary = outcome(results)
    if args.json:
        print(json.dumps({
            "suite": suite.name, "verdict": summary.verdict, "exit_code": summary.exit_code, "wall_s": round(wall_s, 3),
            "report": str(report), "bags": [{"name": r.name, "status": r.status, "message": r.message,
                                             "device_class": r.device_class, "golden": r.golden} for r in results],
        }))  # fmt: skip
    else:
        print(f"suite {suite.name}: {summary.verdict}: {summary.passed} passed, {summary.failed} failed, "
              f"{summary.errors} errors of {len(results)} bags in {wall_s:.1f} s ({how})")  # fmt: skip
        print(f"report: {report / JUNIT}, {report / MARKDOWN}")
    return summary.exit_code


def _shard(cases: tuple[BagCase, ...], text: str) -> tuple[BagCase, ...]:
    """The bags of shard K/N: K, K+N, K+2N, ... (K from 0)."""
    k, sep, n = text.partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 0 <= int(k) < int(n)):
        raise CliError(f"argument --shard: expected K/N with 0 <= K < N (e.g. 0/4), got {text!r}")
    chosen = cases[int(k) :: int(n)]
    if not chosen:
        raise CliError(f"argument --shard: shard {text} of a suite of {len(cases)} bags holds none")
    return chosen


def _update_goldens(suite: Suite, results: list[CaseResult], as_json: bool) -> int:
    """Write each replayed bag's golden for its device class; say which are new, changed or unchanged."""
    from robot_vision_nav.replay.compare import compare_summaries, load_summary, summary_bytes, write_summary
    from robot_vision_nav.replay.suite_report import outcome
    from robot_vision_nav.replay.suite_run import ERROR

    cases = {case.name: case for case in suite.cases}
    rows: list[dict[str, object]] = []
    for result in results:
        if result.status == ERROR or result.summary is None:
            rows.append({"name": result.name, "golden": None, "change": "error", "message": result.message})
            continue
        case = cases[result.name]
        target = case.golden_for(result.device_class) or suite.default_golden(case, result.device_class)
        if target.suffix != ".json":
            message = f"golden {target} is an output bag; --update-goldens writes summary JSON goldens only"
            result.status, result.bad_input, result.message = ERROR, True, message
            rows.append({"name": result.name, "golden": str(target), "change": "error", "message": message})
            continue
        change, streams = "new", ""
        if target.exists():
            if target.read_bytes() == summary_bytes(result.summary):
                change = "unchanged"
            else:
                change = "changed"
                try:
                    rows_ = compare_summaries(load_summary(target), result.summary, case.tolerances)
                    beyond = [r.stream for r in rows_ if not r.passed]
                    streams = f"beyond tolerance: {', '.join(beyond)}" if beyond else "within tolerance"
                except ValueError as err:
                    streams = f"the old golden was unreadable: {err}"
        if change != "unchanged":
            target.parent.mkdir(parents=True, exist_ok=True)
            write_summary(target, result.summary)
        declared = case.golden_for(result.device_class) is not None
        note = "" if declared else f"; add it to the suite: goldens: {{{result.device_class}: {target}}}"
        rows.append({"name": result.name, "golden": str(target), "change": change, "device_class": result.device_class,
                     "message": streams + note})  # fmt: skip
    summary = outcome(results)
    if as_json:
        print(json.dumps({"suite": suite.name, "updated": rows, "exit_code": summary.exit_code}))
    else:
        for row in rows:
            extra = f" ({row['message']})" if row["message"] else ""
            print(f"{row['name']}: {row['change']} {row['golden'] or ''}{extra}")
    return summary.exit_code

"""A suite run's report: JUnit XML for CI, a Markdown summary for people, each bag's output summary.

The report folder holds

    junit.xml             one <testsuite>; per bag a "replay" test case (its ERROR, its wall time)
                          and one test case per stream (its FAILURE: metric, worst, tolerance, where)
    summary.md            the verdict, a row per bag, a row per bag and stream, then the timings
    summaries/NAME.json   each replayed bag's output summary (`rvn replay --summary`'s format)
    bags/NAME/            each bag's output bag (with --out-bags)

Everything but the timings (the `time` attributes, the timing table) depends only on the bags,
goldens and code, so a suite run serially, in workers or on Ray gives the same report. Files are
written whole or not at all (a temporary name, then a rename), the JUnit file and summary last.
Must never import ROS.
"""

from __future__ import annotations

import math
import os
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from robot_vision_nav.files import write_bytes_atomic
from robot_vision_nav.replay.compare import STREAMS, StreamResult, write_summary
from robot_vision_nav.replay.suite_run import ERROR, FAILED, PASSED, CaseResult

JUNIT = "junit.xml"
MARKDOWN = "summary.md"
SUMMARIES = "summaries"


@dataclass(frozen=True)
class SuiteOutcome:
    """The verdict of a suite run and its exit code."""

    passed: int
    failed: int
    errors: int
    bad_input: int  # of the errors: the input's fault

    @property
    def exit_code(self) -> int:
        """0 all passed, 1 a regression or a run that broke, 2 bad input (a bag, golden or parameter)."""
        if self.bad_input:
            return 2
        return 1 if self.failed or self.errors else 0

    @property
    def verdict(self) -> str:
        """PASSED, FAILED or ERROR (the worst of the bags)."""
        return "ERROR" if self.errors else "FAILED" if self.failed else "PASSED"


def outcome(results: Sequence[CaseResult]) -> SuiteOutcome:
    """Count the bags of each status."""
    return SuiteOutcome(
        passed=sum(r.status == PASSED for r in results),
        failed=sum(r.status == FAILED for r in results),
        errors=sum(r.status == ERROR for r in results),
        bad_input=sum(r.status == ERROR and r.bad_input for r in results),
    )


def _number(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else str(value)


def _stream_message(row: StreamResult) -> str:
    bound = ">=" if row.metric in ("IoU min", "cells agree min") else "<="
    return f"{row.stream}: {row.metric} {_number(row.worst)}, tolerance {bound} {_number(row.tolerance)}"


def _shown(path: str | None, base: Path | None) -> str:
    """`path` relative to `base` (the suite's folder: the same report on any machine), else as it is."""
    if path is None:
        return "none"
    return os.path.relpath(path, base) if base is not None else path


def junit_xml(suite_name: str, results: Sequence[CaseResult], wall_s: float, base: Path | None = None) -> bytes:
    """The JUnit XML of a suite run (the schema Jenkins, GitLab and GitHub Actions read); paths relative to `base`."""
    summary = outcome(results)
    cases = [(r, stream) for r in results for stream in ["replay", *[row.stream for row in r.streams]]]
    failures = sum(1 for r in results for row in r.streams if not row.passed)
    root = ET.Element("testsuites", name=suite_name, tests=str(len(cases)), failures=str(failures),
                      errors=str(summary.errors), time=f"{wall_s:.3f}")  # fmt: skip
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(cases)), failures=str(failures),
                          errors=str(summary.errors), skipped="0", time=f"{wall_s:.3f}",
                          hostname=socket.gethostname())  # fmt: skip
    for result in results:
        classname = f"{suite_name}.{result.name}"
        case = ET.SubElement(suite, "testcase", classname=classname, name="replay", time=f"{result.wall_s:.3f}")
        if result.status == ERROR:
            kind = "bad input" if result.bad_input else "replay error"
            text = f"{_shown(result.bag, base)}: {result.message}"
            ET.SubElement(case, "error", message=result.message, type=kind).text = text
        else:
            ET.SubElement(case, "system-out").text = (
                f"{_shown(result.bag, base)}: {result.inputs} input messages, device class {result.device_class}, "
                f"golden {_shown(result.golden, base)}"
            )
        for row in result.streams:
            case = ET.SubElement(suite, "testcase", classname=classname, name=row.stream, time="0")
            if not row.passed:
                failure = ET.SubElement(case, "failure", message=_stream_message(row), type="regression")
                failure.text = (
                    f"{row.stream}: {row.golden} golden, {row.replayed} replayed, {row.matched} matched; "
                    f"{_stream_message(row)}; {row.detail}"
                )
    ET.indent(root)
    text = ET.tostring(root, encoding="unicode", xml_declaration=True)
    return (text + "\n").encode("utf-8")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(suite_name: str, results: Sequence[CaseResult], *, timings: bool = True, wall_s: float = 0.0,
             how: str = "") -> str:  # fmt: skip
    """The Markdown summary: verdict, a row per bag, a row per bag and stream, and (with `timings`) the times."""
    summary = outcome(results)
    lines = [
        f"# Replay suite `{suite_name}`: {summary.verdict}",
        "",
        f"{len(results)} bags: {summary.passed} passed, {summary.failed} failed, {summary.errors} errors"
        + (f" ({summary.bad_input} bad input)" if summary.bad_input else ""),
        "",
        "| bag | result | device class | inputs | " + " | ".join(STREAMS) + " | why |",
        "|---|---|---|---|" + "---|" * len(STREAMS) + "---|",
    ]
    for r in results:
        by_stream = {row.stream: row for row in r.streams}
        cells = []
        for stream in STREAMS:
            row = by_stream.get(stream)
            cells.append("" if row is None else f"{'ok' if row.passed else '**FAIL**'} {_number(row.worst)}")
        status = r.status.upper() if r.status != PASSED else "passed"
        lines.append(f"| {r.name} | {status} | {r.device_class or '-'} | {r.inputs} | " + " | ".join(cells)
                     + f" | {_cell(r.message)} |")  # fmt: skip
    lines += [
        "",
        "| bag | stream | golden | replayed | matched | metric | worst | tolerance | result | where |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for row in r.streams:
            lines.append(
                f"| {r.name} | {row.stream} | {row.golden} | {row.replayed} | {row.matched} | {row.metric} | "
                f"{_number(row.worst)} | {_number(row.tolerance)} | {'pass' if row.passed else '**FAIL**'} | "
                f"{_cell(row.detail)} |"
            )
    if timings:
        lines += ["", f"## Timings ({how}, {wall_s:.1f} s wall)" if how else f"## Timings ({wall_s:.1f} s wall)", "",
                  "| bag | bag s | replay s | x real time | ran in |", "|---|---|---|---|---|"]  # fmt: skip
        for r in results:
            lines.append(f"| {r.name} | {r.bag_duration_s:.2f} | {r.wall_s:.2f} | {r.realtime_factor:.2f} | "
                         f"{r.worker} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def write_report(
    folder: Path, suite_name: str, results: Sequence[CaseResult], *, wall_s: float, how: str, base: Path | None = None
) -> None:
    """Write the report files into `folder` (created): summaries first, then junit.xml and summary.md."""
    folder.mkdir(parents=True, exist_ok=True)
    summaries = folder / SUMMARIES
    for result in results:
        if result.summary is not None:
            summaries.mkdir(exist_ok=True)
            write_summary(summaries / f"{result.name}.json", result.summary)
    write_bytes_atomic(folder / JUNIT, junit_xml(suite_name, results, wall_s, base))
    write_bytes_atomic(folder / MARKDOWN, markdown(suite_name, results, wall_s=wall_s, how=how).encode("utf-8"))


def without_timings(folder: Path) -> tuple[str, str]:
    """A report's junit.xml and summary.md less what two runs of one suite may differ in: times, host, timings.

    Two runs of one suite, serially, in workers or on Ray, must give equal values.
    """
    junit = re.sub(r' (time|hostname)="[^"]*"', "", (folder / JUNIT).read_text())
    return junit, (folder / MARKDOWN).read_text().split("## Timings")[0]

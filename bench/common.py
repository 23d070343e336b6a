"""Shared helpers for the benchmarks in bench/: timing, summaries, the machine line, the table.

Every benchmark returns one JSON-able dict,
`{"bench": NAME, "machine": ..., "rows": [{"case", "ours_ms", "peer", "peer_ms", "speedup", ...}]}`,
with every row measured in the same run; `print_table` prints the same content for people.
Timing uses `time.perf_counter` with the garbage collector paused, as `timeit` does, so a
collection triggered by one side does not land in the other side's numbers.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall time of `repeats` calls of `fn` in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times_ms: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times_ms.append((time.perf_counter() - start) * 1e3)
    finally:
        if gc_was_enabled:
            gc.enable()
    return times_ms


def summary(times_ms: list[float]) -> dict[str, float]:
    """Median, 90th percentile (nearest rank) and minimum of a list of times in ms."""
    if not times_ms:
        raise ValueError("summary needs at least one time")
    ordered = sorted(times_ms)
    p90 = ordered[min(len(ordered) - 1, max(0, round(0.9 * len(ordered)) - 1))]
    return {"median": statistics.median(ordered), "p90": p90, "min": ordered[0]}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line naming the machine: CPU, core count, OS, Python."""
    return (
        f"{_cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def row(case: str, ours_ms: list[float], peer: str, peer_ms: list[float], **extra: Any) -> dict[str, Any]:
    """One result row from the raw times of both sides; speedup = peer median / ours median."""
    ours, theirs = summary(ours_ms), summary(peer_ms)
    return {
        "case": case,
        "ours_ms": round(ours["median"], 4),
        "peer": peer,
        "peer_ms": round(theirs["median"], 4),
        "speedup": round(theirs["median"] / ours["median"], 4),
        "ours_p90_ms": round(ours["p90"], 4),
        "peer_p90_ms": round(theirs["p90"], 4),
        "ours_min_ms": round(ours["min"], 4),
        "peer_min_ms": round(theirs["min"], 4),
        "repeats": len(ours_ms),
        **extra,
    }


def print_table(result: dict[str, Any]) -> None:
    """Print a benchmark result as a table: median (p90) ms per side and the speedup."""
    print(f"bench {result['bench']} on {result['machine']}")
    header = f"{'case':<34} {'ours ms (p90)':>16}  {'peer':<12} {'peer ms (p90)':>16} {'speedup':>8}"
    print(header)
    print("-" * len(header))
    for r in result["rows"]:
        ours = f"{r['ours_ms']:.3f} ({r.get('ours_p90_ms', r['ours_ms']):.3f})"
        peer = f"{r['peer_ms']:.3f} ({r.get('peer_p90_ms', r['peer_ms']):.3f})"
        extra = ""
        if "agreement" in r:
            extra = f"  lethal agreement {r['agreement']:.1%}"
            if "agreement_exact" in r:
                extra += f" (same cell {r['agreement_exact']:.1%})"
        print(f"{r['case']:<34} {ours:>16}  {r['peer']:<12} {peer:>16} {r['speedup']:>7.2f}x{extra}")
    for note in result.get("notes", []):
        print(note)

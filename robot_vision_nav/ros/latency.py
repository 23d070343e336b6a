"""Input age: how old each input message is when a node gets it, for /diagnostics.

Age = the node clock at receipt minus the message's header stamp (sim time under use_sim_time, so
a replay or the simulator measure the same way as a robot). A node records every input here and
reports, per input, the newest age and the p50 / p99 / max over a rolling window; `behind` names
the inputs whose newest age exceeds the node's limit. A subscription with keep-last 1 never lets a
queue grow, so a node that falls behind shows it here as age, not as memory.

Nothing here reads a clock or imports rclpy; a node hands in its own times.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from robot_vision_nav.core.config import param

WINDOW = 300  # ages kept per input: 10 s at 30 Hz
DEFAULT_MAX_INPUT_AGE_S = 0.25


def max_input_age_param(default: float = DEFAULT_MAX_INPUT_AGE_S) -> float:
    """The `max_input_age_s` parameter every node declares, described once."""
    field: float = param(  # a dataclass field typed as its default, as dataclasses.field is
        default,
        "diagnostics warn (falling behind) when an input is older than this on arrival (node clock minus its stamp)",
        unit="s",
        min_value=0.001,
        max_value=60.0,
    )
    return field


def diagnostics_period_param(description: str = "period of /diagnostics") -> float:
    """The `diagnostics_period_s` parameter every node declares, described once."""
    field: float = param(1.0, description, unit="s", min_value=0.05, max_value=60.0)  # typed as its default
    return field


@dataclass(frozen=True)
class AgeSummary:
    """Ages of one input in ms: the newest, and p50 / p99 / max of the window."""

    last_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    count: int


def _rank(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class InputAges:
    """Rolling input ages per input name."""

    def __init__(self, window: int = WINDOW) -> None:
        self._window = window
        self._ages: dict[str, deque[float]] = {}
        self._counts: dict[str, int] = {}

    def record(self, name: str, now_ns: int, stamp_ns: int) -> float:
        """Record one message of `name` stamped `stamp_ns`, received at `now_ns`; its age in ms.

        A stamp of 0 (a driver that never sets it) records nothing: its age would be the clock.
        A stamp ahead of the clock (another host's clock, a replay starting) counts as age 0.
        """
        if stamp_ns <= 0:
            return 0.0
        age_ms = max(0.0, (now_ns - stamp_ns) / 1e6)
        self._ages.setdefault(name, deque(maxlen=self._window)).append(age_ms)
        self._counts[name] = self._counts.get(name, 0) + 1
        return age_ms

    def summary(self, name: str) -> AgeSummary | None:
        """The ages of `name`, or None before its first stamped message."""
        ages = self._ages.get(name)
        if not ages:
            return None
        ordered = sorted(ages)
        return AgeSummary(ages[-1], _rank(ordered, 0.5), _rank(ordered, 0.99), ordered[-1], self._counts[name])

    def behind(self, max_age_s: float) -> list[str]:
        """Inputs whose newest message was older than `max_age_s` when it arrived."""
        return [name for name, ages in self._ages.items() if ages and ages[-1] > max_age_s * 1e3]

    def key_values(self) -> list[tuple[str, str]]:
        """(key, value) pairs for a DiagnosticStatus: `age_ms_<input>` newest / p50 / p99 / max."""
        out: list[tuple[str, str]] = []
        for name in self._ages:
            s = self.summary(name)
            if s is not None:
                text = f"{s.last_ms:.1f} (p50 {s.p50_ms:.1f}, p99 {s.p99_ms:.1f}, max {s.max_ms:.1f})"
                out.append((f"age_ms_{name}", text))
        return out

    def reset(self) -> None:
        """Forget every age (a restarted clock)."""
        self._ages.clear()
        self._counts.clear()


def behind_message(ages: InputAges, max_age_s: float) -> str:
    """'' when every input arrived fresh, else a diagnostics message naming the late inputs and their ages."""
    late = []
    for name in ages.behind(max_age_s):
        summary = ages.summary(name)
        if summary is not None:
            late.append(f"{name} {summary.last_ms:.0f} ms")
    if not late:
        return ""
    return f"falling behind: inputs older than max_input_age_s = {max_age_s:g} s on arrival ({', '.join(late)})"

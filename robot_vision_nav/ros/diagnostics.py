"""Each node's report on /diagnostics, assembled one way.

A node makes one `DiagnosticsReporter` when it is configured and, on its diagnostics timer, asks it
for a fresh status (named "<node name>: <what>", with the node's fully qualified name as the
hardware id: what `rqt_runtime_monitor` and `rvn monitor` group by), sets the level and the
message, and publishes it with its key/value pairs. The array is stamped with the node clock unless
the node gives a stamp (the simulator stamps with the sim time it makes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from robot_vision_nav.core.pacing import StepTimes
from robot_vision_nav.ros import topics

DIAGNOSTICS_TOPIC = topics.DIAGNOSTICS


class DiagnosticsReporter:
    """The /diagnostics publisher of one node and the name of its status.

    Args:
        node: the node (a managed node's publisher is a lifecycle publisher: silent while inactive).
        what: what the status is about, e.g. "controller": the status is "<node name>: controller".

    """

    def __init__(self, node: Any, what: str) -> None:
        self._node = node
        self.name = f"{node.get_name()}: {what}"
        self._pub = node.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)

    def status(self) -> DiagnosticStatus:
        """A new status of this node, level OK and no message yet."""
        return DiagnosticStatus(name=self.name, hardware_id=self._node.get_fully_qualified_name())

    def publish(
        self, status: DiagnosticStatus, values: Mapping[str, str] | Iterable[tuple[str, str]], stamp: Any = None
    ) -> None:
        """Publish `status` with `values` (key -> text, in order) as a one-status DiagnosticArray."""
        pairs = values.items() if isinstance(values, Mapping) else values
        status.values = [KeyValue(key=k, value=v) for k, v in pairs]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self._node.get_clock().now().to_msg() if stamp is None else stamp
        self._pub.publish(array)


def idle_health(
    idle_s: float | None, timeout_s: float, what: str, silent: Sequence[str], last_problem: str
) -> tuple[bytes, str]:
    """Level and message of a node whose work is driven by an input: WARN when idle or after a problem.

    Idle (nothing done for `timeout_s`, or never) names the inputs that sent nothing yet (`silent`):
    a topic nobody publishes gives no other warning. Otherwise the last problem, if any; else OK.
    """
    if idle_s is None or idle_s > timeout_s:
        message = f"no {what} processed for {timeout_s} s"
        if silent:
            message += f"; nothing received yet on {', '.join(silent)}"
        if last_problem:
            message += f"; last problem: {last_problem}"
        return DiagnosticStatus.WARN, message
    if last_problem:
        return DiagnosticStatus.WARN, f"last problem: {last_problem}"
    return DiagnosticStatus.OK, "ok"


def step_values(times: StepTimes, last_stamp_ns: int | None, now_ns: int) -> dict[str, str]:
    """The step's last and median duration in ms, and the age of the last input it used (node clock)."""
    age_ms = float("nan") if last_stamp_ns is None else (now_ns - last_stamp_ns) / 1e6
    return {"update_ms_last": times.last_ms(), "update_ms_median": times.median_ms(), "input_age_ms": f"{age_ms:.1f}"}

"""When an input counts as fresh: one rule for every watchdog (the safety gate, the controller).

Times are integers in ns on the node clock (sim time under use_sim_time). This module must never
import ROS.
"""

from __future__ import annotations

NS = 1_000_000_000


def is_fresh(received_ns: int | None, now_ns: int, timeout_s: float) -> bool:
    """Whether an input received at `received_ns` is at most `timeout_s` old at `now_ns`.

    Never received is not fresh; neither is anything while the clock reads 0 or less (use_sim_time
    before the first /clock, when every age would look fresh), nor an input received "after" now
    (the clock jumped back: a reset simulator, a looped bag) until it arrives on the new timeline.
    """
    return received_ns is not None and now_ns > 0 and 0 <= now_ns - received_ns <= timeout_s * NS

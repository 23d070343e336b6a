"""Input timing rules shared by the nodes.

When an input counts as fresh (one rule for every watchdog: the safety gate, the controller), and
when a stamp was reordered in transport (one rule for segmentation and the safety layer).

Times are integers in ns on the node clock (sim time under use_sim_time). This module must never
import ROS.
"""

from __future__ import annotations

from robot_vision_nav.core.units import NS_PER_S


def is_fresh(received_ns: int | None, now_ns: int, timeout_s: float) -> bool:
    """Whether an input received at `received_ns` is at most `timeout_s` old at `now_ns`.

    Never received is not fresh; neither is anything while the clock reads 0 or less (use_sim_time
    before the first /clock, when every age would look fresh), nor an input received "after" now
    (the clock jumped back: a reset simulator, a looped bag) until it arrives on the new timeline.
    """
    return received_ns is not None and now_ns > 0 and 0 <= now_ns - received_ns <= timeout_s * NS_PER_S


class StampOrder:
    """Tells a message reordered in transport from a clock that restarted, by its stamp.

    A stamp older than the newest one used, by up to `window_ns`, was reordered: its result would be
    older than one already out, so it is dropped. Unless `confirm` of them come in a row: then the
    clock restarted by less than the window (a bag shorter than that played in a loop), and they are
    taken. Farther back is a restarted clock at once; an equal stamp (a duplicate) is taken.
    """

    def __init__(self, window_ns: int = NS_PER_S, confirm: int = 3) -> None:
        self.window_ns = window_ns
        self.confirm = confirm
        self.newest_ns: int | None = None  # the stamp of the newest message used
        self._older_in_a_row = 0

    def reordered(self, stamp_ns: int) -> bool:
        """Whether to drop a message stamped `stamp_ns`; call `take` once one that was not is used."""
        newest = self.newest_ns
        if newest is not None and 0 < newest - stamp_ns <= self.window_ns:
            self._older_in_a_row += 1
            if self._older_in_a_row < self.confirm:
                return True
        self._older_in_a_row = 0
        return False

    def take(self, stamp_ns: int) -> None:
        """A message stamped `stamp_ns` was used: its stamp is the newest now."""
        self.newest_ns = stamp_ns
        self._older_in_a_row = 0

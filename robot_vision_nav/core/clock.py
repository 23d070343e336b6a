"""Input timing rules shared by the nodes.

When an input counts as fresh (one rule for every watchdog: the safety gate, the controller), and
when a stamp was reordered in transport, is a stray late one or means the clock restarted (one rule,
in two settings, for segmentation, the safety layer, the odometry poses and the depth sets).

Times are integers in ns on the node clock (sim time under use_sim_time). This module must never
import ROS.
"""

from __future__ import annotations

from enum import Enum

from robot_vision_nav.core.units import NS_PER_S


def is_fresh(received_ns: int | None, now_ns: int, timeout_s: float) -> bool:
    """Whether an input received at `received_ns` is at most `timeout_s` old at `now_ns`.

    Never received is not fresh; neither is anything while the clock reads 0 or less (use_sim_time
    before the first /clock, when every age would look fresh), nor an input received "after" now
    (the clock jumped back: a reset simulator, a looped bag) until it arrives on the new timeline.
    """
    return received_ns is not None and now_ns > 0 and 0 <= now_ns - received_ns <= timeout_s * NS_PER_S


class StampVerdict(Enum):
    """What `StampOrder.check` makes of a stamp."""

    TAKE = "take"  # newer than the newest used, or equal to it (a duplicate)
    DROP_REORDERED = "reordered"  # older by up to the window: reordered in transport
    DROP_STRAY = "stray"  # older by more, not confirmed yet: one late message, not a new timeline
    RESTART = "restart"  # the clock restarted: forget what is bound to the old timeline, then use it

    @property
    def dropped(self) -> bool:
        """Whether the message is not to be used."""
        return self in (StampVerdict.DROP_REORDERED, StampVerdict.DROP_STRAY)


class StampOrder:
    """Tells a message reordered in transport, a stray late one and a clock that restarted apart, by stamp.

    Against the newest stamp used (`take`), a stamp that is
    - newer or equal (a duplicate) is TAKE;
    - older by up to `window_ns` was reordered in transport: its result would be older than one
      already out, so it is DROP_REORDERED. Unless `confirm` of them come in a row: then the clock
      restarted by less than the window (a bag shorter than that played in a loop), RESTART on the
      confirming one. `confirm=None`: never;
    - older by more is a clock that restarted once `confirm_jump` of them come in a row (1: at
      once), RESTART; before that DROP_STRAY.
    Each count is of stamps in a row: any other stamp starts it over.

    The two settings in use differ on purpose:
    - A stateless per-frame stage (segmentation, the safety layer's depth check) uses
      `StampOrder(NS_PER_S, confirm=3, confirm_jump=1)`, the defaults: each frame stands alone, so
      following a new timeline at once costs nothing, and a stray late frame costs one old result
      (the next current frame is newer again and taken).
    - A stage with history (odometry poses, the depth sets of a rolling map) uses
      `StampOrder(NS_PER_S, confirm=None, confirm_jump=3)`: a restart throws the history away, so one
      stray late message must not cause it; and a stamp a little older is never taken, as the
      history must stay in stamp order.

    Args:
        window_ns: how far back a stamp may be and still count as reordered, not a restarted clock.
        confirm: reordered stamps in a row that are a short loop; None: never one.
        confirm_jump: stamps in a row older than the window that are a restarted clock.

    """

    def __init__(self, window_ns: int = NS_PER_S, confirm: int | None = 3, confirm_jump: int = 1) -> None:
        self.window_ns = window_ns
        self.confirm = confirm
        self.confirm_jump = confirm_jump
        self.newest_ns: int | None = None  # the stamp of the newest message used
        self._reordered_in_a_row = 0
        self._jumped_in_a_row = 0

    def check(self, stamp_ns: int) -> StampVerdict:
        """The verdict on a message stamped `stamp_ns`; call `take` once one that is not dropped is used."""
        back_ns = 0 if self.newest_ns is None else self.newest_ns - stamp_ns
        if back_ns <= 0:
            self.forget_runs()
            return StampVerdict.TAKE
        if back_ns <= self.window_ns:
            self._jumped_in_a_row = 0
            self._reordered_in_a_row += 1
            if self.confirm is None or self._reordered_in_a_row < self.confirm:
                return StampVerdict.DROP_REORDERED
        else:
            self._reordered_in_a_row = 0
            self._jumped_in_a_row += 1
            if self._jumped_in_a_row < self.confirm_jump:
                return StampVerdict.DROP_STRAY
        self.forget_runs()
        return StampVerdict.RESTART

    def reordered(self, stamp_ns: int) -> bool:
        """Whether to drop a message stamped `stamp_ns` (`check`, yes or no); `take` one that was not, once used."""
        return self.check(stamp_ns).dropped

    def take(self, stamp_ns: int) -> None:
        """A message stamped `stamp_ns` was used: its stamp is the newest now."""
        self.newest_ns = stamp_ns
        self.forget_runs()

    def forget_runs(self) -> None:
        """Start the counts of older stamps in a row over."""
        self._reordered_in_a_row = 0
        self._jumped_in_a_row = 0

    def reset(self) -> None:
        """Forget the newest stamp and the counts: the next stamp is taken, whatever it is."""
        self.newest_ns = None
        self.forget_runs()

"""core/clock.py: which stamps are reordered and which mean the clock restarted."""

from __future__ import annotations

from robot_vision_nav.core.clock import StampOrder, StampVerdict
from robot_vision_nav.core.units import NS_PER_S as NS

MS = 1_000_000


def use(order: StampOrder, stamp_ns: int) -> bool:
    """What a node does: drop a reordered message, use (take) any other. Whether it was used."""
    if order.reordered(stamp_ns):
        return False
    order.take(stamp_ns)
    return True


def test_newer_and_equal_stamps_are_used_and_slightly_older_ones_dropped() -> None:
    order = StampOrder()
    assert use(order, 10 * NS) and order.newest_ns == 10 * NS
    assert not use(order, 10 * NS - 100 * MS)  # reordered in transport
    assert order.newest_ns == 10 * NS
    assert use(order, 10 * NS)  # a duplicate
    assert use(order, 10 * NS + 66 * MS)
    assert not use(order, 10 * NS + 66 * MS - NS)  # exactly the window back: still reordered


def test_only_a_used_message_moves_the_newest_stamp() -> None:
    order = StampOrder()
    use(order, 10 * NS)
    assert not order.reordered(11 * NS)  # not used (say it failed to decode): 10 s stays the newest
    assert order.newest_ns == 10 * NS
    assert use(order, 10 * NS + 500 * MS)


def test_farther_back_than_the_window_is_a_restarted_clock_at_once() -> None:
    order = StampOrder()
    use(order, 10 * NS)
    assert use(order, 3 * NS) and order.newest_ns == 3 * NS


def test_a_run_of_older_stamps_is_a_short_loop_and_is_taken_on_the_confirming_one() -> None:
    order = StampOrder(confirm=3)
    use(order, 2 * NS)
    loop = [2 * NS - 200 * MS, 2 * NS - 133 * MS, 2 * NS - 66 * MS]  # a 0.2 s bag starting again
    assert [use(order, s) for s in loop] == [False, False, True]
    assert order.newest_ns == loop[-1]
    # The run ended: a single reordered frame is dropped again.
    assert use(order, 2 * NS)
    assert not use(order, 2 * NS - 10 * MS)


def per_frame() -> StampOrder:
    """The setting of a stateless per-frame stage (segmentation, the safety layer)."""
    return StampOrder(NS, confirm=3, confirm_jump=1)


def with_history() -> StampOrder:
    """The setting of a stage with history (odometry poses, depth sets)."""
    return StampOrder(NS, confirm=None, confirm_jump=3)


TAKE, REORDERED, STRAY, RESTART = (
    StampVerdict.TAKE,
    StampVerdict.DROP_REORDERED,
    StampVerdict.DROP_STRAY,
    StampVerdict.RESTART,
)


def verdicts(order: StampOrder, *stamps_ms: int) -> list[StampVerdict]:
    """Check each stamp in turn and take it, as a node uses it, unless it is dropped."""
    out = []
    for t in stamps_ms:
        verdict = order.check(t * MS)
        if not verdict.dropped:
            order.take(t * MS)
        out.append(verdict)
    return out


def test_the_defaults_are_the_per_frame_setting() -> None:
    order = StampOrder()
    assert (order.window_ns, order.confirm, order.confirm_jump) == (NS, 3, 1)


def test_a_newer_or_equal_stamp_is_taken_in_both_settings() -> None:
    for order in (per_frame(), with_history()):
        assert verdicts(order, 5_000, 5_000, 5_066) == [TAKE, TAKE, TAKE]
        assert order.newest_ns == 5_066 * MS


def test_per_frame_drops_reordered_stamps_and_restarts_at_once_when_far_back() -> None:
    order = per_frame()
    assert verdicts(order, 10_000, 9_900, 9_000, 8_999) == [TAKE, REORDERED, REORDERED, RESTART]
    assert order.newest_ns == 8_999 * MS
    assert verdicts(order, 8_800, 8_850, 8_900) == [REORDERED, REORDERED, RESTART]  # a 0.2 s bag looped
    assert order.newest_ns == 8_900 * MS
    # Never a stray: a late frame from long ago is followed at once, and the next current one again.
    assert verdicts(order, 8_950, 1_000, 9_000) == [TAKE, RESTART, TAKE]


def test_with_history_drops_strays_and_restarts_on_the_confirming_one() -> None:
    order = with_history()
    # One late retransmission keeps the history; the third in a row is a clock that restarted.
    assert verdicts(order, 10_000, 1_000, 1_100, 1_200) == [TAKE, STRAY, STRAY, RESTART]
    assert order.newest_ns == 1_200 * MS


def test_with_history_never_takes_a_reordered_stamp_and_it_breaks_a_run_of_strays() -> None:
    order = with_history()
    assert verdicts(order, 10_000, 9_500, 9_500, 9_500, 9_500) == [TAKE, REORDERED, REORDERED, REORDERED, REORDERED]
    assert verdicts(order, 1_000, 1_100, 9_900, 1_200, 1_300) == [STRAY, STRAY, REORDERED, STRAY, STRAY]
    assert order.newest_ns == 10_000 * MS


def test_forget_runs_starts_the_count_over_and_reset_forgets_the_newest() -> None:
    order = with_history()
    verdicts(order, 10_000, 1_000, 1_100)
    order.forget_runs()
    assert verdicts(order, 1_200) == [STRAY]
    order.reset()
    assert order.newest_ns is None
    assert verdicts(order, 1_000) == [TAKE]


def test_reordered_says_whether_the_verdict_drops() -> None:
    order = with_history()
    order.take(10 * NS)
    assert order.reordered(10 * NS - 100 * MS) and order.reordered(NS)
    assert not order.reordered(11 * NS)

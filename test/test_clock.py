"""core/clock.py: which stamps are reordered and which mean the clock restarted."""

from __future__ import annotations

from robot_vision_nav.core.clock import StampOrder
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

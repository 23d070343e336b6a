"""Approximate-time synchroniser: which sets come out, and how every unused message is counted."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from robot_vision_nav.ros.sync import ApproximateTimeSync

MS = 1_000_000
REPO = Path(__file__).resolve().parents[1]


class Recorder:
    def __init__(self) -> None:
        self.sets: list[tuple[Any, ...]] = []

    def __call__(self, msgs: tuple[Any, ...]) -> None:
        self.sets.append(msgs)


def make(n_inputs: int = 2, queue_size: int = 10, slop_ns: int = 5 * MS, pivot: int = 0):
    rec = Recorder()
    return ApproximateTimeSync(n_inputs, queue_size, slop_ns, rec, pivot=pivot), rec


def test_sync_module_does_not_import_rclpy() -> None:
    code = "import sys, robot_vision_nav.ros.sync; sys.exit('rclpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0


def test_exact_stamps_make_one_set_each_in_order() -> None:
    sync, rec = make()
    for k in range(5):
        sync.add(0, k * 33 * MS, f"rgb{k}")
        sync.add(1, k * 33 * MS, f"depth{k}")
    assert rec.sets == [(f"rgb{k}", f"depth{k}") for k in range(5)]
    assert sync.emitted_sets == 5
    assert sync.dropped_sets == 0
    assert sync.dropped_messages == [0, 0]


def test_set_is_emitted_whichever_input_arrives_last() -> None:
    sync, rec = make()
    sync.add(1, 100 * MS, "depth")
    assert rec.sets == []
    sync.add(0, 100 * MS, "rgb")
    assert rec.sets == [("rgb", "depth")]


def test_stamps_within_slop_make_a_set_with_the_closest_partner() -> None:
    sync, rec = make(slop_ns=5 * MS)
    sync.add(1, 96 * MS, "far")
    sync.add(1, 102 * MS, "near")
    sync.add(0, 100 * MS, "pivot")
    assert rec.sets == [("pivot", "near")]
    # "far" was older than the emitted set and never used.
    assert sync.dropped_messages == [0, 1]
    assert sync.dropped_sets == 0


def test_stamp_exactly_at_slop_matches() -> None:
    sync, rec = make(slop_ns=5 * MS)
    sync.add(0, 100 * MS, "pivot")
    sync.add(1, 105 * MS, "edge")
    assert rec.sets == [("pivot", "edge")]


def test_stamps_out_of_slop_make_no_set_and_count_drops() -> None:
    sync, rec = make(slop_ns=5 * MS)
    sync.add(0, 100 * MS, "pivot")
    sync.add(1, 110 * MS, "late")
    assert rec.sets == []
    # The depth stream has moved past 100 + slop, so the pivot can never be completed.
    assert sync.dropped_sets == 1
    assert sync.dropped_messages == [1, 0]
    sync.add(0, 200 * MS, "pivot2")
    assert rec.sets == []
    # Nothing at or after 200 - slop can pair with the 110 ms message any more.
    assert sync.dropped_messages == [1, 1]


def test_older_pivots_are_dropped_when_a_newer_set_is_emitted() -> None:
    sync, rec = make(n_inputs=3, slop_ns=5 * MS)
    sync.add(0, 100 * MS, "p100")
    sync.add(0, 133 * MS, "p133")
    sync.add(1, 133 * MS, "a133")
    sync.add(2, 134 * MS, "b134")
    assert rec.sets == [("p133", "a133", "b134")]
    assert sync.dropped_sets == 1
    assert sync.dropped_messages == [1, 0, 0]


def test_queue_overflow_counts_dropped_messages_and_sets() -> None:
    sync, rec = make(queue_size=3)
    for k in range(5):
        sync.add(0, k * MS * 33, k)
    assert rec.sets == []
    assert sync.dropped_sets == 2
    assert sync.dropped_messages == [2, 0]
    for k in range(5):
        sync.add(1, 1000 * MS + k * MS * 100, k)
    # Input 1 overflowed twice too (its stamps are far in the future of every pivot).
    assert sync.dropped_messages[1] == 2


def test_out_of_order_message_is_refused_and_counted_per_input() -> None:
    sync, rec = make()
    sync.add(1, 100 * MS, "new")
    sync.add(1, 90 * MS, "old")
    assert sync.out_of_order == [0, 1]
    sync.add(0, 90 * MS, "pivot90")
    assert rec.sets == []  # the refused 90 ms message was never queued
    sync.add(0, 100 * MS, "pivot100")
    assert rec.sets == [("pivot100", "new")]


def test_out_of_order_is_judged_against_messages_already_used() -> None:
    sync, rec = make()
    sync.add(0, 100 * MS, "p")
    sync.add(1, 100 * MS, "d")
    assert len(rec.sets) == 1
    sync.add(0, 50 * MS, "stale")
    assert sync.out_of_order == [1, 0]


def test_equal_stamps_on_one_input_are_not_out_of_order() -> None:
    sync, _ = make()
    sync.add(1, 100 * MS, "a")
    sync.add(1, 100 * MS, "b")
    assert sync.out_of_order == [0, 0]


def test_reset_forgets_queues_stamps_and_counters() -> None:
    sync, rec = make()
    sync.add(1, 100 * MS, "d")
    sync.add(1, 50 * MS, "old")
    sync.reset()
    assert sync.out_of_order == [0, 0]
    sync.add(1, 10 * MS, "after-jump")
    sync.add(0, 10 * MS, "p")
    assert rec.sets == [("p", "after-jump")]
    assert sync.dropped_messages == [0, 0]


def test_non_zero_pivot_builds_sets_around_that_input() -> None:
    sync, rec = make(n_inputs=2, slop_ns=5 * MS, pivot=1)
    sync.add(0, 98 * MS, "rgb98")
    sync.add(0, 101 * MS, "rgb101")
    sync.add(1, 100 * MS, "mask100")
    assert rec.sets == [("rgb101", "mask100")]


def test_single_input_emits_every_message() -> None:
    sync, rec = make(n_inputs=1)
    sync.add(0, 1, "a")
    sync.add(0, 2, "b")
    assert rec.sets == [("a",), ("b",)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_inputs": 0}, "n_inputs must be >= 1, got 0"),
        ({"queue_size": 0}, "queue_size must be >= 1, got 0"),
        ({"slop_ns": -1}, "slop_ns must be >= 0, got -1"),
        ({"pivot": 2}, r"pivot must be in \[0, 1\] \(n_inputs=2\), got 2"),
        ({"pivot": -1}, "pivot must be in .* got -1"),
    ],
)
def test_constructor_refuses_bad_arguments_naming_them(kwargs: dict[str, int], match: str) -> None:
    args = {"n_inputs": 2, "queue_size": 10, "slop_ns": 0, "pivot": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        ApproximateTimeSync(args["n_inputs"], args["queue_size"], args["slop_ns"], Recorder(), pivot=args["pivot"])


def test_add_refuses_unknown_input_index() -> None:
    sync, _ = make()
    with pytest.raises(IndexError, match=r"\[0, 1\], got 2"):
        sync.add(2, 0, "x")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jittered_three_inputs_make_one_set_per_pivot_stamp_within_slop(seed: int) -> None:
    rnd = random.Random(seed)
    period, jitter, slop = 50 * MS, 12 * MS, 8 * MS
    frames = 200
    stamps = [[k * period + rnd.randint(-jitter, jitter) for k in range(frames)] for _ in range(3)]
    expected = [k for k in range(frames) if all(abs(stamps[i][k] - stamps[0][k]) <= slop for i in (1, 2))]
    assert 0 < len(expected) < frames  # the draw exercises both outcomes

    # Interleave the inputs randomly, each in its own stamp order, as separate topics arrive.
    arrivals: list[tuple[int, int, tuple[int, int]]] = []
    cursors = [0, 0, 0]
    while any(c < frames for c in cursors):
        i = rnd.choice([j for j in range(3) if cursors[j] < frames])
        k = cursors[i]
        arrivals.append((i, stamps[i][k], (i, k)))
        cursors[i] += 1

    rec = Recorder()
    sync = ApproximateTimeSync(3, frames, slop, rec)
    for index, stamp, msg in arrivals:
        sync.add(index, stamp, msg)

    assert [s[0][1] for s in rec.sets] == expected
    for msgs in rec.sets:
        assert [m[0] for m in msgs] == [0, 1, 2]
        assert len({m[1] for m in msgs}) == 1, f"set mixes frames: {msgs}"
    # A pivot left waiting at the end of the stream is neither a set nor (yet) a drop.
    assert sync.dropped_sets + sync.queued[0] == frames - len(expected)
    assert sync.out_of_order == [0, 0, 0]
    # Every message is in exactly one set, counted as dropped, or still waiting.
    for index in range(3):
        assert len(rec.sets) + sync.dropped_messages[index] + sync.queued[index] == frames


def test_missing_blames_the_input_that_moved_past_not_the_one_still_on_its_way() -> None:
    sets: list[tuple[object, ...]] = []
    sync: ApproximateTimeSync[str] = ApproximateTimeSync(3, 5, 10, sets.append)
    for t in range(100, 1100, 100):
        sync.add(0, t, "depth")
        sync.add(1, t + 500, "mask")  # half a second late: every depth frame is hopeless
        sync.add(2, t, "info")  # on time, but arrives after the mask made the set impossible
    assert not sets
    assert sync.dropped_sets > 0
    assert sync.missing[1] == sync.dropped_sets
    assert sync.missing[2] == 0


def test_missing_blames_a_silent_input_when_the_queue_overflows() -> None:
    sync: ApproximateTimeSync[str] = ApproximateTimeSync(3, 3, 10, lambda _: None)
    for t in range(100, 1100, 100):
        sync.add(0, t, "depth")
        sync.add(2, t, "info")
    assert sync.dropped_sets == 7
    assert sync.missing == [0, 7, 0]


def test_half_rate_mask_pairs_with_its_own_depth_frame() -> None:
    # Camera at 30 Hz; segmentation keeps every second frame and publishes it 40 ms later.
    sets: list[tuple[object, ...]] = []
    sync: ApproximateTimeSync[int] = ApproximateTimeSync(2, 5, 50 * MS, sets.append)
    period = 33 * MS
    events = []
    for i in range(12):
        events.append((i * period, 0, i * period))
        if i % 2 == 0:
            events.append((i * period + 40 * MS, 1, i * period))
    for _, index, stamp in sorted(events):
        sync.add(index, stamp, stamp)
    assert len(sets) >= 5
    assert all(depth == mask for depth, mask in sets)

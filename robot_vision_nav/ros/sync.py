"""Approximate-time matching of several message streams by stamp (message_filters is not on PyPI).

It takes integer-ns stamps and opaque messages, so it is tested without ROS. It must never import
rclpy or read a clock: which sets come out depends only on the stamps and the order messages
arrive in, which keeps a bag replay repeatable.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

MsgT = TypeVar("MsgT")


class ApproximateTimeSync(Generic[MsgT]):
    """Groups one message per input whose stamps lie within `slop_ns` of a pivot input's message.

    A set is emitted for a pivot message as soon as every other input has a queued message within
    `slop_ns` of it; the closest is taken (the earlier on a tie). When several pivot messages can be
    completed, the oldest goes first. After a set, every message at or before the used stamp is
    removed from each queue. Messages that leave without being used are counted: on overflow,
    when older than an emitted set, or when they can no longer be part of any set (stamps only
    move forward per input, so e.g. a pivot whose partner input has moved past it by more than
    `slop_ns` without a match is discarded at once).

    Attributes:
        n_inputs: Number of inputs; `add` takes indices 0..n_inputs-1.
        queue_size: Messages kept per input.
        slop_ns: Largest allowed |stamp - pivot stamp|, in ns.
        pivot: Index of the input each set is built around.

    """

    def __init__(
        self,
        n_inputs: int,
        queue_size: int,
        slop_ns: int,
        callback: Callable[[tuple[MsgT, ...]], None],
        pivot: int = 0,
    ) -> None:
        if n_inputs < 1:
            raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if slop_ns < 0:
            raise ValueError(f"slop_ns must be >= 0, got {slop_ns}")
        if not 0 <= pivot < n_inputs:
            raise ValueError(f"pivot must be in [0, {n_inputs - 1}] (n_inputs={n_inputs}), got {pivot}")
        self.n_inputs = n_inputs
        self.queue_size = queue_size
        self.slop_ns = slop_ns
        self.pivot = pivot
        self._callback = callback
        self.reset()

    def reset(self) -> None:
        """Forget all queued messages, stamp history and counters, as just after construction.

        Call it when time jumps backwards (a bag loops, a simulator restarts), or every new message
        would be refused as out of order.
        """
        self._queues: list[deque[tuple[int, MsgT]]] = [deque() for _ in range(self.n_inputs)]
        # Newest stamp ever accepted per input, kept after the message is used: stamps only move
        # forward, which is what lets hopeless messages be discarded early.
        self._newest_ns: list[int | None] = [None] * self.n_inputs
        self._dropped_sets = 0
        self._dropped_messages = [0] * self.n_inputs
        self._out_of_order = [0] * self.n_inputs
        self._missing = [0] * self.n_inputs
        self._emitted_sets = 0

    @property
    def dropped_sets(self) -> int:
        """Pivot messages discarded without a set (each was one potential set)."""
        return self._dropped_sets

    @property
    def dropped_messages(self) -> list[int]:
        """Per input, messages discarded without being used (a copy; pivot drops included)."""
        return list(self._dropped_messages)

    @property
    def out_of_order(self) -> list[int]:
        """Per input, messages refused because their stamp was older than one already accepted."""
        return list(self._out_of_order)

    @property
    def missing(self) -> list[int]:
        """Per input, dropped pivot messages for which it had no message within slop: the culprit."""
        return list(self._missing)

    @property
    def queued(self) -> list[int]:
        """Per input, messages waiting for a set now."""
        return [len(queue) for queue in self._queues]

    @property
    def emitted_sets(self) -> int:
        """Sets passed to the callback so far."""
        return self._emitted_sets

    def add(self, index: int, stamp_ns: int, msg: MsgT) -> None:
        """Queue one message and emit every set that has become complete.

        Args:
            index: Input the message belongs to, 0..n_inputs-1.
            stamp_ns: Its header stamp, in ns.
            msg: The message, passed to the callback untouched.

        Raises:
            IndexError: `index` is not an input of this synchroniser.

        """
        if not 0 <= index < self.n_inputs:
            raise IndexError(f"input index must be in [0, {self.n_inputs - 1}], got {index}")
        newest = self._newest_ns[index]
        if newest is not None and stamp_ns < newest:
            self._out_of_order[index] += 1
            return
        self._newest_ns[index] = stamp_ns
        queue = self._queues[index]
        if len(queue) >= self.queue_size:
            self._count_drop(index, queue.popleft()[0], overflow=True)
        queue.append((stamp_ns, msg))
        self._process()

    def _count_drop(self, index: int, stamp_ns: int, overflow: bool = False) -> None:
        self._dropped_messages[index] += 1
        if index != self.pivot:
            return
        self._dropped_sets += 1
        # Blame the inputs that made the set impossible: on overflow, those still silent or lagging
        # behind it; otherwise those that moved past it without a match. An input whose message
        # for this stamp simply has not arrived yet is not blamed.
        for other in range(self.n_inputs):
            if other == self.pivot or self._closest(other, stamp_ns) is not None:
                continue
            newest = self._newest_ns[other]
            if overflow:
                culprit = newest is None or newest < stamp_ns - self.slop_ns
            else:
                culprit = newest is not None and newest > stamp_ns + self.slop_ns
            if culprit:
                self._missing[other] += 1

    def _closest(self, index: int, stamp_ns: int) -> int | None:
        """Position in queue `index` of the message closest to `stamp_ns` within slop, if any."""
        best: int | None = None
        best_gap = self.slop_ns + 1
        for pos, (stamp, _) in enumerate(self._queues[index]):
            gap = abs(stamp - stamp_ns)
            if gap < best_gap:
                best, best_gap = pos, gap
            elif stamp > stamp_ns:
                break  # queues are sorted, so gaps only grow from here
        return best

    def _picks(self, pivot_pos: int) -> list[int] | None:
        """Queue positions of the set around the pivot message at `pivot_pos`, if it is complete."""
        pivot_ns = self._queues[self.pivot][pivot_pos][0]
        picks: list[int] = []
        for index in range(self.n_inputs):
            pos = pivot_pos if index == self.pivot else self._closest(index, pivot_ns)
            if pos is None:
                return None
            picks.append(pos)
        return picks

    def _steals(self, pivot_pos: int, picks: list[int]) -> bool:
        """Whether a later, completable pivot is closer to one of these partner messages.

        A slower input (segmentation at half the camera rate) would otherwise pair each depth
        frame with the next frame's mask and drop the depth frame that mask was made from.
        """
        pivot_queue = self._queues[self.pivot]
        pivot_ns = pivot_queue[pivot_pos][0]
        for later in range(pivot_pos + 1, len(pivot_queue)):
            later_ns = pivot_queue[later][0]
            if self._picks(later) is None:
                continue
            for index, pos in enumerate(picks):
                if index == self.pivot:
                    continue
                partner_ns = self._queues[index][pos][0]
                if abs(later_ns - partner_ns) < abs(pivot_ns - partner_ns):
                    return True
        return False

    def _process(self) -> None:
        pivot_queue = self._queues[self.pivot]
        while True:
            self._discard_hopeless()
            for pivot_pos in range(len(pivot_queue)):
                picks = self._picks(pivot_pos)
                if picks is not None and not self._steals(pivot_pos, picks):
                    self._emit(picks)
                    break
            else:
                return

    def _emit(self, picks: list[int]) -> None:
        chosen: list[MsgT] = []
        for index, pos in enumerate(picks):
            queue = self._queues[index]
            for _ in range(pos):
                self._count_drop(index, queue.popleft()[0])
            chosen.append(queue.popleft()[1])
        self._emitted_sets += 1
        self._callback(tuple(chosen))

    def _discard_hopeless(self) -> None:
        """Drop queued messages that no present or future message could complete into a set."""
        pivot_queue = self._queues[self.pivot]
        # A pivot with no partner within slop can still be completed only by a later partner
        # message, and those will be no older than the newest seen on that input.
        while pivot_queue:
            pivot_ns = pivot_queue[0][0]
            hopeless = any(
                index != self.pivot
                and (newest := self._newest_ns[index]) is not None
                and newest > pivot_ns + self.slop_ns
                and self._closest(index, pivot_ns) is None
                for index in range(self.n_inputs)
            )
            if not hopeless:
                break
            self._count_drop(self.pivot, pivot_queue.popleft()[0])
        # Every pivot still to be matched is no older than this, so partners older than
        # it minus slop can never be used.
        floor_ns = pivot_queue[0][0] if pivot_queue else self._newest_ns[self.pivot]
        if floor_ns is None:
            return
        for index in range(self.n_inputs):
            if index == self.pivot:
                continue
            queue = self._queues[index]
            while queue and queue[0][0] < floor_ns - self.slop_ns:
                self._count_drop(index, queue.popleft()[0])

"""Lock-step without an executor: the ready callbacks of a fixed list of nodes, round by round.

`rvn replay` settles the stack after every bag message: run whatever is ready, then whatever that
made ready, until nothing is. rclpy's SingleThreadedExecutor does one such round per
`wait_for_ready_callbacks(0)`, and each builds its wait set from scratch (enters every handle,
filters callback groups, makes a Task and a future per callback): about 1 ms per round with the
five stack nodes, three rounds or more per message, which made the replay executor-bound.

`DirectLockStep` keeps two rcl wait sets and per round does what that executor's round does, in
the same order, with the entities' own handles:

1. clear and refill the round's wait set with every subscription, timer and guard condition
   (the set is made again only when their number changes) and wait on it with a zero timeout:
   the snapshot of what is ready;
2. node by node, in the order given: timers that are ready (checked again when their turn comes,
   as rclpy does), subscriptions (one message each, taken when its turn comes), guard conditions.

Services, clients and waitables (parameter and lifecycle services, QoS event handlers, action
servers) are the outside world's way in (`ros2 param`, `ros2 lifecycle`), not part of the data
flow: they are served at the start of a settle, on their own wait set, at most every
HOUSEKEEPING_PERIOD_S of wall time, instead of in every round. Their ~180 entities cost 0.6 ms per
look; nothing in a replay's data flow uses them, and a request from outside is answered within
that period (what it changes lands between two bag messages, as it would under the executor).

A round in which nothing ran ends the settle. The outputs are therefore the executor's message
for message (`test_replay_lockstep` replays with both and compares the output bags byte for byte).
It needs a single thread and callbacks that finish when called (no coroutine that awaits a future:
that would need the executor's tasks, and raises ReplayError here). Must only be imported where
rclpy is.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rclpy.context import Context
    from rclpy.node import Node
    from rclpy.timer import Timer


HOUSEKEEPING_PERIOD_S = 0.05  # wall time between two looks at services, clients and waitables


class LockStepError(RuntimeError):
    """A callback the direct lock-step cannot run (an async callback that awaits), or a feedback loop."""


def run_to_end(result: Any, what: str) -> None:
    """Finish a callback's result: nothing for a plain function, one step for a coroutine that does not await."""
    if not inspect.iscoroutine(result):
        return
    try:
        result.send(None)
    except StopIteration:
        return
    result.close()
    raise LockStepError(f"{what}: an async callback awaited something; the direct lock-step runs callbacks to the end")


class DirectLockStep:
    """Settle `nodes` (in this order) round by round on reused wait sets; see the module docstring."""

    def __init__(self, context: Context, nodes: Sequence[Node], max_callbacks: int) -> None:
        self._context = context
        self._nodes = list(nodes)
        self._max = max_callbacks
        self._flow = _WaitSet(context)  # subscriptions, timers, guard conditions: every round
        self._house = _WaitSet(context)  # services, clients, waitables: at most every HOUSEKEEPING_PERIOD_S
        self._housekept = -float("inf")

    def settle(self, what: str) -> int:
        """Serve services, clients and waitables (when due), then run rounds until one runs nothing.

        Returns how many callbacks ran.

        Raises:
            LockStepError: more than `max_callbacks` callbacks (a feedback loop), or a callback
                that cannot run to its end here. A callback's own exception propagates.

        """
        ran = 0
        now = time.monotonic()
        if now - self._housekept >= HOUSEKEEPING_PERIOD_S:
            self._housekept = now
            ran = self._housekeeping(what)
        while True:
            batch = self._round(what)
            if batch == 0:
                return ran
            ran += batch
            if ran > self._max:
                raise LockStepError(f"{what}: more than {self._max} callbacks without settling")

    def _round(self, what: str) -> int:
        nodes = self._nodes
        subs = [s for n in nodes for s in n.subscriptions]
        guards = [g for n in nodes for g in n.guards]
        timers = [t for n in nodes for t in n.timers]
        if not (subs or guards or timers):
            return 0  # rcl refuses to wait on an empty set
        wait_set = self._flow.filled(subs, guards, timers, (), (), ())
        wait_set.wait(0)
        subs_ready = set(wait_set.get_ready_entities("subscription"))
        guards_ready = set(wait_set.get_ready_entities("guard_condition"))
        timers_ready = set(wait_set.get_ready_entities("timer"))
        ran = 0
        for node in nodes:
            for timer in node.timers:
                # rclpy checks a timer again when its turn comes (rcl reports cancelled timers ready).
                if timer.handle.pointer in timers_ready and timer.handle.is_timer_ready():
                    ran += _call_timer(timer, f"{what}: a timer of {node.get_name()}")
            for sub in node.subscriptions:
                if sub.handle.pointer in subs_ready:
                    taken = sub.handle.take_message(sub.msg_type, sub.raw)
                    if taken is not None:
                        args = taken if _wants_message_info(sub) else (taken[0],)
                        run_to_end(sub.callback(*args), f"{what}: {node.get_name()} on {sub.topic_name}")
                    ran += 1
            for guard in node.guards:
                if guard.handle.pointer in guards_ready and guard.callback is not None:
                    run_to_end(guard.callback(), f"{what}: a guard condition of {node.get_name()}")
                    ran += 1
        return ran

    def _housekeeping(self, what: str) -> int:
        nodes = self._nodes
        clients = [c for n in nodes for c in n.clients]
        services = [s for n in nodes for s in n.services]
        waitables = [w for n in nodes for w in n.waitables]
        if not (clients or services or waitables):
            return 0
        wait_set = self._house.filled((), (), (), clients, services, waitables)
        wait_set.wait(0)
        clients_ready = set(wait_set.get_ready_entities("client"))
        services_ready = set(wait_set.get_ready_entities("service"))
        ran = 0
        for node in nodes:
            for waitable in node.waitables:
                if waitable.is_ready(wait_set):
                    run_to_end(waitable.execute(waitable.take_data()), f"{what}: a waitable of {node.get_name()}")
                    ran += 1
        for node in nodes:
            for client in node.clients:
                if client.handle.pointer in clients_ready:
                    header, response = client.handle.take_response(client.srv_type.Response)
                    if header is not None:
                        try:
                            future = client.get_pending_request(header.request_id.sequence_number)
                        except KeyError:
                            pass  # the request was cancelled
                        else:
                            future.set_result(response)
                    ran += 1
            for service in node.services:
                if service.handle.pointer in services_ready:
                    request, header = service.handle.service_take_request(service.srv_type.Request)
                    if header is not None:
                        response = service.callback(request, service.srv_type.Response())
                        if inspect.iscoroutine(response):
                            raise LockStepError(f"{what}: an async service callback of {node.get_name()}")
                        service.send_response(response, header)
                    ran += 1
        return ran


class _WaitSet:
    """One rcl wait set, made again only when the number of entities changes, refilled before each wait."""

    def __init__(self, context: Context) -> None:
        self._context = context
        self._wait_set: Any = None
        self._sizes: tuple[int, ...] = ()

    def filled(
        self,
        subs: Sequence[Any],
        guards: Sequence[Any],
        timers: Sequence[Any],
        clients: Sequence[Any],
        services: Sequence[Any],
        waitables: Sequence[Any],
    ) -> Any:
        from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

        counts = [w.get_num_entities() for w in waitables]
        sizes = (
            len(subs) + sum(c.num_subscriptions for c in counts),
            len(guards) + sum(c.num_guard_conditions for c in counts),
            len(timers) + sum(c.num_timers for c in counts),
            len(clients) + sum(c.num_clients for c in counts),
            len(services) + sum(c.num_services for c in counts),
            sum(c.num_events for c in counts),
        )
        if self._wait_set is None or sizes != self._sizes:
            handle = self._context.handle
            if handle is None:
                raise LockStepError("the rclpy context is not initialised")
            with handle:
                self._wait_set = _rclpy.WaitSet(*sizes, handle)
            self._sizes = sizes
        wait_set = self._wait_set
        wait_set.clear_entities()
        for sub in subs:
            wait_set.add_subscription(sub.handle)
        for guard in guards:
            wait_set.add_guard_condition(guard.handle)
        for timer in timers:
            wait_set.add_timer(timer.handle)
        for client in clients:
            wait_set.add_client(client.handle)
        for service in services:
            wait_set.add_service(service.handle)
        for waitable in waitables:
            waitable.add_to_wait_set(wait_set)
        return wait_set


def _call_timer(timer: Timer, what: str) -> int:
    from rclpy.timer import TimerInfo

    handle = timer.handle
    callback = cast("Callable[..., Any] | None", timer.callback)
    name = _info_parameter(callback, TimerInfo)  # looked up per call, as rclpy does
    if name is None:
        handle.call_timer()
        if callback is not None:
            run_to_end(callback(), what)
        return 1
    info = handle.call_timer_with_info()
    timer_info = TimerInfo(
        expected_call_time=info["expected_call_time"],
        actual_call_time=info["actual_call_time"],
        clock_type=timer.clock.clock_type,
    )
    if callback is not None:
        run_to_end(callback(**{name: timer_info}), what)
    return 1


def _info_parameter(callback: Callable[..., Any] | None, info_type: type) -> str | None:
    """The name of `callback`'s parameter annotated with `info_type` (rclpy's rule for TimerInfo), or None."""
    if callback is None:
        return None
    for parameter in inspect.signature(callback).parameters.values():
        if parameter.annotation == info_type:
            return parameter.name
    return None


def _wants_message_info(sub: Any) -> bool:
    """Whether a subscription's callback takes (message, MessageInfo) (rclpy >= Jazzy), not the message alone."""
    from rclpy.subscription import Subscription

    kinds = getattr(Subscription, "CallbackType", None)
    return kinds is not None and getattr(sub, "_callback_type", None) is kinds.WithMessageInfo

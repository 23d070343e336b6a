"""Managed (lifecycle) nodes: the states that `ros2 lifecycle` and Nav2's lifecycle_manager drive.

Every node of the stack is a `ManagedNode`, an rclpy LifecycleNode with one rule for what each
state means, so that a node written against it only says what it makes and what it does on the
way down:

- constructor: parameters are declared (a bad value refuses the node, as before);
- configure (`configure()`): reads the parameters and makes everything else: the model, the
  publishers, the subscriptions, the timers. A failure returns to unconfigured with the error
  logged (a lifecycle manager then reports it);
- activate: publishers publish; subscription and timer callbacks run;
- deactivate (`deactivate()`, called while the publishers still publish): a node that commands
  the wheels sends zero; then publishers drop what is published and callbacks return at once, so an
  inactive node neither computes nor publishes;
- cleanup (`cleanup()`): releases what configure made (a model's GPU memory); every publisher,
  subscription, timer, service and client made since configure began is destroyed;
- shutdown, from any state: deactivate and cleanup as needed. Destroying an active node (the
  process ends) deactivates it first, so the wheels get their zero.

With `autostart` (a stack-wide parameter, default true) the constructor configures and activates
the node, so `ros2 launch`, `rvn run` and the demo behave as plain nodes do, and a failed
configure raises from the constructor (the node's `main` exits with one error line). With
`autostart: false` the node waits unconfigured for Nav2's lifecycle_manager (or
`ros2 lifecycle set <node> configure`).

The gate on callbacks: every subscription and timer the node's own code makes (in configure, or
in a parameter change wrapped in `when_configured`) runs its callback only while active. What rclpy
and tf2_ros make for the node (the /clock subscription of use_sim_time, a TF listener made on the
first lookup) is not gated, and what must listen in every state (the e-stop) is made inside
`with node.ungated():`.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, Unpack

from lifecycle_msgs.msg import State
from rclpy.client import Client
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.service import Service
from rclpy.subscription import Subscription
from rclpy.timer import Timer

from robot_vision_nav.core.config import ConfigError, param
from robot_vision_nav.ros.params import ConfigCallback, ConfigParameters

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
    from rclpy.lifecycle.node import LifecycleNodeArgs
    from rclpy.qos import QoSProfile
    from rclpy.subscription import MessageInfo
    from rclpy.type_support import MsgT

P = ParamSpec("P")

__all__ = ["ManagedNode", "TransitionCallbackReturn", "autostart_param", "destroy_lifecycle_node", "ungated"]


def autostart_param() -> bool:
    """`autostart`: a managed node configures and activates itself at start (default) or waits."""
    field: bool = param(  # a dataclass field typed as its default, as dataclasses.field is
        True,
        "true: the node configures and activates itself at start (ros2 launch, rvn run, the demo); false: it "
        "waits unconfigured for Nav2's lifecycle_manager or `ros2 lifecycle set <node> configure`, then activate",
    )
    return field


def destroy_lifecycle_node(node: LifecycleNode) -> None:
    """Destroy an rclpy LifecycleNode now, not at the next garbage collection.

    rclpy's LifecycleNode.destroy_node leaves its state machine alive, and the state machine holds
    the rcl node: the node stays in the graph (and keeps its /rosout publisher) until the Python
    object is collected. A node of the same name made before that loses its log lines on /rosout
    once the old one goes (rcl shares one rosout publisher per logger name).
    """
    Node.destroy_node(node)
    node._state_machine.destroy_when_not_in_use()


@contextlib.contextmanager
def ungated(node: Node) -> Iterator[None]:
    """Callbacks of subscriptions and timers made inside run in every state (any node; a no-op for plain nodes)."""
    enter = getattr(node, "ungated", None)
    if enter is None:
        yield
        return
    with enter():
        yield


class ManagedNode(LifecycleNode):
    """A lifecycle node with the stack's meaning of each state (see the module docstring).

    A subclass declares its parameters in its constructor, then calls `self.start(autostart)` last;
    it implements `configure()` and, where it has something to do there, `deactivate()`,
    `activate()` and `cleanup()`. Parameter-change callbacks that touch what configure makes are
    wrapped in `self.when_configured(...)`: while unconfigured, configure reads the new values.
    """

    def __init__(self, node_name: str, **node_kwargs: Unpack[LifecycleNodeArgs]) -> None:
        self._managing = False  # Node.__init__ makes its own publisher: a plain one
        self._gating = 0  # > 0 while the node's own code makes entities: configure, a parameter change
        self._ungated_depth = 0
        super().__init__(node_name, **node_kwargs)
        self._managing = True
        self._configured = False
        self._active = False
        self._autostarting = False
        self._before_configure: set[int] = set()
        self.configure_error: Exception | None = None

    # ------------------------------------------------------------------ what a subclass says
    def configure(self) -> None:
        """Read the parameters and make the model, publishers, subscriptions and timers.

        Every node says what it makes: there is no sensible default, so a subclass without one fails
        its configure (rclpy's lifecycle then reports the transition as failed).
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement configure()")

    def activate(self) -> None:
        """Called once the publishers publish."""

    def deactivate(self) -> None:
        """Called while the publishers still publish (send zero here)."""

    def cleanup(self) -> None:
        """Release what configure made beyond ROS entities (those are destroyed after this)."""

    # ------------------------------------------------------------------ state
    @property
    def lifecycle_state(self) -> str:
        """The state's label: unconfigured, inactive, active, finalized (or a transition's)."""
        return str(self._state_machine.current_state[1])

    def start(self, autostart: bool) -> None:
        """End of a subclass's constructor: configure and activate now with `autostart`, else wait.

        Raises:
            Exception: what configure raised (with autostart), after destroying the node.

        """
        if not autostart:
            self.get_logger().info(
                "autostart is false: unconfigured, waiting for a lifecycle manager "
                f"(`ros2 lifecycle set {self.get_fully_qualified_name()} configure`, then activate)"
            )
            return
        self._autostarting = True
        try:
            self.trigger_configure()
        finally:
            self._autostarting = False
        if self.configure_error is not None:
            error = self.configure_error
            self.destroy_node()
            raise error
        self.trigger_activate()

    def declare_config(
        self,
        classes: Sequence[type[DataclassInstance]],
        on_change: ConfigCallback,
        check: ConfigCallback | None = None,
        read_at_configure: Sequence[str] = (),
    ) -> ConfigParameters:
        """Declare the parameters of the config dataclasses `classes` (ros/params.py).

        `on_change` and `check` run only while configured (configure reads the values otherwise).
        A change of a `read_at_configure` parameter is refused while configured, with how to make
        it: clean the node up, set it, configure again.

        Raises:
            ParameterError: a refused value; the node is destroyed first, so a refused start
                leaves no half-made node in the graph.

        """
        params: ConfigParameters | None = None

        def checked(cls: type[DataclassInstance], config: DataclassInstance) -> None:
            assert params is not None  # checks run only once the node is configured
            old = params.get(cls)
            for name in read_at_configure:
                if hasattr(config, name) and getattr(old, name) != getattr(config, name):
                    raise ConfigError(
                        f"parameter '{name}' is read at configure: deactivate and clean the node up, set it to "
                        f"{getattr(config, name)!r}, then configure and activate (ros2 lifecycle set <node> ...)"
                    )
            if check is not None:
                check(cls, config)

        try:
            params = ConfigParameters(
                self,
                classes,
                on_change=self.when_configured(on_change),
                check=self.when_configured(checked) if check is not None or read_at_configure else None,
            )
        except BaseException:
            self.destroy_node()
            raise
        return params

    def when_configured(self, callback: Callable[P, None]) -> Callable[P, None]:
        """`callback`, called only while configured (inactive or active); else nothing happens."""

        def call(*args: P.args, **kwargs: P.kwargs) -> None:
            if not self._configured:
                return
            self._gating += 1
            try:
                callback(*args, **kwargs)
            finally:
                self._gating -= 1

        return call

    @contextlib.contextmanager
    def ungated(self) -> Iterator[None]:
        """Subscriptions and timers made inside run their callbacks in every state."""
        self._ungated_depth += 1
        try:
            yield
        finally:
            self._ungated_depth -= 1

    # ------------------------------------------------------------------ transitions
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Run `configure()`; on failure remove what it made and go back to unconfigured."""
        self._before_configure = {id(e) for e in self._entities()}
        self.configure_error = None
        self._gating += 1
        try:
            self.configure()
        except Exception as err:
            self.configure_error = err
            if not self._autostarting:  # with autostart the constructor raises it, and main reports it
                self.get_logger().error(f"configure failed: {err}")
            self._destroy_made()
            return TransitionCallbackReturn.FAILURE
        finally:
            self._gating -= 1
        self._configured = True
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Let the publishers publish and the callbacks run, then `activate()`."""
        result = super().on_activate(state)
        self._active = True
        self.activate()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """`deactivate()` while publishing still works, then stop publishing and the callbacks."""
        self._go_inactive()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """`cleanup()`, then destroy every entity made since configure began."""
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """From any state: deactivate and clean up as needed."""
        if self._active:
            self._go_inactive()
            super().on_deactivate(state)
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """A transition raised: stop as shutdown does and go back to unconfigured."""
        self.get_logger().error(f"a lifecycle transition from '{state.label}' failed; back to unconfigured")
        return self.on_shutdown(state)

    def destroy_node(self) -> None:
        """An active node is deactivated first (the wheels get zero), then destroyed."""
        if getattr(self, "_active", False):
            try:
                self._go_inactive()
            except Exception as err:  # going away regardless; the context may be gone already
                self.get_logger().debug(f"deactivating before destroy failed: {err}")
        destroy_lifecycle_node(self)

    def _go_inactive(self) -> None:
        try:
            self.deactivate()
        finally:
            self._active = False

    def _release(self) -> None:
        if self._configured:
            try:
                self.cleanup()
            finally:
                self._configured = False
                self._destroy_made()

    # ------------------------------------------------------------------ entities
    def _entities(self) -> list[object]:  # only told apart by id() and isinstance
        return [*self.publishers, *self.subscriptions, *self.timers, *self.services, *self.clients]

    def _destroy_made(self) -> None:
        for entity in reversed(self._entities()):
            if id(entity) in self._before_configure:
                continue
            if isinstance(entity, Publisher):
                self.destroy_publisher(entity)
            elif isinstance(entity, Subscription):
                self.destroy_subscription(entity)
            elif isinstance(entity, Timer):
                self.destroy_timer(entity)
            elif isinstance(entity, Service):
                self.destroy_service(entity)
            elif isinstance(entity, Client):
                self.destroy_client(entity)

    def create_publisher(
        self,
        msg_type: type[MsgT],
        topic: str,
        qos_profile: QoSProfile | int,
        **kwargs: Any,  # Any: rclpy's options, passed on as given (they vary by ROS release)
    ) -> Publisher[MsgT]:
        """A lifecycle publisher: it publishes only while the node is active."""
        if not getattr(self, "_managing", False):
            return super().create_publisher(msg_type, topic, qos_profile, **kwargs)
        publisher = self.create_lifecycle_publisher(msg_type, topic, qos_profile, **kwargs)
        if self._active:
            publisher.on_activate(LifecycleState(state_id=State.PRIMARY_STATE_ACTIVE, label="active"))
        return publisher

    def destroy_publisher(self, publisher: Publisher[Any]) -> bool:  # Any: any message type, as rclpy's
        """Destroy a publisher, lifecycle or not (a lifecycle one leaves the managed entities too)."""
        getattr(self, "_managed_entities", set()).discard(publisher)
        return super().destroy_publisher(publisher)

    def create_subscription(
        self,
        msg_type: type[MsgT],
        topic: str,
        callback: Callable[..., None],
        *args: Any,  # Any: rclpy's options, passed on as given (they vary by ROS release)
        **kwargs: Any,  # Any: as *args
    ) -> Subscription[MsgT]:
        """A subscription; one the node's own code makes (configure, a parameter change) runs only while active."""
        if self._gating and not self._ungated_depth:
            callback = self._gate_subscription(callback)
        return super().create_subscription(msg_type, topic, callback, *args, **kwargs)

    def create_timer(
        self,
        timer_period_sec: float,
        callback: Callable[..., None] | None,
        *args: Any,  # Any: rclpy's options, passed on as given (they vary by ROS release)
        **kwargs: Any,  # Any: as *args
    ) -> Timer:
        """A timer; one the node's own code makes (configure, a parameter change) runs only while active."""
        if self._gating and not self._ungated_depth and callback is not None:
            inner = callback

            def callback() -> None:
                if self._active:
                    inner()

        return super().create_timer(timer_period_sec, callback, *args, **kwargs)

    def _gate_subscription(self, callback: Callable[..., None]) -> Callable[..., None]:
        # rclpy passes MessageInfo to a callback that takes two arguments: keep the arity.
        try:
            inspect.signature(callback).bind(object(), object())
        except TypeError:

            def gated(msg: object) -> None:
                if self._active:
                    callback(msg)

            return gated

        def gated_with_info(msg: object, info: MessageInfo) -> None:
            if self._active:
                callback(msg, info)

        return gated_with_info

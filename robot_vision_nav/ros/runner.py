"""Run the node list of `ros.bringup` without `ros2 launch`: in this process, or one process per node.

In-process: every node is constructed with `cli_args=spec.ros_args()` (the arguments launch would
give it) in one rclpy context and spun by one executor. Per process: each node runs as
`python -m <node module> --ros-args ...` with discovery on loopback and the Fast DDS shared-memory
profile (config/fastdds_shm.xml: with the default transport, best-effort 640x480 images between
processes are lost). Either way Ctrl-C (SIGINT) or SIGTERM stops every node, the controller's last
message being a zero velocity command from the safety layer (in one process it is destroyed last,
after the controller; as processes it is stopped first and alone, while the base still listens), and a node that refuses
to start stops the others: a stack with a missing part must never drive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import IO, TypedDict, Unpack

import rclpy
import rclpy.logging
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.impl.logging_severity import LoggingSeverity
from rclpy.node import Node

from robot_vision_nav.package_files import package_file
from robot_vision_nav.ros.bringup import NodeSpec
from robot_vision_nav.ros.security import NetworkOptions

EXECUTORS = ("events", "single", "multi")
# In one process these go last, in this order: the safety layer's zero is the last command the base gets.
LAST_TO_STOP = {"controller_node": 1, "safety_node": 2}
STOP_GRACE_S = 10.0  # how long a node process gets to stop after SIGINT before SIGTERM, then SIGKILL


def ros_environment(env: dict[str, str] | None = None, network: NetworkOptions | None = None) -> dict[str, str]:
    """`env` (default os.environ) with `network`'s domain, discovery and SROS2 variables (`ros.security`).

    Discovery stays on loopback and the shared-memory profile is selected unless `network` or `env`
    says otherwise: an unset or empty ROS_AUTOMATIC_DISCOVERY_RANGE (rcl's SUBNET) becomes LOCALHOST.
    """
    out = dict(os.environ if env is None else env)
    out.update((network or NetworkOptions()).environment(out))
    if "FASTDDS_DEFAULT_PROFILES_FILE" not in out:
        out["FASTDDS_DEFAULT_PROFILES_FILE"] = str(package_file("config", "fastdds_shm.xml"))
    return out


def apply_ros_environment(network: NetworkOptions | None = None) -> None:
    """Set `network`'s variables (else loopback discovery) and the shared-memory profile here, before rclpy.init."""
    os.environ.update(ros_environment(network=network))


def make_node(spec: NodeSpec, context: Context) -> Node:
    """Construct the node of `spec` in `context` with the arguments launch would give it."""
    node: Node = spec.kind.node_class()(context=context, cli_args=spec.ros_args(), use_global_arguments=False)
    node.get_logger().set_level(getattr(LoggingSeverity, spec.log_level.upper()))
    return node


def make_executor(kind: str, context: Context, nodes: int = 2) -> Executor:
    """An executor: `events`, `single` (SingleThreadedExecutor) or `multi` (MultiThreadedExecutor).

    `events` is rclpy's C++ EventsExecutor: it does not rebuild a Python wait set per callback. With
    six nodes' timers, subscriptions and QoS event handlers the Python executors spend ~2.4 ms in
    `_wait_for_ready_callbacks` per wait (cProfile of `rvn demo`: 44 s of 63 s there); the
    EventsExecutor runs the same demo scene 8 s of sim time in 5.5 s of wall time on 2 cores.
    """
    if kind == "events":
        from rclpy.experimental.events_executor import EventsExecutor

        # It calls faulthandler.enable(), which needs sys.stderr to be a real file; under a test
        # runner's or a GUI's captured stderr that raises. The process's own stderr always is one.
        stderr, sys.stderr = sys.stderr, sys.__stderr__
        try:
            return EventsExecutor(context=context)
        finally:
            sys.stderr = stderr
    if kind == "single":
        return SingleThreadedExecutor(context=context)
    if kind == "multi":
        return MultiThreadedExecutor(num_threads=max(2, nodes), context=context)
    raise ValueError(f"executor {kind!r} is not one of {', '.join(EXECUTORS)}")


class InProcessStack:
    """The nodes of `specs` in one context and one executor; close() stops them (controller last).

    Raises:
        ParameterError (from the node): a node refused its parameters; the nodes already made are
            destroyed before it propagates.

    """

    def __init__(self, specs: Sequence[NodeSpec], context: Context, executor: str = "events") -> None:
        if executor not in EXECUTORS:
            raise ValueError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
        self.context = context
        self.nodes: dict[str, Node] = {}
        # Logger levels are process-wide in rcutils and keyed by name: a stack run at log level
        # error (rvn replay) would silence the next node of the same name in this process.
        self._levels = {spec.logger_name: rclpy.logging.get_logger_level(spec.logger_name) for spec in specs}
        try:
            for spec in specs:
                self.nodes[spec.name] = make_node(spec, context)
        except BaseException:
            self.close()
            raise
        self.executor: Executor = make_executor(executor, context, len(self.nodes))
        for node in self.nodes.values():
            self.executor.add_node(node)

    def close(self) -> None:
        """Destroy every node; the controller and then the safety layer last, so the base's final zero goes out last."""
        ordered = sorted(self.nodes.items(), key=lambda item: LAST_TO_STOP.get(item[0], 0))
        for _name, node in ordered:
            try:
                node.destroy_node()
            except Exception as err:  # one node failing to go away must not keep the controller running
                node.get_logger().error(f"destroy failed: {err}")
        self.nodes.clear()
        for name, level in self._levels.items():
            rclpy.logging.set_logger_level(name, level)
        executor = getattr(self, "executor", None)
        if executor is not None:
            executor.shutdown(timeout_sec=1.0)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt inside the block (what `ros2 launch` and systemd send)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_in_process(specs: Sequence[NodeSpec], executor: str = "events", network: NetworkOptions | None = None) -> int:
    """Spin the stack in this process until Ctrl-C; 0 on a clean stop, 1 when a node refused to start."""
    from robot_vision_nav.ros.params import ParameterError

    apply_ros_environment(network)  # rcl reads domain, discovery and SROS2 settings at rclpy.init
    context = Context()
    rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    stack: InProcessStack | None = None
    try:
        with sigterm_as_interrupt():
            try:
                stack = InProcessStack(specs, context, executor)
            except ParameterError as err:
                print(f"rvn run: refusing to start: {err}", file=sys.stderr)
                return 1
            print(f"rvn run: {', '.join(stack.nodes)} running in one process ({executor}-threaded); Ctrl-C stops")
            # spin_once in a Python loop, not spin(): the EventsExecutor's spin() runs in C++ and
            # neither lets Ctrl-C through nor, with the simulator's zero-period timer, anything else.
            # While spinning, Ctrl-C and SIGTERM only set a flag the loop polls (as ros/entry.py's
            # run_node does): a KeyboardInterrupt raised inside the executor's call into a callback
            # comes out as pybind11's RuntimeError, and the stack would end with a traceback.
            stop = threading.Event()
            previous = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in STOP_SIGNALS}
            try:
                while not stop.is_set() and context.ok():
                    stack.executor.spin_once(timeout_sec=0.1)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if stack is not None:
            stack.close()
        rclpy.try_shutdown(context=context)
    return 0


class ProcessStreams(TypedDict, total=False):
    """Where a node process's output goes (subprocess.Popen's arguments of the same names)."""

    stdout: int | IO[bytes] | IO[str] | None
    stderr: int | IO[bytes] | IO[str] | None


def node_command(spec: NodeSpec) -> list[str]:
    """The command line that runs one node in its own process."""
    return [sys.executable, "-m", spec.kind.module, *spec.ros_args()]


def start_processes(
    specs: Sequence[NodeSpec],
    env: dict[str, str] | None = None,
    network: NetworkOptions | None = None,
    **popen: Unpack[ProcessStreams],
) -> list[subprocess.Popen[bytes]]:
    """Start one process per node (`network`'s domain and discovery, else loopback; shared-memory transport)."""
    environment = ros_environment(env, network)
    return [
        # Own session: a terminal's Ctrl-C reaches only `rvn run`, which then stops the nodes in order.
        subprocess.Popen(
            node_command(spec), env=environment, preexec_fn=_die_with_parent, start_new_session=True, **popen
        )
        for spec in specs
    ]


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies, so a killed `rvn run` leaves no node behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def stop_processes(procs: Sequence[subprocess.Popen[bytes]], grace_s: float = STOP_GRACE_S) -> list[int]:
    """Stop the processes one at a time, last first (the safety layer), each with SIGINT, then SIGTERM, SIGKILL.

    The node that commands the base (safety_node, the last of the stack) goes first and alone, while
    everything that listens to cmd_vel (the base driver, the simulator) is still up to acknowledge its
    final zero command: a reader that has just died keeps Fast DDS waiting for its acknowledgement, and
    the zero could be lost with the process.
    """
    for proc in reversed(procs):  # the stack starts with sensors and ends with the safety layer
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            proc.send_signal(sig)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                continue
    return [proc.wait() for proc in procs]


def run_processes(specs: Sequence[NodeSpec], network: NetworkOptions | None = None) -> int:
    """Run one process per node (in `network`'s domain) until Ctrl-C or until one of them ends; the worst exit code."""
    procs: list[subprocess.Popen[bytes]] = []
    code = 0
    try:
        with sigterm_as_interrupt():
            procs = start_processes(specs, network=network)
            print(f"rvn run: {len(procs)} node processes ({', '.join(s.name for s in specs)}); Ctrl-C stops")
            while True:
                ended = [(spec, proc) for spec, proc in zip(specs, procs, strict=True) if proc.poll() is not None]
                if ended:
                    spec, proc = ended[0]
                    code = proc.returncode or 1
                    print(
                        f"rvn run: {spec.name} exited with code {proc.returncode}; stopping the others", file=sys.stderr
                    )
                    break
                time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        with _ignore_interrupts():
            stop_processes(procs)
    return code


@contextmanager
def _ignore_interrupts() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

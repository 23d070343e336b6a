"""Security basics (issue 10, item 6): ROS_DOMAIN_ID, discovery range, static peers and the SROS2
keystore as launch arguments of every launch file and options of `rvn run`, set in the nodes'
environment before they start; and no node of the stack opens a network port of its own.

The launch files run against test_bringup's stand-in `launch` / `launch_ros` modules (launch_ros
is not installed here). Socket checks read /proc (Linux).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from robot_vision_nav import cli
from robot_vision_nav.ros import runner
from robot_vision_nav.ros.bringup import BringupError, BringupOptions, stack_nodes
from robot_vision_nav.ros.security import (
    DEFAULT_ENCLAVE,
    DISCOVERY_RANGES,
    SECURITY_LAUNCH_ARGUMENTS,
    NetworkError,
    NetworkOptions,
    launch_environment,
    options_from_launch_values,
)
from test.test_bringup import load_launch_file
from test.test_replay_launch import stand_in_replay_launch

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILES = ("bringup.launch.py", "sim.launch.py", "replay.launch.py", "perception.launch.py")
SECURITY_VARS = (
    "ROS_DOMAIN_ID",
    "ROS_AUTOMATIC_DISCOVERY_RANGE",
    "ROS_STATIC_PEERS",
    "ROS_SECURITY_KEYSTORE",
    "ROS_SECURITY_ENABLE",
    "ROS_SECURITY_STRATEGY",
    "ROS_SECURITY_ENCLAVE_OVERRIDE",
)


def other_domain() -> int:
    """A domain ID in 1..100 other than this test run's (conftest gives each run its own)."""
    return (int(os.environ["ROS_DOMAIN_ID"]) + 37) % 100 + 1


def make_keystore(root: Path, enclave: str = DEFAULT_ENCLAVE) -> Path:
    """The folder layout `ros2 security create_keystore` + `create_enclave` leave (no keys: not started here)."""
    (root / "enclaves" / enclave.strip("/")).mkdir(parents=True)
    return root


# ------------------------------------------------------------------ NetworkOptions
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"domain_id": 233}, r"ros_domain_id 233 is outside 0\.\.232 \(0\.\.101 is safe on Linux"),
        ({"domain_id": -2}, r"ros_domain_id -2 is outside 0\.\.232"),
        ({"discovery_range": "WIDE"}, r"discovery_range 'WIDE' is not one of LOCALHOST, SUBNET, SYSTEM_DEFAULT, OFF"),
        ({"static_peers": "10.0.0.2;bad host"}, r"static_peers: 'bad host' is not a host name or address"),
        ({"strategy": "enforce"}, r"security_strategy 'enforce' is not one of Enforce, Permissive"),
        ({"enclave": "robot"}, r"enclave 'robot' is not an absolute ROS name"),
        ({"enclave": "/9lives"}, r"enclave '/9lives' is not an absolute ROS name"),
    ],
)
def test_bad_values_are_refused_naming_the_option_the_value_and_the_range(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(NetworkError, match=message):
        NetworkOptions(**kwargs)
    assert issubclass(NetworkError, BringupError)  # the launch files and rvn run report it as a bring-up error


def test_keystore_must_be_an_sros2_keystore_holding_the_enclave(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match=f"keystore {tmp_path / 'none'} is not a folder.*create_keystore"):
        NetworkOptions(keystore=str(tmp_path / "none"))
    (tmp_path / "plain").mkdir()
    with pytest.raises(NetworkError, match=f"keystore {tmp_path / 'plain'} has no enclaves/ folder"):
        NetworkOptions(keystore=str(tmp_path / "plain"))
    keystore = make_keystore(tmp_path / "keys", "/other")
    with pytest.raises(
        NetworkError, match=f"no enclave /robot_vision_nav.*create_enclave {keystore} /robot_vision_nav"
    ):
        NetworkOptions(keystore=str(keystore))
    assert NetworkOptions(keystore=str(keystore), enclave="/other").keystore == str(keystore)


def test_environment_sets_only_what_is_asked_and_never_leaves_discovery_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Unset or empty, rcl's range is SUBNET; Kilted ignores ROS_LOCALHOST_ONLY, so it counts as unset.
    for base in ({}, {"ROS_AUTOMATIC_DISCOVERY_RANGE": ""}, {"ROS_LOCALHOST_ONLY": "1"}):
        assert NetworkOptions().environment(base) == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    # What the environment says explicitly (docker/compose.yaml's SUBNET) is kept unless an option names one.
    assert NetworkOptions().environment({"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET", "ROS_DOMAIN_ID": "3"}) == {}
    assert NetworkOptions(discovery_range="off").environment({"ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}) == {
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "OFF"
    }
    monkeypatch.chdir(tmp_path)
    make_keystore(tmp_path / "keys")
    options = NetworkOptions(
        domain_id=7, discovery_range="subnet", static_peers=" robot.local; ;10.0.0.0/24 ", keystore="keys"
    )
    assert options.environment({}) == {
        "ROS_DOMAIN_ID": "7",
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
        "ROS_STATIC_PEERS": "robot.local;10.0.0.0/24",
        "ROS_SECURITY_KEYSTORE": str(tmp_path / "keys"),  # absolute: every process resolves it alike
        "ROS_SECURITY_ENABLE": "true",
        "ROS_SECURITY_STRATEGY": "Enforce",
        "ROS_SECURITY_ENCLAVE_OVERRIDE": "/robot_vision_nav",
    }
    # No keystore: the environment's ROS_SECURITY_* stay (no default turns security off).
    assert not set(NetworkOptions().environment({"ROS_SECURITY_ENABLE": "true"})) & set(SECURITY_VARS[3:])


def test_notes_warn_of_a_domain_above_101_and_of_open_discovery_without_sros2(tmp_path: Path) -> None:
    assert NetworkOptions(domain_id=101).notes({}) == []
    (note,) = NetworkOptions(domain_id=150).notes({})
    assert "ROS_DOMAIN_ID 150 is above 101" in note
    (note,) = NetworkOptions(discovery_range="SUBNET").notes({})
    assert "SUBNET without SROS2" in note
    keystore = make_keystore(tmp_path / "keys")
    assert NetworkOptions(discovery_range="SUBNET", keystore=str(keystore)).notes({}) == []


# ------------------------------------------------------------------ launch files
def test_launch_values_become_options_and_bad_ones_are_refused_by_name() -> None:
    assert [name for name, _, _ in SECURITY_LAUNCH_ARGUMENTS] == [
        "ros_domain_id",
        "discovery_range",
        "static_peers",
        "keystore",
        "enclave",
        "security_strategy",
    ]
    assert all(description.strip() for _, _, description in SECURITY_LAUNCH_ARGUMENTS)
    defaults = {name: default for name, default, _ in SECURITY_LAUNCH_ARGUMENTS}
    assert options_from_launch_values({}) == options_from_launch_values(defaults) == NetworkOptions()
    assert options_from_launch_values({"ros_domain_id": "7", "discovery_range": "subnet"}) == NetworkOptions(
        domain_id=7, discovery_range="SUBNET"
    )
    with pytest.raises(NetworkError, match=r"launch argument ros_domain_id:='seven' is not an integer in 0\.\.232"):
        options_from_launch_values({"ros_domain_id": "seven"})
    with pytest.raises(NetworkError, match=r"ros_domain_id 300 is outside 0\.\.232"):
        options_from_launch_values({"ros_domain_id": "300"})
    assert launch_environment({"ros_domain_id": "7"}, base={}) == [
        ("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
        ("ROS_DOMAIN_ID", "7"),
    ]


def run_launch_file(name: str, kinds: dict[str, Any], values: dict[str, str], bag: Path) -> tuple[list[Any], list[Any]]:
    """The declared arguments and the actions of launch file `name` for `values` (over the defaults)."""
    description = load_launch_file(name).generate_launch_description()
    (entities,) = description.args
    declared = [e for e in entities if isinstance(e, kinds["Declare"])]
    (opaque,) = [e for e in entities if isinstance(e, kinds["Opaque"])]
    resolved = {d.args[0]: d.kwargs.get("default_value", "") for d in declared} | {"device": "cpu", "bag": str(bag)}
    return declared, opaque.kwargs["function"](types.SimpleNamespace(launch_configurations=resolved | values))


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_every_launch_file_declares_the_arguments_and_gives_the_environment_to_its_own_processes_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    kinds: dict[str, Any] = stand_in_replay_launch(monkeypatch)
    keystore = make_keystore(tmp_path / "keys")
    bag = tmp_path / "run1"
    bag.mkdir()
    values = {
        "ros_domain_id": "7",
        "discovery_range": "LOCALHOST",
        "static_peers": "192.168.1.20",
        "keystore": str(keystore),
        "security_strategy": "Permissive",
    }
    declared, actions = run_launch_file(name, kinds, values, bag)
    described = {d.args[0]: (d.kwargs.get("default_value"), d.kwargs["description"]) for d in declared}
    for arg, default, description in SECURITY_LAUNCH_ARGUMENTS:
        assert described[arg] == (default, description), f"{name} does not declare {arg}"
    # No launch-wide SetEnvironmentVariable: a file that includes ours would pass it on to every
    # process it starts afterwards. Each of our processes gets the variables as its additional_env.
    assert not [a for a in actions if isinstance(a, kinds["SetEnvironmentVariable"])]
    processes = [a for a in actions if isinstance(a, kinds["Node"] | kinds["ExecuteProcess"])]
    assert len(processes) >= (2 if name == "perception.launch.py" else 5)  # the stack (and ros2 bag)
    for process in processes:
        assert process.kwargs["additional_env"] == {
            "ROS_DOMAIN_ID": "7",
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
            "ROS_STATIC_PEERS": "192.168.1.20",
            "ROS_SECURITY_KEYSTORE": str(keystore),
            "ROS_SECURITY_ENABLE": "true",
            "ROS_SECURITY_STRATEGY": "Permissive",
            "ROS_SECURITY_ENCLAVE_OVERRIDE": "/robot_vision_nav",
        }, process.kwargs.get("name")
    # The defaults keep the environment's domain and never leave discovery unset.
    monkeypatch.delenv("ROS_AUTOMATIC_DISCOVERY_RANGE")
    _, actions = run_launch_file(name, kinds, {}, bag)
    processes = [a for a in actions if isinstance(a, kinds["Node"] | kinds["ExecuteProcess"])]
    assert all(p.kwargs["additional_env"] == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"} for p in processes)
    # A bad value stops the launch before any action is returned.
    with pytest.raises(NetworkError, match=f"keystore {tmp_path} has no enclaves/ folder"):
        run_launch_file(name, kinds, {"keystore": str(tmp_path)}, bag)


# ------------------------------------------------------------------ rvn run
def test_rvn_run_gives_its_network_options_to_either_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[str, Any]] = []

    def record(mode: str) -> Any:
        def run(*args: Any) -> int:  # (specs, [executor,] network), as rvn run calls them
            calls.append((mode, args[-1]))
            return 0

        return run

    monkeypatch.setattr(runner, "run_processes", record("processes"))
    monkeypatch.setattr(runner, "run_in_process", record("in-process"))
    keystore = make_keystore(tmp_path / "keys", "/fleet/robot1")
    flags = ["--domain-id", "9", "--discovery-range", "subnet", "--keystore", str(keystore)]
    flags += ["--enclave", "/fleet/robot1"]
    assert cli.main(["run", "--device", "cpu", *flags]) == 0
    assert cli.main(["run", "--device", "cpu", "--processes", "--domain-id", "9"]) == 0
    expected = NetworkOptions(domain_id=9, discovery_range="SUBNET", keystore=str(keystore), enclave="/fleet/robot1")
    assert calls == [("in-process", expected), ("processes", NetworkOptions(domain_id=9))]
    assert cli.main(["run"]) == 0 and calls[-1] == ("in-process", NetworkOptions())  # the environment's, LOCALHOST


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--domain-id", "300"], "argument --domain-id: must be in 0..232"),
        (["--discovery-range", "WIDE"], "discovery_range 'WIDE' is not one of LOCALHOST, SUBNET, SYSTEM_DEFAULT, OFF"),
        (["--keystore", "/nonexistent/keys"], "keystore /nonexistent/keys is not a folder"),
    ],
)
def test_rvn_run_refuses_bad_network_options_in_one_line(
    capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    assert cli.main(["run", *flags]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_rvn_run_help_names_every_discovery_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert all(scope in text for scope in DISCOVERY_RANGES)
    assert "ROS_LOCALHOST_ONLY" in text


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().partition("=")[::2] for item in raw.split(b"\0") if item)


def children_of(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:  # it has ended
        return []


@pytest.mark.ros
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_rvn_run_processes_start_every_node_in_the_domain_asked(tmp_path: Path) -> None:
    domain = other_domain()
    env = runner.ros_environment()
    env.pop("ROS_AUTOMATIC_DISCOVERY_RANGE")  # rvn run must put LOCALHOST back itself
    command = [sys.executable, "-m", "robot_vision_nav.cli", "run", "--processes", "--device", "cpu"]
    proc = subprocess.Popen(
        [*command, "--domain-id", str(domain)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60.0  # rvn run imports torch first (seconds; more on a busy machine)
        children: list[int] = []
        while len(children) < len(stack_nodes(BringupOptions())) and time.monotonic() < deadline:
            time.sleep(0.05)
            children = children_of(proc.pid)
            assert proc.poll() is None, proc.communicate()[0][-2000:]
        assert len(children) == len(stack_nodes(BringupOptions())), children
        for child in children:
            environ = environ_of(child)
            assert environ["ROS_DOMAIN_ID"] == str(domain), child
            assert environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST", child
    finally:
        proc.send_signal(signal.SIGINT)  # rvn run stops its node processes (still importing: they end at once)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.communicate()[0][-2000:]


@pytest.mark.ros
def test_in_process_mode_gives_rclpy_the_domain_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    import rclpy
    from rclpy.context import Context

    domain = other_domain()
    for name in SECURITY_VARS:  # restored after the test: apply_ros_environment writes os.environ
        monkeypatch.delenv(name, raising=False)
    runner.apply_ros_environment(NetworkOptions(domain_id=domain))  # what run_in_process does before rclpy.init
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    context = Context()
    rclpy.init(context=context)
    try:
        assert context.get_domain_id() == domain
    finally:
        rclpy.try_shutdown(context=context)


# ------------------------------------------------------------------ no network port of a node's own
NET_TABLES = ("tcp", "tcp6", "udp", "udp6")
TCP_LISTEN = "0A"


def own_inet_sockets() -> dict[int, tuple[str, str, str]]:
    """inode -> (table, local address:port in hex, state) of every TCP/UDP socket this process holds."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    sockets = {}
    for table in NET_TABLES:
        path = Path("/proc/self/net") / table
        if not path.exists():  # no IPv6 in this kernel
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            inode = int(fields[9])
            if inode in inodes:
                sockets[inode] = (table, fields[1], fields[3])
    return sockets


@pytest.mark.ros
@pytest.mark.skipif(not Path("/proc/self/net/udp").exists(), reason="reads /proc/self/net (Linux)")
def test_no_node_of_the_stack_opens_a_network_port_of_its_own(ros_context: Any) -> None:
    from rclpy.node import Node

    # The DDS participant (rcl opens one per context) holds the only sockets; a bare node makes it.
    bare = Node("socket_baseline", context=ros_context)
    before = own_inet_sockets()
    specs = stack_nodes(BringupOptions(sim=True, device="cpu"))  # whatever nodes the stack has
    stack = None
    try:
        stack = runner.InProcessStack(specs, ros_context, "single")
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            stack.executor.spin_once(timeout_sec=0.05)
        after = own_inet_sockets()
    finally:
        if stack is not None:
            stack.close()
        bare.destroy_node()
    listening = {i: s for i, s in after.items() if s[0].startswith("tcp") and s[2] == TCP_LISTEN}
    assert not listening, f"TCP sockets listening: {listening}"
    new = {i: s for i, s in after.items() if i not in before}
    assert not new, f"sockets opened by {', '.join(spec.name for spec in specs)}: {new}"
    assert all(table.startswith("udp") for table, _, _ in after.values())  # DDS discovery and traffic only

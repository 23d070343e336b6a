"""`rvn replay --suite --ray`: a suite on a local Ray instance started by the test, loopback only."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from robot_vision_nav.cli import main
from robot_vision_nav.replay.suite_report import without_timings
from test.test_replay_suite_run import (
    REGRESSION,
    TWO_BAGS,
    command_line,
    failing,
    killing_the_reader_of,
    open_paths,
    processes,
    suite_file,
)

pytestmark = pytest.mark.ros

BAGS = Path(__file__).resolve().parent / "data" / "bags"
RAY, RVN = Path(sys.executable).parent / "ray", Path(sys.executable).parent / "rvn"
# 127.0.0.1, ::1 and ::ffff:127.0.0.1 as /proc/net/tcp{,6} write them
LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}


def listening() -> set[tuple[str, str]]:
    """(address, port) of every listening TCP socket on this machine (hex, as /proc/net/tcp has them)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                address, port = fields[1].split(":")
                out.add((address, port))
    return out


def _watch_listeners(before: set[tuple[str, str]], stop: threading.Event, seen: set[tuple[str, str]]) -> None:
    while not stop.is_set():
        seen.update(listening() - before)
        time.sleep(0.1)


def test_a_suite_on_a_local_ray_instance_reports_as_it_does_serially_and_listens_on_loopback_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = suite_file(tmp_path, REGRESSION)
    assert main(["replay", "--suite", str(suite), "--report", str(tmp_path / "serial")]) == 1
    capsys.readouterr()
    before = listening()
    stop, seen = threading.Event(), set[tuple[str, str]]()
    watcher = threading.Thread(target=_watch_listeners, args=(before, stop, seen))
    watcher.start()
    try:
        status = main(["replay", "--suite", str(suite), "--report", str(tmp_path / "ray"), "--ray", "--json"])
    finally:
        stop.set()
        watcher.join()
    out = json.loads(capsys.readouterr().out)
    assert status == 1 and [b["status"] for b in out["bags"]] == ["passed", "failed"]
    assert without_timings(tmp_path / "ray") == without_timings(tmp_path / "serial")
    assert failing(tmp_path / "ray") == failing(tmp_path / "serial")
    timings = (tmp_path / "ray" / "summary.md").read_text().split("## Timings")[1]
    assert "a local Ray instance" in timings and timings.count("| ray ") == 2
    assert seen, "Ray listened on nothing new: was it started at all?"
    assert {address for address, _ in seen} <= LOOPBACK, f"listening beyond loopback: {seen - before}"


def test_an_unreachable_ray_cluster_is_bad_input_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = suite_file(tmp_path, f"bags: [{{bag: {BAGS / 'sim_db3'}, golden: {BAGS / 'sim_db3.golden.json'}}}]")
    started = time.monotonic()
    assert main(["replay", "--suite", str(suite), "--report", str(tmp_path / "r"), "--ray", "127.0.0.1:9"]) == 2
    assert "--ray: cannot connect to the Ray cluster at 127.0.0.1:9" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and time.monotonic() - started < 120
    assert os.environ.get("RAY_ADDRESS") is None


@pytest.mark.slow  # a second Ray instance: make test-all
def test_a_ray_worker_killed_mid_bag_fails_that_bag_and_keeps_the_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = suite_file(tmp_path, TWO_BAGS)
    with killing_the_reader_of(str(BAGS / "sim_compressed"), children_only=False) as killed:  # a Ray worker
        status = main(["replay", "--suite", str(suite), "--report", str(tmp_path / "r"), "--ray", "--json"])
    assert killed, "no Ray worker was seen reading the bag"
    bags = json.loads(capsys.readouterr().out)["bags"]
    assert status == 1 and [b["status"] for b in bags] == ["error", "passed"]
    assert bags[0]["message"] == "the Ray worker replaying it died before it finished"
    assert failing(tmp_path / "r") == [("sim_compressed", "replay", "error")]


def head_processes(temp: str) -> set[int]:
    """The processes of the Ray head started with `--temp-dir temp`: those naming it, and their descendants.

    Only this head's, so neither another Ray on the machine nor a developer's own cluster is touched
    (`ray stop` would stop them all). Workers rename themselves (ray::...), so they count as descendants.
    """
    table = list(processes())
    found = {pid for pid, _, _, entry in table if temp.encode() in command_line(entry)}
    while children := {pid for pid, parent, _, _ in table if parent in found} - found:
        found |= children
    return found


def kill_head(temp: str) -> None:
    """SIGKILL this head's processes (a head node that crashes), until none is left."""
    for _ in range(50):
        pids = head_processes(temp)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


def _kill_the_head_at_the_second_bag(markers: list[str], temp: str, stop: threading.Event, seen: list[str]) -> None:
    """Wait until a second of `markers` (bag paths) is open in some process, then kill the head."""
    while not stop.is_set():
        for _, _, _, entry in processes():
            targets = open_paths(entry)
            seen.extend(m for m in markers if m not in seen and any(m in t for t in targets))
        if len(seen) == 2:
            kill_head(temp)
            return
        time.sleep(0.05)


@pytest.mark.slow  # a Ray head of its own and a driver process: make test-all
def test_a_ray_cluster_that_goes_away_mid_suite_fails_the_unfinished_bag_and_keeps_the_other(
    tmp_path: Path,
) -> None:
    """A head started like a real one (`ray start --head`, one CPU: bags one at a time), killed while the
    second bag runs; rvn runs as its own process, as in CI, connecting by address with the cluster's token
    (given in the environment, so nothing is written to ~/.ray)."""
    suite = suite_file(tmp_path, TWO_BAGS)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": "rvn-test-" + os.urandom(16).hex()}  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    before = listening()
    temp = tempfile.mkdtemp(prefix="rvn-ray-")  # short: Ray's socket paths must fit 107 bytes
    head = [str(RAY), "start", "--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard", "false",
            "--disable-usage-stats", "--temp-dir", temp]  # fmt: skip
    stop, seen = threading.Event(), list[str]()
    markers = [str(BAGS / "sim_compressed"), str(BAGS / "sim_db3")]
    watcher = threading.Thread(target=_kill_the_head_at_the_second_bag, args=(markers, temp, stop, seen))
    try:
        started = subprocess.run(head, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        assert {address for address, _ in listening() - before} <= LOOPBACK
        watcher.start()
        run = subprocess.run(
            [str(RVN), "replay", "--suite", str(suite), "--report", str(tmp_path / "r"), "--ray", f"127.0.0.1:{port}",
             "--json"], env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()
        kill_head(temp)
        shutil.rmtree(temp, ignore_errors=True)
    assert len(seen) == 2, f"the bags were not both seen open: {seen}; {run.stderr[-2000:]}"
    first, second = (Path(m).name for m in seen)
    assert run.returncode == 1, run.stderr[-2000:]
    bags = {b["name"]: b for b in json.loads(run.stdout)["bags"]}
    assert (bags[first]["status"], bags[second]["status"]) == ("passed", "error")
    assert bags[second]["message"].startswith("Ray: NodeDiedError"), bags[second]["message"]
    assert failing(tmp_path / "r") == [(second, "replay", "error")]
    assert [p.name for p in (tmp_path / "r" / "summaries").iterdir()] == [f"{first}.json"]

"""`rvn replay --suite --ray`: a suite on a local Ray instance started by the test, loopback only."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from robot_vision_nav.cli import main
from robot_vision_nav.replay.suite_report import without_timings
from test.test_replay_suite_run import REGRESSION, TWO_BAGS, failing, killing_the_reader_of, suite_file

pytestmark = pytest.mark.ros

BAGS = Path(__file__).resolve().parent / "data" / "bags"
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
    stop, seen = threading.Event(), set()
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

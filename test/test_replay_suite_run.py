"""`rvn replay --suite`: committed bags through the real stack, serially and in worker processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from robot_vision_nav.cli import main
from robot_vision_nav.replay.suite_report import without_timings

pytestmark = pytest.mark.ros

BAGS = Path(__file__).resolve().parent / "data" / "bags"


def suite_file(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.yaml"
    path.write_text(text.replace("BAGS", str(BAGS)))
    return path


def failing(report: Path) -> list[tuple[str, str, str]]:
    """(bag, test case, failure or error) of every JUnit test case that did not pass."""
    suite = ET.parse(report / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    out = []
    for case in suite.iter("testcase"):
        for kind in ("failure", "error"):
            if case.find(kind) is not None:
                out.append((str(case.get("classname")).split(".", 1)[1], str(case.get("name")), kind))
    return out


REGRESSION = """
suite: deliberate
bags:
  - bag: BAGS/sim_db3
    golden: BAGS/sim_db3.golden.json
  - name: sim_db3-inflated
    bag: BAGS/sim_db3
    golden: BAGS/sim_db3.golden.json
    set: {costmap_node.inflation_radius_m: 1.0}
"""


def test_a_deliberate_regression_is_caught_on_its_bag_alike_serially_and_in_two_workers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = suite_file(tmp_path, REGRESSION)
    assert main(["replay", "--suite", str(suite), "--report", str(tmp_path / "serial"), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["verdict"] == "FAILED" and [b["status"] for b in result["bags"]] == ["passed", "failed"]
    caught = failing(tmp_path / "serial")
    # The inflated bag's costmap, and the plan drawn on it; its masks (upstream) and the other bag pass.
    assert {bag for bag, _, _ in caught} == {"sim_db3-inflated"} and (
        "sim_db3-inflated",
        "costmap",
        "failure",
    ) in caught
    assert ("sim_db3-inflated", "mask", "failure") not in caught
    # The two workers replay one bag at the same time, with the same topics: isolated, they answer as one.
    assert main(["replay", "--suite", str(suite), "--report", str(tmp_path / "two"), "--workers", "2"]) == 1
    assert without_timings(tmp_path / "two") == without_timings(tmp_path / "serial")
    timings = (tmp_path / "two" / "summary.md").read_text().split("## Timings")[1]
    assert "2 worker processes" in timings and timings.count("| process ") == 2
    serial_summaries = sorted((tmp_path / "serial" / "summaries").iterdir())
    assert [p.read_bytes() for p in serial_summaries] == [
        (tmp_path / "two" / "summaries" / p.name).read_bytes() for p in serial_summaries
    ]
    # A report is never overwritten.
    assert main(["replay", "--suite", str(suite), "--report", str(tmp_path / "two")]) == 2
    assert "already holds junit.xml; not overwritten" in capsys.readouterr().err


TWO_BAGS = """
bags:
  - bag: BAGS/sim_compressed
    golden: BAGS/sim_compressed.golden.json
  - bag: BAGS/sim_db3
    golden: BAGS/sim_db3.golden.json
"""


def processes() -> Iterator[tuple[int, int, str, Path]]:
    """(pid, parent pid, state, /proc entry) of every process; those that end while read are left out."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError, IndexError):
            continue
        yield int(entry.name), int(parent), state, entry


def open_paths(entry: Path) -> list[str]:
    """What the process of /proc `entry` has open (its fds' targets); none when it ended or is not ours to read."""
    try:
        return [os.readlink(fd) for fd in (entry / "fd").iterdir()]
    except OSError:
        return []


def command_line(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes()
    except OSError:
        return b""


def _kill_the_reader(
    marker: str, children_only: bool, how: signal.Signals, stop: threading.Event, killed: list[int]
) -> None:
    me = os.getpid()
    while not stop.is_set() and not killed:
        for pid, parent, _, entry in processes():
            if pid == me or (children_only and parent != me):
                continue
            if any(marker in t for t in open_paths(entry)):
                os.kill(pid, how)
                killed.append(pid)
                return
        time.sleep(0.02)


@contextmanager
def killing_the_reader_of(
    marker: str, *, children_only: bool, how: signal.Signals = signal.SIGKILL
) -> Iterator[list[int]]:
    """While the block runs, send `how` to the first process (a child of this one, or any other) holding `marker` open.

    A replay holds its bag open from before the stack starts to the last message: killed then, it
    dies mid-bag. Yields the list the killed pid is put in.
    """
    stop, killed = threading.Event(), list[int]()
    watcher = threading.Thread(target=_kill_the_reader, args=(marker, children_only, how, stop, killed))
    watcher.start()
    try:
        yield killed
    finally:
        stop.set()
        watcher.join()


def test_a_worker_killed_mid_bag_fails_that_bag_and_keeps_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = suite_file(tmp_path, TWO_BAGS)
    with killing_the_reader_of(str(BAGS / "sim_compressed"), children_only=True) as killed:
        status = main(["replay", "--suite", str(suite), "--report", str(tmp_path / "r"), "--workers", "2", "--json"])
    assert killed, "no worker was seen reading the bag"
    result = json.loads(capsys.readouterr().out)
    assert status == 1 and [b["status"] for b in result["bags"]] == ["error", "passed"]
    assert result["bags"][0]["message"] == "the worker replaying it died (signal 9) before it finished"
    assert failing(tmp_path / "r") == [("sim_compressed", "replay", "error")]
    assert [p.name for p in (tmp_path / "r" / "summaries").iterdir()] == ["sim_db3.json"]


def worker_pids() -> set[int]:
    """Spawned children of this process (replay workers) still alive or unreaped; not multiprocessing's tracker."""
    me = os.getpid()
    return {
        pid for pid, parent, state, entry in processes()
        if parent == me and (state == "Z" or b"spawn_main" in command_line(entry))
    }  # fmt: skip


def test_a_bag_past_its_timeout_is_stopped_and_is_that_bags_error_also_serially(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--bag-timeout with --workers 1 runs the bag in a worker process, which is stopped when overdue."""
    suite = suite_file(tmp_path, TWO_BAGS.split("  - bag: BAGS/sim_db3")[0])
    before = worker_pids()
    status = main(["replay", "--suite", str(suite), "--report", str(tmp_path / "r"), "--bag-timeout", "0.2", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert status == 1 and [b["status"] for b in result["bags"]] == ["error"]
    assert result["bags"][0]["message"] == "not finished within --bag-timeout 0.2 s; the worker was stopped"
    assert failing(tmp_path / "r") == [("sim_compressed", "replay", "error")]
    assert "serially in a worker process" in (tmp_path / "r" / "summary.md").read_text()
    assert not worker_pids() - before  # killed and reaped


@pytest.mark.slow
def test_a_hung_worker_is_stopped_by_the_bag_timeout_and_the_other_bag_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = suite_file(tmp_path, TWO_BAGS)
    args = ["replay", "--suite", str(suite), "--report", str(tmp_path / "r"), "--workers", "2", "--bag-timeout", "60"]
    with killing_the_reader_of(str(BAGS / "sim_compressed"), children_only=True, how=signal.SIGSTOP) as frozen:
        status = main([*args, "--json"])
    assert frozen, "no worker was seen reading the bag"
    result = json.loads(capsys.readouterr().out)
    assert status == 1 and [b["status"] for b in result["bags"]] == ["error", "passed"]
    assert result["bags"][0]["message"] == "not finished within --bag-timeout 60 s; the worker was stopped"
    assert failing(tmp_path / "r") == [("sim_compressed", "replay", "error")]
    assert not Path(f"/proc/{frozen[0]}").exists()  # killed and reaped, not left stopped


def test_bad_input_in_a_bag_or_its_golden_is_that_bags_error_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.mcap").write_bytes(b"not an mcap file at all")
    suite = suite_file(
        tmp_path,
        """
bags:
  - bag: broken.mcap
    golden: BAGS/sim_db3.golden.json
  - bag: BAGS/sim_db3
    golden: goldens/missing.json
  - name: fine
    bag: BAGS/sim_db3
    golden: BAGS/sim_db3.golden.json
""",
    )
    assert main(["replay", "--suite", str(suite), "--report", str(tmp_path / "r"), "--json"]) == 2
    bags = {b["name"]: b for b in json.loads(capsys.readouterr().out)["bags"]}
    assert [b["status"] for b in bags.values()] == ["error", "error", "passed"]
    assert "broken.mcap" in bags["broken"]["message"]
    assert bags["sim_db3"]["message"] == (
        f"golden {tmp_path / 'goldens' / 'missing.json'} does not exist: run with --update-goldens to write it"
    )
    junit = ET.parse(tmp_path / "r" / "junit.xml").getroot()
    assert [e.get("type") for e in junit.iter("error")] == ["bad input", "bad input"]
    # A CI matrix or Kubernetes Indexed Job runs its shard of the suite alone: bags K, K+N, ...
    assert main(["replay", "--suite", str(suite), "--report", str(tmp_path / "s2"), "--shard", "2/3", "--json"]) == 0
    assert [b["name"] for b in json.loads(capsys.readouterr().out)["bags"]] == ["fine"]
    assert main(["replay", "--suite", str(suite), "--shard", "3/3"]) == 2
    assert "argument --shard: expected K/N with 0 <= K < N" in capsys.readouterr().err
    # A suite that names a bag that is not there stops before anything runs, and writes nothing.
    (tmp_path / "bad").mkdir()
    bad = suite_file(tmp_path / "bad", "bags: [{bag: nowhere.mcap}]")
    assert main(["replay", "--suite", str(bad), "--report", str(tmp_path / "bad" / "r")]) == 2
    assert "bags[0]: bag: 'nowhere.mcap' does not exist" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "r").exists()
    assert main(["replay", str(BAGS / "sim_db3"), "--workers", "2"]) == 2
    assert "argument --workers: only with --suite" in capsys.readouterr().err


def test_update_goldens_writes_new_and_changed_goldens_and_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(BAGS / "sim_db3.golden.json", tmp_path / "db3.json")
    inflated = tmp_path / "inflated.json"
    shutil.copy(BAGS / "sim_db3.golden.json", inflated)
    suite = suite_file(
        tmp_path,
        """
bags:
  - name: same
    bag: BAGS/sim_db3
    golden: db3.json
  - name: inflated
    bag: BAGS/sim_db3
    golden: inflated.json
    set: {costmap_node.inflation_radius_m: 1.0}
  - name: fresh
    bag: BAGS/sim_db3
""",
    )
    before = (tmp_path / "db3.json").read_bytes()
    assert main(["replay", "--suite", str(suite), "--update-goldens", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["updated"]}
    assert rows["same"]["change"] == "unchanged" and (tmp_path / "db3.json").read_bytes() == before
    assert rows["inflated"]["change"] == "changed" and rows["inflated"]["message"].startswith(
        "beyond tolerance: costmap"
    )
    assert inflated.read_bytes() != before
    fresh = tmp_path / "goldens" / "cpu" / "fresh.json"
    assert rows["fresh"]["change"] == "new" and rows["fresh"]["golden"] == str(fresh) and fresh.read_bytes() == before
    assert "add it to the suite: goldens: {cpu: " in rows["fresh"]["message"]
    # The updated goldens pass.
    assert main(["replay", "--suite", str(suite), "--report", str(tmp_path / "r")]) == 2  # fresh: no golden declared
    assert failing(tmp_path / "r") == [("fresh", "replay", "error")]

"""Running a replay suite: each bag through the stack (in this process, in worker processes, or on Ray).

`run_case` replays one bag and compares it with the golden of the device class it ran on; it
never raises for a problem of that bag (it returns an ERROR result naming it), so one bad bag
cannot take the others' results with it. `run_suite` runs every case of a suite:

- serially in this process (`workers=1`): one rclpy context after the other;
- in `workers` processes at once: each bag in a fresh process (spawned, so no state, lock or
  thread is inherited), with DDS discovery off and a ROS domain of its own, so two workers
  replaying the same topics never hear each other. A worker that dies mid-bag (killed, out of
  memory, a crash in native code) is an ERROR for that bag; the others go on;
- on a Ray cluster (`replay.suite_ray`).

Results come back in suite order whatever order the bags finished in, so the report of a suite is
the same however it ran. Must never import ROS at module level (workers import it themselves).
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from robot_vision_nav.replay.compare import StreamResult, Summary, compare_summaries
from robot_vision_nav.replay.suite import BagCase, Suite

PASSED, FAILED, ERROR = "passed", "failed", "error"
WORKER_DOMAIN_BASE = 101  # worker slot i replays in ROS domain 101 + i % 100 (discovery is off anyway)


@dataclass
class CaseResult:
    """What happened to one bag of a suite (plain data: crosses process and Ray boundaries).

    Attributes:
        name: the bag's name in the suite.
        bag: the bag's path.
        status: PASSED, FAILED (a stream beyond tolerance) or ERROR (it could not be replayed or
            compared: `message` says why).
        bad_input: for an ERROR, whether the input was at fault (the bag, its golden, its
            parameters: exit code 2) rather than the run (a worker that died, a lost cluster).
        message: why it FAILED or hit an ERROR ("" when it PASSED).
        device_class: where its segmentation ran (the golden it was held to is that class's).
        golden: the golden file compared with (None: none was).
        streams: the per-stream comparison.
        summary: the replay's output summary (what `--update-goldens` writes).
        wall_s: the lock-step loop's wall time; bag_duration_s: the bag's duration.
        inputs: messages fed to the stack.
        out_bag: the output bag written, if any.
        worker: where it ran ("local", "process <pid>", "ray <node>").

    """

    name: str
    bag: str
    status: str
    bad_input: bool = False
    message: str = ""
    device_class: str = ""
    golden: str | None = None
    streams: list[StreamResult] = field(default_factory=list)
    summary: Summary | None = None
    wall_s: float = 0.0
    bag_duration_s: float = 0.0
    inputs: int = 0
    out_bag: str | None = None
    worker: str = "local"

    @property
    def realtime_factor(self) -> float:
        """Bag seconds per wall second of the replay (0 when it did not run)."""
        return self.bag_duration_s / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(frozen=True)
class RunSettings:
    """How each bag is replayed: the same for every bag of a run."""

    device: str = ""  # "" = the parameter file's (auto)
    lock_step: str = "direct"
    out_dir: Path | None = None  # output bags go to out_dir/<name>; None: not written
    compare: bool = True  # False for --update-goldens: replay and summarise only


def error(case: BagCase, message: str, *, bad_input: bool, worker: str = "local") -> CaseResult:
    """An ERROR result for `case`."""
    return CaseResult(name=case.name, bag=str(case.bag), status=ERROR, bad_input=bad_input, message=message,
                      worker=worker)  # fmt: skip


def run_case(case: BagCase, settings: RunSettings, worker: str = "local") -> CaseResult:
    """Replay `case` and hold it to its golden for the device class it ran on; never raises for the bag's problems."""
    from robot_vision_nav.replay.compare import CompareError
    from robot_vision_nav.replay.errors import BagError
    from robot_vision_nav.replay.replay import ReplayError, ReplayOptions, golden_summary, replay
    from robot_vision_nav.ros.bringup import BringupError
    from robot_vision_nav.ros.params import ParameterError

    out_bag = None if settings.out_dir is None else settings.out_dir / case.name
    try:
        result = replay(
            ReplayOptions(
                bag=case.bag, out_bag=out_bag, topics_map=case.topics_map, params_file=case.params_file,
                model=case.model, device=settings.device, extra_parameters=case.extra_parameters,
                lock_step=settings.lock_step,
            )
        )  # fmt: skip
    except (BagError, BringupError, ParameterError) as err:
        return error(case, str(err), bad_input=True, worker=worker)
    except ReplayError as err:
        return error(case, str(err), bad_input=False, worker=worker)
    except Exception as err:  # a bag's crash is that bag's ERROR, not the suite's end
        where = traceback.extract_tb(err.__traceback__)[-1]
        message = f"{type(err).__name__}: {err} (at {Path(where.filename).name}:{where.lineno})"
        return error(case, message, bad_input=False, worker=worker)
    done = CaseResult(
        name=case.name, bag=str(case.bag), status=PASSED, device_class=result.device_class,
        summary=result.summary, wall_s=result.wall_s, bag_duration_s=result.bag_duration_s,
        inputs=sum(result.inputs.values()), out_bag=result.out_bag, worker=worker,
    )  # fmt: skip
    if not settings.compare:
        return done
    golden = case.golden_for(result.device_class)
    if golden is None:
        done.status, done.bad_input = ERROR, True
        done.message = f"no golden for device class {result.device_class}: run with --update-goldens to write one"
        return done
    done.golden = str(golden)
    if not golden.exists():
        done.status, done.bad_input = ERROR, True
        done.message = f"golden {golden} does not exist: run with --update-goldens to write it"
        return done
    try:
        done.streams = compare_summaries(golden_summary(golden), result.summary, case.tolerances)
    except (BagError, CompareError) as err:
        done.status, done.bad_input, done.message = ERROR, True, f"golden {golden}: {err}"
        return done
    failing = [row.stream for row in done.streams if not row.passed]
    if failing:
        done.status = FAILED
        done.message = f"beyond tolerance: {', '.join(failing)}"
    return done


Progress = Callable[[CaseResult, int, int], None]  # (result, done, total) as each bag finishes


def run_suite(
    suite: Suite, settings: RunSettings, *, workers: int = 1, progress: Progress | None = None,
    bag_timeout_s: float | None = None,
) -> list[CaseResult]:  # fmt: skip
    """Every case of `suite`, serially (workers=1) or in up to `workers` processes; results in suite order.

    With `bag_timeout_s` every bag runs in a worker process, also with workers=1: a bag still
    running after that long has its process killed and is that bag's error.
    """
    if workers <= 1 and bag_timeout_s is None:
        results = []
        for index, case in enumerate(suite.cases, start=1):
            results.append(run_case(case, settings))
            if progress is not None:
                progress(results[-1], index, len(suite.cases))
        return results
    return _run_in_processes(suite.cases, settings, max(workers, 1), progress, bag_timeout_s)


def worker_environment(slot: int) -> dict[str, str]:
    """The environment of worker slot `slot`: its own ROS domain, DDS discovery off, OpenMP threads that sleep.

    Domain ids stop at 232 (Fast DDS's port arithmetic); with discovery off the domain is a second
    fence only. Each worker keeps torch's default thread count (fewer threads take other oneDNN
    kernels and change the masks), so workers share the cores; OpenMP's default busy-waiting then
    has idle threads of one worker spin on the cores another needs (12 bags in 2 workers on 2
    cores: 90 s busy-waiting, 39 s passive, the same outputs). A policy set by the user stands.
    """
    env = {"ROS_DOMAIN_ID": str(WORKER_DOMAIN_BASE + slot % 100), "ROS_AUTOMATIC_DISCOVERY_RANGE": "OFF"}
    env["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
    return env


def _worker_main(case: BagCase, settings: RunSettings, slot: int, conn: Connection) -> None:
    os.environ.update(worker_environment(slot))
    try:
        result = run_case(case, settings, worker=f"process {os.getpid()}")
    except BaseException as err:  # anything, even SystemExit, is this bag's error
        result = error(case, f"{type(err).__name__}: {err}", bad_input=False, worker=f"process {os.getpid()}")
    conn.send(result)
    conn.close()


@dataclass
class _Running:
    index: int
    slot: int
    process: Any  # multiprocessing.context.SpawnProcess
    conn: Connection
    started: float


def _run_in_processes(
    cases: Sequence[BagCase], settings: RunSettings, workers: int, progress: Progress | None,
    bag_timeout_s: float | None,
) -> list[CaseResult]:  # fmt: skip
    context = multiprocessing.get_context("spawn")
    results: list[CaseResult | None] = [None] * len(cases)
    pending = list(range(len(cases)))
    running: list[_Running] = []
    free_slots = list(range(workers))
    finished = 0
    try:
        while pending or running:
            while pending and free_slots:
                index, slot = pending.pop(0), free_slots.pop(0)
                receive, send = context.Pipe(duplex=False)
                process = context.Process(
                    target=_worker_main,
                    args=(cases[index], settings, slot, send),
                    name=f"rvn-replay-{cases[index].name}",
                )
                process.start()
                send.close()  # the child holds its end; EOF on ours means it is gone
                running.append(_Running(index, slot, process, receive, time.monotonic()))
            ready = set(wait([r.conn for r in running] + [r.process.sentinel for r in running], timeout=1.0))
            for item in list(running):
                result = _collect(item, cases[item.index], ready, bag_timeout_s)
                if result is None:
                    continue
                running.remove(item)
                free_slots.append(item.slot)
                free_slots.sort()
                results[item.index] = result
                finished += 1
                if progress is not None:
                    progress(result, finished, len(cases))
    finally:
        for item in running:  # interrupted: no worker outlives the suite
            item.process.kill()
            item.process.join()
    return [r for r in results if r is not None]


def _collect(item: _Running, case: BagCase, ready: set[Any], bag_timeout_s: float | None) -> CaseResult | None:
    """The result of a finished worker, an ERROR for a dead or overdue one, None while it runs."""
    worker = f"process {item.process.pid}"
    if item.conn in ready or item.process.sentinel in ready:
        try:
            result: CaseResult = item.conn.recv()
        except (EOFError, OSError):
            item.process.join()
            code = item.process.exitcode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            return error(case, f"the worker replaying it died ({how}) before it finished", bad_input=False,
                         worker=worker)  # fmt: skip
        item.process.join()
        return result
    if bag_timeout_s is not None and time.monotonic() - item.started > bag_timeout_s:
        item.process.kill()
        item.process.join()
        return error(case, f"not finished within --bag-timeout {bag_timeout_s:g} s; the worker was stopped",
                     bad_input=False, worker=worker)  # fmt: skip
    return None

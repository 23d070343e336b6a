"""A replay suite on a Ray cluster: one Ray task per bag (`rvn replay --suite S --ray [ADDRESS]`).

Ray is optional (`pip install robot_vision_nav[ray]`, pinned to RAY_VERSION) and imported only
here. Without an address a local Ray instance is started for the run, on 127.0.0.1 only (no
dashboard, nothing listening beyond loopback: LOCAL_ONLY_ENV), with as many CPUs as this machine; with one
(`ray://host:10001` for Ray Client, or `auto` / `host:6379` on a cluster node) the tasks go to
that cluster.

Files travel by a shared path, not through Ray: every node must see the suite's bags, goldens,
parameter file and model at the paths the suite resolves to (an NFS or object-store mount, or
the same container image with the same volume), and have robot_vision_nav installed (the same
image). Each task replays one bag with `suite_run.run_case` (DDS discovery off, a ROS domain of
its own, so tasks sharing a node never hear each other) and returns its CaseResult; the report
is written here, from the results, as for local runs.

A task whose worker dies (killed, out of memory) is that bag's ERROR (no retry: a replay that
crashed a worker would crash it again); if the cluster goes away mid-suite, the bags not yet
finished are ERRORs naming it and the finished ones are kept. Must never import ROS or Ray at
module level.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Sequence
from typing import Any

from robot_vision_nav.replay.suite import BagCase
from robot_vision_nav.replay.suite_run import CaseResult, Progress, RunSettings, error, run_case, worker_environment

RAY_VERSION = "2.60.0"  # the `ray` extra's pin (setup.py)
THREAD_LIMITS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")  # what Ray sets per task and a local replay does not
LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's node address is loopback (ray_constants)
AUTH_MODE_ENV = "RAY_AUTH_MODE"  # "token": send the cluster's token when connecting to an address


class RayError(RuntimeError):
    """Ray is missing, or the cluster cannot be reached; nothing ran."""


def _ray_case(case: BagCase, settings: RunSettings, slot: int) -> CaseResult:
    """The body of one Ray task: one bag, isolated from the other tasks on its node."""
    os.environ.update(worker_environment(slot))
    # Ray sets OMP_NUM_THREADS to a task's CPUs (1). On one thread oneDNN takes other convolution
    # kernels and the masks differ from a local replay's in the third decimal, so the worker gets
    # torch's own default, as a local replay has (read when torch is first imported in the worker).
    for name in THREAD_LIMITS:
        os.environ.pop(name, None)
    return run_case(case, settings, worker=f"ray {os.uname().nodename} pid {os.getpid()}")


def connect(address: str | None, num_cpus: int | None = None) -> Any:
    """Import Ray and connect to `address`, or start a local loopback-only instance (the module docstring).

    Raises:
        RayError: Ray is not installed, or the address cannot be reached.

    """
    if not address:
        # A local instance serves this machine alone: its node address is loopback, so GCS, raylet,
        # workers and agents listen on 127.0.0.1 only (Ray's own switch for single-machine use; it
        # is read when Ray is imported and by the processes it starts).
        os.environ[LOCAL_ONLY_ENV] = "0"
    try:
        import ray
    except ImportError as err:
        raise RayError(
            f"--ray needs Ray: pip install 'ray=={RAY_VERSION}' (or robot_vision_nav[ray]) here and on the cluster"
        ) from err
    if ray.is_initialized():
        return ray
    if address:
        _probe(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    except Exception as err:  # Ray raises ConnectionError, RuntimeError, ValueError... by version
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        hint = ""
        if address and os.environ.get(AUTH_MODE_ENV, "").lower() != "token":
            hint = (f" (a cluster with token authentication, Ray's default for `ray start`, needs {AUTH_MODE_ENV}=token"
                    " and its token here: ~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH)")  # fmt: skip
        raise RayError(f"--ray: cannot connect to {where}: {type(err).__name__}: {err}{hint}") from err
    return ray


PROBE_TIMEOUT_S = 5.0


def _probe(address: str) -> None:
    """Refuse at once a HOST:PORT (or ray://HOST:PORT) nothing answers on; Ray itself would retry for minutes.

    "auto" and other forms Ray resolves itself are left to it.
    """
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as err:
        raise RayError(f"--ray: cannot connect to the Ray cluster at {address}: {err.strerror or err}") from err


def run_on_ray(
    cases: Sequence[BagCase], settings: RunSettings, ray: Any, *, progress: Progress | None = None
) -> list[CaseResult]:
    """Every case as one Ray task on the connected cluster; results in suite order."""
    task = ray.remote(num_cpus=1, max_retries=0)(_ray_case)
    pending: dict[Any, int] = {}
    for index, case in enumerate(cases):
        pending[task.options(name=f"rvn-replay-{case.name}").remote(case, settings, index % 100)] = index
    results: list[CaseResult | None] = [None] * len(cases)
    finished = 0
    while pending:
        try:
            ready, _ = ray.wait(list(pending), num_returns=1)
        except Exception as err:  # the cluster went away while we waited
            for ref, index in pending.items():
                results[index] = error(cases[index], f"the Ray cluster went away: {type(err).__name__}: {err}",
                                       bad_input=False, worker="ray")  # fmt: skip
                _cancel(ray, ref)
            break
        for ref in ready:
            index = pending.pop(ref)
            result = results[index] = _result(ray, ref, cases[index])
            finished += 1
            if progress is not None:
                progress(result, finished, len(cases))
    return [r for r in results if r is not None]


def _result(ray: Any, ref: Any, case: BagCase) -> CaseResult:
    try:
        result: CaseResult = ray.get(ref)
    except ray.exceptions.WorkerCrashedError:
        return error(case, "the Ray worker replaying it died before it finished", bad_input=False, worker="ray")
    except ray.exceptions.RayError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return error(case, f"Ray: {type(err).__name__}: {first}", bad_input=False, worker="ray")
    return result


def _cancel(ray: Any, ref: Any) -> None:
    with contextlib.suppress(Exception):  # best effort: the cluster may be gone
        ray.cancel(ref, force=True)

"""Shared pytest set-up: ROS environment on loopback before any rclpy.init, and rclpy fixtures."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]


def _claim_domain_id() -> tuple[int, int | None]:
    """A ROS domain no other test run on this machine holds.

    Starting at 1 + pid % 100, the first domain of 1..100 whose lock file this process can lock (held
    until it exits, so crashed runs free theirs; starting at the pid keeps a new run off the domain of
    a killed run's orphaned node processes). Two runs picking by pid alone could meet on one domain and
    hear each other's nodes. The files are in /tmp whatever TMPDIR says, shared by all users.
    """
    folder = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
    start = os.getpid() % 100
    for i in range(100):
        domain = 1 + (start + i) % 100
        try:
            fd = os.open(folder / f"rvn-test-ros-domain-{domain}.lock", os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:  # another user's file we may not open: count the domain as theirs
            continue
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666)  # past the umask, so other users' runs can lock it in their turn
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return domain, fd
    return 1 + start, None  # nothing lockable: the pid alone


# DDS discovery must never leave loopback here (Kilted ignores ROS_LOCALHOST_ONLY). Set before
# rclpy is imported anywhere; a distinct domain per run keeps parallel runs apart.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds_shm.xml"))
if "ROS_DOMAIN_ID" not in os.environ:
    _domain, _DOMAIN_LOCK = _claim_domain_id()
    os.environ["ROS_DOMAIN_ID"] = str(_domain)

# Property tests: `make test` (and CI) runs the same examples every time, so a red run is about the
# change under test; `make test-all` explores new ones (RVN_HYPOTHESIS=explore), which is how new
# bugs are found: a failure prints the example to pin with @example.
settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("RVN_HYPOTHESIS", "repeatable"))


@pytest.fixture
def ros_context() -> Iterator[object]:
    """A fresh rclpy context for one test, shut down afterwards whatever happens."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `cuda`-marked tests, saying why, where torch sees no CUDA device."""
    cuda_items = [item for item in items if item.get_closest_marker("cuda") is not None]
    if not cuda_items:
        return  # torch is imported only when a collected test needs the answer
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in cuda_items:
        item.add_marker(skip)

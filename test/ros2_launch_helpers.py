"""The real `ros2 launch` from a colcon install space, the way a ROS 2 user runs the stack.

`install_space` builds the package with colcon into a temporary workspace; `sourced_env` is the
environment after `source install/local_setup.bash` (PYTHONPATH without the source checkout);
`blocked_ros2` makes a second venv whose interpreter cannot import torch, torchvision, numba, cv2,
mujoco or rosbags (a `.pth` puts a folder of refusing modules first on its path) but sees the
project venv's ROS 2 packages: the container's `ros2 launch` under apt's Python, while the node
scripts keep the venv's interpreter (their shebang).

Where `../shared/ros2-launch` exists these tests must run: `require_ros2_launch` fails instead of
skipping, so CI cannot go green on skipped launch tests.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_LAUNCH = REPO.parent / "shared" / "ros2-launch"
VENV = Path(sys.prefix)
BLOCKED = ("torch", "torchvision", "numba", "cv2", "mujoco", "rosbags")


def require_ros2_launch() -> Path:
    """The venv's `ros2` command; skip (saying why) where it is not installed, fail where it must be."""
    ros2 = VENV / "bin" / "ros2"
    missing = [m for m in ("launch", "launch_ros", "ros2launch", "ros2param") if importlib.util.find_spec(m) is None]
    if not ros2.is_file():
        missing.append(str(ros2))
    if shutil.which("colcon", path=str(VENV / "bin")) is None:
        missing.append("colcon")
    if missing:
        why = f"ROS 2's launch system is not installed in {VENV} ({', '.join(missing)})"
        if SHARED_LAUNCH.is_dir() or os.environ.get("RVN_REQUIRE_ROS2_LAUNCH") == "1":
            pytest.fail(
                f"{why}, but {SHARED_LAUNCH} exists: `make test` installs it; a skipped launch test is a defect"
            )
        pytest.skip(f"{why}: `{SHARED_LAUNCH}/install.sh .venv` installs it")
    return ros2


def build_install_space(workspace: Path) -> Path:
    """`colcon build` of the checkout into `workspace/install` (not a symlink install: files are copied)."""
    workspace.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            str(VENV / "bin" / "colcon"),
            "build",
            "--base-paths",
            str(REPO),
            "--build-base",
            str(workspace / "build"),
            "--install-base",
            str(workspace / "install"),
            "--event-handlers",
            "console_direct-",
        ],
        cwd=workspace,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace / "install"


def sourced_env(install: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment after `source install/local_setup.bash`, from a base without the checkout on any path."""
    env = dict(os.environ if base is None else base)
    for name in ("PYTHONPATH", "AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH"):
        env.pop(name, None)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO)))
    env["AMENT_PREFIX_PATH"] = str(VENV)  # the ROS 2 packages of the venv, as /opt/ros/kilted would be
    # tf2_ros, tf2_msgs, nav2_msgs built from ../shared/ros2-src (make test): part of the underlay, as
    # /opt/ros/kilted has them in the container; sourced before the install space, as a user does.
    extra = REPO / "build" / "ros2-extra" / "install" / "local_setup.bash"
    underlay = f"source {extra} && " if extra.is_file() else ""
    out = subprocess.run(
        ["bash", "-c", f"{underlay}source {install / 'local_setup.bash'} && env -0"],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout
    sourced = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    sourced.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)  # each interpreter sets up its own libraries
    return sourced


def blocked_ros2(folder: Path) -> Path:
    """A `ros2` command on an interpreter that cannot import the heavy modules (see the module docstring)."""
    venv = folder / "launch-venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    blocker = folder / "import-blocker"
    for name in BLOCKED:
        (blocker / name).mkdir(parents=True, exist_ok=True)
        (blocker / name / "__init__.py").write_text(
            f"raise ImportError('{name} cannot be imported in the ros2 launch process (test import blocker)')\n"
        )
    py = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = venv / "lib" / py / "site-packages"
    project_site = VENV / "lib" / py / "site-packages"
    (site / "00_rvn_import_blocker.pth").write_text(f"import sys; sys.path.insert(0, {str(blocker)!r})\n")
    (site / "zz_rvn_ros_packages.pth").write_text(f"import site; site.addsitedir({str(project_site)!r})\n")
    # The ROS wheels find their shared libraries under sys.prefix (ros-wheels-bootstrapper): link them in.
    for lib in (VENV / "lib").iterdir():
        if lib.name != py and not (venv / "lib" / lib.name).exists():
            (venv / "lib" / lib.name).symlink_to(lib)
    for libs in project_site.glob("ros_*.libs"):
        (site / libs.name).symlink_to(libs)
    ros2 = venv / "bin" / "ros2"
    ros2.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom ros2cli.cli import main\nsys.exit(main())\n")
    ros2.chmod(0o755)
    check = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import launch_ros, rclpy\ntry:\n import torch\nexcept ImportError:\n print('blocked')",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.stdout.strip() == "blocked", check.stdout + check.stderr
    return ros2


class Launch:
    """A `ros2 launch` process in its own process group, its output in a file."""

    def __init__(self, ros2: Path, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [str(ros2), "launch", *args],
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        """Everything the launch printed so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout_s: float) -> bool:
        """Whether `text` appears in the output within `timeout_s` (False at once if the launch ended)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            if self.proc.poll() is not None:
                return text in self.output()
            time.sleep(0.2)
        return False

    def interrupt(self, timeout_s: float = 60.0) -> int:
        """SIGINT to `ros2 launch` alone (it passes it on to its processes); its exit status."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=timeout_s)

    def kill(self) -> None:
        """Whatever is left of the process group, killed."""
        if self.proc.poll() is None:
            with _suppress():
                os.killpg(self.proc.pid, signal.SIGINT)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=20)
        with _suppress():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


@contextmanager
def _suppress() -> Iterator[None]:
    with suppress(ProcessLookupError, PermissionError):
        yield


@contextmanager
def launched(ros2: Path, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[Launch]:
    """A running `ros2 launch`, killed with its whole process group at the end whatever happens."""
    launch = Launch(ros2, args, env, cwd, log)
    try:
        yield launch
    finally:
        launch.kill()


def group_processes(pgid: int) -> list[int]:
    """Pids of the live processes of a process group (from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def wait_until(done: Callable[[], bool], timeout_s: float, period_s: float = 0.2) -> bool:
    """Poll `done` until it holds or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(period_s)
    return done()

"""Container HEALTHCHECK of the robot_vision_nav image: whether this container can run the stack.

Runs the quick, read-only checks of `rvn doctor` (robot_vision_nav.doctor): Python; torch imports;
rclpy imports and the RMW implementation loads; every shipped model file matches the SHA-256 in its
card; the parameter file is valid; and torch sees a CUDA device where the parameter file asks for
one. It launches no GPU work, so a busy GPU (or none, with device auto or cpu) never makes the
container unhealthy.

One more row, `launch`, checks the path `ros2 launch robot_vision_nav ...` takes, which is not this
interpreter's: /opt/ros/kilted/bin/ros2 runs on apt's /usr/bin/python3 (no torch, numba, cv2, mujoco
or rosbags there). It runs docker/launch_check.py (/opt/rvn/launch_check.py, beside this file) on
that Python, in this process's environment (the entrypoint has sourced ROS and the install space),
with the params file, model and device the stack gets; that script builds each launch file's node
list without starting a node, within LAUNCH_TIMEOUT_S. The Dockerfile runs the same script after
colcon build.

It leaves out the doctor's per-GPU rows (compute capability against torch's kernels, memory) and the
fp16 check: `rvn doctor` is the place for those, run by a person when the GPU is idle.

Exit status 0: healthy. 1: unhealthy, with one line per failed check on stderr (Docker keeps the
last output of a health check in `docker inspect`).

    /opt/rvn/entrypoint.sh python3 /opt/rvn/healthcheck.py [--params FILE] [--models-dir DIR] [--launch-python PYTHON]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from robot_vision_nav.doctor import Check

# The interpreter of /opt/ros/kilted/bin/ros2 (apt's python3-ros2cli): the one `ros2 launch` runs on.
SYSTEM_PYTHON = "/usr/bin/python3"
LAUNCH_CHECK = Path(__file__).resolve().with_name("launch_check.py")
# Well inside the HEALTHCHECK's --timeout=30s (the check takes about a second).
LAUNCH_TIMEOUT_S = 15.0


def check_launch_path(
    python: str = SYSTEM_PYTHON,
    values: Mapping[str, str] | None = None,
    timeout_s: float = LAUNCH_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
) -> Check:
    """The `launch` row: launch_check.py on `python` builds every launch file's node list, starting none.

    Args:
        python: the interpreter `ros2 launch` runs on.
        values: launch arguments (`params_file`, `model`, `device`); empty values are left out.
        timeout_s: seconds before the check is killed and the row fails.
        env: the environment of the check (default: this process's, which the entrypoint has sourced).

    """
    from robot_vision_nav.doctor import FAIL, OK, Check

    name = "launch"
    command = [python, str(LAUNCH_CHECK), *(f"{k}:={v}" for k, v in (values or {}).items() if v)]
    try:
        done = subprocess.run(
            command,
            env=dict(os.environ if env is None else env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except FileNotFoundError:
        return Check(name, FAIL, f"{python} not found: `ros2 launch` has no interpreter")
    except subprocess.TimeoutExpired:
        return Check(name, FAIL, f"{LAUNCH_CHECK.name} under {python} gave no answer within {timeout_s:g} s")
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or [f"exit status {done.returncode}"]
        return Check(name, FAIL, lines[-1])
    files = [line.split(":", 1)[0] for line in done.stdout.splitlines() if line.strip()]
    return Check(name, OK, f"{python}: {', '.join(files)} build their node lists")


def run_checks(params_file: str, models_dir: str, launch_python: str = SYSTEM_PYTHON) -> list[Check]:
    """The health rows, in order; any FAIL means unhealthy."""
    from robot_vision_nav import doctor

    rows = [doctor.check_python()]
    torch_row, torch = doctor.check_torch()
    rows.append(torch_row)
    # What the stack runs with: compose passes RVN_PARAMS_FILE / RVN_MODEL / RVN_DEVICE / RVN_NAMESPACE to it and us.
    device, model, params_row = doctor.stack_settings(params_file)
    rows.append(params_row)
    rows.append(doctor.check_configured_model(model))
    if device.startswith("cuda"):
        visible = torch is not None and torch.cuda.is_available()
        rows.append(
            doctor.Check(
                "cuda",
                doctor.OK if visible else doctor.FAIL,
                f"device {device!r}: "
                + ("torch sees a CUDA device" if visible else "torch sees no CUDA device (is the GPU passed in?)"),
            )
        )
    rows += doctor.check_ros()
    rows += doctor.check_models(models_dir)  # '' = the package's models/ (robot_vision_nav.package_files)
    stack_values = {
        "params_file": params_file or os.environ.get("RVN_PARAMS_FILE", ""),
        "model": os.environ.get("RVN_MODEL", ""),
        "device": os.environ.get("RVN_DEVICE", ""),
        "namespace": os.environ.get("RVN_NAMESPACE", ""),
    }
    rows.append(check_launch_path(launch_python, stack_values))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print one summary line; exit 1 with the failed checks on stderr when any check fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="", metavar="FILE", help="parameter YAML (default: the package's)")
    parser.add_argument("--models-dir", default="", metavar="DIR", help="model folder (default: the installed one)")
    parser.add_argument(
        "--launch-python",
        default=SYSTEM_PYTHON,
        metavar="PYTHON",
        help=f"the interpreter `ros2 launch` runs on (default: {SYSTEM_PYTHON}, as in the image)",
    )
    args = parser.parse_args(argv)
    try:
        rows = run_checks(args.params, args.models_dir, args.launch_python)
    except Exception as err:  # an import or environment failure is the health answer, not a crash
        print(f"unhealthy: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    from robot_vision_nav.doctor import FAIL

    failed = [row for row in rows if row.status == FAIL]
    for row in failed:
        print(f"unhealthy: {row.name}: {row.detail}", file=sys.stderr)
    if failed:
        return 1
    print(f"healthy: {len(rows)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

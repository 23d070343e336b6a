"""Container HEALTHCHECK of the robot_vision_nav image: whether this container can run the stack.

Runs the quick, read-only checks of `rvn doctor` (robot_vision_nav.doctor): Python; torch imports;
rclpy imports and the RMW implementation loads; every shipped model file matches the SHA-256 in its
card; the parameter file is valid; and torch sees a CUDA device where the parameter file asks for
one. It launches no GPU work, so a busy GPU (or none, with device auto or cpu) never makes the
container unhealthy.

It leaves out the doctor's per-GPU rows (compute capability against torch's kernels, memory) and the
fp16 check: `rvn doctor` is the place for those, run by a person when the GPU is idle.

Exit status 0: healthy. 1: unhealthy, with one line per failed check on stderr (Docker keeps the
last output of a health check in `docker inspect`).

    /opt/rvn/entrypoint.sh python3 /opt/rvn/healthcheck.py [--params FILE] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from robot_vision_nav.doctor import Check

def run_checks(params_file: str, models_dir: str) -> list[Check]:
    """The health rows, in order; any FAIL means unhealthy."""
    from robot_vision_nav import doctor

    rows = [doctor.check_python()]
    torch_row, torch = doctor.check_torch()
    rows.append(torch_row)
    # What the stack runs with: compose passes RVN_PARAMS_FILE / RVN_MODEL / RVN_DEVICE to it and to us.
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
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print one summary line; exit 1 with the failed checks on stderr when any check fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="", metavar="FILE", help="parameter YAML (default: the package's)")
    parser.add_argument("--models-dir", default="", metavar="DIR", help="model folder (default: the installed one)")
    args = parser.parse_args(argv)
    try:
        rows = run_checks(args.params, args.models_dir)
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

"""`rvn doctor` and `rvn monitor`: check what the stack depends on; watch the GPUs and the nodes' health.

torch, NVML and rclpy load inside the handlers; this module must never import ROS at module level.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from robot_vision_nav.cli.common import positive

if TYPE_CHECKING:
    from robot_vision_nav.cli.common import Subparsers


def _doctor(args: argparse.Namespace) -> int:
    from robot_vision_nav.doctor import FAIL, DoctorOptions, format_table, run_checks

    options = DoctorOptions(
        params_file=args.params or "", device=args.device or "",
        model=args.model or "", quick=args.quick,
    )  # fmt: skip
    rows = run_checks(options)
    failed = any(r.status == FAIL for r in rows)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [r.as_dict() for r in rows]}))
    else:
        print(format_table(rows))
    return 1 if failed else 0


def _monitor(args: argparse.Namespace) -> int:
    from robot_vision_nav.monitor import run_monitor

    return run_monitor(args.once, args.json, args.period, args.wait, use_ros=not args.no_ros)


# ---------------------------------------------------------------------------------------- parsers
def register(sub: Subparsers) -> None:
    """Add `rvn doctor` and `rvn monitor` to `sub`."""
    p = sub.add_parser(
        "doctor",
        help="check what the stack depends on: Python, torch, CUDA, GPU, cuDNN, fp16, ROS, optional parts, models",
        description="Print a table of checks: Python; torch against requirements.txt's pin; the CUDA runtime, each "
        "GPU with its compute capability and memory, the driver (NVML), cuDNN; whether fp16 autocast works; the ROS "
        "distro, rclpy, the RMW and the discovery range; optional parts (cv_bridge, tf2_ros, launch, launch_ros, "
        "rosbag2_py, nav2_simple_commander, TensorRT, ONNX Runtime and its providers, NVML); each shipped model file "
        "against the SHA-256 in its card; the params file. Status ok, warn, missing (optional, absent) or FAIL "
        "(something the configuration needs, e.g. CUDA for device: cuda): exit status 1 on any FAIL.",
    )
    p.add_argument("--params", metavar="FILE", help="the stack's parameter YAML (default config/robot_vision_nav.yaml)")
    p.add_argument("--device", metavar="D",
                   help="the segmentation device to check for (default $RVN_DEVICE, else the YAML's)")  # fmt: skip
    p.add_argument("--model", metavar="M",
                   help="the weights the stack loads (default $RVN_MODEL, else the YAML's model_path)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="skip the GPU compute check (for a HEALTHCHECK)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_doctor)

    p = sub.add_parser(
        "monitor",
        help="live GPU utilisation/memory/temperature (NVML) and the nodes' /diagnostics in one table",
        description="Refresh every --period seconds: one row per GPU (utilisation %%, memory used/total MiB, "
        "temperature C, power W; from NVML, without nvidia-smi) and one per /diagnostics status (level, fps, latency "
        "p50/p99 ms, message, and the segmentation node's GPU). Ctrl-C stops; --once prints one snapshot after "
        "--wait seconds of listening.",
    )
    p.add_argument("--once", action="store_true", help="one snapshot, then exit")
    p.add_argument("--period", type=positive("s"), default=1.0, metavar="S", help="refresh period (s, default 1)")
    p.add_argument("--wait", type=positive("s"), default=3.0, metavar="S",
                   help="with --once: listen this long before printing (s, default 3)")  # fmt: skip
    p.add_argument("--no-ros", action="store_true", help="GPUs only: do not listen to /diagnostics")
    p.add_argument("--json", action="store_true", help="one JSON object per snapshot")
    p.set_defaults(handler=_monitor)

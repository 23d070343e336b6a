"""`rvn monitor`: the GPUs (NVML) and the running nodes' /diagnostics, live, in one compact table.

A replacement for polling `nvidia-smi` from scripts plus `ros2 topic echo /diagnostics`: one row per
GPU (utilisation, memory, temperature, power) and one per diagnostic status (level, message, and
the values people look at: fps, latency p50/p99, the GPU the segmentation node runs on). `--once`
prints one snapshot (after `wait_s` for the nodes to report) and exits; `--json` prints it as one
object per snapshot. It only listens: it never changes a node.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from robot_vision_nav.gpu_monitor import GpuMonitor, GpuStats
from robot_vision_nav.ros import topics

LEVELS = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}
STALE_S = 5.0  # diagnostics come every 1 s by default: five missed reports is a stopped node
SHOWN = ("fps", "latency_ms_p50", "latency_ms_p99", "gpu_utilization_pct", "gpu_memory_used_mb", "gpu_temperature_c")


def snapshot(
    gpus: list[GpuStats], statuses: dict[str, dict[str, Any]], gpu_reason: str, stale_s: float = STALE_S
) -> dict[str, Any]:
    """The JSON form of one refresh; a status not heard from for `stale_s` is shown STALE (its node may be gone)."""
    now = time.monotonic()
    nodes = []
    for name in sorted(statuses):
        status = {k: v for k, v in statuses[name].items() if k != "received"}
        age = now - statuses[name].get("received", now)
        if age > stale_s:
            status["level"] = "STALE"
            status["message"] = f"no report for {age:.0f} s; last: {status['message']}"
        nodes.append(status)
    return {
        "time": time.time(),
        "gpus": [g.as_dict() for g in gpus],
        "gpu_note": "" if gpus else gpu_reason,
        "nodes": nodes,
    }


def format_snapshot(snap: dict[str, Any]) -> str:
    """The table for people."""
    lines = []
    if snap["gpus"]:
        lines.append(f"{'gpu':<4} {'name':<28} {'util %':>6} {'mem MiB':>15} {'temp C':>6} {'power W':>7}")
        for g in snap["gpus"]:
            power = "" if g["power_w"] is None else f"{g['power_w']:.0f}"
            mem = f"{g['memory_used_mb']:.0f}/{g['memory_total_mb']:.0f}"
            lines.append(
                f"{g['index']:<4} {g['name'][:28]:<28} {g['utilization_pct']:>6.0f} {mem:>15} "
                f"{g['temperature_c']:>6.0f} {power:>7}"
            )
    else:
        lines.append(f"gpu: none ({snap['gpu_note']})")
    if snap["nodes"]:
        lines.append(f"{'status':<40} {'level':<5} {'fps':>6} {'p50 ms':>7} {'p99 ms':>7}  message")
        for s in snap["nodes"]:
            v = s["values"]
            lines.append(
                f"{s['name'][:40]:<40} {s['level']:<5} {v.get('fps', ''):>6} {v.get('latency_ms_p50', ''):>7} "
                f"{v.get('latency_ms_p99', ''):>7}  {s['message']}"
                + (
                    f" [gpu {v['gpu_utilization_pct']}% {v['gpu_memory_used_mb']} MiB {v['gpu_temperature_c']} C]"
                    if "gpu_utilization_pct" in v
                    else ""
                )
            )
    else:
        lines.append("nodes: no /diagnostics received (is the stack running, in this ROS_DOMAIN_ID?)")
    return "\n".join(lines)


def run_monitor(
    once: bool, as_json: bool, period_s: float, wait_s: float, use_ros: bool, emit: Callable[[str], None] = print
) -> int:
    """Print snapshots until Ctrl-C (or one with `once`); 0 on a clean stop."""
    gpu = GpuMonitor()
    statuses: dict[str, dict[str, Any]] = {}
    context: Any = None
    node: Any = None
    executor: Any = None
    try:
        if use_ros:
            import rclpy
            from diagnostic_msgs.msg import DiagnosticArray
            from rclpy.context import Context
            from rclpy.executors import SingleThreadedExecutor

            from robot_vision_nav.ros.runner import apply_ros_environment

            def on_diagnostics(msg: DiagnosticArray) -> None:
                for s in msg.status:
                    level = s.level[0] if isinstance(s.level, bytes | bytearray) else int(s.level)
                    statuses[s.name] = {
                        "received": time.monotonic(),
                        "name": s.name,
                        "level": LEVELS.get(level, "?"),
                        "message": s.message,
                        "values": {kv.key: kv.value for kv in s.values if kv.key in SHOWN},
                    }

            apply_ros_environment()
            context = Context()
            rclpy.init(context=context, args=[], signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
            node = rclpy.create_node("rvn_monitor", context=context)
            node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diagnostics, 50)
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(node)
        deadline = time.monotonic() + (wait_s if once else period_s)
        while True:
            while time.monotonic() < deadline:
                if executor is not None:
                    executor.spin_once(timeout_sec=0.05)
                else:
                    time.sleep(0.05)
            snap = snapshot(gpu.read(), statuses, gpu.reason)
            emit(json.dumps(snap, allow_nan=False) if as_json else format_snapshot(snap))
            if once:
                return 0
            deadline = time.monotonic() + period_s
    except KeyboardInterrupt:
        return 0
    finally:
        gpu.close()
        if node is not None:
            node.destroy_node()
        if context is not None:
            import rclpy

            rclpy.try_shutdown(context=context)

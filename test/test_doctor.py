"""`rvn doctor` and `rvn monitor` here (no GPU, ROS from PyPI wheels): honest about what is missing."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from robot_vision_nav.cli import main
from robot_vision_nav.doctor import FAIL, MISSING, OK, DoctorOptions, check_models, run_checks
from robot_vision_nav.gpu_monitor import GpuMonitor
from robot_vision_nav.monitor import format_snapshot, run_monitor, snapshot

REPO = Path(__file__).resolve().parents[1]


def _rows(options: DoctorOptions) -> dict[str, Any]:
    return {r.name: r for r in run_checks(options)}


def test_doctor_reports_the_cpu_only_state_and_passes_with_device_auto(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    assert main(["doctor", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in out["checks"]}
    assert out["ok"] is True
    assert rows["python"]["status"] == OK and rows["torch"]["status"] == OK
    assert torch.__version__.split("+")[0] in rows["torch"]["detail"]
    if not torch.cuda.is_available():  # this machine: said so, not hidden
        assert rows["cuda"]["status"] == MISSING and "no CUDA device" in rows["cuda"]["detail"]
        assert rows["fp16"]["status"] == MISSING
        assert "CPU" in rows["device"]["detail"]
    assert rows["rmw"]["status"] == OK and "rclpy from PyPI wheels" in rows["ros distro"]["detail"]
    assert rows["model segnet_warehouse.safetensors"]["status"] == OK
    assert rows["launch"]["status"] == MISSING  # this repo's launch/ folder is not ROS's launch package
    assert rows["onnxruntime"]["status"] == OK


def test_doctor_fails_when_the_configuration_needs_cuda_and_there_is_none(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        assert main(["doctor", "--device", "cuda", "--quick"]) == 0
        return
    assert main(["doctor", "--device", "cuda"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: cuda, fp16" in out and "the configuration needs CUDA" in out


def test_doctor_fails_on_a_model_that_does_not_match_its_card(tmp_path: Path) -> None:
    for name in ("segnet_warehouse.safetensors", "segnet_warehouse.card.yaml"):
        shutil.copy(REPO / "models" / name, tmp_path / name)
    assert [r.status for r in check_models(str(tmp_path))] == [OK]
    data = bytearray((tmp_path / "segnet_warehouse.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / "segnet_warehouse.safetensors").write_bytes(bytes(data))
    (row,) = check_models(str(tmp_path))
    assert row.status == FAIL and "differs from the card" in row.detail
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_models(str(empty))[0].status == FAIL


def test_doctor_fails_on_a_params_file_with_an_unknown_parameter(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("costmap_node:\n  ros__parameters:\n    inflation_radius: 0.5\n")
    rows = _rows(DoctorOptions(params_file=str(bad)))
    assert rows["params"].status == FAIL and "inflation_radius" in rows["params"].detail


def test_gpu_monitor_without_a_driver_says_why_and_reads_nothing() -> None:
    monitor = GpuMonitor()
    try:
        if monitor.available:  # a GPU machine: real readings
            stats = monitor.read()
            assert stats and all(0 <= s.utilization_pct <= 100 and s.memory_total_mb > 0 for s in stats)
        else:
            assert monitor.reason and monitor.read() == []
    finally:
        monitor.close()
        monitor.close()  # idempotent


@pytest.mark.cuda
def test_gpu_monitor_reads_the_gpu_torch_uses() -> None:
    import torch

    monitor = GpuMonitor()
    try:
        assert monitor.available, monitor.reason
        (first, *_rest) = monitor.read()
        assert first.memory_total_mb > 1000 and 0 <= first.temperature_c < 120
        assert torch.cuda.get_device_name(0).split()[-1] in first.name
    finally:
        monitor.close()


@pytest.mark.ros
def test_monitor_once_shows_a_nodes_diagnostics(ros_context: Any) -> None:
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    node = Node("fake_segmentation", context=ros_context)
    pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
    status = DiagnosticStatus(name="segmentation_node: segmentation", level=DiagnosticStatus.WARN, message="slow")
    status.values = [KeyValue(key="fps", value="12.50"), KeyValue(key="latency_ms_p99", value="80.1"),
                     KeyValue(key="gpu_utilization_pct", value="42"), KeyValue(key="gpu_memory_used_mb", value="900"),
                     KeyValue(key="gpu_temperature_c", value="61"), KeyValue(key="model", value="x")]  # fmt: skip
    stop = threading.Event()
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)

    def publish() -> None:
        while not stop.is_set():
            pub.publish(DiagnosticArray(status=[status]))
            time.sleep(0.1)

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    printed: list[str] = []
    try:
        assert run_monitor(once=True, as_json=True, period_s=1.0, wait_s=2.0, use_ros=True, emit=printed.append) == 0
    finally:
        stop.set()
        thread.join()
        node.destroy_node()
    (line,) = printed
    snap = json.loads(line)
    (row,) = [n for n in snap["nodes"] if n["name"] == "segmentation_node: segmentation"]
    assert row["level"] == "WARN" and row["message"] == "slow"
    assert row["values"] == {"fps": "12.50", "latency_ms_p99": "80.1", "gpu_utilization_pct": "42",
                             "gpu_memory_used_mb": "900", "gpu_temperature_c": "61"}  # fmt: skip
    text = format_snapshot(snap)
    assert "segmentation_node: segmentation" in text and "[gpu 42% 900 MiB 61 C]" in text


def test_monitor_snapshot_without_gpus_or_nodes_says_so() -> None:
    text = format_snapshot(snapshot([], {}, "NVML unavailable: test"))
    assert "gpu: none (NVML unavailable: test)" in text and "no /diagnostics received" in text


def test_rtx_4090_runs_a_torch_built_for_sm_86_but_not_one_built_for_hopper_only() -> None:
    from robot_vision_nav.doctor import kernels_run_on

    cu130 = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]  # torch 2.14.1+cu130 here
    assert kernels_run_on(8, 9, cu130)  # RTX 4090: sm_86 machine code runs on sm_89
    assert kernels_run_on(9, 0, cu130) and kernels_run_on(12, 0, cu130)
    assert not kernels_run_on(7, 0, cu130)  # V100: older than anything built
    assert not kernels_run_on(8, 9, ["sm_90a"])
    assert kernels_run_on(8, 9, ["sm_80", "compute_80"])  # PTX compiles for newer GPUs

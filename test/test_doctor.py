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


def test_doctor_reads_the_device_from_wildcard_and_namespaced_sections_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from robot_vision_nav.doctor import configured_segmentation

    params = tmp_path / "p.yaml"
    params.write_text(
        "/**:\n  ros__parameters:\n    use_sim_time: false\n"
        "/robot1/segmentation_node:\n  ros__parameters:\n    device: cuda:0\n"
    )
    values, row = configured_segmentation(str(params))
    assert row.status == OK and values["device"] == "cuda:0" and values["use_sim_time"] is False
    expected = OK if torch.cuda.is_available() else FAIL
    assert _rows(DoctorOptions(params_file=str(params), quick=True))["cuda"].status == expected
    monkeypatch.setenv("RVN_DEVICE", "cpu")  # what compose hands the stack wins over the file
    assert _rows(DoctorOptions(params_file=str(params), quick=True))["device"].detail == "cpu"


def test_doctor_fails_when_the_configured_model_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--quick", "--model", str(tmp_path / "gone.safetensors")]) == 1
    assert "configured model" in capsys.readouterr().out
    rows = _rows(DoctorOptions(quick=True))
    assert rows["configured model"].status == OK and "segnet_warehouse.safetensors" in rows["configured model"].detail


def test_gpu_stats_are_matched_by_uuid_not_by_index_and_dump_as_strict_json() -> None:
    from robot_vision_nav.gpu_monitor import GpuStats, find_stats

    nan = float("nan")
    display = GpuStats(0, "NVIDIA T400", 3.0, 300.0, 2048.0, 40.0, nan, uuid="GPU-aaaa-1111")
    rtx = GpuStats(1, "NVIDIA GeForce RTX 4090", 90.0, 9000.0, 24564.0, 70.0, 350.0, uuid="GPU-bbbb-2222")
    # torch calls the 4090 cuda:0 (fastest first); NVML calls it 1 (PCI order)
    assert find_stats([display, rtx], "bbbb-2222", 0) is rtx
    assert find_stats([display, rtx], "cccc", 0) is None  # never another card's numbers
    assert find_stats([display, rtx], "", 1) is rtx  # no UUID from torch: index, as NVML counts
    snap = snapshot([display, rtx], {}, "")
    assert json.loads(json.dumps(snap, allow_nan=False))["gpus"][0]["power_w"] is None


def test_monitor_marks_a_status_stale_when_its_node_stops_reporting() -> None:
    statuses = {"planner_node: planner": {"received": time.monotonic() - 60.0, "name": "planner_node: planner",
                                          "level": "OK", "message": "ok", "values": {}}}  # fmt: skip
    (row,) = snapshot([], statuses, "none")["nodes"]
    assert row["level"] == "STALE" and "no report for 60 s" in row["message"] and "received" not in row

"""`rvn doctor` and `rvn monitor`: honest about what is missing, whatever this machine has.

What the doctor reports depends on the machine (a GPU or none; ROS's launch, launch_ros and ros2cli
installed or not; NVML), so each test sets the state it is about: CUDA through torch.cuda's answers,
optional modules hidden (`sys.modules[name] = None`, as when absent) or provided (packages written
under tmp_path), NVML hidden or failing. The real GPU path is the `cuda`-marked tests'.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from robot_vision_nav import doctor
from robot_vision_nav.cli import main
from robot_vision_nav.doctor import FAIL, MISSING, OK, WARN, DoctorOptions, check_models, check_optional, run_checks
from robot_vision_nav.gpu_monitor import GpuMonitor
from robot_vision_nav.monitor import format_snapshot, run_monitor, snapshot
from robot_vision_nav.package_files import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[1]
ROS_LAUNCH_MODULES = ("launch", "launch_ros", "ros2cli")  # ROS's `ros2 launch`: PyPI has no wheels of these
CU130_ARCHES = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]  # torch 2.14.1+cu130


# What compose hands the stack (docker/compose.yaml): set in the container, and each overrides the
# params file, so every test starts without them and sets the one it is about.
STACK_ENVIRONMENT = ("RVN_PARAMS_FILE", "RVN_DEVICE", "RVN_MODEL", "RVN_NAMESPACE")


@pytest.fixture(autouse=True)
def _no_stack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in STACK_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


def _rows(options: DoctorOptions) -> dict[str, Any]:
    return {r.name: r for r in run_checks(options)}


def set_cuda(monkeypatch: pytest.MonkeyPatch, available: bool, capability: tuple[int, int] = (8, 9)) -> None:
    """torch.cuda answers as on a machine without CUDA, or with one GPU of `capability` (an RTX 4090 by default).

    Only what the doctor asks is answered; nothing runs on the pretend GPU, so tests that pretend one use
    --quick (no fp16 check).
    """
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1 if available else 0)
    if not available:
        return
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=0: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=0: "NVIDIA GeForce RTX 4090")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=0: SimpleNamespace(total_memory=24 * 2**30))
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: list(CU130_ARCHES))
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91300)


def _forget(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Take `name` and its submodules out of sys.modules until the test ends."""
    for key in [k for k in sys.modules if k == name or k.startswith(f"{name}.")]:
        monkeypatch.delitem(sys.modules, key)


def hide_modules(monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]) -> None:
    """Make `names` absent: find_spec says None and import raises ModuleNotFoundError, installed or not."""
    for name in names:
        _forget(monkeypatch, name)
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def fake_site(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A folder first on sys.path for packages a test provides; whatever was imported from it is forgotten after."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    for key, module in list(sys.modules.items()):
        if module is not None and str(getattr(module, "__file__", "") or "").startswith(str(site)):
            del sys.modules[key]  # before monkeypatch puts back what was there


def provide_modules(monkeypatch: pytest.MonkeyPatch, site: Path, sources: dict[str, str]) -> None:
    """Make each name a package in `site` with `source` as its __init__.py, in place of any installed one."""
    for name, source in sources.items():
        _forget(monkeypatch, name)
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(source)
    importlib.invalidate_caches()


@pytest.fixture(params=["absent", "installed"])
def ros_launch(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, fake_site: Path) -> str:
    """launch, launch_ros and ros2cli absent (PyPI's ROS wheels) or installed (ROS from apt, the container)."""
    if request.param == "absent":
        hide_modules(monkeypatch, ROS_LAUNCH_MODULES)
    else:
        provide_modules(
            monkeypatch, fake_site, {name: f'"""{name} (test stand-in)"""\n' for name in ROS_LAUNCH_MODULES}
        )
    return str(request.param)


def test_doctor_reports_the_cpu_only_state_and_passes_with_device_auto(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, ros_launch: str
) -> None:
    import rclpy
    import torch

    set_cuda(monkeypatch, available=False)
    assert main(["doctor", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in out["checks"]}
    assert out["ok"] is True
    assert rows["python"]["status"] == OK and rows["torch"]["status"] == OK
    assert torch.__version__.split("+")[0] in rows["torch"]["detail"]
    assert rows["cuda"]["status"] == MISSING and "no CUDA device" in rows["cuda"]["detail"]  # said so, not hidden
    assert rows["fp16"]["status"] == MISSING
    assert rows["device"]["detail"] == "auto: CPU (no CUDA device)"
    where = "apt (/opt/ros)" if "/opt/ros/" in (rclpy.__file__ or "") else "PyPI wheels"
    assert rows["rmw"]["status"] == OK and f"rclpy from {where}" in rows["ros distro"]["detail"]
    assert rows[f"model {DEFAULT_MODEL}"]["status"] == OK
    expected = MISSING if ros_launch == "absent" else OK  # optional: absent is not a failure
    assert (rows["launch"]["status"], rows["launch_ros"]["status"]) == (expected, expected)
    assert rows["onnxruntime"]["status"] == OK  # requirements.txt pins it (and the image installs it)


def test_a_launch_folder_without_init_is_not_ros_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    # This repo's launch/ (launch files, no __init__.py) is a namespace package to Python wherever the
    # checkout is on sys.path: it must not count as ROS's launch package.
    assert (REPO / "launch").is_dir() and not (REPO / "launch" / "__init__.py").exists()
    _forget(monkeypatch, "launch")
    monkeypatch.setattr(sys, "path", [str(REPO)])
    importlib.invalidate_caches()
    assert importlib.util.find_spec("launch") is not None  # Python does find something
    assert not doctor._installed("launch")


@pytest.mark.parametrize("state", ["absent", "installed"])
def test_optional_parts_are_missing_when_absent_and_ok_when_installed(
    monkeypatch: pytest.MonkeyPatch, fake_site: Path, state: str
) -> None:
    names = tuple(module for _, module, _ in doctor.OPTIONAL_MODULES)
    if state == "absent":
        hide_modules(monkeypatch, names)
    else:
        sources = {name: f'"""{name} (test stand-in)"""\n' for name in names}
        sources["cv_bridge"] = "class CvBridge:\n    pass\n"
        provide_modules(monkeypatch, fake_site, sources)
    rows = {r.name: r for r in check_optional()}
    for label, _, what in doctor.OPTIONAL_MODULES:
        if state == "absent":
            assert rows[label].status == MISSING and rows[label].detail == f"absent ({what})", rows[label]
        else:
            assert rows[label].status == OK and rows[label].detail == what, rows[label]


def test_a_cv_bridge_that_does_not_load_is_a_warning_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, fake_site: Path
) -> None:
    # apt's cv_bridge is built against the distribution's numpy 1.x; under pip's numpy 2 it fails to load
    provide_modules(
        monkeypatch,
        fake_site,
        {
            "cv_bridge": "class CvBridge:\n    def __init__(self):\n"
            "        raise ImportError('numpy.core.multiarray failed to import')\n"
        },
    )
    (row,) = [r for r in check_optional() if r.name == "cv_bridge"]
    assert row.status == WARN and "present but does not load" in row.detail and "numpy path used" in row.detail


def test_doctor_fails_when_the_configuration_needs_cuda_and_there_is_none(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_cuda(monkeypatch, available=False)
    assert main(["doctor", "--device", "cuda"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: cuda, fp16" in out and "the configuration needs CUDA" in out


def test_doctor_passes_when_the_configuration_needs_cuda_and_torch_has_kernels_for_the_gpu(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_cuda(monkeypatch, available=True, capability=(8, 9))
    assert main(["doctor", "--device", "cuda", "--quick", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["checks"]}
    assert rows["cuda"]["status"] == OK and "runtime 13.0" in rows["cuda"]["detail"]
    assert rows["gpu 0"]["status"] == OK and "sm_89" in rows["gpu 0"]["detail"]
    assert rows["cudnn"]["status"] == OK and "fp16" not in rows  # --quick: no compute on the GPU
    assert rows["device"]["detail"] == "cuda"


def test_doctor_fails_on_a_gpu_torch_has_no_kernels_for(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_cuda(monkeypatch, available=True, capability=(7, 0))  # a V100 under a cu130 build
    assert main(["doctor", "--device", "cuda", "--quick"]) == 1
    out = capsys.readouterr().out
    assert "FAIL: gpu 0" in out and "torch has kernels for sm_75" in out


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


def test_gpu_monitor_without_nvml_says_why_and_reads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_modules(monkeypatch, ("pynvml",))
    monitor = GpuMonitor()
    try:
        assert not monitor.available and monitor.reason == "nvidia-ml-py is not installed"
        assert monitor.read() == []
    finally:
        monitor.close()
        monitor.close()  # idempotent


def test_gpu_monitor_without_a_driver_says_why_and_reads_nothing(
    monkeypatch: pytest.MonkeyPatch, fake_site: Path
) -> None:
    # nvidia-ml-py installed, libnvidia-ml.so not: nvmlInit raises (what the real one does, in short)
    provide_modules(
        monkeypatch,
        fake_site,
        {
            "pynvml": "class NVMLError(Exception):\n    pass\n\n\n"
            "def nvmlInit():\n    raise NVMLError('NVML Shared Library Not Found')\n"
        },
    )
    monitor = GpuMonitor()
    try:
        assert not monitor.available and monitor.reason == "NVML unavailable: NVML Shared Library Not Found"
        assert monitor.read() == []
    finally:
        monitor.close()
        monitor.close()


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


@pytest.mark.parametrize(("cuda", "expected"), [(False, FAIL), (True, OK)])
def test_doctor_reads_the_device_from_wildcard_and_namespaced_sections_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cuda: bool, expected: str
) -> None:
    from robot_vision_nav.doctor import configured_segmentation

    set_cuda(monkeypatch, available=cuda)
    monkeypatch.setenv("RVN_NAMESPACE", "robot1")  # the stack runs in /robot1, as the section is written for
    params = tmp_path / "p.yaml"
    params.write_text(
        "/**:\n  ros__parameters:\n    use_sim_time: false\n"
        "/robot1/segmentation_node:\n  ros__parameters:\n    device: cuda:0\n"
    )
    values, row = configured_segmentation(str(params))
    assert row.status == OK and values["device"] == "cuda:0" and values["use_sim_time"] is False
    # cuda:0 from the namespaced section: CUDA is needed, so its absence fails
    assert _rows(DoctorOptions(params_file=str(params), quick=True))["cuda"].status == expected
    monkeypatch.setenv("RVN_DEVICE", "cpu")  # what compose hands the stack wins over the file
    rows = _rows(DoctorOptions(params_file=str(params), quick=True))
    assert rows["device"].detail == "cpu"
    assert rows["cuda"].status == (OK if cuda else MISSING)  # device cpu: no CUDA is no failure


def test_doctor_fails_when_the_configured_model_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--quick", "--model", str(tmp_path / "gone.safetensors")]) == 1
    assert "configured model" in capsys.readouterr().out
    rows = _rows(DoctorOptions(quick=True))
    assert rows["configured model"].status == OK and DEFAULT_MODEL in rows["configured model"].detail


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

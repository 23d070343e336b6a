"""`rvn doctor`: what the stack depends on, and whether this machine has it right.

One row per check: Python, torch (against requirements.txt's pin), CUDA (runtime, GPU, compute
capability, driver through NVML), cuDNN, whether fp16 autocast works, ROS (distro, rclpy, RMW,
discovery range), the optional parts (cv_bridge, tf2_ros, launch, launch_ros, rosbag2_py,
nav2_simple_commander, ONNX Runtime and its providers, TensorRT, NVML), the shipped model files
against their cards' SHA-256, and the parameter file. A check is `ok`, `warn` (works, but not as
configured for speed), `missing` (an optional part that is absent: fine) or `FAIL` (something the
configuration needs: the exit status is 1). It must never need a GPU, ROS or the network to run,
and it never changes anything.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

OK, WARN, MISSING, FAIL = "ok", "warn", "missing", "FAIL"
OPTIONAL_MODULES = (
    ("cv_bridge", "cv_bridge", "ROS image conversion in C++ (the package has its own numpy path)"),
    ("tf2_ros", "tf2_ros", "transforms"),
    ("launch", "launch", "ros2 launch"),
    ("launch_ros", "launch_ros", "ros2 launch of nodes"),
    ("rosbag2_py", "rosbag2_py", "ros2 bag (rvn replay needs only rosbags)"),
    ("nav2_simple_commander", "nav2_simple_commander", "Nav2 BasicNavigator (examples/nav2_goto.py)"),
    ("tensorrt", "tensorrt", "TensorRT engines"),
)


@dataclass(frozen=True)
class Check:
    """One row of the table."""

    name: str
    status: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        """The JSON form."""
        return asdict(self)


@dataclass(frozen=True)
class DoctorOptions:
    """What the configuration needs: the params file's segmentation device (or --device), fp16."""

    params_file: str = ""
    device: str = ""  # '' = $RVN_DEVICE, else the params file's segmentation_node device
    quick: bool = False  # skip the GPU compute checks (fp16): a HEALTHCHECK runs often
    models_dir: str = ""  # '' = the package's models/ (package_files: install space, else the checkout)
    model: str = ""  # the weights the stack will load; '' = $RVN_MODEL, else the params file's model_path


def _pin(name: str) -> str:
    """`name`'s exact pin in requirements.txt ('' where there is none or no checkout)."""
    from robot_vision_nav.package_files import PackageFileError, package_file

    try:  # the checkout's, or an installed package's (the image): setup.py ships it in share/robot_vision_nav
        req = package_file("requirements.txt")
    except PackageFileError:
        return ""
    for line in req.read_text().splitlines():
        m = re.match(rf"^{re.escape(name)}==(\S+)", line.strip())
        if m:
            return m.group(1)
    return ""


def check_python() -> Check:
    """Python 3.10 or newer (rclpy Kilted wheels: 3.11 here, apt's 3.12 in the container)."""
    version = platform.python_version()
    ok = sys.version_info >= (3, 10)
    return Check("python", OK if ok else FAIL, f"{version} at {sys.executable}" + ("" if ok else "; needs >= 3.10"))


def check_torch() -> tuple[Check, Any]:
    """Torch importable, and its version against requirements.txt's pin (a +cuXYZ local tag is fine)."""
    try:
        import torch
    except Exception as err:  # ImportError, or OSError/ValueError from a broken CUDA library
        return Check("torch", FAIL, f"not importable: {type(err).__name__}: {err}"), None
    version = str(torch.__version__)
    pin = _pin("torch")
    if pin and version.split("+")[0] != pin:
        return Check("torch", WARN, f"{version}, requirements.txt pins {pin}"), torch
    return Check("torch", OK, version + (f" (pinned {pin})" if pin else "")), torch


def check_cuda(torch: Any, needs_cuda: bool, gpu: Any) -> list[Check]:
    """The CUDA runtime torch was built with, the GPU, its compute capability, the driver, cuDNN."""
    if torch is None:
        return [Check("cuda", FAIL if needs_cuda else MISSING, "no torch")]
    built = torch.version.cuda or "none (a CPU build of torch)"
    if not torch.cuda.is_available():
        why = "torch sees no CUDA device"
        if gpu is not None and not gpu.available:
            why += f"; {gpu.reason}"
        status = FAIL if needs_cuda else MISSING
        return [
            Check(
                "cuda",
                status,
                f"{why}; torch built for CUDA {built}" + ("; the configuration needs CUDA" if needs_cuda else ""),
            )
        ]
    rows = []
    count = torch.cuda.device_count()
    for i in range(count):
        major, minor = torch.cuda.get_device_capability(i)
        arch = f"sm_{major}{minor}"
        listed: list[str] = getattr(torch.cuda, "get_arch_list", lambda: [])()
        supported = kernels_run_on(major, minor, listed)
        rows.append(
            Check(
                f"gpu {i}",
                OK if supported else FAIL,
                f"{torch.cuda.get_device_name(i)}, {arch}, "
                f"{torch.cuda.get_device_properties(i).total_memory / 2**30:.1f} GiB"
                + ("" if supported else f"; torch has kernels for {', '.join(listed)} only"),
            )
        )
    driver = gpu.driver_version if gpu is not None and gpu.driver_version else "unknown (no NVML)"
    rows.insert(0, Check("cuda", OK, f"runtime {built}, driver {driver}, {count} device(s)"))
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    rows.append(Check("cudnn", OK if cudnn else WARN, str(cudnn) if cudnn else "not available to torch"))
    return rows


def kernels_run_on(major: int, minor: int, arch_list: list[str]) -> bool:
    """Whether a torch built for `arch_list` has kernels for a GPU of compute capability major.minor.

    Machine code for sm_XY runs on any sm_XZ with Z >= Y (same major): torch cu130 ships sm_86, not
    sm_89, and that is how an RTX 4090 (sm_89) runs it. PTX (compute_XY) is compiled at load time
    for any newer GPU.
    """
    if not arch_list:
        return True  # torch does not say; the fp16 check will find out
    for arch in arch_list:
        m = re.fullmatch(r"(sm|compute)_(\d+?)(\d)a?", arch)
        if m is None:
            continue
        a_major, a_minor = int(m.group(2)), int(m.group(3))
        if m.group(1) == "sm" and a_major == major and a_minor <= minor:
            return True
        if m.group(1) == "compute" and (a_major, a_minor) <= (major, minor):
            return True
    return False


def check_fp16(torch: Any, device: str) -> Check:
    """A small convolution under fp16 autocast on the GPU agrees with fp32."""
    try:
        dev = torch.device("cuda" if device in ("auto", "") else device)
        torch.manual_seed(0)
        conv = torch.nn.Conv2d(3, 8, 3, padding=1).to(dev).eval()
        x = torch.rand(1, 3, 64, 64, device=dev)
        with torch.no_grad():
            ref = conv(x)
            with torch.autocast("cuda", dtype=torch.float16):
                half = conv(x)
        err = float((half.float() - ref).abs().max())
        if half.dtype != torch.float16 or err > 1e-2:
            return Check("fp16", FAIL, f"autocast gave {half.dtype}, max error {err:.2e} against fp32")
        return Check("fp16", OK, f"autocast conv on {dev}: max error {err:.1e} against fp32")
    except Exception as err:  # a broken driver or an unsupported device: that is the answer
        return Check("fp16", FAIL, f"{type(err).__name__}: {err}")


def check_ros() -> list[Check]:
    """ROS distro, rclpy, the RMW implementation, the discovery range."""
    rows = []
    distro = os.environ.get("ROS_DISTRO", "")
    try:
        import rclpy  # noqa: F401
        from rclpy.utilities import get_rmw_implementation_identifier
    except ImportError as err:
        return [Check("rclpy", FAIL, f"not importable ({err}): install ROS 2 or the ros-kilted-* wheels")]
    where = "apt (/opt/ros)" if "/opt/ros/" in (sys.modules["rclpy"].__file__ or "") else "PyPI wheels"
    rows.append(
        Check(
            "ros distro",
            OK if distro else WARN,
            (distro or "ROS_DISTRO unset (no setup.bash sourced)") + f"; rclpy from {where}",
        )
    )
    try:
        rmw = get_rmw_implementation_identifier()
    except Exception as err:
        rows.append(Check("rmw", FAIL, f"{type(err).__name__}: {err}"))
    else:
        rows.append(Check("rmw", OK, rmw + (" (RMW_IMPLEMENTATION)" if os.environ.get("RMW_IMPLEMENTATION") else "")))
    scope = os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "")
    domain = os.environ.get("ROS_DOMAIN_ID", "0")
    detail = f"ROS_AUTOMATIC_DISCOVERY_RANGE={scope or 'unset (SUBNET)'}, ROS_DOMAIN_ID={domain}"
    rows.append(
        Check(
            "discovery",
            OK if scope == "LOCALHOST" else WARN,
            detail + ("" if scope == "LOCALHOST" else "; reaches the network"),
        )
    )
    return rows


def _installed(module: str) -> bool:
    """A real module or package, not a namespace package made of a same-named folder (this repo's launch/)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin not in (None, "namespace")


def check_optional() -> list[Check]:
    """The ROS-only and accelerator parts that are used where present."""
    rows = []
    for label, module, what in OPTIONAL_MODULES:
        found = _installed(module)
        if found and module == "cv_bridge":
            # apt's cv_bridge is compiled against the distribution's numpy 1.x; under pip's numpy 2 it
            # is present but does not load (the package then converts images itself).
            try:
                importlib.import_module("cv_bridge").CvBridge()
            except Exception as err:
                rows.append(
                    Check(label, WARN, f"present but does not load ({type(err).__name__}: {err}); numpy path used")
                )
                continue
        rows.append(Check(label, OK if found else MISSING, what if found else f"absent ({what})"))
    try:
        import onnxruntime

        providers = ", ".join(onnxruntime.get_available_providers())
        rows.append(Check("onnxruntime", OK, f"{onnxruntime.__version__}: {providers}"))
    except ImportError:
        rows.append(Check("onnxruntime", MISSING, "absent (the onnxruntime backend)"))
    return rows


def check_models(models_dir: str = "") -> list[Check]:
    """Every shipped weights file against the SHA-256 of its model card."""
    if models_dir:
        folder = Path(models_dir)
    else:  # where the segmentation node finds the shipped model
        from robot_vision_nav.package_files import DEFAULT_MODEL, PackageFileError, package_file

        try:
            folder = package_file("models", DEFAULT_MODEL).parent
        except PackageFileError as err:
            return [Check("models", FAIL, str(err))]
    weights = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not weights:
        return [Check("models", FAIL, f"no *.safetensors in {folder}")]
    return check_models_files(weights)


def check_models_files(weights: list[Path]) -> list[Check]:
    """Each weights file against the SHA-256 of its card."""
    try:
        from robot_vision_nav.core.segmentation.inference import SegmenterError, read_card, sha256_of
    except Exception as err:  # torch missing or broken: the torch row says why
        return [Check(f"model {p.name}", FAIL, f"cannot check without torch: {err}") for p in weights]
    rows = []
    for path in weights:
        try:
            card = read_card(path)
        except (SegmenterError, OSError) as err:
            rows.append(Check(f"model {path.name}", FAIL, f"card unreadable: {err}"))
            continue
        digest = sha256_of(path)
        if card.sha256 and digest != card.sha256:
            rows.append(
                Check(
                    f"model {path.name}", FAIL, f"sha256 {digest[:12]}... differs from the card's {card.sha256[:12]}..."
                )
            )
        else:
            rows.append(
                Check(
                    f"model {path.name}",
                    OK if card.sha256 else WARN,
                    f"{card.architecture.name}, {card.labels.name} labels, sha256 {digest[:12]}..."
                    + ("" if card.sha256 else " (card has no checksum)"),
                )
            )
    return rows


def configured_segmentation(params_file: str, namespace: str | None = None) -> tuple[dict[str, Any], Check]:
    """The segmentation node's parameters in the params file, with a row for the file itself.

    The file is checked and read as the stack in `namespace` (None: $RVN_NAMESPACE, else none)
    will apply it (`ros.bringup.file_parameters`): every section that applies to the node (its own,
    `segmentation_node` or `/NS/segmentation_node`, and wildcards) in file order, a later one
    overriding an earlier one.
    """
    import yaml

    from robot_vision_nav.package_files import PackageFileError, package_file
    from robot_vision_nav.ros.bringup import BringupError, check_params_file, file_parameters

    ns = os.environ.get("RVN_NAMESPACE", "") if namespace is None else namespace
    try:
        path = Path(params_file) if params_file else package_file("config", "robot_vision_nav.yaml")
        check_params_file(path, namespace=ns)
        data = yaml.safe_load(path.read_text()) or {}
    except (BringupError, PackageFileError, OSError, yaml.YAMLError) as err:
        return {}, Check("params", FAIL, str(err))
    params = file_parameters(data, "segmentation_node", ns)
    where = f" (namespace /{ns.strip('/')})" if ns.strip("/") else ""
    return params, Check("params", OK, f"{path}{where}: segmentation device {params.get('device', 'auto')!r}")


def stack_settings(params_file: str = "", device: str = "", model: str = "") -> tuple[str, str, Check]:
    """The segmentation device and model the stack runs with, and the params file's row.

    Each is the argument, else what compose hands the stack ($RVN_PARAMS_FILE, $RVN_DEVICE,
    $RVN_MODEL), else the params file's value.
    """
    segmentation, params_row = configured_segmentation(params_file or os.environ.get("RVN_PARAMS_FILE", ""))
    device = device or os.environ.get("RVN_DEVICE", "") or str(segmentation.get("device", "auto"))
    model = model or os.environ.get("RVN_MODEL", "") or str(segmentation.get("model_path", ""))
    return device, model, params_row


def check_configured_model(model_path: str) -> Check:
    """The weights the configuration names (model_path, --model) exist and match their card."""
    from robot_vision_nav.package_files import DEFAULT_MODEL, PackageFileError, package_file

    try:
        path = Path(model_path).expanduser() if model_path else package_file("models", DEFAULT_MODEL)
    except PackageFileError as err:
        return Check("configured model", FAIL, str(err))
    rows = check_models_files([path]) if path.is_file() else [Check("configured model", FAIL, f"{path}: no such file")]
    row = rows[0]
    return Check("configured model", row.status, f"{path}: {row.detail}")


def run_checks(options: DoctorOptions, progress: Callable[[str], None] | None = None) -> list[Check]:
    """Every check, in table order."""
    from robot_vision_nav.gpu_monitor import GpuMonitor

    rows = [check_python()]
    device, model_path, params_row = stack_settings(options.params_file, options.device, options.model)
    needs_cuda = device.startswith("cuda")
    uses_gpu = needs_cuda or device == "auto"
    torch_row, torch = check_torch()
    rows.append(torch_row)
    gpu = GpuMonitor()
    try:
        cuda_rows = _guarded("cuda", lambda: check_cuda(torch, needs_cuda, gpu))
        if not uses_gpu:  # device: cpu: a GPU torch cannot use is worth knowing, not a failure
            cuda_rows = [Check(r.name, WARN, r.detail) if r.status == FAIL else r for r in cuda_rows]
        rows += cuda_rows
        cuda_ok = torch is not None and torch.cuda.is_available()
        if cuda_ok and not options.quick:
            rows.append(check_fp16(torch, device if needs_cuda else "cuda"))
        elif not cuda_ok:
            rows.append(
                Check("fp16", FAIL if needs_cuda else MISSING, "no CUDA device (fp16 autocast runs on CUDA only)")
            )
        rows.append(
            Check(
                "nvml",
                OK if gpu.available else MISSING,
                (gpu.driver_version and f"driver {gpu.driver_version}") or gpu.reason,
            )
        )
    finally:
        gpu.close()
    rows += _guarded("ros", check_ros)
    rows += _guarded("optional", check_optional)
    rows += _guarded("models", lambda: check_models(options.models_dir))
    rows.append(params_row)
    rows.append(check_configured_model(model_path))
    if device == "auto":
        rows.append(
            Check(
                "device",
                OK,
                "auto: " + ("CUDA" if torch is not None and torch.cuda.is_available() else "CPU (no CUDA device)"),
            )
        )
    else:
        rows.append(Check("device", OK, device))
    return rows


def _guarded(name: str, check: Callable[[], list[Check]]) -> list[Check]:
    """A check that raised is a FAIL row naming the exception, never a traceback instead of the table."""
    try:
        return check()
    except Exception as err:
        return [Check(name, FAIL, f"the check itself failed: {type(err).__name__}: {err}")]


def format_table(rows: list[Check]) -> str:
    """The human table."""
    width = max(len(r.name) for r in rows)
    lines = [f"{'check':<{width}}  {'status':<7}  detail", f"{'-' * width}  {'-' * 7}  {'-' * 40}"]
    lines += [f"{r.name:<{width}}  {r.status:<7}  {r.detail}" for r in rows]
    failed = [r.name for r in rows if r.status == FAIL]
    lines.append(f"FAIL: {', '.join(failed)}" if failed else "all required parts present")
    return "\n".join(lines)

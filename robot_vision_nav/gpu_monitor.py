"""GPU utilisation, memory and temperature through NVML (`nvidia-ml-py`), where a driver exists.

What `nvidia-smi --query-gpu=utilization.gpu,memory.used,temperature.gpu` prints, read in-process:
the segmentation node puts it in its /diagnostics and `rvn monitor` shows it live. Without the
package or the driver (a CPU machine, a container started without `--gpus`) `GpuMonitor.available`
is False and `reason` says why; nothing here raises for a missing GPU, and nothing imports ROS.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class GpuStats:
    """One reading of one GPU."""

    index: int
    name: str
    utilization_pct: float  # of the last sample period (NVML: 1/6 s to 1 s, by product)
    memory_used_mb: float
    memory_total_mb: float
    temperature_c: float
    power_w: float  # nan where the board does not report it
    uuid: str = ""  # NVML's "GPU-..." identifier: how a CUDA device is matched (indices differ)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (strict JSON: a missing power reading is null, not NaN)."""
        out = asdict(self)
        out["power_w"] = None if self.power_w != self.power_w else self.power_w
        return out

    def as_diagnostics(self) -> dict[str, str]:
        """Key/values for a diagnostic_msgs/KeyValue list."""
        return {
            "gpu_name": self.name,
            "gpu_utilization_pct": f"{self.utilization_pct:.0f}",
            "gpu_memory_used_mb": f"{self.memory_used_mb:.0f}",
            "gpu_memory_total_mb": f"{self.memory_total_mb:.0f}",
            "gpu_temperature_c": f"{self.temperature_c:.0f}",
        }


class GpuMonitor:
    """NVML for the GPUs of this machine; `read()` gives one `GpuStats` per GPU (none without NVML)."""

    def __init__(self) -> None:
        self.available = False
        self.reason = ""
        self.driver_version = ""
        self._nvml: Any = None
        self._handles: list[Any] = []
        try:
            import pynvml
        except ImportError:
            self.reason = "nvidia-ml-py is not installed"
            return
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as err:  # no driver (libnvidia-ml.so missing) or no device
            self.reason = f"NVML unavailable: {err}"
            return
        self._nvml = pynvml
        try:
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self.driver_version = _text(pynvml.nvmlSystemGetDriverVersion())
        except pynvml.NVMLError as err:
            self.reason = f"NVML: {err}"
            self.close()
            return
        if not self._handles:
            self.reason = "NVML sees no GPU"
            self.close()
            return
        self.available = True

    def read(self) -> list[GpuStats]:
        """One reading per GPU; an empty list when NVML is unavailable or a reading fails."""
        if not self.available:
            return []
        nvml = self._nvml
        out = []
        try:
            for i, handle in enumerate(self._handles):
                util = nvml.nvmlDeviceGetUtilizationRates(handle)
                mem = nvml.nvmlDeviceGetMemoryInfo(handle)
                temp = nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)
                try:
                    power = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
                except nvml.NVMLError:
                    power = float("nan")
                try:
                    uuid = _text(nvml.nvmlDeviceGetUUID(handle))
                except nvml.NVMLError:
                    uuid = ""
                out.append(
                    GpuStats(
                        uuid=uuid,
                        index=i,
                        name=_text(nvml.nvmlDeviceGetName(handle)),
                        utilization_pct=float(util.gpu),
                        memory_used_mb=mem.used / 2**20,
                        memory_total_mb=mem.total / 2**20,
                        temperature_c=float(temp),
                        power_w=power,
                    )
                )
        except nvml.NVMLError as err:  # a GPU fell off the bus: report, do not crash the caller
            self.reason = f"NVML read failed: {err}"
            return []
        return out

    def close(self) -> None:
        """Release NVML (idempotent)."""
        if self._nvml is not None:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
            self._nvml = None
        self.available = False


def find_stats(readings: list[GpuStats], cuda_uuid: str, cuda_index: int) -> GpuStats | None:
    """The reading of the GPU torch calls `cuda_index`: by UUID, by index only without one.

    CUDA orders devices fastest first and CUDA_VISIBLE_DEVICES renumbers them; NVML counts in PCI order.
    """
    if cuda_uuid:
        want = cuda_uuid.removeprefix("GPU-").lower()
        for stats in readings:
            if stats.uuid.removeprefix("GPU-").lower() == want:
                return stats
        return None
    return next((s for s in readings if s.index == cuda_index), None)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

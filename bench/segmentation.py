"""bench/segmentation: every SegNet variant through our inference engine against torchvision's segmentation models.

What is measured, for each model at 240x320, 360x480 and 480x640, batch 1:
- network: the engine's own network call, `Segmenter.logits(x)` on an already preprocessed tensor (inference
  mode, batch norm folded, channels_last; fp16 autocast on CUDA). This is `ours_ms` / `peer_ms`, and the
  speedup = peer_ms / ours_ms compares the models.
- engine: `Segmenter.segment(rgb)` on a uint8 HxWx3 camera image, the call the segmentation node pays:
  host-to-device copy, uint8 -> normalised float, network, soft-max, class ids and confidence, the drivable
  mask, back to numpy (`ours_engine_ms` / `peer_engine_ms`). The camera image has the network's size, so no
  resize is timed.
- FLOPs: `torch.utils.flop_counter.FlopCounterMode` on one forward pass at batch 1 (run on the meta device, so
  counting costs no arithmetic). It counts convolutions and matrix products only, a multiply-add as 2 FLOPs;
  batch norm (folded away anyway), ReLU, pooling, unpooling, interpolation and soft-max are not counted.
  `*_gflops_per_s` = counted FLOPs / network time.

Weights are random (He initialisation; timing does not depend on the values). Every model has 11 classes (the
CamVid label set), and the engine is built from the in-memory model and a ModelCard, as `Segmenter.from_file`
would after loading.

Peers: torchvision's `lraspp_mobilenet_v3_large` (cheap), `deeplabv3_mobilenet_v3_large` (cheap) and
`fcn_resnet50` (about full SegNet's cost), built with `weights=None, weights_backbone=None` (nothing is
downloaded), `num_classes=11`, no auxiliary head, eval mode. Fairness: each peer runs through the very same
engine (a wrapper returns its `"out"` logits), so it gets exactly our treatment: batch norm folded into the
convolutions, channels_last, inference mode, the same threads (all cores, `torch.set_num_threads`), the same
fp16 autocast on CUDA, and the same pre- and post-processing in the engine rows. Same process, same input.

On CUDA (`--device cuda`, or `auto` where a GPU is present) the matrix above runs in fp16 (the engine's CUDA
default), and a second section times full `segnet` at 480x640: fp32 vs fp16 autocast (both channels_last,
cuDNN benchmark on), eager vs `torch.compile` (the engine's `compile: true`, i.e. mode
max-autotune-no-cudagraphs; a failure becomes a note), batch 1 latency and batch 8 throughput (images/s),
achieved TFLOP/s and, for known cards, the fraction of the dense fp16 tensor peak. The peers there run eager
only (compiling three more models would not fit a device check). "fp32" convolutions on Ampere and later use
TF32 when `torch.backends.cudnn.allow_tf32` is on (torch's default; the notes say which). Times are taken with
`torch.cuda.synchronize()` after every call around `perf_counter`, after warm-up. The notes check the issue's
targets: fp16 batch 8 at >= 35 % of the dense fp16 peak, batch-1 latency < 3 ms, engine call on a 480x640
uint8 image < 8 ms.

Caveats: CPU numbers are only meaningful on an otherwise idle machine (the load average is in the notes). Each
measurement repeats until about 3 s (CPU) or 0.5 s (CUDA) have been spent, at least 3 times, so the heaviest
CPU cases (full SegNet, its ResNet-50 variant and FCN-ResNet50 at 480x640, ~1-2 s a frame on 2 cores) have
few samples.

Run: `python -m bench.segmentation [--json] [--quick] [--device auto|cpu|cuda] [--no-compile] [--no-matrix]`
(or `rvn bench segmentation`). `--quick` times segnet_tiny and lraspp at 120x160 only, twice (a smoke test);
`--no-matrix` runs only the CUDA section. Progress goes to stderr, one line per measurement. On a GPU machine,
bench/cuda_checks.sh runs it together with the CUDA tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torchvision
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from bench.common import machine, print_table, row, summary, time_call
from robot_vision_nav.core.segmentation.inference import ModelCard, Segmenter, SegmenterConfig
from robot_vision_nav.core.segmentation.labels import LabelSet
from robot_vision_nav.core.segmentation.model import VARIANTS, build_model, variant
from robot_vision_nav.package_files import load_label_set

NAME = "segmentation"
LABEL_SET = "camvid"  # 11 classes
SEED = 20240613
OURS = tuple(VARIANTS)
PEERS = {  # our short name -> torchvision.models.segmentation builder
    "lraspp_mbv3": "lraspp_mobilenet_v3_large",
    "deeplabv3_mbv3": "deeplabv3_mobilenet_v3_large",
    "fcn_resnet50": "fcn_resnet50",
}
SIZES = ((240, 320), (360, 480), (480, 640))
QUICK_OURS, QUICK_PEERS, QUICK_SIZE = ("segnet_tiny",), ("lraspp_mbv3",), (120, 160)

# The CUDA section: the targets are for full SegNet at 480x640.
GPU_MODEL, GPU_SIZE, GPU_BATCH = "segnet", (480, 640), 8
TARGET_PEAK_FRACTION = 0.35  # fp16, batch 8, of the dense fp16 tensor peak
TARGET_B1_MS = 3.0  # fp16 network latency, batch 1
TARGET_ENGINE_MS = 8.0  # Segmenter.segment on a 480x640 uint8 image, conversions included
# Dense (no sparsity) fp16 tensor-core peaks in TFLOP/s, first match on torch.cuda.get_device_name() wins.
DENSE_FP16_PEAKS: tuple[tuple[str, float, str], ...] = (
    ("H100 PCIe", 756.0, "H100 PCIe dense fp16 tensor peak"),
    ("H100 NVL", 835.0, "H100 NVL dense fp16 tensor peak"),
    ("H100", 989.0, "H100 SXM dense fp16 tensor peak"),
    ("H200", 989.0, "H200 dense fp16 tensor peak"),
    ("A100", 312.0, "A100 dense fp16 tensor peak"),
    ("RTX 4090", 165.2, "RTX 4090 dense fp16 tensor peak with fp32 accumulate (330 with fp16 accumulate)"),
)
FLOP_NOTE = (
    "FLOPs: torch.utils.flop_counter.FlopCounterMode, one forward pass at batch 1, convolutions and matrix "
    "products only, a multiply-add counted as 2 FLOPs (GFLOPs = counted / 1e9)"
)


# ------------------------------------------------------------------------------------------ plan
@dataclass(frozen=True)
class GpuCase:
    """One configuration of the CUDA section: precision, eager or compiled, batch size."""

    precision: str  # "fp32" | "fp16" (autocast)
    compiled: bool
    batch: int

    @property
    def label(self) -> str:
        return f"{self.precision} b{self.batch}{' compiled' if self.compiled else ''}"


@dataclass(frozen=True)
class Plan:
    """What a run measures on a device kind; `make_plan` chooses it, a test can inspect it without a GPU."""

    device: str  # "cpu" | "cuda"
    ours: tuple[str, ...]
    peers: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]
    precision: str  # of the matrix: the engine's default on the device
    budget_s: float  # time spent per measurement (at least min_repeats calls)
    min_repeats: int
    max_repeats: int
    warmup: int
    gpu_model: str = GPU_MODEL
    gpu_size: tuple[int, int] = GPU_SIZE
    gpu_cases: tuple[GpuCase, ...] = ()


def make_plan(device: str, quick: bool = False, compile: bool = True) -> Plan:
    """The measurements for a device kind ("cpu" or "cuda"); the CUDA section exists on CUDA only."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device kind {device!r} is not cpu or cuda")
    ours, peers, sizes = (QUICK_OURS, QUICK_PEERS, (QUICK_SIZE,)) if quick else (OURS, tuple(PEERS), SIZES)
    if device == "cpu":
        if quick:
            return Plan("cpu", ours, peers, sizes, "fp32", 0.0, 2, 2, 2)
        return Plan("cpu", ours, peers, sizes, "fp32", 3.0, 3, 30, 1)
    gpu_model, gpu_size, batch = (QUICK_OURS[0], QUICK_SIZE, 2) if quick else (GPU_MODEL, GPU_SIZE, GPU_BATCH)
    cases = [GpuCase(p, False, b) for p in ("fp32", "fp16") for b in (1, batch)]
    if compile and not quick:
        cases += [GpuCase("fp16", True, b) for b in (1, batch)]
    if quick:
        return Plan("cuda", ours, peers, sizes, "fp16", 0.0, 3, 3, 3, gpu_model, gpu_size, tuple(cases))
    return Plan("cuda", ours, peers, sizes, "fp16", 0.5, 20, 500, 10, gpu_model, gpu_size, tuple(cases))


# ---------------------------------------------------------------------------------------- models
class OutputOf(nn.Module):
    """A torchvision segmentation model returning its `"out"` logits, so the engine can run it like ours."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.model(x)["out"]
        return out


def build(name: str, num_classes: int) -> nn.Module:
    """A randomly initialised network by name: one of our VARIANTS or a PEERS key."""
    if name in VARIANTS:
        return build_model(variant(name, num_classes)).eval()
    builder = getattr(torchvision.models.segmentation, PEERS[name])
    # weights=None and weights_backbone=None: never download; aux_loss defaults to off without weights.
    return OutputOf(builder(weights=None, weights_backbone=None, num_classes=num_classes)).eval()


def count_flops(name: str, num_classes: int, height: int, width: int, batch: int = 1) -> int:
    """FLOPs of one forward pass (multiply-add = 2), counted on the meta device (no arithmetic is done)."""
    try:
        with torch.device("meta"):
            net = build(name, num_classes)
            x = torch.empty(batch, 3, height, width)
    except (NotImplementedError, RuntimeError):  # an op without a meta kernel: count on the CPU instead
        net, x = build(name, num_classes), torch.zeros(batch, 3, height, width)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(x)
    return int(counter.get_total_flops())


def engine(net: nn.Module, name: str, labels: LabelSet, size: tuple[int, int], device: torch.device,
           threads: int, precision: str, compiled: bool = False) -> Segmenter:  # fmt: skip
    """Our inference engine around `net` (ours or a wrapped peer) at `size`, with no warm-up of its own."""
    # The engine reads the labels, the input size and the normalisation from the card; the architecture is
    # only recorded, so a peer carries the SegNet one as a placeholder.
    arch = variant(name if name in VARIANTS else "segnet", labels.num_classes)
    card = ModelCard(arch, labels, size[0], size[1])
    config = SegmenterConfig(
        device=str(device), threads=threads if device.type == "cpu" else 0, fp16=precision == "fp16",
        channels_last=True, compile=compiled, warmup_iterations=0,
    )  # fmt: skip
    return Segmenter(net, card, config)  # type: ignore[arg-type]  # any nn.Module with (N,3,H,W) -> logits


# ---------------------------------------------------------------------------------------- timing
def synchronizer(device: torch.device) -> Callable[[], None]:
    """What to call after each timed call: wait for the GPU on CUDA, nothing on the CPU."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def measure(fn: Callable[[], object], device: torch.device, plan: Plan, warmup: int | None = None) -> list[float]:
    """Times (ms) of `fn` after `warmup` (default `plan.warmup`) calls: repeated until `plan.budget_s` is spent,
    between `plan.min_repeats` and `plan.max_repeats` times.

    The first timed call also sets the number of repeats, so a 2 s call is not run once more just to
    estimate it.
    """
    sync = synchronizer(device)

    def call() -> None:
        fn()
        sync()

    for _ in range(plan.warmup if warmup is None else warmup):
        call()
    sync()
    start = time.perf_counter()
    call()
    first_ms = (time.perf_counter() - start) * 1e3
    wanted = math.ceil(plan.budget_s / max(first_ms / 1e3, 1e-6))
    repeats = min(plan.max_repeats, max(plan.min_repeats, wanted))
    return [first_ms] + (time_call(call, repeats - 1, warmup=0) if repeats > 1 else [])


@dataclass
class Measured:
    """One model at one size: network and engine times (ms) and FLOPs per image."""

    name: str
    kind: str  # "ours" | "peer"
    size: tuple[int, int]
    flops: int
    net_ms: list[float]
    engine_ms: list[float] = field(default_factory=list)
    batch: int = 1
    precision: str = "fp32"
    compiled: bool = False
    section: str = "matrix"  # "matrix" (every model and size) | "cuda" (the CUDA section)

    @property
    def label(self) -> str:
        """`segnet 480x640`, with the precision where it is not fp32 and, in the CUDA section, the rest."""
        label = f"{self.name} {self.size[0]}x{self.size[1]}"
        if self.section == "cuda":
            return label + f" {self.precision} b{self.batch} {'compiled' if self.compiled else 'eager'}"
        return label + ("" if self.precision == "fp32" else f" {self.precision}")

    def gflops_per_s(self) -> float:
        return self.flops * self.batch / (summary(self.net_ms)["median"] / 1e3) / 1e9

    def to_dict(self) -> dict[str, Any]:
        net = summary(self.net_ms)["median"]
        out = {
            "model": self.name, "kind": self.kind, "section": self.section,
            "height": self.size[0], "width": self.size[1], "batch": self.batch, "precision": self.precision,
            "compiled": self.compiled,
            "net_ms": round(net, 4), "gflops": round(self.flops / 1e9, 4),
            "gflops_per_s": round(self.gflops_per_s(), 3), "images_per_s": round(self.batch * 1e3 / net, 3),
            "repeats": len(self.net_ms),
        }  # fmt: skip
        if self.engine_ms:
            out["engine_ms"] = round(summary(self.engine_ms)["median"], 4)
        return out


def random_image(size: tuple[int, int], seed: int = SEED) -> np.ndarray:
    """A uint8 HxWx3 RGB image of noise (the engine's work does not depend on the pixels)."""
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def measure_engine(seg: Segmenter, name: str, kind: str, flops: int, device: torch.device, plan: Plan,
                   precision: str, batch: int = 1) -> Measured:  # fmt: skip
    """Time the network call on a preprocessed batch and, at batch 1, the whole engine call on a uint8 image.

    `precision` is what was asked for (on the CPU the engine runs fp16 requests in fp32).
    """
    rgb = random_image(seg.input_size)
    if batch == 1:  # check the shapes once (and compile, with compile on: only for the batch that is timed)
        result = seg.segment(rgb)
        if result.labels.shape != rgb.shape[:2]:
            raise RuntimeError(f"{name}: engine gave labels of shape {result.labels.shape} for a {rgb.shape} image")
    with torch.inference_mode():
        x = seg.preprocess(torch.from_numpy(rgb).to(seg.device))
        x = x.expand(batch, -1, -1, -1).contiguous(memory_format=torch.channels_last)
    net_ms = measure(lambda: seg.logits(x), device, plan)
    # At batch 1 the shape check above was one warm-up call of the engine already.
    engine_ms = measure(lambda: seg.segment(rgb), device, plan, max(0, plan.warmup - 1)) if batch == 1 else []
    return Measured(name, kind, seg.input_size, flops, net_ms, engine_ms, batch, precision, seg.config.compile)


# ------------------------------------------------------------------------------------------- run
def cores() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def measure_matrix(plan: Plan, device: torch.device, labels: LabelSet, threads: int,
                   log: Callable[[Measured], None]) -> list[Measured]:  # fmt: skip
    """Every model of the plan at every size, batch 1, in the plan's precision."""
    out: list[Measured] = []
    for name in (plan.ours + plan.peers) if plan.sizes else ():
        torch.manual_seed(SEED)
        net = build(name, labels.num_classes)
        kind = "ours" if name in VARIANTS else "peer"
        for size in plan.sizes:
            flops = count_flops(name, labels.num_classes, *size)
            seg = engine(net, name, labels, size, device, threads, plan.precision)
            out.append(measure_engine(seg, name, kind, flops, device, plan, plan.precision))
            log(out[-1])
        del net
    return out


def matrix_rows(measured: list[Measured]) -> list[dict[str, Any]]:
    """One row per (our variant, size, peer): network times as ours_ms / peer_ms, engine times beside."""
    rows = []
    for m in measured:
        if m.kind != "ours":
            continue
        for p in measured:
            if p.kind != "peer" or p.size != m.size or (p.precision, p.batch) != (m.precision, m.batch):
                continue
            rows.append(pair_row(m, p))
    return rows


def pair_row(m: Measured, p: Measured) -> dict[str, Any]:
    """A bench row for ours `m` against peer `p` (same size, batch and precision)."""
    extra: dict[str, Any] = {
        "height": m.size[0], "width": m.size[1], "batch": m.batch, "precision": m.precision,
        "compiled": m.compiled, "peer_compiled": p.compiled,
        "ours_gflops": round(m.flops / 1e9, 4), "peer_gflops": round(p.flops / 1e9, 4),
        "ours_gflops_per_s": round(m.gflops_per_s(), 3), "peer_gflops_per_s": round(p.gflops_per_s(), 3),
        "ours_images_per_s": round(m.batch * 1e3 / summary(m.net_ms)["median"], 3),
        "peer_images_per_s": round(p.batch * 1e3 / summary(p.net_ms)["median"], 3),
    }  # fmt: skip
    if m.engine_ms and p.engine_ms:
        ours_e, peer_e = summary(m.engine_ms)["median"], summary(p.engine_ms)["median"]
        extra.update(ours_engine_ms=round(ours_e, 4), peer_engine_ms=round(peer_e, 4),
                     engine_speedup=round(peer_e / ours_e, 4))  # fmt: skip
    peer = p.name + (" (compiled)" if p.compiled else "")
    return row(m.label, m.net_ms, peer, p.net_ms, section=m.section, **extra)


def measure_gpu(plan: Plan, device: torch.device, labels: LabelSet, threads: int, notes: list[str],
                log: Callable[[Measured], None]) -> list[Measured]:  # fmt: skip
    """The CUDA section: `plan.gpu_model` at `plan.gpu_size` in every GpuCase, the peers eager beside it.

    Runs on any device (a test runs it on the CPU, where the engine ignores fp16); a case whose
    torch.compile fails is skipped with a note.
    """
    size, k = plan.gpu_size, labels.num_classes
    out: list[Measured] = []
    for name in (plan.gpu_model, *plan.peers):
        flops = count_flops(name, k, *size)
        torch.manual_seed(SEED)
        net = build(name, k)
        kind = "ours" if name in VARIANTS else "peer"
        for case in plan.gpu_cases:
            if kind == "peer" and case.compiled:
                continue  # peers run eager only
            dynamo = sys.modules.get("torch._dynamo")  # imported by the first torch.compile, not before
            if case.compiled and dynamo is not None:
                dynamo.reset()  # a fresh compile per case: no recompilation with a dynamic batch
            start = time.perf_counter()
            try:
                seg = engine(net, name, labels, size, device, threads, case.precision, case.compiled)
                measured = measure_engine(seg, name, kind, flops, device, plan, case.precision, case.batch)
            except Exception as err:
                if not case.compiled:
                    raise
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                notes.append(f"torch.compile failed for {name} {case.label}: {type(err).__name__}: {first[:300]}")
                continue
            if case.compiled:
                took = time.perf_counter() - start
                notes.append(f"{name} {case.label}: compile, warm-up and timing took {took:.0f} s")
            out.append(replace(measured, section="cuda"))
            log(out[-1])
            del seg
        del net
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def gpu_rows(measured: list[Measured]) -> list[dict[str, Any]]:
    """Rows of the CUDA section: ours in each case against each peer eager at the same precision and batch."""
    rows = []
    for m in (m for m in measured if m.kind == "ours"):
        for p in measured:
            if p.kind == "peer" and (p.precision, p.batch) == (m.precision, m.batch) and not p.compiled:
                rows.append(pair_row(m, p))
    return rows


def dense_fp16_peak(device_name: str) -> tuple[float, str] | None:
    """The dense fp16 tensor peak (TFLOP/s) and what it is, for a known card name; None otherwise."""
    for key, tflops, what in DENSE_FP16_PEAKS:
        if key in device_name:
            return tflops, what
    return None


def check_targets(measured: list[Measured], device_name: str, model: str = GPU_MODEL,
                  size: tuple[int, int] = GPU_SIZE) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """The issue's CUDA targets against the CUDA section's measurements: a dict for the JSON and notes.

    A target is judged on the best (eager or compiled) fp16 measurement of `model` at `size`; `pass` is None
    where it cannot be judged (no such measurement, or an unknown card for the peak fraction).
    """
    ours = [m for m in measured if m.kind == "ours" and m.name == model and m.size == size and m.precision == "fp16"]
    b8 = [m for m in ours if m.batch == GPU_BATCH]
    b1 = [m for m in ours if m.batch == 1]
    targets: dict[str, Any] = {}
    notes: list[str] = []
    peak = dense_fp16_peak(device_name)
    best8 = max(b8, key=lambda m: m.gflops_per_s(), default=None)
    entry: dict[str, Any] = {"target": TARGET_PEAK_FRACTION, "pass": None}
    if best8 is not None:
        tflops = best8.gflops_per_s() / 1e3
        entry.update(tflops_per_s=round(tflops, 3), compiled=best8.compiled)
        if peak is not None:
            fraction = tflops / peak[0]
            entry.update(peak_tflops=peak[0], peak=peak[1], fraction=round(fraction, 4),
                         **{"pass": fraction >= TARGET_PEAK_FRACTION})  # fmt: skip
    targets["fp16_b8_peak_fraction"] = entry
    best1 = min(b1, key=lambda m: summary(m.net_ms)["median"], default=None)
    entry = {"target_ms": TARGET_B1_MS, "pass": None}
    if best1 is not None:
        ms = summary(best1.net_ms)["median"]
        entry.update(ms=round(ms, 4), compiled=best1.compiled, **{"pass": ms < TARGET_B1_MS})
    targets["fp16_b1_latency"] = entry
    with_engine = [m for m in b1 if m.engine_ms]
    best_e = min(with_engine, key=lambda m: summary(m.engine_ms)["median"], default=None)
    entry = {"target_ms": TARGET_ENGINE_MS, "pass": None}
    if best_e is not None:
        ms = summary(best_e.engine_ms)["median"]
        entry.update(ms=round(ms, 4), compiled=best_e.compiled, **{"pass": ms < TARGET_ENGINE_MS})
    targets["engine_480x640"] = entry

    def verdict(e: dict[str, Any]) -> str:
        return "n/a" if e["pass"] is None else ("PASS" if e["pass"] else "FAIL")

    def how(e: dict[str, Any]) -> str:
        return "compiled" if e.get("compiled") else "eager"

    where = f"{model} {size[0]}x{size[1]}"
    e = targets["fp16_b8_peak_fraction"]
    if "fraction" in e:
        notes.append(f"target: {where} fp16 batch {GPU_BATCH} >= {TARGET_PEAK_FRACTION:.0%} of dense fp16 peak: "
                     f"{e['tflops_per_s']:.1f} TFLOP/s ({how(e)}) = {e['fraction']:.1%} of {e['peak_tflops']:.0f} "
                     f"TFLOP/s ({e['peak']}) -> {verdict(e)}")  # fmt: skip
    elif "tflops_per_s" in e:
        notes.append(f"target: {where} fp16 batch {GPU_BATCH} >= {TARGET_PEAK_FRACTION:.0%} of dense fp16 peak: "
                     f"{e['tflops_per_s']:.1f} TFLOP/s, but card {device_name!r} has no known peak -> n/a")  # fmt: skip
    else:
        notes.append(f"target: {where} fp16 batch {GPU_BATCH} peak fraction: not measured -> n/a")
    e = targets["fp16_b1_latency"]
    got = f"{e['ms']:.3f} ms ({how(e)})" if "ms" in e else "not measured"
    notes.append(f"target: {where} fp16 batch-1 network latency < {TARGET_B1_MS:g} ms: {got} -> {verdict(e)}")
    e = targets["engine_480x640"]
    got = f"{e['ms']:.3f} ms ({how(e)})" if "ms" in e else "not measured"
    notes.append(f"target: {where} engine call on a uint8 image (conversions included) < {TARGET_ENGINE_MS:g} ms: "
                 f"{got} -> {verdict(e)}")  # fmt: skip
    return targets, notes


def resolve(device: str) -> torch.device:
    """`auto` (CUDA when present), `cpu` or `cuda`; asking for CUDA without one is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench.segmentation: --device cuda, but torch sees no CUDA device")
    return torch.device(device)


def run_plan(plan: Plan, device: torch.device, log: Callable[[Measured], None] | None = None) -> dict[str, Any]:
    """Measure a plan on a device; return the bench JSON object. `log` sees each measurement as it is made."""
    log = log or (lambda m: None)
    labels = load_label_set(LABEL_SET)
    threads = cores()
    old_threads = torch.get_num_threads()
    notes: list[str] = []
    if hasattr(os, "getloadavg"):
        notes.append("load average at start (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    where = machine() + f", torch {torch.__version__}, torchvision {torchvision.__version__}"
    if device.type == "cuda":
        where += f", {torch.cuda.get_device_name(device)}"
        notes.append(f"cudnn.benchmark on; fp32 convolutions use TF32: {torch.backends.cudnn.allow_tf32}")
    else:
        notes.append(f"CPU: {threads} threads (torch.set_num_threads), fp32, channels_last, batch norm folded")
    notes.append(FLOP_NOTE)
    notes.append(f"{len(labels.names)} classes ({LABEL_SET}); random weights; ours_ms/peer_ms are the network "
                 "call on a preprocessed tensor, *_engine_ms the whole engine call on a uint8 image")  # fmt: skip
    try:
        torch.set_num_threads(threads)
        measured = measure_matrix(plan, device, labels, threads, log)
        gpu: list[Measured] = []
        targets: dict[str, Any] = {}
        if plan.gpu_cases:
            gpu = measure_gpu(plan, device, labels, threads, notes, log)
            name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{device.type} (no GPU)"
            if device.type != "cuda":
                notes.append("CUDA section run on the CPU: fp16 cases run in fp32 (the engine autocasts on CUDA only)")
            if (plan.gpu_model, plan.gpu_size) == (GPU_MODEL, GPU_SIZE):
                targets, target_notes = check_targets(gpu, name)
                notes += target_notes
            else:
                notes.append(f"targets apply to {GPU_MODEL} at {GPU_SIZE[0]}x{GPU_SIZE[1]}: not checked in this run")
    finally:
        torch.set_num_threads(old_threads)
    return {
        "bench": NAME,
        "machine": where,
        "device": device.type,
        "rows": matrix_rows(measured) + gpu_rows(gpu),
        "models": [m.to_dict() for m in measured + gpu],
        "targets": targets,
        "notes": notes,
    }


def run(quick: bool = False, device: str = "auto", compile: bool = True, matrix: bool = True,
        log: Callable[[Measured], None] | None = None) -> dict[str, Any]:  # fmt: skip
    """Time every planned model on `device` (auto: CUDA when present); return the bench JSON object.

    `matrix=False` leaves out every model at every size: on CUDA only the CUDA section is run.
    """
    dev = resolve(device)
    plan = make_plan(dev.type, quick, compile)
    return run_plan(plan if matrix else replace(plan, sizes=()), dev, log)


def progress(m: Measured) -> None:
    """One line on stderr per measurement, so a long run shows where it is (and what it had if it is killed)."""
    engine_ms = f", engine {summary(m.engine_ms)['median']:.2f} ms" if m.engine_ms else ""
    batch = "" if m.section == "cuda" else f" {m.precision} b{m.batch}"
    print(f"  {m.label}{batch}: network {summary(m.net_ms)['median']:.2f} ms{engine_ms}, "
          f"{m.flops / 1e9:.2f} GFLOPs, {m.gflops_per_s():.1f} GFLOP/s ({len(m.net_ms)} repeats)",
          file=sys.stderr, flush=True)  # fmt: skip


def print_models(result: dict[str, Any], file: Any = None) -> None:
    """One line per model, size and configuration: network and engine ms, GFLOPs, achieved GFLOP/s."""
    print(f"{'model':<16} {'size':>8} {'config':<17} {'net ms':>9} {'engine ms':>10} {'GFLOPs':>8} "
          f"{'GFLOP/s':>9} {'img/s':>8}", file=file)  # fmt: skip
    for m in result["models"]:
        config = f"{m['precision']} b{m['batch']}{' compiled' if m['compiled'] else ''}"
        engine_ms = f"{m['engine_ms']:.2f}" if "engine_ms" in m else "-"
        print(f"{m['model']:<16} {m['height']:>3}x{m['width']:<4} {config:<17} {m['net_ms']:>9.2f} {engine_ms:>10} "
              f"{m['gflops']:>8.2f} {m['gflops_per_s']:>9.1f} {m['images_per_s']:>8.1f}", file=file)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bench.segmentation [--json] [--quick] [--device auto|cpu|cuda] [--no-compile] [--no-matrix]`."""
    parser = argparse.ArgumentParser(prog="bench.segmentation",
                                     description=__doc__.splitlines()[0] if __doc__ else None)  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    quick = f"{QUICK_OURS[0]} and {QUICK_PEERS[0]} at {QUICK_SIZE[0]}x{QUICK_SIZE[1]} only (a smoke test)"
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to run (auto: CUDA when present)"
    )
    parser.add_argument("--no-compile", action="store_true", help="CUDA: skip the torch.compile cases")
    parser.add_argument("--no-matrix", action="store_true", help="CUDA: only the CUDA section, not every model")
    args = parser.parse_args(argv)  # fmt: skip
    result = run(quick=args.quick, device=args.device, compile=not args.no_compile, matrix=not args.no_matrix,
                 log=progress)  # fmt: skip
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
        print()
        print_models(result)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

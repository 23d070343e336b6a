"""bench/segmentation in its quick form: JSON shape, FLOP counts, the CUDA path chosen by device; never timings."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from bench import segmentation as bench_seg
from robot_vision_nav.core.segmentation import inference

ROW_KEYS = {"case", "ours_ms", "peer", "peer_ms", "speedup", "ours_gflops", "peer_gflops", "ours_gflops_per_s",
            "peer_gflops_per_s", "precision", "batch", "section"}  # fmt: skip


@pytest.fixture(scope="module")
def result() -> dict:
    return bench_seg.run(quick=True, device="cpu")


def vgg_segnet_macs(height: int, width: int, classes: int) -> int:
    """Multiply-adds of the paper's SegNet, counted by hand: 3x3 convolutions of VGG16's widths, mirrored."""
    channels, convs = (64, 128, 256, 512, 512), (2, 2, 3, 3, 3)
    total, cin = 0, 3
    for i, (c, n) in enumerate(zip(channels, convs, strict=True)):
        pixels = (height >> i) * (width >> i)
        total += pixels * 9 * (cin * c + (n - 1) * c * c)  # encoder: cin -> c, then c -> c
        out = channels[i - 1] if i else c
        total += pixels * 9 * ((n - 1) * c * c + c * out)  # decoder: c -> c, then c -> the stage above's width
        cin = c
    return total + height * width * 9 * channels[0] * classes  # the 3x3 classifier


def test_quick_run_has_the_bench_json_shape(result: dict) -> None:
    assert result["bench"] == "segmentation" and result["device"] == "cpu"
    assert isinstance(result["machine"], str) and "torch" in result["machine"]
    json.dumps(result)
    assert [(r["case"], r["peer"]) for r in result["rows"]] == [("segnet_tiny 120x160", "lraspp_mbv3")]
    for r in result["rows"]:
        assert r.keys() >= ROW_KEYS
        assert r["ours_ms"] > 0 and r["peer_ms"] > 0 and r["ours_engine_ms"] > 0 and r["peer_engine_ms"] > 0
        assert math.isclose(r["speedup"], r["peer_ms"] / r["ours_ms"], rel_tol=1e-3)
        assert r["ours_gflops"] > 0 and r["peer_gflops"] > 0 and r["ours_gflops_per_s"] > 0
        assert (r["precision"], r["batch"], r["section"]) == ("fp32", 1, "matrix")
    assert {(m["model"], m["kind"]) for m in result["models"]} == {("segnet_tiny", "ours"), ("lraspp_mbv3", "peer")}
    assert result["targets"] == {}  # no CUDA section on the CPU
    assert any("multiply-add counted as 2 FLOPs" in note for note in result["notes"])


def test_full_segnet_flops_match_a_hand_count_of_its_convolutions() -> None:
    counted = bench_seg.count_flops("segnet", 11, 480, 640)
    assert counted == pytest.approx(2 * vgg_segnet_macs(480, 640, 11), rel=1e-3)
    assert counted / 1e9 == pytest.approx(401.3, rel=1e-3)  # 200.7 GMACs
    small, tiny = (
        bench_seg.count_flops("segnet_small", 11, 480, 640),
        bench_seg.count_flops("segnet_tiny", 11, 480, 640),
    )
    assert counted > small > tiny > 0


@pytest.mark.parametrize(("peer", "documented_gmacs"), [("lraspp_mbv3", 2.09), ("deeplabv3_mbv3", 10.45)])
def test_peer_flops_are_twice_torchvisions_documented_multiply_adds(peer: str, documented_gmacs: float) -> None:
    # torchvision's model table quotes "GFLOPS" that are multiply-adds, at 520x520 with 21 classes.
    assert bench_seg.count_flops(peer, 21, 520, 520) / 1e9 == pytest.approx(2 * documented_gmacs, rel=0.01)


def test_the_cuda_section_is_chosen_by_device() -> None:
    cpu = bench_seg.make_plan("cpu")
    assert cpu.gpu_cases == () and cpu.precision == "fp32"
    assert cpu.ours == tuple(bench_seg.VARIANTS) and cpu.sizes == ((240, 320), (360, 480), (480, 640))
    cuda = bench_seg.make_plan("cuda")
    assert cuda.precision == "fp16" and (cuda.gpu_model, cuda.gpu_size) == ("segnet", (480, 640))
    labels = {case.label for case in cuda.gpu_cases}
    assert labels == {"fp32 b1", "fp32 b8", "fp16 b1", "fp16 b8", "fp16 b1 compiled", "fp16 b8 compiled"}
    assert not any(case.compiled for case in bench_seg.make_plan("cuda", compile=False).gpu_cases)
    assert bench_seg.make_plan("cpu", quick=True).gpu_cases == ()
    with pytest.raises(ValueError, match="device kind"):
        bench_seg.make_plan("tpu")


def test_the_cuda_section_runs_on_the_cpu_and_a_failing_compile_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("inductor says no")

    monkeypatch.setattr(inference, "_compiled", lambda net: Broken())
    plan = bench_seg.make_plan("cuda", quick=True)
    plan = dataclasses.replace(plan, gpu_cases=(*plan.gpu_cases, bench_seg.GpuCase("fp16", True, 1)), min_repeats=1,
                               max_repeats=1, warmup=0, sizes=(), gpu_size=(64, 80))  # fmt: skip
    out = bench_seg.run_plan(plan, torch.device("cpu"))
    cuda_rows = [r for r in out["rows"] if r["section"] == "cuda"]
    eager = [case for case in plan.gpu_cases if not case.compiled]
    assert {r["case"] for r in cuda_rows} == {f"segnet_tiny 64x80 {case.label} eager" for case in eager}
    assert all(r["peer"] == "lraspp_mbv3" and r["ours_images_per_s"] > 0 for r in cuda_rows)
    assert any(note.startswith("torch.compile failed for segnet_tiny fp16 b1 compiled") for note in out["notes"])
    assert any("targets apply to segnet at 480x640" in note for note in out["notes"])


def test_no_matrix_measures_no_model_on_the_cpu() -> None:
    out = bench_seg.run(quick=True, device="cpu", matrix=False)
    assert out["rows"] == [] and out["models"] == []


def fake(batch: int, ms: float, engine_ms: float | None = None, compiled: bool = False) -> bench_seg.Measured:
    flops = bench_seg.count_flops("segnet", 11, 480, 640)
    engine = [engine_ms] if engine_ms is not None else []
    return bench_seg.Measured("segnet", "ours", (480, 640), flops, [ms], engine, batch, "fp16", compiled, "cuda")


def test_targets_pass_and_fail_against_the_cards_dense_fp16_peak() -> None:
    assert bench_seg.dense_fp16_peak("NVIDIA H100 80GB HBM3") == (989.0, "H100 SXM dense fp16 tensor peak")
    assert bench_seg.dense_fp16_peak("NVIDIA H100 PCIe")[0] == 756.0  # type: ignore[index]
    assert bench_seg.dense_fp16_peak("NVIDIA GeForce RTX 4090")[0] == 165.2  # type: ignore[index]
    assert bench_seg.dense_fp16_peak("Tesla T4") is None
    # 8 x 401.3 GFLOPs in 8 ms = 401 TFLOP/s = 40.6 % of 989: passes; 2.5 ms batch 1 and 6 ms engine pass.
    good = [fake(8, 8.0), fake(1, 9.0, 12.0), fake(1, 2.5, 6.0, compiled=True)]
    targets, notes = bench_seg.check_targets(good, "NVIDIA H100 80GB HBM3")
    assert targets["fp16_b8_peak_fraction"]["pass"] is True
    assert targets["fp16_b8_peak_fraction"]["fraction"] == pytest.approx(8 * 401.3 / 8.0 / 989.0, rel=1e-3)
    assert targets["fp16_b1_latency"] == {"target_ms": 3.0, "pass": True, "ms": 2.5, "compiled": True}
    assert targets["engine_480x640"]["pass"] is True and targets["engine_480x640"]["ms"] == 6.0
    assert len(notes) == 3 and all(note.endswith("PASS") for note in notes)
    slow = [fake(8, 20.0), fake(1, 4.0, 9.0)]
    targets, notes = bench_seg.check_targets(slow, "NVIDIA H200")
    assert [t["pass"] for t in targets.values()] == [False, False, False]
    assert all(note.endswith("FAIL") for note in notes)
    targets, notes = bench_seg.check_targets(slow, "Tesla T4")
    assert targets["fp16_b8_peak_fraction"]["pass"] is None and "no known peak" in notes[0]
    targets, _ = bench_seg.check_targets([], "NVIDIA H200")
    assert all(t["pass"] is None for t in targets.values())


def test_main_prints_json_or_the_table(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                       result: dict) -> None:  # fmt: skip
    seen = {}

    def canned(quick: bool = False, device: str = "auto", compile: bool = True, matrix: bool = True,
               log: object = None) -> dict:  # fmt: skip
        seen.update(quick=quick, device=device, compile=compile, matrix=matrix)
        return result

    monkeypatch.setattr(bench_seg, "run", canned)
    assert bench_seg.main(["--json", "--quick", "--device", "cpu", "--no-compile", "--no-matrix"]) == 0
    assert json.loads(capsys.readouterr().out) == result
    assert seen == {"quick": True, "device": "cpu", "compile": False, "matrix": False}
    assert bench_seg.main([]) == 0
    out = capsys.readouterr().out
    assert "segnet_tiny 120x160" in out and "GFLOP/s" in out and seen["device"] == "auto"

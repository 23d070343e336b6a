"""`rvn export --checkpoint` (model file + card from a training checkpoint), `rvn train`, scripts/lr_sweep.sh."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from robot_vision_nav import cli
from robot_vision_nav.core.segmentation.inference import Segmenter, SegmenterConfig, load_model, read_card
from robot_vision_nav.training.checkpoint import load_training_checkpoint, model_from_checkpoint, save_checkpoint
from robot_vision_nav.training.train import main
from test.segmentation_helpers import random_model
from test.training_helpers import SIZE, train_args, write_split_folder

REPO = Path(__file__).resolve().parents[1]
ENGINE = SegmenterConfig(device="cpu", warmup_iterations=0)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    data = write_split_folder(root / "data", train=8, val=2)
    main(train_args(data, root / "run", "--epochs", "2"))
    return root / "run"


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert cli.main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *words: str) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    for word in words:
        assert word in err, err


def batch() -> torch.Tensor:
    return torch.randn(2, 3, *SIZE, generator=torch.Generator().manual_seed(0))


def test_export_gives_the_checkpoints_logits_and_a_full_card(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "seg.safetensors"
    result = run_json(capsys, ["export", "--checkpoint", str(run / "checkpoint.pth"), "--out", str(out), "--json"])
    assert result["model"] == str(out) and result["dtype"] == "float32" and result["onnx"] is None
    ckpt = load_training_checkpoint(run / "checkpoint.pth")
    trained, _ = model_from_checkpoint(ckpt, run / "checkpoint.pth")
    exported = Segmenter.from_file(out, ENGINE)
    direct = Segmenter(trained, read_card(out), ENGINE)
    assert torch.equal(exported.logits(batch()), direct.logits(batch()))  # the same weights, bit for bit
    with torch.inference_mode():
        assert torch.allclose(exported.logits(batch()), trained(batch()), atol=1e-4)

    card = yaml.safe_load(out.with_name("seg.card.yaml").read_text())
    assert card["architecture"]["name"] == "segnet_tiny" and card["input"] == {"height": SIZE[0], "width": SIZE[1]}
    assert [c["name"] for c in card["labels"]["classes"] if c["drivable"]] == ["floor", "marking"]
    assert card["normalization"]["mean"] == [0.485, 0.456, 0.406] and card["weights_dtype"] == "float32"
    assert "dither" not in card["normalization"]
    training = card["training"]
    assert training["command"] == ckpt["command"] and training["argv"] == ckpt["argv"]
    assert shlex.split(training["command"])[:3] == ["python", "-m", "robot_vision_nav.training.train"]
    assert training["epochs"] == 2 and training["iterations"] == 4 and training["time_s"] >= 0
    assert training["checkpoint"]["file"] == "checkpoint.pth" and len(training["class_weights"]) == 11
    assert card["metrics"]["miou"] == ckpt["metrics"]["miou"] and card["metrics"]["split"] == "val"
    assert card["data"]["dataset"] == "folder" and card["data"]["train_images"] == 8


def calibrated_checkpoint(run: Path, out: Path) -> Path:
    """The run's checkpoint with batch-norm statistics measured on `batch()`-like inputs.

    Two epochs leave the running statistics near their initial values, far from the activations'
    real ones; the network then amplifies any rounding layer after layer. A trained network's
    statistics fit its inputs, which is what this gives the fp16 comparison.
    """
    ckpt = load_training_checkpoint(run / "checkpoint.pth")
    model, _ = model_from_checkpoint(ckpt, run / "checkpoint.pth")
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the calibration batches
    model.train()
    with torch.no_grad():
        for seed in range(4):
            model(torch.randn(8, 3, *SIZE, generator=torch.Generator().manual_seed(100 + seed)))
    ckpt["model"] = model.state_dict()
    save_checkpoint(ckpt, out)
    return out


def test_fp16_export_halves_the_file_and_loads_as_float32(run: Path, tmp_path: Path) -> None:
    ckpt = calibrated_checkpoint(run, tmp_path / "calibrated.pth")
    for name, extra in (("full", []), ("half", ["--fp16"])):
        argv = ["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / f"{name}.safetensors")]
        assert cli.main([*argv, *extra]) == 0
    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    assert half.stat().st_size < 0.55 * full.stat().st_size
    model, card = load_model(half)
    assert card.extra["weights_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    a = Segmenter.from_file(full, ENGINE).logits(batch())
    b = Segmenter.from_file(half, ENGINE).logits(batch())
    # Close, not equal: rounding moves activations by ~1e-3, and where that flips a 2x2 pooling
    # window's argmax (frequent on noise input) SegNet's unpooling puts the value elsewhere.
    assert not torch.equal(a, b)
    assert float((a - b).abs().mean()) < 0.03 * float(a.abs().mean())
    assert float((a.argmax(1) == b.argmax(1)).float().mean()) > 0.97


def test_export_with_onnx_from_a_checkpoint(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxscript")
    out, onnx = tmp_path / "m.safetensors", tmp_path / "onnx" / "m.onnx"
    onnx.parent.mkdir()
    result = run_json(capsys, ["export", "--checkpoint", str(run / "checkpoint.pth"), "--out", str(out), "--onnx",
                               str(onnx), "--json"])  # fmt: skip
    assert result["onnx"] == str(onnx) and onnx.is_file()
    assert result["max_abs_diff"] is None or result["max_abs_diff"] < 1e-3
    assert yaml.safe_load(onnx.with_name("m.card.yaml").read_text())["training"]["epochs"] == 2


def test_export_with_an_input_dither_writes_it_to_the_card_and_the_engine_adds_it(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, dithered = tmp_path / "plain.safetensors", tmp_path / "dithered.safetensors"
    ckpt = str(run / "checkpoint.pth")
    run_json(capsys, ["export", "--checkpoint", ckpt, "--out", str(plain), "--json"])
    run_json(capsys, ["export", "--checkpoint", ckpt, "--out", str(dithered), "--input-dither", "1.5", "--json"])
    assert yaml.safe_load(dithered.with_name("dithered.card.yaml").read_text())["normalization"]["dither"] == 1.5
    flat = torch.full((*SIZE, 3), 100, dtype=torch.uint8)
    a, b = Segmenter.from_file(plain, ENGINE).preprocess(flat), Segmenter.from_file(dithered, ENGINE).preprocess(flat)
    assert float(a.std(dim=(2, 3)).max()) == 0.0 and float(b.std(dim=(2, 3)).min()) > 0.0


def test_export_argument_errors_are_one_line(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = str(run / "checkpoint.pth")
    model = str(random_model(tmp_path / "r.safetensors"))
    one_line_error(capsys, ["export", "--checkpoint", ckpt], "--out")
    one_line_error(capsys, ["export", "--checkpoint", ckpt, "--out", str(tmp_path / "m.pt")], ".safetensors")
    one_line_error(capsys, ["export", "--checkpoint", ckpt, "--out", str(tmp_path / "no" / "m.safetensors")],
                   "folder")  # fmt: skip
    one_line_error(capsys, ["export", "--checkpoint", ckpt, "--model", model, "--out", str(tmp_path / "m.safetensors")],
                   "exclude")  # fmt: skip
    one_line_error(capsys, ["export", "--checkpoint", str(tmp_path / "gone.pth"), "--out",
                            str(tmp_path / "m.safetensors")], "gone.pth", "does not exist")  # fmt: skip
    one_line_error(capsys, ["export", "--model", model, "--onnx", str(tmp_path / "x.onnx"), "--fp16"],
                   "--fp16 goes with --checkpoint")  # fmt: skip
    one_line_error(capsys, ["export", "--model", model, "--onnx", str(tmp_path / "x.onnx"), "--input-dither", "1"],
                   "--input-dither goes with --checkpoint")  # fmt: skip
    one_line_error(capsys, ["export", "--checkpoint", ckpt, "--out", str(tmp_path / "m.safetensors"), "--input-dither",
                            "9"], "--input-dither", "[0, 8]")  # fmt: skip
    one_line_error(capsys, ["export", "--model", model], "--checkpoint")
    one_line_error(capsys, ["export"], "--model", "--checkpoint")
    assert not (tmp_path / "m.safetensors").exists()


def test_rvn_train_runs_and_reports_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_split_folder(tmp_path / "data", train=4, val=1)
    argv = ["train", "--model", "segnet_tiny", "--dataset", "folder", "--data-root", str(data), "--input-size",
            str(SIZE[0]), str(SIZE[1]), "--epochs", "1", "--batch-size", "4", "--workers", "0", "--device", "cpu",
            "--output-dir", str(tmp_path / "out"), "--no-class-weights", "--json"]  # fmt: skip
    result = run_json(capsys, argv)
    assert result["iterations"] == 1 and result["command"].startswith("rvn train --model segnet_tiny")
    assert "--no-class-weights" in result["command"] and "losses" not in result["history"][0]
    ckpt = torch.load(tmp_path / "out" / "checkpoint.pth", weights_only=True)
    assert ckpt["class_weights"] is None and ckpt["command"] == result["command"]
    one_line_error(capsys, ["train", "--dataset", "folder", "--output-dir", str(tmp_path / "o2")], "--data-root")
    one_line_error(capsys, ["train", "--dataset", "camvid", "--data-root", str(data), "--output-dir",
                            str(tmp_path / "o3")], "trainannot/")  # fmt: skip
    one_line_error(capsys, ["train", "--dataset", "folder", "--lr", "-1"], "--lr")
    one_line_error(capsys, [*argv[:-1], "--output-dir", str(tmp_path / "o4"), "--resume",
                            str(tmp_path / "none.pth")], "none.pth")  # fmt: skip
    assert cli.main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    assert "(px)" in text and "torchrun" in text and "--resume" in text


def test_lr_sweep_runs_one_output_folder_per_rate(tmp_path: Path) -> None:
    script = REPO / "scripts" / "lr_sweep.sh"
    env = {**os.environ, "DRY_RUN": "1", "RUNS": str(tmp_path)}
    done = subprocess.run([str(script), "0.1", "0.01", "--", "--dataset", "synthetic"], env=env, capture_output=True,
                          text=True, timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    for lr, line in zip(("0.1", "0.01"), lines, strict=True):
        words = shlex.split(line)
        assert words[1:3] == ["-m", "robot_vision_nav.training.train"] and words[3:5] == ["--dataset", "synthetic"]
        assert words[-4:] == ["--lr", lr, "--output-dir", str(tmp_path / f"lr_{lr}")]
    (tmp_path / "lr_0.1").mkdir()
    (tmp_path / "lr_0.1" / "checkpoint.pth").write_bytes(b"")
    done = subprocess.run([str(script), "0.1", "--", "--dataset", "synthetic"], env={**env, "NPROC": "2"},
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert "--nproc-per-node 2" in done.stdout and done.stdout.strip().endswith("lr_0.1/checkpoint.pth")
    bad = subprocess.run([str(script), "fast", "--", "--dataset", "synthetic"], capture_output=True, text=True,
                         timeout=30, check=False)  # fmt: skip
    assert bad.returncode == 2 and "'fast'" in bad.stderr
    bad = subprocess.run([str(script), "0.1", "--", "--lr", "0.2"], capture_output=True, text=True, timeout=30,
                         check=False)  # fmt: skip
    assert bad.returncode == 2 and "--lr" in bad.stderr


def run_recipe(script: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a training recipe script into `out`; it must succeed."""
    done = subprocess.run([str(script), str(out)], env=env, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def assert_second_run_redoes_nothing(script: Path, out: Path, env: dict[str, str], *outputs: Path) -> None:
    """The same command again trains nothing and leaves `outputs` as they were."""
    stamps = {p: p.stat().st_mtime_ns for p in outputs}
    again = run_recipe(script, out, env)
    assert "epoch 1/1" not in again.stderr + again.stdout  # nothing trained again
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


@pytest.mark.slow
def test_train_warehouse_small_recipe_runs_end_to_end_and_picks_up_where_it_stopped(tmp_path: Path) -> None:
    """scripts/train_warehouse_small.sh at toy sizes: data, both phases, export, scores; a second run redoes nothing."""
    script = REPO / "scripts" / "train_warehouse_small.sh"
    out = tmp_path / "run"
    env = {**os.environ, "RVN": str(Path(sys.executable).parent / "rvn"), "SCENES": "1", "DEFAULT_SCENES": "1",
           "HELDOUT_SCENES": "1", "FRAMES": "3", "ANALYTIC_FRAMES": "2", "PHASE1_EPOCHS": "1", "PHASE2_EPOCHS": "1",
           "BATCH1": "2", "BATCH2": "2", "CROP": "64 96"}  # fmt: skip
    run_recipe(script, out, env)
    for name in ("rand", "default", "heldout"):
        assert (out / "data" / name / "manifest.json").is_file(), name
    rand = json.loads((out / "data" / "rand" / "manifest.json").read_text())["randomize"]
    assert rand["aim_min_m"] == 0.5 and rand["aim_max_m"] == 5.0 and rand["max_people"] == 8
    model = out / "segnet_warehouse_small.safetensors"
    card = yaml.safe_load(model.with_name("segnet_warehouse_small.card.yaml").read_text())
    assert card["architecture"]["name"] == "segnet_small" and card["weights_dtype"] == "float16"
    assert card["normalization"]["dither"] == 1.0  # phase 1's, carried through phase 2's --init
    phase1 = (out / "phase1" / "best_fp32.safetensors").read_bytes()
    assert card["training"]["parent"]["sha256"] == hashlib.sha256(phase1).hexdigest()
    assert "--crop-size 64 96" in card["training"]["parent"]["command"]  # phase 1 on crops,
    assert "--crop-size" not in card["training"]["command"]  # phase 2 on whole frames
    for name in ("eval_heldout.json", "eval_analytic.json"):
        scores = json.loads((out / name).read_text())
        assert 0.0 <= scores["drivable_iou"] <= 1.0, name
    assert not list(out.glob("*.tmp"))
    assert_second_run_redoes_nothing(
        script,
        out,
        env,
        out / "phase1" / "model_best.pth",
        out / "phase2" / "model_best.pth",
        out / "data" / "rand" / "manifest.json",
    )


@pytest.mark.slow
def test_train_warehouse_small_ctx_recipe_grows_the_block_and_picks_up_where_it_stopped(tmp_path: Path) -> None:
    """scripts/train_warehouse_small_ctx.sh at toy sizes from the committed segnet_small: data, links, 5 phases."""
    script = REPO / "scripts" / "train_warehouse_small_ctx.sh"
    out = tmp_path / "run"
    env = {**os.environ, "RVN": str(Path(sys.executable).parent / "rvn"), "SCENES": "1", "DEFAULT_SCENES": "1",
           "HELDOUT_SCENES": "1", "NEAR_SCENES": "1", "WALL_SCENES": "1", "FRAMES": "3", "NEAR_RAND1": "2",
           "NEAR_RAND2": "1", "CTX1_EPOCHS": "1", "CTX2_EPOCHS": "1", "CTX3_EPOCHS": "1", "BATCH": "2",
           "ANALYTIC_FRAMES": "2", "DNEAR_SCENES": "1", "MARKS_SCENES": "1", "CTX4_EPOCHS": "1",
           "CTX5_EPOCHS": "1"}  # fmt: skip
    run_recipe(script, out, env)
    wall = json.loads((out / "data" / "wall" / "manifest.json").read_text())["randomize"]
    assert wall["aim_wall_share"] == 0.6 and wall["aim_min_m"] == 0.5 and wall["aim_max_m"] == 1.5
    names = sorted(p.name for p in (out / "data" / "mix2" / "images").iterdir())
    assert len(names) == 1 + 3 + 3 and sum(n.startswith("n") for n in names) == 3 and names[-1].startswith("w")
    assert all((out / "data" / "mix2" / sub / n).resolve().is_file() for sub in ("labels", "depth") for n in names)
    assert len(list((out / "data" / "mix1" / "images").iterdir())) == 2 + 3
    for name, share in (("dnear", "aim_wall_share"), ("marks", "aim_marking_share")):
        settings = json.loads((out / "data" / name / "manifest.json").read_text())["randomize"]
        assert settings["look_share"] == 0 and settings[share] > 0, name
    # mix3: dnear, rand, near, wall (3 each at toy size); mix4: marks and dnear as well, first letters kept apart.
    mix3 = sorted(p.name[0] for p in (out / "data" / "mix3" / "images").iterdir())
    assert mix3 == sorted("ddd" + "rrr" + "nnn" + "www")
    mix4 = sorted(p.name[0] for p in (out / "data" / "mix4" / "images").iterdir())
    assert mix4 == sorted("mmm" + "ddd" + "rrr" + "nnn" + "www")
    card = yaml.safe_load((out / "segnet_warehouse_small_ctx.card.yaml").read_text())
    assert card["architecture"]["name"] == "segnet_small_ctx" and card["architecture"]["context"] is True
    assert card["weights_dtype"] == "float16" and card["normalization"]["dither"] == 1.0  # the parent's, inherited
    parent = (out / "ctx4" / "last_fp16.safetensors").read_bytes()
    assert card["training"]["parent"]["sha256"] == hashlib.sha256(parent).hexdigest()
    best3 = (out / "ctx3" / "best_fp16.safetensors").read_bytes()
    fourth = yaml.safe_load((out / "ctx4" / "last_fp32.card.yaml").read_text())
    assert fourth["training"]["parent"]["sha256"] == hashlib.sha256(best3).hexdigest()
    first = yaml.safe_load((out / "ctx1" / "last_fp32.card.yaml").read_text())
    committed = (REPO / "models" / "segnet_warehouse_small.safetensors").read_bytes()
    assert first["training"]["parent"]["sha256"] == hashlib.sha256(committed).hexdigest()
    for name in ("eval_heldout.json", "eval_analytic.json"):
        assert 0.0 <= json.loads((out / name).read_text())["drivable_iou"] <= 1.0, name
    assert_second_run_redoes_nothing(
        script,
        out,
        env,
        out / "ctx1" / "model_best.pth",
        out / "ctx3" / "model_best.pth",
        out / "data" / "near" / "manifest.json",
    )

"""`rvn segment` and `rvn export` in-process through `cli.main([...])`, and core.segmentation.export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from robot_vision_nav import cli
from robot_vision_nav.core.segmentation import export as export_module
from robot_vision_nav.core.segmentation.export import ExportError, export_onnx
from robot_vision_nav.core.segmentation.inference import Segmenter, SegmenterConfig, load_model, read_card, save_model
from robot_vision_nav.core.segmentation.model import build_model, variant
from robot_vision_nav.package_files import load_label_set
from test.segmentation_helpers import HEIGHT, WIDTH, constant_model, random_model, write_rgb

ROAD, SKY = 3, 0


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return json.loads(captured.out)


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *words: str) -> str:
    rc = cli.main(argv)
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"rvn {argv[0]}: error: "), captured.err
    for word in words:
        assert word in captured.err, f"{word!r} not in {captured.err!r}"
    return captured.err


@pytest.fixture
def image(tmp_path: Path) -> Path:
    rgb = np.zeros((20, 30, 3), dtype=np.uint8)  # not the model's 16x24: the engine resizes both ways
    rgb[..., 0] = 255
    path = tmp_path / "in.png"
    write_rgb(path, rgb)
    return path


# ------------------------------------------------------------------------------------------- segment
@pytest.mark.parametrize(("winner", "drivable"), [(ROAD, 1.0), (SKY, 0.0)])
def test_segment_writes_class_ids_overlay_and_json(
    winner: int, drivable: float, tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = constant_model(tmp_path / "m.safetensors", "camvid", winner)
    out, overlay = tmp_path / "labels.png", tmp_path / "overlay.png"
    result = run_json(capsys, ["segment", "--model", str(model), "--image", str(image), "--out", str(out),
                               "--overlay", str(overlay), "--device", "cpu", "--json"])  # fmt: skip
    labels = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (20, 30) and labels.dtype == np.uint8 and (labels == winner).all()
    assert len(result["classes"]) == 11 and sum(result["classes"].values()) == 600
    assert result["classes"]["road" if winner == ROAD else "sky"] == 600
    assert result["drivable_fraction"] == drivable and result["traversable_fraction"] == drivable  # p ~0.93
    assert result["time_ms"] > 0 and result["size"] == [30, 20]
    picture = cv2.cvtColor(cv2.imread(str(overlay), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    colour = np.array({ROAD: (128, 64, 128), SKY: (128, 128, 128)}[winner])
    assert np.abs(picture[0, 0].astype(int) - (0.5 * np.array([255, 0, 0]) + 0.5 * colour)).max() <= 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_segment_human_summary(tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = constant_model(tmp_path / "m.safetensors", "camvid", ROAD)
    out = tmp_path / "labels.png"
    assert (
        cli.main(["segment", "--model", str(model), "--image", str(image), "--out", str(out), "--device", "cpu"]) == 0
    )
    text = capsys.readouterr().out
    assert "road" in text and "100.00 %" in text and f"wrote {out}" in text


def test_segment_bad_inputs_are_one_line_and_write_nothing(
    tmp_path: Path, image: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = constant_model(tmp_path / "m.safetensors", "camvid", ROAD)
    out = tmp_path / "o.png"
    base = ["segment", "--device", "cpu", "--out", str(out)]
    one_line_error(capsys, [*base, "--model", str(tmp_path / "nope.safetensors"), "--image", str(image)],
                   "nope.safetensors")  # fmt: skip
    one_line_error(capsys, [*base, "--model", str(model), "--image", str(tmp_path / "nope.png")], "nope.png")
    junk = tmp_path / "junk.png"
    junk.write_text("not a picture")
    one_line_error(capsys, [*base, "--model", str(model), "--image", str(junk)], "junk.png", "cannot read")
    one_line_error(capsys, ["segment", "--model", str(model), "--image", str(image), "--out", str(tmp_path / "o.jpg")],
                   ".png")  # fmt: skip
    one_line_error(capsys, [*base, "--model", str(model), "--image", str(image), "--overlay",
                            str(tmp_path / "missing" / "ov.png")], "--overlay", "does not exist")  # fmt: skip
    one_line_error(capsys, [*base, "--model", str(model), "--image", str(image), "--device", "tpu"], "tpu")
    (tmp_path / "m.card.yaml").unlink()
    one_line_error(capsys, [*base, "--model", str(model), "--image", str(image)], "m.card.yaml")
    one_line_error(capsys, ["segment", "--model", str(model)], "--image")
    assert not out.exists()


# ------------------------------------------------------------------------------------------- export
def test_a_model_with_the_context_block_exports_and_matches_torch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """segnet_small_ctx's dilated and image-pooling branches go through the dynamo exporter and onnxruntime."""
    torch.manual_seed(6)
    net = build_model(variant("segnet_small_ctx", 11))
    torch.nn.init.normal_(net.impl.context.join.weight, std=0.05)  # the block contributes
    model = tmp_path / "ctx.safetensors"
    save_model(net, model, load_label_set("warehouse"), (64, 96))
    result = run_json(capsys, ["export", "--onnx", str(tmp_path / "ctx.onnx"), "--model", str(model), "--json"])
    assert result["max_abs_diff"] is not None and result["max_abs_diff"] < 1e-4
    rgb = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    size = {"input_height": 64, "input_width": 96, "warmup_iterations": 0}
    ort_config = SegmenterConfig(device="cpu", backend="onnxruntime", onnx_path=str(tmp_path / "ctx.onnx"), **size)
    a = Segmenter.from_file(model, SegmenterConfig(device="cpu", **size)).segment(rgb)
    b = Segmenter.from_file(model, ort_config).segment(rgb)
    assert (a.labels == b.labels).mean() > 0.99 and np.abs(a.confidence - b.confidence).max() < 1e-4


def test_export_elsewhere_writes_card_at_export_size_and_matches_torch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = random_model(tmp_path / "m.safetensors")
    out_dir = tmp_path / "exported"
    out_dir.mkdir()
    onnx_path = out_dir / "seg.onnx"
    result = run_json(capsys, ["export", "--onnx", str(onnx_path), "--model", str(model), "--height", "32",
                               "--width", "48", "--json"])  # fmt: skip
    assert result["max_abs_diff"] is not None and result["max_abs_diff"] < 1e-4
    assert result["card_written"] is True and (result["height"], result["width"]) == (32, 48)
    assert onnx_path.is_file() and result["opset"] >= 18
    card = read_card(onnx_path)
    source = read_card(model)
    assert (card.input_height, card.input_width) == (32, 48)
    assert card.labels == source.labels and card.architecture == source.architecture
    raw = yaml.safe_load((out_dir / "seg.card.yaml").read_text())
    assert raw["weights"]["file"] == "seg.onnx" and raw["exported_from"]["sha256"] == source.sha256
    assert sorted(p.name for p in out_dir.iterdir()) == ["seg.card.yaml", "seg.onnx"]

    # The engine's onnxruntime backend on the exported file gives torch's labels.
    rgb = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    size = {"input_height": 32, "input_width": 48, "warmup_iterations": 0}
    torch_seg = Segmenter.from_file(model, SegmenterConfig(device="cpu", **size))
    ort_config = SegmenterConfig(device="cpu", backend="onnxruntime", onnx_path=str(onnx_path), **size)
    ort_seg = Segmenter.from_file(model, ort_config)
    a, b = torch_seg.segment(rgb), ort_seg.segment(rgb)
    assert (a.labels == b.labels).mean() > 0.99
    assert np.abs(a.confidence - b.confidence).max() < 1e-4


def test_export_beside_the_weights_shares_its_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = random_model(tmp_path / "m.safetensors")
    card_text = (tmp_path / "m.card.yaml").read_text()
    # A size other than the card's cannot share the card: refused before any work.
    one_line_error(capsys, ["export", "--onnx", str(tmp_path / "m.onnx"), "--model", str(model), "--height", "32",
                            "--width", "32"], "m.card.yaml", f"{HEIGHT}x{WIDTH}")  # fmt: skip
    assert cli.main(["export", "--onnx", str(tmp_path / "m.onnx"), "--model", str(model)]) == 0
    text = capsys.readouterr().out
    assert "max |logit difference|" in text and "unchanged" in text
    assert (tmp_path / "m.card.yaml").read_text() == card_text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.card.yaml", "m.onnx", "m.safetensors"]


def test_export_never_overwrites_another_models_card(tmp_path: Path) -> None:
    model, card = load_model(random_model(tmp_path / "m.safetensors"))
    constant_model(tmp_path / "other.safetensors", "camvid", ROAD)
    with pytest.raises(ExportError, match="another model"):
        export_onnx(model, card, tmp_path / "other.onnx", HEIGHT, WIDTH)


def test_failed_export_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, card = load_model(random_model(tmp_path / "m.safetensors"))
    out = tmp_path / "out"
    out.mkdir()

    def broken(*args: object, **kwargs: object) -> None:
        Path(str(args[2])).write_bytes(b"half a model")
        raise RuntimeError("exporter exploded\nwith a long trace")

    monkeypatch.setattr(export_module.torch.onnx, "export", broken)
    with pytest.raises(ExportError, match=r"exporter exploded$"):
        export_onnx(model, card, out / "x.onnx", HEIGHT, WIDTH)
    assert list(out.iterdir()) == []
    assert model.training is False  # load_model's eval mode, restored


def test_missing_export_package_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = random_model(tmp_path / "m.safetensors")
    real = export_module.importlib.util.find_spec
    monkeypatch.setattr(export_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxscript" else real(name, *a))  # fmt: skip
    one_line_error(capsys, ["export", "--onnx", str(tmp_path / "x.onnx"), "--model", str(model)],
                   "onnxscript", "pip install onnxscript")  # fmt: skip
    assert not (tmp_path / "x.onnx").exists()


def test_export_bad_arguments_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = random_model(tmp_path / "m.safetensors")
    one_line_error(capsys, ["export", "--onnx", str(tmp_path / "x.onnx"), "--model", str(model), "--height", "32"],
                   "--width")  # fmt: skip
    one_line_error(capsys, ["export", "--onnx", str(tmp_path / "x.pt"), "--model", str(model)], ".onnx")
    one_line_error(capsys, ["export", "--onnx", str(tmp_path / "no" / "x.onnx"), "--model", str(model)], "folder")
    one_line_error(capsys, ["export", "--onnx", str(tmp_path / "x.onnx"), "--model", str(tmp_path / "z.safetensors")],
                   "z.safetensors")  # fmt: skip
    one_line_error(capsys, ["export", "--onnx", str(tmp_path / "x.onnx"), "--model", str(model), "--height", "4",
                            "--width", "8"], "--height")  # fmt: skip


# ------------------------------------------------------------------------------------------- help
def test_help_lists_perception_commands_without_importing_torch() -> None:
    code = (
        "import sys\nfrom robot_vision_nav import cli\nparser = cli.build_parser()\n"
        "text = parser.format_help()\nprint(all(c in text for c in ('segment', 'eval', 'export')))\n"
        "print(sorted(m for m in ('torch', 'cv2', 'onnx', 'torchvision', 'rclpy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["True", "[]"]

"""training.datasets on tiny fake CamVid / Cityscapes / folder trees, the synthetic labeller, and evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robot_vision_nav import cli
from robot_vision_nav.core.geometry import CameraMount, Pose2D
from robot_vision_nav.core.segmentation.inference import Segmenter, SegmenterConfig
from robot_vision_nav.package_files import load_label_set
from robot_vision_nav.sim.synthetic import MASK_KEEPOUT, Box, FloorPatch, Scene, d435_intrinsics, render
from robot_vision_nav.sim.synthetic_aisles import PlacedBox, render_labelled
from robot_vision_nav.training.datasets import (
    CityscapesDataset,
    DatasetError,
    SyntheticWarehouse,
    camvid,
    image_folder,
    open_dataset,
)
from robot_vision_nav.training.evaluate import evaluate
from test.segmentation_helpers import (
    HEIGHT,
    WIDTH,
    camvid_labels,
    constant_model,
    write_camvid_tree,
    write_gray,
    write_rgb,
)

CAMVID = load_label_set("camvid")
ROAD, PAVEMENT, SKY = 3, 4, 0


# ------------------------------------------------------------------------------------------- camvid
def test_camvid_pairs_by_name_returns_rgb_and_maps_void(tmp_path: Path) -> None:
    raw = write_camvid_tree(tmp_path, "val")
    ds = camvid(tmp_path, "val")
    assert len(ds) == 2 and ds.label_set.name == "camvid" and ds.name == "camvid"
    for i in range(2):
        rgb, labels = ds[i]
        assert rgb.shape == (HEIGHT, WIDTH, 3) and rgb.dtype == np.uint8
        assert (rgb[..., 0] == 200).all() and (rgb[..., 2] == 10 * i).all()  # RGB, not OpenCV's BGR
        assert labels.shape == (HEIGHT, WIDTH) and labels.dtype == np.uint8
        expected = raw[i].copy()
        expected[expected == 11] = 255
        assert (labels == expected).all()


def test_camvid_missing_annotation_names_the_file(tmp_path: Path) -> None:
    write_camvid_tree(tmp_path)
    (tmp_path / "testannot" / "0001TP_000001.png").unlink()
    with pytest.raises(DatasetError, match=r"0001TP_000001\.png"):
        camvid(tmp_path, "test")


def test_camvid_missing_split_folder_and_bad_split(tmp_path: Path) -> None:
    write_camvid_tree(tmp_path, "train")
    with pytest.raises(DatasetError, match="does not exist"):
        camvid(tmp_path, "test")
    with pytest.raises(DatasetError, match="split"):
        camvid(tmp_path, "holdout")


def test_colour_annotation_and_size_mismatch_are_refused(tmp_path: Path) -> None:
    write_camvid_tree(tmp_path, count=1)
    annot = tmp_path / "testannot" / "0001TP_000000.png"
    write_rgb(annot, np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8))
    with pytest.raises(DatasetError, match="one 8-bit channel"):
        camvid(tmp_path)[0]
    write_gray(annot, np.zeros((HEIGHT, WIDTH + 1), dtype=np.uint8))
    with pytest.raises(DatasetError, match="same size"):
        camvid(tmp_path)[0]


# ------------------------------------------------------------------------------------------- cityscapes
def write_cityscapes_tree(root: Path, split: str = "val") -> np.ndarray:
    ids = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)  # 0: unlabeled -> 255
    ids[8:, :] = 7  # road -> 0
    ids[8:, :5] = 8  # sidewalk -> 1
    ids[10:14, 10:16] = 26  # car -> 13
    ids[:4, :] = 23  # sky -> 10
    for city, n in (("zurich", 1), ("aachen", 2)):
        for i in range(n):
            stem = f"{city}_{i:06d}_000019"
            rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
            rgb[..., 2] = 180  # blue in RGB
            write_rgb(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", rgb)
            write_gray(root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", ids)
    return ids


def test_cityscapes_through_torchvision_maps_label_ids_to_train_ids(tmp_path: Path) -> None:
    ids = write_cityscapes_tree(tmp_path)
    ds = CityscapesDataset(tmp_path, "val")
    assert len(ds) == 3 and ds.label_set.num_classes == 19
    rgb, labels = ds[0]
    assert (rgb[..., 2] == 180).all() and (rgb[..., 0] == 0).all()
    expected = np.full(ids.shape, 255, dtype=np.uint8)
    for label_id, train_id in ((7, 0), (8, 1), (26, 13), (23, 10)):
        expected[ids == label_id] = train_id
    assert (labels == expected).all()
    assert [Path(ds._ds.images[i]).parent.name for i in ds._order] == ["aachen", "aachen", "zurich"]


def test_cityscapes_missing_tree_or_annotation_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="leftImg8bit"):
        CityscapesDataset(tmp_path, "val")
    write_cityscapes_tree(tmp_path)
    (tmp_path / "gtFine" / "val" / "zurich" / "zurich_000000_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(DatasetError, match=r"zurich_000000_000019_gtFine_labelIds\.png"):
        CityscapesDataset(tmp_path, "val")


# ------------------------------------------------------------------------------------------- folders, synthetic
def test_image_folder_reads_train_ids_and_refuses_foreign_ids(tmp_path: Path) -> None:
    labels = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    labels[:, :5] = 2
    labels[0, 0] = 255
    write_rgb(tmp_path / "images" / "f0.png", np.full((HEIGHT, WIDTH, 3), 30, dtype=np.uint8))
    write_gray(tmp_path / "labels" / "f0.png", labels)
    ds = open_dataset("synthetic", tmp_path)
    assert ds.label_set.name == "warehouse" and len(ds) == 1
    assert (ds[0][1] == labels).all()
    labels[1, 1] = 11  # warehouse has ids 0..10
    write_gray(tmp_path / "labels" / "f0.png", labels)
    with pytest.raises(DatasetError, match="holds id 11"):
        image_folder(tmp_path)[0]
    with pytest.raises(DatasetError, match="images/ and labels/"):
        open_dataset("synthetic", tmp_path / "labels")


def test_synthetic_frames_are_seeded_and_independent_of_the_count() -> None:
    a = SyntheticWarehouse(frames=2, seed=3, height=48, width=64)
    b = SyntheticWarehouse(frames=5, seed=3, height=48, width=64)
    c = SyntheticWarehouse(frames=2, seed=4, height=48, width=64)
    assert a.label_set.name == "warehouse" and len(a) == 2
    for i in range(2):
        (rgb_a, lab_a), (rgb_b, lab_b) = a[i], b[i]
        assert rgb_a.shape == (48, 64, 3) and lab_a.shape == (48, 64) and lab_a.dtype == np.uint8
        assert (rgb_a == rgb_b).all() and (lab_a == lab_b).all()
        assert set(np.unique(lab_a)) <= {*range(11), 255}
        assert (lab_a == 0).any()  # some floor in every frame
    assert not (a[0][0] == c[0][0]).all()
    with pytest.raises(IndexError):
        a[2]


def test_synthetic_labeller_matches_the_renderer() -> None:
    placed = [
        PlacedBox(Box(4.0, 2.0, 8.0, 0.1, 1.5), "wall"),
        PlacedBox(Box(3.0, -0.6, 0.5, 0.5, 0.5), "box"),
        PlacedBox(Box(2.5, 0.8, 1.0, 1.0, 0.15), "pallet"),
    ]
    patches = (FloorPatch(1.5, -0.3, 2.2, 0.3, drivable=False), FloorPatch(0.0, -1.2, 8.0, -1.1, drivable=True))
    scene = Scene(boxes=tuple(p.box for p in placed), patches=patches)
    k = d435_intrinsics(96, 72)
    mount, pose = CameraMount(0.1, 0.0, 0.5, 0.0, 0.3, 0.0), Pose2D(0.0, 0.0, 0.0)
    ids = {name: i for i, name in enumerate(load_label_set("warehouse").names)}
    rgb, labels = render_labelled(scene, placed, k, mount, pose, ids)
    frame = render(scene, k, mount, pose)
    assert (rgb == frame.rgb).all()
    assert ((labels == ids["keep_out"]) == (frame.mask == MASK_KEEPOUT)).all()
    assert ((labels == 255) == (frame.depth_m == 0)).all()
    for name in ("floor", "marking", "keep_out", "wall", "box", "pallet"):
        assert (labels == ids[name]).any(), name
    on_box = (frame.depth_m > 0) & (render(Scene(), k, mount, pose).depth_m != frame.depth_m)
    assert (np.isin(labels[on_box], [ids["wall"], ids["box"], ids["pallet"]])).all()
    box_alone = render(Scene(boxes=(placed[1].box,)), k, mount, pose)
    assert ((labels == ids["box"]) == (on_box & (box_alone.depth_m == frame.depth_m))).all()


def test_open_dataset_refuses_unknown_names_and_missing_roots(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset"):
        open_dataset("kitti", tmp_path)
    with pytest.raises(DatasetError, match="root"):
        open_dataset("camvid", None)
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset("cityscapes", tmp_path / "nowhere")


# ------------------------------------------------------------------------------------------- evaluation
def expected_scores_for_constant_road(raw: list[np.ndarray]) -> dict[str, object]:
    """Scores of a model that says "road" everywhere, from the annotations alone."""
    truth = np.concatenate([r.ravel() for r in raw])
    truth = truth[truth != 11]
    labelled = truth.size
    road = int((truth == ROAD).sum())
    drivable = int(np.isin(truth, (ROAD, PAVEMENT)).sum())
    present = set(np.unique(truth).tolist())
    iou = {name: (road / labelled if i == ROAD else 0.0) if i in present | {ROAD} else None
           for i, name in enumerate(CAMVID.names)}  # fmt: skip
    return {
        "global_acc": road / labelled,
        "class_acc": 1.0 / len(present),
        "miou": (road / labelled) / len(present | {ROAD}),
        "iou": iou,
        "drivable_iou": drivable / labelled,
        "labelled_pixels": labelled,
    }


def test_evaluate_constant_model_scores_are_the_class_shares(tmp_path: Path) -> None:
    raw = write_camvid_tree(tmp_path / "camvid")
    model = constant_model(tmp_path / "road.safetensors", "camvid", ROAD)
    segmenter = Segmenter.from_file(model, SegmenterConfig(device="cpu", warmup_iterations=0))
    seen = []
    scores, images = evaluate(segmenter, camvid(tmp_path / "camvid"), progress=lambda d, t: seen.append((d, t)))
    assert images == 2 and seen == [(1, 2), (2, 2)]
    expected = expected_scores_for_constant_road(raw)
    got = scores.to_dict()
    for key in ("global_acc", "class_acc", "miou", "drivable_iou", "labelled_pixels"):
        assert got[key] == pytest.approx(expected[key]), key
    assert got["iou"] == pytest.approx(expected["iou"])


def test_eval_cli_json_on_fake_camvid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = write_camvid_tree(tmp_path / "camvid", "val", count=2)
    model = constant_model(tmp_path / "road.safetensors", "camvid", ROAD)
    argv = ["eval", "--dataset", "camvid", "--data-root", str(tmp_path / "camvid"), "--model", str(model),
            "--split", "val", "--device", "cpu", "--json"]  # fmt: skip
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    out = json.loads(captured.out)
    assert {"global_acc", "class_acc", "miou", "iou", "drivable_iou"} <= out.keys()
    assert out["images"] == 2 and out["dataset"] == "camvid" and out["split"] == "val"
    expected = expected_scores_for_constant_road(raw)
    assert out["global_acc"] == pytest.approx(expected["global_acc"])
    assert out["drivable_iou"] == pytest.approx(expected["drivable_iou"])
    assert out["iou"] == pytest.approx(expected["iou"])
    assert out["iou"]["bicyclist"] is None

    # --limit 1 scores the first image only; the human form has the table.
    assert cli.main([*argv[:-1], "--limit", "1"]) == 0
    text = capsys.readouterr().out
    assert "1 images" in text and "mIoU" in text and "drivable IoU" in text and "bicyclist" in text
    road_share = (camvid_labels(0) == ROAD).sum() / (camvid_labels(0) != 11).sum()
    assert f"global accuracy  {100 * road_share:6.2f} %" in text


def test_eval_cli_synthetic_generates_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = constant_model(tmp_path / "floor.safetensors", "warehouse", 0, size=(24, 32))
    argv = ["eval", "--dataset", "synthetic", "--model", str(model), "--limit", "1", "--device", "cpu", "--json"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 1 and out["split"] is None and out["dataset"] == "synthetic"
    assert out["iou"]["floor"] == pytest.approx(out["global_acc"])
    assert out["drivable_iou"] >= out["global_acc"]  # floor and marking are both drivable


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *words: str) -> str:
    rc = cli.main(argv)
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"rvn {argv[0]}: error: "), captured.err
    for word in words:
        assert word in captured.err, f"{word!r} not in {captured.err!r}"
    return captured.err


def test_eval_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_camvid_tree(tmp_path / "camvid")
    warehouse = constant_model(tmp_path / "wh.safetensors", "warehouse", 0)
    base = ["eval", "--dataset", "camvid", "--data-root", str(tmp_path / "camvid"), "--device", "cpu"]
    one_line_error(capsys, [*base, "--model", str(warehouse)], "warehouse", "camvid")
    one_line_error(capsys, [*base, "--model", str(tmp_path / "none.safetensors")], "none.safetensors")
    one_line_error(capsys, ["eval", "--dataset", "camvid", "--model", str(warehouse)], "--data-root")
    one_line_error(capsys, [*base[:4], str(tmp_path / "nowhere"), "--model", str(warehouse)], "nowhere")
    (tmp_path / "camvid" / "testannot" / "0001TP_000000.png").unlink()
    one_line_error(capsys, [*base, "--model", str(warehouse)], "0001TP_000000.png")
    one_line_error(capsys, [*base, "--model", str(warehouse), "--split", "holdout"], "--split")

"""`rvn sim-view` and `rvn sim-dataset`: files where the help says, deterministic, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from robot_vision_nav.cli import main


def test_sim_view_writes_one_picture_and_reports_the_world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "view.png"
    assert main(["sim-view", "--seed", "4", "--out", str(out), "--width", "160", "--height", "120", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["seed"] == 4 and summary["out"] == str(out) and summary["route_m"] > 0
    picture = cv2.imread(str(out))
    assert picture is not None and picture.shape[1] > 800 and picture.shape[0] >= 240


def test_sim_dataset_layout_manifest_and_determinism(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sim-dataset", "--scenes", "2", "--frames", "2", "--seed", "9", "--width", "160", "--height", "120"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "scene 1/2" in err and "scene 2/2" in err
    assert main([*args, "--out", str(tmp_path / "b"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 4
    a = tmp_path / "a"
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["label_set"] == "warehouse" and manifest["depth_scale_m"] == 0.001
    assert len(manifest["frames"]) == 4 and len({f["world_seed"] for f in manifest["frames"]}) == 2
    for entry in manifest["frames"]:
        rgb = cv2.imread(str(a / entry["image"]), cv2.IMREAD_UNCHANGED)
        labels = cv2.imread(str(a / entry["labels"]), cv2.IMREAD_UNCHANGED)
        depth = cv2.imread(str(a / entry["depth"]), cv2.IMREAD_UNCHANGED)
        assert rgb.shape == (120, 160, 3) and rgb.dtype == np.uint8
        assert labels.shape == (120, 160) and labels.dtype == np.uint8 and labels.max() <= 10
        assert depth.shape == (120, 160) and depth.dtype == np.uint16 and 0 < depth.max() <= 10_000
        assert entry["intrinsics"]["width"] == 160 and len(entry["T_world_camera"]) == 4
        assert {"x_m", "y_m", "yaw_rad"} == set(entry["pose"])
    names = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*") if p.is_file())
    for name in names:
        assert (a / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert not [n for n in names if n.endswith(".tmp")]


SET = ["sim-dataset", "--scenes", "1", "--frames", "1", "--out", "x", "--randomize", "--set"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sim-dataset", "--scenes", "0", "--frames", "1", "--out", "x"], "--scenes"),
        (["sim-dataset", "--scenes", "1", "--frames", "1"], "--out"),
        (["sim-view", "--seed", "-3", "--out", "v.png"], "--seed"),
        (["sim-dataset", "--scenes", "1", "--frames", "1", "--out", "x", "--set", "aim_min_m=0.5"], "need --randomize"),
        ([*SET, "aim_min=0.5"], "'aim_min' is not a randomisation setting"),
        ([*SET, "max_people=2.5"], "max_people must be a whole number"),
        ([*SET, "aim_share=lots"], "aim_share must be a number"),
        ([*SET, "aim_min_m=0.2"], "'aim_min_m' = 0.2 is outside the allowed range [0.5, 10] m"),
        ([*SET, "aim_min_m=5"], "aim_min_m (5 m) must not exceed aim_max_m (4 m)"),
        ([*SET, "aim_min_m"], "expected NAME=VALUE"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not Path("x").exists() and not Path("v.png").exists()  # refused before anything is written


def test_sim_view_refuses_a_folder_as_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim-view", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err

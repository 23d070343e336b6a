"""`rvn plan` in-process through `cli.main([...])`: MovingAI cells, Nav2 YAML metres, one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from robot_vision_nav import cli
from robot_vision_nav.core.maps import read_movingai_scen

DATA = Path(__file__).resolve().parent / "data"
MAP = DATA / "rooms32.map"


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str], rc: int = 0) -> dict:
    assert cli.main(argv) == rc
    captured = capsys.readouterr()
    assert captured.err == ""
    return json.loads(captured.out)


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], *words: str) -> str:
    rc = cli.main(argv)
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    message = captured.err
    assert message.count("\n") == 1 and message.startswith("rvn plan: error: "), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


@pytest.fixture
def yaml_map(tmp_path: Path) -> Path:
    """A 4 m x 2 m map at 0.1 m (origin (-1, -1)) with a wall at x = 1 m leaving a gap at the top."""
    pixels = np.full((20, 40), 255, dtype=np.uint8)
    pixels[4:, 20] = 0  # image rows 4.. are y below 0.6 m: the gap is at the top of the picture
    cv2.imwrite(str(tmp_path / "room.pgm"), pixels)
    path = tmp_path / "room.yaml"
    path.write_text("image: room.pgm\nresolution: 0.1\norigin: [-1.0, -1.0, 0.0]\nnegate: 0\n"
                    "occupied_thresh: 0.65\nfree_thresh: 0.25\n")  # fmt: skip
    return path


def test_movingai_plan_in_cells_gives_the_scenario_optimum(capsys: pytest.CaptureFixture[str]) -> None:
    for sc in read_movingai_scen(DATA / "rooms32.map.scen")[:6]:
        argv = ["plan", "--map", str(MAP), "--start", str(sc.start_x), str(sc.start_y),
                "--goal", str(sc.goal_x), str(sc.goal_y), "--cost-weight", "0", "--json"]  # fmt: skip
        out = run_json(capsys, argv)
        assert {"found", "length", "expansions", "time_ms", "path"} <= out.keys()
        assert out["found"] is True and out["status"] == "ok"
        assert abs(out["length"] - sc.optimal_length) <= 1e-8
        assert out["path"][0] == [sc.start_x, sc.start_y] and out["path"][-1] == [sc.goal_x, sc.goal_y]
        assert all(float(v).is_integer() for point in out["path"] for v in point)  # cells, unsmoothed
        assert out["expansions"] > 0 and out["time_ms"] > 0


def test_any_angle_and_smooth_are_no_longer(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["plan", "--map", str(MAP), "--start", "19", "27", "--goal", "16", "5", "--cost-weight", "0", "--json"]
    grid_len = run_json(capsys, base)["length"]
    any_angle = run_json(capsys, [*base, "--any-angle"])["length"]
    smooth = run_json(capsys, [*base, "--smooth"])["length"]
    assert any_angle < grid_len and smooth < grid_len


def test_yaml_map_plan_in_metres(capsys: pytest.CaptureFixture[str], yaml_map: Path) -> None:
    out = run_json(capsys, ["plan", "--map", str(yaml_map), "--start", "-0.5", "-0.5", "--goal", "2.5", "-0.5",
                            "--json"])  # fmt: skip
    assert out["found"] and out["status"] == "ok"
    path = np.array(out["path"])
    assert np.allclose(path[0], (-0.5, -0.5)) and np.allclose(path[-1], (2.5, -0.5))
    assert path[:, 1].max() > 0.6  # through the gap at the top
    assert out["length"] > 3.0


def test_human_output_and_no_path_exit_status(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["plan", "--map", str(MAP), "--start", "19", "27", "--goal", "16", "5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: path found") and "cells expanded" in out and "cells," in out
    # (22, 18) lies inside the closed room of rooms32.map
    out = run_json(capsys, ["plan", "--map", str(MAP), "--start", "19", "27", "--goal", "22", "18", "--json"], rc=1)
    assert out == {**out, "found": False, "path": [], "status": "no_path"}


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--map", "nowhere.map", "--start", "1", "1", "--goal", "2", "2"], ["nowhere.map", "not found"]),
        (["--map", str(MAP.with_suffix(".png")), "--start", "1", "1", "--goal", "2", "2"], ["neither"]),
        (["--map", str(MAP), "--start", "1.5", "1", "--goal", "2", "2"], ["--start", "whole cell numbers"]),
        (["--map", str(MAP), "--start", "40", "1", "--goal", "2", "2"], ["--start", "outside the 32 x 32"]),
        (["--map", str(MAP), "--start", "1", "1", "--goal", "2", "2", "--cost-weight", "-1"], ["cost_weight"]),
        (["--map", str(MAP), "--start", "1", "nan", "--goal", "2", "2"], ["--start", "finite"]),
        (["--map", str(MAP), "--start", "1", "--goal", "2", "2"], ["--start"]),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], words: list[str]) -> None:
    one_line_error(capsys, ["plan", *argv], *words)


def test_bad_map_files_are_one_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           yaml_map: Path) -> None:  # fmt: skip
    bad = tmp_path / "bad.map"
    bad.write_text("type octile\nheight 2\nwidth 2\nmap\n..\n")
    one_line_error(capsys, ["plan", "--map", str(bad), "--start", "0", "0", "--goal", "1", "0"], "bad.map", "height 2")
    yaw = tmp_path / "yaw.yaml"
    yaw.write_text(yaml_map.read_text().replace("[-1.0, -1.0, 0.0]", "[-1.0, -1.0, 0.3]"))
    one_line_error(capsys, ["plan", "--map", str(yaw), "--start", "0", "0", "--goal", "1", "0"], "yaw.yaml", "yaw")
    one_line_error(capsys, ["plan", "--map", str(yaml_map), "--start", "-5", "0", "--goal", "1", "0"],
                   "start", "outside the grid")  # fmt: skip


def test_goal_outside_the_map_plans_to_its_edge(capsys: pytest.CaptureFixture[str], yaml_map: Path) -> None:
    out = run_json(capsys, ["plan", "--map", str(yaml_map), "--start", "2.0", "-0.52", "--goal", "9", "-0.52",
                            "--json"])  # fmt: skip
    assert out["found"] and out["status"] == "goal_outside"
    assert math.isclose(out["path"][-1][0], 2.95)  # the centre of the rightmost column
    assert math.isclose(out["path"][-1][1], -0.55)  # in the row straight toward the goal

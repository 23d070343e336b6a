"""`rvn` in-process through `main([...])`, and once through the installed console script.

Inputs are rendered into tmp_path by `sim.synthetic` (a box and a keep-out patch in front of the
camera), so every expected count has a known cause.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import robot_vision_nav
from robot_vision_nav import cli, files
from robot_vision_nav.cli import benchmarks
from robot_vision_nav.core.geometry import Pose2D
from robot_vision_nav.sim.synthetic import Box, FloorPatch, Scene, d435_intrinsics, render

K = d435_intrinsics(160, 120)
MOUNT = (0.10, 0.0, 0.50, 0.0, 0.35, 0.0)
SCENE = Scene(
    boxes=(Box(2.0, 0.4, 0.4, 0.6, 0.5),),
    patches=(FloorPatch(1.4, -0.9, 2.0, -0.3, drivable=False),),
)


@pytest.fixture(scope="module")
def frame_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """depth (16-bit mm PNG), depth_m (.npy metres), mask (mono8) and some wrong inputs."""
    from robot_vision_nav.core.geometry import CameraMount

    folder = tmp_path_factory.mktemp("frame")
    frame = render(SCENE, K, CameraMount.from_sequence(MOUNT), Pose2D(0.0, 0.0, 0.0))
    files = {
        "depth": folder / "depth.png",
        "depth_npy": folder / "depth_m.npy",
        "mask": folder / "mask.png",
        "rgb": folder / "rgb.png",
        "mono8": folder / "mono8.png",
        "small_mask": folder / "small_mask.png",
        "not_image": folder / "notes.png",
    }
    assert cv2.imwrite(str(files["depth"]), frame.depth_mm())
    np.save(files["depth_npy"], frame.depth_m)
    assert cv2.imwrite(str(files["mask"]), frame.mask)
    assert cv2.imwrite(str(files["rgb"]), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    assert cv2.imwrite(str(files["mono8"]), np.full((K.height, K.width), 200, np.uint8))
    assert cv2.imwrite(str(files["small_mask"]), frame.mask[::2, ::2])
    files["not_image"].write_text("not a picture\n")
    return files


def camera_args(depth: Path, out: Path, *extra: str) -> list[str]:
    return [
        "costmap", "--depth", str(depth), "--fx", f"{K.fx}", "--fy", f"{K.fy}", "--cx", f"{K.cx}",
        "--cy", f"{K.cy}", "--mount", ",".join(map(str, MOUNT)), "--out", str(out), *extra,
    ]  # fmt: skip


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return json.loads(captured.out)


def assert_one_line_error(capsys: pytest.CaptureFixture[str], rc: int, sub: str, *words: str) -> str:
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.out == ""
    message = captured.err
    assert message.endswith("\n") and message.count("\n") == 1, message
    assert message.startswith(f"rvn {sub}: error: "), message
    assert "Traceback" not in message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def test_costmap_json_counts_cells_and_writes_the_picture(
    frame_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grid.png"
    argv = camera_args(frame_files["depth"], out, "--mask", str(frame_files["mask"]), "--size", "6", "--scale", "2")
    result = run_json(capsys, [*argv, "--json"])
    assert result["out"] == str(out)
    assert result["resolution_m"] == pytest.approx(0.05)
    assert result["size_cells"] == [120, 120]
    cells = result["cells"]
    assert set(cells) == {"free", "inflated", "inscribed", "lethal", "unknown"}
    assert sum(cells.values()) == 120 * 120
    assert cells["lethal"] > 0 and cells["free"] > 0 and cells["unknown"] > 0
    pixels = result["pixels"]
    assert set(pixels) == {"valid", "ground", "obstacle", "keepout", "overhead"}
    assert pixels["obstacle"] > 0 and pixels["keepout"] > 0 and pixels["valid"] <= K.width * K.height
    picture = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert picture.shape == (240, 240, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temporary file left behind


def test_costmap_without_mask_sees_no_keepout_and_marks_fewer_cells(
    frame_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_mask = run_json(capsys, [*camera_args(frame_files["depth"], tmp_path / "a.png", "--mask",
                                               str(frame_files["mask"])), "--json"])  # fmt: skip
    depth_only = run_json(capsys, [*camera_args(frame_files["depth"], tmp_path / "b.png"), "--json"])
    assert depth_only["pixels"]["keepout"] == 0
    assert 0 < depth_only["cells"]["lethal"] < with_mask["cells"]["lethal"]


def test_costmap_float_metres_npy_matches_millimetre_png(
    frame_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mm = run_json(capsys, [*camera_args(frame_files["depth"], tmp_path / "a.png"), "--json"])
    metres = run_json(capsys, [*camera_args(frame_files["depth_npy"], tmp_path / "b.png"), "--json"])
    assert metres["pixels"]["valid"] == mm["pixels"]["valid"]
    assert metres["cells"]["lethal"] == pytest.approx(mm["cells"]["lethal"], abs=3)


def test_costmap_depth_scale_multiplies_raw_units(
    frame_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Read as micrometres every depth (at most 20 m in mm) is under the 0.1 m minimum: nothing is valid.
    tiny = run_json(capsys, [*camera_args(frame_files["depth"], tmp_path / "a.png", "--depth-scale", "1e-6"),
                             "--json"])  # fmt: skip
    assert tiny["pixels"]["valid"] == 0
    assert tiny["cells"]["lethal"] == 0


def test_costmap_human_summary(
    frame_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grid.png"
    assert cli.main(camera_args(frame_files["depth"], out, "--mask", str(frame_files["mask"]))) == 0
    text = capsys.readouterr().out
    assert "lethal" in text and f"wrote {out}" in text and "600x600 px" in text


def test_costmap_replaces_an_existing_picture(
    frame_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grid.png"
    out.write_bytes(b"old")
    assert cli.main(camera_args(frame_files["depth"], out)) == 0
    assert cv2.imread(str(out)) is not None
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


# (name, argv editor, words the message must contain)
BAD_INPUTS = [
    ("missing depth", lambda f, a: swap(a, "--depth", str(f["depth"].with_name("no.png"))), ["no.png", "not found"]),
    ("depth not an image", lambda f, a: swap(a, "--depth", str(f["not_image"])), ["notes.png", "cannot read depth"]),
    ("rgb depth", lambda f, a: swap(a, "--depth", str(f["rgb"])), ["rgb.png", "3 channels", "single-channel"]),
    ("8-bit depth", lambda f, a: swap(a, "--depth", str(f["mono8"])), ["mono8.png", "8-bit", "16-bit"]),
    ("missing mask", lambda f, a: [*a, "--mask", str(f["depth"].with_name("nomask.png"))], ["nomask.png", "not found"]),
    ("rgb mask", lambda f, a: [*a, "--mask", str(f["rgb"])], ["rgb.png", "mono8"]),
    ("mask size", lambda f, a: [*a, "--mask", str(f["small_mask"])], ["small_mask.png", "80x60", "160x120", "same"]),
    ("mount too short", lambda f, a: swap(a, "--mount", "0.1,0,0.5"), ["--mount", "6 comma-separated", "'0.1,0,0.5'"]),
    ("mount negative first", lambda f, a: swap(a, "--mount", "-0.1,0,0.5,0,0.3"), ["--mount", "6 comma-separated"]),
    ("mount words", lambda f, a: swap(a, "--mount", "a,b,c,d,e,f"), ["--mount", "6 numbers"]),
    ("mount out of range", lambda f, a: swap(a, "--mount", "0,0,50,0,0,0"), ["--mount", "camera_mount_xyzrpy", "10"]),
    ("zero fx", lambda f, a: swap(a, "--fx", "0"), ["--fx", "> 0", "px"]),
    ("negative fy", lambda f, a: swap(a, "--fy", "-5"), ["--fy", "> 0", "'-5'"]),
    ("fx not a number", lambda f, a: swap(a, "--fx", "abc"), ["--fx", "'abc'"]),
    ("nan cx", lambda f, a: swap(a, "--cx", "nan"), ["--cx", "finite"]),
    ("zero depth scale", lambda f, a: [*a, "--depth-scale", "0"], ["--depth-scale", "> 0"]),
    ("resolution range", lambda f, a: [*a, "--resolution", "5"], ["--resolution", "resolution_m", "[0.005, 1] m"]),
    ("window too small", lambda f, a: [*a, "--size", "0.2"], ["--size", "width_m", "0.2"]),
    ("window with too few cells", lambda f, a: [*a, "--size", "1", "--resolution", "0.5"], ["fewer than 3 cells"]),
    ("scale range", lambda f, a: [*a, "--scale", "0"], ["--scale", "1..20"]),
    ("missing intrinsics", lambda f, a: drop(a, "--fx"), ["required", "--fx"]),
    ("out folder missing", lambda f, a: swap(a, "--out", str(Path(a[a.index("--out") + 1]).parent / "no" / "g.png")),
     ["--out", "does not exist"]),
    ("out suffix", lambda f, a: swap(a, "--out", a[a.index("--out") + 1] + ".xyz"), ["--out", ".xyz", ".png"]),
]  # fmt: skip


def swap(argv: list[str], flag: str, value: str) -> list[str]:
    argv = list(argv)
    argv[argv.index(flag) + 1] = value
    return argv


def drop(argv: list[str], flag: str) -> list[str]:
    i = argv.index(flag)
    return argv[:i] + argv[i + 2 :]


@pytest.mark.parametrize(("name", "edit", "words"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_costmap_bad_input_exits_2_with_one_line_and_writes_nothing(
    name: str, edit, words: list[str], frame_files: dict[str, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "grid.png"
    rc = cli.main(edit(frame_files, camera_args(frame_files["depth"], out)))
    assert_one_line_error(capsys, rc, "costmap", *words)
    assert list(tmp_path.iterdir()) == []


def test_costmap_error_keeps_an_existing_output_file(
    frame_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grid.png"
    out.write_bytes(b"the previous picture")
    rc = cli.main([*camera_args(frame_files["depth"], out), "--mask", str(frame_files["small_mask"])])
    assert_one_line_error(capsys, rc, "costmap", "same size")
    assert out.read_bytes() == b"the previous picture"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


def test_write_bytes_atomic_failure_leaves_old_file_and_no_temporary(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "x.bin"
    out.write_bytes(b"old")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(OSError):
        files.write_bytes_atomic(out, b"new")
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--scenes", "0"], ["--scenes", "1..1000"]),
        (["--seed", "-3"], ["--seed"]),
        (["--ablation", "mask-only"], ["--ablation", "depth-only"]),
    ],
)
def test_demo_bad_arguments_exit_2(args: list[str], words: list[str], tmp_path: Path, capsys) -> None:
    rc = cli.main(["demo", "--out", str(tmp_path / "d"), *args])
    assert_one_line_error(capsys, rc, "demo", *words)
    assert not (tmp_path / "d").exists()


def test_demo_out_that_is_a_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    rc = cli.main(["demo", "--out", str(tmp_path / "file"), "--scenes", "1"])
    assert_one_line_error(capsys, rc, "demo", "not a folder")


def test_demo_missing_params_file_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["demo", "--out", str(tmp_path / "d"), "--params", str(tmp_path / "nope.yaml")])
    assert_one_line_error(capsys, rc, "demo", "nope.yaml", "does not exist")


def test_bench_unknown_name_lists_available(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["bench", "nosuch"])
    message = assert_one_line_error(capsys, rc, "bench", "'nosuch'", "available:")
    for name in cli.bench_names():
        assert name in message
    assert "common" not in message and "__init__" not in message


def test_bench_runs_the_named_module(tmp_path: Path, monkeypatch, capsys: pytest.CaptureFixture[str]) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "__init__.py").write_text("")
    (bench / "common.py").write_text("def print_table(result):\n    print('TABLE', result['bench'])\n")
    (bench / "fake.py").write_text(
        "def run(quick=False):\n    return {'bench': 'fake', 'machine': 'm', 'rows': [], 'quick': quick}\n"
    )
    monkeypatch.setattr(benchmarks, "REPO", tmp_path)
    monkeypatch.setattr(benchmarks, "BENCH_DIR", bench)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [m for m in sys.modules if m == "bench" or m.startswith("bench.")]:
        monkeypatch.delitem(sys.modules, name)
    assert cli.bench_names(bench) == ["fake"]
    assert run_json(capsys, ["bench", "fake", "--json", "--quick"]) == {
        "bench": "fake", "machine": "m", "rows": [], "quick": True,
    }  # fmt: skip
    assert cli.main(["bench", "fake"]) == 0
    assert capsys.readouterr().out == "TABLE fake\n"


def test_bench_outside_a_checkout_says_it_needs_one(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(benchmarks, "BENCH_DIR", tmp_path / "bench")  # an install space has no bench/
    rc = cli.main(["bench", "costmap"])
    assert_one_line_error(capsys, rc, "bench", "no bench/ folder", "source checkout")


@pytest.mark.parametrize(("sub", "units"), [("costmap", ["(m,", "(px", "rad", "metres per depth unit"]),
                                            ("demo", ["30", "clearance", "seed"]), ("bench", ["ms"])])  # fmt: skip
def test_every_subcommand_help_gives_units(sub: str, units: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([sub, "--help"]) == 0
    text = capsys.readouterr().out
    for unit in units:
        assert unit in text


def test_no_command_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main([])
    message = capsys.readouterr().err
    assert rc == 2 and message.count("\n") == 1 and message.startswith("rvn: error: ")


def test_console_script_runs() -> None:
    rvn = Path(sys.executable).parent / "rvn"
    assert rvn.exists(), f"console script missing: {rvn} (pip install -e .)"
    done = subprocess.run([str(rvn), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    for sub in ("costmap", "bench", "demo"):
        assert sub in done.stdout


def test_python_m_runs_the_same_command() -> None:
    command = [sys.executable, "-m", "robot_vision_nav.cli", "--version"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, f"rvn {robot_vision_nav.__version__}\n"), done.stderr


# Runs in a fresh interpreter: this pytest process already holds torch, OpenCV and rclpy.
IMPORT_EVERY_CLI_MODULE = """
import importlib, json, pkgutil, sys
import robot_vision_nav.cli as cli
names = [i.name for i in pkgutil.walk_packages(cli.__path__, cli.__name__ + ".") if i.name[-8:] != "__main__"]
for name in names:
    importlib.import_module(name)
cli.build_parser().format_help()
heavy = ("rclpy", "torch", "cv2", "numpy", "numba", "rosbags", "mujoco", "yaml")
print(json.dumps({"names": names, "heavy": sorted(m for m in sys.modules if m.split(".")[0] in heavy)}))
"""


def test_no_cli_module_imports_ros_or_heavy_libraries_at_module_level() -> None:
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERY_CLI_MODULE], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "robot_vision_nav.cli.common" in result["names"] and len(result["names"]) > 5
    assert result["heavy"] == []


def test_demo_localized_without_tf2_ros_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from robot_vision_nav import demo

    monkeypatch.setattr(demo, "camera_mount_source", lambda: "parameter")  # what a machine without tf2_ros says
    rc = cli.main(["demo", "--out", str(tmp_path / "d"), "--scenes", "1", "--localized"])
    assert_one_line_error(capsys, rc, "demo", "--localized needs tf2_ros")
    assert not (tmp_path / "d").exists()  # refused before anything is written

"""core.maps: Nav2 map_server YAML + image (value for value as map_server) and MovingAI files.

Images are written into tmp_path with OpenCV, so every expected value has a known pixel behind it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from robot_vision_nav.core.maps import (
    MapError,
    load_map_yaml,
    load_movingai_map,
    occupancy_from_image,
    parse_movingai_map,
    read_movingai_scen,
)

DATA = Path(__file__).resolve().parent / "data"


def write_map(folder: Path, pixels: np.ndarray, name: str = "map.pgm", **fields: object) -> Path:
    assert cv2.imwrite(str(folder / name), pixels)
    doc = {"image": name, "resolution": 0.05, "origin": [-1.0, 2.0, 0.0], "negate": 0,
           "occupied_thresh": 0.65, "free_thresh": 0.196, **fields}  # fmt: skip
    lines = [f"{key}: {value!r}".replace("'", "") if not isinstance(value, str) else f"{key}: {value}"
             for key, value in doc.items()]  # fmt: skip
    path = folder / "map.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------------------- Nav2
def test_trinary_thresholds_match_map_server(tmp_path: Path) -> None:
    # p = 1 - pixel / 255: 255 -> 0 free; 205 -> 0.196078 (> 0.196: unknown, map_saver's grey);
    # 206 -> 0.192 free; 90 -> 0.647 unknown; 89 -> 0.651 lethal; 0 -> 1 lethal.
    pixels = np.array([[255, 205, 206, 90, 89, 0]], dtype=np.uint8)
    grid = load_map_yaml(write_map(tmp_path, pixels))
    assert grid.values.tolist() == [[0, -1, 0, -1, 100, 100]]


def test_negate_flips_what_is_occupied(tmp_path: Path) -> None:
    pixels = np.array([[0, 255, 49, 166]], dtype=np.uint8)  # p = pixel / 255: 0, 1, 0.192, 0.651
    grid = load_map_yaml(write_map(tmp_path, pixels, negate=1))
    assert grid.values.tolist() == [[0, 100, 0, 100]]
    assert load_map_yaml(write_map(tmp_path, pixels, negate=True)).values.tolist() == [[0, 100, 0, 100]]


def test_image_top_row_is_the_highest_y_and_origin_is_the_lower_left_corner(tmp_path: Path) -> None:
    pixels = np.full((4, 3), 255, dtype=np.uint8)
    pixels[0, 2] = 0  # top-right pixel of the picture
    grid = load_map_yaml(write_map(tmp_path, pixels, name="map.png", origin=[-1.0, 2.0, 0.0], resolution=0.5))
    assert grid.shape == (4, 3)
    assert grid.values[3, 2] == 100 and np.count_nonzero(grid.values) == 1
    assert (grid.origin_x_m, grid.origin_y_m, grid.resolution_m) == (-1.0, 2.0, 0.5)
    assert grid.value_at(-1.0 + 2.5 * 0.5, 2.0 + 3.5 * 0.5) == 100  # world point of that pixel's centre
    assert grid.value_at(-1.0 + 0.25, 2.0 + 0.25) == 0
    assert grid.frame_id == "map"


def test_colour_alpha_and_sixteen_bit_images(tmp_path: Path) -> None:
    bgra = np.zeros((1, 3, 4), dtype=np.uint8)
    bgra[0, 0] = (255, 255, 255, 255)  # opaque white: shade 1 -> free
    bgra[0, 1] = (255, 255, 255, 0)  # transparent white: trinary averages alpha in: shade 0.75, p 0.25 -> unknown
    bgra[0, 2] = (0, 0, 0, 255)  # opaque black: shade 0.25 -> p 0.75 -> lethal
    grid = load_map_yaml(write_map(tmp_path, bgra, name="map.png"))
    assert grid.values.tolist() == [[0, -1, 100]]
    wide = np.array([[65535, 0, 40000]], dtype=np.uint16)  # p = 0, 1, 0.39
    assert load_map_yaml(write_map(tmp_path, wide, name="wide.png")).values.tolist() == [[0, 100, -1]]
    bgr = np.array([[[255, 255, 255], [0, 0, 255], [30, 30, 30]]], dtype=np.uint8)  # red: mean 85 -> p 0.667
    assert load_map_yaml(write_map(tmp_path, bgr, name="bgr.png")).values.tolist() == [[0, 100, 100]]


def test_scale_and_raw_modes(tmp_path: Path) -> None:
    gray_alpha = np.zeros((1, 4, 4), dtype=np.uint8)
    gray_alpha[0, :, 3] = 255
    gray_alpha[0, 0, :3] = 255  # p = 0 -> free
    gray_alpha[0, 1, :3] = 128  # p = 0.498 -> rint(100 * (0.498 - 0.196) / (0.65 - 0.196)) = 67
    gray_alpha[0, 2, :3] = 0  # p = 1 -> lethal
    gray_alpha[0, 3] = (128, 128, 128, 200)  # not opaque -> unknown
    grid = load_map_yaml(write_map(tmp_path, gray_alpha, name="scale.png", mode="scale"))
    expected_mid = int(np.rint((1 - 128 / 255 - 0.196) / (0.65 - 0.196) * 100))
    assert grid.values.tolist() == [[0, expected_mid, 100, -1]]
    raw = np.array([[0, 42, 100, 101, 255]], dtype=np.uint8)
    assert load_map_yaml(write_map(tmp_path, raw, name="raw.pgm", mode="raw")).values.tolist() == [[0, 42, 100, -1, -1]]


def test_occupancy_from_image_refuses_other_pixel_types() -> None:
    with pytest.raises(MapError, match="8- or 16-bit"):
        occupancy_from_image(np.zeros((2, 2), dtype=np.float32), False, 0.65, 0.2)
    with pytest.raises(MapError, match="shape"):
        occupancy_from_image(np.zeros((2, 2, 5), dtype=np.uint8), False, 0.65, 0.2)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"origin": [0.0, 0.0, 0.5]}, "yaw"),
        ({"resolution": 0}, "resolution"),
        ({"resolution": "fine"}, "resolution"),
        ({"origin": [0.0, 0.0]}, "origin"),
        ({"occupied_thresh": 0.1}, "thresholds"),
        ({"negate": 2}, "negate"),
        ({"mode": "fancy"}, "mode"),
        ({"image": "missing.pgm"}, "not found"),
    ],
)
def test_bad_yaml_fields_raise_map_error_naming_the_file(tmp_path: Path, fields: dict, words: str) -> None:
    path = write_map(tmp_path, np.zeros((2, 2), dtype=np.uint8), **fields)
    with pytest.raises(MapError, match=words) as info:
        load_map_yaml(path)
    assert str(path) in str(info.value)


def test_unreadable_files_raise_map_error_naming_them(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    with pytest.raises(MapError, match=r"nowhere\.yaml"):
        load_map_yaml(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("image: [unclosed\nresolution: 0.05\n")
    with pytest.raises(MapError, match=r"broken\.yaml.*not valid YAML"):
        load_map_yaml(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(MapError, match="mapping"):
        load_map_yaml(listing)
    no_key = tmp_path / "nokey.yaml"
    no_key.write_text("image: map.pgm\nresolution: 0.05\norigin: [0, 0, 0]\nnegate: 0\nfree_thresh: 0.2\n")
    with pytest.raises(MapError, match="occupied_thresh"):
        load_map_yaml(no_key)
    (tmp_path / "notes.pgm").write_text("not a picture")
    path = write_map(tmp_path, np.zeros((2, 2), dtype=np.uint8), image="notes.pgm")
    (tmp_path / "notes.pgm").write_text("not a picture")
    with pytest.raises(MapError, match="cannot decode") as info:
        load_map_yaml(path)
    assert str(path) in str(info.value)


def test_image_path_is_relative_to_the_yaml_unless_absolute(tmp_path: Path) -> None:
    sub = tmp_path / "maps"
    sub.mkdir()
    path = write_map(sub, np.full((2, 2), 255, dtype=np.uint8), name="floor.pgm")
    assert load_map_yaml(path).shape == (2, 2)
    absolute = write_map(sub, np.full((3, 2), 255, dtype=np.uint8), name="other.pgm", image=str(sub / "other.pgm"))
    assert load_map_yaml(absolute).shape == (3, 2)


# ---------------------------------------------------------------------------------------- MovingAI
def test_movingai_map_keeps_file_lines_as_rows_and_centres_cells_on_their_numbers() -> None:
    text = "type octile\nheight 3\nwidth 4\nmap\n.@T.\nGSW.\n....\n"
    values = parse_movingai_map(text)
    assert values.tolist() == [[0, 100, 100, 0], [0, 0, 100, 0], [0, 0, 0, 0]]
    grid = load_movingai_map(DATA / "rooms32.map")
    assert grid.shape == (32, 32) and grid.resolution_m == 1.0
    lines = (DATA / "rooms32.map").read_text().splitlines()[4:]
    for y in (0, 3, 10, 31):
        for x in (0, 5, 16, 24):
            expected = 0 if lines[y][x] in ".GS" else 100
            assert grid.values[y, x] == expected
            assert grid.value_at(float(x), float(y)) == expected  # MovingAI (x, y) is a world point
            assert grid.world_to_cell(float(x), float(y)) == (y, x)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("type hex\nheight 1\nwidth 1\nmap\n.\n", "octile"),
        ("type octile\nheight 2\nwidth 2\nmap\n..\n", "height 2 but the file has 1 map line"),
        ("type octile\nheight 1\nwidth 3\nmap\n..\n", "width 3"),
        ("type octile\nheight x\nwidth 3\nmap\n...\n", "whole numbers"),
        ("type octile\nheight 1\nwidth 1\n", "no 'map' line"),
        ("type octile\nhello there world\nmap\n", "line 2"),
    ],
)
def test_bad_movingai_maps_raise_map_error(text: str, words: str) -> None:
    with pytest.raises(MapError, match=words):
        parse_movingai_map(text, "x.map")


def test_movingai_scenarios_are_read(tmp_path: Path) -> None:
    scenarios = read_movingai_scen(DATA / "rooms32.map.scen")
    assert len(scenarios) == 24
    first = scenarios[0]
    assert first.map_name == "rooms32.map" and (first.width, first.height) == (32, 32)
    assert first.bucket == int(first.optimal_length // 4)
    bad = tmp_path / "bad.scen"
    bad.write_text("version 1\n0\tm.map\t3\t3\t0\t0\t1\n")
    with pytest.raises(MapError, match="line 2 has 7 fields"):
        read_movingai_scen(bad)
    bad.write_text("0\tm.map\t3\t3\t0\t0\t1\t1\t1.4\n")
    with pytest.raises(MapError, match="version 1"):
        read_movingai_scen(bad)
    bad.write_text("version 1\n0\tm.map\t3\t3\t0\tzero\t1\t1\t1.4\n")
    with pytest.raises(MapError, match="line 2"):
        read_movingai_scen(bad)
    with pytest.raises(MapError, match=r"missing\.scen"):
        read_movingai_scen(tmp_path / "missing.scen")
    with pytest.raises(MapError, match=r"missing\.map"):
        load_movingai_map(tmp_path / "missing.map")

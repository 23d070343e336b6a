"""Replay regression comparison: summaries of real (CDR round-tripped) messages, metrics, files."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from rosbags.typesys import Stores, get_typestore

from robot_vision_nav.replay.compare import (
    STREAMS,
    CompareError,
    StreamResult,
    SummaryBuilder,
    Tolerances,
    compare_summaries,
    costmap_from_record,
    format_table,
    load_summary,
    mask_from_record,
    results_json,
    write_summary,
)

TS = get_typestore(Stores.ROS2_KILTED)
Time = TS.types["builtin_interfaces/msg/Time"]
Header = TS.types["std_msgs/msg/Header"]
Image = TS.types["sensor_msgs/msg/Image"]
OccupancyGrid = TS.types["nav_msgs/msg/OccupancyGrid"]
MapMetaData = TS.types["nav_msgs/msg/MapMetaData"]
Path_ = TS.types["nav_msgs/msg/Path"]
PoseStamped = TS.types["geometry_msgs/msg/PoseStamped"]
Pose = TS.types["geometry_msgs/msg/Pose"]
Point = TS.types["geometry_msgs/msg/Point"]
Quaternion = TS.types["geometry_msgs/msg/Quaternion"]
Twist = TS.types["geometry_msgs/msg/Twist"]
TwistStamped = TS.types["geometry_msgs/msg/TwistStamped"]
Vector3 = TS.types["geometry_msgs/msg/Vector3"]

NS = 1_000_000_000
T0 = 1_700_000_000 * NS  # bag start, log time and stamps alike
STEP_NS = 100_000_000  # 10 Hz


def cdr(msg: Any) -> Any:
    """The message as a bag reader gives it back: serialized to CDR and deserialized."""
    return TS.deserialize_cdr(TS.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


def header(stamp_ns: int) -> Any:
    return Header(stamp=Time(sec=stamp_ns // NS, nanosec=stamp_ns % NS), frame_id="odom")


def image_msg(pixels: NDArray[np.uint8], stamp_ns: int, step: int | None = None, pad: int = 0) -> Any:
    height, width = pixels.shape
    step = width if step is None else step
    rows = np.full((height, step), pad, dtype=np.uint8)
    rows[:, :width] = pixels
    return cdr(Image(header(stamp_ns), height, width, "mono8", 0, step, rows.reshape(-1)))


def grid_msg(cells: NDArray[np.int8], stamp_ns: int, origin_xy: tuple[float, float] = (-2.0, -2.5)) -> Any:
    height, width = cells.shape
    origin = Pose(Point(origin_xy[0], origin_xy[1], 0.0), Quaternion(0.0, 0.0, 0.0, 1.0))
    info = MapMetaData(Time(sec=0, nanosec=0), 0.05, width, height, origin)
    return cdr(OccupancyGrid(header(stamp_ns), info, cells.astype(np.int8).reshape(-1)))


def path_msg(xy: list[tuple[float, float]], stamp_ns: int) -> Any:
    poses = [PoseStamped(header(stamp_ns), Pose(Point(x, y, 0.0), Quaternion(0.0, 0.0, 0.0, 1.0))) for x, y in xy]
    return cdr(Path_(header(stamp_ns), poses))


def twist_msg(v: float, w: float, stamp_ns: int | None = None) -> Any:
    twist = Twist(Vector3(v, 0.0, 0.0), Vector3(0.0, 0.0, w))
    return cdr(twist if stamp_ns is None else TwistStamped(header(stamp_ns), twist))


def base_mask() -> NDArray[np.uint8]:
    mask = np.zeros((10, 10), dtype=np.uint8)
    mask[5:, :] = 255  # the lower half is drivable: 50 pixels
    return mask


def base_grid() -> NDArray[np.int8]:
    cells = np.zeros((10, 10), dtype=np.int8)
    cells[0, :] = -1
    cells[4:6, 4:6] = 100
    return cells


BASE_PLAN = [(0.0, 0.0), (0.5, 0.1), (1.0, 0.3), (1.5, 0.3)]


def run_summary(
    n: int = 3,
    mask: NDArray[np.uint8] | None = None,
    grid: NDArray[np.int8] | None = None,
    plan_offset: tuple[float, float] = (0.0, 0.0),
    skip_cmd: int | None = None,
    name: str = "run.mcap",
) -> dict[str, Any]:
    """A run with `n` messages per stream at 10 Hz; the changes apply to the last message."""
    builder = SummaryBuilder()
    for i in range(n):
        t = T0 + i * STEP_NS
        last = i == n - 1
        builder.add("mask", t + 1000, image_msg(mask if last and mask is not None else base_mask(), t))
        builder.add("costmap", t + 2000, grid_msg(grid if last and grid is not None else base_grid(), t))
        dx, dy = plan_offset if last else (0.0, 0.0)
        builder.add("plan", t + 3000, path_msg([(x + dx, y + dy) for x, y in BASE_PLAN], t))
        if i != skip_cmd:
            builder.add("cmd_vel", t + 4000, twist_msg(0.3, 0.1 * i, t))
    return builder.summary(name)


def by_stream(results: list[StreamResult]) -> dict[str, StreamResult]:
    return {r.stream: r for r in results}


# ---------------------------------------------------------------------------------------------------


def test_identical_summaries_pass_every_stream_with_perfect_metrics() -> None:
    golden = run_summary()
    results = compare_summaries(golden, run_summary(), Tolerances())
    assert [r.stream for r in results] == list(STREAMS)
    assert all(r.passed for r in results)
    assert all(r.golden == r.replayed == r.matched == 3 for r in results)
    rows = by_stream(results)
    assert rows["mask"].worst == 1.0 and rows["mask"].metric == "IoU min"
    assert rows["costmap"].worst == 1.0 and rows["costmap"].metric == "cells agree min"
    assert rows["plan"].worst == 0.0 and rows["plan"].metric == "Hausdorff max m"
    assert rows["cmd_vel"].worst == 0.0 and rows["cmd_vel"].metric == "max diff"
    assert rows["mask"].detail == "worst at t = 0.000 s"


def test_empty_streams_pass_with_neutral_worst() -> None:
    empty = SummaryBuilder().summary("empty.mcap")
    results = by_stream(compare_summaries(empty, empty, Tolerances()))
    assert all(r.passed and r.matched == 0 for r in results.values())
    assert [results[s].worst for s in STREAMS] == [1.0, 1.0, 0.0, 0.0]
    assert results["plan"].detail == "no messages"


def test_mask_with_flipped_pixels_gives_the_exact_iou() -> None:
    mask = base_mask()
    mask[9, 0:3] = 0  # 3 drivable pixels lost
    mask[0, 0:2] = 255  # 2 gained: intersection 47, union 52
    results = by_stream(compare_summaries(run_summary(), run_summary(mask=mask), Tolerances()))
    assert results["mask"].worst == pytest.approx(47 / 52)
    assert not results["mask"].passed
    assert results["mask"].detail == "worst at t = 0.200 s"
    assert results["costmap"].passed
    loose = by_stream(compare_summaries(run_summary(), run_summary(mask=mask), Tolerances(mask_iou_min=0.9)))
    assert loose["mask"].passed


def test_mask_of_another_shape_scores_zero_and_two_empty_masks_score_one() -> None:
    other = np.full((10, 12), 255, dtype=np.uint8)
    assert by_stream(compare_summaries(run_summary(), run_summary(mask=other), Tolerances()))["mask"].worst == 0.0
    empty = np.zeros((10, 10), dtype=np.uint8)
    golden = run_summary(n=1, mask=empty)
    assert by_stream(compare_summaries(golden, run_summary(n=1, mask=empty), Tolerances()))["mask"].worst == 1.0


def test_shifted_plan_gives_the_expected_hausdorff() -> None:
    results = by_stream(compare_summaries(run_summary(), run_summary(plan_offset=(0.03, 0.04)), Tolerances()))
    assert results["plan"].worst == pytest.approx(0.05, abs=1e-6)
    assert results["plan"].passed
    results = by_stream(compare_summaries(run_summary(), run_summary(plan_offset=(0.3, 0.4)), Tolerances()))
    assert results["plan"].worst == pytest.approx(0.5, abs=1e-6)
    assert not results["plan"].passed


def test_plan_missing_a_vertex_or_empty_is_measured_from_the_vertex_sets() -> None:
    golden, new = SummaryBuilder(), SummaryBuilder()
    golden.add("plan", T0, path_msg([(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)], T0))
    new.add("plan", T0, path_msg([(0.0, 0.0), (1.0, 0.0)], T0))
    golden.add("plan", T0 + STEP_NS, path_msg([(0.0, 0.0)], T0 + STEP_NS))
    new.add("plan", T0 + STEP_NS, path_msg([], T0 + STEP_NS))
    results = by_stream(compare_summaries(golden.summary("g"), new.summary("n"), Tolerances()))
    assert results["plan"].worst == math.inf
    assert results["plan"].detail == "worst at t = 0.100 s"
    assert not results["plan"].passed


def test_costmap_change_below_tolerance_passes_and_above_fails() -> None:
    one = base_grid()
    one[7, 7] = 50  # 99 of 100 cells agree
    results = by_stream(compare_summaries(run_summary(), run_summary(grid=one), Tolerances()))
    assert results["costmap"].worst == pytest.approx(0.99)
    assert results["costmap"].passed
    three = base_grid()
    three[7, 7:10] = 100  # 97 of 100
    results = by_stream(compare_summaries(run_summary(), run_summary(grid=three), Tolerances()))
    assert results["costmap"].worst == pytest.approx(0.97)
    assert not results["costmap"].passed


def test_costmap_on_another_origin_scores_zero() -> None:
    golden, new = SummaryBuilder(), SummaryBuilder()
    golden.add("costmap", T0, grid_msg(base_grid(), T0))
    new.add("costmap", T0, grid_msg(base_grid(), T0, origin_xy=(-2.05, -2.5)))
    results = by_stream(compare_summaries(golden.summary("g"), new.summary("n"), Tolerances()))
    assert results["costmap"].worst == 0.0
    assert not results["costmap"].passed


def test_missing_command_fails_with_unmatched_detail() -> None:
    results = by_stream(compare_summaries(run_summary(n=4), run_summary(n=4, skip_cmd=2), Tolerances()))
    cmd = results["cmd_vel"]
    assert (cmd.golden, cmd.replayed, cmd.matched) == (4, 3, 3)
    assert not cmd.passed
    assert cmd.worst == 0.0
    # t counts from the golden run's first record (its mask at T0 + 1000 ns)
    assert cmd.detail.startswith("1 golden message missing, first at t = 0.200 s")
    allowed = by_stream(compare_summaries(run_summary(n=4), run_summary(n=4, skip_cmd=2), Tolerances(unmatched_max=1)))
    assert allowed["cmd_vel"].passed


def test_extra_replayed_messages_count_as_unmatched() -> None:
    results = by_stream(compare_summaries(run_summary(n=2), run_summary(n=4), Tolerances()))
    assert results["mask"].matched == 2
    assert not results["mask"].passed
    assert results["mask"].detail.startswith("2 extra replayed messages, first at t = 0.200 s")


def test_cmd_vel_difference_is_the_larger_axis_and_twist_stamped_reads_like_twist() -> None:
    golden, new = SummaryBuilder(), SummaryBuilder()
    golden.add("cmd_vel", T0, twist_msg(0.5, 0.2))
    new.add("cmd_vel", T0, twist_msg(0.53, 0.1, stamp_ns=T0))
    results = by_stream(compare_summaries(golden.summary("g"), new.summary("n"), Tolerances()))
    assert results["cmd_vel"].worst == pytest.approx(0.1)
    assert not results["cmd_vel"].passed
    assert new.summary("n")["streams"]["cmd_vel"] == [{"t": T0, "v": 0.53, "w": 0.1}]


def test_nan_command_fails() -> None:
    golden, new = SummaryBuilder(), SummaryBuilder()
    golden.add("cmd_vel", T0, twist_msg(0.5, 0.0))
    new.add("cmd_vel", T0, twist_msg(math.nan, 0.0))
    result = by_stream(compare_summaries(golden.summary("g"), new.summary("n"), Tolerances()))["cmd_vel"]
    assert result.worst == math.inf and not result.passed


@pytest.mark.parametrize(
    ("height", "width", "step", "seed"),
    [(1, 1, 1, 0), (6, 7, 7, 1), (6, 7, 9, 2), (32, 40, 48, 3), (5, 3, 8, 4), (0, 4, 4, 5)],
)
def test_mask_rle_round_trips_random_masks_with_row_padding(height: int, width: int, step: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pixels = rng.choice(np.array([0, 128, 255], dtype=np.uint8), size=(height, width), p=[0.4, 0.1, 0.5])
    builder = SummaryBuilder()
    builder.add("mask", T0, image_msg(pixels, T0, step=step, pad=255))  # padding must not count
    record = builder.summary("b")["streams"]["mask"][0]
    assert record["shape"] == [height, width]
    assert record["stamp"] == T0
    decoded = mask_from_record(record)
    assert decoded.dtype == np.bool_
    np.testing.assert_array_equal(decoded, pixels == 255)


@pytest.mark.parametrize("fill", [0, 255])
def test_mask_rle_starts_with_the_false_run(fill: int) -> None:
    builder = SummaryBuilder()
    builder.add("mask", T0, image_msg(np.full((2, 3), fill, dtype=np.uint8), T0))
    assert builder.summary("b")["streams"]["mask"][0]["runs"] == ([0, 6] if fill == 255 else [6])


def test_costmap_rle_round_trips() -> None:
    rng = np.random.default_rng(7)
    cells = rng.choice(np.array([-1, 0, 0, 0, 37, 99, 100], dtype=np.int8), size=(13, 17))
    builder = SummaryBuilder()
    builder.add("costmap", T0, grid_msg(cells, T0))
    record = builder.summary("b")["streams"]["costmap"][0]
    assert record["origin"] == [-2.0, -2.5]
    assert record["resolution"] == pytest.approx(0.05)
    np.testing.assert_array_equal(costmap_from_record(record), cells)


def test_plan_record_rounds_to_a_micrometre() -> None:
    builder = SummaryBuilder()
    builder.add("plan", T0 + 5, path_msg([(1.23456789, -0.0000001)], T0))
    assert builder.summary("b")["streams"]["plan"] == [{"t": T0 + 5, "stamp": T0, "xy": [[1.234568, 0.0]]}]


def test_unknown_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown stream 'odom'"):
        SummaryBuilder().add("odom", T0, twist_msg(0.0, 0.0))


def test_summary_file_bytes_are_identical_when_written_twice(tmp_path: Path) -> None:
    summary = run_summary(name="golden.mcap")
    write_summary(tmp_path / "a.json", summary)
    write_summary(tmp_path / "b.json", run_summary(name="golden.mcap"))
    first = (tmp_path / "a.json").read_bytes()
    assert first == (tmp_path / "b.json").read_bytes()
    assert first.endswith(b"}\n") and b"\n" not in first[:-1] and b": " not in first
    assert first.startswith(b'{"bag":"golden.mcap","format":"rvn-replay-summary"')
    loaded = load_summary(tmp_path / "a.json")
    assert loaded == json.loads(json.dumps(summary))
    assert all(r.passed for r in compare_summaries(loaded, summary, Tolerances()))


def _write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _with(summary: dict[str, Any], change: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(summary))
    change(copy)
    return copy


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(format="other"), "format is 'other', expected 'rvn-replay-summary'"),
        (lambda s: s.update(version=2), "version 2 is not supported, expected 1"),
        (lambda s: s.pop("bag"), "field 'bag'"),
        (lambda s: s["streams"].pop("plan"), "stream 'plan' is missing"),
        (lambda s: s["streams"]["mask"][1].pop("runs"), r"streams.mask\[1\]: missing field 'runs'"),
        (lambda s: s["streams"]["mask"][0]["runs"].append(1), r"streams.mask\[0\]: field 'runs' covers 101 pixels"),
        (lambda s: s["streams"]["costmap"][0].update(origin=[1.0]), r"streams.costmap\[0\]: field 'origin'"),
        (lambda s: s["streams"]["cmd_vel"][2].update(t=1.5), r"streams.cmd_vel\[2\]: field 't' = 1.5"),
        (lambda s: s["streams"]["plan"][0].update(xy=[[1.0]]), r"streams.plan\[0\]: field 'xy'"),
    ],
)
def test_load_summary_refuses_malformed_summaries_naming_the_file(tmp_path: Path, change: Any, message: str) -> None:
    path = _write_json(tmp_path / "golden.json", _with(run_summary(), change))
    with pytest.raises(CompareError, match=message) as info:
        load_summary(path)
    assert str(path) in str(info.value)


def test_load_summary_refuses_non_json_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "golden.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CompareError, match=re.escape(f"{bad} is not JSON")) as info:
        load_summary(bad)
    assert isinstance(info.value.__cause__, json.JSONDecodeError)
    with pytest.raises(CompareError, match=re.escape(str(tmp_path / "missing.json"))):
        load_summary(tmp_path / "missing.json")
    with pytest.raises(CompareError, match="expected a JSON object, got list"):
        load_summary(_write_json(tmp_path / "list.json", []))


def test_tolerances_from_mapping_overrides_defaults() -> None:
    tol = Tolerances.from_mapping({"mask_iou_min": 0.9, "unmatched_max": 2.0, "path_hausdorff_max_m": 1}, "tol.yaml")
    assert tol == Tolerances(mask_iou_min=0.9, path_hausdorff_max_m=1.0, unmatched_max=2)
    assert isinstance(tol.unmatched_max, int)
    assert Tolerances.from_mapping({}, "--tolerance") == Tolerances()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("mask_iou_min", 1.5, "0 <= value <= 1"),
        ("costmap_agreement_min", -0.1, "0 <= value <= 1"),
        ("path_hausdorff_max_m", -0.01, "finite value >= 0"),
        ("cmd_vel_max_diff", math.nan, "finite value >= 0"),
        ("unmatched_max", 1.5, "a whole number >= 0"),
        ("unmatched_max", -1, "a whole number >= 0"),
        ("mask_iou_min", True, "0 <= value <= 1"),
    ],
)
def test_tolerances_from_mapping_refuses_out_of_range_values(key: str, value: Any, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        Tolerances.from_mapping({key: value}, "--tolerance")
    text = str(info.value)
    assert f"'{key}'" in text and repr(value) in text and expected in text and "--tolerance" in text


def test_tolerances_from_mapping_refuses_unknown_keys() -> None:
    with pytest.raises(
        ValueError, match=re.escape("unknown tolerance 'iou' in tol.json, expected one of: mask_iou_min")
    ):
        Tolerances.from_mapping({"iou": 0.5}, "tol.json")


def test_table_and_json_report_every_stream() -> None:
    results = compare_summaries(run_summary(), run_summary(plan_offset=(0.3, 0.4), skip_cmd=1), Tolerances())
    results[2].worst = math.inf
    table = format_table(results).splitlines()
    assert table[0].split() == [
        "stream", "golden", "replayed", "matched", "metric", "worst", "tolerance", "result", "detail"
    ]  # fmt: skip
    assert len(table) == 5
    assert len({line.index("PASS" if "PASS" in line else "FAIL") for line in table[1:]}) == 1  # one column
    assert "PASS" in table[1] and ">= 0.9800" in table[1]
    assert "FAIL" in table[3] and "inf" in table[3] and "<= 0.1000" in table[3]
    assert "FAIL" in table[4] and "1 golden message missing" in table[4]
    rows = results_json(results)
    text = json.dumps(rows, allow_nan=False)  # valid JSON: no Infinity
    assert json.loads(text)[2]["worst"] == "inf"
    assert [row["passed"] for row in rows] == [True, True, False, False]
    assert set(rows[0]) == {
        "stream", "golden", "replayed", "matched", "metric", "worst", "tolerance", "passed", "detail"
    }  # fmt: skip

"""Regression comparison of a replay's navigation outputs with a golden run.

`rvn replay BAG --check GOLDEN` records the stack's output streams (mask, costmap, plan, cmd_vel)
into a compact summary (`SummaryBuilder`) and compares it stream by stream with the golden one
(`compare_summaries`) under `Tolerances`. A summary is plain JSON written with deterministic bytes,
so a golden summary can be committed and diffed; masks and costmaps are run-length encoded.

Record times: "t" is the bag log time and "stamp" the message header stamp, both int ns. Messages
are what rosbags deserializes (dataclasses with the ROS field names); this module only reads their
fields and must never import rclpy or rosbags.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from robot_vision_nav.core.units import NS_PER_S
from robot_vision_nav.files import write_bytes_atomic

STREAMS = ("mask", "costmap", "plan", "cmd_vel")
SUMMARY_FORMAT = "rvn-replay-summary"
SUMMARY_VERSION = 1

_DRIVABLE = 255  # mask pixel value of drivable floor
_MONO8_ENCODINGS = ("mono8", "8UC1")
_XY_DECIMALS = 6  # plan vertices are kept to 1e-6 m: far below any tolerance, stable in JSON
_ORIGIN_ABS_TOL_M = 1e-6  # costmap origins closer than this are the same grid
_RESOLUTION_ABS_TOL_M = 1e-9
_HAUSDORFF_BLOCK = 1 << 20  # pairwise distances computed per block of at most this many pairs

_RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "mask": ("t", "stamp", "shape", "runs"),
    "costmap": ("t", "stamp", "shape", "resolution", "origin", "runs"),
    "plan": ("t", "stamp", "xy"),
    "cmd_vel": ("t", "v", "w"),
}


class CompareError(ValueError):
    """A summary file that cannot be used: not readable, not JSON, wrong format/version, bad fields."""


class Record(TypedDict, total=False):
    """One message of a summary stream; which fields it has depends on the stream (`_RECORD_FIELDS`)."""

    t: int  # bag log time, ns
    stamp: int  # header stamp, ns (not in cmd_vel)
    shape: list[int]  # mask and costmap: [height, width]
    runs: list[int] | list[list[int]]  # mask: run lengths; costmap: [int8 value, count] pairs
    resolution: float  # costmap, m per cell
    origin: list[float]  # costmap, [x, y] in m
    xy: list[list[float]]  # plan vertices, m
    v: float  # cmd_vel linear.x, m/s
    w: float  # cmd_vel angular.z, rad/s


class Summary(TypedDict):
    """A run's output streams, as `SummaryBuilder.summary` makes them and `load_summary` reads them."""

    format: str
    version: int
    bag: str
    streams: dict[str, list[Record]]


# The fields of the messages read here, as rosbags deserializes them (dataclasses with the ROS names).
class _Time(Protocol):
    sec: int
    nanosec: int


class _Header(Protocol):
    stamp: _Time


class _Stamped(Protocol):
    header: _Header


class _Image(_Stamped, Protocol):
    encoding: str
    height: int
    width: int
    step: int
    data: ArrayLike


class _Point(Protocol):
    x: float
    y: float


class _Pose(Protocol):
    position: _Point


class _MapMetaData(Protocol):
    height: int
    width: int
    resolution: float
    origin: _Pose


class _OccupancyGrid(_Stamped, Protocol):
    info: _MapMetaData
    data: ArrayLike


class _PoseStamped(Protocol):
    pose: _Pose


class _Path(_Stamped, Protocol):
    poses: Sequence[_PoseStamped]


class _Vector3(Protocol):
    x: float
    z: float


class _Twist(Protocol):
    linear: _Vector3
    angular: _Vector3


class _TwistStamped(Protocol):
    twist: _Twist


# --------------------------------------------------------------------------------------------------
# Tolerances


@dataclass(frozen=True)
class Tolerances:
    """How far a replay may drift from the golden run before a stream fails.

    Attributes:
        mask_iou_min: Lowest allowed IoU of drivable pixels of a matched mask pair, in [0, 1].
        costmap_agreement_min: Lowest allowed fraction of equal cells of a matched costmap pair,
            in [0, 1].
        path_hausdorff_max_m: Largest allowed symmetric Hausdorff distance between the vertices of
            a matched plan pair, in metres (>= 0).
        cmd_vel_max_diff: Largest allowed max(|dv| m/s, |dw| rad/s) of a matched command pair (>= 0).
        unmatched_max: Most records per stream allowed without a partner on the other side (>= 0).

    """

    mask_iou_min: float = 0.98
    costmap_agreement_min: float = 0.98
    path_hausdorff_max_m: float = 0.10
    cmd_vel_max_diff: float = 0.05
    unmatched_max: int = 0

    @classmethod
    def from_mapping(cls, values: Mapping[str, float], source: str) -> Tolerances:
        """Defaults overridden by `values`; unknown keys and out-of-range values are refused.

        Args:
            values: Tolerance name -> value, e.g. parsed from a YAML/JSON file or `--tolerance`.
            source: Where the values came from (a file name or "--tolerance"), for the messages.

        Returns:
            The tolerances, defaults for the keys `values` does not name.

        Raises:
            ValueError: A key is not a tolerance, or a value is not a number in its range.

        """
        known = [f.name for f in fields(cls)]
        chosen: dict[str, Any] = {}  # Any: a float or an int, as the field named by the key takes
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown tolerance '{key}' in {source}, expected one of: {', '.join(known)}")
            chosen[key] = _checked_tolerance(key, value, source)
        return cls(**chosen)


def _checked_tolerance(key: str, value: object, source: str) -> float | int:
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if key == "unmatched_max":
        expected = "a whole number >= 0"
        if number is not None and math.isfinite(number) and number >= 0 and float(number).is_integer():
            return int(number)
    else:
        expected = "0 <= value <= 1" if key in ("mask_iou_min", "costmap_agreement_min") else "finite value >= 0"
        upper = 1.0 if key in ("mask_iou_min", "costmap_agreement_min") else math.inf
        if number is not None and math.isfinite(number) and 0.0 <= number <= upper:
            return float(number)
    raise ValueError(f"tolerance '{key}' = {value!r} in {source} is out of range, expected {expected}")


# --------------------------------------------------------------------------------------------------
# Summaries: message -> record


def _stamp_ns(msg: _Stamped) -> int:
    stamp = msg.header.stamp
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def _byte_array(data: ArrayLike) -> NDArray[np.uint8]:
    if isinstance(data, bytes | bytearray | memoryview):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8).reshape(-1)


def _bool_runs(flat: NDArray[np.bool_]) -> list[int]:
    """Run lengths of a flat boolean array, starting with the (possibly empty) first False run."""
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    lengths = np.diff(np.concatenate(([0], change, [flat.size])))
    runs: list[int] = lengths.tolist()
    return [0, *runs] if bool(flat[0]) else runs


def _mask_record(t_ns: int, msg: _Image) -> Record:
    if msg.encoding not in _MONO8_ENCODINGS:
        raise ValueError(f"mask image encoding is {msg.encoding!r}, expected one of {_MONO8_ENCODINGS}")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if step < width:
        raise ValueError(f"mask image step {step} is smaller than its width {width}")
    data = _byte_array(msg.data)
    if data.size < height * step:
        raise ValueError(f"mask image {height}x{width} with step {step} needs {height * step} bytes, got {data.size}")
    # Rows may be padded (step > width); only the first `width` bytes of a row are pixels.
    pixels = data[: height * step].reshape(height, step)[:, :width]
    runs = _bool_runs((pixels == _DRIVABLE).reshape(-1))
    return {"t": t_ns, "stamp": _stamp_ns(msg), "shape": [height, width], "runs": runs}


def _costmap_record(t_ns: int, msg: _OccupancyGrid) -> Record:
    info = msg.info
    height, width = int(info.height), int(info.width)
    cells = np.asarray(msg.data, dtype=np.int8).reshape(-1)
    if cells.size != height * width:
        raise ValueError(f"costmap {height}x{width} needs {height * width} cells, got {cells.size}")
    pairs: list[list[int]] = []
    if cells.size:
        starts = np.concatenate(([0], np.flatnonzero(cells[1:] != cells[:-1]) + 1))
        counts = np.diff(np.concatenate((starts, [cells.size])))
        pairs = np.stack((cells[starts].astype(np.int64), counts), axis=1).tolist()
    position = info.origin.position
    return {
        "t": t_ns,
        "stamp": _stamp_ns(msg),
        "shape": [height, width],
        "resolution": float(info.resolution),
        "origin": [float(position.x), float(position.y)],
        "runs": pairs,
    }


def _round_m(value: float) -> float:
    return round(float(value), _XY_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _plan_record(t_ns: int, msg: _Path) -> Record:
    xy = [[_round_m(p.pose.position.x), _round_m(p.pose.position.y)] for p in msg.poses]
    return {"t": t_ns, "stamp": _stamp_ns(msg), "xy": xy}


def _cmd_vel_record(t_ns: int, msg: _Twist | _TwistStamped) -> Record:
    twist = msg.twist if hasattr(msg, "twist") else msg  # TwistStamped or Twist
    return {"t": t_ns, "v": float(twist.linear.x), "w": float(twist.angular.z)}


_ENCODERS: dict[str, Callable[[int, Any], Record]] = {  # Any: each takes its own stream's message
    "mask": _mask_record,
    "costmap": _costmap_record,
    "plan": _plan_record,
    "cmd_vel": _cmd_vel_record,
}


class SummaryBuilder:
    """Collects one run's output streams, message by message, into a summary.

    The summary is `{"format": "rvn-replay-summary", "version": 1, "bag": name, "streams": {...}}`
    with one record per message, in the order added:

    - mask: `{"t", "stamp", "shape": [h, w], "runs"}`, runs = run lengths of (pixel == 255) in
      row-major order, starting with the first run of False (which may be 0 long);
    - costmap: `{"t", "stamp", "shape": [h, w], "resolution", "origin": [x, y], "runs"}`, runs =
      `[[value, count], ...]` of the int8 cells in row-major order;
    - plan: `{"t", "stamp", "xy": [[x, y], ...]}` in metres, rounded to 1e-6 m;
    - cmd_vel: `{"t", "v": linear.x, "w": angular.z}`.
    """

    def __init__(self) -> None:
        self._records: dict[str, list[Record]] = {stream: [] for stream in STREAMS}

    def add(self, stream: str, t_ns: int, msg: object) -> None:
        """Add one message of `stream`.

        Args:
            stream: One of `STREAMS`.
            t_ns: The message's bag log time, ns.
            msg: The deserialized message (Image mono8, OccupancyGrid, Path, Twist/TwistStamped).

        Raises:
            ValueError: Unknown stream, or a message that does not fit its stream's layout.

        """
        if stream not in self._records:
            raise ValueError(f"unknown stream '{stream}', expected one of: {', '.join(STREAMS)}")
        self._records[stream].append(_ENCODERS[stream](int(t_ns), msg))

    def summary(self, bag_name: str) -> Summary:
        """The JSON-able summary of everything added so far.

        Args:
            bag_name: Name of the replayed bag, stored as "bag".

        Returns:
            The summary dict (see the class docstring).

        """
        return {
            "format": SUMMARY_FORMAT,
            "version": SUMMARY_VERSION,
            "bag": bag_name,
            "streams": {stream: list(self._records[stream]) for stream in STREAMS},
        }


# --------------------------------------------------------------------------------------------------
# Summary files


def write_summary(path: Path, summary: Summary) -> None:
    """Write `summary` atomically as compact JSON with sorted keys and a trailing newline.

    The same summary always gives the same bytes. Non-finite floats (a NaN command) are written as
    Python's json writes them (NaN, Infinity), which `load_summary` reads back.

    Args:
        path: The file to write.
        summary: A summary from `SummaryBuilder.summary` or `load_summary`.

    """
    write_bytes_atomic(Path(path), summary_bytes(summary))


def summary_bytes(summary: Summary) -> bytes:
    """What `write_summary` writes for `summary` (compare a golden file's bytes with it)."""
    return (json.dumps(summary, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


def load_summary(path: Path) -> Summary:
    """Read and validate a summary written by `write_summary`.

    Args:
        path: The summary file.

    Returns:
        The summary dict.

    Raises:
        CompareError: The file cannot be read, is not JSON, has another format or version, or a
            field is missing or malformed; the message names the file.

    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CompareError(f"cannot read replay summary {path}: {err}") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CompareError(f"replay summary {path} is not JSON: {err}") from err
    problem = _summary_problem(data)
    if problem is not None:
        raise CompareError(f"replay summary {path}: {problem}")
    result: Summary = data  # checked by _summary_problem
    return result


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_pair(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)


def _summary_problem(data: object) -> str | None:
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    if data.get("format") != SUMMARY_FORMAT:
        return f"format is {data.get('format')!r}, expected {SUMMARY_FORMAT!r}"
    if data.get("version") != SUMMARY_VERSION:
        return f"version {data.get('version')!r} is not supported, expected {SUMMARY_VERSION}"
    if not isinstance(data.get("bag"), str):
        return "field 'bag' is missing or not a string"
    streams = data.get("streams")
    if not isinstance(streams, dict):
        return "field 'streams' is missing or not an object"
    for stream in STREAMS:
        records = streams.get(stream)
        if not isinstance(records, list):
            return f"stream '{stream}' is missing or not a list"
        for index, record in enumerate(records):
            problem = _record_problem(stream, record)
            if problem is not None:
                return f"streams.{stream}[{index}]: {problem}"
    return None


def _record_problem(stream: str, record: object) -> str | None:
    if not isinstance(record, dict):
        return f"expected an object, got {type(record).__name__}"
    for key in _RECORD_FIELDS[stream]:
        if key not in record:
            return f"missing field '{key}'"
    for key in ("t", "stamp"):
        if key in record and not _is_int(record[key]):
            return f"field '{key}' = {record[key]!r} is not an integer (ns)"
    if stream == "cmd_vel":
        for key in ("v", "w"):
            if not _is_number(record[key]):
                return f"field '{key}' = {record[key]!r} is not a number"
        return None
    if stream == "plan":
        xy = record["xy"]
        if not isinstance(xy, list) or not all(_is_pair(p) for p in xy):
            return "field 'xy' is not a list of [x, y] pairs"
        return None
    shape = record["shape"]
    if not (isinstance(shape, list) and len(shape) == 2 and all(_is_int(n) and n >= 0 for n in shape)):
        return f"field 'shape' = {shape!r} is not [height, width]"
    cells = shape[0] * shape[1]
    if stream == "mask":
        return _mask_runs_problem(record["runs"], cells)
    if not _is_number(record["resolution"]):
        return f"field 'resolution' = {record['resolution']!r} is not a number"
    if not _is_pair(record["origin"]):
        return f"field 'origin' = {record['origin']!r} is not [x, y]"
    return _costmap_runs_problem(record["runs"], cells)


def _mask_runs_problem(runs: object, cells: int) -> str | None:
    if not isinstance(runs, list) or not all(_is_int(n) and n >= 0 for n in runs):
        return "field 'runs' is not a list of run lengths >= 0"
    if sum(runs) != cells:
        return f"field 'runs' covers {sum(runs)} pixels, the shape has {cells}"
    return None


def _costmap_runs_problem(runs: object, cells: int) -> str | None:
    if not isinstance(runs, list) or not all(
        isinstance(p, list) and len(p) == 2 and _is_int(p[0]) and -128 <= p[0] <= 127 and _is_int(p[1]) and p[1] >= 0
        for p in runs
    ):
        return "field 'runs' is not a list of [int8 value, count >= 0] pairs"
    total = sum(p[1] for p in runs)
    if total != cells:
        return f"field 'runs' covers {total} cells, the shape has {cells}"
    return None


# --------------------------------------------------------------------------------------------------
# Record -> array


def mask_from_record(rec: Record) -> NDArray[np.bool_]:
    """Decode a mask record into its (height, width) boolean drivable image.

    Raises:
        ValueError: The runs are negative or do not cover the shape.

    """
    problem = _mask_runs_problem(rec["runs"], int(rec["shape"][0]) * int(rec["shape"][1]))
    if problem is not None:
        raise ValueError(f"mask record at t = {rec.get('t')} ns: {problem}")
    runs = np.asarray(rec["runs"], dtype=np.int64)
    values = (np.arange(runs.size) % 2).astype(np.bool_)
    return np.repeat(values, runs).reshape(int(rec["shape"][0]), int(rec["shape"][1]))


def costmap_from_record(rec: Record) -> NDArray[np.int8]:
    """Decode a costmap record into its (height, width) int8 OccupancyGrid cells.

    Raises:
        ValueError: The runs are malformed or do not cover the shape.

    """
    problem = _costmap_runs_problem(rec["runs"], int(rec["shape"][0]) * int(rec["shape"][1]))
    if problem is not None:
        raise ValueError(f"costmap record at t = {rec.get('t')} ns: {problem}")
    pairs = np.asarray(rec["runs"], dtype=np.int64).reshape(-1, 2)
    cells = np.repeat(pairs[:, 0].astype(np.int8), pairs[:, 1])
    return cells.reshape(int(rec["shape"][0]), int(rec["shape"][1]))


# --------------------------------------------------------------------------------------------------
# Metrics of one matched pair


def _mask_iou(golden: Record, new: Record) -> float:
    a, b = mask_from_record(golden), mask_from_record(new)
    if a.shape != b.shape:
        return 0.0
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0  # two empty masks agree perfectly
    return float(np.count_nonzero(a & b) / union)


def _costmap_agreement(golden: Record, new: Record) -> float:
    same_grid = (
        list(golden["shape"]) == list(new["shape"])
        and math.isclose(golden["resolution"], new["resolution"], rel_tol=0.0, abs_tol=_RESOLUTION_ABS_TOL_M)
        and all(
            math.isclose(g, n, rel_tol=0.0, abs_tol=_ORIGIN_ABS_TOL_M)
            for g, n in zip(golden["origin"], new["origin"], strict=True)
        )
    )
    if not same_grid:
        return 0.0
    a, b = costmap_from_record(golden), costmap_from_record(new)
    if a.size == 0:
        return 1.0
    return float(np.count_nonzero(a == b) / a.size)


def _directed_hausdorff_m(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """The largest distance from a vertex of `a` to its nearest vertex of `b` (NaN if any coordinate is)."""
    rows = max(1, _HAUSDORFF_BLOCK // len(b))
    worst_sq = 0.0
    for start in range(0, len(a), rows):
        block = a[start : start + rows]
        d_sq = ((block[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
        block_worst = float(d_sq.min(axis=1).max())
        if math.isnan(block_worst):
            return math.nan
        worst_sq = max(worst_sq, block_worst)
    return math.sqrt(worst_sq)


def hausdorff_m(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> float:
    """Symmetric Hausdorff distance between two vertex sets, in metres.

    Args:
        a: [[x, y], ...] in metres.
        b: [[x, y], ...] in metres.

    Returns:
        0.0 when both are empty, inf when only one is (or a coordinate is not finite).

    """
    if len(a) == 0 and len(b) == 0:
        return 0.0
    if len(a) == 0 or len(b) == 0:
        return math.inf
    pa = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    pb = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    distance = max(_directed_hausdorff_m(pa, pb), _directed_hausdorff_m(pb, pa))
    return distance if math.isfinite(distance) else math.inf


def _plan_hausdorff(golden: Record, new: Record) -> float:
    return hausdorff_m(golden["xy"], new["xy"])


def _cmd_vel_diff(golden: Record, new: Record) -> float:
    diff = max(abs(float(golden["v"]) - float(new["v"])), abs(float(golden["w"]) - float(new["w"])))
    return diff if math.isfinite(diff) else math.inf  # a NaN command must fail, never pass


@dataclass(frozen=True)
class _StreamSpec:
    key: Literal["stamp", "t"]  # record field that pairs golden and replayed records
    metric: str
    higher_is_better: bool
    neutral: float  # worst value of a stream with no matched pair
    score: Callable[[Record, Record], float]
    tolerance: Callable[[Tolerances], float]


_SPECS: dict[str, _StreamSpec] = {
    "mask": _StreamSpec("stamp", "IoU min", True, 1.0, _mask_iou, lambda t: t.mask_iou_min),
    "costmap": _StreamSpec(
        "stamp", "cells agree min", True, 1.0, _costmap_agreement, lambda t: t.costmap_agreement_min
    ),
    "plan": _StreamSpec("stamp", "Hausdorff max m", False, 0.0, _plan_hausdorff, lambda t: t.path_hausdorff_max_m),
    "cmd_vel": _StreamSpec("t", "max diff", False, 0.0, _cmd_vel_diff, lambda t: t.cmd_vel_max_diff),
}


# --------------------------------------------------------------------------------------------------
# Comparison


@dataclass
class StreamResult:
    """The comparison of one stream.

    Attributes:
        stream: One of `STREAMS`.
        golden: Number of golden records.
        replayed: Number of replayed records.
        matched: Number of golden/replayed pairs (same header stamp; same log time for cmd_vel).
        metric: What `worst` measures ("IoU min", "cells agree min", "Hausdorff max m", "max diff").
        worst: The worst metric over the matched pairs (the neutral value when none matched).
        tolerance: The limit `worst` is held to (a minimum for IoU/agreement, else a maximum).
        passed: Whether `worst` is within `tolerance` and few enough records are unmatched.
        detail: Where the worst pair is and which records are unmatched, in seconds since the first
            record of the summary concerned.

    """

    stream: str
    golden: int
    replayed: int
    matched: int
    metric: str
    worst: float
    tolerance: float
    passed: bool
    detail: str


def _start_ns(summary: Summary) -> int:
    times = [int(rec["t"]) for stream in STREAMS for rec in summary["streams"][stream]]
    return min(times, default=0)


def _pair_records(
    golden: list[Record], new: list[Record], key: Literal["stamp", "t"]
) -> tuple[list[tuple[Record, Record]], list[Record], list[Record]]:
    """Pairs with equal `key` (in order when a key repeats), then the unmatched golden and new records."""
    waiting: dict[int, deque[int]] = {}
    for index, rec in enumerate(new):
        waiting.setdefault(int(rec[key]), deque()).append(index)
    pairs: list[tuple[Record, Record]] = []
    missing: list[Record] = []
    used: set[int] = set()
    for rec in golden:
        queue = waiting.get(int(rec[key]))
        if queue:
            index = queue.popleft()
            used.add(index)
            pairs.append((rec, new[index]))
        else:
            missing.append(rec)
    extra = [rec for index, rec in enumerate(new) if index not in used]
    return pairs, missing, extra


def _seconds_since(t_ns: int, start_ns: int) -> str:
    return f"{(t_ns - start_ns) / NS_PER_S:.3f}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _compare_stream(stream: str, golden: Summary, new: Summary, tolerances: Tolerances) -> StreamResult:
    spec = _SPECS[stream]
    golden_records = golden["streams"][stream]
    new_records = new["streams"][stream]
    pairs, missing, extra = _pair_records(golden_records, new_records, spec.key)
    tolerance = spec.tolerance(tolerances)
    details: list[str] = []
    if missing:
        first = _seconds_since(min(int(rec["t"]) for rec in missing), _start_ns(golden))
        details.append(f"{_plural(len(missing), 'golden message')} missing, first at t = {first} s")
    if extra:
        first = _seconds_since(min(int(rec["t"]) for rec in extra), _start_ns(new))
        details.append(f"{_plural(len(extra), 'extra replayed message')}, first at t = {first} s")
    worst = spec.neutral
    if pairs:
        scores = [spec.score(g, n) for g, n in pairs]
        pick = min if spec.higher_is_better else max
        worst_index = pick(range(len(scores)), key=scores.__getitem__)  # first of equal scores
        worst = scores[worst_index]
        worst_t = int(pairs[worst_index][0]["t"])
        details.append(f"worst at t = {_seconds_since(worst_t, _start_ns(golden))} s")
    elif not golden_records and not new_records:
        details.append("no messages")
    within = worst >= tolerance if spec.higher_is_better else worst <= tolerance
    passed = within and len(missing) + len(extra) <= tolerances.unmatched_max
    return StreamResult(
        stream=stream,
        golden=len(golden_records),
        replayed=len(new_records),
        matched=len(pairs),
        metric=spec.metric,
        worst=worst,
        tolerance=tolerance,
        passed=passed,
        detail="; ".join(details),
    )


def compare_summaries(golden: Summary, new: Summary, tolerances: Tolerances) -> list[StreamResult]:
    """Compare a replay's summary with the golden one, stream by stream.

    Mask, costmap and plan records are paired by header stamp, cmd_vel records by log time.
    A stream fails when more than `tolerances.unmatched_max` records (golden and replayed together)
    have no partner, or when its worst pair is out of tolerance.

    Args:
        golden: The golden summary (`load_summary`, or `SummaryBuilder.summary` of a golden bag).
        new: The replay's summary.
        tolerances: The limits.

    Returns:
        One result per stream, in `STREAMS` order.

    """
    return [_compare_stream(stream, golden, new, tolerances) for stream in STREAMS]


def _format_value(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else str(value)


def format_table(results: list[StreamResult]) -> str:
    """A fixed-width table of the results, one line per stream under a header line.

    Args:
        results: From `compare_summaries`.

    Returns:
        The table, lines joined by newlines, without a trailing newline.

    """
    header = ("stream", "golden", "replayed", "matched", "metric", "worst", "tolerance", "result", "detail")
    right_aligned = {1, 2, 3, 5, 6}
    rows: list[tuple[str, ...]] = [header]
    for r in results:
        spec = _SPECS.get(r.stream)
        bound = "<=" if spec is not None and not spec.higher_is_better else ">="
        rows.append(
            (
                r.stream,
                str(r.golden),
                str(r.replayed),
                str(r.matched),
                r.metric,
                _format_value(r.worst),
                f"{bound} {_format_value(r.tolerance)}",
                "PASS" if r.passed else "FAIL",
                r.detail,
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(len(header))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[col]) if col in right_aligned else cell.ljust(widths[col]) for col, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _json_float(value: float) -> float | str:
    return float(value) if math.isfinite(value) else str(value)  # "inf", "-inf", "nan"


def results_json(results: list[StreamResult]) -> list[dict[str, object]]:
    """The results as JSON-able dicts (for `--json`); non-finite numbers become "inf"/"-inf"/"nan".

    Args:
        results: From `compare_summaries`.

    Returns:
        One dict per result with the `StreamResult` field names.

    """
    rows = []
    for result in results:
        row: dict[str, object] = asdict(result)
        row["worst"] = _json_float(result.worst)
        row["tolerance"] = _json_float(result.tolerance)
        rows.append(row)
    return rows

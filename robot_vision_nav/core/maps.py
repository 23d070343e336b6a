"""Map files to `Grid`s: Nav2 map_server YAML + image, and the MovingAI grid benchmark formats.

Nav2 map_server (nav2_map_server/src/map_io.cpp, reproduced value for value):
  - the YAML names `image` (relative to the YAML's folder unless absolute), `resolution` (m per
    pixel), `origin` [x, y, yaw] (the lower-left pixel's corner), `negate`, `occupied_thresh`,
    `free_thresh` and optionally `mode` (trinary, the default; scale; raw).
  - shade = mean of the R, G, B channels / 255 (in trinary mode an alpha channel is averaged in
    too, as map_server does); p = shade if negate else 1 - shade.
  - trinary: p > occupied_thresh -> 100, p < free_thresh -> 0, otherwise -1.
    scale: not fully opaque -> -1, then as trinary but between the thresholds
    rint(100 * (p - free) / (occupied - free)). raw: round(255 * shade) if in 0..100, else -1.
  - image row 0 is the top of the map: rows are flipped so that Grid row 0 is the lowest y.
  A nonzero origin yaw is refused (`Grid` has no rotation), rather than silently ignored.

MovingAI (movingai.com/benchmarks/formats.html), `.map`: `type octile`, `height H`, `width W`,
`map`, then H lines of W characters; `.`, `G` and `S` are passable, everything else (`@`, `O`,
`T`, `W`) is blocked. Coordinates there are (x, y) = (column, line from the top of the file).
We keep those numbers: Grid row r is file line r and Grid column c is character c, at
resolution 1 and origin (-0.5, -0.5), so MovingAI (x, y) is cell (row y, col x) and its centre's
world point is (x, y) itself: paths and messages read in MovingAI cells. Drawn with y up the
picture is mirrored, which changes no path length.
`.scen` files (version 1) list bucket, map, width, height, start x, start y, goal x, goal y and
the optimal length (octile, sqrt 2 diagonals, no corner cutting).

Errors are `MapError` naming the file and what was wrong. This module must never import ROS.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from numpy.typing import NDArray

from robot_vision_nav.core.grid import MIN_RESOLUTION_M, OCC_FREE, OCC_LETHAL, OCC_UNKNOWN, Grid, GridError

MAP_MODES = ("trinary", "scale", "raw")
MOVINGAI_PASSABLE = b".GS"


class MapError(ValueError):
    """A map file that cannot be read, naming the file and the reason."""


# ---------------------------------------------------------------------------------------- Nav2
@dataclass(frozen=True)
class MapYaml:
    """The fields of a Nav2 map_server YAML, checked; `image` resolved against the YAML's folder."""

    image: Path
    resolution_m: float
    origin_x_m: float
    origin_y_m: float
    negate: bool
    occupied_thresh: float
    free_thresh: float
    mode: str


def _number(doc: dict[str, Any], key: str, path: Path) -> float:
    if key not in doc:
        raise MapError(f"{path}: missing key '{key}'")
    value = doc[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MapError(f"{path}: '{key}' must be a finite number, got {value!r}")
    return float(value)


def read_map_yaml(path: str | Path) -> MapYaml:
    """Read and check a Nav2 map_server YAML.

    Raises:
        MapError: unreadable file, bad YAML, missing or wrong keys, nonzero yaw, bad thresholds.

    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise MapError(f"cannot read map YAML {path}: {getattr(err, 'strerror', None) or err}") from err
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise MapError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from err
    if not isinstance(doc, dict):
        raise MapError(f"{path}: expected a YAML mapping with image, resolution, origin, ..., got {type(doc).__name__}")
    image = doc.get("image")
    if not isinstance(image, str) or not image:
        raise MapError(f"{path}: 'image' must name the map picture, got {image!r}")
    resolution = _number(doc, "resolution", path)
    if not resolution >= MIN_RESOLUTION_M:
        raise MapError(f"{path}: 'resolution' must be at least {MIN_RESOLUTION_M:g} m, got {resolution}")
    origin = doc.get("origin")
    if not isinstance(origin, list) or len(origin) != 3:
        raise MapError(f"{path}: 'origin' must be [x, y, yaw], got {origin!r}")
    ox, oy, yaw = (_number({"origin": v}, "origin", path) for v in origin)
    if yaw != 0.0:
        raise MapError(f"{path}: origin yaw {yaw} rad is not supported (grids here are axis-aligned); expected 0")
    occupied = _number(doc, "occupied_thresh", path)
    free = _number(doc, "free_thresh", path)
    if not 0.0 <= free <= occupied <= 1.0:
        raise MapError(f"{path}: thresholds must satisfy 0 <= free_thresh ({free}) <= occupied_thresh "
                       f"({occupied}) <= 1")  # fmt: skip
    negate = doc.get("negate", 0)
    if negate not in (0, 1):  # map_server reads an int or a bool; True == 1, False == 0
        raise MapError(f"{path}: 'negate' must be 0, 1, true or false, got {negate!r}")
    mode = doc.get("mode", "trinary")
    if mode not in MAP_MODES:
        raise MapError(f"{path}: 'mode' must be one of {', '.join(MAP_MODES)}, got {mode!r}")
    image_path = Path(image) if Path(image).is_absolute() else path.parent / image
    return MapYaml(image_path, resolution, ox, oy, bool(negate), occupied, free, mode)


def occupancy_from_image(
    image: NDArray[Any], negate: bool, occupied_thresh: float, free_thresh: float, mode: str = "trinary"
) -> NDArray[np.int8]:
    """map_server's pixel -> OccupancyGrid value rule, rows flipped so row 0 is the image bottom.

    Args:
        image: (H, W) gray, (H, W, 2) gray + alpha, (H, W, 3) BGR or (H, W, 4) BGRA, 8 or 16 bit.
        negate: white is occupied when true.
        occupied_thresh: p above this is lethal (100).
        free_thresh: p below this is free (0).
        mode: "trinary", "scale" or "raw".

    Returns:
        (H, W) int8 values with row 0 the lowest y.

    """
    if image.dtype not in (np.uint8, np.uint16):
        raise MapError(f"map image must be 8- or 16-bit, got {image.dtype}")
    top = float(np.iinfo(image.dtype).max)
    pixels = image.astype(np.int64)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 2, 3, 4):
        raise MapError(f"map image has shape {image.shape}; expected gray, gray+alpha, BGR or BGRA")
    has_alpha = pixels.shape[2] in (2, 4)
    color = pixels[:, :, :-1] if has_alpha else pixels
    alpha = pixels[:, :, -1] if has_alpha else None
    # map_server averages R, G, B (and alpha in trinary mode) and scales once; a gray pixel is
    # R = G = B, so its mean is the gray value itself.
    total = color.sum(axis=2) * (3 // color.shape[2])
    count = 3
    if mode == "trinary" and alpha is not None:
        total = total + alpha
        count = 4
    shade = total / (count * top)
    p = shade if negate else 1.0 - shade
    values = np.full(shade.shape, OCC_UNKNOWN, dtype=np.int8)
    if mode == "raw":
        raw = np.round(shade * 255.0)
        keep = (raw >= 0) & (raw <= 100)
        values[keep] = raw[keep].astype(np.int8)
    else:
        values[p > occupied_thresh] = OCC_LETHAL
        values[p < free_thresh] = OCC_FREE
        if mode == "scale":
            between = (p >= free_thresh) & (p <= occupied_thresh)
            span = occupied_thresh - free_thresh
            if span > 0.0:
                values[between] = np.rint((p[between] - free_thresh) / span * 100.0).astype(np.int8)
            if alpha is not None:
                values[alpha < top] = OCC_UNKNOWN
    return np.ascontiguousarray(values[::-1])


def load_map_yaml(path: str | Path, frame_id: str = "map") -> Grid:
    """Load a Nav2 map_server map (YAML + image) as a Grid in `frame_id`.

    Raises:
        MapError: see `read_map_yaml`; also a missing or undecodable image.

    """
    meta = read_map_yaml(path)
    if not meta.image.is_file():
        raise MapError(f"{path}: image {str(meta.image)!r} not found")
    image = cv2.imread(str(meta.image), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise MapError(f"{path}: cannot decode image {str(meta.image)!r} (expected a PGM or PNG)")
    try:
        values = occupancy_from_image(image, meta.negate, meta.occupied_thresh, meta.free_thresh, meta.mode)
        return Grid(values, meta.resolution_m, meta.origin_x_m, meta.origin_y_m, frame_id=frame_id)
    except (MapError, GridError) as err:
        raise MapError(f"{path}: image {str(meta.image)!r}: {err}") from err


# ---------------------------------------------------------------------------------------- MovingAI
def parse_movingai_map(text: str, name: str = "<map>") -> NDArray[np.int8]:
    """A MovingAI `.map` text as int8 values (0 passable, 100 blocked), row r = file line r."""
    lines = text.splitlines()
    header: dict[str, str] = {}
    i = 0
    while i < len(lines) and lines[i].strip().lower() != "map":
        parts = lines[i].split()
        if len(parts) == 2:
            header[parts[0].lower()] = parts[1]
        elif parts:
            raise MapError(f"{name}: line {i + 1}: expected 'type octile', 'height H', 'width W' or 'map', "
                           f"got {lines[i]!r}")  # fmt: skip
        i += 1
    if i == len(lines):
        raise MapError(f"{name}: no 'map' line: not a MovingAI .map file")
    if header.get("type") != "octile":
        raise MapError(f"{name}: expected 'type octile', got {header.get('type')!r}")
    try:
        height, width = int(header["height"]), int(header["width"])
    except (KeyError, ValueError) as err:
        raise MapError(f"{name}: 'height' and 'width' must be whole numbers ({err})") from err
    if height <= 0 or width <= 0:
        raise MapError(f"{name}: height {height} and width {width} must be > 0")
    rows = lines[i + 1 : i + 1 + height]
    if len(rows) != height:
        raise MapError(f"{name}: header says height {height} but the file has {len(rows)} map line(s)")
    data = np.empty((height, width), dtype=np.uint8)
    for r, line in enumerate(rows):
        raw = line.rstrip("\r\n").encode("ascii", "replace")
        if len(raw) != width:
            raise MapError(f"{name}: map line {r} has {len(raw)} characters; header says width {width}")
        data[r] = np.frombuffer(raw, dtype=np.uint8)
    passable = np.isin(data, np.frombuffer(MOVINGAI_PASSABLE, dtype=np.uint8))
    return np.where(passable, OCC_FREE, OCC_LETHAL).astype(np.int8)


def load_movingai_map(path: str | Path) -> Grid:
    """Load a MovingAI `.map` as a Grid: unit cells, row r = file line r, cell (y, x) centred at (x, y)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as err:
        raise MapError(f"cannot read map {path}: {err.strerror or err}") from err
    return Grid(parse_movingai_map(text, str(path)), 1.0, -0.5, -0.5, frame_id="map")


@dataclass(frozen=True)
class Scenario:
    """One line of a MovingAI `.scen` file; coordinates are MovingAI (x = column, y = line)."""

    bucket: int
    map_name: str
    width: int
    height: int
    start_x: int
    start_y: int
    goal_x: int
    goal_y: int
    optimal_length: float


def read_movingai_scen(path: str | Path) -> list[Scenario]:
    """Read a version-1 MovingAI `.scen` file.

    Raises:
        MapError: unreadable file, missing version line, or a malformed line (named by number).

    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise MapError(f"cannot read scenario file {path}: {getattr(err, 'strerror', None) or err}") from err
    if not lines or lines[0].split() not in (["version", "1"], ["version", "1.0"]):
        raise MapError(f"{path}: first line must be 'version 1', got {lines[0] if lines else ''!r}")
    out: list[Scenario] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) != 9:
            raise MapError(f"{path}: line {number} has {len(parts)} fields; expected 9 (bucket, map, width, "
                           "height, start x, start y, goal x, goal y, optimal length)")  # fmt: skip
        try:
            ints = [int(parts[i]) for i in (0, 2, 3, 4, 5, 6, 7)]
            length = float(parts[8])
        except ValueError as err:
            raise MapError(f"{path}: line {number}: {err}") from err
        bucket, width, height, sx, sy, gx, gy = ints
        out.append(Scenario(bucket, parts[1], width, height, sx, sy, gx, gy, length))
    return out

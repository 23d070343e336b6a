"""LabelMe JSON -> train-id label images: one `NAME.json` per image, its shapes drawn in file order.

Read from each file: `imageHeight`, `imageWidth` and `shapes`, each `{label, points, shape_type}`
(`mask` shapes also `mask`: a base64 PNG). Shapes with an area are drawn, later ones over earlier
ones (LabelMe's order, as its labelme2voc draws them):

- `polygon` (also a missing or null `shape_type`, as older LabelMe wrote): 3 or more points;
- `rectangle`: two opposite corners;
- `circle`: the centre and a point on the circle;
- `mask`: corners (x1, y1), (x2, y2) and a binary PNG of that box, (y2 - y1 + 1) x (x2 - x1 + 1).

`point`, `points`, `line` and `linestrip` have no area and are refused by name, as is any other
type. Coordinates are pixels, pixel (col, row) being the unit square centred on the point
(col, row), as LabelMe's own labelme2voc (PIL) draws them: a polygon or rectangle labels every
pixel it encloses or its outline meets (OpenCV fills it at 1/256 px precision; a slanted edge may
differ by a pixel from PIL's), a circle the pixels whose centre is within its radius. Pixels no
shape covers are ignore. This module must never import ROS.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.training.label_imports.mapping import ClassMapping, ImportedLabel, LabelImportError, read_json

SHAPES = ("polygon", "rectangle", "circle", "mask")
NO_AREA = ("point", "points", "line", "linestrip")
_SHIFT = 8  # fixed-point fraction bits for cv2.fillPoly


def _points(shape: dict[str, Any], where: str) -> NDArray[np.float64]:
    """`points` as an Nx2 array of finite (x, y)."""
    raw = shape.get("points")
    try:
        pts = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        pts = np.empty((0, 0))
    if pts.ndim != 2 or pts.shape[1] != 2 or not np.isfinite(pts).all():
        raise LabelImportError(f"{where}: points {raw!r}, expected a list of [x, y] pairs of numbers")
    return pts


def _count(pts: NDArray[np.float64], kind: str, expected: int, where: str, at_least: bool = False) -> None:
    if len(pts) < expected if at_least else len(pts) != expected:
        raise LabelImportError(
            f"{where}: a {kind} has {len(pts)} points, expected {'at least ' if at_least else ''}{expected}"
        )


def _fill_polygon(canvas: NDArray[np.uint8], pts: NDArray[np.float64], value: int) -> None:
    fixed = np.round(pts * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(canvas, [fixed], int(value), lineType=cv2.LINE_8, shift=_SHIFT)


def _circle(shape: tuple[int, int], pts: NDArray[np.float64]) -> NDArray[np.bool_]:
    (cx, cy), (px, py) = pts
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    inside: NDArray[np.bool_] = (cols - cx) ** 2 + (rows - cy) ** 2 <= (px - cx) ** 2 + (py - cy) ** 2
    return inside


def _mask(shape: dict[str, Any], pts: NDArray[np.float64], size: tuple[int, int], where: str) -> NDArray[np.bool_]:
    """A `mask` shape: its base64 PNG placed at its box's top-left corner."""
    _count(pts, "mask", 2, where)
    try:
        data = base64.b64decode(str(shape.get("mask")), validate=True)
    except (binascii.Error, ValueError) as err:
        raise LabelImportError(f"{where}: 'mask' is not base64 PNG data: {err}") from err
    patch = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if patch is None:
        raise LabelImportError(f"{where}: 'mask' is not an image OpenCV decodes (expected a base64 PNG)")
    (x1, y1), (x2, y2) = (int(v) for v in pts[0]), (int(v) for v in pts[1])
    height, width = size
    if not (0 <= x1 <= x2 < width and 0 <= y1 <= y2 < height):
        raise LabelImportError(f"{where}: mask box ({x1}, {y1})-({x2}, {y2}) is not inside the {width}x{height} image")
    if patch.shape != (y2 - y1 + 1, x2 - x1 + 1):
        raise LabelImportError(
            f"{where}: mask is {patch.shape[1]}x{patch.shape[0]} but its box ({x1}, {y1})-({x2}, {y2}) is "
            f"{x2 - x1 + 1}x{y2 - y1 + 1}; expected the same size"
        )
    out = np.zeros(size, dtype=np.bool_)
    out[y1 : y2 + 1, x1 : x2 + 1] = patch > 0
    return out


def draw_shape(canvas: NDArray[np.uint8], shape: dict[str, Any], value: int, where: str) -> None:
    """Draw one LabelMe shape with train id `value` over `canvas` (see the module docstring for the types)."""
    kind = shape.get("shape_type") or "polygon"
    if kind in NO_AREA:
        raise LabelImportError(
            f"{where}: shape_type {kind!r} has no area, so it cannot label pixels; supported: {', '.join(SHAPES)}"
        )
    if kind not in SHAPES:
        raise LabelImportError(f"{where}: unknown shape_type {kind!r}; supported: {', '.join(SHAPES)}")
    pts = _points(shape, where)
    size = (canvas.shape[0], canvas.shape[1])
    if kind == "polygon":
        _count(pts, "polygon", 3, where, at_least=True)
        _fill_polygon(canvas, pts, value)
    elif kind == "rectangle":
        _count(pts, "rectangle", 2, where)
        (xa, ya), (xb, yb) = pts
        _fill_polygon(canvas, np.array([(xa, ya), (xb, ya), (xb, yb), (xa, yb)]), value)
    elif kind == "circle":
        _count(pts, "circle", 2, where)
        canvas[_circle(size, pts)] = value
    else:
        canvas[_mask(shape, pts, size, where)] = value


def _size(data: dict[str, Any], where: str) -> tuple[int, int]:
    """(imageHeight, imageWidth), each a whole number > 0."""
    values = []
    for key in ("imageHeight", "imageWidth"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or value != math.floor(value):
            raise LabelImportError(f"{where}: {key} {value!r}, expected a whole number of pixels > 0")
        values.append(int(value))
    return values[0], values[1]


def read_labelme_file(path: Path, mapping: ClassMapping) -> ImportedLabel:
    """One LabelMe JSON file's labels, named after the file (`NAME.json` -> `NAME`)."""
    where = str(path)
    data = read_json(path, "LabelMe")
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise LabelImportError(f"{where}: expected LabelMe JSON with 'shapes', 'imageHeight' and 'imageWidth'")
    height, width = _size(data, where)
    shapes: list[Any] = data["shapes"]
    for i, shape in enumerate(shapes):
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
            raise LabelImportError(f"{where}: shapes[{i}] is not a shape with a 'label'")
    mapping.require((s["label"] for s in shapes), repr(where))
    canvas = mapping.empty(height, width)
    for i, shape in enumerate(shapes):
        draw_shape(canvas, shape, mapping.train_ids[shape["label"]], f"{where}: shapes[{i}] ({shape['label']!r})")
    return ImportedLabel(path.stem, canvas, where)


def read_labelme(src: Path, mapping: ClassMapping) -> Iterator[ImportedLabel]:
    """The labels of LabelMe JSON files: a folder's `*.json` (sorted by name) or one `.json` file.

    Raises:
        LabelImportError: no JSON, unreadable JSON, an unmapped label, an unsupported shape type,
            or a malformed shape.

    """
    src = Path(src)
    if src.is_dir():
        files = sorted(p for p in src.glob("*.json") if p.is_file())
        if not files:
            raise LabelImportError(f"no LabelMe files (*.json) in {str(src)!r}")
    elif src.is_file():
        files = [src]
    else:
        raise LabelImportError(f"LabelMe source {str(src)!r} does not exist (expected a folder of NAME.json or a file)")
    for path in files:
        yield read_labelme_file(path, mapping)

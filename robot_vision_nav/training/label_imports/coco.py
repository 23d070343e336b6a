"""COCO instances JSON -> train-id label images, one per entry of `images`.

Read: `categories` (`id`, `name`; every name must be mapped), `images` (`id`, `file_name`,
`height`, `width`; the label is named after `file_name`'s stem) and `annotations` (`image_id`,
`category_id`, `segmentation`). A segmentation is polygons (`[[x1, y1, x2, y2, ...], ...]`, COCO
pixel-edge coordinates), an uncompressed RLE (`{"size": [h, w], "counts": [...]}`, as iscrowd
annotations carry) or a compressed RLE (`counts` a string); pycocotools turns each into a mask,
never code of ours. An annotation without a segmentation (a box only) is refused: it does not
say which pixels are its class.

Overlaps: COCO gives instances no drawing order, so larger annotations are drawn first and
smaller ones over them (a pallet stays on top of the floor around it); equal areas in annotation
order, the later on top. An image with no annotation is all ignore. pycocotools is imported only
here, inside the reader. This module must never import ROS.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from robot_vision_nav.training.label_imports.mapping import ClassMapping, ImportedLabel, LabelImportError, read_json

PACKAGE = "pycocotools"


def _mask_api() -> Any:
    """`pycocotools.mask`, or LabelImportError naming the package to install."""
    # Any: pycocotools ships no type hints.
    try:
        from pycocotools import mask
    except ImportError as err:
        raise LabelImportError(
            f"COCO import needs {PACKAGE} (pip install {PACKAGE}==2.0.10, as requirements.txt pins it): {err}"
        ) from err
    return mask


def _whole(value: Any, what: str, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise LabelImportError(f"{where}: {what} {value!r}, expected a whole number >= {minimum}")
    return value


def _records(data: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    items = data.get(key)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise LabelImportError(f"{where}: {key!r} must be a list of objects (COCO instances JSON)")
    return items


def _rle(api: Any, segmentation: Any, height: int, width: int, where: str) -> Any:
    """One annotation's segmentation as a pycocotools RLE, checked against its image's size."""
    # Any: pycocotools' RLE objects are plain dicts it builds and reads.
    if isinstance(segmentation, list):
        if not segmentation:
            raise LabelImportError(f"{where}: empty segmentation (a box only?); draw it as a polygon or mask")
        for polygon in segmentation:
            if (
                not isinstance(polygon, list)
                or len(polygon) < 6
                or len(polygon) % 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in polygon)
            ):
                raise LabelImportError(
                    f"{where}: polygon {str(polygon)[:60]}, expected [x1, y1, x2, y2, x3, y3, ...] "
                    "(3 or more points as finite numbers)"
                )
        return api.merge(api.frPyObjects(segmentation, height, width))
    if not isinstance(segmentation, dict) or "counts" not in segmentation:
        raise LabelImportError(f"{where}: segmentation must be polygons or an RLE {{'size', 'counts'}}")
    size = segmentation.get("size")
    if size != [height, width]:
        raise LabelImportError(f"{where}: RLE size {size!r}, expected its image's [height, width] [{height}, {width}]")
    counts = segmentation["counts"]
    if isinstance(counts, list):
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
            raise LabelImportError(f"{where}: RLE counts must be whole numbers >= 0")
        if sum(counts) != height * width:
            raise LabelImportError(
                f"{where}: RLE counts add up to {sum(counts)} pixels, expected {height}x{width} = {height * width}"
            )
        return api.frPyObjects(segmentation, height, width)
    if isinstance(counts, str):
        return {"size": [height, width], "counts": counts.encode("ascii", errors="replace")}
    raise LabelImportError(f"{where}: RLE counts must be a list (uncompressed) or a string (compressed)")


def read_coco(src: Path, mapping: ClassMapping) -> Iterator[ImportedLabel]:
    """The labels of a COCO instances JSON file, one per image, in `images` order.

    Raises:
        LabelImportError: pycocotools missing, unreadable JSON, an unmapped category, an annotation
            naming an unknown image or category, a malformed or wrongly sized segmentation.

    """
    src = Path(src)
    where = str(src)
    if not src.is_file():
        what = "is a folder" if src.is_dir() else "does not exist"
        raise LabelImportError(f"COCO file {where!r} {what}; expected the instances JSON file")
    api = _mask_api()
    data = read_json(src, "COCO")
    if not isinstance(data, dict):
        raise LabelImportError(f"{where}: expected an object with 'images', 'annotations' and 'categories'")
    categories: dict[int, str] = {}
    for i, cat in enumerate(_records(data, "categories", where)):
        cid = _whole(cat.get("id"), "id", f"{where}: categories[{i}]")
        if not isinstance(cat.get("name"), str):
            raise LabelImportError(f"{where}: categories[{i}]: name {cat.get('name')!r}, expected text")
        if cid in categories:
            raise LabelImportError(f"{where}: categories[{i}]: id {cid} is used twice")
        categories[cid] = cat["name"]
    mapping.require(categories.values(), repr(where))
    images: dict[int, tuple[str, int, int]] = {}
    for i, image in enumerate(_records(data, "images", where)):
        at = f"{where}: images[{i}]"
        iid = _whole(image.get("id"), "id", at)
        if iid in images:
            raise LabelImportError(f"{at}: id {iid} is used twice")
        name = image.get("file_name")
        if not isinstance(name, str) or not Path(name).stem:
            raise LabelImportError(f"{at}: file_name {name!r}, expected an image file name")
        height, width = _whole(image.get("height"), "height", at, 1), _whole(image.get("width"), "width", at, 1)
        images[iid] = (Path(name).stem, height, width)
    by_image: dict[int, list[tuple[int, dict[str, Any]]]] = {iid: [] for iid in images}
    for i, ann in enumerate(_records(data, "annotations", where)):
        at = f"{where}: annotations[{i}] (id {ann.get('id')!r})"
        image_id = ann.get("image_id")
        if image_id not in by_image:
            raise LabelImportError(f"{at}: image_id {image_id!r} is not in 'images'")
        if ann.get("category_id") not in categories:
            raise LabelImportError(f"{at}: category_id {ann.get('category_id')!r} is not in 'categories'")
        by_image[image_id].append((i, ann))
    if not images:
        raise LabelImportError(f"{where}: 'images' is empty")
    for iid, (stem, height, width) in images.items():
        rles = []
        for i, ann in by_image[iid]:
            at = f"{where}: annotations[{i}] (id {ann.get('id')!r})"
            rle = _rle(api, ann.get("segmentation"), height, width, at)
            try:
                area = int(api.area(rle))
            except ValueError as err:
                raise LabelImportError(f"{at}: invalid RLE: {err}") from err
            rles.append((-area, i, at, rle, mapping.train_ids[categories[ann["category_id"]]]))
        canvas = mapping.empty(height, width)
        for _, _, at, rle, value in sorted(rles, key=lambda r: (r[0], r[1])):  # larger first, then file order
            try:
                with warnings.catch_warnings():
                    # pycocotools 2.0.10's mask class predates numpy 2's `copy` keyword; harmless here.
                    warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
                    mask = api.decode(rle)
            except ValueError as err:
                raise LabelImportError(f"{at}: invalid RLE: {err}") from err
            canvas[np.asarray(mask, dtype=bool)] = value
        yield ImportedLabel(stem, canvas, f"{where} (image id {iid})")

"""Run one import: read every label of an export, check it, then write `OUT/NAME.png` files.

Everything is read, mapped, size-checked against its image (with `images_dir`) and encoded
before the first file is written, so bad input leaves the output folder untouched. Each file is
written atomically (a temporary file, then a rename). The label PNGs are what
`training.datasets.folders.image_folder` reads: one 8-bit channel of train ids, 255 ignore.
This module must never import ROS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from robot_vision_nav.files import encode_image, write_bytes_atomic
from robot_vision_nav.training.datasets.readers import IMAGE_SUFFIXES
from robot_vision_nav.training.label_imports.coco import read_coco
from robot_vision_nav.training.label_imports.cvat import read_cvat
from robot_vision_nav.training.label_imports.labelme import read_labelme
from robot_vision_nav.training.label_imports.mapping import ClassMapping, ImportedLabel, LabelImportError

Reader = Callable[[Path, ClassMapping], Iterator[ImportedLabel]]
READERS: dict[str, Reader] = {"cvat": read_cvat, "labelme": read_labelme, "coco": read_coco}
FORMATS = tuple(READERS)


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote: the files (names without `.png`), pixels per class and how many replaced old files."""

    format: str
    source: Path
    out_dir: Path
    label_set: str
    names: tuple[str, ...]
    pixels: dict[str, int]
    replaced: int

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data for `--json`."""
        # Any: JSON values of several types.
        total = sum(self.pixels.values())
        return {
            "format": self.format, "source": str(self.source), "out": str(self.out_dir), "label_set": self.label_set,
            "files": len(self.names), "replaced": self.replaced, "names": list(self.names), "pixels": self.pixels,
            "fraction": {k: round(v / total, 6) if total else 0.0 for k, v in self.pixels.items()},
        }  # fmt: skip

    def format_text(self) -> str:
        """The result as a few lines for people: files written, then a pixels-per-class table."""
        total = sum(self.pixels.values())
        width = max(len(k) for k in self.pixels)
        files = f"{len(self.names)} label file{'' if len(self.names) == 1 else 's'}"
        lines = [
            f"wrote {files} to {self.out_dir} ({self.format} export {self.source}, label set {self.label_set}; "
            f"{self.replaced} replaced)",
            f"{'class':<{width}}  {'pixels':>10}  share",
        ]
        lines += [f"{k:<{width}}  {v:>10}  {100 * v / total if total else 0.0:5.1f}%" for k, v in self.pixels.items()]
        return "\n".join(lines)


def _image_index(images_dir: Path) -> dict[str, Path]:
    """Image files of `images_dir` by stem; two images of one stem are refused (which would the label be for?)."""
    if not images_dir.is_dir():
        raise LabelImportError(f"image folder {str(images_dir)!r} does not exist")
    index: dict[str, Path] = {}
    for path in sorted(images_dir.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in index:
                raise LabelImportError(
                    f"images {str(index[path.stem])!r} and {str(path)!r} share the name {path.stem!r}"
                )
            index[path.stem] = path
    return index


def check_image_size(label: ImportedLabel, image: Path | None, images_dir: Path) -> None:
    """Refuse a label without its image in `images_dir`, or of another size than the image, naming both."""
    if image is None:
        raise LabelImportError(
            f"no image {label.name!r} ({', '.join(IMAGE_SUFFIXES)}) in {str(images_dir)!r} for the labels from "
            f"{label.source!r}"
        )
    pixels = cv2.imread(str(image), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise LabelImportError(f"cannot read image {str(image)!r}: not an image OpenCV decodes")
    (h, w), (lh, lw) = pixels.shape[:2], label.ids.shape
    if (h, w) != (lh, lw):
        raise LabelImportError(
            f"labels from {label.source!r} are {lw}x{lh} but the image {str(image)!r} is {w}x{h}; "
            "expected the same size"
        )


def _count(ids: NDArray[np.uint8]) -> NDArray[np.int64]:
    return np.bincount(ids.ravel(), minlength=256).astype(np.int64)


def import_labels(
    fmt: str, src: str | Path, mapping: ClassMapping, out_dir: str | Path, images_dir: str | Path | None = None
) -> ImportResult:
    """Import an export of format `fmt` (`cvat`, `labelme`, `coco`) into `out_dir/NAME.png` label files.

    Args:
        fmt: the export's format, one of FORMATS.
        src: the export (CVAT: folder or .zip; LabelMe: folder of NAME.json or one file; COCO: the JSON file).
        mapping: the class mapping (`load_mapping`).
        out_dir: the folder the label PNGs go into (made if missing).
        images_dir: where the images are: each label must have an image of its name and size there.

    Raises:
        LabelImportError: any bad input (nothing is written then), or a file that cannot be written.

    """
    if fmt not in READERS:
        raise LabelImportError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    src, out_dir = Path(src), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise LabelImportError(f"output {str(out_dir)!r} is a file; expected a folder")
    images = None if images_dir is None else _image_index(Path(images_dir))
    encoded: dict[str, bytes] = {}
    sources: dict[str, str] = {}
    counts = np.zeros(256, dtype=np.int64)
    for label in READERS[fmt](src, mapping):
        if label.name in sources:
            raise LabelImportError(
                f"{label.source!r} and {sources[label.name]!r} both give labels for {label.name!r}; names must differ"
            )
        if images is not None and images_dir is not None:
            check_image_size(label, images.get(label.name), Path(images_dir))
        sources[label.name] = label.source
        counts += _count(label.ids)
        encoded[label.name] = encode_image(label.ids, ".png", rgb=False)
    if not encoded:
        raise LabelImportError(f"{str(src)!r} holds no labels")
    replaced = sum((out_dir / f"{name}.png").exists() for name in encoded)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, data in encoded.items():
            write_bytes_atomic(out_dir / f"{name}.png", data)
    except OSError as err:
        raise LabelImportError(f"cannot write label files into {str(out_dir)!r}: {err.strerror or err}") from err
    label_set = mapping.label_set
    pixels = {c.name: int(counts[c.id]) for c in label_set.classes} | {"ignore": int(counts[label_set.ignore_index])}
    return ImportResult(fmt, src, out_dir, label_set.name, tuple(encoded), pixels, replaced)

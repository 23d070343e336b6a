"""`rvn labels import`: labelling-tool exports (CVAT, LabelMe, COCO) -> the package's training label PNGs.

numpy, OpenCV, YAML and pycocotools load inside the handler; this module must never import ROS
at module level.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from robot_vision_nav.cli.common import CliError, Parser

if TYPE_CHECKING:
    from robot_vision_nav.cli.common import Subparsers

# training.label_imports.FORMATS, spelled here so `rvn --help` loads no numpy (a test keeps them equal).
FORMATS = ("cvat", "labelme", "coco")


def _labels_import(args: argparse.Namespace) -> int:
    from robot_vision_nav.training.label_imports import LabelImportError, import_labels, load_mapping

    try:
        mapping = load_mapping(Path(args.map))
        result = import_labels(args.format, Path(args.src), mapping, Path(args.out), args.images)
    except LabelImportError as err:
        raise CliError(str(err)) from err
    print(json.dumps(result.as_dict()) if args.json else result.format_text())
    return 0


def register(sub: Subparsers) -> None:
    """Add `rvn labels` (import) to `sub`."""
    p = sub.add_parser(
        "labels",
        help="import labels from labelling tools (CVAT, LabelMe, COCO) as training label PNGs",
        description="Label tools for training data.",
    )
    labels_sub = p.add_subparsers(dest="labels_command", metavar="COMMAND", required=True, parser_class=Parser)
    q = labels_sub.add_parser(
        "import",
        help="turn a CVAT, LabelMe or COCO export into DIR/NAME.png label images of a label set",
        description="Read a labelling tool's export, map its class names onto a label set through --map, and write "
        "one single-channel PNG of train ids per image, DIR/NAME.png (255 = ignore, also for unlabelled pixels), "
        "as `rvn train`'s image-folder layout reads them (ROOT/images/NAME.png|jpg, ROOT/labels/NAME.png). FORMAT: "
        "cvat (CVAT 'Segmentation mask 1.1': the folder or .zip with labelmap.txt and SegmentationClass/*.png), "
        "labelme (a folder of LabelMe NAME.json, or one file; polygon, rectangle, circle and mask shapes, later "
        "shapes over earlier ones), coco (a COCO instances JSON; polygons, uncompressed and compressed RLE; larger "
        "annotations drawn first, so smaller ones stay on top). MAP.yaml: `label_set: warehouse` (a packaged name "
        "or a label-set YAML, relative to MAP.yaml) and `classes:` mapping every class name of the export to a "
        "class of the label set or `ignore`. Everything is checked before anything is written: an unmapped class, "
        "an unknown colour or shape type, a missing file or (with --images) a label of another size than its image "
        "writes nothing. Sizes in pixels.",
    )
    q.add_argument("format", choices=FORMATS, metavar="FORMAT", help=f"the export's format: {', '.join(FORMATS)}")
    q.add_argument("src", metavar="SRC",
                   help="the export: CVAT folder or .zip; LabelMe folder or .json file; COCO .json file")  # fmt: skip
    q.add_argument("--map", required=True, metavar="MAP.yaml",
                   help="class mapping YAML: label_set, and classes (tool class: label-set class or "
                   "ignore)")  # fmt: skip
    q.add_argument("--out", required=True, metavar="DIR",
                   help="folder for the NAME.png label images (made if missing; files of the same name "
                   "replaced)")  # fmt: skip
    q.add_argument("--images", metavar="IMAGES_DIR",
                   help="the images' folder: each label needs an image NAME.png|jpg there of the same size "
                   "(width x height, px)")  # fmt: skip
    q.add_argument("--json", action="store_true", help="print the result as one JSON object")
    q.set_defaults(handler=_labels_import)

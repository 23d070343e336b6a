"""Imports from labelling tools: CVAT, LabelMe and COCO exports -> train-id label PNGs of a label set.

A site team labels frames of its own camera in a labelling tool; `import_labels` turns the export
into `OUT/NAME.png` (one 8-bit channel of train ids, 255 ignore), the labels the image-folder
dataset (`ROOT/images/NAME.png|jpg` + `ROOT/labels/NAME.png`) reads. The tool's class names map
onto the label set through a small YAML (`mapping`). One module per format: `cvat` ("Segmentation
mask 1.1"), `labelme` (JSON shapes), `coco` (instances JSON, through pycocotools); `output` runs an
import: everything is checked before anything is written. This package must never import ROS.
"""

from __future__ import annotations

from robot_vision_nav.training.label_imports.mapping import (
    ClassMapping,
    ImportedLabel,
    LabelImportError,
    load_mapping,
)
from robot_vision_nav.training.label_imports.output import FORMATS, READERS, ImportResult, import_labels

__all__ = [
    "FORMATS",
    "READERS",
    "ClassMapping",
    "ImportResult",
    "ImportedLabel",
    "LabelImportError",
    "import_labels",
    "load_mapping",
]

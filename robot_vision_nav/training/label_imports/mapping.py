"""The class mapping YAML shared by every import: a labelling tool's class names -> train ids of a label set.

The user writes it once per labelling project:

    label_set: warehouse          # a packaged label set's name, or a label-set YAML (relative to this file)
    classes:                      # the tool's class name -> a class of the label set, or `ignore` (255)
      Floor: floor
      "Keep-out zone": keep_out
      background: ignore

Every class an export names must be mapped (an unmapped one is an error naming the class, the
export file and this YAML, never dropped in silence), and every target must be a class of the
label set. This module must never import ROS.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from robot_vision_nav.core.segmentation.labels import LabelError, LabelSet
from robot_vision_nav.package_files import load_label_set

IGNORE = "ignore"
DEFAULT_LABEL_SET = "warehouse"
_KEYS = ("label_set", "classes")


class LabelImportError(ValueError):
    """An export or mapping that cannot be imported: the message names the file and what was expected."""


@dataclass(frozen=True)
class ImportedLabel:
    """One image's labels read from an export: train ids (ignore index where unlabelled) and where they came from."""

    name: str
    ids: NDArray[np.uint8]
    source: str


@dataclass(frozen=True)
class ClassMapping:
    """A mapping YAML read and checked: tool class name -> train id (the label set's ignore index for `ignore`)."""

    path: Path
    label_set: LabelSet
    train_ids: dict[str, int]

    @property
    def ignore_index(self) -> int:
        """The id of ignored and unlabelled pixels (255)."""
        return self.label_set.ignore_index

    def require(self, names: Iterable[str], where: str) -> None:
        """Refuse class names of an export (read from `where`) that the YAML does not map, naming all of them."""
        missing = sorted({n for n in names if n not in self.train_ids})
        if missing:
            listed = ", ".join(repr(n) for n in missing)
            example = missing[0]
            raise LabelImportError(
                f"{where} names class{'es' if len(missing) > 1 else ''} {listed} that the mapping "
                f"{str(self.path)!r} does not map; add e.g. {f'{example!r}: <a class of {self.label_set.name}>'} "
                f"or {f'{example!r}: {IGNORE}'} under 'classes'"
            )

    def train_id(self, name: str, where: str) -> int:
        """The train id of tool class `name` named in `where`; an unmapped name raises LabelImportError."""
        self.require((name,), where)
        return self.train_ids[name]

    def empty(self, height: int, width: int) -> NDArray[np.uint8]:
        """A `height` x `width` label image with every pixel unlabelled (the ignore index)."""
        return np.full((height, width), self.ignore_index, dtype=np.uint8)


def read_json(path: Path, kind: str) -> Any:
    """The parsed JSON of an export file; `kind` (`COCO`, `LabelMe`) names the format in the message."""
    # Any: parsed JSON, checked field by field by the caller.
    where = str(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise LabelImportError(f"cannot read {kind} file {where!r}: {err}") from err
    except json.JSONDecodeError as err:
        raise LabelImportError(f"{kind} file {where!r} is not JSON: {err}") from err


def _resolve_label_set(value: Any, path: Path) -> LabelSet:
    """`label_set:` as a packaged name or a YAML path (relative to the mapping file's folder)."""
    if not isinstance(value, str) or not value:
        raise LabelImportError(f"{path}: label_set {value!r}, expected a label set name or a YAML path")
    target: str | Path = value
    if Path(value).suffix in (".yaml", ".yml") and not Path(value).is_absolute():
        target = path.parent / value
    try:
        return load_label_set(target)
    except LabelError as err:
        raise LabelImportError(f"{path}: label_set: {err}") from err


def load_mapping(path: str | Path) -> ClassMapping:
    """Read and check a class mapping YAML (see the module docstring).

    Raises:
        LabelImportError: an unreadable file, an unknown key, a non-string class name, or a target
            class the label set lacks (naming both).

    """
    path = Path(path)
    try:
        # Any: whatever the YAML holds; checked key by key below.
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise LabelImportError(f"cannot read the class mapping {str(path)!r}: {err}") from err
    except yaml.YAMLError as err:
        raise LabelImportError(f"the class mapping {str(path)!r} is not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise LabelImportError(f"{path}: expected a mapping with 'label_set' and 'classes'")
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise LabelImportError(f"{path}: unknown key {unknown[0]!r}; expected {' and '.join(_KEYS)}")
    label_set = _resolve_label_set(data.get("label_set", DEFAULT_LABEL_SET), path)
    classes = data.get("classes")
    if not isinstance(classes, dict) or not classes:
        raise LabelImportError(
            f"{path}: 'classes' must map each tool class name to a class of {label_set.name!r} or '{IGNORE}'"
        )
    index = {c.name: c.id for c in label_set.classes}
    train_ids: dict[str, int] = {}
    for name, target in classes.items():
        if not isinstance(name, str):
            raise LabelImportError(
                f'{path}: class name {name!r} is not text; quote it (e.g. "{name}": ...) as the tool spells it'
            )
        if target == IGNORE:
            train_ids[name] = label_set.ignore_index
        elif isinstance(target, str) and target in index:
            train_ids[name] = index[target]
        else:
            raise LabelImportError(
                f"{path} maps {name!r} to {target!r}, which label set {label_set.name!r} lacks; its classes are "
                f"{', '.join(label_set.names)} (or '{IGNORE}')"
            )
    return ClassMapping(path, label_set, train_ids)

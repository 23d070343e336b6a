"""Label sets: the classes a segmentation model predicts, their colours and which are drivable.

One YAML file per dataset in `config/labels/` (the single source of truth): `name`,
`ignore_index` (255, the label ignored by losses and metrics), optional `void_ids` (dataset ids
mapped to ignore), and `classes`, each `{id, name, color: [r, g, b], drivable}` with ids 0..K-1 in
order (the network's output channels); Cityscapes entries add `label_id`, the dataset's own id.

Found by name in the folders the caller gives (`robot_vision_nav.package_files.load_label_set`
passes the package's `config/labels/` wherever it is installed), or given as a path. This module
must never import ROS and never looks for the package's files itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

IGNORE_INDEX = 255
# Set labels (`rvn autolabel`): the pixel is one of the label set's drivable classes, or one of the others,
# without saying which. The training loss takes the summed probability of the set; scores leave them out.
ANY_DRIVABLE = 253
ANY_NOT_DRIVABLE = 254


class LabelError(ValueError):
    """A label set that cannot be read or is inconsistent, or an unknown class name."""


@dataclass(frozen=True)
class LabelClass:
    """One output class: its channel id, name, RGB colour and whether the robot may drive on it."""

    id: int
    name: str
    color: tuple[int, int, int]
    drivable: bool
    label_id: int | None = None


@dataclass(frozen=True)
class LabelSet:
    """The classes of one dataset, in channel order."""

    name: str
    classes: tuple[LabelClass, ...]
    ignore_index: int = IGNORE_INDEX
    void_ids: tuple[int, ...] = ()

    @property
    def num_classes(self) -> int:
        """K, the number of output channels."""
        return len(self.classes)

    @property
    def names(self) -> tuple[str, ...]:
        """Class names in channel order."""
        return tuple(c.name for c in self.classes)

    @property
    def drivable_names(self) -> tuple[str, ...]:
        """Names of the classes the label file calls drivable."""
        return tuple(c.name for c in self.classes if c.drivable)

    def ids_of(self, names: list[str] | tuple[str, ...]) -> tuple[int, ...]:
        """Channel ids of class names; an unknown name raises LabelError listing the known ones."""
        index = {c.name: c.id for c in self.classes}
        unknown = [n for n in names if n not in index]
        if unknown:
            raise LabelError(
                f"label set {self.name!r} has no class {', '.join(map(repr, unknown))}; its classes are "
                f"{', '.join(self.names)}"
            )
        return tuple(index[n] for n in names)

    def drivable_lut(self, drivable: list[str] | tuple[str, ...] | None = None) -> NDArray[np.bool_]:
        """A 256-entry table: True for the ids of drivable classes (the file's, or `drivable` names)."""
        ids = [c.id for c in self.classes if c.drivable] if drivable is None else list(self.ids_of(drivable))
        lut = np.zeros(256, dtype=np.bool_)
        lut[ids] = True
        return lut

    def palette(self) -> NDArray[np.uint8]:
        """A 256x3 RGB table: class colours, black for ignore and unused ids."""
        table = np.zeros((256, 3), dtype=np.uint8)
        for c in self.classes:
            table[c.id] = c.color
        return table

    def colorize(self, labels: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """An HxWx3 RGB picture of a label image."""
        return self.palette()[labels]

    def to_train_ids(self, dataset_ids: NDArray[np.integer[Any]]) -> NDArray[np.uint8]:
        """Dataset label ids to channel ids: `label_id` where the file gives it, void ids -> ignore."""
        lut = np.full(256, self.ignore_index, dtype=np.uint8)
        if any(c.label_id is not None for c in self.classes):
            for c in self.classes:
                if c.label_id is not None:
                    lut[c.label_id] = c.id
        else:
            lut[: self.num_classes] = np.arange(self.num_classes, dtype=np.uint8)
        for v in self.void_ids:
            lut[v] = self.ignore_index
        ids = np.asarray(dataset_ids)
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) > 255):
            raise LabelError(f"label ids must be 0..255, got {int(ids.min())}..{int(ids.max())}")
        return lut[ids.astype(np.uint8)]

    def to_dict(self) -> dict[str, Any]:
        """The set as plain data (for a model card); `parse_label_set` reads it back unchanged."""
        classes: list[dict[str, Any]] = []
        for c in self.classes:
            entry: dict[str, Any] = {"id": c.id, "name": c.name, "color": list(c.color), "drivable": c.drivable}
            if c.label_id is not None:  # without it a card's Cityscapes set would map label ids wrongly
                entry["label_id"] = c.label_id
            classes.append(entry)
        data: dict[str, Any] = {"name": self.name, "ignore_index": self.ignore_index}
        if self.void_ids:
            data["void_ids"] = list(self.void_ids)
        data["classes"] = classes
        return data


def available_label_sets(dirs: Sequence[Path]) -> list[str]:
    """Names of the label sets (`NAME.yaml`) in the folders `dirs`."""
    return sorted({p.stem for d in dirs if Path(d).is_dir() for p in Path(d).glob("*.yaml")})


def _byte(value: Any, what: str) -> int:
    """`value` as an id 0..255, or LabelError naming `what`."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 255:
        raise LabelError(f"{what} {value!r}, expected an integer 0..255")
    return value


def _require(entry: dict[str, Any], key: str, where: str) -> Any:
    if key not in entry:
        raise LabelError(f"{where}: missing {key!r}")
    return entry[key]


def parse_label_set(data: Any, where: str) -> LabelSet:
    """A LabelSet from parsed YAML (or a model card's `labels`), checked; `where` names the source."""
    if not isinstance(data, dict):
        raise LabelError(f"{where}: expected a mapping with 'name' and 'classes'")
    raw = _require(data, "classes", where)
    if not isinstance(raw, list) or not raw:
        raise LabelError(f"{where}: 'classes' must be a non-empty list")
    classes = []
    for i, entry in enumerate(raw):
        at = f"{where}: classes[{i}]"
        if not isinstance(entry, dict):
            raise LabelError(f"{at}: expected a mapping")
        cid = _require(entry, "id", at)
        if cid != i:
            raise LabelError(f"{at}: id {cid!r}, expected {i} (ids are channel indices 0..K-1 in order)")
        color = _require(entry, "color", at)
        if not (
            isinstance(color, list) and len(color) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in color)
        ):
            raise LabelError(f"{at}: color {color!r}, expected [r, g, b] with integers 0..255")
        drivable = _require(entry, "drivable", at)
        if not isinstance(drivable, bool):
            raise LabelError(f"{at}: drivable {drivable!r}, expected true or false")
        label_id = entry.get("label_id")
        if label_id is not None:
            _byte(label_id, f"{at}: label_id")
        classes.append(
            LabelClass(i, str(_require(entry, "name", at)), (color[0], color[1], color[2]), drivable, label_id)
        )
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise LabelError(f"{where}: class names repeat: {names}")
    ignore = _byte(data.get("ignore_index", IGNORE_INDEX), f"{where}: ignore_index")
    if len(classes) > ignore:
        raise LabelError(f"{where}: {len(classes)} classes collide with ignore_index {ignore}")
    void_ids = data.get("void_ids", [])
    if not isinstance(void_ids, list):
        raise LabelError(f"{where}: void_ids {void_ids!r}, expected a list of integers 0..255")
    void = tuple(_byte(v, f"{where}: void_ids entry") for v in void_ids)
    return LabelSet(str(_require(data, "name", where)), tuple(classes), ignore, void)


def load_label_set(name_or_path: str | Path, dirs: Sequence[Path] = ()) -> LabelSet:
    """A label set by name (`cityscapes`, `camvid`, `warehouse`), looked up in `dirs` in order, or from a YAML path.

    Raises:
        LabelError: no `NAME.yaml` in any of `dirs` (naming the sets there and every folder looked
            in), or a file that cannot be read or is malformed.

    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        found = [Path(d) / f"{name_or_path}.yaml" for d in dirs if (Path(d) / f"{name_or_path}.yaml").is_file()]
        if not found:
            raise LabelError(
                f"no label set {str(name_or_path)!r}; available: {', '.join(available_label_sets(dirs)) or 'none'} "
                f"(looked in {', '.join(str(d) for d in dirs) or 'no folder'})"
            )
        path = found[0]
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise LabelError(f"cannot read label set {str(path)!r}: {err}") from err
    return parse_label_set(data, str(path))

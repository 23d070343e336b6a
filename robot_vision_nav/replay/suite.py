"""A replay suite: many bags, each with its goldens, tolerances, parameters and topic map, in one YAML file.

```yaml
suite: warehouse-regression        # the report's name (JUnit testsuite); default: the file's stem
defaults:                          # optional; every bag starts from these
  tolerances: {mask_iou_min: 0.98} # replay.compare.Tolerances fields
  params: ../config/robot_vision_nav.yaml   # the stack's parameter file
  set: {costmap_node.inflation_radius_m: 0.35}   # NODE.PARAM: VALUE (or NODE: {PARAM: VALUE})
  model: ""                        # a model file ("" = the parameter file's)
bags:
  - name: aisle_3                  # unique; default: the bag's file name without suffix
    bag: bags/aisle_3              # rosbag2 folder, .mcap or ROS 1 .bag
    golden: goldens/aisle_3.json   # one golden for every device class, or per class:
    # goldens: {cpu: goldens/cpu/aisle_3.json, cuda-fp16: goldens/cuda-fp16/aisle_3.json}
    topics_map: ../config/topics_realsense.yaml
    tolerances: {cmd_vel_max_diff: 0.08}   # merged over the defaults, key by key
    set: {planner_node.cost_weight: 2.0}   # merged over the defaults
```

Relative paths are relative to the suite file. A golden is a summary JSON (`rvn replay --summary`)
or a golden output bag. `load_suite` reads and checks everything that can be checked without
running (keys, types, tolerance ranges, that each bag and golden exists) and names the file, the
bag and the key of the first thing wrong. Must never import ROS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from robot_vision_nav.replay.compare import Tolerances

DEVICE_CLASSES = ("cpu", "cuda-fp16", "cuda-fp32")  # where a replay's perception numbers come from
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # a bag's name is a file name in the report
_SUITE_KEYS = {"suite", "defaults", "bags"}
_DEFAULT_KEYS = {"tolerances", "params", "set", "model"}
_BAG_KEYS = {"name", "bag", "golden", "goldens", "topics_map"} | _DEFAULT_KEYS


class SuiteError(ValueError):
    """The suite file, or something it names, is unusable; the message names the file, bag and key."""


@dataclass(frozen=True)
class BagCase:
    """One bag of a suite, resolved: absolute paths, merged tolerances and parameters."""

    name: str
    bag: Path
    goldens: dict[str, Path] = field(default_factory=dict)  # device class (or "any") -> golden; {}: none yet
    topics_map: Path | None = None
    tolerances: Tolerances = field(default_factory=Tolerances)
    params_file: str = ""
    model: str = ""
    extra_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)

    def golden_for(self, device_class: str) -> Path | None:
        """The golden for `device_class`: its own, else the one for every class, else None."""
        return self.goldens.get(device_class, self.goldens.get("any"))


@dataclass(frozen=True)
class Suite:
    """A loaded suite: its name, file and bags in file order."""

    name: str
    path: Path
    cases: tuple[BagCase, ...]

    def default_golden(self, case: BagCase, device_class: str) -> Path:
        """Where a new golden of `case` for `device_class` goes: goldens/<class>/<name>.json beside the suite."""
        return self.path.parent / "goldens" / device_class / f"{case.name}.json"


def load_suite(path: str | Path) -> Suite:
    """Read and check the suite file at `path` (module docstring).

    Raises:
        SuiteError: unreadable YAML, an unknown key, a wrong type, a tolerance out of range, two
            bags of one name, or a bag, golden, topic map or parameter file that does not exist.

    """
    path = Path(path)
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise SuiteError(f"{where}: cannot read the suite: {err.strerror or err}") from err
    except yaml.YAMLError as err:
        raise SuiteError(f"{where}: not YAML: {err}") from err
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: expected a mapping with 'bags' (and optional 'suite', 'defaults')")
    _known(data, _SUITE_KEYS, where)
    name = data.get("suite", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise SuiteError(f"{where}: 'suite' must be a non-empty string, got {name!r}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise SuiteError(f"{where}: 'defaults' must be a mapping, got {type(defaults).__name__}")
    _known(defaults, _DEFAULT_KEYS, f"{where}: defaults")
    bags = data.get("bags")
    if not isinstance(bags, list) or not bags:
        raise SuiteError(f"{where}: 'bags' must be a non-empty list of bags")
    base = path.parent
    template = _case_settings(defaults, BagCase(name="", bag=Path()), base, f"{where}: defaults")
    cases: list[BagCase] = []
    seen: set[str] = set()
    for index, item in enumerate(bags):
        context = f"{where}: bags[{index}]"
        if not isinstance(item, dict):
            raise SuiteError(f"{context}: expected a mapping with 'bag', got {item!r}")
        _known(item, _BAG_KEYS, context)
        bag = _path(item.get("bag"), base, f"{context}: bag", must_exist=True)
        case_name = item.get("name", _stem(bag))
        if not isinstance(case_name, str) or not _NAME.match(case_name):
            raise SuiteError(f"{context}: name {case_name!r} must be letters, digits, '.', '_' or '-'")
        context = f"{where}: bag {case_name!r}"
        if case_name in seen:
            raise SuiteError(f"{context}: two bags of this name; give one a 'name'")
        seen.add(case_name)
        case = _case_settings(item, replace(template, name=case_name, bag=bag), base, context)
        case = replace(case, goldens=_goldens(item, base, context))
        cases.append(case)
    return Suite(name=name.strip(), path=path.resolve(), cases=tuple(cases))


def _known(data: Mapping[str, Any], keys: set[str], context: str) -> None:
    unknown = sorted(set(data) - keys)
    if unknown:
        raise SuiteError(
            f"{context}: unknown key(s) {', '.join(map(str, unknown))}; expected {', '.join(sorted(keys))}"
        )


def _stem(bag: Path) -> str:
    name = bag.name
    for suffix in (".mcap", ".bag", ".db3"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _path(value: Any, base: Path, context: str, *, must_exist: bool) -> Path:
    if not isinstance(value, str) or not value:
        raise SuiteError(f"{context}: expected a path, got {value!r}")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else (base / path)
    if must_exist and not path.exists():
        raise SuiteError(f"{context}: {value!r} does not exist ({path})")
    return path.resolve()


def _case_settings(data: Mapping[str, Any], case: BagCase, base: Path, context: str) -> BagCase:
    """`case` with the tolerances, parameters, model and topic map that `data` sets, merged over its own."""
    out = case
    if "tolerances" in data:
        values = data["tolerances"]
        if not isinstance(values, dict):
            raise SuiteError(f"{context}: tolerances must be a mapping of name: value")
        merged = {**_tolerance_values(case.tolerances), **values}
        try:
            out = replace(out, tolerances=Tolerances.from_mapping(merged, "the suite"))
        except ValueError as err:
            raise SuiteError(f"{context}: tolerances: {err}") from err
    if "params" in data:
        out = replace(out, params_file=str(_path(data["params"], base, f"{context}: params", must_exist=True)))
    if "model" in data:
        model = data["model"]
        if not isinstance(model, str):
            raise SuiteError(f"{context}: model must be a path string, got {model!r}")
        out = replace(out, model=str(_path(model, base, f"{context}: model", must_exist=True)) if model else "")
    if "set" in data:
        out = with_parameters(out, parameter_overrides(data["set"], f"{context}: set"))
    if "topics_map" in data:
        out = replace(out, topics_map=_path(data["topics_map"], base, f"{context}: topics_map", must_exist=True))
    return out


def with_parameters(case: BagCase, overrides: Mapping[str, Mapping[str, Any]]) -> BagCase:
    """`case` with `overrides` ({node: {param: value}}) merged over its parameters, parameter by parameter."""
    merged = {node: dict(values) for node, values in case.extra_parameters.items()}
    for node, values in overrides.items():
        merged.setdefault(node, {}).update(values)
    return replace(case, extra_parameters=merged)


def _tolerance_values(tolerances: Tolerances) -> dict[str, float]:
    return {k: getattr(tolerances, k) for k in Tolerances.__dataclass_fields__}


def parameter_overrides(value: Any, context: str) -> dict[str, dict[str, Any]]:
    """`{NODE.PARAM: VALUE}` or `{NODE: {PARAM: VALUE}}` (both may mix) -> {node: {param: value}}.

    Raises:
        SuiteError: not a mapping, or a key that is neither NODE.PARAM nor a NODE with a mapping.

    """
    if not isinstance(value, dict):
        raise SuiteError(f"{context}: expected a mapping of NODE.PARAM: VALUE, got {value!r}")
    out: dict[str, dict[str, Any]] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise SuiteError(f"{context}: {key!r} is not NODE.PARAM")
        node, dot, param = key.partition(".")
        if dot:
            if not node or not param:
                raise SuiteError(f"{context}: {key!r} is not NODE.PARAM")
            out.setdefault(node, {})[param] = item
        elif isinstance(item, dict) and all(isinstance(k, str) and k for k in item):
            out.setdefault(node, {}).update(item)
        else:
            raise SuiteError(f"{context}: {key!r}: expected NODE.PARAM: VALUE or NODE: {{PARAM: VALUE}}")
    return out


def _goldens(data: Mapping[str, Any], base: Path, context: str) -> dict[str, Path]:
    if "golden" in data and "goldens" in data:
        raise SuiteError(f"{context}: give 'golden' (every device class) or 'goldens' (per class), not both")
    if "golden" in data:
        return {"any": _path(data["golden"], base, f"{context}: golden", must_exist=False)}
    per_class = data.get("goldens") or {}
    if not isinstance(per_class, dict):
        raise SuiteError(f"{context}: goldens must map a device class ({', '.join(DEVICE_CLASSES)}) to a file")
    out: dict[str, Path] = {}
    for device_class, value in per_class.items():
        if device_class not in DEVICE_CLASSES:
            raise SuiteError(
                f"{context}: goldens: unknown device class {device_class!r}; expected {', '.join(DEVICE_CLASSES)}"
            )
        out[device_class] = _path(value, base, f"{context}: goldens.{device_class}", must_exist=False)
    return out

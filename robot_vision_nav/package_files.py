"""Where the package's own files are: label sets, models, parameter files, the RViz config, the DDS profile.

One lookup for every caller, in this order:

1. the share directory the ament index registers for the package (a colcon install space once
   `install/local_setup.bash` is sourced, the container's `/opt/rvn/install`, an apt install);
2. the source checkout this module was imported from (`pip install -e .`, `make test`);
3. the share directory beside the installed module (a colcon or wheel install whose prefix is not
   on `AMENT_PREFIX_PATH`: `<prefix>/lib/pythonX.Y/site-packages/robot_vision_nav` ->
   `<prefix>/share/robot_vision_nav`);
4. the running interpreter's `sys.prefix/share/robot_vision_nav` (a wheel's data files in a venv).

A missing file is a `PackageFileError` that lists every place looked. This module imports no ROS
client library (ament_index_python is plain Python and optional) and nothing heavy, so launch files
can use it under a Python without torch; core/ never imports it: core functions receive the
directories (`core.segmentation.labels.load_label_set(name, dirs)`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from robot_vision_nav.core.segmentation.labels import LabelSet

PACKAGE = "robot_vision_nav"
# The weights an empty `model_path` (segmentation node, rvn doctor) means, under models/ of the share directory.
DEFAULT_MODEL = "segnet_warehouse_small_ctx.safetensors"
_MODULE_DIR = Path(__file__).resolve().parent


class PackageFileError(FileNotFoundError):
    """A file of the package is in none of the places it is looked for; the message lists them."""


def _ament_share() -> Path | None:
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError:
        return None  # no ament index on this Python: a pip install or a source checkout
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (LookupError, OSError, ValueError):
        return None  # not registered in any prefix of AMENT_PREFIX_PATH


def _checkout_root() -> Path | None:
    root = _MODULE_DIR.parent
    # A checkout holds package.xml and setup.py beside the package; an install's site-packages does not.
    return root if (root / "package.xml").is_file() and (root / "setup.py").is_file() else None


def share_dirs() -> list[Path]:
    """Every place the package's files may be, most specific first (see the module docstring); may not exist."""
    candidates = [
        _ament_share(),
        _checkout_root(),
        # <prefix>/lib/pythonX.Y/site-packages/robot_vision_nav -> <prefix>/share/robot_vision_nav
        _MODULE_DIR.parents[3] / "share" / PACKAGE if len(_MODULE_DIR.parents) > 3 else None,
        Path(sys.prefix) / "share" / PACKAGE,
    ]
    return list(dict.fromkeys(c for c in candidates if c is not None))


def share_dir() -> Path:
    """The package's share directory: the first of `share_dirs` that holds its package.xml.

    Raises:
        PackageFileError: none does, listing every place looked.

    """
    return package_file("package.xml").parent


def _looked(paths: Sequence[Path]) -> str:
    return ", ".join(str(p) for p in paths)


def package_file(*parts: str) -> Path:
    """A file of the package, e.g. `package_file("config", "robot_vision_nav.yaml")`.

    Raises:
        PackageFileError: the file is in no share directory, listing every path looked at.

    """
    looked = [d.joinpath(*parts) for d in share_dirs()]
    for path in looked:
        if path.is_file():
            return path
    raise PackageFileError(f"{'/'.join(parts)} of {PACKAGE} is in none of: {_looked(looked)}")


def package_dirs(*parts: str) -> list[Path]:
    """Every existing folder `parts` of the share directories, in lookup order (possibly none)."""
    return [d.joinpath(*parts) for d in share_dirs() if d.joinpath(*parts).is_dir()]


def label_dirs() -> list[Path]:
    """The folders label sets are looked up in by name (`config/labels` of each share directory)."""
    return [d / "config" / "labels" for d in share_dirs()]


def load_label_set(name_or_path: str | Path) -> LabelSet:
    """A label set by name (`warehouse`, `cityscapes`, `camvid`) from the package, or from a YAML path.

    Raises:
        LabelError: no such set (naming every folder looked in) or an unreadable or malformed file.

    """
    from robot_vision_nav.core.segmentation import labels

    return labels.load_label_set(name_or_path, label_dirs())


def available_label_sets() -> list[str]:
    """Names of the label sets the package ships."""
    from robot_vision_nav.core.segmentation import labels

    return labels.available_label_sets(label_dirs())

"""What every `rvn` command module shares: the error type, the parser class, value parsers, common options.

Imports only the standard library at module level (OpenCV inside `check_out_path`); it must never import
ROS or torch at module level, so `rvn --help` stays quick and `rvn costmap` works without ROS.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

EXIT_USAGE = 2


class CliError(Exception):
    """Bad input found after parsing: reported as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage block), pointing at --help."""

    def error(self, message: str) -> NoReturn:
        """Print `message` as one line on stderr and exit with status 2."""
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


if TYPE_CHECKING:
    # What `add_subparsers` returns; typeshed names it by argparse's private class.
    Subparsers: TypeAlias = argparse._SubParsersAction[Parser]


# ---------------------------------------------------------------------------------------- values
def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number {what}, got {text!r}")
    return value


def positive(unit: str) -> Callable[[str], float]:
    """An argparse `type` for a finite number > 0 in `unit`."""

    def parse(text: str) -> float:
        value = _number(text, f"> 0 ({unit})")
        if value <= 0.0:
            raise argparse.ArgumentTypeError(f"must be > 0 ({unit}), got {text!r}")
        return value

    return parse


def finite(unit: str) -> Callable[[str], float]:
    """An argparse `type` for any finite number in `unit`."""
    return lambda text: _number(text, f"({unit})")


def float_in(lo: float, hi: float, unit: str) -> Callable[[str], float]:
    """An argparse `type` for a finite number in lo..hi `unit` (training.options' one, as for int_in)."""
    from robot_vision_nav.training import options

    return options.float_in(lo, hi, unit)


def int_in(lo: int, hi: int, unit: str) -> Callable[[str], int]:
    """An argparse `type` for a whole number in lo..hi `unit`."""
    # One implementation for every command: training.options imports no torch, so --help stays fast.
    from robot_vision_nav.training import options

    return options.int_in(lo, hi, unit)


def camera_mount(text: str) -> tuple[float, ...]:
    """An argparse `type` for `x,y,z,roll,pitch,yaw` (m, rad): six finite numbers."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 6:
        raise argparse.ArgumentTypeError(
            f"needs 6 comma-separated numbers x,y,z,roll,pitch,yaw (m, rad), got {len(parts)} in {text!r}"
        )
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs 6 numbers x,y,z,roll,pitch,yaw (m, rad), got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"needs 6 finite numbers x,y,z,roll,pitch,yaw (m, rad), got {text!r}")
    return values


def glue_negative_values(argv: Sequence[str], options: Sequence[str]) -> list[str]:
    """Turn `--mount -0.1,0,...` into `--mount=-0.1,0,...`: argparse would take the value for an option."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg in options:
            value = next(it, None)
            if value is not None and value.startswith("-") and "," in value:
                out.append(f"{arg}={value}")
                continue
            out.append(arg)
            if value is not None:
                out.append(value)
        else:
            out.append(arg)
    return out


# ---------------------------------------------------------------------------------------- files
def yaml_assignment(item: str, form: str) -> tuple[str, Any]:
    """One `--set NAME=VALUE` item: (NAME, VALUE read as YAML); `form` (e.g. "NAME=VALUE (e.g. x=1)") for the error."""
    import yaml

    name, sep, text = item.partition("=")
    if not sep or not name:
        raise CliError(f"argument --set: expected {form}, got {item!r}")
    try:
        return name, yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CliError(f"argument --set: {item!r}: the value is not YAML: {err}") from err


def check_out_path(path: Path, what: str = "--out") -> None:
    """Refuse an output picture `path` (given as option `what`) that cannot be written, before any work."""
    import cv2

    if not path.parent.is_dir():
        raise CliError(f"argument {what}: folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise CliError(f"argument {what}: {str(path)!r} is a folder; expected a picture file name such as map.png")
    if not cv2.haveImageWriter(str(path)):
        raise CliError(f"argument {what}: OpenCV cannot write {path.suffix or 'files without a suffix'!r}; use .png")


# ---------------------------------------------------------------------------------------- options
def add_stack_arguments(p: argparse.ArgumentParser) -> None:
    """--params, --model and --device: what `rvn demo`, `run`, `record` and `replay` give the stack's node list."""
    p.add_argument("--params", metavar="FILE", help="the stack's parameter YAML (default config/robot_vision_nav.yaml)")
    p.add_argument("--model", metavar="M", help="segmentation weights (default the YAML's: the shipped model)")
    p.add_argument("--device", metavar="D", help="segmentation device: auto, cpu, cuda, cuda:N (default the YAML's)")

"""Export a SegNet to ONNX at a fixed input size, with its model card, checked by onnxruntime.

`export_onnx` writes `NAME.onnx` through a temporary file in the same folder and renames it only
after the file loaded and ran in onnxruntime (when installed), so a failed export never leaves a
partial or broken file. The graph has one input `image` (1 x 3 x H x W, normalised as the card
says) and one output `logits` (1 x K x H x W); the engine's `backend: onnxruntime` feeds it.

Uses torch's dynamo-based exporter (`torch.onnx.export(..., dynamo=True)`, which needs the `onnx`
and `onnxscript` packages): the older TorchScript exporter cannot export `max_unpool2d`, the
operation SegNet's decoder is built on. The size is fixed: the forward pass pads to a multiple of
the stride with shape-dependent arithmetic that a dynamic-shape export would have to guard on.

The card: `NAME.card.yaml` beside the `.onnx`. Exporting beside the source `NAME.safetensors`
shares its card (`card_path` maps both names to it), so that card is left as it is and the export
size must be its input size. Anywhere else a copy of the card is written there, with the input
size set to the export size and `weights` naming the `.onnx`; `exported_from` names the source
weights. This module must never import ROS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from robot_vision_nav.core.segmentation.inference import ModelCard, card_path, sha256_of

ONNX_SUFFIX = ".onnx"
MIN_SIZE = 8
VERIFY_SEED = 0
# Loggers that report harmless details of the graph rewrite at WARNING (e.g. "Attribute type is
# ambiguous ... Defaulted to INTS" for SegNet's empty pooling attributes); quiet while exporting.
QUIET_LOGGERS = ("onnx_ir", "onnxscript", "torch.onnx", "torch.export")


class ExportError(ValueError):
    """An export that cannot be done: missing package, bad path or size, exporter or runtime failure."""


@dataclass(frozen=True)
class ExportResult:
    """What `export_onnx` wrote and how well onnxruntime reproduced the torch model."""

    onnx_path: Path
    card_path: Path
    card_written: bool  # False when the card beside the source weights was reused
    height: int
    width: int
    opset: int
    max_abs_diff: float | None  # max |logit difference| onnxruntime vs torch; None when not verified


def missing_export_packages() -> list[str]:
    """The packages the dynamo exporter needs that are not importable here (`onnx`, `onnxscript`)."""
    return [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]


@contextlib.contextmanager
def _quiet_loggers() -> Iterator[None]:
    saved = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    try:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _sibling_weights(out_path: Path) -> Path:
    return out_path.with_name(out_path.name.removesuffix(ONNX_SUFFIX) + ".safetensors")


def _card_is_shared(out_path: Path, card: ModelCard) -> bool:
    """Whether `out_path`'s card is the source model's own (exporting beside its safetensors).

    Raises ExportError when another model's weights sit there: its card must not be overwritten.
    """
    sibling = _sibling_weights(out_path)
    if not sibling.is_file():
        return False
    if card.sha256 and sha256_of(sibling) == card.sha256:
        return True
    raise ExportError(
        f"{str(out_path)!r} would replace the card {str(card_path(out_path))!r} of another model "
        f"({str(sibling)!r}); choose another output name"
    )


def _verify(onnx_file: Path, model: nn.Module, example: torch.Tensor) -> float | None:
    """Max |logit difference| between onnxruntime and torch on `example`; None without onnxruntime."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    try:
        session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        got = np.asarray(session.run(["logits"], {"image": example.detach().cpu().numpy()})[0])
    except Exception as err:  # onnxruntime raises its own, unexported exception types
        raise ExportError(f"onnxruntime cannot run the exported model: {str(err).splitlines()[0]}") from err
    with torch.inference_mode():
        want = model(example).float().cpu().numpy()
    if got.shape != want.shape:
        raise ExportError(f"onnxruntime gives logits of shape {got.shape}, torch {want.shape}")
    return float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))


def export_onnx(
    model: nn.Module,
    card: ModelCard,
    out_path: str | Path,
    height: int,
    width: int,
    opset: int | None = None,
) -> ExportResult:
    """Export `model` to ONNX at `height` x `width`, write its card, verify it with onnxruntime.

    Args:
        model: the network (a SegNet taking normalised 1x3xHxW images); put in eval mode while
            exporting and restored after. It runs on the device its parameters are on.
        card: its model card (labels, normalisation, source weights and checksum).
        out_path: the `.onnx` file to write (replaced atomically); its folder must exist.
        height: input height in pixels (>= 8).
        width: input width in pixels (>= 8).
        opset: ONNX opset version; None lets torch choose its default.

    Returns:
        The paths written, the opset and the max |logit difference| against torch on a seeded
        random input (None when onnxruntime is not installed).

    Raises:
        ExportError: a missing package (naming what to install), a bad path or size, another
            model's card in the way, or a failure of the exporter or of onnxruntime.

    """
    out = Path(out_path)
    missing = missing_export_packages()
    if missing:
        raise ExportError(
            f"ONNX export needs the {' and '.join(missing)} package{'s' if len(missing) > 1 else ''}: "
            f"pip install {' '.join(missing)}"
        )
    if out.suffix != ONNX_SUFFIX:
        raise ExportError(f"output {str(out)!r} must end in {ONNX_SUFFIX}")
    if not out.parent.is_dir():
        raise ExportError(f"output folder {str(out.parent)!r} does not exist")
    if out.is_dir():
        raise ExportError(f"output {str(out)!r} is a folder; expected a file name such as model.onnx")
    if height < MIN_SIZE or width < MIN_SIZE:
        raise ExportError(f"export size {height}x{width} is below {MIN_SIZE}x{MIN_SIZE} pixels")
    if opset is not None and opset < 1:
        raise ExportError(f"opset {opset} must be a positive ONNX opset version")
    shared = _card_is_shared(out, card)
    if shared and (height, width) != (card.input_height, card.input_width):
        raise ExportError(
            f"{str(out)!r} shares the card {str(card_path(out))!r} with the source weights, whose input size is "
            f"{card.input_height}x{card.input_width}; export at that size or to another file name"
        )

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    generator = torch.Generator().manual_seed(VERIFY_SEED)
    example = torch.randn(1, 3, height, width, generator=generator).to(device)
    was_training = model.training
    model.eval()
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            with _quiet_loggers(), torch.no_grad():
                torch.onnx.export(
                    model,
                    (example,),
                    str(tmp),
                    dynamo=True,
                    input_names=["image"],
                    output_names=["logits"],
                    opset_version=opset,
                    external_data=False,  # one self-contained file: external data would name the temporary file
                    verbose=False,
                )
        except ImportError as err:
            raise ExportError(
                f"ONNX export needs a package that is missing: {err}; pip install onnx onnxscript"
            ) from err
        except Exception as err:  # the exporter raises many types (torch.export, onnxscript, onnx)
            raise ExportError(f"torch.onnx.export failed: {str(err).strip().splitlines()[0]}") from err
        if tmp.stat().st_size == 0:
            raise ExportError("torch.onnx.export wrote nothing")
        max_diff = _verify(tmp, model, example)
        written_opset = _opset_of(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a model file is for everyone to read
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        model.train(was_training)

    target_card = card_path(out)
    if not shared:
        exported = dataclasses.replace(
            card,
            input_height=height,
            input_width=width,
            weights_file=out.name,
            sha256=sha256_of(out),
            extra={
                **card.extra,
                "exported_from": {"file": card.weights_file, "sha256": card.sha256},
                "export": {
                    "format": "onnx",
                    "opset": written_opset,
                    "torch": str(torch.__version__),
                    "max_abs_diff_onnxruntime": max_diff,
                },
            },
        )
        _write_text_atomic(target_card, yaml.safe_dump(exported.to_dict(), sort_keys=False))
    return ExportResult(out, target_card, not shared, height, width, written_opset, max_diff)


def _opset_of(path: Path) -> int:
    import onnx

    model: Any = onnx.load(str(path), load_external_data=False)
    return max((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise

"""What a training run writes as it goes: `train.log`, a `metrics.csv` row per epoch, TensorBoard scalars.

Log lines go to the console (rank 0 at INFO, the other ranks warnings only) and to train.log; a
resumed run first trims metrics.csv back to the checkpoint's epoch, then rewrites the later rows.
Must never import ROS.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from robot_vision_nav.training.checkpoint import LOG

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

METRICS_CSV = "metrics.csv"
TRAIN_LOG = "train.log"
SCORE_FIELDS = ("global_acc", "class_acc", "miou", "drivable_iou")


def csv_fields(class_names: Sequence[str]) -> list[str]:
    """The columns of metrics.csv: the epoch's numbers, its validation scores, each class's IoU."""
    return [
        "epoch", "iteration", "lr", "train_loss", "train_images_per_s", "epoch_time_s",
        *(f"val_{f}" for f in SCORE_FIELDS), *(f"iou_{n}" for n in class_names),
    ]  # fmt: skip


def append_csv(path: Path, row: dict[str, float | None], fields: list[str]) -> None:
    """Add `row` to the CSV at `path` (None as an empty cell), with the header first in a new or empty file."""
    new = not path.is_file() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in fields})


def trim_csv(path: Path, last_epoch: int) -> None:
    """Keep the rows of epochs up to `last_epoch` (a resumed run rewrites the later ones)."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= last_epoch]
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        csv.writer(f).writerows(kept)
    os.replace(tmp, path)


@contextlib.contextmanager
def logging_to(output_dir: Path | None, rank: int) -> Iterator[None]:
    """INFO to the console (rank 0; others warnings only) and to output_dir/train.log while training."""
    handlers: list[logging.Handler] = []
    if not logging.getLogger().handlers:  # an application that set up logging gets our records through it
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.INFO if rank == 0 else logging.WARNING)
        console.setFormatter(logging.Formatter("%(message)s" if rank == 0 else f"[rank {rank}] %(message)s"))
        handlers.append(console)
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        log_file = logging.FileHandler(output_dir / TRAIN_LOG, encoding="utf-8")
        log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handlers.append(log_file)
    level = LOG.level
    LOG.setLevel(logging.INFO)
    for h in handlers:
        LOG.addHandler(h)
    try:
        yield
    finally:
        for h in handlers:
            LOG.removeHandler(h)
            h.close()
        LOG.setLevel(level)


class TensorBoard:
    """Epoch scalars to TensorBoard when asked for and installed; nothing otherwise."""

    def __init__(self, wanted: bool, folder: Path) -> None:
        self.writer: SummaryWriter | None = None
        if not wanted:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            LOG.warning("--tensorboard: the tensorboard package is not installed; metrics.csv has the same numbers")
            return
        self.writer = SummaryWriter(str(folder))

    def epoch(self, step: int, values: dict[str, float | None]) -> None:
        """Write the finite `values` at `step` (the epoch number)."""
        if self.writer is not None:
            for key, value in values.items():
                if value is not None and math.isfinite(value):
                    self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        """Flush and close the writer, if there is one."""
        if self.writer is not None:
            self.writer.close()

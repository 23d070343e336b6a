"""Where a training process stands in a torchrun job, its device, and the samplers that share the data out.

RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them (absent: a job of one); NCCL on GPUs, gloo
on CPU. `EpochSampler` gives every rank the same seeded order for an epoch and each rank every
world_size-th sample; `ShardSampler` scores each validation sample exactly once. Must never
import ROS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler, Sampler

from robot_vision_nav.core.segmentation.inference import SegmenterError, resolve_device
from robot_vision_nav.training.checkpoint import LOG, TrainingError


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in a torchrun job (a job of one when not started by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether there is more than this process (DDP, reductions across processes)."""
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """Whether this process writes files (rank 0)."""
        return self.rank == 0


def distributed_from_env(env: dict[str, str] | None = None) -> Distributed:
    """RANK, WORLD_SIZE and LOCAL_RANK as torchrun sets them (absent: one process)."""
    env = dict(os.environ if env is None else env)
    if "RANK" not in env and "WORLD_SIZE" not in env:
        return Distributed()
    try:
        rank, world = int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1"))
        local = int(env.get("LOCAL_RANK", "0"))
    except ValueError as err:
        raise TrainingError(f"RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers: {err}") from err
    if world < 1 or not 0 <= rank < world or local < 0:
        raise TrainingError(f"RANK {rank} / WORLD_SIZE {world} / LOCAL_RANK {local}: expected 0 <= RANK < WORLD_SIZE")
    return Distributed(rank, world, local)


def select_device(name: str, where: Distributed) -> torch.device:
    """`--device`: auto, cpu, cuda or cuda:N; under torchrun `auto` and `cuda` mean cuda:LOCAL_RANK."""
    if where.enabled and name.startswith("cuda:"):
        raise TrainingError(
            f"--device {name}: under torchrun each process takes cuda:LOCAL_RANK; give --device cuda or auto (and "
            "CUDA_VISIBLE_DEVICES to choose the GPUs)"
        )
    if where.enabled and name in ("auto", "cuda") and torch.cuda.is_available():
        name = f"cuda:{where.local_rank}"
    try:
        return resolve_device(name)
    except SegmenterError as err:
        raise TrainingError(f"--device: {err}") from err


def join_process_group(where: Distributed, device: torch.device) -> None:
    """Start this process's part of the torchrun job: NCCL on CUDA, gloo on CPU."""
    missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise TrainingError(f"WORLD_SIZE is {where.world_size} but {' and '.join(missing)} are not set (use torchrun)")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, rank=where.rank, world_size=where.world_size)
    LOG.info("distributed: rank %d of %d, backend %s, device %s", where.rank, where.world_size, backend, device)


# Any: torch types a sampler by what it yields, and DistributedSampler's own __iter__ yields int;
# this one yields (epoch, index), which no type argument of its parent can say.
class EpochSampler(DistributedSampler[Any]):
    """DistributedSampler that yields `(epoch, index)`: the dataset seeds each sample's augmentation with both.

    The order of epoch e is `torch.randperm` seeded with seed + e (DistributedSampler's rule),
    shared by every rank, each taking every world_size-th index.
    """

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        return ((epoch, int(i)) for i in super().__iter__())


class ShardSampler(Sampler[int]):
    """Indices rank, rank + world, ...: every validation sample scored exactly once across processes."""

    def __init__(self, length: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = range(rank, length, world_size)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)

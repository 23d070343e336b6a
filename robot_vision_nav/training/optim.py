"""The optimiser and the learning-rate schedule of a training run.

SGD with momentum (SegNet's) or AdamW, weight decay on weights only; a linear warm-up, then poly
or cosine decay, stepped once per iteration (torchvision's references/segmentation). Must never
import ROS.
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

POLY_POWER = 0.9
WARMUP_START = 0.01  # the warm-up's first learning rate, as a fraction of --lr (torchvision's lr_warmup_decay)


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """The learning rate at optimiser step `step` as a fraction of the peak.

    Linear warm-up from WARMUP_START over `warmup` steps, then poly ((1 - t)^0.9) or cosine decay
    over the remaining steps, t going 0 -> 1.
    """
    if step < warmup:
        return WARMUP_START + (1.0 - WARMUP_START) * step / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return float((1.0 - t) ** POLY_POWER)


def build_optimizer(model: nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    """SGD with momentum (SegNet's) or AdamW; weight decay on weights of 2+ dimensions only.

    Biases and batch-norm scales and shifts are not decayed: shrinking them towards 0 regularises
    nothing and fights the normalisation.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if args.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999))
    return torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum)

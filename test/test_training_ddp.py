"""Two-process DistributedDataParallel on CPU (gloo), started as torchrun would, against one process.

Batch norm: PyTorch's SyncBatchNorm runs on GPUs only, so on CPU each process would normalise with
its own half batch and the step would differ from one over the combined batch. The runs here use
`--freeze-bn` (running statistics, affine still trained), which makes the comparison exact up to
float summation order; on CUDA the training converts to SyncBatchNorm instead.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from robot_vision_nav.core.segmentation.model import build_model, variant
from robot_vision_nav.training.train import main
from test.training_helpers import SIZE, train_args, write_split_folder

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_process_ddp_step_equals_one_process_with_the_combined_batch(tmp_path: Path) -> None:
    # 4 training images: one step of 2 images on each of 2 processes, or of 4 on one; some labels
    # are 255 and class weights are on, so the processes' shares of the loss differ.
    data = write_split_folder(tmp_path / "data", train=4, val=3)
    options = ["--freeze-bn", "--epochs", "1", "--json"]
    single = main(train_args(data, tmp_path / "single", *options))

    port = str(free_port())
    argv = [sys.executable, "-m", "robot_vision_nav.training.train"]
    words = [
        "--model", "segnet_tiny", "--dataset", "folder", "--data-root", str(data), "--input-size", str(SIZE[0]),
        str(SIZE[1]), "--batch-size", "2", "--workers", "0", "--device", "cpu", "--output-dir",
        str(tmp_path / "ddp"), "--print-freq", "1", "--lr", "0.05", *options,
    ]  # fmt: skip
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo",
               "PYTHONPATH": str(REPO)}  # fmt: skip
        procs.append(subprocess.Popen([*argv, *words], env=env, cwd=REPO, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))  # fmt: skip
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=120))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    summary = json.loads(outputs[0][0])
    assert outputs[1][0] == ""  # rank 1 prints and writes nothing
    assert not (tmp_path / "ddp" / "rank1").exists()

    assert summary["iterations"] == single["iterations"] == 1
    assert summary["command"].startswith("torchrun --nproc-per-node 2 -m robot_vision_nav.training.train")
    assert abs(summary["history"][0]["train_loss"] - single["history"][0]["train_loss"]) < 1e-6
    ddp = torch.load(tmp_path / "ddp" / "checkpoint.pth", weights_only=True)
    one = torch.load(tmp_path / "single" / "checkpoint.pth", weights_only=True)
    assert ddp["world_size"] == 2 and ddp["class_weights"] == one["class_weights"]
    torch.manual_seed(0)
    initial = build_model(variant("segnet_tiny", 11)).state_dict()
    moved = 0
    for name, want in one["model"].items():
        assert torch.allclose(ddp["model"][name], want, rtol=1e-5, atol=1e-6), name
        moved += int(not torch.equal(want, initial[name]))
    assert moved > 20  # the step changed the weights (and both runs started from the same ones)
    # Validation is sharded (2 + 1 images) and the confusion matrices summed: the same scores.
    assert ddp["metrics"]["labelled_pixels"] == one["metrics"]["labelled_pixels"]
    assert abs(ddp["metrics"]["global_acc"] - one["metrics"]["global_acc"]) < 1e-3

#!/usr/bin/env bash
# Learning-rate sweep: one training run per value, each into its own runs/lr_<LR>/ (checkpoint.pth,
# model_best.pth, metrics.csv, train.log), as torchvision's references do it. Runs one after the
# other; compare the runs' metrics.csv (val_miou per epoch) afterwards.
#
#   scripts/lr_sweep.sh [LR ...] -- TRAIN_OPTIONS...
#   scripts/lr_sweep.sh 0.1 0.03 0.01 -- --model segnet_small --dataset camvid --data-root data/CamVid --epochs 60
#
# Environment: NPROC (default 1) > 1 starts each run with torchrun --nproc-per-node NPROC; PYTHON
# (default .venv/bin/python, else python3) runs it; RUNS (default runs) is the parent folder; DRY_RUN=1
# prints the commands instead of running them. A run whose folder already holds a checkpoint.pth
# is resumed (so a sweep that was interrupted can be started again with the same command).
set -euo pipefail

lrs=()
while (($#)) && [[ $1 != "--" ]]; do
    lrs+=("$1")
    shift
done
if (($#)); then shift; fi # the "--"
if ((${#lrs[@]} == 0)); then
    lrs=(0.1 0.03 0.01 0.003)
fi
for lr in "${lrs[@]}"; do
    if ! [[ $lr =~ ^[0-9]*\.?[0-9]+([eE]-?[0-9]+)?$ ]]; then
        echo "lr_sweep.sh: error: learning rate '$lr' is not a positive number (usage: lr_sweep.sh [LR ...] -- OPTIONS)" >&2
        exit 2
    fi
done
for arg in "$@"; do
    case $arg in
    --lr | --lr=* | --output-dir | --output-dir=* | --resume | --resume=*)
        echo "lr_sweep.sh: error: $arg is set by the sweep itself; leave it out of the training options" >&2
        exit 2
        ;;
    esac
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-}"
if [[ -z $python ]]; then
    if [[ -x $repo/.venv/bin/python ]]; then python="$repo/.venv/bin/python"; else python=python3; fi
fi
nproc="${NPROC:-1}"
runs="${RUNS:-runs}"

for lr in "${lrs[@]}"; do
    out="$runs/lr_$lr"
    if ((nproc > 1)); then
        cmd=("$python" -m torch.distributed.run --standalone --nproc-per-node "$nproc" -m robot_vision_nav.training.train)
    else
        cmd=("$python" -m robot_vision_nav.training.train)
    fi
    cmd+=("$@" --lr "$lr" --output-dir "$out")
    if [[ -f $out/checkpoint.pth ]]; then
        cmd+=(--resume "$out/checkpoint.pth")
    fi
    if [[ ${DRY_RUN:-0} == 1 ]]; then
        printf '%q ' "${cmd[@]}"
        printf '\n'
    else
        echo "== lr $lr -> $out" >&2
        "${cmd[@]}"
    fi
done

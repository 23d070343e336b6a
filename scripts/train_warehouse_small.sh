#!/usr/bin/env bash
# The segnet_small warehouse model's recipe, end to end: simulator data, two training phases, export,
# held-out and analytic evaluation. Every step is skipped when its output is already there, so the
# same command picks up where an interrupted run stopped (a phase with a checkpoint.pth resumes).
#
#   scripts/train_warehouse_small.sh [OUT]          (default OUT: runs/warehouse_small)
#
# OUT/data/rand      randomised worlds (`rvn sim-dataset --randomize`, aimed frames from 0.5 m)
# OUT/data/default   default-look worlds, mixed into every epoch (MIX share)
# OUT/data/heldout   default-look worlds of another seed: never trained on, the held-out score
# OUT/phase1         from scratch on CROP crops (fast), PHASE1_EPOCHS epochs
# OUT/phase2         fine-tuned from phase 1 on whole frames (context, full-frame statistics)
# OUT/segnet_warehouse_small.safetensors (+ .card.yaml), fp16 with an input dither of 1 level;
# OUT/eval_heldout.json, OUT/eval_analytic.json
#
# Environment (defaults in brackets): INIT [none]: start phase 1 from an exported model instead of from
# scratch (e.g. models/segnet_warehouse_small.safetensors, to train on from where it stopped); SCENES
# [160], DEFAULT_SCENES [100], HELDOUT_SCENES [10], FRAMES [30] per world; ANALYTIC_FRAMES [100];
# PHASE1_EPOCHS [14], PHASE2_EPOCHS [3]; BATCH1 [16], BATCH2 [8]; CROP ["160 224"]; MIX [0.3];
# RVN [.venv/bin/rvn]. On a 2-core CPU (bf16 on AMX): data 6 min, a phase-1 epoch 4 min (28 img/s),
# a phase-2 epoch 8.5 min (13 img/s), about 90 min in all; `rvn train --device auto` takes a GPU where
# there is one. The whole-frame phase 2 matters: people who walk up to the robot fill the frame.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-runs/warehouse_small}"
rvn="${RVN:-$repo/.venv/bin/rvn}"
scenes="${SCENES:-160}"
default_scenes="${DEFAULT_SCENES:-100}"
heldout_scenes="${HELDOUT_SCENES:-10}"
frames="${FRAMES:-30}"
analytic_frames="${ANALYTIC_FRAMES:-100}"
phase1_epochs="${PHASE1_EPOCHS:-14}"
phase2_epochs="${PHASE2_EPOCHS:-3}"
batch1="${BATCH1:-16}"
batch2="${BATCH2:-8}"
read -r -a crop <<<"${CROP:-160 224}"
mix="${MIX:-0.3}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MUJOCO_GL="${MUJOCO_GL:-egl}"

mkdir -p "$out/data"
# shellcheck source=scripts/warehouse_recipe.sh
source "$repo/scripts/warehouse_recipe.sh"
render_warehouse "$out/data" "$scenes" "$default_scenes" "$heldout_scenes"

common=(--model segnet_small --dataset synthetic --data-root "$out/data/rand" --val-fraction 0.05
    --mix-data "$out/data/default" --mix-fraction "$mix" --optimizer adamw --schedule cosine
    --class-weight-power 0.7 --appearance --flatten 0.3 --amp --channels-last --workers 2 --print-freq 50)
phase() { # DIR ARGS...: train into DIR, resuming its checkpoint, unless it finished (final.done)
    local dir=$1
    shift
    [[ -f $dir/final.done ]] && return 0
    local resume=()
    [[ -f $dir/checkpoint.pth ]] && resume=(--resume "$dir/checkpoint.pth")
    "$rvn" train "${common[@]}" --output-dir "$dir" "${resume[@]}" "$@"
    touch "$dir/final.done"
}
init=()
[[ -n ${INIT:-} ]] && init=(--init "$INIT")
phase "$out/phase1" "${init[@]}" --crop-size "${crop[@]}" --epochs "$phase1_epochs" --batch-size "$batch1" --lr 0.003 \
    --warmup-iters 200 --input-dither 1
if [[ ! -f $out/phase1/best_fp32.safetensors ]]; then
    "$rvn" export --checkpoint "$out/phase1/model_best.pth" --out "$out/phase1/best_fp32.safetensors"
fi
phase "$out/phase2" --init "$out/phase1/best_fp32.safetensors" --epochs "$phase2_epochs" --batch-size "$batch2" \
    --lr 0.001

model="$out/segnet_warehouse_small.safetensors"
"$rvn" export --checkpoint "$out/phase2/model_best.pth" --out "$out/phase2/best_fp32.safetensors"
"$rvn" export --checkpoint "$out/phase2/model_best.pth" --out "$model" --fp16
score "$model" "$out/data/heldout" "$analytic_frames" "$out"
echo "train_warehouse_small.sh: $model; held-out scores in $out/eval_heldout.json, analytic in $out/eval_analytic.json"

#!/usr/bin/env bash
# segnet_small_ctx from a segnet_small: grow the context block and teach it the frames that need it
# (people, posts, zones and walls half a metre to 1.5 m away, filling the view). Every step is skipped
# when its output is there, so the same command picks up where an interrupted run stopped.
#
#   scripts/train_warehouse_small_ctx.sh [OUT]      (default OUT: runs/warehouse_small_ctx)
#
# OUT/data/{rand,default,heldout}  as scripts/train_warehouse_small.sh renders them (DATA=DIR reuses
#                    that script's OUT/data instead of rendering them again)
# OUT/data/near      randomised worlds, every random-place frame aimed at a person, post or zone 0.5-1.5 m away
# OUT/data/wall      the same with 60 % of the aimed frames facing a wall (`--set aim_wall_share=0.6`)
# OUT/data/mix1, mix2  folders of links: NEAR_RAND1 rand frames + near; NEAR_RAND2 rand frames + near + wall
# OUT/ctx1           --model segnet_small_ctx --init INIT on rand (the block starts at zero: the parent)
# OUT/ctx2, ctx3     on mix1, then mix2, each from the one before (its last epoch)
# OUT/segnet_warehouse_small_ctx.safetensors (+ .card.yaml, fp16), OUT/eval_heldout.json, OUT/eval_analytic.json
#
# Environment [defaults]: INIT [models/segnet_warehouse_small.safetensors]; DATA [render]; SCENES [160],
# DEFAULT_SCENES [100], HELDOUT_SCENES [10], NEAR_SCENES [60], WALL_SCENES [40], FRAMES [30];
# NEAR_RAND1 [2700], NEAR_RAND2 [1500]; CTX1_EPOCHS [4], CTX2_EPOCHS [1], CTX3_EPOCHS [3]; BATCH [8];
# ANALYTIC_FRAMES [100]; RVN [.venv/bin/rvn]. On a 2-core CPU an epoch is 10-11 min (11 img/s), about
# 95 min in all. The committed models/segnet_warehouse_small_ctx came from these steps, except that its
# second phase was a 3-epoch schedule stopped after its first epoch (its card holds the exact commands).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-runs/warehouse_small_ctx}"
rvn="${RVN:-$repo/.venv/bin/rvn}"
init="${INIT:-$repo/models/segnet_warehouse_small.safetensors}"
frames="${FRAMES:-30}"
batch="${BATCH:-8}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MUJOCO_GL="${MUJOCO_GL:-egl}"

mkdir -p "$out/data"
data="${DATA:-$out/data}"
# shellcheck source=scripts/warehouse_recipe.sh
source "$repo/scripts/warehouse_recipe.sh"
render_warehouse "$data" "${SCENES:-160}" "${DEFAULT_SCENES:-100}" "${HELDOUT_SCENES:-10}"
close=(--randomize --set aim_min_m=0.5 --set aim_max_m=1.5 --set aim_share=1.0 --set max_people=8)
render "$out/data/near" --scenes "${NEAR_SCENES:-60}" --seed 6000 "${close[@]}"
render "$out/data/wall" --scenes "${WALL_SCENES:-40}" --seed 7000 "${close[@]}" --set aim_wall_share=0.6

# mix DIR SHUFFLE_SEED COUNT SOURCE...: links to COUNT rand frames (a seeded shuffle) and to every frame of
# each SOURCE, named with the source's first letter; built in DIR.tmp and renamed, so it is whole or absent.
mix() {
    local dir=$1 seed=$2 count=$3
    shift 3
    [[ -d $dir ]] && return 0
    rm -rf "$dir.tmp"
    python3 - "$dir.tmp" "$data/rand" "$seed" "$count" "$@" <<'PY'
import os, random, sys
dst, rand, seed, count, sources = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
names = sorted(os.listdir(f"{rand}/images"))
random.Random(seed).shuffle(names)
links = [(rand, n, n) for n in names[:count]]
for src in sources:
    links += [(src, n, os.path.basename(src)[0] + n) for n in sorted(os.listdir(f"{src}/images"))]
for sub in ("images", "labels", "depth"):
    os.makedirs(f"{dst}/{sub}")
    for src, n, name in links:
        os.symlink(os.path.abspath(f"{src}/{sub}/{n}"), f"{dst}/{sub}/{name}")
PY
    mv "$dir.tmp" "$dir"
}
mix "$out/data/mix1" 0 "${NEAR_RAND1:-2700}" "$out/data/near"
mix "$out/data/mix2" 1 "${NEAR_RAND2:-1500}" "$out/data/near" "$out/data/wall"

common=(--model segnet_small_ctx --dataset synthetic --val-fraction 0.05 --mix-data "$data/default"
    --optimizer adamw --schedule cosine --class-weight-power 0.7 --appearance --flatten 0.3 --amp --channels-last
    --workers 2 --print-freq 50 --batch-size "$batch")
phase() { # DIR INIT ARGS...: train into DIR from INIT (resuming its checkpoint), export its last epoch as fp32
    local dir=$1 parent=$2
    shift 2
    if [[ ! -f $dir/final.done ]]; then
        local start=(--init "$parent")
        [[ -f $dir/checkpoint.pth ]] && start=(--resume "$dir/checkpoint.pth")
        "$rvn" train "${common[@]}" --output-dir "$dir" "${start[@]}" "$@"
        touch "$dir/final.done"
    fi
    [[ -f $dir/last_fp32.safetensors ]] ||
        "$rvn" export --checkpoint "$dir/checkpoint.pth" --out "$dir/last_fp32.safetensors"
}
phase "$out/ctx1" "$init" --data-root "$data/rand" --mix-fraction 0.3 --epochs "${CTX1_EPOCHS:-4}" --lr 0.001
phase "$out/ctx2" "$out/ctx1/last_fp32.safetensors" --data-root "$out/data/mix1" --mix-fraction 0.35 \
    --epochs "${CTX2_EPOCHS:-1}" --lr 0.0007
phase "$out/ctx3" "$out/ctx2/last_fp32.safetensors" --data-root "$out/data/mix2" --mix-fraction 0.35 \
    --epochs "${CTX3_EPOCHS:-3}" --lr 0.0007

model="$out/segnet_warehouse_small_ctx.safetensors"
"$rvn" export --checkpoint "$out/ctx3/model_best.pth" --out "$model" --fp16
score "$model" "$data/heldout" "${ANALYTIC_FRAMES:-100}" "$out"
echo "train_warehouse_small_ctx.sh: $model; held-out scores in $out/eval_heldout.json, analytic in $out/eval_analytic.json"

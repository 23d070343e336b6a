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
# OUT/data/dnear     default-look worlds (`--set look_share=0`, the held-out worlds' look) with randomised
#                    contents, 85 % of the frames aimed 0.5-3 m at a person, post, zone or (a quarter) a wall
# OUT/data/marks     the same look and contents, aimed 1-4 m, half of the aimed frames at floor paint
#                    (`--set aim_marking_share=0.5`: crosswalk stripes, lane lines)
# OUT/data/mix1, mix2  folders of links: NEAR_RAND1 rand frames + near; NEAR_RAND2 rand frames + near + wall
# OUT/data/mix3      links: every dnear frame, the first 1500 rand, 600 near and 600 wall frames (name order)
# OUT/data/mix4      links: every marks and dnear frame, the first 1000 rand, 400 near and 400 wall frames
# OUT/ctx1           --model segnet_small_ctx --init INIT on rand (the block starts at zero: the parent)
# OUT/ctx2 .. ctx5   on mix1, mix2, mix3, then mix4 (30 % default frames in the last two), each from the one
#                    before (its last epoch; ctx4 from ctx3's best validation epoch, ctx4 and ctx5 from fp16
#                    exports); the model is ctx5's last epoch
# OUT/segnet_warehouse_small_ctx.safetensors (+ .card.yaml, fp16), OUT/eval_heldout.json, OUT/eval_analytic.json
#
# Environment [defaults]: INIT [models/segnet_warehouse_small.safetensors]; DATA [render]; SCENES [160],
# DEFAULT_SCENES [100], HELDOUT_SCENES [10], NEAR_SCENES [60], WALL_SCENES [40], FRAMES [30];
# DNEAR_SCENES [40], MARKS_SCENES [30]; NEAR_RAND1 [2700], NEAR_RAND2 [1500]; CTX1_EPOCHS [4], CTX2_EPOCHS
# [1], CTX3_EPOCHS [3], CTX4_EPOCHS [3], CTX5_EPOCHS [2]; BATCH [8]; ANALYTIC_FRAMES [100]; RVN
# [.venv/bin/rvn]. On a 2-core CPU an epoch is 6-11 min (11-14 img/s), about 130 min in all. The committed
# models/segnet_warehouse_small_ctx came from these steps, except that its second phase was a 3-epoch
# schedule stopped after its first epoch (its card holds the exact commands).
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
render "$out/data/dnear" --scenes "${DNEAR_SCENES:-40}" --seed 6300 --randomize --set look_share=0 \
    --set aim_min_m=0.5 --set aim_max_m=3.0 --set aim_share=0.85 --set aim_wall_share=0.25 --set max_people=8
render "$out/data/marks" --scenes "${MARKS_SCENES:-30}" --seed 6400 --randomize --set look_share=0 \
    --set aim_min_m=1.0 --set aim_max_m=4.0 --set aim_share=0.85 --set aim_marking_share=0.5 --set max_people=8

# mix DIR SHUFFLE_SEED COUNT SOURCE[:N]...: links to COUNT rand frames (a seeded shuffle) and to every frame
# (or the first N in name order) of each SOURCE, named with the source's first letter; built in DIR.tmp and
# renamed, so it is whole or absent.
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
for spec in sources:
    src, _, first = spec.partition(":")
    picked = sorted(os.listdir(f"{src}/images"))[: int(first) if first else None]
    links += [(src, n, os.path.basename(src)[0] + n) for n in picked]
for sub in ("images", "labels", "depth"):
    os.makedirs(f"{dst}/{sub}")
    for src, n, name in links:
        os.symlink(os.path.abspath(f"{src}/{sub}/{n}"), f"{dst}/{sub}/{name}")
PY
    mv "$dir.tmp" "$dir"
}
mix "$out/data/mix1" 0 "${NEAR_RAND1:-2700}" "$out/data/near"
mix "$out/data/mix2" 1 "${NEAR_RAND2:-1500}" "$out/data/near" "$out/data/wall"
mix "$out/data/mix3" 2 0 "$out/data/dnear" "$data/rand:1500" "$out/data/near:600" "$out/data/wall:600"
mix "$out/data/mix4" 3 0 "$out/data/marks" "$out/data/dnear" "$data/rand:1000" "$out/data/near:400" \
    "$out/data/wall:400"

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
# ctx3's best validation epoch (the model committed before ctx4), as fp16 weights, is where ctx4 starts.
best3="$out/ctx3/best_fp16.safetensors"
[[ -f $best3 ]] || "$rvn" export --checkpoint "$out/ctx3/model_best.pth" --out "$best3" --fp16
phase "$out/ctx4" "$best3" --data-root "$out/data/mix3" --mix-fraction 0.3 \
    --epochs "${CTX4_EPOCHS:-3}" --lr 0.0005
last4="$out/ctx4/last_fp16.safetensors"
[[ -f $last4 ]] || "$rvn" export --checkpoint "$out/ctx4/checkpoint.pth" --out "$last4" --fp16
phase "$out/ctx5" "$last4" --data-root "$out/data/mix4" --mix-fraction 0.3 --epochs "${CTX5_EPOCHS:-2}" --lr 0.0003

model="$out/segnet_warehouse_small_ctx.safetensors"
"$rvn" export --checkpoint "$out/ctx5/checkpoint.pth" --out "$model" --fp16
score "$model" "$data/heldout" "${ANALYTIC_FRAMES:-100}" "$out"
echo "train_warehouse_small_ctx.sh: $model; held-out scores in $out/eval_heldout.json, analytic in $out/eval_analytic.json"

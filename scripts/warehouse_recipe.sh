# Sourced by scripts/train_warehouse_small*.sh: the steps both recipes share. Needs $rvn and $frames.

# render DIR ARGS...: `rvn sim-dataset` into DIR unless its manifest (written last) is there.
render() {
    local dir=$1
    shift
    [[ -f $dir/manifest.json ]] || "$rvn" sim-dataset --frames "$frames" --out "$dir" "$@"
}

# render_warehouse DATA SCENES DEFAULT_SCENES HELDOUT_SCENES: DATA/rand (randomised worlds, aimed frames
# from 0.5 m), DATA/default (default-look worlds, mixed into training) and DATA/heldout (never trained on).
render_warehouse() {
    render "$1/rand" --scenes "$2" --seed 5000 --randomize --set aim_min_m=0.5 --set aim_max_m=5.0 --set max_people=8
    render "$1/default" --scenes "$3" --seed 1000
    render "$1/heldout" --scenes "$4" --seed 9000
}

# score MODEL HELDOUT ANALYTIC_FRAMES OUT: OUT/eval_heldout.json and OUT/eval_analytic.json, each whole or absent.
score() {
    "$rvn" eval --dataset synthetic --data-root "$2" --model "$1" --json >"$4/eval_heldout.json.tmp"
    mv "$4/eval_heldout.json.tmp" "$4/eval_heldout.json"
    "$rvn" eval --dataset synthetic --limit "$3" --model "$1" --json >"$4/eval_analytic.json.tmp"
    mv "$4/eval_analytic.json.tmp" "$4/eval_analytic.json"
}

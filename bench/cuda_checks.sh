#!/usr/bin/env bash
# The GPU checks in one prepared script, for a session that is lent a GPU machine.
#
#   bash bench/cuda_checks.sh            (from the repository root; results go to $OUT, default ./cuda_out)
#
# That machine has Python 3.12 with torch, torchvision, pytest, pyyaml and safetensors, but none of our
# ROS wheels and no internet, so nothing is installed here: core/ and bench/ import without rclpy.
# Every step runs under `timeout` and a failed step does not stop the next; the limits add up to
# 560 s, so the whole script fits one 600 s device call. The exit status is the number of failed steps.
# Output: $OUT/segmentation_cuda_eager.json (every model at every size and the CUDA section, no
# torch.compile: comes back even if compiling is slow), $OUT/segmentation_cuda.json (the CUDA section
# with torch.compile) and $OUT/cuda_checks.log (everything printed, with a progress line per measurement).
set -u
OUT=${OUT:-cuda_out}
PYTHON=${PYTHON:-python3}
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$OUT"
exec > >(tee "$OUT/cuda_checks.log") 2>&1
failed=0

# step NAME SECONDS COMMAND...: run COMMAND with a time limit and count a failure. Its own lines go to
# stderr, so a step's stdout can be redirected into a JSON file untouched.
step() {
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s): $*" >&2
    timeout "$limit" "$@"
    local rc=$?
    echo "== $name: exit $rc$([ "$rc" -eq 124 ] && echo ' (timed out)')" >&2
    [ "$rc" -eq 0 ] || failed=$((failed + 1))
}

step nvidia-smi 20 nvidia-smi
step versions 40 "$PYTHON" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', \
torchvision.__version__, 'CUDA', torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name())"

# The benchmark without torch.compile first, so its numbers come back even if compiling runs out of time.
step bench-eager 180 "$PYTHON" -m bench.segmentation --device cuda --no-compile --json \
    >"$OUT/segmentation_cuda_eager.json"

# The tests marked cuda. Some test modules import rclpy, which is absent there: pick the files that use
# the marker (test/test_segmentation_inference.py at least) and let collection errors pass.
mapfile -t tests < <(grep -l "mark.cuda" test/test_*.py)
if [ "${#tests[@]}" -gt 0 ]; then
    step cuda-tests 100 "$PYTHON" -m pytest -q -m cuda -p no:cacheprovider --continue-on-collection-errors "${tests[@]}"
else
    echo "== cuda-tests: no test file uses the cuda marker" >&2
fi

# The CUDA section again, eager and compiled (the engine's compile: true, mode max-autotune-no-cudagraphs,
# which autotunes for minutes); every model at every size is already in the eager file.
step bench 220 "$PYTHON" -m bench.segmentation --device cuda --no-matrix --json >"$OUT/segmentation_cuda.json"

echo "== done: $failed step(s) failed; files in $OUT:" >&2
ls -l "$OUT" >&2
exit "$failed"

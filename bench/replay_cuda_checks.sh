#!/usr/bin/env bash
# The CUDA checks of rvn replay, as one script for the lent GPU machine (device tool), from the repo root:
#   bash bench/replay_cuda_checks.sh
#   the cuda-marked tests, then each committed regression bag replayed on CPU and on CUDA against its
#   golden (the realtime factor of each), then two CUDA replays hash-compared (determinism on the GPU).
# The machine's python3 (3.12, its own torch) gets the ROS 2 Kilted / rosbags wheels from .whl/
# (downloaded here for cp312, see the device README); results go to $OUT/gpu_checks.log.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_checks.log") 2>&1
python3 -m pip install -q --prefix /tmp/v --no-index --no-deps --no-compile .whl/*.whl || exit 1
SITE=$(python3 -c 'import sys; print(f"/tmp/v/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages")')
# what ros_wheels_bootstrapper.pth does in a venv (PYTHONPATH entries never run .pth files)
LIBS=$(find "$SITE" -maxdepth 1 -type d -name '*.libs' | tr '\n' ':')
export LD_LIBRARY_PATH=${LIBS}/tmp/v/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} AMENT_PREFIX_PATH=/tmp/v ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST PYTHONPATH=$PWD:$SITE \
  FASTDDS_DEFAULT_PROFILES_FILE=$PWD/config/fastdds_shm.xml PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
python3 -c "import torch, rclpy, rosbags; print('torch', torch.__version__, torch.cuda.get_device_name(0))" || exit 1
python3 -m pytest -q -p no:cacheprovider -m cuda test/test_segmentation_inference.py
B=test/data/bags; MAP=config/topics_realsense.yaml
for dev in cpu cuda; do
  python3 -m robot_vision_nav.cli replay $B/sim_compressed --device $dev --check $B/sim_compressed.golden.json --json --no-progress
  python3 -m robot_vision_nav.cli replay $B/sim_db3 --device $dev --check $B/sim_db3.golden.json --json --no-progress
  python3 -m robot_vision_nav.cli replay $B/realsense_ros1.bag --topics-map $MAP --device $dev --check $B/realsense_ros1.golden.json --json --no-progress
done 2>&1 | grep -v '^\[INFO\]'
mkdir -p /tmp/a /tmp/b
for d in a b; do python3 -m robot_vision_nav.cli replay $B/sim_compressed --device cuda --out /tmp/$d/out --no-progress 2>&1 | grep replayed; done
sha256sum /tmp/a/out/* /tmp/b/out/*

#!/usr/bin/env bash
# Entrypoint of the robot_vision_nav image: source ROS 2 and the package's install space, then
# replace this shell with the command (the image's CMD: ros2 launch robot_vision_nav bringup.launch.py),
# so that it is PID 1's child directly under tini/docker and receives SIGINT/SIGTERM itself.
#
# RVN_ROS_SETUP and RVN_WS_SETUP name other setup files (another ROS prefix, an overlay workspace).
# It never prints or reads a secret; it only sets up the environment.

# No `set -u`: ROS's setup scripts read variables that may be unset.
set -eo pipefail

ros_setup="${RVN_ROS_SETUP:-/opt/ros/${ROS_DISTRO:-kilted}/setup.bash}"
ws_setup="${RVN_WS_SETUP:-/opt/rvn/install/setup.bash}"

for setup in "${ros_setup}" "${ws_setup}"; do
  if [[ ! -f "${setup}" ]]; then
    echo "entrypoint: ${setup} not found; is this the robot_vision_nav image?" >&2
    exit 1
  fi
done

# shellcheck source=/dev/null
source "${ros_setup}"
# shellcheck source=/dev/null
source "${ws_setup}"

if [[ $# -eq 0 ]]; then
  set -- bash
fi
exec "$@"

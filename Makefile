# robot_vision_nav: `make demo` runs the main job, `make test` the whole suite.
# Both create or reuse .venv and install the pinned requirements into it, idempotently: the
# install re-runs only when a requirements file changed (a stamp holds their checksum).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt setup.py | sha1sum | cut -c1-12)
BENCH_STAMP := $(VENV)/.bench-$(shell cat requirements-bench.txt | sha1sum | cut -c1-12)
# ROS 2's own launch system and ros2 command line, where ../shared/ros2-launch holds them (CI and the
# development machines): the launch tests then run the real `ros2 launch` and must not skip. A fresh
# machine without that folder still passes `make test`, those tests skipped with the reason printed.
ROS2_LAUNCH := ../shared/ros2-launch
LAUNCH_STAMP := $(VENV)/.ros2-launch-$(shell cat $(ROS2_LAUNCH)/*.whl 2>/dev/null | sha1sum | cut -c1-12)
# tf2_ros, tf2_msgs and nav2_msgs (not on the package index), built from upstream source against the
# venv's ROS wheels where ../shared/ros2-src holds them: the TF, map-goal and NavigateToPose tests then
# run and must not skip. Without that folder they skip with the reason printed.
ROS2_SRC := ../shared/ros2-src
ROS2_EXTRA := build/ros2-extra
ROS2_EXTRA_ENV := if [ -f $(ROS2_EXTRA)/install/local_setup.bash ]; then source $(ROS2_EXTRA)/install/local_setup.bash; fi

# DDS discovery must never leave loopback on these machines (Kilted ignores ROS_LOCALHOST_ONLY).
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export FASTDDS_DEFAULT_PROFILES_FILE := $(CURDIR)/config/fastdds_shm.xml
export AMENT_PREFIX_PATH := $(CURDIR)/$(VENV)
export MUJOCO_GL := egl
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: venv ros2-launch ros2-extra demo test test-all lint typecheck bench bench-deps clean commit-msgs hooks

venv: $(STAMP)

$(STAMP): requirements.txt setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

ros2-launch: venv
	@if [ -x $(ROS2_LAUNCH)/install.sh ]; then \
	  if [ ! -f $(LAUNCH_STAMP) ]; then $(ROS2_LAUNCH)/install.sh $(VENV) && rm -f $(VENV)/.ros2-launch-* && touch $(LAUNCH_STAMP); fi; \
	else echo "ros2-launch: no $(ROS2_LAUNCH): the tests of the real ros2 launch will be skipped"; fi

# Built once against the venv's exact ROS wheels (the stamp holds their names and versions); other
# wheels after a requirements change mean a fresh build. Only the first run takes minutes.
ros2-extra: venv
	@if [ -x $(ROS2_SRC)/build.sh ]; then \
	  stamp=$(ROS2_EXTRA)/.built-$$(ls -d $(VENV)/lib/python*/site-packages/ros_* | sha1sum | cut -c1-12); \
	  if [ ! -f $$stamp ]; then rm -rf $(ROS2_EXTRA) && $(ROS2_SRC)/build.sh $(VENV) $(ROS2_EXTRA) --nav2 && touch $$stamp; fi; \
	else echo "ros2-extra: no $(ROS2_SRC): the TF and Nav2 action tests will be skipped"; fi

demo: venv
	@$(ROS2_EXTRA_ENV); $(VENV)/bin/rvn demo

test: venv ros2-launch ros2-extra commit-msgs
	$(VENV)/bin/ruff check robot_vision_nav test bench
	$(VENV)/bin/mypy
	@$(ROS2_EXTRA_ENV); $(PY) -m pytest -m "not slow"

test-all: venv ros2-launch ros2-extra bench-deps
	@$(ROS2_EXTRA_ENV); RVN_HYPOTHESIS=explore $(PY) -m pytest

# Subjects of at most 72 characters from this commit on (the history before it is as it was written).
COMMIT_MSG_SINCE := cb6a27e

commit-msgs:
	@if git rev-parse -q --verify "$(COMMIT_MSG_SINCE)^{commit}" >/dev/null 2>&1; then \
	  python3 scripts/check_commit_msg.py --since $(COMMIT_MSG_SINCE); \
	else echo "commit-msgs: $(COMMIT_MSG_SINCE) is not in this checkout (shallow, or no git): not checked"; fi

# The same check on every commit made here: git runs it as the commit-msg hook.
hooks:
	@hooks=$$(git rev-parse --git-path hooks) && mkdir -p "$$hooks" && \
	  ln -sf "$(CURDIR)/scripts/check_commit_msg.py" "$$hooks/commit-msg" && echo "hooks: $$hooks/commit-msg installed"

lint: venv
	$(VENV)/bin/ruff check robot_vision_nav test bench

typecheck: venv
	$(VENV)/bin/mypy

# Open3D, the peer of bench/costmap, needs Debian's libusb at import time.
bench-deps: $(BENCH_STAMP)

$(BENCH_STAMP): requirements-bench.txt | venv
	@if ! ldconfig -p | grep -q libusb-1.0.so.0; then \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq || true) && apt-get install -y -qq libusb-1.0-0; \
	  else echo "bench-deps: Open3D needs libusb-1.0-0 (apt-get install libusb-1.0-0)"; exit 1; fi; fi
	$(PY) -m pip install --quiet -r requirements-bench.txt
	@rm -f $(VENV)/.bench-*
	@touch $@

bench: venv bench-deps
	$(VENV)/bin/rvn bench costmap
	$(VENV)/bin/rvn bench planner
	$(VENV)/bin/rvn bench controller
	$(VENV)/bin/rvn bench sim
	$(VENV)/bin/rvn bench segmentation
	$(VENV)/bin/rvn bench pipeline
	$(VENV)/bin/rvn bench replay

clean:
	rm -rf build install log out .pytest_cache .mypy_cache .ruff_cache

"""The closed loop over real rclpy: the whole stack (simulator, SegNet with the shipped weights,
costmap, planner, controller) drives the robot to its goal in one generated warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from robot_vision_nav import cli
from test.tf_helpers import require_tf

pytestmark = pytest.mark.ros
REPO = Path(__file__).resolve().parents[1]

# World 43: a 6.1 m route between two keep-out zones and two walking people, no floor marking near the goal.
SHORT_SCENE_SEED = 43


def test_the_stack_drives_the_robot_to_its_goal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    rc = cli.main(["demo", "--scenes", "1", "--seed", str(SHORT_SCENE_SEED), "--out", str(out), "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert json.loads((out / "summary.json").read_text()) == summary
    (scene,) = summary["scenes"]
    assert scene["success"], scene
    assert scene["collisions"] == 0 and scene["keepout_violations"] == 0, scene
    assert scene["min_clearance_m"] > 0.0
    assert 0.9 < scene["path_ratio"] < 1.5  # never shorter than the route by more than its corner cutting
    assert scene["costmap_updates"] > 0.5 * scene["frames"], "perception must keep up with the camera"
    totals = summary["totals"]
    assert totals["success_rate"] == 1.0 and totals["collisions"] == 0 and totals["keepout_violations"] == 0
    assert set(totals) >= {"success_rate", "collisions", "keepout_violations", "mean_time_s", "path_ratio"}
    picture = cv2.imread(str(out / "summary.png"))
    assert picture is not None and picture.shape[0] >= 300


def test_a_localized_robot_reaches_a_map_goal_despite_drifting_odometry(tmp_path: Path) -> None:
    """`rvn demo --localized` with strong wheel drift: the simulator publishes map -> odom as a localiser
    would (it moves as the odometry drifts), the goal is sent in map and every node takes the robot pose
    from TF. The robot must end at the goal in the true (map) frame, farther from where its odometry
    thinks it is than the goal tolerance: a goal read in odom, or placed in odom once, would miss."""
    require_tf()
    from robot_vision_nav.demo import DemoOptions, run_scene

    sim_yaml = (REPO / "config" / "sim.yaml").read_text()
    assert "odom_wheel_scale_std: 0.01" in sim_yaml
    drifting = tmp_path / "sim.yaml"
    drifting.write_text(sim_yaml.replace("odom_wheel_scale_std: 0.01", "odom_wheel_scale_std: 0.06"))
    result = run_scene(SHORT_SCENE_SEED, DemoOptions(scenes=1, seed=SHORT_SCENE_SEED, localized=True,
                                                     sim_params_file=str(drifting)))  # fmt: skip
    assert result.success, result
    assert result.collisions == 0 and result.keepout_violations == 0, result
    assert result.odom_error_m > 0.35, f"the drift ({result.odom_error_m:.2f} m) must exceed the goal tolerance"

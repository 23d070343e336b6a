"""bench/replay in its quick form: one committed bag with both lock-steps, against each other and its duration."""

from __future__ import annotations

import json

import pytest

from bench import replay

pytestmark = pytest.mark.ros


def test_quick_run_times_both_lock_steps_against_each_other_and_the_bag() -> None:
    result = replay.run(quick=True)
    json.dumps(result)
    assert result["bench"] == "replay" and result["machine"]
    (row,) = result["rows"]
    assert row["peer"] == "rclpy executor lock-step" and 2.9 < row["bag_ms"] / 1e3 < 3.1
    assert row["ours_ms"] > 0 and row["peer_ms"] > 0 and row["startup_ms"] > 0 and row["inputs"] == 424
    assert row["speedup"] == pytest.approx(row["peer_ms"] / row["ours_ms"], rel=1e-2)
    assert row["x_realtime"] == pytest.approx(row["bag_ms"] / row["ours_ms"], rel=1e-2)
    assert 0.0 < row["segmentation_share"] < 1.0

"""bench/replay in its quick form: one committed bag replayed, timed against its duration, the JSON shape."""

from __future__ import annotations

import json

import pytest

from bench import replay

pytestmark = pytest.mark.ros


def test_quick_run_times_a_replay_against_the_bag_duration() -> None:
    result = replay.run(quick=True)
    json.dumps(result)
    assert result["bench"] == "replay" and result["machine"]
    (row,) = result["rows"]
    assert row["peer"] == "real time (bag duration)" and 2.9 < row["peer_ms"] / 1e3 < 3.1
    assert row["ours_ms"] > 0 and row["startup_ms"] > 0 and row["inputs"] == 424
    assert row["speedup"] == pytest.approx(row["peer_ms"] / row["ours_ms"], rel=1e-2)

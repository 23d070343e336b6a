"""bench/pipeline in its quick form: both modes come up, every frame passes every stage, the JSON shape."""

from __future__ import annotations

import json

import pytest

from bench import pipeline

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_quick_run_times_every_stage_in_both_modes() -> None:
    result = pipeline.run(quick=True)
    json.dumps(result)
    assert result["bench"] == "pipeline" and result["machine"]
    assert [r["case"].split(" ")[0] for r in result["rows"]] == list(pipeline.STAGES)
    for side in ("ours", "peer"):
        assert result[side]["answered"] == result[side]["frames"] > 0, result[side]
        assert result[side]["loop_hz"] > 0
    for row in result["rows"]:
        assert 0 < row["ours_ms"] <= row["ours_p99_ms"] and 0 < row["peer_ms"] <= row["peer_p99_ms"]
    total = result["rows"][-1]
    stages = result["rows"][:-1]
    assert total["ours_ms"] >= max(r["ours_ms"] for r in stages)

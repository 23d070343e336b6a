"""bench/replay_suite in its quick form: the committed bags as a suite, serially and in two workers."""

from __future__ import annotations

import json

import pytest

from bench import replay_suite

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_quick_run_times_two_workers_against_serial_with_the_same_report() -> None:
    result = replay_suite.run(quick=True)
    json.dumps(result)
    assert result["bench"] == "replay_suite" and [r["case"] for r in result["rows"]] == [
        "3 bags, serial", "3 bags, 2 workers"
    ]  # fmt: skip
    for row in result["rows"]:
        assert row["peer"] == "serial" and row["ours_ms"] > 0 and row["same_report"] is True
        assert row["speedup"] == pytest.approx(row["peer_ms"] / row["ours_ms"], rel=1e-2)

"""bench/semantic_obstacles_agreement in its quick form: the JSON shape, the agreement and the picture."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import semantic_obstacles_agreement as bench_agreement


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    png = tmp_path_factory.mktemp("agreement") / "cloud_vs_costmap.png"
    out = bench_agreement.run(quick=True, png=png)
    out["png"] = png
    return out


def test_quick_run_has_the_bench_json_shape(result: dict) -> None:
    assert result["bench"] == "semantic_obstacles_agreement"
    assert isinstance(result["machine"], str) and result["machine"]
    json.dumps({k: v for k, v in result.items() if k != "png"})  # JSON-able as `--json` prints it
    assert len(result["rows"]) == len(bench_agreement.QUICK_SEEDS) * len(bench_agreement.SETTINGS)
    for row in result["rows"]:
        assert {"case", "ours_ms", "peer", "peer_ms", "speedup", "ours_to_cloud", "cloud_to_ours"} <= row.keys()
        assert row["ours_ms"] > 0 and row["peer_ms"] > 0
        assert math.isclose(row["speedup"], row["peer_ms"] / row["ours_ms"], rel_tol=2e-3)


def test_both_ways_agree_and_the_picture_is_written(result: dict, capsys: pytest.CaptureFixture[str]) -> None:
    for setting, totals in result["totals"].items():
        assert totals["ours_lethal"] > 500, setting
        assert totals["ours_to_cloud"] >= 0.98 and totals["cloud_to_ours"] >= 0.98, (setting, totals)
    assert Path(result["png"]).stat().st_size > 1000
    bench_agreement.print_result(result)
    out = capsys.readouterr().out
    assert "default:" in out and "raw:" in out and "world 1 default" in out

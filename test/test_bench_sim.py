"""bench/sim in its quick form: the JSON shape and the frame-agreement check, never timings."""

from __future__ import annotations

import json
import math

import pytest

from bench import sim as bench_sim


@pytest.fixture(scope="module")
def result() -> dict:
    return bench_sim.run(quick=True)


def test_quick_run_has_the_bench_json_shape(result: dict) -> None:
    assert result["bench"] == "sim"
    assert isinstance(result["machine"], str) and result["machine"]
    json.dumps(result)
    assert {r["peer"] for r in result["rows"]} == {"mujoco.Renderer", "synthetic"}
    for row in result["rows"]:
        assert {"case", "ours_ms", "peer", "peer_ms", "speedup", "ours_fps", "target_fps"} <= row.keys()
        assert row["case"] == "frame 320x240 rgb+depth+labels"
        assert row["ours_ms"] > 0 and row["peer_ms"] > 0
        assert math.isclose(row["speedup"], row["peer_ms"] / row["ours_ms"], rel_tol=1e-3)
        assert isinstance(row["meets_target"], bool)


def test_stock_renderer_draws_the_same_frame(result: dict) -> None:
    (row,) = [r for r in result["rows"] if r["peer"] == "mujoco.Renderer"]
    assert row["labels_agree"] >= 0.999 and row["rgb_identical"]
    assert row["depth_max_diff_m"] < 0.001


def test_main_prints_one_json_object(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    canned = {
        "bench": "sim", "machine": "m", "notes": [],
        "rows": [{"case": "c", "ours_ms": 1.0, "peer": "mujoco.Renderer", "peer_ms": 2.0, "speedup": 2.0,
                  "ours_fps": 1000.0, "labels_agree": 1.0}],
    }  # fmt: skip
    monkeypatch.setattr(bench_sim, "run", lambda quick=False: canned)
    assert bench_sim.main(["--json", "--quick"]) == 0
    assert json.loads(capsys.readouterr().out) == canned

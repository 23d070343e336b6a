"""bench/controller in its quick form: the JSON shape, the world it drives and the peer check, never timings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench import controller as bench_controller
from robot_vision_nav.core.grid import OCC_INSCRIBED


@pytest.fixture(scope="module")
def result() -> dict:
    return bench_controller.run(quick=True)


def test_quick_run_has_the_bench_json_shape(result: dict) -> None:
    assert result["bench"] == "controller"
    assert isinstance(result["machine"], str) and result["machine"]
    json.dumps(result)  # JSON-able as `--json` prints it
    assert [r["case"].split(",")[1].strip() for r in result["rows"]] == ["200x200 grid", "no grid"]
    for row in result["rows"]:
        assert {"case", "ours_ms", "peer", "peer_ms", "speedup", "steps_per_s", "ours_step_max_ms"} <= row.keys()
        assert row["ours_step_max_ms"] >= row["ours_step_p99_ms"] > 0
        assert row["peer"] == "textbook-pp"
        assert row["ours_ms"] > 0 and row["peer_ms"] > 0
        # Times are rounded to 0.1 us in the JSON; the speedup comes from the unrounded medians.
        assert math.isclose(row["speedup"], row["peer_ms"] / row["ours_ms"], rel_tol=0.05)
        assert row["steps"] > 100 and row["path_points"] > 100


def test_peer_computes_the_same_carrots_as_ours(result: dict) -> None:
    for row in result["rows"]:
        assert row["carrot_steps"] > 100
        assert row["carrot_agreement"] >= 0.95
    assert any("not measured" in note for note in result["notes"])


def test_bench_world_is_a_200x200_window_with_a_long_clear_path() -> None:
    grid, start, path, _ = bench_controller.bench_world()
    assert grid.shape == (200, 200) and grid.resolution_m == 0.05
    assert np.count_nonzero(grid.values == 100) > 0
    assert float(np.sum(np.hypot(*np.diff(path, axis=0).T))) >= 7.0
    assert all(grid.value_at(float(x), float(y)) < OCC_INSCRIBED for x, y in path)
    assert grid.value_at(start.x_m, start.y_m) < OCC_INSCRIBED


def test_main_prints_one_json_object(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    canned = {
        "bench": "controller", "machine": "m", "notes": [],
        "rows": [{"case": "c", "ours_ms": 0.1, "peer": "textbook-pp", "peer_ms": 0.01, "speedup": 0.1,
                  "steps_per_s": 10000, "ours_step_max_ms": 0.2, "ours_step_p99_ms": 0.15}],
    }  # fmt: skip
    monkeypatch.setattr(bench_controller, "run", lambda quick=False: canned)
    assert bench_controller.main(["--json", "--quick"]) == 0
    assert json.loads(capsys.readouterr().out) == canned

"""bench/planner in its quick form: the JSON shape, exact peers agreeing with ours, never timings."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bench import planner as bench_planner
from robot_vision_nav.core.planner import plan_cells


@pytest.fixture(scope="module")
def result() -> dict:
    return bench_planner.run(quick=True)


def test_quick_run_has_the_bench_json_shape(result: dict) -> None:
    assert result["bench"] == "planner"
    assert isinstance(result["machine"], str) and result["machine"]
    json.dumps(result)
    assert result["rows"]  # scipy is a runtime requirement, so at least its rows exist
    for row in result["rows"]:
        assert {"case", "ours_ms", "peer", "peer_ms", "speedup", "exact", "metric", "length_ratio"} <= row.keys()
        assert row["ours_ms"] > 0 and row["peer_ms"] > 0
        assert math.isclose(row["speedup"], row["peer_ms"] / row["ours_ms"], rel_tol=1e-3)
    assert any("inflated window" in note for note in result["notes"])


def test_every_installed_peer_has_a_row_per_case_and_missing_ones_a_note(result: dict) -> None:
    cases = {r["case"] for r in result["rows"]}
    assert cases == {"discs 100x100", "maze 100x100"}
    for name in bench_planner.PEERS:
        rows = [r for r in result["rows"] if r["peer"] == name]
        missing = any(note.startswith(f"{name} not installed") for note in result["notes"])
        assert missing == (not rows)
        assert missing or {r["case"] for r in rows} == cases


def test_exact_peers_find_our_length(result: dict) -> None:
    exact = [r for r in result["rows"] if r["exact"]]
    assert {r["peer"] for r in exact} >= {"scipy"}
    for r in exact:
        assert abs(r["length_ratio"] - 1.0) <= 1e-9, r
    for r in result["rows"]:
        if not r["exact"]:  # they cut corners: never much shorter than ours
            assert r["length_ratio"] > 0.9, r


def test_missing_peers_are_skipped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_planner, "_import", lambda name: None)
    monkeypatch.setattr(bench_planner, "costmap_window_note", lambda quick: "window")
    out = bench_planner.run(quick=True)
    assert out["rows"] == []
    assert sum(note.endswith("skipped (pip install -r requirements-bench.txt)") for note in out["notes"]) == len(
        bench_planner.PEERS
    )


@pytest.mark.parametrize("kind", bench_planner.KINDS)
def test_generated_problems_are_solvable_and_deterministic(kind: str) -> None:
    values, start, goal = bench_planner.make_problem(kind, 60, 1)
    again, _, _ = bench_planner.make_problem(kind, 60, 1)
    assert np.array_equal(values, again)
    assert plan_cells(values, start, goal, bench_planner.SHORTEST)[0]


def test_main_exits_1_when_an_exact_peer_disagrees(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    canned = {"bench": "planner", "machine": "m", "notes": [], "rows": [
        {"case": "c", "ours_ms": 1.0, "peer": "scipy", "peer_ms": 2.0, "speedup": 2.0, "exact": True,
         "metric": "same", "length_ratio": 1.01, "ours_length": 10.0, "peer_length": 10.1, "ours_astar_ms": 1.0},
    ]}  # fmt: skip
    monkeypatch.setattr(bench_planner, "run", lambda quick=False: canned)
    assert bench_planner.main(["--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out) == canned and "scipy found length" in captured.err

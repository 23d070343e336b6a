"""bench/costmap in its quick form: the JSON shape and the map-agreement check, never timings."""

from __future__ import annotations

import json
import math

import pytest

from bench import costmap as bench_costmap


@pytest.fixture(scope="module")
def result() -> dict:
    return bench_costmap.run(quick=True)


def test_quick_run_has_the_bench_json_shape(result: dict) -> None:
    assert result["bench"] == "costmap"
    assert isinstance(result["machine"], str) and result["machine"]
    assert result["rows"]
    json.dumps(result)  # JSON-able as `--json` prints it
    for row in result["rows"]:
        assert {"case", "ours_ms", "peer", "peer_ms", "speedup"} <= row.keys()
        assert isinstance(row["case"], str) and row["case"]
        assert row["ours_ms"] > 0 and row["peer_ms"] > 0
        assert math.isclose(row["speedup"], row["peer_ms"] / row["ours_ms"], rel_tol=1e-3)


def test_quick_run_times_the_5cm_update_against_every_available_peer(result: dict) -> None:
    updates = [r for r in result["rows"] if r["case"].startswith("update")]
    peers = {r["peer"] for r in updates}
    assert "numpy" in peers
    assert ("open3d" in peers) == (bench_costmap.OPEN3D_MISSING not in result["notes"])
    assert all(r["resolution_m"] == 0.05 and r["cells"] == 200 * 200 for r in updates)


def test_peer_maps_agree_with_ours(result: dict) -> None:
    updates = [r for r in result["rows"] if r["case"].startswith("update")]
    for r in updates:
        assert r["agreement_ok"], r
        assert r["agreement"] >= bench_costmap.MIN_LETHAL_AGREEMENT
        assert r["ours_lethal"] > 0 and r["peer_lethal"] > 0
    numpy_row = next(r for r in updates if r["peer"] == "numpy")
    assert numpy_row["agreement_exact"] >= bench_costmap.MIN_LETHAL_AGREEMENT  # same rule, same cells


def test_main_prints_one_json_object(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    canned = {
        "bench": "costmap", "machine": "m", "notes": [],
        "rows": [{"case": "c", "ours_ms": 1.0, "peer": "numpy", "peer_ms": 3.0, "speedup": 3.0, "agreement_ok": True}],
    }  # fmt: skip
    monkeypatch.setattr(bench_costmap, "run", lambda quick=False: canned)
    assert bench_costmap.main(["--json", "--quick"]) == 0
    assert json.loads(capsys.readouterr().out) == canned


def test_without_open3d_only_numpy_rows_and_one_line_saying_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_costmap, "_import_open3d", lambda: None)
    result = bench_costmap.run(quick=True)
    assert {r["peer"] for r in result["rows"]} == {"numpy"}
    assert result["notes"] == ["open3d not installed: make bench-deps"]


def test_table_form_names_every_case_and_peer(capsys: pytest.CaptureFixture[str], result: dict) -> None:
    from bench.common import print_table

    print_table(result)
    out = capsys.readouterr().out
    for row in result["rows"]:
        assert row["case"] in out and row["peer"] in out

"""bench/soak: the pure helpers on synthetic data (slope, percentiles, stalls, latency matching), `rvn bench
--minutes`, and the quick soak itself (every stage timed, RSS sampled, no node process left behind)."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench import soak
from robot_vision_nav import cli
from robot_vision_nav.cli import benchmarks

MS = 1_000_000  # ns


# ---------------------------------------------------------------------------------------- helpers
def test_percentiles_of_known_values_and_of_nothing() -> None:
    p = soak.percentiles([float(v) for v in range(1, 101)])
    assert p == {"n": 100, "p50": 50.5, "p95": 95.05, "p99": 99.01, "max": 100.0}
    assert soak.percentiles([]) == {"n": 0}


def test_flat_noisy_rss_is_not_growth() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 600.0, 5.0)
    trend = soak.rss_trend(t, 500.0 + rng.normal(0.0, 0.5, len(t)))
    assert abs(trend["slope_mib_per_min"]) < 0.1 and 0.3 < trend["residual_sd_mib"] < 0.7
    assert trend["span_s"] == pytest.approx(595.0)
    assert not soak.is_growing(trend)


def test_a_steady_leak_is_detected_with_its_slope() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(0.0, 600.0, 5.0)
    leak = 500.0 + 1.0 * t / 60.0 + rng.normal(0.0, 0.5, len(t))  # 1 MiB/min: 10 MiB over the run
    trend = soak.rss_trend(t, leak)
    assert trend["slope_mib_per_min"] == pytest.approx(1.0, abs=0.05)
    assert trend["growth_mib"] == pytest.approx(9.9, abs=0.5)
    assert soak.is_growing(trend)


def test_growth_within_tolerance_or_noise_is_not_flagged() -> None:
    t = np.arange(0.0, 600.0, 5.0)
    small = soak.rss_trend(t, 500.0 + 0.2 * t / 60.0)  # 2 MiB over 10 min, below the 5 MiB tolerance
    assert small["growth_mib"] == pytest.approx(2.0, abs=0.05) and not soak.is_growing(small)
    assert soak.is_growing(small, tolerance_mib=1.0)
    noisy = 500.0 + 0.8 * t / 60.0 + np.where(np.arange(len(t)) % 2 == 0, 20.0, -20.0)  # 8 MiB under 20 MiB swings
    assert not soak.is_growing(soak.rss_trend(t, noisy))


def test_one_sample_has_no_slope() -> None:
    trend = soak.rss_trend([10.0], [500.0])
    assert math.isnan(trend["slope_mib_per_min"]) and not soak.is_growing(trend)
    assert math.isnan(soak.rss_trend([], [])["growth_mib"])


def test_stalls_are_gaps_inside_the_driving_intervals_only() -> None:
    arrivals = [round(0.1 * i, 3) for i in range(101) if not 30 < i < 45]  # a 1.5 s hole from 3.0 s
    ((start, gap),) = soak.find_stalls(arrivals, [(0.0, 10.0)], 1.0)
    assert start == 3.0 and gap == pytest.approx(1.5)
    assert soak.find_stalls(arrivals, [(0.0, 2.9), (4.6, 10.0)], 1.0) == []  # the hole is between goals
    assert soak.find_stalls(arrivals, [(0.0, 10.0)], 2.0) == []
    # Silent since the start of an interval, or since the last message before its end.
    assert soak.find_stalls([5.0], [(2.0, 9.0)], 1.0) == [(2.0, 3.0), (5.0, 4.0)]
    assert soak.find_stalls([], [(0.0, 0.5), (1.0, 3.0), (4.0, 4.0)], 1.0) == [(1.0, 2.0)]


def test_clip_intervals_keeps_the_parts_after_warmup() -> None:
    assert soak.clip_intervals([(0.0, 5.0), (5.0, 12.0), (12.0, 20.0)], 6.0, 15.0) == [(6.0, 12.0), (12.0, 15.0)]
    assert soak.clip_intervals([(0.0, 5.0)], 6.0, 15.0) == []


def test_stage_latencies_match_stamps_and_the_first_command_after_the_plan() -> None:
    camera = {100 * MS: 1.000, 166 * MS: 1.066, 233 * MS: 1.133}
    outputs = {
        "segmentation": {100 * MS: 1.030, 166 * MS: 1.100},  # the third frame was never segmented
        "costmap": {100 * MS: 1.040},
        "plan": {100 * MS: 1.050, 166 * MS: 1.120},
    }
    commands = [
        (1.045, 150 * MS),  # before the plan: cannot have used it
        (1.060, 90 * MS),  # after the plan, but stamped before the frame (a late old command)
        (1.070, 150 * MS),  # the answer to frame 100
        (1.180, 200 * MS),  # the answer to frame 166
    ]
    lat = soak.stage_latencies(camera, outputs, commands)
    ms = {stage: [round(v, 3) for _, v in values] for stage, values in lat.items()}
    assert ms == {"segmentation": [30.0, 34.0], "costmap": [40.0], "plan": [50.0, 54.0], "cmd_vel": [70.0, 114.0]}
    assert [t for t, _ in lat["cmd_vel"]] == [1.000, 1.066]


def test_a_command_long_after_the_plan_answers_another_frame() -> None:
    lat = soak.stage_latencies(
        {100 * MS: 1.0}, {"plan": {100 * MS: 1.05}}, [(1.05 + soak.COMMAND_MATCH_S + 0.1, 200 * MS)]
    )
    assert lat["cmd_vel"] == []


def test_windows_scale_with_the_run_and_are_capped() -> None:
    assert soak.windows(600.0) == (60.0, 60.0, 5.0)
    assert soak.windows(180.0) == (36.0, 36.0, 5.0)
    assert soak.windows(24.0) == pytest.approx((4.8, 4.8, 0.8))
    assert soak.in_window([(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)], 1.5, 3.0) == [20.0, 30.0]


def test_nominal_periods_come_from_the_config() -> None:
    periods = soak.nominal_periods()
    assert periods["camera"] == pytest.approx(1 / 15) and periods["costmap"] == pytest.approx(0.2)
    assert periods["plan"] == pytest.approx(1.2) and periods["cmd_vel"] == pytest.approx(0.05)


def test_rss_and_cpu_of_this_process_are_read_and_a_gone_one_is_none() -> None:
    import os

    rss = soak.read_rss_mib(os.getpid())
    assert rss is not None and 10.0 < rss < 100_000.0
    cpu = soak.read_cpu_s(os.getpid())
    assert cpu is not None and 0.0 < cpu <= time.process_time() + 0.1
    gone = 2**22 + 12345  # above Linux's pid_max: never a process
    assert soak.read_rss_mib(gone) is None and soak.read_cpu_s(gone) is None


# ---------------------------------------------------------------------------------------- rvn bench --minutes
def _fake_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "__init__.py").write_text("")
    (bench / "common.py").write_text("def print_table(result):\n    print('TABLE', result['bench'])\n")
    (bench / "timed.py").write_text(
        "def run(quick=False, minutes=None):\n    return {'bench': 'timed', 'machine': 'm', 'rows': [], "
        "'minutes': minutes}\n"
    )
    (bench / "fixed.py").write_text(
        "def run(quick=False):\n    return {'bench': 'fixed', 'machine': 'm', 'rows': []}\n"
    )
    monkeypatch.setattr(benchmarks, "BENCH_DIR", bench)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "bench" or m.startswith("bench.")]:
        monkeypatch.delitem(sys.modules, name)


def test_bench_minutes_reaches_a_timed_benchmark_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_bench(tmp_path, monkeypatch)
    assert cli.main(["bench", "timed", "--json", "--minutes", "2.5"]) == 0
    assert json.loads(capsys.readouterr().out)["minutes"] == 2.5
    assert cli.main(["bench", "timed", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["minutes"] is None
    assert cli.main(["bench", "fixed", "--minutes", "1"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "'fixed'" in err and "--minutes" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["0", "-1", "nan", "ten"])
def test_bench_minutes_must_be_positive(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "soak", "--minutes", value]) == cli.EXIT_USAGE
    assert "--minutes" in capsys.readouterr().err


def test_soak_is_listed_and_refuses_a_bad_length() -> None:
    assert "soak" in cli.bench_names()
    with pytest.raises(ValueError, match="minutes"):
        soak.run(minutes=0.0)


# ---------------------------------------------------------------------------------------- the quick soak
@pytest.mark.ros
@pytest.mark.slow  # 34 s of a 15-minute `make test` budget; `make test-all` runs it
def test_quick_soak_times_every_stage_samples_rss_and_leaves_nothing_running(tmp_path: Path) -> None:
    result = soak.run(quick=True, log_dir=tmp_path)
    json.dumps(result)
    assert result["bench"] == "soak" and result["machine"] and not result["interrupted"] and not result["ended_early"]
    assert result["duration_s"] == pytest.approx(soak.QUICK_S, abs=1.0)
    for stage in soak.STAGES:
        p = result["latency_ms"][stage]
        assert p["n"] > 0 and 0 < p["p50"] <= p["p95"] <= p["p99"] <= p["max"], (stage, p)
    for row in result["rows"]:
        assert row["peer"] == "first window" and row["case"].startswith("camera -> ")
        assert row["ours_ms"] > 0 and row["peer_ms"] > 0 and row["speedup"] > 0
    names = [p["name"] for p in result["processes"]]
    assert names[0] == "sim_node" and "segmentation_node" in names and "controller_node" in names
    assert [m["process"] for m in result["memory"]] == [*names, "total"]
    for m in result["memory"]:
        assert m["samples"] >= 10 and m["rss_start_mib"] > 10.0, m
        assert m["slope_mib_per_min"] is not None and math.isfinite(m["slope_mib_per_min"]), m
    assert len(result["rss_samples"]["t_s"]) == result["memory"][0]["samples"]
    assert set(result["stalls"]) == set(soak.STREAMS)
    assert result["final_cmd_zero"] is True  # the robot was left standing
    for proc in result["processes"]:
        assert proc["exit_code"] is not None and proc["cpu_pct"] > 0, proc
        cmdline = Path(f"/proc/{proc['pid']}/cmdline")
        assert not cmdline.exists() or proc["name"] not in cmdline.read_bytes().decode(errors="replace"), proc
        assert (tmp_path / f"{proc['name']}.log").is_file()

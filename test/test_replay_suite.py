"""Replay suites without ROS: the suite file's checks and the report's JUnit XML and Markdown."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from robot_vision_nav.replay.compare import StreamResult, Tolerances
from robot_vision_nav.replay.suite import SuiteError, load_suite, parameter_overrides
from robot_vision_nav.replay.suite_report import junit_xml, markdown, outcome
from robot_vision_nav.replay.suite_run import ERROR, FAILED, PASSED, CaseResult

BAGS = Path(__file__).resolve().parent / "data" / "bags"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "bags" / "aisle").mkdir(parents=True)
    (tmp_path / "bags" / "dock.mcap").write_bytes(b"")
    (tmp_path / "params.yaml").write_text("{}\n")
    return tmp_path


def test_a_suite_resolves_paths_and_merges_defaults_key_by_key(site: Path) -> None:
    suite = load_suite(
        write(
            site / "s.yaml",
            """
suite: nightly
defaults:
  tolerances: {mask_iou_min: 0.95, cmd_vel_max_diff: 0.1}
  params: params.yaml
  set: {costmap_node.inflation_radius_m: 0.4, planner_node: {cost_weight: 2.0}}
bags:
  - bag: bags/aisle
    golden: goldens/aisle.json
    tolerances: {cmd_vel_max_diff: 0.2}
    set: {costmap_node.inflation_radius_m: 1.0}
  - name: dock-1
    bag: bags/dock.mcap
    goldens: {cpu: g/cpu/dock.json, cuda-fp16: g/cuda/dock.json}
""",
        )
    )
    assert suite.name == "nightly" and [c.name for c in suite.cases] == ["aisle", "dock-1"]
    aisle, dock = suite.cases
    assert aisle.bag == (site / "bags" / "aisle").resolve() and aisle.params_file == str(
        (site / "params.yaml").resolve()
    )
    assert aisle.tolerances == Tolerances(mask_iou_min=0.95, cmd_vel_max_diff=0.2)
    assert dock.tolerances == Tolerances(mask_iou_min=0.95, cmd_vel_max_diff=0.1)
    assert aisle.extra_parameters == {"costmap_node": {"inflation_radius_m": 1.0}, "planner_node": {"cost_weight": 2.0}}
    assert dock.extra_parameters == {"costmap_node": {"inflation_radius_m": 0.4}, "planner_node": {"cost_weight": 2.0}}
    # One golden serves every device class; per-class goldens pick by where the replay ran.
    assert aisle.golden_for("cuda-fp16") == aisle.golden_for("cpu") == (site / "goldens" / "aisle.json").resolve()
    assert dock.golden_for("cpu") == (site / "g" / "cpu" / "dock.json").resolve()
    assert dock.golden_for("cuda-fp16") == (site / "g" / "cuda" / "dock.json").resolve()
    assert dock.golden_for("cuda-fp32") is None
    assert suite.default_golden(dock, "cuda-fp32") == suite.path.parent / "goldens" / "cuda-fp32" / "dock-1.json"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bags: []", "'bags' must be a non-empty list"),
        ("bags: [{bag: bags/aisle, golden: a.json, tolerance: {}}]", "bags[0]: unknown key(s) tolerance"),
        ("bags: [{bag: bags/nowhere}]", "bags[0]: bag: 'bags/nowhere' does not exist"),
        ("bags: [{bag: bags/aisle}, {bag: bags/aisle}]", "bag 'aisle': two bags of this name"),
        ("bags: [{bag: bags/aisle, name: 'a b'}]", "name 'a b' must be letters, digits"),
        ("bags: [{bag: bags/aisle, tolerances: {mask_iou_min: 2}}]", "mask_iou_min"),
        ("bags: [{bag: bags/aisle, golden: a.json, goldens: {cpu: b.json}}]", "not both"),
        ("bags: [{bag: bags/aisle, goldens: {tpu: b.json}}]", "unknown device class 'tpu'"),
        ("bags: [{bag: bags/aisle, set: {costmap_node: 3}}]", "'costmap_node': expected NODE.PARAM: VALUE"),
        ("bags: [{bag: bags/aisle, params: nope.yaml}]", "bag 'aisle': params: 'nope.yaml' does not exist"),
        ("defaults: {model: 3}\nbags: [{bag: bags/aisle}]", "defaults: model must be a path string"),
        ("bags: {aisle: bags/aisle}", "'bags' must be a non-empty list"),
        ("- just a list", "expected a mapping with 'bags'"),
        ("bags: [{bag: bags/aisle}\n", "not YAML"),
    ],
)
def test_a_bad_suite_is_refused_naming_the_file_bag_and_key(site: Path, text: str, message: str) -> None:
    path = write(site / "bad.yaml", text)
    with pytest.raises(SuiteError, match=f"^{re.escape(str(path))}: .*{re.escape(message)}"):
        load_suite(path)


def test_a_missing_suite_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"nope.yaml: cannot read the suite"):
        load_suite(tmp_path / "nope.yaml")


def test_parameter_overrides_take_both_spellings() -> None:
    assert parameter_overrides({"a.x": 1, "b": {"y": 2}, "a.z": [1, 2]}, "here") == {"a": {"x": 1, "z": [1, 2]},
                                                                                       "b": {"y": 2}}  # fmt: skip
    with pytest.raises(SuiteError, match=r"here: '\.x' is not NODE\.PARAM"):
        parameter_overrides({".x": 1}, "here")


def _row(stream: str, passed: bool, worst: float = 1.0) -> StreamResult:
    return StreamResult(stream, 3, 3, 3, "IoU min", worst, 0.98, passed, "worst at t = 1.000 s")


def _results() -> list[CaseResult]:
    ok = [_row(s, True) for s in ("mask", "costmap", "plan", "cmd_vel")]
    bad = [_row("mask", True), _row("costmap", False, 0.91), _row("plan", True), _row("cmd_vel", True)]
    return [
        CaseResult("a", "/x/a", PASSED, device_class="cpu", golden="/x/a.json", streams=ok, wall_s=1.0,
                   bag_duration_s=2.0, inputs=10),
        CaseResult("b", "/x/b", FAILED, message="beyond tolerance: costmap", device_class="cpu", golden="/x/b.json",
                   streams=bad, wall_s=1.5, bag_duration_s=2.0, inputs=12),
        CaseResult("c", "/x/c", ERROR, bad_input=True, message="/x/c: not a bag"),
    ]  # fmt: skip


def test_junit_names_the_failing_bag_and_stream_and_the_broken_bag() -> None:
    root = ET.fromstring(junit_xml("nightly", _results(), 4.0, Path("/x")))
    suite = root.find("testsuite")
    assert (
        suite is not None and suite.get("tests") == "11" and suite.get("failures") == "1" and suite.get("errors") == "1"
    )
    failing = [(c.get("classname"), c.get("name")) for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failing == [("nightly.b", "costmap")]
    failure = suite.find("testcase[@classname='nightly.b'][@name='costmap']/failure")
    assert failure is not None and failure.get("message") == "costmap: IoU min 0.9100, tolerance >= 0.9800"
    errors = [(c.get("classname"), c.get("name")) for c in suite.iter("testcase") if c.find("error") is not None]
    assert errors == [("nightly.c", "replay")]
    error = suite.find("testcase[@classname='nightly.c']/error")
    assert error is not None and error.get("type") == "bad input" and error.text == "c: /x/c: not a bag"
    out = suite.find("testcase[@classname='nightly.a'][@name='replay']/system-out")
    assert out is not None and out.text == "a: 10 input messages, device class cpu, golden a.json"


def test_markdown_has_a_row_per_bag_and_per_stream_and_the_timings_apart() -> None:
    text = markdown("nightly", _results(), wall_s=4.0, how="serially")
    assert text.startswith("# Replay suite `nightly`: ERROR\n\n3 bags: 1 passed, 1 failed, 1 errors (1 bad input)")
    assert (
        "| b | FAILED | cpu | 12 | ok 1.0000 | **FAIL** 0.9100 | ok 1.0000 | ok 1.0000 | beyond tolerance: costmap |"
        in text
    )
    assert "| b | costmap | 3 | 3 | 3 | IoU min | 0.9100 | 0.9800 | **FAIL** | worst at t = 1.000 s |" in text
    assert "| c | ERROR | - | 0 |  |  |  |  | /x/c: not a bag |" in text
    body, timings = text.split("## Timings")
    assert "serially, 4.0 s wall" in timings and "| a | 2.00 | 1.00 | 2.00 | local |" in timings
    assert markdown("nightly", _results(), timings=False) == body.rstrip("\n") + "\n"


def test_the_exit_code_is_2_for_bad_input_1_for_a_regression_or_a_broken_run() -> None:
    results = _results()
    assert outcome(results).exit_code == 2
    assert outcome(results[:2]).exit_code == 1 and outcome(results[:2]).verdict == "FAILED"
    assert outcome(results[:1]).exit_code == 0 and outcome(results[:1]).verdict == "PASSED"
    broken = CaseResult("d", "/x/d", ERROR, message="the worker replaying it died (signal 9) before it finished")
    assert outcome([results[0], broken]).exit_code == 1


def test_a_worker_replays_with_discovery_off_in_a_valid_domain_of_its_own() -> None:
    from robot_vision_nav.replay.suite_run import worker_environment

    domains = [int(worker_environment(slot)["ROS_DOMAIN_ID"]) for slot in range(256)]
    assert len(set(domains[:100])) == 100 and all(0 <= d <= 232 for d in domains)
    assert worker_environment(3)["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "OFF"
    assert worker_environment(3)["OMP_WAIT_POLICY"] in ("PASSIVE", os.environ.get("OMP_WAIT_POLICY"))

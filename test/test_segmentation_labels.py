"""core/segmentation/labels: the shipped label sets, dataset ids to train ids, drivable tables, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robot_vision_nav.core.segmentation import labels as core_labels
from robot_vision_nav.core.segmentation.labels import (
    IGNORE_INDEX,
    LabelClass,
    LabelError,
    LabelSet,
    parse_label_set,
)
from robot_vision_nav.package_files import available_label_sets, load_label_set

SHIPPED = {"cityscapes": 19, "camvid": 11, "warehouse": 11}


@pytest.mark.parametrize(("name", "count"), SHIPPED.items())
def test_shipped_label_sets_load_with_their_class_counts(name: str, count: int) -> None:
    labels = load_label_set(name)
    assert labels.name == name
    assert labels.num_classes == count
    assert [c.id for c in labels.classes] == list(range(count))
    assert labels.ignore_index == IGNORE_INDEX
    assert name in available_label_sets()


def test_label_set_loads_from_a_path_as_by_name() -> None:
    by_name = load_label_set("warehouse")
    path = Path(__file__).resolve().parents[1] / "config" / "labels" / "warehouse.yaml"
    assert load_label_set(path) == by_name
    assert by_name.names[:3] == ("floor", "marking", "keep_out")
    assert by_name.drivable_names == ("floor", "marking")


def test_cityscapes_label_ids_map_to_train_ids() -> None:
    labels = load_label_set("cityscapes")
    ids = np.array([[7, 26, 0], [8, 33, 255], [24, 1, 34]], dtype=np.uint8)
    expected = np.array([[0, 13, 255], [1, 18, 255], [11, 255, 255]], dtype=np.uint8)
    train = labels.to_train_ids(ids)
    assert train.dtype == np.uint8
    np.testing.assert_array_equal(train, expected)


def test_every_cityscapes_class_maps_from_its_label_id_and_nothing_else_does() -> None:
    labels = load_label_set("cityscapes")
    train = labels.to_train_ids(np.arange(256, dtype=np.int64))
    label_ids = {c.label_id: c.id for c in labels.classes}
    assert len(label_ids) == 19
    for label_id in range(256):
        assert train[label_id] == label_ids.get(label_id, 255), label_id


def test_camvid_void_maps_to_ignore_and_classes_to_themselves() -> None:
    labels = load_label_set("camvid")
    np.testing.assert_array_equal(labels.to_train_ids(np.arange(13)), [*range(11), 255, 255])
    assert labels.void_ids == (11,)


def test_train_ids_outside_a_byte_are_refused() -> None:
    labels = load_label_set("camvid")
    with pytest.raises(LabelError, match=r"label ids must be 0..255, got -1..3"):
        labels.to_train_ids(np.array([-1, 3]))
    with pytest.raises(LabelError, match=r"got 0..256"):
        labels.to_train_ids(np.array([0, 256]))


def test_drivable_lut_follows_the_file_or_the_override_names() -> None:
    labels = load_label_set("cityscapes")
    default = labels.drivable_lut()
    assert default.shape == (256,) and default.dtype == np.bool_
    assert np.flatnonzero(default).tolist() == [0, 1]  # road, sidewalk
    assert np.flatnonzero(labels.drivable_lut(["road", "terrain"])).tolist() == [0, 9]
    assert not labels.drivable_lut([]).any()
    assert not default[255]


def test_unknown_drivable_name_lists_the_known_classes() -> None:
    labels = load_label_set("warehouse")
    with pytest.raises(LabelError, match=r"no class 'grass'; its classes are floor, marking, keep_out, wall"):
        labels.drivable_lut(["floor", "grass"])


def test_colorize_uses_class_colours_and_black_for_ignore() -> None:
    labels = load_label_set("camvid")
    picture = labels.colorize(np.array([[3, 0], [255, 10]], dtype=np.uint8))
    assert picture.shape == (2, 2, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture, [[[128, 64, 128], [128, 128, 128]], [[0, 0, 0], [0, 128, 192]]])


@pytest.mark.parametrize("name", SHIPPED)
def test_label_set_survives_a_round_trip_through_plain_data(name: str) -> None:
    # A model card carries the set as plain data; Cityscapes' label ids and CamVid's void id must
    # come back, or the card's set would map dataset ids differently from the file's.
    labels = load_label_set(name)
    again = parse_label_set(labels.to_dict(), "card")
    assert again == labels
    ids = np.arange(256)
    np.testing.assert_array_equal(again.to_train_ids(ids), labels.to_train_ids(ids))


def test_label_set_built_in_code_behaves_like_a_loaded_one() -> None:
    labels = LabelSet(
        "two",
        (LabelClass(0, "floor", (0, 0, 0), True), LabelClass(1, "keep_out", (255, 0, 0), False)),
    )
    assert labels.num_classes == 2
    np.testing.assert_array_equal(labels.to_train_ids(np.array([0, 1, 2])), [0, 1, 255])
    assert parse_label_set(labels.to_dict(), "code") == labels


CLASS = "  - {id: 0, name: floor, color: [1, 2, 3], drivable: true}\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name: x\nclasses: [\n", r"cannot read label set"),
        ("- floor\n- wall\n", r"expected a mapping with 'name' and 'classes'"),
        ("", r"expected a mapping"),
        ("name: x\n", r"missing 'classes'"),
        ("name: x\nclasses: []\n", r"'classes' must be a non-empty list"),
        ("classes:\n" + CLASS, r"missing 'name'"),
        ("name: x\nclasses:\n  - floor\n", r"classes\[0\]: expected a mapping"),
        ("name: x\nclasses:\n  - {id: 1, name: a, color: [1, 2, 3], drivable: true}\n", r"id 1, expected 0"),
        ("name: x\nclasses:\n  - {name: a, color: [1, 2, 3], drivable: true}\n", r"classes\[0\]: missing 'id'"),
        ("name: x\nclasses:\n  - {id: 0, name: a, color: [1, 2], drivable: true}\n", r"color \[1, 2\], expected"),
        ("name: x\nclasses:\n  - {id: 0, name: a, color: [1, 2, 300], drivable: true}\n", r"color \[1, 2, 300\]"),
        ("name: x\nclasses:\n  - {id: 0, name: a, color: [1, 2, 3], drivable: 1}\n", r"drivable 1, expected true"),
        ("name: x\nclasses:\n  - {id: 0, name: a, color: [1, 2, 3]}\n", r"missing 'drivable'"),
        ("name: x\nclasses:\n" + CLASS + CLASS.replace("id: 0", "id: 1"), r"class names repeat"),
        ("name: x\nignore_index: none\nclasses:\n" + CLASS, r"ignore_index 'none', expected an integer 0..255"),
        ("name: x\nignore_index: 0\nclasses:\n" + CLASS, r"1 classes collide with ignore_index 0"),
        ("name: x\nvoid_ids: [300]\nclasses:\n" + CLASS, r"void_ids entry 300, expected an integer 0..255"),
        ("name: x\nvoid_ids: 11\nclasses:\n" + CLASS, r"void_ids 11, expected a list"),
        ("name: x\nclasses:\n" + CLASS.replace("}", ", label_id: 256}"), r"label_id 256, expected an integer"),
    ],
    ids=[
        "yaml syntax",
        "a list",
        "empty file",
        "no classes",
        "empty classes",
        "no name",
        "class not a mapping",
        "ids out of order",
        "no id",
        "two colour values",
        "colour over 255",
        "drivable not bool",
        "no drivable",
        "repeated names",
        "ignore_index not int",
        "ignore_index below K",
        "void id over 255",
        "void_ids not a list",
        "label_id over 255",
    ],
)
def test_malformed_label_file_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(LabelError, match=problem) as info:
        load_label_set(path)
    assert str(path) in str(info.value)


def test_unknown_label_set_name_lists_the_available_ones() -> None:
    with pytest.raises(LabelError, match=r"no label set 'kitti'; available: camvid, cityscapes, warehouse"):
        load_label_set("kitti")


def test_core_finds_a_name_only_in_the_folders_it_is_given(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    shipped = Path(__file__).resolve().parents[1] / "config" / "labels" / "warehouse.yaml"
    (second / "site.yaml").write_text(shipped.read_text())
    assert core_labels.load_label_set("site", [first, second]) == load_label_set("warehouse")
    assert core_labels.available_label_sets([first, second]) == ["site"]
    with pytest.raises(LabelError, match="no label set 'warehouse'; available: site") as info:
        core_labels.load_label_set("warehouse", [first, second])
    assert f"looked in {first}, {second}" in str(info.value)
    with pytest.raises(LabelError, match=r"available: none \(looked in no folder"):
        core_labels.load_label_set("warehouse")


def test_missing_label_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(LabelError, match="cannot read label set") as info:
        load_label_set(path)
    assert str(path) in str(info.value)

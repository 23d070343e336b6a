"""Imports from labelling tools: CVAT "Segmentation mask 1.1", LabelMe JSON and COCO, into train-id label PNGs.

Each export is written here in the tool's own format (CVAT: labelmap.txt + SegmentationClass
colour PNGs, folder and .zip; LabelMe: shapes with imageHeight/imageWidth; COCO: instances JSON
with polygons, uncompressed and compressed RLE made by pycocotools) on 12x16 images, and the
labels are checked pixel for pixel. Every bad input is one message, and nothing is written.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import warnings
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from pycocotools import mask as coco_mask

from robot_vision_nav import cli
from robot_vision_nav.cli import labels as labels_cli
from robot_vision_nav.training import label_imports
from robot_vision_nav.training.datasets.folders import image_folder
from robot_vision_nav.training.label_imports import LabelImportError, import_labels, load_mapping

H, W = 12, 16
FLOOR, KEEP_OUT, PALLET, IGNORE = 0, 2, 6, 255  # warehouse train ids
MAPPING = """\
label_set: warehouse
classes:
  Floor: floor
  "Keep-out zone": keep_out
  Pallet: pallet
  background: ignore
"""


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    path = tmp_path / "map.yaml"
    path.write_text(MAPPING)
    return path


def assert_one_line_error(capsys: pytest.CaptureFixture[str], rc: int, *words: str) -> str:
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    message = captured.err
    assert message.startswith("rvn labels: error: ") and message.count("\n") == 1, message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    return message


def run(argv: list[str]) -> int:
    return cli.main(["labels", "import", *argv])


def read_png(path: Path) -> NDArray[np.uint8]:
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw is not None and raw.dtype == np.uint8 and raw.ndim == 2, path
    return raw


# ---------------------------------------------------------------------------------------- CVAT
CVAT_COLORS = {"background": (0, 0, 0), "Floor": (128, 64, 128), "Keep-out zone": (250, 50, 83),
               "Pallet": (255, 204, 51)}  # fmt: skip
CVAT_IDS = {"background": IGNORE, "Floor": FLOOR, "Keep-out zone": KEEP_OUT, "Pallet": PALLET}


def cvat_labelmap(colors: dict[str, tuple[int, int, int]]) -> str:
    lines = ["# label:color_rgb:parts:actions"] + [f"{n}:{r},{g},{b}::" for n, (r, g, b) in colors.items()]
    return "\n".join(lines) + "\n"


def cvat_scene(seed: int) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """A class mask as CVAT paints it (RGB) and the train ids it must give."""
    names = np.full((H, W), "background", dtype=object)
    names[6:, :] = "Floor"
    names[1 : 4 + seed, 3:11] = "Keep-out zone"
    names[7:10, 11:14] = "Pallet"
    rgb = np.zeros((H, W, 3), dtype=np.uint8)
    ids = np.zeros((H, W), dtype=np.uint8)
    for name, color in CVAT_COLORS.items():
        rgb[names == name] = color
        ids[names == name] = CVAT_IDS[name]
    return rgb, ids


def cvat_files(colors: dict[str, tuple[int, int, int]] | None = None) -> tuple[dict[str, bytes], dict[str, NDArray]]:
    """The files of a two-image export (name -> bytes) and each image's expected train ids."""
    files = {"labelmap.txt": cvat_labelmap(colors or CVAT_COLORS).encode(),
             "ImageSets/Segmentation/default.txt": b"frame_000\nframe_001\n"}  # fmt: skip
    expected = {}
    for i, name in enumerate(("frame_000", "frame_001")):
        rgb, ids = cvat_scene(i)
        ok, png = cv2.imencode(".png", rgb[:, :, ::-1])  # OpenCV writes BGR
        assert ok
        files[f"SegmentationClass/{name}.png"] = png.tobytes()
        files[f"SegmentationObject/{name}.png"] = png.tobytes()  # instances: not read
        expected[name] = ids
    return files, expected


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def write_zip(path: Path, files: dict[str, bytes], prefix: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(prefix + name, data)
    return path


@pytest.mark.parametrize("packing", ["folder", "zip", "zip-in-a-folder"])
def test_cvat_segmentation_mask_export_gives_train_ids_pixel_for_pixel(
    tmp_path: Path, mapping_file: Path, packing: str
) -> None:
    files, expected = cvat_files()
    if packing == "folder":
        src = write_folder(tmp_path / "export", files)
    else:
        src = write_zip(tmp_path / "task.zip", files, "task/" if packing == "zip-in-a-folder" else "")
    result = import_labels("cvat", src, load_mapping(mapping_file), tmp_path / "labels")
    assert result.names == ("frame_000", "frame_001")
    for name, ids in expected.items():
        np.testing.assert_array_equal(read_png(tmp_path / "labels" / f"{name}.png"), ids)
    total = sum(int((ids == v).sum()) for ids in expected.values() for v in (FLOOR,))
    assert result.pixels["floor"] == total and sum(result.pixels.values()) == 2 * H * W


def test_cvat_palette_and_grey_masks_read_as_their_colours(tmp_path: Path, mapping_file: Path) -> None:
    # A one-channel mask: grey g is colour (g, g, g); black with no labelmap entry is CVAT's background.
    colors = {"Floor": (90, 90, 90), "Pallet": (200, 200, 200)}
    grey = np.zeros((H, W), dtype=np.uint8)
    grey[6:] = 90
    grey[0, 0] = 200
    png = cv2.imencode(".png", grey)[1]
    src = write_folder(tmp_path / "export", {"labelmap.txt": cvat_labelmap(colors).encode(),
                                             "SegmentationClass/a.png": png.tobytes()})  # fmt: skip
    import_labels("cvat", src, load_mapping(mapping_file), tmp_path / "labels")
    expected = np.full((H, W), IGNORE, dtype=np.uint8)
    expected[6:] = FLOOR
    expected[0, 0] = PALLET
    np.testing.assert_array_equal(read_png(tmp_path / "labels" / "a.png"), expected)


def test_cvat_unknown_colour_names_file_and_colour_and_writes_nothing(
    tmp_path: Path, mapping_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files, _ = cvat_files()
    rgb, _ = cvat_scene(1)
    rgb[0, 0] = (1, 2, 3)
    files["SegmentationClass/frame_001.png"] = cv2.imencode(".png", rgb[:, :, ::-1])[1].tobytes()
    src = write_zip(tmp_path / "task.zip", files)
    rc = run(["cvat", str(src), "--map", str(mapping_file), "--out", str(tmp_path / "labels")])
    assert_one_line_error(capsys, rc, "task.zip:SegmentationClass/frame_001.png", "(1, 2, 3)", "labelmap.txt")
    assert not (tmp_path / "labels").exists()  # frame_000 was fine, and is not written either


def test_cvat_class_the_mapping_lacks_names_class_file_and_mapping(
    tmp_path: Path, mapping_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files, _ = cvat_files({**CVAT_COLORS, "Forklift": (10, 20, 30)})
    src = write_folder(tmp_path / "export", files)
    rc = run(["cvat", str(src), "--map", str(mapping_file), "--out", str(tmp_path / "labels")])
    assert_one_line_error(capsys, rc, "'Forklift'", str(src / "labelmap.txt"), str(mapping_file))
    assert not (tmp_path / "labels").exists()


def test_cvat_item_listed_without_its_mask_is_a_missing_file(
    tmp_path: Path, mapping_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files, _ = cvat_files()
    files["ImageSets/Segmentation/default.txt"] += b"frame_002\n"
    src = write_folder(tmp_path / "export", files)
    rc = run(["cvat", str(src), "--map", str(mapping_file), "--out", str(tmp_path / "labels")])
    assert_one_line_error(capsys, rc, "'frame_002'", "SegmentationClass/frame_002.png", "missing")
    assert not (tmp_path / "labels").exists()


def test_cvat_export_without_labelmap_or_malformed_lines_is_refused(tmp_path: Path, mapping_file: Path) -> None:
    files, _ = cvat_files()
    mapping = load_mapping(mapping_file)
    with pytest.raises(LabelImportError, match=r"no labelmap\.txt"):
        import_labels("cvat", write_folder(tmp_path / "a", {k: v for k, v in files.items() if k != "labelmap.txt"}),
                      mapping, tmp_path / "out")  # fmt: skip
    with pytest.raises(LabelImportError, match=r"line 2: colour '1,2' of 'Floor'"):
        import_labels("cvat", write_folder(tmp_path / "b", {**files, "labelmap.txt": b"# c\nFloor:1,2::\n"}),
                      mapping, tmp_path / "out")  # fmt: skip
    with pytest.raises(LabelImportError, match=r"neither a folder nor a readable \.zip"):
        (tmp_path / "bad.zip").write_bytes(b"not a zip")
        import_labels("cvat", tmp_path / "bad.zip", mapping, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------- LabelMe
def b64_png(mask: NDArray[np.uint8]) -> str:
    return base64.b64encode(cv2.imencode(".png", mask)[1].tobytes()).decode()


PATCH = np.array([[1, 0, 1], [1, 1, 0]], dtype=np.uint8)


def labelme_doc(**extra_shape: object) -> dict[str, object]:
    """A LabelMe file with every supported shape type; later shapes are drawn over earlier ones."""
    shapes = [
        {"label": "Floor", "points": [[0, 6], [15, 6], [15, 11], [0, 11]], "shape_type": "polygon"},
        {"label": "Keep-out zone", "points": [[10, 4], [3, 1]], "shape_type": "rectangle"},  # corners either way
        {"label": "Pallet", "points": [[12, 8], [12, 10]], "shape_type": "circle"},  # centre, point on the circle
        {"label": "Keep-out zone", "points": [[1, 8], [3, 9]], "shape_type": "mask", "mask": b64_png(PATCH)},
        {"label": "Pallet", "points": [[6, 0], [7, 0], [7, 1], [6, 1]], "shape_type": None},  # older LabelMe: polygon
    ]
    if extra_shape:
        shapes.append({"group_id": None, "description": "", "flags": {}, **extra_shape})
    return {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": "frame.jpg", "imageData": None,
            "imageHeight": H, "imageWidth": W}  # fmt: skip


def labelme_expected() -> NDArray[np.uint8]:
    ids = np.full((H, W), IGNORE, dtype=np.uint8)
    ids[6:12, 0:16] = FLOOR
    ids[1:5, 3:11] = KEEP_OUT
    rows, cols = np.mgrid[:H, :W]
    ids[(cols - 12) ** 2 + (rows - 8) ** 2 <= 4] = PALLET
    ids[8:10, 1:4][PATCH > 0] = KEEP_OUT
    ids[0:2, 6:8] = PALLET
    return ids


def write_labelme(folder: Path, name: str, doc: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path


def test_labelme_shapes_are_drawn_in_file_order_pixel_for_pixel(tmp_path: Path, mapping_file: Path) -> None:
    src = write_labelme(tmp_path / "json", "frame", labelme_doc())
    expected = labelme_expected()
    assert int((expected == PALLET).sum()) == 13 + 4  # the radius-2 circle and the square
    import_labels("labelme", src, load_mapping(mapping_file), tmp_path / "labels")
    np.testing.assert_array_equal(read_png(tmp_path / "labels" / "frame.png"), expected)


@pytest.mark.parametrize(
    ("x0", "y0", "x1", "y1", "rows", "cols"),
    [(1.6, 2.4, 4.4, 5.3, (2, 5), (2, 4)), (1.4, 2.6, 4.6, 5.6, (3, 6), (1, 5))],
)
def test_labelme_fractional_polygon_covers_every_pixel_its_outline_meets(
    tmp_path: Path,
    mapping_file: Path,
    x0: float,
    y0: float,
    x1: float,
    y1: float,
    rows: tuple[int, int],
    cols: tuple[int, int],
) -> None:
    # Pixel (col, row) is the unit square centred on (col, row): x 1.6..4.4 meets columns 2..4, x 1.4 column 1.
    doc = labelme_doc()
    doc["shapes"] = [{"label": "Floor", "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], "shape_type": "polygon"}]
    src = write_labelme(tmp_path / "json", "frame", doc)
    import_labels("labelme", src, load_mapping(mapping_file), tmp_path / "labels")
    expected = np.full((H, W), IGNORE, dtype=np.uint8)
    expected[rows[0] : rows[1] + 1, cols[0] : cols[1] + 1] = FLOOR
    np.testing.assert_array_equal(read_png(tmp_path / "labels" / "frame.png"), expected)


@pytest.mark.parametrize(
    ("shape", "words"),
    [
        ({"label": "Floor", "points": [[1, 1], [5, 5]], "shape_type": "line"}, ["'line'", "no area", "polygon"]),
        ({"label": "Floor", "points": [[1, 1]], "shape_type": "point"}, ["'point'", "no area"]),
        ({"label": "Floor", "points": [[1, 1], [5, 5], [2, 7]], "shape_type": "linestrip"}, ["'linestrip'"]),
        ({"label": "Floor", "points": [[1, 1], [5, 5]], "shape_type": "cuboid"},
         ["unknown shape_type 'cuboid'", "polygon, rectangle, circle, mask"]),
        ({"label": "Floor", "points": [[1, 1], [5, 5]], "shape_type": "polygon"}, ["2 points", "at least 3"]),
        ({"label": "Forklift", "points": [[1, 1], [5, 5], [2, 7]], "shape_type": "polygon"},
         ["'Forklift'", "does not map", "map.yaml"]),
    ],
)  # fmt: skip
def test_labelme_bad_shapes_are_refused_by_name_and_nothing_is_written(
    tmp_path: Path, mapping_file: Path, capsys: pytest.CaptureFixture[str], shape: dict[str, object], words: list[str]
) -> None:
    src = tmp_path / "json"
    write_labelme(src, "a_good", labelme_doc())
    bad = write_labelme(src, "b_bad", labelme_doc(**shape))
    rc = run(["labelme", str(src), "--map", str(mapping_file), "--out", str(tmp_path / "labels")])
    assert_one_line_error(capsys, rc, str(bad), *words)
    assert not (tmp_path / "labels").exists()


def test_labelme_mask_of_the_wrong_box_size_is_refused(tmp_path: Path, mapping_file: Path) -> None:
    src = write_labelme(tmp_path / "json", "frame", labelme_doc(label="Floor", points=[[0, 0], [4, 4]],
                                                                shape_type="mask", mask=b64_png(PATCH)))  # fmt: skip
    with pytest.raises(LabelImportError, match=r"mask is 3x2 but its box \(0, 0\)-\(4, 4\) is 5x5"):
        import_labels("labelme", src, load_mapping(mapping_file), tmp_path / "labels")


# ---------------------------------------------------------------------------------------- COCO
def uncompressed_counts(mask: NDArray[np.uint8]) -> list[int]:
    """COCO's uncompressed RLE: run lengths over the column-major pixels, starting with a run of 0s."""
    flat = mask.ravel(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return [0, *runs] if flat[0] else runs


def box(rows: slice, cols: slice) -> NDArray[np.uint8]:
    mask = np.zeros((H, W), dtype=np.uint8)
    mask[rows, cols] = 1
    return mask


def coco_doc() -> dict[str, object]:
    keep_out = box(slice(1, 5), slice(3, 11))
    pallet = box(slice(7, 10), slice(11, 14))
    compressed = coco_mask.encode(np.asfortranarray(pallet))
    uncompressed = {"size": [H, W], "counts": uncompressed_counts(keep_out)}
    # The test's own RLE must be what pycocotools reads back.
    with warnings.catch_warnings():  # pycocotools 2.0.10 under numpy 2, as in the reader
        warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
        assert (coco_mask.decode(coco_mask.frPyObjects(uncompressed, H, W)) == keep_out).all()
    return {
        "info": {}, "licenses": [],
        "categories": [{"id": 1, "name": "Floor", "supercategory": ""},
                       {"id": 2, "name": "Keep-out zone", "supercategory": ""},
                       {"id": 7, "name": "Pallet", "supercategory": ""}],
        "images": [{"id": 10, "file_name": "site/frame_a.jpg", "height": H, "width": W},
                   {"id": 11, "file_name": "frame_b.png", "height": H, "width": W},
                   {"id": 12, "file_name": "frame_c.png", "height": H, "width": W}],
        "annotations": [
            # frame_a: a polygon, an uncompressed crowd RLE and a compressed RLE
            {"id": 1, "image_id": 10, "category_id": 1, "iscrowd": 0, "area": 96.0, "bbox": [0, 6, 16, 6],
             "segmentation": [[0, 6, 16, 6, 16, 12, 0, 12]]},
            {"id": 2, "image_id": 10, "category_id": 2, "iscrowd": 1, "area": 32.0, "bbox": [3, 1, 8, 4],
             "segmentation": uncompressed},
            {"id": 3, "image_id": 10, "category_id": 7, "iscrowd": 0, "area": 9.0, "bbox": [11, 7, 3, 3],
             "segmentation": {"size": [H, W], "counts": compressed["counts"].decode("ascii")}},
            # frame_b: the small pallet comes first in the file, the large zone over it after: the pallet stays on top
            {"id": 4, "image_id": 11, "category_id": 7, "iscrowd": 0, "area": 4.0, "bbox": [4, 4, 2, 2],
             "segmentation": [[4, 4, 6, 4, 6, 6, 4, 6]]},
            {"id": 5, "image_id": 11, "category_id": 2, "iscrowd": 0, "area": 64.0, "bbox": [2, 2, 8, 8],
             "segmentation": [[2, 2, 10, 2, 10, 10, 2, 10], [12, 0, 14, 0, 14, 2, 12, 2]]},
        ],
    }  # fmt: skip


# A compressed RLE of a 24x32 mask: its runs add up to more pixels than a 12x16 image has.
LARGER_RLE = coco_mask.encode(np.asfortranarray(np.ones((2 * H, 2 * W), dtype=np.uint8)))["counts"].decode("ascii")


def coco_expected() -> dict[str, NDArray[np.uint8]]:
    a = np.full((H, W), IGNORE, dtype=np.uint8)
    a[6:12, :] = FLOOR  # polygon corners are pixel edges: x 0..16 covers columns 0..15
    a[1:5, 3:11] = KEEP_OUT
    a[7:10, 11:14] = PALLET
    b = np.full((H, W), IGNORE, dtype=np.uint8)
    b[2:10, 2:10] = KEEP_OUT
    b[0:2, 12:14] = KEEP_OUT  # a second polygon of the same annotation
    b[4:6, 4:6] = PALLET
    return {"frame_a": a, "frame_b": b, "frame_c": np.full((H, W), IGNORE, dtype=np.uint8)}


def write_coco(path: Path, doc: dict[str, object]) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_coco_polygons_and_both_rles_give_train_ids_pixel_for_pixel(tmp_path: Path, mapping_file: Path) -> None:
    src = write_coco(tmp_path / "instances_default.json", coco_doc())
    result = import_labels("coco", src, load_mapping(mapping_file), tmp_path / "labels")
    assert result.names == ("frame_a", "frame_b", "frame_c")
    for name, ids in coco_expected().items():
        np.testing.assert_array_equal(read_png(tmp_path / "labels" / f"{name}.png"), ids, err_msg=name)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["categories"].append({"id": 9, "name": "Forklift"}), ["'Forklift'", "does not map", "map.yaml"]),
        (lambda d: d["annotations"][2]["segmentation"].update(size=[H, W + 1]),
         ["annotations[2] (id 3)", "RLE size [12, 17]", "[12, 16]"]),
        (lambda d: d["annotations"][1]["segmentation"]["counts"].append(5), ["add up to 197 pixels", "12x16 = 192"]),
        (lambda d: d["annotations"][2]["segmentation"].update(counts=LARGER_RLE), ["(id 3)", "invalid RLE"]),
        (lambda d: d["annotations"][0].update(segmentation=[]), ["(id 1)", "empty segmentation"]),
        (lambda d: d["annotations"][0].update(segmentation=[[0, 6, 16, 6]]), ["(id 1)", "3 or more points"]),
        (lambda d: d["annotations"][0].update(image_id=99), ["image_id 99 is not in 'images'"]),
        (lambda d: d.pop("images"), ["'images' must be a list"]),
    ],
)  # fmt: skip
def test_coco_bad_input_is_one_message_and_nothing_is_written(
    tmp_path: Path, mapping_file: Path, capsys: pytest.CaptureFixture[str], change, words: list[str]
) -> None:
    doc = coco_doc()
    change(doc)
    src = write_coco(tmp_path / "instances.json", doc)
    rc = run(["coco", str(src), "--map", str(mapping_file), "--out", str(tmp_path / "labels")])
    assert_one_line_error(capsys, rc, str(src), *words)
    assert not (tmp_path / "labels").exists()


@pytest.mark.parametrize(("fmt", "kind"), [("coco", "COCO"), ("labelme", "LabelMe")])
def test_export_json_that_is_not_json_or_not_utf8_names_the_format_and_file(
    tmp_path: Path, mapping_file: Path, fmt: str, kind: str
) -> None:
    src = tmp_path / "export.json"
    src.write_text("{not json")
    with pytest.raises(
        LabelImportError, match=rf"^{kind} file '{re.escape(str(src))}' is not JSON: Expecting property name"
    ):
        import_labels(fmt, src, load_mapping(mapping_file), tmp_path / "labels")
    src.write_bytes(b"\xff\xfe{}")
    with pytest.raises(
        LabelImportError, match=rf"^cannot read {kind} file '{re.escape(str(src))}': 'utf-8' codec can't decode"
    ):
        import_labels(fmt, src, load_mapping(mapping_file), tmp_path / "labels")
    assert not (tmp_path / "labels").exists()


def test_coco_without_pycocotools_names_the_package(
    tmp_path: Path, mapping_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pycocotools", None)  # what a Python without it raises on import
    src = write_coco(tmp_path / "instances.json", coco_doc())
    with pytest.raises(LabelImportError, match=r"COCO import needs pycocotools \(pip install pycocotools==2.0.10"):
        import_labels("coco", src, load_mapping(mapping_file), tmp_path / "labels")


# ---------------------------------------------------------------------------------------- mapping
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("classes:\n  Floor: flor\n", ["maps 'Floor' to 'flor'", "label set 'warehouse' lacks", "keep_out"]),
        ("label_set: nosuch\nclasses:\n  Floor: floor\n", ["label_set", "no label set 'nosuch'"]),
        ("label_set: warehouse\nclases:\n  Floor: floor\n", ["unknown key 'clases'"]),
        ("classes:\n  1: floor\n", ["class name 1 is not text", "quote it"]),
        ("classes: [Floor]\n", ["'classes' must map"]),
        ("classes: {Floor: floor\n", ["not valid YAML"]),
    ],
)
def test_bad_mapping_yaml_is_refused_naming_it(tmp_path: Path, text: str, words: list[str]) -> None:
    path = tmp_path / "map.yaml"
    path.write_text(text)
    with pytest.raises(LabelImportError) as err:
        load_mapping(path)
    for word in [str(path), *words]:
        assert word in str(err.value)


def test_mapping_reads_a_label_set_yaml_beside_it(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(
        "name: site\nclasses:\n  - {id: 0, name: drivable, color: [0, 255, 0], drivable: true}\n"
        "  - {id: 1, name: blocked, color: [255, 0, 0], drivable: false}\n"
    )
    (tmp_path / "map.yaml").write_text("label_set: site.yaml\nclasses:\n  Floor: drivable\n  Wall: blocked\n")
    mapping = load_mapping(tmp_path / "map.yaml")
    assert (mapping.label_set.name, mapping.train_ids) == ("site", {"Floor": 0, "Wall": 1})


# ---------------------------------------------------------------------------------------- CLI
def image_root(tmp_path: Path, sizes: dict[str, tuple[int, int]]) -> Path:
    """`ROOT/images/NAME.jpg` of the given (height, width)."""
    images = tmp_path / "dataset" / "images"
    images.mkdir(parents=True)
    for name, (h, w) in sizes.items():
        cv2.imwrite(str(images / f"{name}.jpg"), np.full((h, w, 3), 100, dtype=np.uint8))
    return images.parent


def test_cli_import_writes_what_the_image_folder_dataset_reads(
    tmp_path: Path, mapping_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = image_root(tmp_path, {"frame_a": (H, W), "frame_b": (H, W), "frame_c": (H, W)})
    src = write_coco(tmp_path / "instances.json", coco_doc())
    argv = [
        "coco",
        str(src),
        "--map",
        str(mapping_file),
        "--out",
        str(root / "labels"),
        "--images",
        str(root / "images"),
    ]
    assert run([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    result = json.loads(captured.out)
    expected = coco_expected()
    assert result["files"] == 3 and result["names"] == ["frame_a", "frame_b", "frame_c"] and result["replaced"] == 0
    assert result["label_set"] == "warehouse" and result["format"] == "coco"
    assert result["pixels"]["pallet"] == sum(int((e == PALLET).sum()) for e in expected.values())
    assert result["pixels"]["ignore"] == sum(int((e == IGNORE).sum()) for e in expected.values())
    assert sum(result["pixels"].values()) == 3 * H * W
    dataset = image_folder(root)
    assert len(dataset) == 3
    for i, name in enumerate(("frame_a", "frame_b", "frame_c")):
        rgb, ids = dataset[i]
        assert rgb.shape == (H, W, 3)
        np.testing.assert_array_equal(ids, expected[name])
    # Again, in words: the same files are replaced.
    assert run(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"wrote 3 label files to {root / 'labels'}") and "3 replaced" in text
    assert "pallet" in text and "ignore" in text


def test_cli_label_of_the_wrong_size_names_both_files_and_sizes(
    tmp_path: Path, mapping_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = image_root(tmp_path, {"frame": (H * 2, W * 2)})
    src = write_labelme(tmp_path / "json", "frame", labelme_doc())
    rc = run(["labelme", str(src), "--map", str(mapping_file), "--out", str(root / "labels"),
              "--images", str(root / "images")])  # fmt: skip
    assert_one_line_error(capsys, rc, str(src), "16x12", str(root / "images" / "frame.jpg"), "32x24")
    assert not (root / "labels").exists()


def test_cli_label_without_its_image_and_missing_sources_are_refused(
    tmp_path: Path, mapping_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = image_root(tmp_path, {"other": (H, W)})
    src = write_labelme(tmp_path / "json", "frame", labelme_doc())
    out = ["--map", str(mapping_file), "--out", str(root / "labels")]
    assert_one_line_error(capsys, run(["labelme", str(src), *out, "--images", str(root / "images")]),
                          "no image 'frame'", str(root / "images"))  # fmt: skip
    assert_one_line_error(capsys, run(["labelme", str(tmp_path / "nothing"), *out]), "does not exist")
    assert_one_line_error(capsys, run(["coco", str(tmp_path / "nothing.json"), *out]), "does not exist")
    assert_one_line_error(capsys, run(["cvat", str(tmp_path / "nothing.zip"), *out]), "does not exist")
    assert_one_line_error(capsys, run(["cvat", str(src), "--map", str(tmp_path / "no.yaml"), "--out", "x"]),
                          "cannot read the class mapping", "no.yaml")  # fmt: skip
    assert not (root / "labels").exists()


def test_cli_bad_input_leaves_an_existing_output_folder_unchanged(
    tmp_path: Path, mapping_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "labels"
    out.mkdir()
    (out / "frame.png").write_bytes(b"old")
    src = write_labelme(tmp_path / "json", "frame", labelme_doc())
    write_labelme(tmp_path / "json", "later", labelme_doc(label="Floor", points=[[0, 0]], shape_type="point"))
    assert_one_line_error(capsys, run(["labelme", str(tmp_path / "json"), "--map", str(mapping_file), "--out",
                                       str(out)]), "'point'")  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["frame.png"] and (out / "frame.png").read_bytes() == b"old"
    assert src.exists()


def test_cli_usage_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["labels", "import", "voc", "x", "--map", "m", "--out", "o"]) == 2
    assert "invalid choice: 'voc'" in capsys.readouterr().err
    assert cli.main(["labels", "import", "--help"]) == 0
    text = capsys.readouterr().out
    for word in ("cvat", "labelme", "coco", "labelmap.txt", "--images", "ignore"):
        assert word in text
    assert cli.main(["--help"]) == 0
    assert "labels" in capsys.readouterr().out


def test_cli_lists_the_formats_the_package_reads() -> None:
    assert labels_cli.FORMATS == label_imports.FORMATS

"""Training data: paired transforms, the torch datasets, median frequency weights, splits and bad input."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from robot_vision_nav.core.segmentation.inference import (
    Segmenter,
    SegmenterConfig,
    dither_pattern,
    load_model,
    save_model,
)
from robot_vision_nav.core.segmentation.metrics import ConfusionMatrix, MetricsError
from robot_vision_nav.core.segmentation.model import VARIANTS
from robot_vision_nav.package_files import load_label_set
from robot_vision_nav.training.datasets import (
    SYNTHETIC_VAL_FIRST,
    DatasetError,
    EvalSamples,
    InMemoryDataset,
    SyntheticWarehouse,
    TrainingSamples,
    camvid,
    count_class_pixels,
    eval_collate,
    image_folder,
    median_frequency_weights,
    open_training_data,
    sample_seed,
)
from robot_vision_nav.training.options import MODEL_VARIANTS, args_to_dict, build_train_parser, canonical_command
from robot_vision_nav.training.transforms import (
    IMAGENET_MEAN,
    TrainTransform,
    TransformError,
    eval_image,
    normalize,
)
from test.segmentation_helpers import random_model, write_camvid_tree, write_gray
from test.training_helpers import CLASS_OF, COLOURS, SIZE, block_pair, write_folder

WAREHOUSE = load_label_set("warehouse")


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pure_pixels(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask of pixels whose colour is exactly a palette colour, and that colour's index."""
    match = (image[:, :, None, :] == COLOURS[None, None].astype(np.float32)).all(axis=-1)
    return match.any(axis=-1), match.argmax(axis=-1)


# ------------------------------------------------------------------------------------------- transforms
@pytest.mark.parametrize("seed", range(12))
def test_transform_keeps_labels_on_the_image_colours(seed: int) -> None:
    rgb, labels = block_pair(seed, (40, 56))
    t = TrainTransform(SIZE, scale_range=(0.4, 2.5), flip_prob=0.5, jitter=0.0)
    image, out = t(rgb, labels, gen(seed))
    assert image.shape == (*SIZE, 3) and image.dtype == np.float32
    assert out.shape == SIZE and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1, 2, 3, 255}
    pure, which = pure_pixels(image)
    assert pure.mean() > 0.15  # pixels inside a block: not on a blended edge, not padding
    assert (out[pure] == CLASS_OF[which[pure]]).all()


def test_shrunk_image_is_padded_with_the_mean_colour_and_ignore_labels() -> None:
    rgb, labels = block_pair(3)
    image, out = TrainTransform(SIZE, scale_range=(0.5, 0.5), flip_prob=0.0, jitter=0.0)(rgb, labels, gen(0))
    fill = np.round(255 * np.array(IMAGENET_MEAN))
    assert (out[16:] == 255).all() and (out[:, 24:] == 255).all()
    assert (image[16:] == fill).all() and (image[:, 24:] == fill).all()
    assert (out[:16, :24] != 255).any()
    assert np.abs(normalize(image)[:, 16:].numpy()).max() < 0.01  # padding is ~0 for the network


def test_flip_mirrors_both_and_jitter_changes_the_image_only() -> None:
    rgb, labels = block_pair(5)
    plain = TrainTransform(SIZE, (0.7, 1.6), flip_prob=0.0, jitter=0.0)
    flipped = TrainTransform(SIZE, (0.7, 1.6), flip_prob=1.0, jitter=0.0)
    jittered = TrainTransform(SIZE, (0.7, 1.6), flip_prob=0.0, jitter=0.5)
    a_img, a_lab = plain(rgb, labels, gen(7))
    b_img, b_lab = flipped(rgb, labels, gen(7))
    c_img, c_lab = jittered(rgb, labels, gen(7))
    assert np.array_equal(b_img, a_img[:, ::-1]) and np.array_equal(b_lab, a_lab[:, ::-1])
    assert np.array_equal(c_lab, a_lab) and not np.array_equal(c_img, a_img)
    assert c_img.min() >= 0 and c_img.max() <= 255


def test_transform_is_a_function_of_the_generator_seed() -> None:
    rgb, labels = block_pair(1)
    t = TrainTransform(SIZE)
    a, b, c = t(rgb, labels, gen(1)), t(rgb, labels, gen(1)), t(rgb, labels, gen(2))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not (np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1]))


def test_transform_refuses_mismatched_pairs_and_bad_settings() -> None:
    rgb, labels = block_pair(0)
    with pytest.raises(TransformError, match="48x32 but its labels are 47x32"):
        TrainTransform(SIZE)(rgb, labels[:, :-1], gen(0))
    for bad in ({"scale_range": (2.0, 1.0)}, {"flip_prob": 1.5}, {"jitter": 1.0}, {"size": (0, 4)}):
        with pytest.raises(TransformError):
            TrainTransform(**{"size": SIZE, **bad})  # type: ignore[arg-type]


def test_eval_image_is_the_engines_preprocessing(tmp_path: Path) -> None:
    model = random_model(tmp_path / "m.safetensors", "warehouse", SIZE)
    engine = Segmenter.from_file(model, SegmenterConfig(device="cpu", channels_last=False, warmup_iterations=0))
    rgb = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    assert torch.equal(eval_image(rgb, SIZE), engine.preprocess(torch.from_numpy(rgb))[0])
    dithered = tmp_path / "d.safetensors"
    model_file, card = load_model(model)
    save_model(model_file, dithered, card.labels, SIZE, dither=1.0)
    engine = Segmenter.from_file(dithered, SegmenterConfig(device="cpu", channels_last=False, warmup_iterations=0))
    pattern = dither_pattern(1.0, SIZE)
    assert torch.allclose(eval_image(rgb, SIZE, dither=pattern), engine.preprocess(torch.from_numpy(rgb))[0], atol=1e-6)
    assert not torch.allclose(eval_image(rgb, SIZE), engine.preprocess(torch.from_numpy(rgb))[0], atol=1e-3)
    samples = EvalSamples(InMemoryDataset("mem", WAREHOUSE, [block_pair(0)]), SIZE, dither=1.0)  # validation's
    assert torch.equal(samples[0][0], eval_image(InMemoryDataset("mem", WAREHOUSE, [block_pair(0)])[0][0], SIZE,
                                                 dither=pattern))  # fmt: skip


# ------------------------------------------------------------------------------------------- torch datasets
def test_training_samples_are_normalised_tensors_seeded_by_seed_epoch_index() -> None:
    pairs = [block_pair(i) for i in range(3)]
    ds = TrainingSamples(InMemoryDataset("mem", WAREHOUSE, pairs), TrainTransform(SIZE), seed=4)
    x, y = ds[(2, 1)]
    assert x.shape == (3, *SIZE) and x.dtype == torch.float32 and y.shape == SIZE and y.dtype == torch.int64
    assert float(x.min()) > -3.0 and float(x.max()) < 3.0  # normalised, not 0..255
    again = ds[(2, 1)]
    assert torch.equal(again[0], x) and torch.equal(again[1], y)
    assert not torch.equal(ds[(3, 1)][0], x)  # another epoch, another augmentation
    assert ds[1][0].shape == x.shape  # a plain index is epoch 0
    assert sample_seed(4, 2, 1) == sample_seed(4, 2, 1) != sample_seed(4, 1, 2)


def test_eval_samples_keep_full_size_labels_and_collate_mixed_sizes() -> None:
    pairs = [block_pair(0, (40, 56)), block_pair(1, (24, 40))]
    ds = EvalSamples(InMemoryDataset("mem", WAREHOUSE, pairs), SIZE)
    images, labels = eval_collate([ds[0], ds[1]])
    assert images.shape == (2, 3, *SIZE)
    assert isinstance(labels, list) and labels[0].shape == (40, 56) and labels[0].dtype == torch.uint8
    images, stacked = eval_collate([ds[0], ds[0]])
    assert isinstance(stacked, torch.Tensor) and stacked.shape == (2, 40, 56)


# ------------------------------------------------------------------------------------------- class weights
def test_median_frequency_weights_equal_hand_computed_values() -> None:
    a = np.array([[0, 0], [1, 255]], dtype=np.uint8)  # 3 labelled pixels: 2 of class 0, 1 of class 1
    b = np.array([[0, 2], [2, 2]], dtype=np.uint8)  # 4 labelled: 1 of class 0, 3 of class 2
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    ds = InMemoryDataset("mem", WAREHOUSE, [(rgb, a), (rgb, b)])
    counts = count_class_pixels(ds, range(2), 4)
    assert counts.tolist() == [[3, 1, 3, 0], [7, 3, 4, 0]]
    # freq: class 0 3/7, class 1 1/3, class 2 3/4; median 3/7; class 3 absent -> 1.
    assert np.allclose(median_frequency_weights(counts), [1.0, 9 / 7, 4 / 7, 1.0], rtol=0, atol=1e-12)
    # Shards add up: counting each half and summing gives the same counts (how DDP ranks share it).
    assert (count_class_pixels(ds, [0], 4) + count_class_pixels(ds, [1], 4) == counts).all()
    with pytest.raises(DatasetError, match="no labelled pixel"):
        median_frequency_weights(np.zeros((2, 4), dtype=np.int64))


# ------------------------------------------------------------------------------------------- splits
def test_folder_without_splits_holds_out_the_last_images(tmp_path: Path) -> None:
    write_folder(tmp_path, 10)
    data = open_training_data("folder", tmp_path, val_fraction=0.2)
    assert (len(data.train), len(data.val)) == (8, 2) and data.label_set.name == "warehouse"
    assert np.array_equal(data.val[0][1], block_pair(8)[1]) and np.array_equal(data.train[7][1], block_pair(7)[1])
    assert data.description["train_images"] == 8 and "f008.png" in data.description["val_split"]
    limited = open_training_data("folder", tmp_path, val_fraction=0.2, limit=3)
    assert (len(limited.train), len(limited.val)) == (3, 2)


def test_synthetic_frames_are_rendered_once_and_validation_frames_are_apart() -> None:
    data = open_training_data("synthetic", None, synthetic_frames=3)
    assert (len(data.train), len(data.val)) == (3, 1)
    direct = SyntheticWarehouse(1, 0, first=SYNTHETIC_VAL_FIRST)[0]
    assert np.array_equal(data.val[0][0], direct[0]) and np.array_equal(data.val[0][1], direct[1])
    assert np.array_equal(data.train[2][1], SyntheticWarehouse(3, 0)[2][1])


def test_wrong_layouts_name_the_folder(tmp_path: Path) -> None:
    (tmp_path / "pictures").mkdir()
    with pytest.raises(DatasetError, match=r"neither train/ and val/.*nor images/ and labels/"):
        open_training_data("folder", tmp_path)
    write_folder(tmp_path / "train", 2)
    with pytest.raises(DatasetError, match=r"val'.*no images/ and labels/"):
        open_training_data("folder", tmp_path)
    write_camvid_tree(tmp_path / "cv", "train")
    with pytest.raises(DatasetError, match=r"cv/train. has no train/ folder"):
        open_training_data("camvid", tmp_path / "cv" / "train")
    with pytest.raises(DatasetError, match=r"no val/ folder \(expected the SegNet tutorial layout"):
        open_training_data("camvid", tmp_path / "cv")
    with pytest.raises(DatasetError, match="does not exist"):
        open_training_data("cityscapes", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="--data-root"):
        open_training_data("folder", None)


def test_label_ids_outside_the_class_set_name_the_file(tmp_path: Path) -> None:
    write_folder(tmp_path, 3)
    _, labels = block_pair(1)
    labels[0, 0] = 20  # warehouse has 11 classes
    write_gray(tmp_path / "labels" / "f001.png", labels)
    ds = image_folder(tmp_path)
    with pytest.raises(DatasetError, match=r"f001\.png.*holds id 20"):
        count_class_pixels(ds, range(3), 11)
    # CamVid files hold ids 0..10 and 11 (void); anything else was silently ignored before.
    raw = write_camvid_tree(tmp_path / "cv", "train", count=1)[0]
    raw[3, 3] = 40
    write_gray(tmp_path / "cv" / "trainannot" / "0001TP_000000.png", raw)
    with pytest.raises(DatasetError, match=r"0001TP_000000\.png.*holds id 40.*0\.\.11, 255"):
        camvid(tmp_path / "cv", "train")[0]


# ------------------------------------------------------------------------------------------- small pieces
def test_model_variant_names_match_the_model_module() -> None:
    assert tuple(VARIANTS) == MODEL_VARIANTS


def test_canonical_command_reproduces_the_options() -> None:
    parser = build_train_parser()
    args = parser.parse_args(["--dataset", "folder", "--data-root", "d i r", "--lr", "0.003", "--no-flip",
                              "--scale-range", "0.75", "1.5", "--input-size", "64", "96", "--amp"])  # fmt: skip
    command = canonical_command(args_to_dict(args))
    words = shlex.split(command)
    assert words[:2] == ["rvn", "train"]
    again = parser.parse_args(words[2:])
    assert args_to_dict(again) == args_to_dict(args)
    assert isinstance(args, argparse.Namespace) and "--no-class-weights" not in words and "--no-flip" in words


def test_confusion_matrix_from_counts() -> None:
    m = ConfusionMatrix.from_matrix(np.array([[3, 1], [0, 4]], dtype=np.int64))
    assert m.labelled_pixels == 8 and m.global_accuracy() == 7 / 8
    with pytest.raises(MetricsError, match="K x K"):
        ConfusionMatrix.from_matrix(np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(MetricsError, match="non-negative"):
        ConfusionMatrix.from_matrix(np.array([[1, -1], [0, 0]]))

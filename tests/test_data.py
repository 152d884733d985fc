"""Breed names, the Stanford layout, folder trees, splits and box crops."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from dogbreeds.core.breeds import BREED_IDS, IMAGENET_INDICES, UnknownBreedError, breed_index, human_name, resolve_breed
from dogbreeds.core.transforms import Preprocess, crop_to_box, eval_transform, normalise_pixels, pixels
from dogbreeds.data.folders import load_folder_tree, load_samples
from dogbreeds.data.samples import Sample, SampleSet
from dogbreeds.data.split import TooFewPhotosError, stratified_split
from dogbreeds.data.stanford import load_stanford, read_annotation, read_split_list

from .conftest import EXAMPLES, SHARED, needs_shared


def test_breed_table_is_complete_and_aligned_with_imagenet() -> None:
    assert len(BREED_IDS) == len(set(BREED_IDS)) == 120
    assert list(BREED_IDS) == sorted(BREED_IDS)  # WordNet order == ImageNet order
    assert len(IMAGENET_INDICES) == 120 and 251 not in IMAGENET_INDICES
    assert IMAGENET_INDICES[BREED_IDS.index("n02110958-pug")] == 254


@pytest.mark.parametrize(
    "spelling",
    ["n02092002-Scottish_deerhound", "Scottish_deerhound", "scottish deerhound", "n02092002", " Scottish-Deerhound "],
)
def test_folder_spellings_resolve(spelling: str) -> None:
    assert resolve_breed(spelling) == "n02092002-Scottish_deerhound"


def test_unknown_breed_lists_closest_names() -> None:
    with pytest.raises(UnknownBreedError, match="Scottish deerhound"):
        resolve_breed("scotish deerhund")
    with pytest.raises(UnknownBreedError, match="not one of the 120"):
        resolve_breed("labradoodle xyz qq")


def test_human_names() -> None:
    assert human_name("n02092002-Scottish_deerhound") == "Scottish deerhound"
    assert human_name("n02093256-Staffordshire_bullterrier") == "Staffordshire bullterrier"
    assert human_name("n02097658-silky_terrier") == "silky terrier"


def test_folder_tree_maps_every_spelling(tiny_tree: Path) -> None:
    data = load_folder_tree(tiny_tree)
    assert len(data) == 24
    assert set(data.counts()) == {breed_index("Scottish deerhound"), breed_index("pug"), breed_index("Siberian husky")}


def test_folder_tree_with_unknown_folder_fails_clearly(tmp_path: Path) -> None:
    (tmp_path / "goldn retriver").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "goldn retriver" / "a.jpg")
    with pytest.raises(UnknownBreedError, match="golden retriever"):
        load_folder_tree(tmp_path)


def test_empty_folder_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no photos"):
        load_folder_tree(tmp_path)


def test_stanford_layout_with_boxes_and_lists(tiny_stanford: Path) -> None:
    train = load_samples(tiny_stanford, "train")  # Images/ is whole photos: boxes come along
    test = load_stanford(tiny_stanford, "test")
    assert len(train) == 8 and len(test) == 4
    assert not {s.path for s in train.samples} & {s.path for s in test.samples}
    assert train.samples[0].box == (10.0, 20.0, 60.0, 70.0) and train.samples[0].box_frame == (100, 80)
    with pytest.raises(ValueError, match="Stanford"):
        load_samples(tiny_stanford / "Images", "test")


def test_mat_lists_are_read(tiny_stanford: Path, tmp_path: Path) -> None:
    scipy_io = pytest.importorskip("scipy.io")
    root = tmp_path / "orig"
    (root / "lists").mkdir(parents=True)
    (root / "Images").symlink_to(tiny_stanford / "Images")
    files = read_split_list(tiny_stanford, "test")
    import numpy as np

    cells = np.empty((len(files), 1), dtype=object)  # a MATLAB cell array, as in the original archive
    for i, f in enumerate(files):
        cells[i, 0] = f
    scipy_io.savemat(root / "lists" / "test_list.mat", {"file_list": cells})
    assert read_split_list(root, "test") == files


def test_stratified_split_is_seeded_and_keeps_every_breed(tiny_tree: Path) -> None:
    data = load_folder_tree(tiny_tree)
    a_train, a_val = stratified_split(data, val_fraction=0.25, seed=3)
    b_train, b_val = stratified_split(data, val_fraction=0.25, seed=3)
    _, c_val = stratified_split(data, val_fraction=0.25, seed=4)
    assert [s.path for s in a_val.samples] == [s.path for s in b_val.samples]
    assert {s.path for s in a_val.samples} != {s.path for s in c_val.samples}
    assert a_val.counts() == {label: 2 for label in data.counts()}
    assert len(a_train) + len(a_val) == len(data)


def test_one_photo_breed_gets_a_clear_message(tmp_path: Path) -> None:
    data = SampleSet("x", [Sample(tmp_path / "a.jpg", 0), Sample(tmp_path / "b.jpg", 5), Sample(tmp_path / "c.jpg", 5)])
    with pytest.raises(TooFewPhotosError, match="Chihuahua"):
        stratified_split(data)


def test_box_crop_keeps_margin_within_the_photo_and_rescales() -> None:
    img = Image.new("RGB", (200, 160))
    assert crop_to_box(img, (10, 20, 60, 70), frame=(100, 80), margin=0.0).size == (100, 100)
    assert crop_to_box(img, (0, 0, 50, 50), margin=0.2).size == (60, 60)  # clipped at the top-left corner
    assert crop_to_box(img, (5, 5, 5, 5)).size == (200, 160)  # a degenerate box keeps the photo


def test_eval_transform_matches_timm_preprocessing() -> None:
    pytest.importorskip("timm")
    import numpy as np
    import timm.data

    level = 1 / 255 / 0.5  # one pixel level after normalisation
    for path in sorted(EXAMPLES.glob("*.jpg")):  # crops, whole frames of several shapes, a cat
        img = Image.open(path).convert("RGB")
        for cfg in (Preprocess(input_size=224, crop_pct=0.875), Preprocess(input_size=260, crop_pct=0.89)):
            ours = eval_transform(cfg)(img)
            theirs = timm.data.create_transform(
                input_size=cfg.input_size, crop_pct=cfg.crop_pct, interpolation="bicubic", mean=cfg.mean, std=cfg.std
            )(img).numpy()
            assert ours.shape == theirs.shape == (3, cfg.input_size, cfg.input_size)
            off = np.abs(ours - theirs)  # only the rounding of filter-window edges may differ (transforms docstring)
            assert off.max() < 2.01 * level and (off > 1e-5).mean() < 1e-3, (path.name, cfg)
            if img.size == (224, 224) and cfg.input_size == 224:
                assert off.max() < 1e-5  # the shared crops for lite0: the very same pixels


def test_normalising_pixel_batches_is_bitwise_the_arithmetic() -> None:
    import numpy as np

    cfg = Preprocess(input_size=64, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    img = Image.fromarray(np.random.default_rng(1).integers(0, 256, (90, 120, 3), dtype=np.uint8))
    batch = np.stack([pixels(img, cfg), pixels(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), cfg)])
    assert batch.dtype == np.uint8 and batch.shape == (2, 64, 64, 3)
    expected = (batch.astype(np.float32) * (1.0 / 255.0) - np.float32(cfg.mean)) / np.float32(cfg.std)
    assert np.array_equal(normalise_pixels(batch, cfg), expected.transpose(0, 3, 1, 2))
    assert np.array_equal(eval_transform(cfg)(img), expected[0].transpose(2, 0, 1))
    assert Preprocess(mean=[0.5, 0.5, 0.5]).mean == (0.5, 0.5, 0.5)  # lists from YAML or JSON become tuples
    with pytest.raises(TypeError, match="expected uint8 pixels"):
        normalise_pixels(batch.astype(np.float32), cfg)


@needs_shared
def test_shared_dataset_official_split() -> None:
    train, test = load_stanford(SHARED, "train"), load_stanford(SHARED, "test")
    assert len(train) == 12_000 and len(test) == 8_580
    assert set(train.counts().values()) == {100}
    boxes, frame = read_annotation(SHARED / "Annotation" / "n02085620-Chihuahua" / "n02085620_2650")
    assert boxes == [(108.0, 87.0, 405.0, 303.0)] and frame == (500, 333)

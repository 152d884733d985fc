"""``dogbreeds data summary`` and ``data preview`` on small folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from dogbreeds.cli import main

from .conftest import make_photo


def test_summary_counts_breeds_and_lists_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        make_photo(tmp_path / "pug" / f"{i}.jpg", (0, 0, 0), size=(50 + i, 40))
    make_photo(tmp_path / "beagle" / "a.png", (9, 9, 9))
    (tmp_path / "beagle" / "broken.jpg").write_bytes(b"")
    assert main(["data", "summary", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["photos"] == 5 and summary["breeds"] == 2
    assert summary["per_breed"] == {"n02088364-beagle": 2, "n02110958-pug": 3}
    assert summary["shorter_side"] == {"min": 40, "median": 40, "max": 48}
    assert list(summary["unreadable"].values()) == ["empty file (0 bytes)"]
    assert main(["data", "summary", str(tmp_path)]) == 0
    assert "1 unreadable file," in capsys.readouterr().out


def test_preview_writes_a_titled_grid(tiny_tree: Path, tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    out = tmp_path / "grid.png"
    assert main(["data", "preview", str(tiny_tree), "--out", str(out), "--n", "6", "--size", "64"]) == 0
    with Image.open(out) as grid:
        assert grid.size == (4 * 64, 2 * (64 + 18))


def test_preview_tiles_are_what_training_augmentation_makes(tiny_tree: Path, tmp_path: Path) -> None:
    """Each tile is the training augmentation (training's framing, then its random resized crop) of its photo."""
    pytest.importorskip("torch")
    import random

    import numpy as np

    from dogbreeds.core.transforms import Preprocess
    from dogbreeds.data.decoded import frame_sample
    from dogbreeds.data.folders import load_samples
    from dogbreeds.training.config import TrainConfig
    from dogbreeds.training.preview import TITLE_HEIGHT, augmented

    out = tmp_path / "grid.png"
    assert main(["data", "preview", str(tiny_tree), "--out", str(out), "--n", "4", "--size", "32", "--seed", "3"]) == 0
    picks = random.Random(3).sample(load_samples(tiny_tree).samples, 4)
    frames = np.stack([frame_sample(s, Preprocess(input_size=32)) for s in picks])
    expected = augmented(frames, 32, crop_scale_min=TrainConfig.crop_scale_min, seed=3)
    with Image.open(out) as grid:
        tiles = [np.asarray(grid.crop((i * 32, TITLE_HEIGHT, i * 32 + 32, TITLE_HEIGHT + 32))) for i in range(4)]
    assert all(np.array_equal(t, e) for t, e in zip(tiles, expected, strict=True))
    assert not np.array_equal(expected[0], frames[0])  # cropped, not the framed photo itself

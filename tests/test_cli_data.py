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
    assert "1 unreadable file(s)" in capsys.readouterr().out


def test_preview_writes_a_titled_grid(tiny_tree: Path, tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    out = tmp_path / "grid.png"
    assert main(["data", "preview", str(tiny_tree), "--out", str(out), "--n", "6", "--size", "64"]) == 0
    with Image.open(out) as grid:
        assert grid.size == (4 * 64, 2 * (64 + 18))


def test_train_transform_parameters_switch_off_each_augmentation() -> None:
    pytest.importorskip("torchvision")
    from torchvision import transforms as T

    from dogbreeds.core.transforms import Preprocess
    from dogbreeds.data.preview import train_transform

    names = lambda t: [type(s).__name__ for s in t.transforms]  # noqa: E731
    full = train_transform(Preprocess(input_size=32))
    bare = train_transform(Preprocess(input_size=32), hflip=0, shift=0, rotation=0, zoom=0, brightness=0, contrast=0)
    assert names(full) == [
        "RandomResizedCrop",
        "RandomHorizontalFlip",
        "RandomAffine",
        "ColorJitter",
        "ToTensor",
        "Normalize",
    ]
    assert names(bare) == ["RandomResizedCrop", "ToTensor", "Normalize"]
    assert tuple(full(Image.new("RGB", (50, 40))).shape) == (3, 32, 32)
    assert isinstance(full.transforms[0], T.RandomResizedCrop)

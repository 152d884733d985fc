"""End to end on the real photos of ../shared (skipped when it is absent)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dogbreeds.cli import main

from .conftest import SHARED, needs_shared

pytest.importorskip("torch")
BREEDS = [
    "n02085620-Chihuahua",
    "n02092002-Scottish_deerhound",
    "n02099601-golden_retriever",
    "n02110958-pug",
    "n02113799-standard_poodle",
]


def _copy(split: str, per_breed: int, dest: Path) -> Path:
    """A folder-per-breed tree of the first photos of the official list (human folder names, spaces and all)."""
    rows = [line.split("\t")[0] for line in (SHARED / "lists" / f"{split}_list.txt").read_text().splitlines()]
    for breed in BREEDS:
        folder = dest / breed.split("-", 1)[1].replace("_", " ").lower()
        folder.mkdir(parents=True)
        for rel in [r for r in rows if r.startswith(breed + "/")][:per_breed]:
            shutil.copy(SHARED / "crops224" / rel, folder / Path(rel).name)
    return dest


@needs_shared
def test_head_on_5_breeds_x_20_photos_scores_far_above_chance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    train, test = _copy("train", 20, tmp_path / "train"), _copy("test", 10, tmp_path / "test")
    ckpt = tmp_path / "ckpt"
    args = [
        "train",
        "--data",
        str(train),
        "--out",
        str(ckpt),
        "--backbone",
        "tf_efficientnet_lite0",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-flip",
    ]
    assert main(args) == 0
    assert main(["evaluate", "--data", str(test), "--model", str(ckpt), "--json-out", str(tmp_path / "m.json")]) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n"] == 50
    assert metrics["top1"] >= 0.8  # chance is 1/120 over the 120-way output, 1/5 among these breeds

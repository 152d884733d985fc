"""Near-duplicate detection: copies survive re-encoding and resizing; different photos do not match."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from dogbreeds.evaluation.leakage import dhash, hash_files, near_duplicates


def _scene(seed: int) -> Image.Image:
    """A smooth random scene (like a photo, unlike white noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((320, 240), Image.Resampling.BICUBIC)


def test_reencoded_and_resized_copies_match_other_photos_do_not(tmp_path: Path) -> None:
    original = _scene(1)
    original.save(tmp_path / "a.png")
    original.resize((160, 120)).save(tmp_path / "a_small.jpg", quality=70)
    for seed in range(2, 7):
        _scene(seed).save(tmp_path / f"other{seed}.png")
    paths = sorted(tmp_path.iterdir())
    pairs = near_duplicates(paths, hash_files(paths))
    assert [(Path(p.a).name, Path(p.b).name) for p in pairs] == [("a.png", "a_small.jpg")]
    assert bin(dhash(_scene(1)) ^ dhash(_scene(2))).count("1") > 10


def test_unreadable_files_are_never_reported(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").write_bytes(b"")
    (tmp_path / "y.jpg").write_bytes(b"")
    paths = [tmp_path / "x.jpg", tmp_path / "y.jpg"]
    assert near_duplicates(paths, hash_files(paths)) == []


def _mini_stanford(root: Path) -> Path:
    """Two breeds of smooth scenes; test photo ``c`` of the pug is a re-encoded copy of a training photo."""
    lines: dict[str, list[str]] = {"train": [], "test": []}
    for label, breed in enumerate(["n02092002-Scottish_deerhound", "n02110958-pug"], start=1):
        (root / "Images" / breed).mkdir(parents=True)
        for i in range(5):
            split = "train" if i < 3 else "test"
            rel = f"{breed}/{i}.jpg"
            _scene(10 * label + i).save(root / "Images" / rel)
            lines[split].append(f"{rel}\t{label}")
    _scene(10 * 2 + 0).resize((200, 150)).save(root / "Images" / "n02110958-pug" / "c.jpg", quality=60)
    lines["test"].append("n02110958-pug/c.jpg\t2")
    (root / "lists").mkdir()
    for split, rows in lines.items():
        (root / "lists" / f"{split}_list.txt").write_text("\n".join(rows) + "\n")
    return root


def test_evaluate_reports_leakage_against_the_training_split(tmp_path: Path, capsys) -> None:
    from dogbreeds.cli import main

    root = _mini_stanford(tmp_path / "dogs")
    args = [
        "evaluate",
        "--data",
        str(root),
        "--split",
        "test",
        "--leakage",
        "--json-out",
        str(tmp_path / "m.json"),
        "--duplicates",
        str(tmp_path / "d.csv"),
    ]
    assert main(args) == 0
    assert json.loads((tmp_path / "m.json").read_text())["near_duplicates"] == {"within": 0, "against_train": 1}
    (row,) = csv.DictReader(open(tmp_path / "d.csv"))
    assert (
        row["kind"] == "against_train" and row["photo"].endswith("c.jpg") and row["duplicate_of"].endswith("pug/0.jpg")
    )
    assert "near-duplicates against the training photos: 1 pair\n" in capsys.readouterr().out


def test_popcount_without_numpy_2_counts_the_same_bits() -> None:
    """``np.bitwise_count`` needs NumPy 2; the table NumPy 1 falls back on must agree with it and with Python."""
    from dogbreeds.data.images import popcount, popcount_table

    rng = np.random.default_rng(0)
    x = rng.integers(0, 2**63, size=(7, 5), dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    x[0, 0], x[0, 1] = np.uint64(0), np.uint64(2**64 - 1)
    expected = np.array([[bin(int(v)).count("1") for v in row] for row in x])
    assert (popcount_table(x) == expected).all() and (popcount(x) == expected).all()

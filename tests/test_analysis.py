"""Error analysis against hand-computed cases, and its files are real, sensibly sized pictures."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dogbreeds.cli import main
from dogbreeds.core.breeds import BREED_IDS
from dogbreeds.evaluation.analysis import (
    confusion_matrix,
    load_predictions,
    most_confused,
    per_class_report,
    reliability_bins,
)

from .conftest import make_photo


def test_confusion_counts_f1_and_most_confused_by_hand() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    preds = np.array([0, 0, 1, 1, 0, 1])
    m = confusion_matrix(labels, preds, num_classes=3)
    assert m.tolist() == [[2, 1, 0], [1, 1, 0], [0, 1, 0]]
    report = {r["breed"]: r for r in per_class_report(m)}
    # class 0: precision 2/3, recall 2/3 -> F1 2/3; class 1: precision 1/3, recall 1/2 -> F1 0.4; class 2: 0
    assert report[BREED_IDS[0]]["f1"] == pytest.approx(2 / 3)
    assert report[BREED_IDS[1]]["f1"] == pytest.approx(0.4)
    assert report[BREED_IDS[2]]["f1"] == 0 and report[BREED_IDS[2]]["support"] == 1
    pairs = most_confused(m, top=5)
    assert [p["count"] for p in pairs] == [1, 1, 1] and len(pairs) == 3


def test_reliability_bins_count_every_prediction() -> None:
    conf = np.array([0.05, 0.5, 0.51, 0.99, 1.0])
    bins = reliability_bins(conf, np.array([0, 1, 0, 1, 1], bool), bins=10)
    assert sum(b["count"] for b in bins) == 5
    assert bins[9]["count"] == 2 and bins[9]["accuracy"] == 1.0


def _predictions_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "preds.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "label", "pred", "probability", "loss"])
        w.writeheader()
        for i in range(60):
            label = int(rng.integers(0, 6))
            pred = label if rng.random() < 0.7 else int(rng.integers(0, 6))
            photo = make_photo(tmp_path / "photos" / f"{i}.jpg", (i * 4, 100, 50))
            prob = float(rng.uniform(0.3, 1))
            w.writerow(
                {
                    "path": photo,
                    "label": BREED_IDS[label],
                    "pred": BREED_IDS[pred],
                    "probability": prob,
                    "loss": -np.log(prob if pred == label else 1 - prob + 1e-3),
                }
            )
    return path


def test_analyze_writes_report_and_valid_pictures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    preds = _predictions_csv(tmp_path)
    assert len(load_predictions(preds).paths) == 60
    assert main(["analyze", str(preds), "--out", str(tmp_path / "out")]) == 0
    assert "most confused" in capsys.readouterr().out
    for name in ("confusion.png", "reliability.png", "top_losses.png"):
        with Image.open(tmp_path / "out" / name) as img:
            img.verify()
        with Image.open(tmp_path / "out" / name) as img:
            assert min(img.size) >= 300, name
    md = (tmp_path / "out" / "analysis.md").read_text()
    assert "Most-confused pairs" in md and "60 photos" in md
    rows = list(csv.DictReader(open(tmp_path / "out" / "per_breed.csv")))
    assert len(rows) == 6 and float(rows[0]["f1"]) <= float(rows[-1]["f1"])


def test_analyze_rejects_a_file_that_is_not_predictions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    assert main(["analyze", str(tmp_path / "x.csv")]) == 2
    assert "not a predictions file" in capsys.readouterr().err

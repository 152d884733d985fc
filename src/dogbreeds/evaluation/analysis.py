"""Error analysis from saved per-photo predictions (``evaluate --predictions``): never needs the model again.

Per-breed precision, recall and F1; the confusion counts and the most-confused pairs; calibration (reliability
bins and ECE); and the pictures a person would rather look at than read (see :mod:`dogbreeds.evaluation.plots`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.breeds import BREED_IDS, NUM_BREEDS, class_list, human_name
from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _
from dogbreeds.core.metrics import confidence_bin, expected_calibration_error


@dataclass
class Predictions:
    """Columns of a predictions file, as arrays (breeds as indices into ``classes``: the 120, then any others)."""

    paths: list[str]
    labels: np.ndarray
    preds: np.ndarray
    probability: np.ndarray  # top-1 probability
    loss: np.ndarray
    classes: tuple[str, ...] = BREED_IDS

    @property
    def correct(self) -> np.ndarray:
        return self.labels == self.preds


def load_predictions(path: str | Path) -> Predictions:
    """Read a CSV or Parquet file written by ``dogbreeds evaluate --predictions``."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    else:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    missing = {"path", "label", "pred", "probability", "loss"} - set(rows[0] if rows else {})
    if not rows or missing:
        raise UsageError(
            _(
                "{path} is not a predictions file (empty, or missing columns {missing})",
                path=path,
                missing=sorted(missing),
            )
        )
    classes = class_list({r["label"] for r in rows} | {r["pred"] for r in rows})
    index = {c: i for i, c in enumerate(classes)}
    return Predictions(
        paths=[r["path"] for r in rows],
        labels=np.array([index[r["label"]] for r in rows]),
        preds=np.array([index[r["pred"]] for r in rows]),
        probability=np.array([float(r["probability"]) for r in rows]),
        loss=np.array([float(r["loss"]) for r in rows]),
        classes=classes,
    )


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int = NUM_BREEDS) -> np.ndarray:
    """``m[true, predicted]`` counts."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (labels, preds), 1)
    return m


def per_class_report(confusion: np.ndarray, classes: tuple[str, ...] = BREED_IDS) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of every class that appears (as truth or as prediction)."""
    tp = np.diag(confusion).astype(float)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    rows = []
    for i in np.flatnonzero((support + predicted) > 0):
        precision = tp[i] / predicted[i] if predicted[i] else 0.0
        recall = tp[i] / support[i] if support[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {
                "breed": classes[i],
                "name": human_name(classes[i]),
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": int(support[i]),
            }
        )
    return rows


def most_confused(
    confusion: np.ndarray, *, top: int = 20, min_count: int = 1, classes: tuple[str, ...] = BREED_IDS
) -> list[dict[str, Any]]:
    """The (true, predicted) pairs with the most mistakes, most first (fastai's ``most_confused``)."""
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None)[:top]
    pairs = []
    for flat in order:
        t, p = np.unravel_index(flat, off.shape)
        if off[t, p] < min_count:
            break
        pairs.append({"true": human_name(classes[t]), "predicted": human_name(classes[p]), "count": int(off[t, p])})
    return pairs


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, *, bins: int = 15) -> list[dict[str, float]]:
    """Per equal-width confidence bin: count, mean confidence and accuracy (the reliability diagram's bars)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = confidence_bin(confidence, bins)
    out = []
    for b in range(bins):
        mask = which == b
        out.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": int(mask.sum()),
                "confidence": float(confidence[mask].mean()) if mask.any() else float("nan"),
                "accuracy": float(correct[mask].mean()) if mask.any() else float("nan"),
            }
        )
    return out


def summarise_predictions(p: Predictions) -> dict[str, Any]:
    """Headline numbers of a predictions file."""
    return {
        "n": len(p.paths),
        "top1": float(p.correct.mean()),
        "loss": float(p.loss.mean()),
        "ece": expected_calibration_error(p.probability, p.correct),
    }

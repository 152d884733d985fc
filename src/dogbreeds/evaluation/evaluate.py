"""``dogbreeds evaluate``: top-1, top-5, loss and per-photo predictions on a labelled folder."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.breeds import display_name, human_name
from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _
from dogbreeds.core.metrics import classification_metrics
from dogbreeds.core.parallel import BATCH_SIZE, batched, map_ahead
from dogbreeds.core.progress import progress
from dogbreeds.core.transforms import crop_to_box
from dogbreeds.data.folders import load_samples
from dogbreeds.data.images import UnreadableImage, load_rgb
from dogbreeds.data.samples import Sample
from dogbreeds.inference.predictor import Predictor

PREDICTION_COLUMNS = [
    "path",
    "label",
    "label_name",
    "pred",
    "pred_name",
    "probability",
    "p_true",
    "correct",
    "top5",
    "loss",
    "dog_probability",
    "familiarity",
    "verdict",
]


@dataclass
class EvalResult:
    metrics: dict[str, Any]
    rows: list[dict[str, Any]]
    errors: dict[str, str]


def evaluate_samples(
    predictor: Predictor, samples: list[Sample], *, batch_size: int = BATCH_SIZE, box_margin: float | None = None
) -> EvalResult:
    """Predict every sample; metrics count readable photos only (unreadable ones are listed in ``errors``).

    ``box_margin`` crops to each sample's annotated box first (with that margin), when it has one. Labels are
    matched to the model's classes by breed id, so a tree with breeds of its own is scored by a model that knows
    them.

    Raises:
        UsageError: a breed of the photos is not among the model's classes.
    """
    index = {c: i for i, c in enumerate(predictor.card.classes)}
    unknown = sorted({s.breed_id for s in samples} - set(index))
    if unknown:
        raise UsageError(_("the model does not know {names}: evaluate it on the breeds it was trained on",
                           names=", ".join(display_name(b) for b in unknown[:5])))  # fmt: skip

    def load(s: Sample) -> np.ndarray | str:
        try:
            img = load_rgb(s.path, min_size=predictor.card.preprocess.resize_to if box_margin is None else None)
            if box_margin is not None and s.box:
                img = crop_to_box(img, s.box, frame=s.box_frame, margin=box_margin)
            return predictor.transform(img)
        except UnreadableImage as err:
            return str(err)

    logits: list[np.ndarray] = []
    dog: list[np.ndarray] = []
    known: list[np.ndarray] = []
    kept: list[Any] = []
    errors: dict[str, str] = {}
    loaded = map_ahead(lambda s: (s, load(s)), samples, ahead=4 * batch_size)
    with progress(_("evaluating"), total=len(samples), unit=_("photos")) as bar:
        for part in batched(loaded, batch_size):
            errors.update({str(s.path): a for s, a in part if isinstance(a, str)})
            good = [(s, a) for s, a in part if not isinstance(a, str)]
            if good:
                out = predictor.run_pixels(np.stack([a for _, a in good]))
                logits.append(out.logits / predictor.card.temperature)
                dog.append(out.dog_probability)
                known.append(out.familiarity if out.familiarity is not None else np.full(len(good), np.nan))
                kept.extend(s for s, _ in good)
            bar.advance(len(part))
    z = np.concatenate(logits) if logits else np.zeros((0, len(index)), np.float32)
    labels = np.array([index[s.breed_id] for s in kept], dtype=np.int64)
    metrics = classification_metrics(z, labels)
    metrics["unreadable"] = len(errors)
    rows = _rows(predictor, kept, z, *(np.concatenate(a) if a else np.zeros(0) for a in (dog, known)))
    return EvalResult(metrics, rows, errors)


def _rows(
    predictor: Predictor, samples: list[Sample], logits: np.ndarray, dog: np.ndarray, known: np.ndarray
) -> list[dict[str, Any]]:
    from dogbreeds.core.metrics import softmax

    probs = softmax(logits) if len(logits) else logits
    index = {c: i for i, c in enumerate(predictor.card.classes)}
    rows = []
    for i, s in enumerate(samples):
        pred = predictor.describe(str(s.path), probs[i], float(dog[i]), 5, float(known[i]))
        label = index[s.breed_id]
        rows.append(
            {
                "path": pred.path,
                "label": s.breed_id,
                "label_name": human_name(s.breed_id),
                "pred": pred.breed,
                "pred_name": pred.name,
                "probability": round(float(pred.probability or 0.0), 6),
                "p_true": round(float(probs[i, label]), 6),
                "correct": pred.breed == s.breed_id,
                "top5": "|".join(k["breed"] for k in pred.top_k),
                "loss": round(float(-np.log(max(probs[i, label], 1e-12))), 6),
                "dog_probability": None if np.isnan(dog[i]) else round(float(dog[i]), 6),
                "familiarity": None if pred.familiarity is None else round(pred.familiarity, 6),
                "verdict": pred.verdict,
            }
        )
    return rows


def write_predictions(rows: list[dict[str, Any]], path: Path) -> None:
    """Per-photo predictions as CSV, or Parquet when the name ends in ``.parquet`` (needs pyarrow)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
        return
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=PREDICTION_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def evaluate(
    data: str | Path,
    *,
    model: str | Path | None = None,
    split: str | None = None,
    images: str | None = None,
    box_margin: float | None = None,
    limit_per_class: int | None = None,
    batch_size: int = BATCH_SIZE,
    backend: str = "auto",
    precision: str = "auto",
) -> EvalResult:
    """Evaluate a model on a Stanford Dogs split or on a folder-per-breed tree (with any inference backend)."""
    predictor = Predictor(model, backend=backend, precision=precision)
    samples = load_samples(data, split, images=images, also=predictor.card.classes).limit_per_class(limit_per_class)
    return evaluate_samples(predictor, samples.samples, batch_size=batch_size, box_margin=box_margin)

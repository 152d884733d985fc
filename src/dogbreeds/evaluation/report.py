"""``dogbreeds report``: models side by side, the studies' "scratch vs transfer" slide done properly.

Each model is a checkpoint folder, an ``.onnx`` file with its card, ``default`` (the shipped model) or an MLflow
run id (its checkpoint is found through the run's ``out`` parameter). For each: test top-1, top-5, loss and ECE
(evaluated on ``--data`` once, then cached in the report folder by model id), training time, parameters,
inference images/s on this machine, the most-confused pairs; learning curves overlaid. The page is written by
:mod:`dogbreeds.evaluation.report_page` as ``index.html`` and ``report.md`` with its PNGs beside them (opens offline).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.card import CARD_NAME, load_card
from dogbreeds.core.errors import NotFoundError
from dogbreeds.core.i18n import _
from dogbreeds.evaluation.report_entry import ModelEntry
from dogbreeds.inference.predictor import Predictor, default_model_path, resolve_model_path


def resolve_entry(spec: str, *, tracking_uri: str | None = None) -> ModelEntry:
    """A model from a checkpoint folder, an ``.onnx`` file, ``default``, or an MLflow run id."""
    path = Path(spec)
    run_id = None
    if spec in ("default", "shipped"):
        path = default_model_path()
    elif not path.exists():
        path, run_id = _checkpoint_of_run(spec, tracking_uri), spec
    onnx = resolve_model_path(path)
    folder = path if path.is_dir() else None
    label = "shipped default" if onnx == default_model_path() else (folder or onnx).name
    return ModelEntry(label=label, onnx=onnx, card=load_card(onnx), folder=folder, run_id=run_id)


def _checkpoint_of_run(run_id: str, tracking_uri: str | None) -> Path:
    from dogbreeds.training.tracking import list_runs

    runs = {r["run_id"]: r for r in list_runs(tracking_uri)}
    if run_id not in runs:
        raise NotFoundError(
            _("{run_id!r} is neither a checkpoint, an .onnx file, nor a run in the MLflow store", run_id=run_id)
        )
    out = Path(runs[run_id]["params"].get("out", ""))
    if not (out / CARD_NAME).exists():
        raise NotFoundError(_("run {run_id} wrote no checkpoint at {out}", run_id=run_id, out=out))
    return out


def count_onnx_parameters(path: Path) -> int | None:
    """Parameters of a graph: the elements of its weight initialisers (None when the onnx package is missing)."""
    try:
        import onnx
    except ImportError:
        return None
    graph = onnx.load(str(path), load_external_data=False).graph
    return int(sum(np.prod(t.dims) for t in graph.initializer if len(t.dims) > 0))


def training_seconds(entry: ModelEntry, tracking_uri: str | None = None) -> float | None:
    """Epochs' wall time from the card, else from the run's MLflow record (start to last epoch's metrics);
    embedding + fitting time for feature extraction."""
    if entry.history and all("seconds" in h for h in entry.history):
        return float(sum(h["seconds"] for h in entry.history))
    if entry.history and entry.folder is not None:
        seconds = _mlflow_epochs_seconds(entry.folder, tracking_uri)
        if seconds is not None:
            return seconds
    t = entry.card.training
    if "seconds_embedding" in t:
        return float(t["seconds_embedding"]) + float(t.get("seconds_fitting", 0.0))
    return None


def _mlflow_epochs_seconds(folder: Path, tracking_uri: str | None) -> float | None:
    """From the run's start to its last per-epoch metric, as MLflow recorded them (None if it cannot tell)."""
    state = folder / "last" / "state.json"
    run_id = json.loads(state.read_text()).get("mlflow_run_id") if state.exists() else None
    if not run_id:
        return None
    try:
        import mlflow

        from dogbreeds.training.tracking import default_tracking_uri

        client = mlflow.MlflowClient(tracking_uri or default_tracking_uri())
        start = client.get_run(run_id).info.start_time
        history = client.get_metric_history(run_id, "val_loss")
    except Exception:  # no MLflow, another store, a deleted run: the time is simply unknown
        return None
    return (max(m.timestamp for m in history) - start) / 1000 if history else None


def inference_speed(predictor: Predictor, *, batch: int = 16, seconds: float = 3.0) -> float:
    """Images/s of the model alone on a fixed batch of pixels (decoding excluded; normalising included, in the
    graph on OpenVINO), after one warm-up batch; one pass per photo (random pixels would all fall under a card's
    ``mirror_below``: real photos mostly do not)."""
    size = predictor.card.preprocess.input_size
    mirror_below, predictor.card.mirror_below = predictor.card.mirror_below, 0.0
    try:
        return _timed(predictor, np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8),
                      seconds)  # fmt: skip
    finally:
        predictor.card.mirror_below = mirror_below


def _timed(predictor: Predictor, x: np.ndarray, seconds: float) -> float:
    batch = len(x)
    predictor.run_pixels(x)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        predictor.run_pixels(x)
        done += batch
    return done / (time.perf_counter() - started)


def _runtime_of(entry: ModelEntry) -> str:
    """ONNX Runtime, or the runtime an int8 copy was made for: each model measured where it runs best."""
    from dogbreeds.inference.backends import QUANTIZED_FOR

    return QUANTIZED_FOR.get(entry.card.model_args.get("quantization", ""), "onnx")


def evaluate_entry(entry: ModelEntry, samples: list[Any], cache: Path, fingerprint: str) -> None:
    """Test metrics and most-confused pairs; predictions are cached in ``cache`` for this model id and data."""
    from dogbreeds.core.files import content_hash
    from dogbreeds.evaluation.analysis import confusion_matrix, load_predictions, most_confused
    from dogbreeds.evaluation.evaluate import evaluate_samples, write_predictions

    cache.mkdir(parents=True, exist_ok=True)
    meta, predictions = cache / "metrics.json", cache / "predictions.csv"
    # the graph's bytes, not only the card's id: a model retrained into the same folder must be evaluated again
    key = {"model_id": entry.card.id, "onnx_sha256": content_hash(entry.onnx), "data": fingerprint,
           "backend": _runtime_of(entry)}  # fmt: skip
    cached = json.loads(meta.read_text()) if meta.exists() else {}
    if cached.get("key") != key or not predictions.exists():
        predictor = Predictor(entry.onnx, backend=_runtime_of(entry), precision="fp32")
        result = evaluate_samples(predictor, samples, batch_size=32)
        write_predictions(result.rows, predictions)
        cached = {"key": key, "metrics": result.metrics}
        meta.write_text(json.dumps(cached, indent=2))
    entry.test = cached["metrics"]
    p = load_predictions(predictions)
    entry.confused = most_confused(confusion_matrix(p.labels, p.preds, len(p.classes)), top=5, classes=p.classes)


def build_report(
    specs: list[str], out: Path, *, data: str | None = None, split: str | None = "test", images: str | None = None,
    tracking_uri: str | None = None, speed_seconds: float = 3.0,
) -> list[ModelEntry]:  # fmt: skip
    """Collect every model's numbers and write the page; returns the entries."""
    from dogbreeds.data.folders import load_samples
    from dogbreeds.evaluation.report_page import write_page

    entries = [resolve_entry(s, tracking_uri=tracking_uri) for s in specs]
    seen: dict[str, int] = {}
    for e in entries:  # unique labels: they name folders and legend lines
        seen[e.label] = seen.get(e.label, 0) + 1
        if seen[e.label] > 1:
            e.label = f"{e.label} ({seen[e.label]})"
    out.mkdir(parents=True, exist_ok=True)
    samples = load_samples(data, split, images=images) if data else None
    for i, e in enumerate(entries):
        e.parameters = e.card.model_args.get("parameters") or count_onnx_parameters(e.onnx)
        e.train_seconds = training_seconds(e, tracking_uri)
        # one pass per photo on ONNX Runtime (an int8 copy on the runtime it was made for): reports before the
        # one-view graphs timed flip-averaging graphs, two passes per photo
        predictor = Predictor(e.onnx, backend=_runtime_of(e), precision="fp32")  # an int8 file runs as it is
        e.images_per_second = inference_speed(predictor, seconds=speed_seconds)
        if samples is not None:
            data_key = f"{Path(data).resolve()}|{split}|{images}|{samples.fingerprint()}"  # type: ignore[arg-type]
            evaluate_entry(e, samples.samples, out / "models" / f"{i:02d}", data_key)
    write_page(entries, out, data_name=f"{Path(data).name} ({split or 'all'})" if data else None)
    return entries

"""The retrieval projection: what ``similar`` compares instead of the raw pooled features.

The backbone's pooled features were learnt for ImageNet's 1,000 classes: two photos of one breed in different
poses or light can sit further apart than two breeds in the same pose. A linear discriminant projection (LDA),
fitted on the training photos' features and their breeds, keeps the directions along which breeds differ and
shrinks those along which photos of one breed vary, so the nearest catalogued photo more often shows the same
breed; its ``classes - 1`` dimensions (119 for the 120 breeds) also make the stored index ten times smaller than
the 1,280 raw dimensions, so reading and searching it is that much faster. docs/results.md measures both, side
by side, with the command.

The projection lives beside the model (``<model>.retrieval.npz``, named by the card's ``retrieval`` field) and
belongs to it: ``dogbreeds fit-retrieval`` writes it. A model without one embeds with its raw features.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dogbreeds.core.card import RETRIEVAL_SUFFIX as SUFFIX
from dogbreeds.core.card import ModelCard, sidecar_path
from dogbreeds.core.errors import ModelCardError
from dogbreeds.core.files import write_bytes_atomic
from dogbreeds.core.i18n import _

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from dogbreeds.inference.predictor import Predictor

MAX_BYTES = 64 << 20  # a projection of a few thousand dimensions; a bigger file is not ours
SHRINKS = (0.003, 0.01, 0.03, 0.1)  # within-breed covariance shrunk towards its mean variance by this share


@dataclass(frozen=True)
class Projection:
    """``features -> unit((unit(features) - mean) @ matrix)``."""

    mean: np.ndarray  # D
    matrix: np.ndarray  # D x K

    @property
    def dims(self) -> int:
        return int(self.matrix.shape[1])

    def __call__(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, np.float32)
        x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)  # as fitted: unit features
        z = (x - self.mean) @ self.matrix
        return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)


def load_projection(card: ModelCard) -> Projection | None:
    """The card's projection, checked: a model handed to us may carry a damaged or hostile file.

    Raises:
        ModelCardError: the file is missing, too big, not a plain array file, or its arrays do not fit.
    """
    path = sidecar_path(card)
    if path is None:
        return None
    if not path.exists() and not path.is_symlink():  # a model copied without it: it still classifies
        log.warning(_("{path} is missing beside the model: similar photos are compared by the raw features",
                      path=path.name))  # fmt: skip
        return None
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ModelCardError(_("{path} is too big to be a retrieval projection", path=path.name))
        with np.load(path, allow_pickle=False) as npz:
            mean, matrix = np.asarray(npz["mean"], np.float32), np.asarray(npz["matrix"], np.float32)
    except ModelCardError:
        raise
    except (OSError, KeyError, ValueError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelCardError(_("cannot read the retrieval projection {path}: {reason}", path=path.name,
                               reason=reason)) from None  # fmt: skip
    if mean.ndim != 1 or matrix.ndim != 2 or matrix.shape[0] != len(mean) or not 1 <= matrix.shape[1] <= len(mean):
        raise ModelCardError(_("the retrieval projection {path} has arrays of the wrong shape", path=path.name))
    if not (np.isfinite(mean).all() and np.isfinite(matrix).all()):
        raise ModelCardError(_("the retrieval projection {path} holds numbers that are not finite", path=path.name))
    return Projection(mean, matrix)


def save_projection(projection: Projection, path: Path) -> Path:
    """Write through a temporary file and a rename (a killed run never leaves half a projection)."""
    buffer = io.BytesIO()
    np.savez(buffer, mean=projection.mean.astype(np.float32), matrix=projection.matrix.astype(np.float32))
    return write_bytes_atomic(path, buffer.getvalue())


def fit_lda(features: np.ndarray, labels: np.ndarray, shrink: float) -> Projection:
    """Fisher's discriminant directions: the generalised eigenvectors of the between-breed scatter against the
    within-breed scatter (shrunk by ``shrink`` towards its mean variance, so it stays invertible with fewer photos
    than dimensions), ordered by how well they separate breeds; ``classes - 1`` of them."""
    x = _unit(features)
    classes = np.unique(labels)
    index = np.searchsorted(classes, labels)
    mean = x.mean(axis=0)
    means = np.stack([x[index == k].mean(axis=0) for k in range(len(classes))])
    within = x - means[index]
    sw = within.T @ within / len(x)
    sw = (1 - shrink) * sw + shrink * float(np.trace(sw)) / len(sw) * np.eye(len(sw))
    centred = means - mean
    sb = centred.T @ centred / len(classes)
    whiten = np.linalg.inv(np.linalg.cholesky(sw))  # sw = L L^T; in L^-1 coordinates sw is the identity
    values, vectors = np.linalg.eigh(whiten @ sb @ whiten.T)
    order = np.argsort(-values)[: max(1, min(len(classes) - 1, x.shape[1]))]
    return Projection(mean.astype(np.float32), (whiten.T @ vectors[:, order]).astype(np.float32))


def nearest_same_label(vectors: np.ndarray, labels: np.ndarray, chunk: int = 1024) -> float:
    """Leave-one-out: the share of rows whose most similar other row (cosine) has the same label."""
    v = _unit(vectors)
    right = 0
    for start in range(0, len(v), chunk):
        scores = v[start : start + chunk] @ v.T
        scores[np.arange(len(scores)), start + np.arange(len(scores))] = -np.inf
        right += int((labels[np.argmax(scores, axis=1)] == labels[start : start + chunk]).sum())
    return right / max(len(v), 1)


def fit_projection(
    features: np.ndarray, labels: np.ndarray, *, shrinks: tuple[float, ...] = SHRINKS, folds: int = 3, seed: int = 0
) -> tuple[Projection, dict[str, float]]:
    """The LDA projection, its shrinkage chosen by cross-validation on these photos alone (fit on the other folds,
    nearest same breed within the held fold), then refitted on all of them. Returns it with each shrinkage's
    cross-validated score, and the raw features' for scale."""
    labels = np.asarray(labels)
    fold = np.random.default_rng(seed).permutation(len(labels)) % folds
    scores = {"raw": float(np.mean([nearest_same_label(features[fold == f], labels[fold == f])
                                    for f in range(folds)]))}  # fmt: skip
    for shrink in shrinks:
        per_fold = []
        for f in range(folds):
            projection = fit_lda(features[fold != f], labels[fold != f], shrink)
            per_fold.append(nearest_same_label(projection(features[fold == f]), labels[fold == f]))
        scores[f"shrink={shrink:g}"] = float(np.mean(per_fold))
    best = max(shrinks, key=lambda s: scores[f"shrink={s:g}"])
    scores["chosen_shrink"] = best
    return fit_lda(features, labels, best), scores


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def raw_features(predictor: Predictor, paths: list[str], *, batch_size: int = 16) -> tuple[np.ndarray, list[int]]:
    """The model's raw pooled features of ``paths`` (what a projection is fitted on), with the positions of the
    photos that could be read; the others are left out and counted by the caller."""
    from dogbreeds.core.parallel import batched, map_ahead
    from dogbreeds.core.progress import progress
    from dogbreeds.data.images import UnreadableImage

    def load(i: int) -> tuple[int, np.ndarray | None]:
        try:
            return i, predictor.load(paths[i])
        except UnreadableImage:
            return i, None

    chunks, kept = [], []
    with progress(_("embedding"), total=len(paths), unit=_("photos")) as bar:
        for batch in batched(map_ahead(load, range(len(paths)), ahead=4 * batch_size), batch_size):
            good = [(i, a) for i, a in batch if a is not None]
            if good:
                out = predictor.run_pixels(np.stack([a for _i, a in good]))
                if out.features is None:
                    raise ModelCardError(_("{path} gives no embeddings (no 'features' output)", path=predictor.path))
                chunks.append(out.features)
                kept += [i for i, _a in good]
            bar.advance(len(batch))
    return (np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)), kept


def fit_for_model(
    model: str | Path | None, paths: list[str], labels: list[int], *, data: str = ""
) -> tuple[Path, dict[str, Any]]:
    """Embed labelled photos with ``model``, fit its projection, and write it beside the model with the card
    naming it (and its cross-validated figures under ``metrics.retrieval``). Returns the projection's path."""
    from dogbreeds.core.card import write_json_atomic
    from dogbreeds.core.errors import UsageError
    from dogbreeds.inference.predictor import Predictor

    predictor = Predictor(model, backend="onnx", precision="fp32")  # beside the fp32 model, which its copies share
    card = predictor.card
    if card.weights_path is None:
        raise UsageError(_("{path} has no weights file to put a projection beside", path=predictor.path))
    features, kept = raw_features(predictor, paths)
    y = np.asarray(labels)[kept]
    if len(np.unique(y)) < 2 or len(y) < 10 * len(np.unique(y)):
        raise UsageError(_("fitting a retrieval projection needs at least 2 breeds and 10 readable photos of each "
                           "on average ({photos} photos of {breeds} breeds)", photos=len(y),
                           breeds=len(np.unique(y))))  # fmt: skip
    projection, scores = fit_projection(features, y)
    out = card.weights_path.parent / (card.weights_path.stem + SUFFIX)
    save_projection(projection, out)
    card_path = card.weights_path.with_suffix(".json")  # x.onnx -> x.json; a folder's model.safetensors -> model.json
    raw = json.loads(card_path.read_text(encoding="utf-8"))
    raw["retrieval"] = out.name
    figures = {"photos": len(y), "unreadable": len(paths) - len(kept), "dims": projection.dims, "data": data,
               "cross_validated_nearest_same_breed": scores}  # fmt: skip
    raw.setdefault("metrics", {})["retrieval"] = figures
    write_json_atomic(card_path, raw)
    return out, figures

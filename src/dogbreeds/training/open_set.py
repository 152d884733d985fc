"""The familiarity score's weights: which photos look like breeds the model knows (issue 18, the open set).

A breed head always names one of its breeds; a Shiba inu gets "dingo, 99 %". What tells it apart is a pattern
across several numbers the model already computes (:func:`dogbreeds.core.verdicts.familiarity_inputs`): a dog of
a breed the head knows has a high top probability, a high energy (large logits: the head's features fire) and
the backbone's own ImageNet head agreeing on the breed; an unknown breed's dog lacks one or more. The weights
come from the held-out-breed protocol (benchmarks/next_model_open_set.py): photos of breeds hidden from a head,
against photos of breeds it was trained on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from dogbreeds.core.card import OpenSet
from dogbreeds.core.i18n import _
from dogbreeds.core.metrics import sigmoid, softmax
from dogbreeds.core.verdicts import familiarity, familiarity_inputs
from dogbreeds.training.embeddings import Embeddings
from dogbreeds.training.linear_head import LinearHead, fit_linear_head, fit_temperature

RIDGE = 1e-3  # a little L2 on the weights: the inputs are few and correlated
FOLDS, FOLD_SIZE = 5, 20  # five folds of 20 hidden breeds (of the 120: every breed hidden once but 20)
log = logging.getLogger(__name__)


def fit_open_set(inputs: np.ndarray, known: np.ndarray, *, iterations: int = 50) -> OpenSet:
    """Logistic regression of ``known`` (bool, N) on the familiarity inputs (N x 3), by Newton's method.

    Rows with a NaN input (a class ImageNet lacks) are left out. Known and unknown photos are weighted to count
    equally, so the score does not depend on how many of each the protocol happened to hold.
    """
    ok = np.isfinite(inputs).all(axis=1)
    x = np.concatenate([inputs[ok], np.ones((int(ok.sum()), 1))], axis=1)
    y = known[ok].astype(float)
    if y.min() == y.max():
        raise ValueError("fit_open_set needs both known and unknown photos")
    sample_weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    beta = np.zeros(x.shape[1])
    ridge = RIDGE * np.eye(x.shape[1])
    ridge[-1, -1] = 0.0  # the bias is not pulled
    for _step in range(iterations):
        p = sigmoid(x @ beta)
        gradient = x.T @ (sample_weight * (p - y)) / len(y) + ridge @ beta
        hessian = (x * (sample_weight * p * (1 - p))[:, None]).T @ x / len(y) + ridge
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    return OpenSet(weights=[round(float(b), 6) for b in beta[:-1]], bias=round(float(beta[-1]), 6))


def familiarity_threshold(scores: np.ndarray, keep: float) -> float:
    """The familiarity under which a photo is ``other_breed``: ``keep`` of the (known-breed) ``scores`` stay above."""
    finite = scores[np.isfinite(scores)]
    return round(float(np.quantile(finite, 1 - keep)), 6) if len(finite) else 0.0


@dataclass
class FoldNumbers:
    """One held-out-breed fold's view of a set of photos, through a head that never saw the hidden breeds."""

    inputs: np.ndarray  # N x 3 familiarity inputs
    probabilities: np.ndarray  # N x known classes, calibrated on the fold's known validation photos
    labels: np.ndarray  # N, index into the fold's known classes (-1: a hidden breed)

    @property
    def known(self) -> np.ndarray:
        return self.labels >= 0


def fold_numbers(
    train: Embeddings, sets: dict[str, Embeddings], hidden: np.ndarray, imagenet: LinearHead,
    imagenet_index: np.ndarray, prior: LinearHead | None, l2: float, *, strict: bool = True,
) -> dict[str, FoldNumbers]:  # fmt: skip
    """Fit a head without the classes ``hidden`` (its temperature on the known photos of ``sets["val"]``) and
    compute every set's numbers through it. ``strict`` hides those breeds from the ImageNet head too, as for a
    breed ImageNet-1k lacks; the backbone's features still know them (this protocol's lasting optimism)."""
    num_classes = len(imagenet_index)
    known = np.setdiff1d(np.arange(num_classes), hidden)
    remap = np.full(num_classes, -1)
    remap[known] = np.arange(len(known))
    fold_prior = None if prior is None else LinearHead(prior.weight[known], prior.bias[known])
    rows = np.isin(train.labels, known)
    head = fit_linear_head(train.averaged[rows], remap[train.labels[rows]], num_classes=len(known), l2=l2,
                           prior=fold_prior)  # fmt: skip
    val_known = np.isin(sets["val"].labels, known)
    temperature = fit_temperature(head.logits(sets["val"].averaged[val_known]), remap[sets["val"].labels[val_known]])
    masked = [int(i) for i in imagenet_index[hidden] if i >= 0] if strict else []
    out = {}
    for name, emb in sets.items():
        logits = head.logits(emb.averaged)
        inet = imagenet.logits(emb.averaged)
        if masked:
            inet[:, masked] = -np.inf
        probs = softmax(logits / temperature)
        out[name] = FoldNumbers(familiarity_inputs(probs, logits, inet, imagenet_index[known]), probs,
                                remap[emb.labels])  # fmt: skip
    return out


def breed_folds(eligible: np.ndarray, *, size: int = FOLD_SIZE, folds: int = FOLDS, seed: int = 0) -> list[np.ndarray]:
    """The hidden breeds of each fold: the ``eligible`` classes shuffled, in groups of ``size`` (at most
    ``folds`` groups; fewer than two: none)."""
    if len(eligible) < 2 * size:
        return []
    shuffled = np.random.default_rng(seed).permutation(eligible)
    return [shuffled[i * size : (i + 1) * size] for i in range(min(folds, len(eligible) // size))]


def held_out_breeds(
    train: Embeddings, val: Embeddings, imagenet: LinearHead, imagenet_index: np.ndarray,
    prior: LinearHead | None, l2: float,
) -> tuple[OpenSet, dict[str, float]] | None:  # fmt: skip
    """The familiarity weights from the held-out-breed protocol on the training and validation photos (None when
    the model has too few breeds with an ImageNet class to hide some): each fold's validation photos of hidden
    breeds against those of known breeds, pooled over the folds."""
    # Breeds that can be hidden: with an ImageNet class (the agreement needs one) and photos on both sides.
    present = np.intersect1d(np.unique(train.labels), np.unique(val.labels))
    eligible = present[imagenet_index[present] >= 0]
    size = min(FOLD_SIZE, len(eligible) // 6)  # a model of few breeds hides fewer at a time
    groups = breed_folds(eligible, size=size) if size >= 2 else []
    if not groups:
        log.info("%d breeds with an ImageNet class and validation photos: too few for an open-set score", len(eligible))
        return None
    numbers = [fold_numbers(train, {"val": val}, g, imagenet, imagenet_index, prior, l2)["val"] for g in groups]
    inputs = np.concatenate([n.inputs for n in numbers])
    known = np.concatenate([n.known for n in numbers])
    try:
        weights = fit_open_set(inputs, known)
    except ValueError:  # e.g. every hidden-breed photo predicted as a breed without an ImageNet class
        log.warning(_("the held-out-breed folds gave no photos of a hidden breed to learn from: this model will "
                      "not say other_breed"))  # fmt: skip
        return None
    scores = familiarity(inputs, weights)
    ok = np.isfinite(scores)
    metrics = {"folds": len(groups), "hidden_per_fold": size, "val_auroc": auroc(scores[ok], known[ok])}
    return weights, metrics


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative (ties half)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        return float("nan")
    return round(float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)), 4)

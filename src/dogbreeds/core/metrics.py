"""Classification metrics in NumPy (no torch: the inference path uses them)."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def logsumexp(logits: np.ndarray) -> np.ndarray:
    """``log(sum(exp(x)))`` of each row, shifted by the row's maximum so that large logits do not overflow
    (entries of -inf, classes masked out, count for nothing)."""
    shift = logits.max(axis=1)
    return shift + np.log(np.exp(logits - shift[:, None]).sum(axis=1))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, clipped so that ``exp`` never overflows."""
    return 1 / (1 + np.exp(-np.clip(z, -60, 60)))


def below_confidence(logits: np.ndarray, temperature: float, threshold: float) -> np.ndarray:
    """Which rows' calibrated top probability, ``max softmax(logits / temperature)``, is under ``threshold``: the
    photos a card's ``mirror_below`` sends through the model a second time as mirror images."""
    return softmax(logits / temperature).max(axis=1) < threshold


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """top-1, top-5 (fractions in 0..1), mean cross-entropy, expected calibration error (15 bins) and N."""
    n = len(labels)
    if n == 0:
        return {"top1": float("nan"), "top5": float("nan"), "loss": float("nan"), "ece": float("nan"), "n": 0}
    probs = softmax(logits)
    top5 = np.argsort(-logits, axis=1)[:, :5]
    return {
        "top1": float((top5[:, 0] == labels).mean()),
        "top5": float((top5 == labels[:, None]).any(axis=1).mean()),
        "loss": float(-np.log(np.clip(probs[np.arange(n), labels], 1e-12, None)).mean()),
        "ece": expected_calibration_error(probs.max(axis=1), top5[:, 0] == labels),
        "n": int(n),
    }


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, *, bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over equal-width confidence bins (weighted by size).

    Args:
        confidence: top-1 probability of each prediction.
        correct: whether each top-1 prediction was right.
        bins: number of equal-width bins over (0, 1].
    """
    if len(confidence) == 0:
        return float("nan")
    which = confidence_bin(confidence, bins)
    gap = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            gap += mask.sum() * abs(float(correct[mask].mean()) - float(confidence[mask].mean()))
    return float(gap / len(confidence))


def confidence_bin(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Index of the equal-width bin over (0, 1] holding each confidence (1.0 falls in the last bin)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)

"""Choosing the thresholds behind the ``dog`` / ``unsure`` / ``not_a_dog`` verdicts on held-out photos.

``unsure`` exists so that a volunteer sees a doubtful photo instead of the catalog silently holding a wrong breed:
the probability threshold is the lowest one at which the photos still called ``dog`` are right at least
``target_accuracy`` of the time on the validation split. ``not_a_dog`` must almost never fire on a dog: its
threshold on the backbone's dog mass keeps ``dog_recall`` of the validation dogs, and never exceeds 0.5.
"""

from __future__ import annotations

import numpy as np

from dogbreeds.breeds import IMAGENET_DOG_INDICES
from dogbreeds.checkpoint import Verdicts
from dogbreeds.metrics import softmax

MAX_DOG_THRESHOLD = 0.5


def dog_mass(imagenet_logits: np.ndarray) -> np.ndarray:
    """Probability the backbone's own ImageNet head puts on dog-like classes."""
    return softmax(imagenet_logits)[:, list(IMAGENET_DOG_INDICES)].sum(axis=1)


def choose_thresholds(
    probs: np.ndarray, labels: np.ndarray, dog_probability: np.ndarray, *, target_accuracy: float = 0.95,
    dog_recall: float = 0.99,
) -> Verdicts:  # fmt: skip
    """Thresholds from calibrated validation probabilities (N x C), true labels and dog masses (N)."""
    top = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    order = np.argsort(-top)
    # accuracy of the k most confident photos, for every k: the threshold is the lowest confidence that keeps it
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(running >= target_accuracy)
    min_probability = float(top[order][ok[-1]]) if len(ok) else 1.0
    min_dog = min(MAX_DOG_THRESHOLD, float(np.quantile(dog_probability, 1 - dog_recall)))
    return Verdicts(min_dog_probability=round(min_dog, 4), min_probability=round(min_probability, 4), min_margin=0.0)

"""Choosing the thresholds behind the ``dog`` / ``unsure`` / ``other_breed`` / ``not_a_dog`` verdicts.

``unsure`` exists so that a volunteer sees a doubtful photo instead of the catalog silently holding a wrong breed:
the probability threshold is the lowest one at which the photos still called ``dog`` are right at least
``target_accuracy`` of the time on the validation split. ``not_a_dog`` must almost never fire on a dog: its
threshold on the dog score keeps ``dog_recall`` of the validation dogs, and never exceeds 0.5.

The dog score is the backbone's ImageNet mass on dog classes times the square root of the top breed probability.
The mass alone cannot tell a dog filling a small part of a whole frame (mass 0.3-0.5, breed still recognised)
from the kennel, lawn or sofa around a dog in an ImageNet photo the backbone has seen (mass above 0.5, no breed
recognised); the product separates them better (measured by benchmarks/not_a_dog_eval.py on Stanford
whole-frame photos and their dog-free strips; figures in docs/results.md).

``other_breed`` is for a dog of a breed the model does not know (or a mix): it still gets a nearest breed, often
with a high probability. The familiarity score (:func:`familiarity`) is how much the photo looks like a breed
the model was trained on: a logistic combination, fitted by the held-out-breed protocol
(:mod:`dogbreeds.training.open_set`), of the top probability, the energy of the breed logits and how much the
backbone's own ImageNet head agrees with the predicted breed (its probability for that breed's ImageNet class
among all 125 dog-like classes, Dalmatian and wolves included).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import numpy as np

from dogbreeds.core.breeds import IMAGENET_DOG_INDICES
from dogbreeds.core.card import OpenSet, Verdicts
from dogbreeds.core.i18n import _
from dogbreeds.core.metrics import logsumexp, sigmoid, softmax

MAX_DOG_THRESHOLD = 0.5
DOG_SCORE_POWER = 0.5  # weight of the top breed probability in the dog score
DOG_RECALL = 0.995  # validation dogs the not_a_dog threshold keeps
MIN_VALIDATION_PHOTOS = 100  # fewer cannot place a 95 % accuracy threshold, nor a 99.5 % recall one
# Used when validation is too small: near what the shipped model's 1,200 validation photos chose.
FALLBACK = Verdicts(min_dog_score=0.25, min_probability=0.6, min_margin=0.0, dog_score_power=DOG_SCORE_POWER)
log = logging.getLogger(__name__)


def dog_mass(imagenet_logits: np.ndarray) -> np.ndarray:
    """Probability the backbone's own ImageNet head puts on dog-like classes."""
    return softmax(imagenet_logits)[:, list(IMAGENET_DOG_INDICES)].sum(axis=1)


def dog_score(dog_probability: np.ndarray | float, top_probability: np.ndarray | float, power: float) -> Any:
    """How much a photo looks like a dog: the ImageNet dog mass, times the top breed probability to ``power``."""
    return dog_probability * top_probability**power


DOG, UNSURE, OTHER_BREED, NOT_A_DOG, UNREADABLE = "dog", "unsure", "other_breed", "not_a_dog", "unreadable"
VERDICTS = (DOG, UNSURE, OTHER_BREED, NOT_A_DOG, UNREADABLE)
FAMILIARITY_INPUTS = ("log_probability", "energy", "imagenet_agreement")  # the order of OpenSet.weights


def familiarity_inputs(
    probabilities: np.ndarray, logits: np.ndarray, imagenet_logits: np.ndarray, imagenet_index: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """The familiarity score's inputs for a batch (N x 3, in :data:`FAMILIARITY_INPUTS` order).

    ``imagenet_index`` maps each class to its ImageNet index (-1 for a class ImageNet lacks: a new breed); a
    photo whose top class has none gets NaN agreement, and so no familiarity.
    """
    top = probabilities.argmax(axis=1)
    log_probability = np.log(np.maximum(probabilities[np.arange(len(top)), top], 1e-12))
    energy = logsumexp(logits)
    log_norm = logsumexp(imagenet_logits[:, np.asarray(IMAGENET_DOG_INDICES)])
    index = imagenet_index[top]
    agreement = np.where(index >= 0, imagenet_logits[np.arange(len(top)), np.maximum(index, 0)] - log_norm, np.nan)
    return np.stack([log_probability, energy, agreement], axis=1)


def familiarity(inputs: np.ndarray, open_set: OpenSet) -> np.ndarray:
    """How much each photo looks like a breed the model knows, from 0 to 1 (NaN where it cannot tell)."""
    return sigmoid(inputs @ np.asarray(open_set.weights) + open_set.bias)


def judge(
    probability: float, margin: float, dog_probability: float | None, v: Verdicts, familiarity: float | None = None
) -> str:
    """The verdict of one photo from its numbers: the one rule behind ``predict``, ``classify`` and the catalog's
    re-judging when thresholds change. ``dog_probability`` None (or NaN): a model without an ImageNet head,
    which cannot say "not a dog"; ``familiarity`` None (or NaN): a model without an open-set score, which cannot
    say "other breed"."""
    if dog_probability is not None and dog_probability == dog_probability:  # not NaN
        if dog_score(dog_probability, probability, v.dog_score_power) < v.min_dog_score:
            return NOT_A_DOG
    if familiarity is not None and familiarity == familiarity and familiarity < v.min_familiarity:
        return OTHER_BREED
    if probability < v.min_probability or margin < v.min_margin:
        return UNSURE
    return DOG


def precision_threshold(top: np.ndarray, correct: np.ndarray, target_accuracy: float) -> float:
    """The lowest top probability at which the photos at or above it are still right ``target_accuracy`` of the
    time (1.0 when no threshold reaches it)."""
    order = np.argsort(-top)
    # accuracy of the k most confident photos, for every k: the threshold is the lowest confidence that keeps it
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(running >= target_accuracy)
    return float(top[order][ok[-1]]) if len(ok) else 1.0


def choose_thresholds(
    probs: np.ndarray, labels: np.ndarray, dog_probability: np.ndarray, *, target_accuracy: float = 0.95,
    dog_recall: float = DOG_RECALL, dog_score_power: float = DOG_SCORE_POWER,
) -> Verdicts:  # fmt: skip
    """Thresholds from calibrated validation probabilities (N x C), true labels and dog masses (N).

    Below :data:`MIN_VALIDATION_PHOTOS` the thresholds cannot be chosen (15 photos once gave ``min_probability``
    1.0: every photo unsure): a warning, and :data:`FALLBACK` instead.
    """
    if len(labels) < MIN_VALIDATION_PHOTOS:
        log.warning(_("only {n} validation photos: too few to choose the verdict thresholds, so the defaults are "
                      "used (min_probability {p}, min_dog_score {d}); add photos for thresholds fitted to this model",
                      n=len(labels), p=FALLBACK.min_probability, d=FALLBACK.min_dog_score))  # fmt: skip
        return Verdicts(**{**asdict(FALLBACK), "dog_score_power": dog_score_power})
    top = probs.max(axis=1)
    min_probability = precision_threshold(top, probs.argmax(axis=1) == labels, target_accuracy)
    score = dog_score(dog_probability, top, dog_score_power)
    min_dog = min(MAX_DOG_THRESHOLD, float(np.quantile(score, 1 - dog_recall)))
    return Verdicts(min_dog_score=round(min_dog, 4), min_probability=round(min_probability, 4), min_margin=0.0,
                    dog_score_power=dog_score_power)  # fmt: skip

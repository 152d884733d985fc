"""The open-set score: dogs of breeds a head never saw score below dogs of breeds it knows, and get ``other_breed``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dogbreeds.core.card import OpenSet, Verdicts
from dogbreeds.core.verdicts import DOG, NOT_A_DOG, OTHER_BREED, UNSURE, familiarity, familiarity_inputs, judge

pytest.importorskip("torch")

from dogbreeds.training.embeddings import Embeddings  # noqa: E402
from dogbreeds.training.linear_head import LinearHead  # noqa: E402
from dogbreeds.training.open_set import auroc, breed_folds, fit_open_set, fold_numbers, held_out_breeds  # noqa: E402

CLASSES, DIM = 40, 64


def _world(seed: int = 0) -> tuple[Embeddings, Embeddings, LinearHead, np.ndarray]:
    """Forty breeds as clusters of embeddings, and an 'ImageNet head' whose dog columns 151.. know each of them."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(CLASSES, DIM)) * 3

    def photos(per_class: int) -> Embeddings:
        labels = np.repeat(np.arange(CLASSES), per_class)
        x = (centres[labels] + rng.normal(size=(len(labels), DIM))).astype(np.float32)
        mirror = (x + 0.1 * rng.normal(size=x.shape)).astype(np.float32)
        return Embeddings(x, labels, [Path(f"{i}.jpg") for i in range(len(labels))], {}, mirror)

    weight = rng.normal(size=(1000, DIM)).astype(np.float32) * 0.01
    weight[151 : 151 + CLASSES] = centres / 3  # the ImageNet head recognises each breed
    imagenet = LinearHead(weight, np.zeros(1000, np.float32))
    return photos(30), photos(10), imagenet, np.arange(151, 151 + CLASSES)


def test_hidden_breeds_score_below_known_ones() -> None:
    train, val, imagenet, index = _world()
    folds = breed_folds(np.arange(CLASSES), size=8)
    assert len(folds) == 5 and all(len(f) == 8 for f in folds)
    assert len(set(np.concatenate(folds).tolist())) == 40  # every breed hidden once
    numbers = [fold_numbers(train, {"val": val}, g, imagenet, index, None, 1e-2)["val"] for g in folds]
    inputs = np.concatenate([n.inputs for n in numbers])
    known = np.concatenate([n.known for n in numbers])
    assert known.mean() == pytest.approx(0.8)
    weights = fit_open_set(inputs[::2], known[::2])
    scores = familiarity(inputs[1::2], weights)
    assert auroc(scores, known[1::2]) > 0.85  # photos not used to fit the weights
    assert np.median(scores[known[1::2]]) > np.median(scores[~known[1::2]])


def test_held_out_breeds_needs_enough_breeds() -> None:
    train, val, imagenet, index = _world()
    few = index.copy()
    few[11:] = -1  # only 11 breeds have an ImageNet class: folds of 1, too few to hide
    assert held_out_breeds(train, val, imagenet, few, None, 1e-2) is None
    found = held_out_breeds(train, val, imagenet, index, None, 1e-2)  # 40 breeds: 5 folds of 6
    assert found is not None
    weights, metrics = found
    assert len(weights.weights) == 3 and metrics["folds"] == 5 and metrics["hidden_per_fold"] == 6
    assert metrics["val_auroc"] > 0.8


def test_agreement_is_nan_for_a_class_imagenet_lacks() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    logits = np.log(probs)
    inet = np.zeros((2, 1000))
    inet[:, 151] = 5.0
    inputs = familiarity_inputs(probs, logits, inet, np.array([151, -1]))
    assert np.isfinite(inputs[0]).all() and np.isnan(inputs[1, 2])
    assert inputs[0, 2] == pytest.approx(5.0 - np.log(np.exp(5.0) + 124))  # log-probability among 125 dog classes
    assert np.isnan(familiarity(inputs, OpenSet([1.0, 1.0, 1.0], 0.0))[1])


def test_judge_order() -> None:
    v = Verdicts(min_dog_score=0.3, min_probability=0.6, dog_score_power=0.5, min_familiarity=0.4)
    assert judge(0.9, 0.8, 0.95, v, 0.9) == DOG
    assert judge(0.9, 0.8, 0.95, v, 0.1) == OTHER_BREED  # confident, but not like any breed it knows
    assert judge(0.5, 0.1, 0.95, v, 0.9) == UNSURE
    assert judge(0.9, 0.8, 0.05, v, 0.1) == NOT_A_DOG  # not a dog comes first
    assert judge(0.9, 0.8, 0.95, v, None) == DOG  # a model without the score never says other_breed
    assert judge(0.9, 0.8, 0.95, v, float("nan")) == DOG
    assert judge(0.9, 0.8, 0.95, Verdicts(min_probability=0.6), 0.0) == DOG  # cards before it: threshold 0

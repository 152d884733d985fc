"""Metrics against hand-computed cases; the head and the temperature do what their docstrings say."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dogbreeds.core.metrics import classification_metrics, softmax


def test_metrics_on_a_hand_computed_case() -> None:
    logits = np.log(np.array([[0.7, 0.2, 0.1, 0, 0, 0], [0.1, 0.3, 0.6, 0, 0, 0]]) + 1e-30)
    m = classification_metrics(logits, np.array([0, 1]))
    assert m["top1"] == 0.5 and m["top5"] == 1.0 and m["n"] == 2
    assert m["loss"] == pytest.approx(-(math.log(0.7) + math.log(0.3)) / 2, rel=1e-6)
    assert np.allclose(softmax(logits).sum(1), 1)


torch = pytest.importorskip("torch")

from dogbreeds.training.linear_head import LinearHead, fit_linear_head, fit_temperature  # noqa: E402


def _blobs(n: int = 300, d: int = 8, c: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (c, d))
    y = rng.integers(0, c, n)
    return (centres[y] + rng.normal(0, 1, (n, d))).astype(np.float32), y


def test_head_learns_separable_blobs() -> None:
    x, y = _blobs()
    head = fit_linear_head(x, y, num_classes=3, l2=1e-3)
    assert (head.logits(x).argmax(1) == y).mean() > 0.95


def test_strong_prior_keeps_the_prior_weak_prior_moves_away() -> None:
    x, y = _blobs()
    prior = LinearHead(np.zeros((3, 8), np.float32) + 0.01, np.zeros(3, np.float32))
    stiff = fit_linear_head(x, y, num_classes=3, l2=1e4, prior=prior)
    loose = fit_linear_head(x, y, num_classes=3, l2=1e-4, prior=prior)
    assert np.abs(stiff.weight - prior.weight).max() < 1e-2
    assert np.abs(loose.weight - prior.weight).max() > 0.1


def test_temperature_scaling_lowers_the_nll_of_an_overconfident_model() -> None:
    x, y = _blobs(seed=1)
    noisy = y.copy()
    noisy[:60] = (noisy[:60] + 1) % 3  # 20 % label noise: a sharp model is overconfident on these labels
    logits = fit_linear_head(x, y, num_classes=3, l2=1e-4).logits(x) * 5
    t = fit_temperature(logits, noisy)
    before = classification_metrics(logits, noisy)["loss"]
    after = classification_metrics(logits / t, noisy)["loss"]
    assert t > 1 and after < before


def test_ece_of_known_toy_distributions() -> None:
    from dogbreeds.core.metrics import expected_calibration_error

    # 10 predictions at 0.9 confidence, 9 right: perfectly calibrated.
    assert expected_calibration_error(np.full(10, 0.9), np.array([1] * 9 + [0], bool)) == pytest.approx(0.0)
    # 4 at 0.95 (2 right) and 4 at 0.55 (all right): |0.5-0.95| and |1-0.55|, equally weighted.
    conf = np.array([0.95] * 4 + [0.55] * 4)
    correct = np.array([1, 1, 0, 0, 1, 1, 1, 1], bool)
    assert expected_calibration_error(conf, correct) == pytest.approx((0.45 + 0.45) / 2)


def test_verdict_thresholds_reach_the_target_accuracy_and_keep_dogs() -> None:
    from dogbreeds.core.verdicts import MAX_DOG_THRESHOLD, choose_thresholds

    rng = np.random.default_rng(0)
    n = 2000
    top = rng.uniform(0.2, 1.0, n)
    correct = rng.uniform(0, 1, n) < top  # calibrated: right with probability = confidence
    labels = np.zeros(n, int)
    probs = np.zeros((n, 3))
    probs[:, 0] = np.where(correct, top, (1 - top) / 2)
    probs[:, 1] = np.where(correct, (1 - top) / 2, top)
    probs[:, 2] = 1 - probs[:, 0] - probs[:, 1]
    dog = rng.uniform(0.3, 1.0, n)
    v = choose_thresholds(probs, labels, dog, target_accuracy=0.9, dog_recall=0.99)
    kept = probs.max(1) >= v.min_probability
    assert (probs.argmax(1)[kept] == 0).mean() >= 0.9 and 0.5 < v.min_probability < 1
    score = dog * probs.max(1) ** v.dog_score_power
    assert v.dog_score_power == 0.5 and v.min_dog_score <= MAX_DOG_THRESHOLD
    assert 0.985 <= (score >= v.min_dog_score).mean() <= 0.995  # the 1 % of dogs below it, not more nor fewer


def test_too_few_validation_photos_give_the_default_thresholds_and_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """15 validation photos of a 5-breed model once chose min_probability 1.0 (every photo unsure)."""
    from dogbreeds.core.verdicts import FALLBACK, choose_thresholds

    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(5), size=15)
    v = choose_thresholds(probs, rng.integers(0, 5, 15), rng.uniform(0.3, 1.0, 15))
    assert (v.min_probability, v.min_dog_score) == (FALLBACK.min_probability, FALLBACK.min_dog_score)
    assert "only 15 validation photos" in caplog.text


def test_not_a_dog_asks_for_a_dog_and_a_breed() -> None:
    """A dog small in the frame (low ImageNet dog mass, breed recognised) stays a dog; a kennel the backbone
    finds dog-like (high mass, no breed recognised) does not; cards from before the score judge by mass alone."""
    from dataclasses import asdict

    from dogbreeds.core.card import ModelCard
    from dogbreeds.inference.predictor import DOG, NOT_A_DOG, UNSURE, Predictor

    card = asdict(Predictor().card) | {"names": []}
    predictor = Predictor()
    card["verdicts"] = {"min_dog_score": 0.4, "min_probability": 0.5, "min_margin": 0.0, "dog_score_power": 0.5}
    predictor.card = ModelCard.from_dict(card)
    confident, doubtful = np.array([0.96, 0.02, 0.02]), np.array([0.3, 0.3, 0.4])
    assert predictor.verdict(confident, 0.42) == DOG  # 0.42 * 0.98 >= 0.4
    assert predictor.verdict(doubtful, 0.6) == NOT_A_DOG  # 0.6 * 0.63 < 0.4
    assert predictor.verdict(doubtful, 0.9) == UNSURE
    assert predictor.verdict(confident, float("nan")) == DOG  # a model without an ImageNet head never says it
    card["verdicts"] = {
        "min_dog_probability": 0.45,
        "min_probability": 0.5,
        "min_margin": 0.0,
        "dog_score_power": 0.5,
    }  # an old card, even one naming a power, judges by the mass alone
    predictor.card = ModelCard.from_dict(card)
    assert predictor.card.verdicts.min_dog_score == 0.45 and predictor.card.verdicts.dog_score_power == 0.0
    assert predictor.verdict(confident, 0.42) == NOT_A_DOG and predictor.verdict(doubtful, 0.6) == UNSURE

"""``dogbreeds train --method features``: frozen-backbone embeddings + a linear head, end to end.

Raw photos -> cached embeddings -> head chosen on a stratified validation split -> temperature -> refit on all
training photos -> a self-describing checkpoint with its ONNX model, ready for ``predict``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dogbreeds.core.breeds import IMAGENET_INDICES, NUM_BREEDS
from dogbreeds.core.card import ONNX_NAME, ModelCard, save_card
from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _
from dogbreeds.core.metrics import classification_metrics, softmax
from dogbreeds.core.progress import progress
from dogbreeds.core.verdicts import DOG_RECALL, DOG_SCORE_POWER, choose_thresholds, dog_mass
from dogbreeds.data.folders import load_samples
from dogbreeds.data.split import stratified_split
from dogbreeds.models.weights import save_weights
from dogbreeds.training.embeddings import BackboneSpec, Embeddings, embed_samples, weights_digest
from dogbreeds.training.linear_head import L2_GRID, LinearHead, fit_linear_head, fit_temperature

log = logging.getLogger(__name__)


@dataclass
class FeaturesConfig:
    """Settings of a feature-extraction run (written into the model card)."""

    data: str
    out: str
    backbone: str = "tf_efficientnet_lite2"
    weights: str | None = "auto"
    split: str | None = None  # official list of a Stanford folder; None = "train" there, all photos elsewhere
    images: str | None = None  # Stanford image folder (Images or crops224); None = whichever exists
    new_breeds: bool = False  # folders naming no known breed become new classes (else they are an error)
    flip: bool = True  # embed each photo and its mirror image and average the two, in training and prediction
    prior: str = "imagenet"  # "imagenet" (pull towards the backbone's own breed rows), "none", "auto" (val picks)
    l2: float | None = None  # None = chosen on the validation split from L2_GRID
    val_fraction: float = 0.1
    seed: int = 0
    limit_per_class: int | None = None
    box_margin: float = 0.1
    target_accuracy: float = 0.95  # photos called "dog" must be right this often on validation; the rest "unsure"
    dog_recall: float = DOG_RECALL  # validation dogs the not_a_dog threshold keeps
    dog_score_power: float = DOG_SCORE_POWER  # weight of the breed probability in the dog score (verdicts.dog_score)
    track: bool = True  # log the run to MLflow, like scratch and fine-tuning runs
    tracking_uri: str | None = None

    def __post_init__(self) -> None:
        if self.prior not in ("auto", "imagenet", "none"):
            raise UsageError(_("prior must be auto, imagenet or none, not {prior!r}", prior=self.prior))


def _imagenet_prior(backbone: str, weights: str | None) -> tuple[LinearHead | None, object]:
    """The backbone (for export) and its ImageNet classifier rows of the 120 breeds."""
    from dogbreeds.models.backbones import create_backbone

    model = create_backbone(backbone, weights=weights)
    fc = model.get_classifier()
    if getattr(fc, "out_features", 0) != 1000:
        return None, model
    rows = list(IMAGENET_INDICES)
    return LinearHead(fc.weight.detach().numpy()[rows].copy(), fc.bias.detach().numpy()[rows].copy()), model


def _with_new_classes(prior: LinearHead | None, num_classes: int) -> LinearHead | None:
    """The ImageNet prior of the 120 breeds, and zero rows for the classes beyond them: a new breed starts from
    nothing and is pulled towards nothing, while the 120 keep what ImageNet taught the backbone."""
    if prior is None or num_classes == len(prior.bias):
        return prior
    extra = num_classes - len(prior.bias)
    return LinearHead(
        np.concatenate([prior.weight, np.zeros((extra, prior.weight.shape[1]), prior.weight.dtype)]),
        np.concatenate([prior.bias, np.zeros(extra, prior.bias.dtype)]),
    )


def _candidate_priors(choice: str, imagenet: LinearHead | None) -> dict[str, LinearHead | None]:
    """The priors to try; a backbone without a 1000-way ImageNet head can only use "none"."""
    if imagenet is None:
        return {"none": None}
    return {"auto": {"imagenet": imagenet, "none": None}, "imagenet": {"imagenet": imagenet}}.get(
        choice, {"none": None}
    )


def _train_view(emb: Embeddings) -> tuple[np.ndarray, np.ndarray]:
    """Training rows: the very embeddings the head will see at prediction time (flip-averaged when flips are on).

    Measured on the official train list: fitting on the averaged embedding matches fitting on both views as
    separate rows (benchmarks/results/default_model_selection.md) at half the cost.
    """
    return emb.averaged, emb.labels


@dataclass
class Trial:
    prior: str
    l2: float
    head: LinearHead
    val: dict[str, float]


def select_head(
    train: Embeddings,
    val: Embeddings,
    priors: dict[str, LinearHead | None],
    l2_grid: tuple[float, ...],
    num_classes: int = NUM_BREEDS,
) -> tuple[Trial, list[Trial]]:
    """Try every (prior, l2) on the validation split; best top-1, then lowest loss.

    The grid runs from the strongest to the weakest L2, each fit warm-started from the previous solution.
    """
    x, y = _train_view(train)
    trials = []
    with progress(_("fitting heads"), total=len(priors) * len(l2_grid), unit=_("fits")) as bar:
        for prior_name, prior in priors.items():
            previous = None
            for l2 in sorted(l2_grid, reverse=True):
                head = fit_linear_head(x, y, num_classes=num_classes, l2=l2, prior=prior, init=previous)
                previous = head
                val_metrics = classification_metrics(head.logits(val.averaged), val.labels)
                trials.append(Trial(prior_name, l2, head, val_metrics))
                log.info("prior=%s l2=%g val %s", prior_name, l2, val_metrics)
                bar.advance()
    return max(trials, key=lambda t: (t.val["top1"], -t.val["loss"])), trials


def train_features(cfg: FeaturesConfig, *, cache_root: Path | None = None) -> ModelCard:
    """Run the whole feature-extraction recipe and write the checkpoint to ``cfg.out``."""
    from dogbreeds.models.backbones import backbone_preprocess, weights_source

    started = time.perf_counter()
    data = load_samples(cfg.data, cfg.split, images=cfg.images, new_breeds=cfg.new_breeds)
    data = data.limit_per_class(cfg.limit_per_class)
    num_classes = len(data.classes)
    train_set, val_set = stratified_split(data, val_fraction=cfg.val_fraction, seed=cfg.seed)
    prior, backbone = _imagenet_prior(cfg.backbone, cfg.weights)
    prior = _with_new_classes(prior, num_classes)
    preprocess = backbone_preprocess(backbone)
    spec = BackboneSpec(cfg.backbone, weights_digest(backbone), preprocess, flip=cfg.flip, box_margin=cfg.box_margin)
    emb = embed_samples(
        data.samples, spec, backbone, cache_root=cache_root, desc=_("embedding ({backbone})", backbone=cfg.backbone)
    )
    embedded_at = time.perf_counter()
    index = {p: i for i, p in enumerate(emb.paths)}
    train, val = (
        _subset(emb, [index[s.path] for s in part.samples if s.path in index]) for part in (train_set, val_set)
    )

    priors = _candidate_priors(cfg.prior, prior)
    grid = (cfg.l2,) if cfg.l2 is not None else L2_GRID
    best, trials = select_head(train, val, priors, grid, num_classes)
    val_logits = best.head.logits(val.averaged)
    temperature = fit_temperature(val_logits, val.labels)
    verdicts = choose_thresholds(
        softmax(val_logits / temperature), val.labels, _dog_mass(backbone, val.averaged),
        target_accuracy=cfg.target_accuracy, dog_recall=cfg.dog_recall, dog_score_power=cfg.dog_score_power,
    )  # fmt: skip
    # Refit on every training photo; the temperature fitted on held-out photos carries over.
    head = fit_linear_head(
        *_train_view(emb), num_classes=num_classes, l2=best.l2, prior=priors[best.prior], init=best.head
    )
    fitted_at = time.perf_counter()

    out = Path(cfg.out)
    card = ModelCard(
        model="features-head",
        backbone=cfg.backbone,
        backbone_weights=weights_source(cfg.backbone, cfg.weights),
        preprocess=preprocess,
        classes=list(data.classes),
        model_args={"in_features": int(emb.features.shape[1]), "flip_average": cfg.flip},
        temperature=temperature,
        verdicts=verdicts,
        metrics={"val": best.val, "val_trials": [{"prior": t.prior, "l2": t.l2, **t.val} for t in trials]},
        training={
            **{k: v for k, v in asdict(cfg).items() if k not in _NOT_IN_CARD},
            "chosen_prior": best.prior,
            "chosen_l2": best.l2,
            "n_train": len(train.labels),
            "n_val": len(val.labels),
            "unreadable": emb.errors,
            "seconds_embedding": round(embedded_at - started, 1),
            "seconds_fitting": round(fitted_at - embedded_at, 1),
        },
        data_fingerprint=data.fingerprint(),
    )
    save_head_checkpoint(card, head, backbone, out)
    if cfg.track:
        _track(cfg, card, out, seconds=time.perf_counter() - started)
    return card


_NOT_IN_CARD = ("track", "tracking_uri")  # where a run was logged says nothing about the model


def _track(cfg: FeaturesConfig, card: ModelCard, out: Path, *, seconds: float) -> None:
    """Log the run to MLflow as scratch and fine-tuning runs are: settings, validation metrics, the card."""
    from dogbreeds.training.tracking import Tracker

    t = card.training
    params = {**asdict(cfg), "method": "features", "model": f"features-head:{cfg.backbone}",
              "parameters": (card.model_args["in_features"] + 1) * len(card.classes),
              "train_photos": t["n_train"], "chosen_prior": t["chosen_prior"], "chosen_l2": t["chosen_l2"]}  # fmt: skip
    params.pop("tracking_uri")
    tracker = Tracker(cfg.tracking_uri, f"features-{cfg.backbone}", params)
    val = card.metrics["val"]
    tracker.log_summary({"wall_seconds": seconds, "temperature": card.temperature,
                         **{f"val_{k}": v for k, v in val.items() if isinstance(v, float)}})  # fmt: skip
    tracker.log_artifacts([out / "model.json"])
    tracker.end()


def _dog_mass(backbone: object, features: np.ndarray) -> np.ndarray:
    """The backbone's own dog mass for embeddings (its ImageNet head is linear on them); ones without such a head
    count every photo as a dog."""
    fc = backbone.get_classifier()  # type: ignore[attr-defined]
    if getattr(fc, "out_features", 0) != 1000:
        return np.ones(len(features))
    return dog_mass(features @ fc.weight.detach().numpy().T + fc.bias.detach().numpy())


def _subset(emb: Embeddings, rows: list[int]) -> Embeddings:
    return Embeddings(
        emb.features[rows],
        emb.labels[rows],
        [emb.paths[i] for i in rows],
        {},
        None if emb.flipped is None else emb.flipped[rows],
    )


def save_head_checkpoint(card: ModelCard, head: LinearHead, backbone: object, out: Path) -> None:
    """Write ``model.safetensors`` (backbone + head), ``model.json`` and ``model.onnx``.

    The backbone's weights are saved too, although most come from a package: a checkpoint must rebuild the same
    model years later, from a different machine, whatever happened to the weights file it started from.
    """
    import torch

    from dogbreeds.models.heads import BreedModel
    from dogbreeds.models.onnx_export import export_onnx

    linear = torch.nn.Linear(head.weight.shape[1], head.weight.shape[0])
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(head.weight))
        linear.bias.copy_(torch.from_numpy(head.bias))
    tensors = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}  # type: ignore[attr-defined]
    save_weights({**tensors, "head.weight": linear.weight, "head.bias": linear.bias}, out)
    model = BreedModel(backbone, linear, flip_average=bool(card.model_args.get("flip_average")))  # type: ignore[arg-type]
    export_onnx(model, card.preprocess.input_size, out / ONNX_NAME)
    save_card(card, out)

"""``dogbreeds train --method features``: frozen-backbone embeddings + a linear head, end to end.

Raw photos -> cached embeddings -> head chosen on a validation split -> temperature, verdict thresholds, the
open-set score and the mirror threshold -> refit on the training photos -> a self-describing checkpoint with
its ONNX model, ready for ``predict``.

The validation split is a stratified share of the photos, or (``val_frames``) folders of whole-frame photos: the
honest choice when the training photos are tight crops and the photos to sort are whole frames. A validation
photo's own training photo (same breed folder and file name: its crop) is then left out of training, crops and
every other view, so nothing is chosen on a dog the head has seen.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dogbreeds.core.breeds import IMAGENET_INDICES, IMAGENET_OF, NUM_BREEDS
from dogbreeds.core.card import ONNX_NAME, ModelCard, OpenSet, save_card
from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _
from dogbreeds.core.metrics import below_confidence, classification_metrics, softmax
from dogbreeds.core.progress import progress
from dogbreeds.core.verdicts import (
    DOG_RECALL,
    DOG_SCORE_POWER,
    MIN_VALIDATION_PHOTOS,
    choose_thresholds,
    dog_mass,
    dog_score,
    familiarity,
    familiarity_inputs,
)  # fmt: skip
from dogbreeds.data.folders import load_folder_tree, load_samples
from dogbreeds.data.samples import Sample, SampleSet
from dogbreeds.data.split import stratified_split
from dogbreeds.data.stanford import is_stanford_root, read_split_list
from dogbreeds.models.weights import save_weights
from dogbreeds.training.embeddings import BackboneSpec, Embeddings, embed_samples, weights_digest
from dogbreeds.training.linear_head import L2_GRID, LinearHead, fit_linear_head, fit_temperature
from dogbreeds.training.open_set import familiarity_threshold, held_out_breeds

MIRROR_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)

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
    val_frames: tuple[str, ...] = ()  # folder-per-breed trees of whole frames: the validation split (see above)
    keep_familiar: float = 0.97  # validation dogs with a "dog" verdict the other_breed threshold keeps
    mirror_coverage: float = 0.9  # of the validation photos whose answer the mirror image changes, those it reaches
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
    if cfg.val_frames:
        train_set, val_set, refused = frames_split(data, cfg)
    else:
        train_set, val_set = stratified_split(data, val_fraction=cfg.val_fraction, seed=cfg.seed)
        refused = 0
    prior, backbone = _imagenet_prior(cfg.backbone, cfg.weights)
    prior = _with_new_classes(prior, num_classes)
    preprocess = backbone_preprocess(backbone)
    spec = BackboneSpec(cfg.backbone, weights_digest(backbone), preprocess, flip=cfg.flip, box_margin=cfg.box_margin)
    photos = train_set.samples + val_set.samples if cfg.val_frames else data.samples
    emb = embed_samples(
        photos, spec, backbone, cache_root=cache_root, desc=_("embedding ({backbone})", backbone=cfg.backbone)
    )
    embedded_at = time.perf_counter()
    index = {p: i for i, p in enumerate(emb.paths)}
    train, val = (
        _subset(emb, [index[s.path] for s in part.samples if s.path in index]) for part in (train_set, val_set)
    )

    priors = _candidate_priors(cfg.prior, prior)
    grid = (cfg.l2,) if cfg.l2 is not None else L2_GRID
    best, trials = select_head(train, val, priors, grid, num_classes)
    # The mirror threshold first, then everything else on the validation photos as the model will see them:
    # mirrored and averaged under mirror_below, one view above it. Which photos are mirrored is decided with the
    # first temperature; the card's (refitted on those views: 0.653 against 0.646 for the shipped model) moves
    # that decision for a handful of photos at most.
    first_temperature = fit_temperature(best.head.logits(val.averaged), val.labels)
    mirror_below = choose_mirror_below(best.head, val, first_temperature, cfg.mirror_coverage) if cfg.flip else 0.0
    val_features = deployed_view(best.head, val, first_temperature, mirror_below)
    val_logits = best.head.logits(val_features)
    temperature = fit_temperature(val_logits, val.labels)
    val_probs = softmax(val_logits / temperature)
    imagenet_fc = _imagenet_classifier(backbone)
    val_dog = _dog_mass(imagenet_fc, val_features)
    verdicts = choose_thresholds(
        val_probs, val.labels, val_dog, target_accuracy=cfg.target_accuracy, dog_recall=cfg.dog_recall,
        dog_score_power=cfg.dog_score_power,
    )  # fmt: skip
    open_set, open_set_metrics = OpenSet(), {}
    if imagenet_fc is not None:
        imagenet_index = np.array([IMAGENET_OF.get(c, -1) for c in data.classes])
        studied = held_out_breeds(train, val, imagenet_fc, imagenet_index, priors[best.prior], best.l2)
        if studied is not None:
            open_set, open_set_metrics = studied
            inputs = familiarity_inputs(val_probs, val_logits, imagenet_fc.logits(val_features), imagenet_index)
            top = val_probs.max(axis=1)
            # the validation dogs that would be answered "dog" but for this threshold: it keeps keep_familiar of them
            answered = (top >= verdicts.min_probability) & (
                dog_score(val_dog, top, verdicts.dog_score_power) >= verdicts.min_dog_score)  # fmt: skip
            verdicts.min_familiarity = familiarity_threshold(familiarity(inputs[answered], open_set), cfg.keep_familiar)
    # Refit on every training photo (never the validation frames); the temperature fitted on held-out photos
    # carries over.
    refit = emb if not cfg.val_frames else train
    head = fit_linear_head(
        *_train_view(refit), num_classes=num_classes, l2=best.l2, prior=priors[best.prior], init=best.head
    )
    fitted_at = time.perf_counter()

    out = Path(cfg.out)
    card = ModelCard(
        model="features-head",
        backbone=cfg.backbone,
        backbone_weights=weights_source(cfg.backbone, cfg.weights),
        preprocess=preprocess,
        classes=list(data.classes),
        # a one-view graph: the mirror pass is the Predictor's, under mirror_below
        model_args={"in_features": int(emb.features.shape[1]), "flip_average": False},
        temperature=temperature,
        verdicts=verdicts,
        open_set=open_set,
        mirror_below=mirror_below,
        metrics={
            "val": best.val,
            "val_trials": [{"prior": t.prior, "l2": t.l2, **t.val} for t in trials],
            **({"open_set": open_set_metrics} if open_set_metrics else {}),
        },  # fmt: skip
        training={
            **{k: v for k, v in asdict(cfg).items() if k not in _NOT_IN_CARD},
            "chosen_prior": best.prior,
            "chosen_l2": best.l2,
            "n_train": len(train.labels),
            "n_val": len(val.labels),
            "val_frames_refused_test": refused,
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


def _imagenet_classifier(backbone: object) -> LinearHead | None:
    """The backbone's own 1000-way ImageNet head as arrays (linear on the embeddings), or None without one."""
    fc = backbone.get_classifier()  # type: ignore[attr-defined]
    if getattr(fc, "out_features", 0) != 1000:
        return None
    return LinearHead(fc.weight.detach().numpy(), fc.bias.detach().numpy())


def _dog_mass(fc: LinearHead | None, features: np.ndarray) -> np.ndarray:
    """The backbone's own dog mass for embeddings; a backbone without an ImageNet head counts every photo a dog."""
    return np.ones(len(features)) if fc is None else dog_mass(fc.logits(features))


def frames_split(data: SampleSet, cfg: FeaturesConfig) -> tuple[SampleSet, SampleSet, int]:
    """Training photos and the validation whole frames of ``cfg.val_frames``; a frame's own training photo (same
    breed and file name) leaves training. A Stanford folder's test-list photos are never validation photos (the
    test list is for the final numbers only): they are counted and left out."""
    test: set[tuple[str, str]] = set()  # (breed id, file name): whatever the frames' folders are called
    if is_stanford_root(Path(cfg.data)):
        test = {(rel.split("/")[0], rel.split("/")[-1]) for rel in read_split_list(Path(cfg.data), "test")}
    frames: list[Sample] = []
    refused = 0
    trained = {s.breed_id for s in data.samples}
    for folder in cfg.val_frames:
        tree = load_folder_tree(Path(folder), also=data.classes[NUM_BREEDS:])
        for s in tree.samples:
            if (s.breed_id, s.path.name) in test:
                refused += 1
            elif s.breed_id in trained:
                frames.append(Sample(s.path, data.classes.index(s.breed_id), classes=data.classes))
            else:
                raise UsageError(_("{folder}: the validation frames name a breed the training photos lack: {breed}",
                                   folder=folder, breed=s.breed_id))  # fmt: skip
    if len(frames) < MIN_VALIDATION_PHOTOS:
        raise UsageError(_("{n} validation frames: at least {min} are needed to choose the thresholds", n=len(frames),
                           min=MIN_VALIDATION_PHOTOS))  # fmt: skip
    seen = {(s.breed_id, s.path.name) for s in frames}
    train = [s for s in data.samples if (s.breed_id, s.path.name) not in seen]
    emptied = sorted({s.breed_id for s in frames} - {s.breed_id for s in train})
    if emptied:
        raise UsageError(_("the validation frames leave {breed} without a training photo (are the frames the "
                           "training photos themselves?)", breed=emptied[0]))  # fmt: skip
    return (SampleSet(data.name, train, data.classes), SampleSet(data.name + "-frames", frames, data.classes),
            refused)  # fmt: skip


def deployed_view(head: LinearHead, emb: Embeddings, temperature: float, mirror_below: float) -> np.ndarray:
    """The embeddings as the Predictor makes them: flip-averaged for the photos whose one-view top probability is
    under ``mirror_below``, one view for the others."""
    if emb.flipped is None:
        return emb.features
    again = below_confidence(head.logits(emb.features), temperature, mirror_below)
    return np.where(again[:, None], emb.averaged, emb.features)


def choose_mirror_below(head: LinearHead, val: Embeddings, temperature: float, coverage: float) -> float:
    """The lowest top probability (of one view) under which a photo is also seen mirrored, such that the mirror
    pass still reaches ``coverage`` of the validation photos whose top breed flip-averaging changes (1.0 when
    none does; 0.0 when it never changes one). Changes, not accuracy: a few percent of photos change, and the
    accuracy of a thousand validation photos moves by a photo or two, too little to choose by. The mirror pass
    costs a second run of the model, and most photos' answers do not change with it."""
    if val.flipped is None:
        return 0.0
    single = head.logits(val.features)
    changed = single.argmax(1) != head.logits(val.averaged).argmax(1)
    if not changed.any():
        return 0.0
    top = softmax(single / temperature).max(axis=1)
    for below in MIRROR_GRID:
        if (changed & (top < below)).sum() >= coverage * changed.sum():
            return below
    return 1.0


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

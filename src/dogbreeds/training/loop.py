"""Training registered models end to end (from scratch, for now): a flat loop, a checkpoint per epoch, resume.

``fit`` orchestrates: data -> model -> ``train_one_epoch`` / ``evaluate`` per epoch -> a checkpoint folder per
epoch (weights in safetensors, optimizer state through ``torch.load(weights_only=True)``, progress in JSON).
Every source of randomness is re-seeded from ``(seed, epoch)``, so a run killed at any moment and resumed
from its last checkpoint ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dogbreeds.core.breeds import NUM_BREEDS
from dogbreeds.core.card import ONNX_NAME, ModelCard, save_card, write_json_atomic
from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _
from dogbreeds.core.transforms import Preprocess
from dogbreeds.data.decoded import decode_samples
from dogbreeds.data.folders import load_samples
from dogbreeds.data.split import stratified_split
from dogbreeds.models.backbones import backbone_preprocess
from dogbreeds.models.heads import ClassifierModel
from dogbreeds.models.registry import count_parameters, create_model
from dogbreeds.models.weights import save_weights
from dogbreeds.training.augment import random_resized_crop, to_float
from dogbreeds.training.config import TrainConfig
from dogbreeds.training.finetune import build_finetune_model, param_groups, set_train_mode
from dogbreeds.training.schedules import make_schedule

log = logging.getLogger(__name__)


@dataclass
class ArrayData:
    """Decoded photos (uint8, ``(N, S, S, 3)``) with labels: what an epoch iterates over."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def batches(
        self, batch_size: int, order: torch.Tensor | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.arange(len(self)) if order is None else order
        for start in range(0, len(order), batch_size):
            idx = np.sort(order[start : start + batch_size].numpy())  # sorted: memory-mapped reads stay sequential
            yield torch.from_numpy(np.ascontiguousarray(self.images[idx])), torch.from_numpy(self.labels[idx])


def make_optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _forward(model: torch.nn.Module, x: torch.Tensor, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The model's outputs by name: ``breed_logits`` always, ``features`` / ``imagenet_logits`` when it has them."""
    if cfg.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
        out = model(x)
    if isinstance(out, torch.Tensor):
        return {"breed_logits": out.float()}
    return {name: t.float() for name, t in zip(model.output_names, out, strict=True)}


def train_one_epoch(
    model: torch.nn.Module, data: ArrayData, preprocess: Preprocess, opt: torch.optim.Optimizer,
    lr_at: Callable[[int], float], step: int, cfg: TrainConfig, generator: torch.Generator, size: int,
) -> tuple[dict[str, float], int]:  # fmt: skip
    """One pass over the training data (shuffled, random-resized-cropped to ``size``, flipped); returns metrics
    and the next step."""
    set_train_mode(model, freeze_bn=cfg.method == "finetune" and cfg.freeze_bn)
    seen, loss_sum, correct, started = 0, 0.0, 0, time.perf_counter()
    order = torch.randperm(len(data), generator=generator)
    for batch, y in data.batches(cfg.batch_size, order):
        x = to_float(batch, preprocess.mean, preprocess.std)
        x = random_resized_crop(x, size, scale=(cfg.crop_scale_min, 1.0), generator=generator)
        for group in opt.param_groups:
            group["lr"] = lr_at(step) * group.get("lr_scale", 1.0)
        logits = _forward(model, x, cfg)["breed_logits"]
        loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        seen += len(y)
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
    seconds = time.perf_counter() - started
    return {"train_loss": loss_sum / max(seen, 1), "train_top1": correct / max(seen, 1),
            "images_per_second": seen / seconds if seconds else 0.0}, step  # fmt: skip


@torch.inference_mode()
def predict_outputs(
    model: torch.nn.Module, data: ArrayData, preprocess: Preprocess, cfg: TrainConfig
) -> dict[str, torch.Tensor]:
    """Every output of the model for every photo, whole (no crop), at the evaluation size."""
    model.eval()
    chunks = [_forward(model, to_float(x, preprocess.mean, preprocess.std), cfg) for x, _ in data.batches(128)]
    if not chunks:
        return {"breed_logits": torch.empty(0, NUM_BREEDS)}
    return {name: torch.cat([c[name] for c in chunks]) for name in chunks[0]}


def evaluate(model: torch.nn.Module, data: ArrayData, preprocess: Preprocess, cfg: TrainConfig) -> dict[str, float]:
    logits = predict_outputs(model, data, preprocess, cfg)["breed_logits"]
    y = torch.from_numpy(data.labels)
    return {"val_loss": float(F.cross_entropy(logits, y)) if len(y) else 0.0,
            "val_top1": float((logits.argmax(1) == y).float().mean()) if len(y) else 0.0}  # fmt: skip


def _save_epoch(folder: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Write the resume point atomically: a kill at any moment leaves a complete one (the new or the previous).

    The new folder is written aside, the previous one renamed away, the new one renamed into place; only then is
    the previous one deleted. :func:`_resume_point` finds whichever complete folder a kill left behind.
    """
    tmp, old = folder.with_name(f".{folder.name}.tmp"), folder.with_name(f".{folder.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    save_weights(model.state_dict(), tmp)
    torch.save(opt.state_dict(), tmp / "optimizer.pt")
    write_json_atomic(tmp / "state.json", state)  # written last: its presence marks a complete folder
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def _save_best(folder: Path, model: torch.nn.Module) -> None:
    """The weights of the best epoch so far (by validation loss), atomically: what early stopping returns."""
    save_weights(model.state_dict(), folder)


def _restore_best(cfg: TrainConfig, run: _Run, state: dict[str, Any]) -> dict[str, Any]:
    """With early stopping, put the best epoch's weights back; returns that epoch's validation metrics."""
    history = state["history"]
    best_epoch = state.get("best_epoch")
    if not (cfg.early_stop_patience and best_epoch and history):
        return dict(history[-1]) if history else {}
    if best_epoch != len(history):
        from safetensors.torch import load_file

        run.model.load_state_dict(load_file(str(Path(cfg.out) / "best" / "model.safetensors")))
    return {**history[best_epoch - 1], "best_epoch": best_epoch, "epochs_trained": len(history)}


def _resume_point(last: Path) -> Path | None:
    """The complete checkpoint folder a (possibly killed) run left: ``last``, else the one being swapped."""
    for folder in (last, last.with_name(f".{last.name}.old"), last.with_name(f".{last.name}.tmp")):
        if (folder / "state.json").exists():
            return folder
    return None


@dataclass
class _Run:
    """Everything the epoch loop touches."""

    model: torch.nn.Module
    opt: torch.optim.Optimizer
    lr_at: Callable[[int], float]
    train: ArrayData
    val: ArrayData
    preprocess: Preprocess


def _load_arrays(cfg: TrainConfig, preprocess: Preprocess) -> tuple[ArrayData, ArrayData, str]:
    """Split, cap (``max_train_samples``) and decode once at the evaluation size; returns the data fingerprint."""
    data = load_samples(cfg.data, cfg.split, images=cfg.images).limit_per_class(cfg.limit_per_class)
    if len(data.classes) != NUM_BREEDS:
        raise UsageError(_("breeds outside the 120 ({names}) are learnt with --method features (the default) only",
                           names=", ".join(data.classes[NUM_BREEDS:][:5])))  # fmt: skip
    train_set, val_set = stratified_split(data, val_fraction=cfg.val_fraction, seed=cfg.seed)
    train_samples = train_set.samples
    if cfg.max_train_samples and cfg.max_train_samples < len(train_samples):
        keep = torch.randperm(len(train_samples), generator=torch.Generator().manual_seed(cfg.seed))
        train_samples = [train_samples[i] for i in sorted(keep[: cfg.max_train_samples].tolist())]
    cache = Path(cfg.cache_dir) if cfg.cache_dir else None
    train = ArrayData(*decode_samples(train_samples, preprocess, cache_dir=cache, desc=_("decoding training photos")))
    val = ArrayData(*decode_samples(val_set.samples, preprocess, cache_dir=cache, desc=_("decoding validation photos")))
    return train, val, data.fingerprint()


def _build_model(cfg: TrainConfig) -> tuple[torch.nn.Module, Preprocess]:
    if cfg.method == "finetune":
        model: torch.nn.Module = build_finetune_model(cfg.model, cfg.weights, freeze_stages=cfg.freeze_stages)
        preprocess = backbone_preprocess(model.backbone)
    else:
        # models with a flatten layer (the studies' CNNs) are built for the size they will be trained at
        size = {"input_size": cfg.image_size} if cfg.image_size else {}
        model = create_model(cfg.model, num_classes=NUM_BREEDS, **size, **cfg.model_args)
        preprocess = backbone_preprocess(model)
    # trained networks see whole photos (decoded arrays are shorter side -> size, centre square): crop_pct 1
    preprocess = replace(preprocess, input_size=cfg.image_size or preprocess.input_size, crop_pct=1.0)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, preprocess


def fit(
    cfg: TrainConfig, *, resume: bool = False, on_epoch: Callable[[dict[str, Any]], None] | None = None
) -> ModelCard:
    """Train ``cfg.model`` on ``cfg.data``; resumes from ``cfg.out/last`` when ``resume`` and it exists."""
    from safetensors.torch import load_file

    torch.manual_seed(cfg.seed)
    model, preprocess = _build_model(cfg)
    train, val, fingerprint = _load_arrays(cfg, preprocess)
    steps_per_epoch = -(-len(train) // cfg.batch_size)
    lr_at = make_schedule(cfg.schedule, lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                          warmup_steps=cfg.warmup_steps, power_s=cfg.power_s, power_c=cfg.power_c)  # fmt: skip
    params = param_groups(model, cfg.body_lr_scale) if cfg.method == "finetune" else model.parameters()
    run = _Run(model, make_optimizer(cfg, params), lr_at, train, val, preprocess)
    out, last = Path(cfg.out), Path(cfg.out) / "last"
    state: dict[str, Any] = {"epoch": 0, "step": 0, "history": [], "best_val_loss": None, "bad_epochs": 0}
    point = _resume_point(last) if resume else None
    if point is not None:
        model.load_state_dict(load_file(str(point / "model.safetensors")))
        run.opt.load_state_dict(torch.load(point / "optimizer.pt", weights_only=True))
        state = json.loads((point / "state.json").read_text())
        log.info(_("resuming {out} at epoch {epoch}", out=cfg.out, epoch=state["epoch"]))
    tracker = None
    if cfg.track:
        from dogbreeds.training.tracking import Tracker

        logged = {**asdict(cfg), "parameters": count_parameters(model), "train_photos": len(train),
                  "trainable_parameters": count_parameters(model, trainable_only=True)}  # fmt: skip
        tracker = Tracker(cfg.tracking_uri, cfg.model, logged, run_id=state.get("mlflow_run_id"),
                          parent_run_id=cfg.parent_run_id)  # fmt: skip
        state["mlflow_run_id"] = tracker.run_id
    started = time.perf_counter()
    try:
        _epochs(cfg, run, state, last, tracker, on_epoch)
        card = _finish(cfg, run, state, fingerprint)
    except BaseException:
        if tracker:
            tracker.end("KILLED")  # a resumed run picks the same MLflow run up again
        raise
    if tracker:
        final = {f"final_{k}": v for k, v in card.metrics["val"].items() if isinstance(v, float)}
        tracker.log_summary({"wall_seconds": time.perf_counter() - started, **final})
        tracker.log_artifacts([out / n for n in ("model.json", "learning_curves.png", "model.safetensors")])
        tracker.end()
    return card


def _finish(cfg: TrainConfig, run: _Run, state: dict[str, Any], fingerprint: str) -> ModelCard:
    """Calibrate on the validation photos (temperature, verdict thresholds), write weights, card, ONNX, curves."""
    from dogbreeds.core.metrics import softmax
    from dogbreeds.core.verdicts import choose_thresholds, dog_mass
    from dogbreeds.models.backbones import weights_source
    from dogbreeds.models.onnx_export import export_onnx
    from dogbreeds.training.linear_head import fit_temperature

    out = Path(cfg.out)
    finetune = cfg.method == "finetune"
    chosen = _restore_best(cfg, run, state)  # the last epoch, or with early stopping the best one
    run.model = run.model.to(memory_format=torch.contiguous_format)
    # calibrated and exported as it will predict: with or without test-time flip averaging
    model = run.model if finetune else ClassifierModel(run.model)
    y = torch.from_numpy(run.val.labels)
    flip_check = {}
    if cfg.flip_average and len(y):  # what the flip adds, on validation photos: recorded, never hidden
        model.flip_average = False  # type: ignore[assignment]
        plain = predict_outputs(model, run.val, run.preprocess, cfg)["breed_logits"]
        flip_check["val_top1_without_flip"] = float((plain.argmax(1) == y).float().mean())
    model.flip_average = cfg.flip_average  # type: ignore[assignment]
    val = predict_outputs(model, run.val, run.preprocess, cfg)
    if flip_check:
        flip_check["val_top1_with_flip"] = float((val["breed_logits"].argmax(1) == y).float().mean())
    logits = val["breed_logits"].numpy().astype(np.float64)
    temperature = fit_temperature(logits, run.val.labels) if len(logits) else 1.0
    imagenet = val.get("imagenet_logits")
    verdicts = choose_thresholds(
        softmax(logits / temperature), run.val.labels,
        dog_mass(imagenet.numpy()) if imagenet is not None else np.ones(len(logits)),
    )  # fmt: skip
    if imagenet is None:  # no ImageNet head: this model cannot say "not a dog"
        verdicts.min_dog_score = 0.0
    card = ModelCard(
        model="finetune" if finetune else cfg.model, backbone=cfg.model,
        backbone_weights=weights_source(cfg.model, cfg.weights) if finetune else "scratch",
        preprocess=run.preprocess, temperature=temperature, verdicts=verdicts,
        model_args={
            "parameters": count_parameters(run.model),
            "trainable_parameters": count_parameters(run.model, trainable_only=True),
            "flip_average": cfg.flip_average,
            **({} if finetune else {"input_size": run.preprocess.input_size, **cfg.model_args}),
        },
        metrics={"val": {**chosen, **flip_check}, "history": state["history"]},
        training=asdict(cfg), data_fingerprint=fingerprint,
    )  # fmt: skip
    save_weights(run.model.state_dict(), out)
    export_onnx(model.eval(), run.preprocess.input_size, out / ONNX_NAME)
    save_card(card, out)
    if state["history"]:
        from dogbreeds.training.curves import plot_learning_curves

        plot_learning_curves(
            state["history"], out / "learning_curves.png", title=f"{cfg.model} on {Path(cfg.data).name}"
        )
    return card


def _epochs(
    cfg: TrainConfig, run: _Run, state: dict[str, Any], last: Path, tracker: Any,
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> None:  # fmt: skip
    """The epoch loop of :func:`fit`: train, evaluate, checkpoint, report, maybe stop early."""
    while state["epoch"] < cfg.epochs:
        if cfg.early_stop_patience and state["bad_epochs"] >= cfg.early_stop_patience:
            break  # stopped early before a kill: a resumed run must not train on
        epoch = state["epoch"]
        torch.manual_seed(cfg.seed * 1000 + epoch)  # dropout randomness, reproducible per epoch
        generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)  # order and augmentation
        epoch_started = time.perf_counter()
        size = cfg.train_size_at(epoch, run.preprocess.input_size)
        metrics, state["step"] = train_one_epoch(
            run.model, run.train, run.preprocess, run.opt, run.lr_at, state["step"], cfg, generator, size
        )
        metrics.update(evaluate(run.model, run.val, run.preprocess, cfg), epoch=epoch + 1, train_size=size,
                       seconds=round(time.perf_counter() - epoch_started, 2),
                       lr=run.lr_at(max(0, state["step"] - 1)))  # fmt: skip
        state["history"].append(metrics)
        state["epoch"] = epoch + 1
        best = state["best_val_loss"]
        improved = best is None or metrics["val_loss"] < best
        state["bad_epochs"] = 0 if improved else state["bad_epochs"] + 1
        state["best_val_loss"] = metrics["val_loss"] if best is None else min(best, metrics["val_loss"])
        if improved and cfg.early_stop_patience:  # early stopping keeps the best epoch, not the last one
            _save_best(last.with_name("best"), run.model)
            state["best_epoch"] = epoch + 1
        _save_epoch(last, run.model, run.opt, state)
        if tracker:
            tracker.log_epoch(metrics, epoch + 1)
        if on_epoch:
            on_epoch(metrics)
        if cfg.early_stop_patience and state["bad_epochs"] >= cfg.early_stop_patience:
            log.info(_("early stop after epoch {epoch}; the best was epoch {best}", epoch=epoch + 1,
                       best=state.get("best_epoch")))  # fmt: skip
            break

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
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from dogbreeds.backbones import backbone_preprocess
from dogbreeds.breeds import NUM_BREEDS
from dogbreeds.checkpoint import ModelCard, save_card, save_weights, write_json_atomic
from dogbreeds.data.folders import load_samples
from dogbreeds.data.images import UnreadableImage, load_rgb
from dogbreeds.data.samples import Sample
from dogbreeds.data.split import stratified_split
from dogbreeds.registry import count_parameters, create_model
from dogbreeds.schedules import make_schedule
from dogbreeds.transforms import eval_transform, train_transform

log = logging.getLogger(__name__)
OPTIMIZERS = ("sgd", "adam", "adamw")


@dataclass
class TrainConfig:
    """A training run; written into the checkpoint."""

    data: str
    out: str
    model: str = "study_cnn1"
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    warmup_steps: int = 0
    power_s: float = 1000.0
    power_c: float = 1.0
    label_smoothing: float = 0.1
    grad_clip: float | None = None
    early_stop_patience: int | None = None
    image_size: int | None = None  # None: the model's own input size
    split: str | None = None
    images: str | None = None
    val_fraction: float = 0.1
    limit_per_class: int | None = None
    seed: int = 0
    track: bool = True  # log to MLflow (embedded SQLite store under runs/ unless tracking_uri says otherwise)
    tracking_uri: str | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1")


class PhotoDataset(Dataset):
    """Samples through a transform; an unreadable photo is replaced by the next readable one (and logged)."""

    def __init__(self, samples: list[Sample], transform: Callable[[Any], torch.Tensor]) -> None:
        self.samples, self.transform = samples, transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        for k in range(len(self.samples)):
            sample = self.samples[(i + k) % len(self.samples)]
            try:
                return self.transform(load_rgb(sample.path, min_size=256)), sample.label
            except UnreadableImage as err:
                log.warning("skipping %s: %s", sample.path, err)
        raise RuntimeError("no readable photo in the training set")


def make_optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def train_one_epoch(
    model: torch.nn.Module, loader: DataLoader, opt: torch.optim.Optimizer, lr_at: Callable[[int], float],
    step: int, cfg: TrainConfig,
) -> tuple[dict[str, float], int]:  # fmt: skip
    """One pass over the training data; returns its metrics and the next global step."""
    model.train()
    seen, loss_sum, correct, started = 0, 0.0, 0, time.perf_counter()
    for x, y in loader:
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        logits = model(x)
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
def evaluate(model: torch.nn.Module, loader: DataLoader) -> dict[str, float]:
    model.eval()
    seen, loss_sum, correct = 0, 0.0, 0
    for x, y in loader:
        logits = model(x)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
    return {"val_loss": loss_sum / max(seen, 1), "val_top1": correct / max(seen, 1)}


def _save_epoch(folder: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Write the resume point atomically: a kill mid-write leaves the previous one intact."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_weights(model.state_dict(), tmp)
    torch.save(opt.state_dict(), tmp / "optimizer.pt")
    write_json_atomic(tmp / "state.json", state)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def fit(
    cfg: TrainConfig, *, resume: bool = False, on_epoch: Callable[[dict[str, Any]], None] | None = None
) -> ModelCard:
    """Train ``cfg.model`` on ``cfg.data``; resumes from ``cfg.out/last`` when ``resume`` and it exists."""
    from safetensors.torch import load_file

    torch.manual_seed(cfg.seed)
    data = load_samples(cfg.data, cfg.split, images=cfg.images).limit_per_class(cfg.limit_per_class)
    train_set, val_set = stratified_split(data, val_fraction=cfg.val_fraction, seed=cfg.seed)
    # models with a flatten layer (the studies' CNNs) are built for the size they will be trained at
    model = create_model(
        cfg.model, num_classes=NUM_BREEDS, **({"input_size": cfg.image_size} if cfg.image_size else {})
    )
    preprocess = backbone_preprocess(model)
    if cfg.image_size:
        preprocess = replace(preprocess, input_size=cfg.image_size)
    to_tensor = eval_transform(preprocess)
    val_loader = DataLoader(PhotoDataset(val_set.samples, lambda im: torch.from_numpy(to_tensor(im))), batch_size=64)
    train_data = PhotoDataset(train_set.samples, train_transform(preprocess))
    steps_per_epoch = -(-len(train_data) // cfg.batch_size)
    lr_at = make_schedule(cfg.schedule, lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                          warmup_steps=cfg.warmup_steps, power_s=cfg.power_s, power_c=cfg.power_c)  # fmt: skip
    opt = make_optimizer(cfg, model.parameters())
    out, last = Path(cfg.out), Path(cfg.out) / "last"
    state: dict[str, Any] = {"epoch": 0, "step": 0, "history": [], "best_val_loss": None, "bad_epochs": 0}
    if resume and (last / "state.json").exists():
        model.load_state_dict(load_file(str(last / "model.safetensors")))
        opt.load_state_dict(torch.load(last / "optimizer.pt", weights_only=True))
        state = json.loads((last / "state.json").read_text())
        log.info("resuming %s at epoch %d", cfg.out, state["epoch"])
    tracker = None
    if cfg.track:
        from dogbreeds.tracking import Tracker

        params = {**asdict(cfg), "parameters": count_parameters(model), "train_photos": len(train_data)}
        tracker = Tracker(cfg.tracking_uri, cfg.model, params, run_id=state.get("mlflow_run_id"))
        state["mlflow_run_id"] = tracker.run_id
    started = time.perf_counter()
    try:
        _epochs(cfg, model, opt, lr_at, train_data, val_loader, state, last, tracker, on_epoch)
    except BaseException:
        if tracker:
            tracker.end("KILLED")  # a resumed run picks the same MLflow run up again
        raise
    card = ModelCard(
        model=cfg.model, backbone=cfg.model, backbone_weights="scratch", preprocess=preprocess,
        model_args={"parameters": count_parameters(model)},
        metrics={"val": state["history"][-1] if state["history"] else {}, "history": state["history"]},
        training=asdict(cfg), data_fingerprint=data.fingerprint(),
    )  # fmt: skip
    save_weights(model.state_dict(), out)
    save_card(card, out)
    if state["history"]:
        from dogbreeds.curves import plot_learning_curves

        plot_learning_curves(
            state["history"], out / "learning_curves.png", title=f"{cfg.model} on {Path(cfg.data).name}"
        )
    if tracker:
        final = {f"final_{k}": v for k, v in card.metrics["val"].items() if k != "epoch"}
        tracker.log_summary({"wall_seconds": time.perf_counter() - started, **final})
        tracker.log_artifacts([out / "model.json", out / "learning_curves.png", out / "model.safetensors"])
        tracker.end()
    return card


def _epochs(
    cfg: TrainConfig, model: torch.nn.Module, opt: torch.optim.Optimizer, lr_at: Callable[[int], float],
    train_data: PhotoDataset, val_loader: DataLoader, state: dict[str, Any], last: Path, tracker: Any,
    on_epoch: Callable[[dict[str, Any]], None] | None,
) -> None:  # fmt: skip
    """The epoch loop of :func:`fit`: train, evaluate, checkpoint, report, maybe stop early."""
    while state["epoch"] < cfg.epochs:
        epoch = state["epoch"]
        torch.manual_seed(cfg.seed * 1000 + epoch)  # augmentation randomness, reproducible per epoch
        shuffle = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        loader = DataLoader(train_data, batch_size=cfg.batch_size, shuffle=True, generator=shuffle)
        metrics, state["step"] = train_one_epoch(model, loader, opt, lr_at, state["step"], cfg)
        metrics.update(evaluate(model, val_loader), epoch=epoch + 1, lr=lr_at(max(0, state["step"] - 1)))
        state["history"].append(metrics)
        state["epoch"] = epoch + 1
        best = state["best_val_loss"]
        state["bad_epochs"] = 0 if best is None or metrics["val_loss"] < best else state["bad_epochs"] + 1
        state["best_val_loss"] = metrics["val_loss"] if best is None else min(best, metrics["val_loss"])
        _save_epoch(last, model, opt, state)
        if tracker:
            tracker.log_epoch(metrics, epoch + 1)
        if on_epoch:
            on_epoch(metrics)
        if cfg.early_stop_patience and state["bad_epochs"] >= cfg.early_stop_patience:
            log.info("early stop after epoch %d", epoch + 1)
            break

"""The settings of a network training run (scratch or fine-tuning): a typed dataclass, validated early, loadable
from YAML (the ``experiments/`` configs) and written into every checkpoint. Torch-free, so the CLI can check a
config before paying for ``import torch``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _

OPTIMIZERS = ("sgd", "adam", "adamw")
METHODS = ("scratch", "finetune")


@dataclass
class TrainConfig:
    """A training run; written into the checkpoint."""

    data: str
    out: str
    model: str = "study_cnn1"  # a registered model (scratch) or a timm backbone (finetune)
    model_args: dict[str, Any] = field(default_factory=dict)  # scratch: e.g. widths, mid_stride, dropout
    method: str = "scratch"  # scratch: random weights; finetune: ImageNet weights, breed head, partial/full
    weights: str = "auto"  # finetune: auto | packaged | hub | file:PATH
    freeze_stages: int = 0  # finetune: the stem and this many stages stay frozen (0: full fine-tuning)
    freeze_bn: bool = True  # finetune: every batch norm keeps its ImageNet running statistics
    flip_average: bool = False  # the final model averages each photo with its mirror image (test-time flip)
    body_lr_scale: float = 0.1  # finetune: the body's learning rate as a fraction of the head's
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
    image_size: int | None = None  # evaluation size; None: the model's own input size
    # random-crop size in training (None: the evaluation size); a list trains at each size in turn, over equal
    # shares of the epochs (progressive resizing: cheap small crops first, the test size's neighbourhood last)
    train_size: int | list[int] | None = None
    crop_scale_min: float = 0.25  # smallest random crop, as a fraction of the photo's area
    channels_last: bool = False
    bf16: bool = False  # bfloat16 autocast (CPUs with avx512_bf16 / AMX, or CUDA)
    max_train_samples: int | None = None  # a short budget: train on this many photos
    cache_dir: str | None = None  # decoded-photo arrays, reused by later runs
    parent_run_id: str | None = None  # MLflow parent (a search study)
    split: str | None = None
    images: str | None = None
    val_fraction: float = 0.1
    limit_per_class: int | None = None
    seed: int = 0
    track: bool = True  # log to MLflow (embedded SQLite store under runs/ unless tracking_uri says otherwise)
    tracking_uri: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UsageError(
                _("method must be one of {names}, not {method!r}", names=", ".join(METHODS), method=self.method)
            )
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(
                _(
                    "optimizer must be one of {names}, not {optimizer!r}",
                    names=", ".join(OPTIMIZERS),
                    optimizer=self.optimizer,
                )
            )
        if self.epochs < 1 or self.batch_size < 1:
            raise UsageError(_("epochs and batch_size must be at least 1"))
        sizes = self.train_size if isinstance(self.train_size, list) else [self.train_size or 1]
        if not sizes or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise UsageError(
                _(
                    "train_size must be a positive size or a list of them, not {train_size!r}",
                    train_size=self.train_size,
                )
            )

    def train_size_at(self, epoch: int, default: int) -> int:
        """The random-crop size of ``epoch`` (0-based): ``default`` when unset, the list's share when a list (the
        last epoch always trains at the last size, however few the epochs)."""
        if not isinstance(self.train_size, list):
            return self.train_size or default
        if epoch >= self.epochs - 1:
            return self.train_size[-1]
        return self.train_size[epoch * len(self.train_size) // self.epochs]


def load_config(path: str | Path) -> dict[str, Any]:
    """Training settings from a YAML file (the ``experiments/`` configs); unknown keys are an error."""
    import yaml

    settings = yaml.safe_load(Path(path).read_text()) or {}
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise UsageError(
            _(
                "{path}: unknown setting(s) {names}; known: {names2}",
                path=path,
                names=", ".join(unknown),
                names2=", ".join(sorted(known)),
            )
        )
    return settings

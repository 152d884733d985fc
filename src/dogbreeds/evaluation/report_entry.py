"""One model in ``dogbreeds report``: where it came from and the numbers measured for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dogbreeds.core.card import ModelCard


@dataclass
class ModelEntry:
    """One column of the comparison."""

    label: str
    onnx: Path
    card: ModelCard
    folder: Path | None = None
    run_id: str | None = None
    parameters: int | None = None
    train_seconds: float | None = None
    images_per_second: float | None = None
    test: dict[str, Any] = field(default_factory=dict)
    confused: list[dict[str, Any]] = field(default_factory=list)

    @property
    def history(self) -> list[dict[str, Any]]:
        return list(self.card.metrics.get("history") or [])

    @property
    def kind(self) -> str:
        if self.card.model == "features-head":
            return "transfer: feature extraction"
        if self.card.model == "finetune":
            return f"transfer: fine-tuning ({self.card.model_args.get('trainable_parameters', 0):,} trainable)"
        return "from scratch"

"""Learning curves as a PNG beside the checkpoint, like the studies' TensorBoard plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_learning_curves(history: list[dict[str, Any]], out: Path, *, title: str = "") -> Path:
    """Loss and top-1 per epoch, training and validation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        loss_ax.plot(epochs, [h[key] for h in history], marker="o", label=label)
    for key, label in (("train_top1", "train"), ("val_top1", "validation")):
        acc_ax.plot(epochs, [h[key] for h in history], marker="o", label=label)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="top-1", title="accuracy", ylim=(0, 1))
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out

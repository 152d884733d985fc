"""Pictures of an error analysis: confusion matrix, reliability diagram, top-loss gallery (matplotlib, lazily)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dogbreeds.core.breeds import BREED_IDS, human_name
from dogbreeds.evaluation.analysis import Predictions, reliability_bins


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(
    confusion: np.ndarray, out: Path, *, max_breeds: int = 30, classes: tuple[str, ...] = BREED_IDS
) -> Path:
    """The confusion matrix restricted to the breeds most involved in mistakes, so 120 breeds stay readable.

    Rows are normalised by support (each row shows where that breed's photos went); the diagonal is left out of
    the colour scale so that errors, not successes, stand out.
    """
    plt = _pyplot()
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    involvement = off.sum(axis=0) + off.sum(axis=1)
    keep = np.argsort(-involvement)[:max_breeds]
    keep = keep[involvement[keep] > 0] if (involvement[keep] > 0).any() else keep[:1]
    sub = confusion[np.ix_(keep, keep)].astype(float)
    rates = sub / np.maximum(confusion[keep].sum(axis=1, keepdims=True), 1)
    errors = rates.copy()
    np.fill_diagonal(errors, np.nan)
    names = [human_name(classes[i]) for i in keep]
    size = max(6.0, 0.32 * len(keep) + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(errors, cmap="Reds", vmin=0, vmax=max(float(np.nanmax(errors)) if len(keep) > 1 else 0.0, 1e-6))
    ax.set_xticks(range(len(keep)), names, rotation=90, fontsize=7)
    ax.set_yticks(range(len(keep)), names, fontsize=7)
    for i in range(len(keep)):
        for j in range(len(keep)):
            if sub[i, j] and i != j:
                ax.text(j, i, int(sub[i, j]), ha="center", va="center", fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(
        f"Most-confused breeds ({len(keep)} of {int((confusion.sum(1) > 0).sum())}): share of each row's photos"
    )
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_reliability(p: Predictions, out: Path, *, bins: int = 15) -> Path:
    """Reliability diagram: accuracy against confidence per bin, with the bin sizes below."""
    plt = _pyplot()
    rows = reliability_bins(p.probability, p.correct, bins=bins)
    centres = [(r["low"] + r["high"]) / 2 for r in rows]
    width = 1.0 / bins
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5.5, 6.5), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.bar(centres, [r["accuracy"] if r["count"] else 0 for r in rows], width=width * 0.95, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    ax.plot(
        [r["confidence"] for r in rows if r["count"]],
        [r["accuracy"] for r in rows if r["count"]],
        "o-",
        color="tab:red",
        markersize=3,
        label="mean confidence vs accuracy",
    )
    from dogbreeds.core.metrics import expected_calibration_error

    ax.set_title(f"Reliability (ECE {expected_calibration_error(p.probability, p.correct):.2%}, n {len(p.paths)})")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax_n.bar(centres, [r["count"] for r in rows], width=width * 0.95, color="grey")
    ax_n.set_yscale("log")
    ax_n.set_xlabel("top-1 probability")
    ax_n.set_ylabel("photos")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_top_losses(p: Predictions, out: Path, *, n: int = 16, thumb: int = 160) -> Path:
    """A gallery of the photos with the highest loss: photo, true breed, predicted breed, probability."""
    from PIL import Image, ImageDraw

    from dogbreeds.data.images import UnreadableImage, load_rgb

    order = np.argsort(-p.loss)[:n]
    cols = 4
    rows = max(1, (len(order) + cols - 1) // cols)
    caption = 44
    grid = Image.new("RGB", (cols * thumb, rows * (thumb + caption)), "white")
    draw = ImageDraw.Draw(grid)
    for k, i in enumerate(order):
        x, y = (k % cols) * thumb, (k // cols) * (thumb + caption)
        try:
            img = load_rgb(p.paths[i], min_size=thumb)
            img.thumbnail((thumb, thumb))
            grid.paste(img, (x + (thumb - img.width) // 2, y + caption))
        except UnreadableImage:
            draw.text((x + 4, y + caption + 4), "photo missing", fill="red")
        true, pred = human_name(p.classes[p.labels[i]]), human_name(p.classes[p.preds[i]])
        draw.text((x + 3, y + 2), f"true: {true}"[:30], fill="darkgreen")
        draw.text((x + 3, y + 15), f"pred: {pred}"[:30], fill="darkred")
        draw.text((x + 3, y + 28), f"p={p.probability[i]:.2f} loss={p.loss[i]:.1f}", fill="black")
    grid.save(out)
    return out

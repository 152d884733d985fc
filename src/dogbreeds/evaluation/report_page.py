"""The comparison page of ``dogbreeds report``: PNG charts, ``index.html`` and its Markdown twin ``report.md``.

Self-contained: the HTML has no script or remote asset, its images sit beside it, so the folder can be zipped,
mailed and opened offline.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from dogbreeds.evaluation.plots import _pyplot
from dogbreeds.evaluation.report_entry import ModelEntry

CURVES, BARS = "learning_curves.png", "comparison.png"


def plot_curves(entries: list[ModelEntry], out: Path) -> Path | None:
    """Validation top-1 and loss per epoch, every trained model on the same axes."""
    trained = [e for e in entries if e.history]
    if not trained:
        return None
    plt = _pyplot()
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for e in trained:
        epochs = [h["epoch"] for h in e.history]
        acc_ax.plot(epochs, [h["val_top1"] for h in e.history], marker=".", label=e.label)
        loss_ax.plot(epochs, [h["val_loss"] for h in e.history], marker=".", label=e.label)
    acc_ax.set(xlabel="epoch", ylabel="validation top-1", ylim=(0, 1), title="accuracy")
    loss_ax.set(xlabel="epoch", ylabel="validation cross-entropy", title="loss")
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
    acc_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / CURVES, dpi=100)
    plt.close(fig)
    return out / CURVES


def plot_bars(entries: list[ModelEntry], out: Path) -> Path:
    """Top-1 (test when evaluated, else validation) and inference speed, one bar per model."""
    plt = _pyplot()
    labels = [e.label for e in entries]
    top1 = [_top1(e) or 0.0 for e in entries]
    speed = [e.images_per_second or 0.0 for e in entries]
    fig, (acc_ax, speed_ax) = plt.subplots(1, 2, figsize=(11, 0.6 * len(entries) + 1.8))
    acc_ax.barh(labels, top1, color="tab:blue")
    speed_ax.barh(labels, speed, color="tab:orange")
    acc_ax.set(xlim=(0, 1), xlabel="top-1", title="accuracy")
    speed_ax.set(xlabel="images/s (ONNX Runtime, this machine)", title="inference speed")
    speed_ax.set_yticklabels([])
    for ax, values, fmt in ((acc_ax, top1, "{:.1%}"), (speed_ax, speed, "{:.0f}")):
        ax.invert_yaxis()
        for y, v in enumerate(values):
            ax.text(v, y, " " + fmt.format(v), va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / BARS, dpi=100)
    plt.close(fig)
    return out / BARS


def _top1(e: ModelEntry) -> float | None:
    if "top1" in e.test:
        return float(e.test["top1"])
    val = e.card.metrics.get("val") or {}
    value = val.get("val_top1", val.get("top1"))
    return None if value is None else float(value)


def _cached(e: ModelEntry) -> bool:
    """Feature extraction records its fitting time; its embeddings may have come from the cache."""
    return e.card.model == "features-head"


def _pct(value: Any) -> str:
    return "" if value is None else f"{float(value):.2%}"


def table_rows(entries: list[ModelEntry]) -> tuple[list[str], list[list[str]]]:
    """The comparison as header + rows of text, shared by the HTML and the Markdown."""
    header = ["model", "kind", "backbone", "top-1", "top-5", "loss", "ECE", "train time", "parameters", "images/s"]
    rows = []
    for e in entries:
        t = e.test
        rows.append([
            e.label, e.kind, e.card.backbone, _pct(_top1(e)) + ("" if "top1" in t else " (val)"), _pct(t.get("top5")),
            f"{t['loss']:.3f}" if "loss" in t else "", _pct(t.get("ece")),
            "" if e.train_seconds is None else f"{e.train_seconds / 60:.1f} min" + ("*" if _cached(e) else ""),
            "" if e.parameters is None else f"{e.parameters:,}",
            "" if e.images_per_second is None else f"{e.images_per_second:.0f}",
        ])  # fmt: skip
    return header, rows


def write_page(entries: list[ModelEntry], out: Path, *, data_name: str | None) -> Path:
    curves = plot_curves(entries, out)
    plot_bars(entries, out)
    header, rows = table_rows(entries)
    source = f"Test metrics on {data_name}." if data_name else "Validation metrics from the checkpoints (no --data)."
    md = ["# Model comparison", "", source + " Inference speed: ONNX Runtime on this machine, batch 16.", ""]
    md += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    footnote = "* feature extraction: the time its build recorded, which reuses cached embeddings when it can."
    if any(_cached(e) for e in entries):
        md += ["", footnote]
    md += ["", f"![accuracy and speed]({BARS})", ""]
    if curves:
        md += ["## Learning curves", "", f"![learning curves]({CURVES})", ""]
    for e in entries:
        md += [f"## {e.label}", "", f"- model id: `{e.card.id}`", f"- weights: {e.card.backbone_weights}"]
        if e.confused:
            md += [
                "- most confused: " + "; ".join(f"{c['true']} -> {c['predicted']} ({c['count']})" for c in e.confused)
            ]
        md.append("")
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")

    esc = html.escape
    cells = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    sections = []
    for e in entries:
        confused = "".join(f"<li>{esc(c['true'])} &rarr; {esc(c['predicted'])}: {c['count']}</li>" for c in e.confused)
        sections.append(
            f"<h2>{esc(e.label)}</h2><p>model id <code>{esc(e.card.id)}</code>, weights {esc(e.card.backbone_weights)}"
            f"</p>" + (f"<p>Most confused pairs (true &rarr; predicted):</p><ul>{confused}</ul>" if confused else "")
        )  # fmt: skip
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>dogbreeds model comparison</title><style>"
        "body{font-family:sans-serif;max-width:1150px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,td:nth-child(2),td:nth-child(3){text-align:left}img{max-width:100%}</style></head><body>"
        f"<h1>Model comparison</h1><p>{esc(source)} Inference speed: ONNX Runtime on this machine, batch 16.</p>"
        f"<table><tr>{cells}</tr>{body}</table>"
        + (f"<p><small>{esc(footnote)}</small></p>" if any(_cached(e) for e in entries) else "")
        + f"<p><img src='{BARS}' alt='accuracy and speed'></p>"
        + (f"<h2>Learning curves</h2><p><img src='{CURVES}' alt='learning curves'></p>" if curves else "")
        + "".join(sections) + "</body></html>"
    )  # fmt: skip
    (out / "index.html").write_text(page, encoding="utf-8")
    return out / "index.html"

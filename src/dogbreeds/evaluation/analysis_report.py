"""``dogbreeds analyze``: the error analysis of a predictions file written out as tables, pictures and Markdown."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from dogbreeds.evaluation.analysis import (
    confusion_matrix,
    load_predictions,
    most_confused,
    per_class_report,
    summarise_predictions,
)
from dogbreeds.evaluation.plots import plot_confusion, plot_reliability, plot_top_losses


def write_analysis(predictions_file: str | Path, out: str | Path, *, top: int = 20) -> dict[str, Any]:
    """Write the whole error analysis of a predictions file into ``out/``; returns the summary.

    Files: ``summary.json``, ``per_breed.csv`` (worst F1 first), ``most_confused.csv``, ``confusion.png``,
    ``reliability.png``, ``top_losses.png`` and ``analysis.md`` tying them together.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    p = load_predictions(predictions_file)
    confusion = confusion_matrix(p.labels, p.preds, len(p.classes))
    report = sorted(per_class_report(confusion, p.classes), key=lambda r: (r["f1"], r["name"]))
    pairs = most_confused(confusion, top=top, classes=p.classes)
    summary = {**summarise_predictions(p), "predictions": str(predictions_file), "most_confused": pairs[:5]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _write_csv(out / "per_breed.csv", report)
    _write_csv(out / "most_confused.csv", pairs)
    plot_confusion(confusion, out / "confusion.png", classes=p.classes)
    plot_reliability(p, out / "reliability.png")
    plot_top_losses(p, out / "top_losses.png")
    lines = [
        f"# Error analysis of `{predictions_file}`",
        "",
        f"{summary['n']} photos: top-1 {summary['top1']:.2%}, mean loss {summary['loss']:.4f}, "
        f"ECE {summary['ece']:.2%} (15 bins).",
        "",
        "## Most-confused pairs",
        "",
        "| true | predicted | photos |",
        "|---|---|---|",
        *[f"| {r['true']} | {r['predicted']} | {r['count']} |" for r in pairs],
        "",
        "## Weakest breeds (lowest F1)",
        "",
        "| breed | precision | recall | F1 | photos |",
        "|---|---|---|---|---|",
        *[
            f"| {r['name']} | {r['precision']:.2f} | {r['recall']:.2f} | {r['f1']:.2f} | {r['support']} |"
            for r in report[:15]
        ],
        "",
        "![confusion](confusion.png)",
        "",
        "![reliability](reliability.png)",
        "",
        "![top losses](top_losses.png)",
        "",
    ]
    (out / "analysis.md").write_text("\n".join(lines))
    return summary


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

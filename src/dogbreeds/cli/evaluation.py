"""``dogbreeds evaluate``, ``analyze`` and ``report``: how good a model is, where it fails, models side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dogbreeds.cli.common import batch_options, command, data_options, model_options, out_path, positive_int
from dogbreeds.core.i18n import _, n_


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "evaluate",
        help=_("top-1, top-5, loss and calibration on a labelled folder or a Stanford Dogs list"),
        examples=[
            "dogbreeds evaluate --data ../shared/datasets/stanford-dogs",
            "dogbreeds evaluate --data my-breeds/ --model runs/lite2 --predictions preds.csv",
            "dogbreeds evaluate --data stanford-dogs --split test --leakage --duplicates pairs.csv",
        ],
        run=run_evaluate,
        parents=[data_options(default_split="test"), model_options(), batch_options()],
    )
    p.add_argument("--box-crop", type=float, metavar="MARGIN", help=_("crop to the annotated boxes with this margin"))
    p.add_argument("--json-out", type=Path, help=_("write the metrics as JSON"))
    p.add_argument("--predictions", type=Path, help=_("write per-photo predictions (.csv or .parquet)"))
    g = p.add_argument_group(_("near-duplicates"))
    g.add_argument(
        "--leakage",
        action="store_true",
        help=_(
            "report near-duplicate photos (perceptual hash) within the evaluated photos and against the training "
            "photos (the other official list, or --train-data)"
        ),
    )
    g.add_argument("--train-data", help=_("training folder to check for near-duplicates (with --leakage)"))
    g.add_argument("--duplicates", type=Path, help=_("write the near-duplicate pairs as CSV (with --leakage)"))

    p = command(
        sub,
        "analyze",
        help=_("error analysis of saved predictions: per-breed report, confusions, calibration"),
        examples=["dogbreeds analyze preds.csv --out analysis/"],
        run=run_analyze,
    )
    p.add_argument("predictions", type=Path, help=_("a file written by 'evaluate --predictions' (.csv or .parquet)"))
    out_path(p, _("folder to write"), default=Path("analysis"))
    p.add_argument("--top", type=positive_int, default=20, help=_("how many most-confused pairs to list"))

    p = command(
        sub,
        "report",
        help=_("compare models side by side: an HTML page and its Markdown twin, with charts"),
        examples=[
            "dogbreeds report default runs/lite2 --out report/ --data stanford-dogs",
            "dogbreeds report 3f2a9c1e default --out report/",
        ],
        run=run_report,
        parents=[data_options(required=False, default_split="test", limit=False)],
    )
    p.add_argument(
        "models",
        nargs="+",
        metavar="MODEL",
        help=_("checkpoint folder, .onnx file, 'default' (the shipped model) or an MLflow run id"),
    )
    out_path(p, _("folder for index.html, report.md and the pictures"), required=True)
    p.add_argument("--tracking-uri", help=_("MLflow store to find run ids in (default: sqlite:///runs/mlflow.db)"))
    p.add_argument("--speed-seconds", type=float, default=3.0, help=_("time spent measuring each model's speed"))


def default_split(data: str | None, split: str | None) -> str | None:
    """The official test list for a Stanford Dogs folder given without ``--split``; as given otherwise."""
    from dogbreeds.data.stanford import is_stanford_root

    if split is None and data and is_stanford_root(Path(data)):
        return "test"
    return split


def run_evaluate(args: argparse.Namespace) -> int:
    from dogbreeds.core.card import write_json_atomic
    from dogbreeds.core.files import printable
    from dogbreeds.evaluation.evaluate import evaluate, write_predictions

    args.split = default_split(args.data, args.split)
    if args.split:
        print(_("evaluating on the official {split} list of {data}", split=args.split, data=args.data), file=sys.stderr)
    result = evaluate(
        args.data,
        model=args.model,
        split=args.split,
        images=args.images,
        box_margin=args.box_crop,
        limit_per_class=args.limit_per_class,
        batch_size=args.batch_size,
        backend=args.backend,
        precision=args.precision,
    )
    m = result.metrics
    print(
        _(
            "top-1 {top1:.2%}  top-5 {top5:.2%}  loss {loss:.4f}  ECE {ece:.2%}  n {n}  unreadable {unreadable}",
            **{k: m[k] for k in ("top1", "top5", "loss", "ece", "n", "unreadable")},
        )
    )
    for path, why in result.errors.items():
        print("  " + _("unreadable: {path}: {why}", path=printable(path), why=why), file=sys.stderr)
    if args.leakage:
        m["near_duplicates"] = _report_leakage(args, [Path(r["path"]) for r in result.rows])
    if args.json_out:
        write_json_atomic(args.json_out, m)
    if args.predictions:
        write_predictions(result.rows, args.predictions)
    return 0


def _report_leakage(args: argparse.Namespace, evaluated: list[Path]) -> dict[str, int]:
    """Print and count near-duplicates of the evaluated photos; the training photos are the other official list."""
    from dogbreeds.data.folders import load_samples
    from dogbreeds.data.stanford import is_stanford_root
    from dogbreeds.evaluation.leakage import leakage_report, write_duplicates_csv

    reference = None
    if args.train_data:
        reference = [s.path for s in load_samples(args.train_data).samples]
    elif is_stanford_root(Path(args.data)) and args.split in ("train", "test"):
        other = "train" if args.split == "test" else "test"
        reference = [s.path for s in load_samples(args.data, other, images=args.images).samples]
    report = leakage_report(evaluated, reference)
    kinds = {"within": _("within the evaluated photos"), "against_train": _("against the training photos")}
    for kind, pairs in report.items():
        print(
            n_(
                "near-duplicates {kind}: {n} pair",
                "near-duplicates {kind}: {n} pairs",
                len(pairs),
                kind=kinds.get(kind, kind),
            )
        )
        for pair in pairs[:5]:
            print("  " + _("{a}  ~  {b}  ({bits} bits)", a=pair.a, b=pair.b, bits=pair.distance))
    if args.duplicates:
        write_duplicates_csv(report, args.duplicates)
    return {kind: len(pairs) for kind, pairs in report.items()}


def run_analyze(args: argparse.Namespace) -> int:
    from dogbreeds.evaluation.analysis_report import write_analysis

    summary = write_analysis(args.predictions, args.out, top=args.top)
    print(_("{n} photos: top-1 {top1:.2%}, ECE {ece:.2%}; most confused:", **summary))
    for pair in summary["most_confused"]:
        print(f"  {pair['count']:4d}  {pair['true']} -> {pair['predicted']}")
    print(_("wrote {path} and its pictures", path=args.out / "analysis.md"))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from dogbreeds.evaluation.report import build_report

    split = default_split(args.data, args.split)
    entries = build_report(args.models, args.out, data=args.data, split=split, images=args.images,
                           tracking_uri=args.tracking_uri, speed_seconds=args.speed_seconds)  # fmt: skip
    for e in entries:
        top1 = e.test.get("top1")
        if top1 is None:
            print(_("{label}: {speed:.0f} photos/s", label=e.label, speed=e.images_per_second))
        else:
            print(_("{label}: top-1 {top1:.2%}, {speed:.0f} photos/s", label=e.label, top1=top1,
                    speed=e.images_per_second))  # fmt: skip
    print(_("report -> {path} (and report.md)", path=args.out / "index.html"))
    return 0

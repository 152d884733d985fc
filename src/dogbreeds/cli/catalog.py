"""The catalog commands of the ``dogbreeds`` CLI: classify, export, sort, review, corrections export."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """``--backend`` / ``--precision`` (the choices of :mod:`dogbreeds.inference.backends`, spelled out here so that the
    CLI starts without importing NumPy)."""
    p.add_argument("--backend", choices=["onnx", "openvino", "torch"], default="onnx",
                   help="inference runtime: ONNX Runtime (default), OpenVINO (the [openvino] extra), or PyTorch "
                   "(a checkpoint folder, the [train] extra)")  # fmt: skip
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: bfloat16 arithmetic with --backend openvino or torch, on CPUs that have it")  # fmt: skip


def add_catalog_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="classify whole folders into a catalog database (resumable)")
    p.add_argument("folders", nargs="+", metavar="DIR", help="folders to walk recursively (or single photos)")
    p.add_argument("--db", help="SQLAlchemy URL or SQLite file (default: dogbreeds.db here)")
    p.add_argument("--model", help="checkpoint folder or .onnx file (default: the shipped model)")
    add_backend_options(p)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=2, help="threads reading and decoding photos")
    p.add_argument("--min-probability", type=float, help="below this top breed probability the verdict is unsure")
    p.add_argument(
        "--min-dog-score",
        type=float,
        help="below this dog score (dog probability x top breed probability ** the card's dog_score_power) the "
        "verdict is not_a_dog",
    )
    p.add_argument(
        "--min-dog-probability",
        type=float,
        help="judge by the dog probability alone (the rule before the dog score): below it, not_a_dog",
    )
    p.set_defaults(func=cmd_classify)
    e = sub.add_parser("export", help="export the catalog as CSV, JSON or Parquet")
    e.add_argument("--db", help="SQLAlchemy URL or SQLite file (default: dogbreeds.db here)")
    e.add_argument("--format", choices=["csv", "json", "parquet"], help="default: from the file name")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--verdict", choices=["dog", "unsure", "not_a_dog", "unreadable"], help="only these rows")
    e.set_defaults(func=cmd_export)
    o = sub.add_parser("sort", help="build a folder per breed from the catalog (originals are never touched)")
    o.add_argument("--db", help="SQLAlchemy URL or SQLite file (default: dogbreeds.db here)")
    o.add_argument("--into", type=Path, required=True, help="folder to fill with <breed>/, not_a_dog/, unsure/")
    o.add_argument("--mode", choices=["copy", "hardlink", "symlink"], default="copy")
    o.set_defaults(func=cmd_sort)
    r = sub.add_parser("review", help="a terminal queue of unsure and least-confident photos for volunteers")
    r.add_argument("--db", help="SQLAlchemy URL or SQLite file (default: dogbreeds.db here)")
    r.add_argument("--reviewer", help="who is reviewing (default: the login name)")
    r.add_argument("--limit", type=int, help="review at most N photos")
    r.set_defaults(func=cmd_review)
    c = sub.add_parser("corrections", help="volunteers' decisions")
    csub = c.add_subparsers(dest="corrections_command", required=True)
    ce = csub.add_parser("export", help="write reviewed photos as a folder-per-breed tree that `train` accepts")
    ce.add_argument("--db", help="SQLAlchemy URL or SQLite file (default: dogbreeds.db here)")
    ce.add_argument("--out", type=Path, required=True)
    ce.add_argument("--mode", choices=["copy", "hardlink", "symlink"], default="copy")
    ce.set_defaults(func=cmd_corrections_export)


def cmd_classify(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.classify import Classifier
    from dogbreeds.catalog.database import database_url, open_catalog
    from dogbreeds.inference.predictor import Predictor

    missing = [f for f in args.folders if not Path(f).exists()]
    if missing:
        raise FileNotFoundError(f"no such folder: {', '.join(missing)}")
    predictor = Predictor(args.model, backend=args.backend, precision=args.precision)
    if args.min_probability is not None:
        predictor.card.verdicts.min_probability = args.min_probability
    if args.min_dog_score is not None and args.min_dog_probability is not None:
        raise ValueError("give --min-dog-score or --min-dog-probability, not both")
    if args.min_dog_score is not None:
        predictor.card.verdicts.min_dog_score = args.min_dog_score
    if args.min_dog_probability is not None:
        predictor.card.verdicts.min_dog_score = args.min_dog_probability
        predictor.card.verdicts.dog_score_power = 0.0
    engine = open_catalog(args.db)
    stats = Classifier(predictor, engine, batch_size=args.batch_size, workers=args.workers).run(args.folders)
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_verdict.items())) or "none"
    print(
        f"{stats.photos} photos in {stats.seconds:.1f} s ({stats.photos_per_second:.1f}/s): {stats.classified} "
        f"classified, {stats.reused} known by content, {stats.unchanged} unchanged, {stats.unreadable} unreadable"
        f"{f', {stats.vanished} vanished' if stats.vanished else ''}; verdicts: {verdicts}; "
        f"catalog {database_url(args.db)}"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.database import iter_rows, open_catalog
    from dogbreeds.catalog.export import export_rows

    n = export_rows(iter_rows(open_catalog(args.db), verdict=args.verdict), args.out, fmt=args.format)
    print(f"wrote {n} rows to {args.out}")
    return 0


def cmd_sort(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.database import iter_rows, open_catalog
    from dogbreeds.catalog.sort import sort_rows

    stats = sort_rows(iter_rows(open_catalog(args.db)), args.into, mode=args.mode)
    print(
        f"placed {stats.placed} photos in {args.into} ({args.mode}); {stats.already} already there, "
        f"{stats.missing} no longer on disk"
    )
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.database import open_catalog
    from dogbreeds.catalog.review import run_review

    stats = run_review(open_catalog(args.db), reviewer=args.reviewer, limit=args.limit)
    print(
        f"\nreviewed: {stats.confirmed} confirmed, {stats.corrected} corrected, {stats.not_a_dog} not a dog, "
        f"{stats.skipped} skipped"
    )
    return 0


def cmd_corrections_export(args: argparse.Namespace) -> int:
    from dogbreeds.catalog.database import open_catalog
    from dogbreeds.catalog.review import export_corrections

    counts = export_corrections(open_catalog(args.db), args.out, mode=args.mode)
    print(f"wrote {sum(counts.values())} photos of {len(counts)} breeds to {args.out}")
    return 0

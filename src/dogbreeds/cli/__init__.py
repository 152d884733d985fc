"""The ``dogbreeds`` command line: one entry point, a subcommand per stage.

Only this module parses arguments; each subcommand calls a library function. Heavy libraries (torch, timm) are
imported inside the commands that need them, so ``dogbreeds predict`` starts instantly.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from dogbreeds import __version__
from dogbreeds.cli.catalog import add_backend_options, add_catalog_commands


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="name the breed of photos (folders are walked)")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo files or folders")
    p.add_argument("--model", help="checkpoint folder or .onnx file (default: the shipped model)")
    p.add_argument("--top-k", type=int, default=3, help="how many breeds to list per photo (default 3)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per photo")
    p.add_argument("--batch-size", type=int, default=16)
    add_backend_options(p)
    p.set_defaults(func=cmd_predict)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="top-1/top-5/loss on a labelled folder or a Stanford Dogs split")
    p.add_argument("--data", required=True, help="Stanford Dogs folder or folder-per-breed tree")
    p.add_argument("--split", choices=["train", "test"], help="official list (Stanford Dogs folders only)")
    p.add_argument("--images", help="Stanford image folder to use: Images or crops224 (default: whichever exists)")
    p.add_argument("--model", help="checkpoint folder or .onnx file (default: the shipped model)")
    add_backend_options(p)
    p.add_argument("--box-crop", type=float, metavar="MARGIN", help="crop to annotated boxes with this margin")
    p.add_argument("--limit-per-class", type=int, help="evaluate on the first N photos of each breed")
    p.add_argument("--json-out", type=Path, help="write the metrics as JSON")
    p.add_argument("--predictions", type=Path, help="write per-photo predictions (.csv or .parquet)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument(
        "--leakage",
        action="store_true",
        help="report near-duplicate photos (perceptual hash) within the evaluated photos and against the training "
        "photos (the other official split, or --train-data)",
    )
    p.add_argument("--train-data", help="training folder to check for near-duplicates (with --leakage)")
    p.add_argument("--duplicates", type=Path, help="write the near-duplicate pairs as CSV (with --leakage)")
    p.set_defaults(func=cmd_evaluate)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (feature extraction: embeddings + linear head)")
    p.add_argument(
        "--method", choices=["features", "scratch", "finetune"],
        help="features: frozen backbone + linear head; scratch: train a registered model from random weights; "
        "finetune: train an ImageNet backbone (--backbone) with a breed head, partly or fully "
        "(default: the --config file's method, else features)",
    )  # fmt: skip
    p.add_argument("--data", help="Stanford Dogs folder or folder-per-breed tree (required)")
    p.add_argument("--out", help="checkpoint folder to write (required)")
    p.add_argument("--backbone", help="timm model name (default tf_efficientnet_lite2)")
    p.add_argument("--weights", default="auto", help="auto | packaged | hub | file:PATH")
    p.add_argument("--split", choices=["train", "test"], help="official list (default train on Stanford folders)")
    p.add_argument("--images", help="Stanford image folder: Images or crops224")
    p.add_argument("--no-flip", dest="flip", action="store_false", help="no flip augmentation / averaging")
    p.add_argument(
        "--prior",
        choices=["auto", "imagenet", "none"],
        default="imagenet",
        help="pull the head towards the backbone's own ImageNet breed rows (imagenet), towards zero (none), "
        "or let validation pick (auto)",
    )
    p.add_argument("--l2", type=float, help="L2 strength (default: chosen on the validation split)")
    # None: scratch/finetune take the config file's value (or TrainConfig's); features uses 0.1 and 0
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--limit-per-class", type=int, help="use the first N photos of each breed (quick runs)")
    p.add_argument("--cache-dir", type=Path, help="embedding cache (default ~/.cache/dogbreeds or $DOGBREEDS_CACHE)")
    s = p.add_argument_group(
        "scratch training and fine-tuning (--method scratch | finetune; unset flags come from --config, "
        "then from the defaults of dogbreeds.training.loop.TrainConfig)"
    )
    s.add_argument("--config", type=Path, help="YAML file of training settings (see experiments/)")
    s.add_argument("--model", help="registered model (see --list-models), or a timm backbone with finetune")
    s.add_argument("--list-models", action="store_true", help="print the registered models and exit")
    s.add_argument("--epochs", type=int)
    s.add_argument("--max-epochs", type=int, help="a short budget: at most this many epochs (schedule included)")
    s.add_argument("--max-train-samples", type=int, help="a short budget: train on this many photos")
    s.add_argument("--batch-size", type=int)
    s.add_argument("--optimizer", choices=["sgd", "adam", "adamw"])
    s.add_argument("--lr", type=float)
    s.add_argument("--weight-decay", type=float)
    s.add_argument("--schedule", choices=["constant", "power", "exponential", "cosine", "onecycle"])
    s.add_argument("--warmup-steps", type=int)
    s.add_argument("--power-s", type=float, help="power schedule: lr0 / (1 + t/s)^c")
    s.add_argument("--power-c", type=float)
    s.add_argument("--label-smoothing", type=float)
    s.add_argument("--grad-clip", type=float, help="clip the gradient norm to this")
    s.add_argument("--image-size", type=int, help="evaluation size (default: the model's own)")
    s.add_argument("--train-size", type=int, help="random-crop size in training (default: the evaluation size)")
    s.add_argument("--crop-scale-min", type=float, help="smallest random crop as a fraction of the area")
    s.add_argument("--channels-last", action="store_true", default=None, help="channels-last memory format")
    s.add_argument("--bf16", action="store_true", default=None, help="bfloat16 autocast")
    s.add_argument("--freeze-stages", type=int, help="finetune: freeze the stem and this many stages (0: all train)")
    s.add_argument("--body-lr-scale", type=float, help="finetune: body learning rate as a fraction of the head's")
    s.add_argument(
        "--train-bn", dest="freeze_bn", action="store_false", default=None,
        help="finetune: update batch-norm statistics of trainable stages (default: keep ImageNet's)",
    )  # fmt: skip
    s.add_argument("--early-stop", type=int, dest="early_stop_patience", metavar="EPOCHS",
                   help="stop after this many epochs without progress")  # fmt: skip
    s.add_argument("--resume", action="store_true", help="continue from the last epoch checkpoint in --out")
    s.add_argument("--no-track", dest="track", action="store_false", default=None, help="do not log to MLflow")
    s.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite:///runs/mlflow.db)")
    p.set_defaults(func=cmd_train)


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect a data folder")
    dsub = p.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("summary", help="photos per breed, sizes, unreadable files with reasons")
    s.add_argument("root", type=Path)
    s.add_argument("--split", choices=["train", "test"])
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_data_summary)
    v = dsub.add_parser("preview", help="a grid of augmented training samples titled with breed names")
    v.add_argument("root", type=Path)
    v.add_argument("--out", type=Path, default=Path("preview.png"))
    v.add_argument("--split", choices=["train", "test"])
    v.add_argument("--n", type=int, default=16, help="how many samples (default 16)")
    v.add_argument("--size", type=int, default=224)
    v.add_argument("--seed", type=int, default=0)
    v.set_defaults(func=cmd_data_preview)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="training and inference images/s by device, threads and backend")
    p.add_argument("--model", default="tf_efficientnet_lite0", help="registered or timm model name")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    p.add_argument("--threads", type=int, nargs="+", help="CPU thread counts (default: 1 and all)")
    p.add_argument("--backends", nargs="+", choices=["eager", "channels_last", "bf16", "onnx"],
                   default=["eager", "channels_last", "bf16", "onnx"])  # fmt: skip
    p.add_argument("--no-training", dest="training", action="store_false", help="inference only")
    p.add_argument("--seconds", type=float, default=2.0, help="time each measurement at least this long")
    p.add_argument("--out", type=Path, default=Path("bench"), help="folder for bench.json and bench.png")
    p.add_argument("--no-track", dest="track", action="store_false", help="do not log to MLflow")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite:///runs/mlflow.db)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    import tempfile

    from dogbreeds.training.bench import run_bench, write_bench

    with tempfile.TemporaryDirectory() as tmp:
        rows = run_bench(
            args.model, batch_sizes=tuple(args.batch_sizes), threads=tuple(args.threads) if args.threads else None,
            backends=tuple(args.backends), training=args.training, min_seconds=args.seconds, work=Path(tmp),
        )  # fmt: skip
    json_path, png = write_bench(rows, args.out, args.model)
    for r in rows:
        print(f"{r.device:4} {r.threads:2d} threads  {r.backend:13} {r.mode:9} batch {r.batch_size:3d}: "
              f"{r.images_per_second:8.1f} images/s")  # fmt: skip
    print(f"wrote {json_path} and {png}")
    if args.track:
        from dogbreeds.training.bench import log_bench

        print(f"logged to MLflow run {log_bench(rows, args.model, [json_path, png], args.tracking_uri)}")
    return 0


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="hyper-parameter search (Optuna), each trial a tracked training run")
    p.add_argument("--config", type=Path, required=True, help="search file: base settings, space, metric")
    p.add_argument("--trials", type=int, default=10, help="trials to run now (an existing study continues)")
    p.add_argument("--data", required=True, help="Stanford Dogs folder or folder-per-breed tree")
    p.add_argument("--out", type=Path, required=True, help="study folder: study.db and one folder per trial")
    p.add_argument("--split", choices=["train", "test"], help="official list (default train on Stanford folders)")
    p.add_argument("--images", help="Stanford image folder: Images or crops224")
    p.add_argument("--max-epochs", type=int, help="a short budget: at most this many epochs per trial")
    p.add_argument("--max-train-samples", type=int, help="a short budget: train each trial on this many photos")
    p.add_argument("--limit-per-class", type=int, help="use the first N photos of each breed")
    p.add_argument("--cache-dir", type=Path, help="decoded-photo cache shared by the trials")
    p.add_argument("--seed", type=int, help="seed of the sampler and of every trial (default: base's, else 0)")
    p.add_argument("--no-track", dest="track", action="store_false", default=None, help="do not log to MLflow")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite:///runs/mlflow.db)")
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    from dogbreeds.training.config import TrainConfig
    from dogbreeds.training.search import load_search, run_search, trials_table

    spec = load_search(args.config)
    base = dict(spec.get("base") or {})
    overrides = {
        "split": args.split, "images": args.images, "max_train_samples": args.max_train_samples,
        "limit_per_class": args.limit_per_class, "cache_dir": str(args.cache_dir) if args.cache_dir else None,
        "tracking_uri": args.tracking_uri, "seed": args.seed, "track": args.track,
    }  # fmt: skip
    base.update({k: v for k, v in overrides.items() if v is not None})
    if args.max_epochs:
        base["epochs"] = min(base.get("epochs", TrainConfig.epochs), args.max_epochs)
    cfg = TrainConfig(**{**base, "data": args.data, "out": str(args.out)})
    best = run_search(spec, cfg, trials=args.trials, out=args.out, seed=cfg.seed)
    from rich.console import Console
    from rich.table import Table

    rows = trials_table(args.out)
    names = sorted({k for r in rows for k in r} - {"number", "state", "value"})
    table = Table("trial", "state", best["metric"], *names, title=f"search {args.out}")
    for r in rows:
        value = "" if r["value"] is None else f"{r['value']:.4f}"
        table.add_row(str(r["number"]), r["state"], value, *(str(r.get(n, "")) for n in names))
    Console().print(table)
    print(f"best: trial {best['number']} {best['metric']} {best['value']:.4f} {json.dumps(best['params'])}")
    return 0


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="compare models side by side: HTML page + Markdown twin with charts")
    p.add_argument("models", nargs="+", metavar="RUN_OR_CHECKPOINT",
                   help="checkpoint folder, .onnx file, 'default' (the shipped model) or an MLflow run id")  # fmt: skip
    p.add_argument("--out", type=Path, required=True, help="folder for index.html, report.md and the PNGs")
    p.add_argument("--data", help="evaluate every model on this Stanford folder or folder-per-breed tree")
    p.add_argument("--split", choices=["train", "test"], help="official list (default test on Stanford folders)")
    p.add_argument("--images", help="Stanford image folder: Images or crops224")
    p.add_argument("--tracking-uri", help="MLflow store to find run ids in (default: sqlite:///runs/mlflow.db)")
    p.add_argument("--speed-seconds", type=float, default=3.0, help="time spent measuring each model's speed")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from dogbreeds.data.stanford import is_stanford_root
    from dogbreeds.evaluation.report import build_report

    split = args.split or ("test" if args.data and is_stanford_root(Path(args.data)) else None)
    entries = build_report(args.models, args.out, data=args.data, split=split, images=args.images,
                           tracking_uri=args.tracking_uri, speed_seconds=args.speed_seconds)  # fmt: skip
    for e in entries:
        top1 = e.test.get("top1")
        print(f"{e.label}: " + (f"top-1 {top1:.2%}, " if top1 is not None else "") + f"{e.images_per_second:.0f} img/s")
    print(f"report -> {args.out / 'index.html'} (and report.md)")
    return 0


def _add_runs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list tracked training runs (MLflow)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: sqlite:///runs/mlflow.db)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)


def cmd_runs(args: argparse.Namespace) -> int:
    from dogbreeds.training.tracking import list_runs

    runs = list_runs(args.tracking_uri)
    if args.json:
        print(json.dumps(runs, indent=2, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("run", "model", "status", "epochs", "val top-1", "val loss", "parameters", "seconds")
    for r in runs:
        m, p = r["metrics"], r["params"]
        table.add_row(
            r["name"] or r["run_id"][:8], p.get("model", ""), r["status"], f"{m.get('epoch', 0):.0f}",
            f"{m['val_top1']:.1%}" if "val_top1" in m else "", f"{m['val_loss']:.3f}" if "val_loss" in m else "",
            p.get("parameters", ""), f"{m['wall_seconds']:.0f}" if "wall_seconds" in m else "",
        )  # fmt: skip
    Console().print(table)
    return 0


def _add_quantize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quantize", help="write an int8 copy of a model for faster CPU inference (measure it!)")
    p.add_argument("--model", help="checkpoint folder or .onnx file (default: the shipped model)")
    p.add_argument("--calibration", nargs="+", required=True, metavar="DIR", help="photos to calibrate on")
    p.add_argument("--photos", type=int, default=200, help="how many calibration photos (default 200)")
    p.add_argument("--out", type=Path, required=True, help="the .onnx file to write (its card goes beside it)")
    p.add_argument("--runtime", choices=["onnx", "openvino"], default="onnx",
                   help="the runtime the copy is for: ONNX Runtime (default), or OpenVINO (needs NNCF: "
                        "pip install 'dogbreeds[quantize]'; run it with --backend openvino)")  # fmt: skip
    p.set_defaults(func=cmd_quantize)


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="error analysis of saved predictions: per-breed report, confusion, calibration")
    p.add_argument("predictions", type=Path, help="a file written by `evaluate --predictions` (.csv or .parquet)")
    p.add_argument("--out", type=Path, default=Path("analysis"), help="folder to write (default ./analysis)")
    p.add_argument("--top", type=int, default=20, help="how many most-confused pairs to list")
    p.set_defaults(func=cmd_analyze)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export-onnx", help="export a checkpoint to ONNX for fast CPU inference")
    p.add_argument("--model", required=True, help="checkpoint folder (model.json + model.safetensors)")
    p.add_argument("--out", type=Path, help="ONNX file to write (default: model.onnx in the checkpoint)")
    p.set_defaults(func=cmd_export_onnx)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dogbreeds", description="Sort dog photos by breed (120 Stanford Dogs breeds)."
    )
    parser.add_argument("--version", action="version", version=f"dogbreeds {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is going on")
    sub = parser.add_subparsers(dest="command", required=True)
    adders = (
        _add_predict,
        add_catalog_commands,
        _add_evaluate,
        _add_analyze,
        _add_train,
        _add_search,
        _add_report,
        _add_data,
        _add_export,
        _add_quantize,
        _add_runs,
        _add_bench,
    )
    for add in adders:
        add(sub)
    return parser


def cmd_predict(args: argparse.Namespace) -> int:
    from dogbreeds.data.images import iter_image_files
    from dogbreeds.inference.display import print_predictions
    from dogbreeds.inference.predictor import Predictor

    paths = iter_image_files(args.photos)
    if not paths:
        raise FileNotFoundError(f"no photos found in {' '.join(args.photos)}")
    from dogbreeds.core.progress import progress

    predictor = Predictor(args.model, backend=args.backend, precision=args.precision)
    predictions = []
    with progress("predicting", total=len(paths), unit="photos") as bar:
        for prediction in predictor.predict_paths(paths, top_k=args.top_k, batch_size=args.batch_size):
            predictions.append(prediction)
            bar.advance()
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions], indent=2, ensure_ascii=False))
    else:
        print_predictions(predictions)
    return 0 if any(p.error is None for p in predictions) else 1


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dogbreeds.core.card import write_json_atomic
    from dogbreeds.evaluation.evaluate import evaluate, write_predictions

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
        f"top-1 {m['top1']:.2%}  top-5 {m['top5']:.2%}  loss {m['loss']:.4f}  ECE {m['ece']:.2%}  n {m['n']}  "
        f"unreadable {m['unreadable']}"
    )
    for path, why in result.errors.items():
        print(f"  unreadable: {path}: {why}", file=sys.stderr)
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
    for kind, pairs in report.items():
        print(f"near-duplicates {kind.replace('_', ' ')}: {len(pairs)} pair(s)")
        for pair in pairs[:5]:
            print(f"  {pair.a}  ~  {pair.b}  ({pair.distance} bits)")
    if args.duplicates:
        write_duplicates_csv(report, args.duplicates)
    return {kind: len(pairs) for kind, pairs in report.items()}


def cmd_train(args: argparse.Namespace) -> int:
    if args.list_models:
        from dogbreeds.models.registry import list_models

        print("\n".join(list_models()))
        return 0
    if not args.data or not args.out:
        raise ValueError("train needs --data and --out")
    if args.method is None:
        from dogbreeds.training.config import load_config

        # a config file describes a TrainConfig (scratch or finetune; scratch unless it says otherwise)
        args.method = load_config(args.config).get("method", "scratch") if args.config else "features"
    if args.method == "features" and args.config:
        raise ValueError("--config describes scratch or finetune training; features training takes flags only")
    if args.method in ("scratch", "finetune"):
        return _train_network(args)
    from dogbreeds.training.feature_head import FeaturesConfig, train_features

    cfg = FeaturesConfig(
        data=args.data,
        out=args.out,
        backbone=args.backbone or "tf_efficientnet_lite2",
        weights=args.weights,
        split=args.split,
        images=args.images,
        flip=args.flip,
        prior=args.prior,
        l2=args.l2,
        val_fraction=0.1 if args.val_fraction is None else args.val_fraction,
        seed=args.seed or 0,
        limit_per_class=args.limit_per_class,
    )
    card = train_features(cfg, cache_root=args.cache_dir)
    t, v = card.training, card.metrics["val"]
    print(
        f"trained {card.backbone} head on {t['n_train'] + t['n_val']} photos: val top-1 {v['top1']:.2%} "
        f"(prior {t['chosen_prior']}, l2 {t['chosen_l2']:g}, T {card.temperature:.3f}); "
        f"embedding {t['seconds_embedding']} s, fitting {t['seconds_fitting']} s -> {args.out}"
    )
    for path, why in t["unreadable"].items():
        print(f"  skipped unreadable photo: {path}: {why}", file=sys.stderr)
    return 0


def _train_network(args: argparse.Namespace) -> int:
    from dogbreeds.training.config import TrainConfig, load_config
    from dogbreeds.training.loop import fit

    args.backbone_given = args.backbone is not None
    args.backbone = args.backbone or "tf_efficientnet_lite2"
    settings = load_config(args.config) if args.config else {}
    for field in fields(TrainConfig):
        value = getattr(args, field.name, None)
        if value is not None and field.name not in ("cache_dir", "method", "weights"):
            settings[field.name] = value
    if args.cache_dir:
        settings["cache_dir"] = str(args.cache_dir)
    if args.weights != "auto":
        settings["weights"] = args.weights
    settings["method"] = args.method
    if args.method == "finetune" and args.model is None and (args.backbone_given or "model" not in settings):
        settings["model"] = args.backbone
    if args.max_epochs:
        settings["epochs"] = min(settings.get("epochs", TrainConfig.epochs), args.max_epochs)
    cfg = TrainConfig(**settings)

    def report(m: dict) -> None:
        print(
            f"epoch {m['epoch']}: train loss {m['train_loss']:.3f} top-1 {m['train_top1']:.1%}  "
            f"val loss {m['val_loss']:.3f} top-1 {m['val_top1']:.1%}  {m['images_per_second']:.0f} img/s",
            flush=True,
        )

    card = fit(cfg, resume=args.resume, on_epoch=report)
    print(f"{card.model} ({card.model_args['parameters']:,} parameters) -> {args.out}")
    return 0


def cmd_data_summary(args: argparse.Namespace) -> int:
    from dogbreeds.data.summary import print_summary, summarise

    summary = summarise(args.root, args.split)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print_summary(summary)
    return 0


def cmd_data_preview(args: argparse.Namespace) -> int:
    from dogbreeds.data.preview import preview_grid

    out = preview_grid(args.root, args.out, split=args.split, n=args.n, size=args.size, seed=args.seed)
    print(f"wrote {out}")
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from dogbreeds.inference.quantize import quantize_model

    out = quantize_model(args.model, args.calibration, args.out, photos=args.photos, runtime=args.runtime)
    backend = " --backend openvino" if args.runtime == "openvino" else ""
    print(f"wrote {out} ({out.stat().st_size:,} bytes); measure it: "
          f"dogbreeds evaluate --model {out}{backend} --data ...")  # fmt: skip
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from dogbreeds.evaluation.analysis_report import write_analysis

    summary = write_analysis(args.predictions, args.out, top=args.top)
    print(f"{summary['n']} photos: top-1 {summary['top1']:.2%}, ECE {summary['ece']:.2%}; most confused:")
    for pair in summary["most_confused"]:
        print(f"  {pair['count']:4d}  {pair['true']} -> {pair['predicted']}")
    print(f"wrote {args.out}/analysis.md and its pictures")
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from dogbreeds.models.rebuild import export_checkpoint

    out = export_checkpoint(Path(args.model), args.out)
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from dogbreeds.core.breeds import UnknownBreedError
    from dogbreeds.data.split import TooFewPhotosError

    try:
        return int(args.func(args))
    except (
        FileNotFoundError,
        UnknownBreedError,
        TooFewPhotosError,
        ModuleNotFoundError,
        ValueError,
        RuntimeError,
    ) as err:
        print(f"dogbreeds {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

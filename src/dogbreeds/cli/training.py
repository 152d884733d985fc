"""``dogbreeds train``, ``search``, ``runs`` and ``bench``: the data scientists' commands (the ``[train]`` extra)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from dogbreeds.cli.common import command, data_options, out_path, positive_int, tracking_options
from dogbreeds.core.i18n import _


def add_commands(sub: argparse._SubParsersAction) -> None:
    _add_train(sub)
    _add_search(sub)
    p = command(
        sub,
        "runs",
        help=_("list the tracked training runs (MLflow)"),
        examples=["dogbreeds runs", "dogbreeds runs --json"],
        run=run_runs,
    )
    p.add_argument("--tracking-uri", help=_("MLflow tracking URI (default: sqlite:///runs/mlflow.db)"))
    p.add_argument("--json", action="store_true", help=_("print the runs as JSON"))
    _add_bench(sub)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "train",
        help=_("train a model: a linear head on a frozen backbone, a network from scratch, or a fine-tuned backbone"),
        examples=[
            "dogbreeds train --data stanford-dogs --out runs/lite2",
            "dogbreeds train --data my-breeds/ --out runs/mine --backbone tf_efficientnet_lite0",
            "dogbreeds train --data shelter-photos/ --new-breeds --out runs/shelter",
            "dogbreeds train --config experiments/scratch_dognet_progressive.yaml --data stanford-dogs --out runs/dn",
            "dogbreeds train --method finetune --backbone tf_efficientnet_lite0 --freeze-stages 4 --data d --out o",
            "dogbreeds train --list-models",
        ],
        run=run_train,
        parents=[data_options(required=False, default_split="train"), tracking_options()],
    )
    p.add_argument(
        "--method",
        choices=["features", "scratch", "finetune"],
        help=_(
            "features: frozen backbone + linear head; scratch: a registered model from random weights; "
            "finetune: an ImageNet backbone with a breed head, partly or fully trained "
            "(default: the --config file's method, else features)"
        ),
    )
    out_path(p, _("checkpoint folder to write (required)"))
    p.add_argument("--backbone", help=_("timm backbone name (default: tf_efficientnet_lite2)"))
    p.add_argument(
        "--weights", default="auto", help=_("where ImageNet weights come from: auto, packaged, hub or file:PATH")
    )
    p.add_argument(
        "--new-breeds",
        action="store_true",
        help=_(
            "folders naming no breed dogbreeds knows become new breeds, learnt from their photos (without it such a "
            "folder is an error, so a typo is caught)"
        ),
    )
    p.add_argument("--no-flip", dest="flip", action="store_false", help=_("no flip augmentation or flip averaging"))
    p.add_argument(
        "--prior",
        choices=["auto", "imagenet", "none"],
        default="imagenet",
        help=_(
            "pull the head towards the backbone's own ImageNet breed rows (imagenet), towards zero (none), "
            "or let validation choose (auto)"
        ),
    )
    p.add_argument("--l2", type=float, help=_("L2 strength of the head (default: chosen on the validation split)"))
    # None: scratch/finetune take the config file's value (or TrainConfig's); features uses 0.1 and 0
    p.add_argument("--val-fraction", type=float, help=_("share of each breed held out for validation (default 0.1)"))
    p.add_argument(
        "--val-frames",
        nargs="+",
        type=Path,
        metavar="DIR",
        help=_(
            "features: folder-per-breed trees of whole-frame photos to validate on instead of a share of the "
            "training photos; each one's own training photo (same breed and file name) is left out of training"
        ),
    )
    p.add_argument("--seed", type=int, help=_("random seed (default 0)"))
    p.add_argument("--cache-dir", type=Path, help=_("embedding cache (default ~/.cache/dogbreeds or $DOGBREEDS_CACHE)"))
    s = p.add_argument_group(
        _(
            "scratch training and fine-tuning (--method scratch | finetune; unset options come from --config, "
            "then from dogbreeds.training.config.TrainConfig)"
        )
    )
    s.add_argument("--config", type=Path, help=_("YAML file of training settings (see experiments/)"))
    s.add_argument("--model", help=_("registered model (see --list-models), or a timm backbone with finetune"))
    s.add_argument("--list-models", action="store_true", help=_("print the registered models and exit"))
    s.add_argument("--epochs", type=positive_int, help=_("training epochs"))
    s.add_argument("--max-epochs", type=positive_int, help=_("a short budget: at most this many epochs (schedule too)"))
    s.add_argument("--max-train-samples", type=positive_int, help=_("a short budget: train on this many photos"))
    s.add_argument("--batch-size", type=positive_int, help=_("photos per training step"))
    s.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], help=_("optimizer"))
    s.add_argument("--lr", type=float, help=_("peak learning rate"))
    s.add_argument("--weight-decay", type=float, help=_("weight decay"))
    s.add_argument(
        "--schedule",
        choices=["constant", "power", "exponential", "cosine", "onecycle"],
        help=_("learning-rate schedule"),
    )
    s.add_argument("--warmup-steps", type=int, help=_("linear warm-up steps"))
    s.add_argument("--power-s", type=float, help=_("power schedule: lr0 / (1 + t/s)^c"))
    s.add_argument("--power-c", type=float, help=_("power schedule's exponent c"))
    s.add_argument("--label-smoothing", type=float, help=_("label smoothing of the loss"))
    s.add_argument("--grad-clip", type=float, help=_("clip the gradient norm to this"))
    s.add_argument("--image-size", type=positive_int, help=_("evaluation size (default: the model's own)"))
    s.add_argument(
        "--train-size", type=positive_int, help=_("random-crop size in training (default: the evaluation size)")
    )
    s.add_argument("--crop-scale-min", type=float, help=_("smallest random crop, as a fraction of the area"))
    s.add_argument("--channels-last", action="store_true", default=None, help=_("channels-last memory format"))
    s.add_argument("--bf16", action="store_true", default=None, help=_("bfloat16 autocast"))
    s.add_argument("--freeze-stages", type=int, help=_("finetune: freeze the stem and this many stages (0: all train)"))
    s.add_argument(
        "--body-lr-scale", type=float, help=_("finetune: the body's learning rate as a fraction of the head's")
    )
    s.add_argument(
        "--train-bn",
        dest="freeze_bn",
        action="store_false",
        default=None,
        help=_("finetune: update the batch-norm statistics of trainable stages (default: keep ImageNet's)"),
    )
    s.add_argument(
        "--early-stop",
        type=positive_int,
        dest="early_stop_patience",
        metavar="EPOCHS",
        help=_("stop after this many epochs without progress (the best epoch is kept)"),
    )
    s.add_argument("--resume", action="store_true", help=_("continue from the last epoch checkpoint in --out"))


def run_train(args: argparse.Namespace) -> int:
    from dogbreeds.core.errors import UsageError

    if args.list_models:
        from dogbreeds.models.registry import list_models

        print("\n".join(list_models()))
        return 0
    if not args.data or not args.out:
        raise UsageError(_("train needs --data and --out"))
    if args.method is None:
        from dogbreeds.training.config import load_config

        # a config file describes a TrainConfig (scratch or finetune; scratch unless it says otherwise)
        args.method = load_config(args.config).get("method", "scratch") if args.config else "features"
    if args.method == "features" and args.config:
        raise UsageError(_("--config describes scratch or finetune training; features training takes options only"))
    if args.method in ("scratch", "finetune"):
        if args.new_breeds or args.val_frames:
            option = "--new-breeds" if args.new_breeds else "--val-frames"
            raise UsageError(_("{option} works with --method features (the default) only", option=option))
        return _train_network(args)
    return _train_features(args)


def _train_features(args: argparse.Namespace) -> int:
    from dogbreeds.core.files import printable
    from dogbreeds.training.feature_head import FeaturesConfig, train_features

    cfg = FeaturesConfig(
        data=args.data,
        out=str(args.out),
        backbone=args.backbone or "tf_efficientnet_lite2",
        weights=args.weights,
        split=args.split,
        images=args.images,
        new_breeds=args.new_breeds,
        flip=args.flip,
        prior=args.prior,
        l2=args.l2,
        val_fraction=0.1 if args.val_fraction is None else args.val_fraction,
        seed=args.seed or 0,
        limit_per_class=args.limit_per_class,
        val_frames=tuple(str(f) for f in args.val_frames or ()),
        track=args.track is not False,
        tracking_uri=args.tracking_uri,
    )
    card = train_features(cfg, cache_root=args.cache_dir)
    t, v = card.training, card.metrics["val"]
    print(
        _(
            "trained a {backbone} head on {n} photos: val top-1 {top1:.2%} (prior {prior}, l2 {l2:g}, T {t:.3f}); "
            "embedding {embed} s, fitting {fit} s -> {out}",
            backbone=card.backbone, n=t["n_train"] + t["n_val"], top1=v["top1"], prior=t["chosen_prior"],
            l2=t["chosen_l2"], t=card.temperature, embed=t["seconds_embedding"], fit=t["seconds_fitting"], out=args.out,
        )
    )  # fmt: skip
    for path, why in t["unreadable"].items():
        print("  " + _("skipped unreadable photo: {path}: {why}", path=printable(path), why=why), file=sys.stderr)
    return 0


def _train_network(args: argparse.Namespace) -> int:
    from dogbreeds.training.config import TrainConfig, load_config
    from dogbreeds.training.loop import fit

    backbone_given = args.backbone is not None
    backbone = args.backbone or "tf_efficientnet_lite2"
    settings = load_config(args.config) if args.config else {}
    for field in fields(TrainConfig):
        value = getattr(args, field.name, None)
        if value is not None and field.name not in ("cache_dir", "method", "weights", "out"):
            settings[field.name] = value
    settings["out"] = str(args.out)
    if args.cache_dir:
        settings["cache_dir"] = str(args.cache_dir)
    if args.weights != "auto":
        settings["weights"] = args.weights
    settings["method"] = args.method
    if args.method == "finetune" and args.model is None and (backbone_given or "model" not in settings):
        settings["model"] = backbone
    if args.max_epochs:
        settings["epochs"] = min(settings.get("epochs", TrainConfig.epochs), args.max_epochs)
    cfg = TrainConfig(**settings)

    def report(m: dict) -> None:
        print(
            _(
                "epoch {epoch}: train loss {train_loss:.3f} top-1 {train_top1:.1%}  val loss {val_loss:.3f} "
                "top-1 {val_top1:.1%}  {images_per_second:.0f} img/s",
                **m,
            ),
            flush=True,
        )

    card = fit(cfg, resume=args.resume, on_epoch=report)
    print(_("{model} ({parameters:,} parameters) -> {out}", model=card.model,
            parameters=card.model_args["parameters"], out=args.out))  # fmt: skip
    return 0


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "search",
        help=_("hyper-parameter search (Optuna), each trial a tracked training run"),
        examples=["dogbreeds search --config experiments/search_dognet.yaml --trials 20 --data stanford-dogs --out s/"],
        run=run_search,
        parents=[data_options(default_split="train"), tracking_options()],
    )
    p.add_argument("--config", type=Path, required=True, help=_("search file: base settings, space, metric"))
    p.add_argument("--trials", type=positive_int, default=10, help=_("trials to run now (an existing study continues)"))
    out_path(p, _("study folder: study.db and one folder per trial"), required=True)
    p.add_argument("--max-epochs", type=positive_int, help=_("a short budget: at most this many epochs per trial"))
    p.add_argument(
        "--max-train-samples", type=positive_int, help=_("a short budget: train each trial on this many photos")
    )
    p.add_argument("--cache-dir", type=Path, help=_("decoded-photo cache shared by the trials"))
    p.add_argument("--seed", type=int, help=_("seed of the sampler and of every trial (default: the base's, else 0)"))


def run_search(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

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
    rows = trials_table(args.out)
    names = sorted({k for r in rows for k in r} - {"number", "state", "value"})
    table = Table(_("trial"), _("state"), best["metric"], *names, title=_("search {out}", out=args.out))
    for r in rows:
        value = "" if r["value"] is None else f"{r['value']:.4f}"
        table.add_row(str(r["number"]), r["state"], value, *(str(r.get(n, "")) for n in names))
    Console().print(table)
    print(_("best: trial {number} {metric} {value:.4f} {params}", number=best["number"], metric=best["metric"],
            value=best["value"], params=json.dumps(best["params"])))  # fmt: skip
    return 0


def run_runs(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from dogbreeds.training.tracking import list_runs

    runs = list_runs(args.tracking_uri)
    if args.json:
        print(json.dumps(runs, indent=2, default=str))
        return 0
    table = Table(
        _("run id"), _("name"), _("model"), _("status"), _("epochs"), _("val top-1"), _("val loss"), _("parameters"),
        _("seconds"), _("output folder"),
    )  # fmt: skip
    for r in runs:
        m, p = r["metrics"], r["params"]
        table.add_row(
            r["run_id"], escape(r["name"] or ""), escape(p.get("model", "")), r["status"],
            f"{m['epoch']:.0f}" if "epoch" in m else "", f"{m['val_top1']:.1%}" if "val_top1" in m else "",
            f"{m['val_loss']:.3f}" if "val_loss" in m else "", p.get("parameters", ""),
            f"{m['wall_seconds']:.0f}" if "wall_seconds" in m else "", escape(p.get("out", "")),
        )  # fmt: skip
    Console().print(table)
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub,
        "bench",
        help=_("training and inference photos/s by device, threads and backend"),
        examples=["dogbreeds bench", "dogbreeds bench --model dognet --batch-sizes 1 32 --no-training"],
        run=run_bench,
    )
    p.add_argument("--model", default="tf_efficientnet_lite0", help=_("registered or timm model name"))
    p.add_argument("--batch-sizes", type=positive_int, nargs="+", default=[1, 16], help=_("batch sizes to time"))
    p.add_argument("--threads", type=positive_int, nargs="+", help=_("CPU thread counts (default: 1 and all)"))
    p.add_argument("--backends", nargs="+", choices=["eager", "channels_last", "bf16", "onnx"],
                   default=["eager", "channels_last", "bf16", "onnx"], help=_("what to time"))  # fmt: skip
    p.add_argument("--no-training", dest="training", action="store_false", help=_("inference only"))
    p.add_argument("--seconds", type=float, default=2.0, help=_("time each measurement at least this long"))
    out_path(p, _("folder for bench.json and bench.png"), default=Path("bench"))
    p.add_argument("--no-track", dest="track", action="store_false", help=_("do not log to MLflow"))
    p.add_argument("--tracking-uri", help=_("MLflow tracking URI (default: sqlite:///runs/mlflow.db)"))


def run_bench(args: argparse.Namespace) -> int:
    import tempfile

    from dogbreeds.training.bench import run_bench, write_bench

    with tempfile.TemporaryDirectory() as tmp:
        rows = run_bench(
            args.model, batch_sizes=tuple(args.batch_sizes), threads=tuple(args.threads) if args.threads else None,
            backends=tuple(args.backends), training=args.training, min_seconds=args.seconds, work=Path(tmp),
        )  # fmt: skip
    json_path, png = write_bench(rows, args.out, args.model)
    for r in rows:
        print(_("{device:4} {threads:2d} threads  {backend:13} {mode:9} batch {batch:3d}: {speed:8.1f} images/s",
                device=r.device, threads=r.threads, backend=r.backend, mode=r.mode, batch=r.batch_size,
                speed=r.images_per_second))  # fmt: skip
    print(_("wrote {json} and {png}", json=json_path, png=png))
    if args.track:
        from dogbreeds.training.bench import log_bench

        print(_("logged to MLflow run {run}", run=log_bench(rows, args.model, [json_path, png], args.tracking_uri)))
    return 0

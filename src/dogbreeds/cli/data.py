"""``dogbreeds data summary`` and ``data preview``: look at a data folder before training on it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dogbreeds.cli.common import command, command_group, out_path, positive_int
from dogbreeds.core.i18n import _


def add_commands(sub: argparse._SubParsersAction) -> None:
    dsub = command_group(sub, "data", help=_("inspect a data folder"))
    s = command(
        dsub,
        "summary",
        help=_("photos per breed, sizes, unreadable files with reasons"),
        examples=["dogbreeds data summary stanford-dogs --split train", "dogbreeds data summary my-breeds/ --json"],
        run=run_summary,
    )
    s.add_argument("root", type=Path, help=_("a Stanford Dogs folder or a folder-per-breed tree"))
    s.add_argument("--split", choices=["train", "test"], help=_("official list of a Stanford Dogs folder"))
    s.add_argument("--json", action="store_true", help=_("print the summary as JSON"))
    s.add_argument(
        "--new-breeds", action="store_true", help=_("count folders naming no known breed as new breeds, as train does")
    )
    v = command(
        dsub,
        "preview",
        help=_("a grid of training photos after the augmentation training applies, titled with their breeds"),
        examples=["dogbreeds data preview stanford-dogs --split train --out preview.png --n 16"],
        run=run_preview,
    )
    v.add_argument("root", type=Path, help=_("a Stanford Dogs folder or a folder-per-breed tree"))
    out_path(v, _("PNG file to write"), default=Path("preview.png"))
    v.add_argument("--split", choices=["train", "test"], help=_("official list of a Stanford Dogs folder"))
    v.add_argument("--n", type=positive_int, default=16, help=_("how many photos"))
    v.add_argument("--size", type=positive_int, default=224, help=_("crop size in pixels"))
    v.add_argument("--seed", type=int, default=0, help=_("random seed of the picks and the augmentation"))
    v.add_argument(
        "--crop-scale-min",
        type=float,
        default=0.25,
        help=_("smallest random crop as a fraction of the area, as in training (train --crop-scale-min)"),
    )


def run_summary(args: argparse.Namespace) -> int:
    from dogbreeds.data.summary import print_summary, summarise

    summary = summarise(args.root, args.split, new_breeds=args.new_breeds)
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print_summary(summary)
    return 0


def run_preview(args: argparse.Namespace) -> int:
    from dogbreeds.training.preview import preview_grid

    out = preview_grid(args.root, args.out, split=args.split, n=args.n, size=args.size, seed=args.seed,
                       crop_scale_min=args.crop_scale_min)  # fmt: skip
    print(_("wrote {path}", path=out))
    return 0

"""``dogbreeds data summary``: what is in a data folder, and what in it cannot be read."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dogbreeds.core.breeds import human_name
from dogbreeds.core.files import printable
from dogbreeds.core.i18n import _, n_
from dogbreeds.core.progress import progress
from dogbreeds.data.folders import load_samples
from dogbreeds.data.images import UnreadableImage, load_rgb


def _probe(path: Path) -> tuple[int, int] | str:
    try:
        return load_rgb(path).size
    except UnreadableImage as err:
        return str(err)


def summarise(root: Path, split: str | None = None, *, new_breeds: bool = False) -> dict[str, Any]:
    """Photos per breed, pixel sizes (min/median/max of the shorter side) and unreadable files with reasons.

    Every photo is fully decoded, so truncated files are found now rather than in the middle of training.
    """
    data = load_samples(root, split, new_breeds=new_breeds)
    sizes, unreadable = [], {}
    with ThreadPoolExecutor(2) as pool, progress(_("reading photos"), total=len(data), unit=_("photos")) as bar:
        for s, r in zip(data.samples, pool.map(_probe, (s.path for s in data.samples)), strict=True):
            if isinstance(r, str):
                unreadable[str(s.path)] = r
            else:
                sizes.append(r)
            bar.advance()
    counts = Counter(s.label for s in data.samples)
    short = sorted(min(w, h) for w, h in sizes)
    return {
        "root": str(root),
        "dataset": data.name,
        "photos": len(data),
        "breeds": len(counts),
        "per_breed": {data.classes[i]: n for i, n in sorted(counts.items())},
        "fewest": min(counts.values()),
        "most": max(counts.values()),
        "shorter_side": {"min": short[0], "median": short[len(short) // 2], "max": short[-1]} if short else {},
        "unreadable": unreadable,
    }


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    side = summary["shorter_side"]
    console.print(
        _("{dataset}: {photos} photos of {breeds} breeds ({fewest}-{most} per breed)", **summary)
        + (_("; shorter side {min}-{max} px (median {median})", **side) if side else ""),
        markup=False,
    )
    table = Table(_("breed"), _("id"), _("photos"))
    for breed_id, n in summary["per_breed"].items():
        table.add_row(human_name(breed_id), breed_id, str(n))
    console.print(table)
    if summary["unreadable"]:
        n = len(summary["unreadable"])
        console.print(
            n_("{n} unreadable file, skipped by every command:", "{n} unreadable files, skipped by every command:", n),
            markup=False,
        )
        for path, why in summary["unreadable"].items():
            console.print(f"  {printable(path)}: {why}", markup=False, highlight=False)

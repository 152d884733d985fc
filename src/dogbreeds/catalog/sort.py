"""``dogbreeds sort``: a folder per breed (plus ``not_a_dog/``, ``unsure/``, ``unreadable/``) built from the catalog.

Originals are never moved, deleted or overwritten: the sorted tree holds copies, hard links or symbolic links,
and a name already taken in a folder gets a numbered suffix. Re-running skips photos already sorted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dogbreeds.core.breeds import human_name
from dogbreeds.core.errors import DogbreedsError, UsageError
from dogbreeds.core.i18n import _
from dogbreeds.inference.predictor import DOG

MODES = ("copy", "hardlink", "symlink")


@dataclass
class SortStats:
    placed: int = 0
    already: int = 0
    missing: int = 0


def folder_for(row: dict[str, Any]) -> str:
    """The sorted folder of a catalog row: the breed's human name for dogs, else the verdict."""
    return human_name(row["breed"]) if row["verdict"] == DOG and row["breed"] else row["verdict"]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b) or (
            b.is_file() and a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()
        )
    except OSError:
        return False


def _free_name(folder: Path, name: str, source: Path) -> Path | None:
    """A path in ``folder`` for ``name`` (``pug (2).jpg`` if taken), or None when this photo is already there."""
    stem, suffix = os.path.splitext(name)
    for i in range(1, 10_000):
        candidate = folder / (name if i == 1 else f"{stem} ({i}){suffix}")
        if not os.path.lexists(candidate):
            return candidate
        if _same_file(source, candidate):
            return None
    raise DogbreedsError(_("too many photos named {name} in {folder}", name=name, folder=folder))


def place(source: Path, folder: Path, *, mode: str = "copy") -> Path | None:
    """Copy or link ``source`` into ``folder`` under a free name; None when it is already there."""
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, source.name, source)
    if target is None:
        return None
    if mode == "copy":
        tmp = target.with_name(f".{target.name}.part")
        shutil.copy2(source, tmp)  # through a temporary name: an interrupted copy is never taken for a photo
        os.replace(tmp, target)
    elif mode == "hardlink":
        os.link(source, target)
    else:
        os.symlink(source, target)
    return target


def sort_rows(rows: Iterable[dict[str, Any]], into: Path, *, mode: str = "copy") -> SortStats:
    """Place every catalogued photo under ``into/<folder>/``; see the module docstring for the guarantees."""
    if mode not in MODES:
        raise UsageError(_("mode must be one of {names}, not {mode!r}", names=", ".join(MODES), mode=mode))
    into = into.resolve()
    stats = SortStats()
    for row in rows:
        source = Path(row["path"])
        if into in source.parents:  # never sort the sorted tree into itself
            continue
        if not source.exists():
            stats.missing += 1
            continue
        if place(source, into / folder_for(row), mode=mode) is None:
            stats.already += 1
            continue
        stats.placed += 1
    return stats

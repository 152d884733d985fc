"""``dogbreeds sort``: a folder per breed (plus ``not_a_dog/``, ``unsure/``, ``other_breed/``, ``unreadable/``)
built from the catalog.

Sorted by each photo's final answer: a volunteer's latest decision when there is one, else the model's.
Originals are never moved, deleted or overwritten: the sorted tree holds copies, hard links or symbolic links, and
a name already taken in a folder gets a numbered suffix. Re-running skips photos already sorted.

Nothing is written outside ``--into``: folder names coming from a model card or the catalog are made safe (no
separators, no ``..``, no control characters) and every target is checked to lie under ``--into``. Nothing is
copied that was not catalogued: the file must still be the regular file classified (same size and time; a copy
is also checked against its content hash while it is written) and lie inside the folders that were classified,
so a link retargeted to ``/etc/passwd`` since, or a photo edited since, is skipped and counted.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dogbreeds.core.breeds import human_name
from dogbreeds.core.errors import DogbreedsError, UsageError
from dogbreeds.core.files import open_regular, printable
from dogbreeds.core.i18n import _

MODES = ("copy", "hardlink", "symlink")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


@dataclass
class SortStats:
    placed: int = 0
    already: int = 0
    missing: int = 0
    changed: int = 0  # no longer the file that was catalogued (edited, replaced, retargeted)
    outside: int = 0  # resolves outside the classified folders (a link pointing elsewhere)


def safe_folder_name(name: str) -> str:
    """A single, harmless folder name for any text: separators, ``..``, control characters and names Windows
    reserves cannot escape ``--into`` or break a file system."""
    name = unicodedata.normalize("NFC", str(name))
    name = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in name)  # control and format chars
    name = re.sub(r'[/\\:*?"<>|]', "_", name).strip(" .")
    if not name or name in (".", ".."):
        name = "_"
    if name.split(".")[0].lower() in _RESERVED:
        name = f"_{name}"
    while len(name.encode("utf-8")) > 120:  # file systems stop at 255 bytes; leave room for suffixes
        name = name[:-1]
    return name


def folder_for(row: dict[str, Any]) -> str:
    """The sorted folder of a catalog row, by its final answer: the breed's name for dogs, else the verdict."""
    verdict = row.get("final_verdict", row["verdict"])
    breed = row.get("final_breed", row["breed"] if verdict == "dog" else None)
    if verdict == "dog" and breed:
        name = row["name"] if breed == row["breed"] and row.get("name") else human_name(breed)
        return safe_folder_name(name)
    return safe_folder_name(verdict or "unreadable")


def check_into(into: Path, classified: list[str]) -> Path:
    """``into`` resolved, or a one-line refusal: a file, or a folder inside (or holding) a classified folder,
    whose copies the next ``classify`` would take for new photos."""
    if into.exists() and not into.is_dir():
        raise UsageError(_("--into {path} is a file, not a folder", path=printable(into)))
    resolved = into.resolve()
    for root in map(Path, classified):
        if resolved == root or root in resolved.parents:
            raise UsageError(_("--into {path} lies inside the classified folder {root}: choose a folder outside it",
                               path=printable(into), root=printable(root)))  # fmt: skip
        if resolved in root.parents:
            raise UsageError(_("--into {path} holds the classified folder {root}: choose a folder outside it",
                               path=printable(into), root=printable(root)))  # fmt: skip
    return resolved


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(os.path.join(r, "")) for r in roots)


def _still_catalogued(source: str, row: dict[str, Any], roots: list[str]) -> str | None:
    """Why ``source`` must not be placed (``missing``, ``outside``, ``changed``), or None when it may."""
    try:
        st = os.stat(source)
    except OSError:
        return "missing"
    if not _inside(os.path.realpath(source), roots or [os.path.dirname(source)]):
        return "outside"
    if not stat.S_ISREG(st.st_mode) or st.st_size != row.get("bytes") or st.st_mtime_ns != row.get("mtime_ns"):
        return "changed"
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.samefile(b):
            return True
        if not b.is_file() or b.is_symlink() or a.stat().st_size != b.stat().st_size:
            return False
        return a.read_bytes() == b.read_bytes()
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
    raise DogbreedsError(_("too many photos named {name} in {folder}", name=printable(name), folder=printable(folder)))


def _copy_checked(source: Path, tmp: Path, sha256: str | None) -> bool:
    """Copy a regular file to ``tmp`` while hashing it; False (and nothing left) when it is not the content
    catalogued."""
    digest = hashlib.sha256()
    fd, _st = open_regular(source)
    with os.fdopen(fd, "rb") as src, open(tmp, "xb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            digest.update(block)
            dst.write(block)
    if sha256 and digest.hexdigest() != sha256:
        tmp.unlink()
        return False
    shutil.copystat(source, tmp)
    return True


def place(source: Path, folder: Path, *, mode: str = "copy", sha256: str | None = None) -> Path | None | bool:
    """Copy or link ``source`` into ``folder`` under a free name (its own file name, made safe).

    Returns the new path; None when the photo is already there; False when a copy found the content changed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, safe_folder_name(source.name), source)
    if target is None:
        return None
    if mode == "copy":
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")  # an interrupted copy is never taken for a photo
        try:
            if not _copy_checked(source, tmp, sha256):
                return False
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                tmp.unlink()
    elif mode == "hardlink":
        os.link(source, target)
    else:
        os.symlink(os.path.realpath(source), target)
    return target


def sort_rows(
    rows: Iterable[dict[str, Any]], into: Path, *, mode: str = "copy", classified: list[str] | None = None
) -> SortStats:
    """Place every catalogued photo under ``into/<folder>/``; see the module docstring for the guarantees.

    Args:
        rows: catalog rows with their final answers (:func:`dogbreeds.catalog.database.iter_rows`).
        into: the sorted tree's root.
        mode: copy, hardlink or symlink.
        classified: the folders that were classified (their real paths); a photo is placed only if it still lies
            inside one (None: inside its own folder).
    """
    if mode not in MODES:
        raise UsageError(_("mode must be one of {names}, not {mode!r}", names=", ".join(MODES), mode=mode))
    roots = list(classified or [])
    root = check_into(into, roots)
    stats = SortStats()
    for row in rows:
        source = Path(row["path"])
        if root in source.parents:  # never sort the sorted tree into itself
            continue
        why = _still_catalogued(str(source), row, roots)
        if why is not None:
            setattr(stats, why, getattr(stats, why) + 1)
            continue
        folder = root / folder_for(row)
        if folder.resolve().parent != root:  # belt and braces: the name was made safe above
            raise DogbreedsError(_("refusing to write outside {into}: {folder}", into=root, folder=printable(folder)))
        placed = place(source, folder, mode=mode, sha256=row.get("sha256"))
        if placed is None:
            stats.already += 1
        elif placed is False:
            stats.changed += 1
        else:
            stats.placed += 1
    return stats

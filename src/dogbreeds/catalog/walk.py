"""The first stage of ``classify``: the photos under the given folders, as catalog keys, streamed.

A key is the photo's absolute path with its folder resolved (``realpath``) and its own file name, so the same
folder reached twice (a folder link, a folder named twice) gives the same keys, while a link to a photo is a
file of its own, catalogued under its own name (and classified by content: a link to a known photo costs no
model run). Links whose target lies outside the folders being classified (a photo library holding a link to
``/etc/passwd`` or to another disk) are skipped with a warning, unless ``allow_outside``; a broken link is
yielded, to be reported unreadable. Names that are not valid UTF-8 cannot be catalog keys: skipped, counted,
and named (escaped) in a warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dogbreeds.core.files import printable
from dogbreeds.core.i18n import _
from dogbreeds.data.images import walk_image_files

log = logging.getLogger(__name__)


@dataclass
class WalkCounts:
    outside: int = 0  # links (to files or folders) leading outside the folders being classified, skipped
    not_utf8: int = 0  # names that are not valid UTF-8, skipped


def roots_of(paths: list[str | os.PathLike[str]]) -> list[str]:
    """The real paths of what is being classified: folders, and files named one by one."""
    return sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(os.path.join(r, "")) for r in roots)


def _storable(path: str, counts: WalkCounts) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        counts.not_utf8 += 1
        log.warning(_("skipping a file whose name is not valid UTF-8: {path}", path=printable(path)))
        return False
    return True


def catalog_key(path: str | os.PathLike[str]) -> str:
    """A photo's key in the catalog: its absolute path with the folder resolved, its own name kept."""
    path = os.fspath(path)
    return os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))), os.path.basename(path))


def library_photos(
    paths: list[str | os.PathLike[str]], *, allow_outside: bool = False, counts: WalkCounts | None = None
) -> Iterator[str]:
    """Every photo under ``paths`` (folders and files) once, as its catalog key; see the module docstring.

    Memory holds one entry per folder walked, never one per photo.
    """
    counts = counts if counts is not None else WalkCounts()
    roots = roots_of(paths)
    folders = [p for p in paths if os.path.isdir(p)]
    walked: set[str] = set()  # real paths of the folders whose photos were yielded
    last_folder = last_real = ""

    def outside(_folder: Path) -> None:
        counts.outside += 1

    for path in map(str, walk_image_files(folders, follow_links_outside=allow_outside, on_outside=outside)):
        folder = os.path.dirname(path)
        if folder != last_folder:
            last_folder, last_real = folder, os.path.realpath(folder)
            walked.add(last_real)
        key = os.path.join(last_real, os.path.basename(path))
        if os.path.islink(path) and not _allowed_link(path, roots, allow_outside, counts):
            continue
        if _storable(key, counts):
            yield key
    seen: set[str] = set()
    for path in (os.fspath(p) for p in paths if not os.path.isdir(p)):  # files named one by one
        key = catalog_key(path)
        if os.path.dirname(key) in walked or key in seen:
            continue  # the walk yielded it already
        seen.add(key)
        if _storable(key, counts):
            yield key


def _allowed_link(path: str, roots: list[str], allow_outside: bool, counts: WalkCounts) -> bool:
    target = os.path.realpath(path)
    if not os.path.exists(target) or allow_outside or _inside(target, roots):
        return True  # a broken link is yielded: it gets an unreadable row saying so
    counts.outside += 1
    log.warning(_("skipping {path}: a link to {target}, outside the folders being classified (allow it with "
                  "--follow-links)", path=printable(path), target=printable(target)))  # fmt: skip
    return False


def count_photos(paths: list[str | os.PathLike[str]], *, allow_outside: bool = False) -> int:
    """How many keys :func:`library_photos` will yield (a cheap first walk, for the progress bar), quietly."""
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        return sum(1 for _key in library_photos(paths, allow_outside=allow_outside))
    finally:
        log.setLevel(level)


def folder_roots(paths: list[str | os.PathLike[str]]) -> list[str]:
    """The real paths of the folders among ``paths`` (recorded in the catalog for ``sort``)."""
    return sorted({os.path.realpath(p) for p in paths if Path(p).is_dir()})

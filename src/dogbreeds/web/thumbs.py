"""Photos of the library as the pages show them: small JPEGs, made once and kept on disk by content hash.

A thumbnail's name is its photo's sha256, so it is made once whatever the number of copies, moves or catalogs,
and a photo whose file changed since it was classified is never shown under its old answer (its bytes must still
hash to the catalog's value). Re-encoding also drops the EXIF block, GPS position included, from what the browser
receives. The original is read through the same safe reader as ``classify`` (regular files only, size capped).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from dogbreeds.core.files import read_regular_file
from dogbreeds.data.images import UnreadableImage, read_photo

SIZES = {"thumb": 320, "large": 1280}  # longer side in pixels: a grid cell, and the photo page on any screen
SHA256 = re.compile(r"[0-9a-f]{64}")


def cached_path(cache: Path, sha256: str, size: str) -> Path:
    return cache / size / sha256[:2] / f"{sha256}.jpg"


def inside(path: str, folder: Path | None) -> bool:
    """Whether ``path`` (followed through links) lies inside ``folder`` (None: anywhere)."""
    if folder is None:
        return True
    real = os.path.realpath(path)
    return real == str(folder) or real.startswith(os.path.join(str(folder), ""))


def image_for(cache: Path, sha256: str, size: str, paths: list[str], *, library: Path | None = None) -> Path | None:
    """The cached JPEG of the photo with this content at ``size``, made from the first of ``paths`` that still
    holds that content (inside ``library``); None when none does."""
    target = cached_path(cache, sha256, size)
    if target.is_file():
        return target
    pixels = SIZES[size]
    for path in paths:
        if not inside(path, library):
            continue
        try:
            data, _st = read_regular_file(path)
            if hashlib.sha256(data).hexdigest() != sha256:
                continue  # changed since it was classified: its answer is not this photo's
            image = read_photo(path, min_size=pixels, data=data).image
        except (OSError, UnreadableImage):
            continue
        image.thumbnail((pixels, pixels))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")  # two requests at once: each its own file
        try:
            with os.fdopen(fd, "wb") as f:
                image.save(f, format="JPEG", quality=85)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target
    return None

"""Image loading that never stops a run.

Every photo, whatever its format or state, comes back either as an RGB ``PIL.Image`` or as an
:class:`UnreadableImage` error carrying a one-line reason. Callers skip and log; nothing raises out of a batch.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import struct
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageFile, ImageOps

from dogbreeds.core.files import NotReadable, printable, read_regular_file
from dogbreeds.core.i18n import _

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".heic", ".heif"})
# A decompression bomb is refused above this many pixels (a 16k x 12k photo passes; a 100k x 100k PNG does not).
MAX_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Truncated JPEGs are refused rather than half-grey: a silent grey bottom half would be a wrong prediction.
ImageFile.LOAD_TRUNCATED_IMAGES = False

_heif_registered: bool | None = None


class UnreadableImage(Exception):
    """A file that is not a usable photo; ``str(err)`` is the reason shown to the user."""


def _register_heif() -> bool:
    """Register HEIC/HEIF support once, lazily (pillow-heif is optional and costs startup time)."""
    global _heif_registered
    if _heif_registered is None:
        try:
            from pillow_heif import register_heif_opener

            register_heif_opener()
            _heif_registered = True
        except ImportError:
            _heif_registered = False
    return _heif_registered


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


@dataclass(frozen=True)
class Photo:
    """A decoded photo with what a catalog records about it."""

    image: Image.Image  # upright RGB, possibly decoded at reduced size
    size: tuple[int, int]  # the file's own pixel size (width, height), before any reduction or rotation
    taken_at: str | None  # EXIF DateTimeOriginal (or DateTime), "YYYY:MM:DD HH:MM:SS", when present


def dhash(img: Image.Image) -> int:
    """64-bit difference hash: is each pixel of a 9x8 greyscale thumbnail brighter than its right neighbour? Photos
    that differ only by re-encoding, resizing, a slight crop or their colours hash within a few bits."""
    import numpy as np

    small = np.asarray(img.convert("L").resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def popcount(x: Any) -> Any:
    """Set bits of each uint64 (of an array): ``np.bitwise_count`` on NumPy 2, a per-byte table on NumPy 1 (same
    answer). With :func:`dhash`, ``popcount(a ^ b)`` is how far apart two photos are."""
    import numpy as np

    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return popcount_table(x)


def popcount_table(x: Any) -> Any:
    import numpy as np

    x = np.ascontiguousarray(x, dtype=np.uint64)
    return _byte_bits()[x.view(np.uint8).reshape(*x.shape, 8)].sum(axis=-1, dtype=np.uint8)


@functools.cache
def _byte_bits() -> Any:
    import numpy as np

    return np.array([bin(i).count("1") for i in range(256)], np.uint8)


def load_rgb(path: str | os.PathLike[str], *, min_size: int | None = None) -> Image.Image:
    """Open any photo as an upright RGB image (see :func:`read_photo`)."""
    return read_photo(path, min_size=min_size).image


def _exif_date(img: Image.Image) -> str | None:
    try:
        exif = img.getexif()
        value = exif.get_ifd(0x8769).get(36867) or exif.get(306)  # DateTimeOriginal, else DateTime
    except Exception:  # a broken EXIF block must not lose the photo
        return None
    return str(value).strip("\x00 ") or None if value else None


def read_photo(path: str | os.PathLike[str], *, min_size: int | None = None, data: bytes | None = None) -> Photo:
    """Open any photo as an upright RGB image, with its original size and EXIF date.

    ``data``, when given, is the file's content already read (e.g. to hash it): the file is not opened again.

    Args:
        path: the file.
        min_size: when given, big JPEGs are decoded at a reduced scale (Pillow ``draft``) whose shorter side is
            still at least this many pixels: a 4000x3000 photo headed for a 292 px resize decodes many times faster.

    Raises:
        UnreadableImage: empty, truncated, corrupt, non-image, too large, or unreadable (permissions, vanished).
    """
    path = Path(path)
    if path.suffix.lower() in {".heic", ".heif"}:
        _register_heif()
    try:
        if data is None:
            data, _st = read_regular_file(path)  # never a FIFO, a device or a file over the size cap
        if len(data) == 0:
            raise UnreadableImage(_("empty file (0 bytes)"))
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                original_size, taken_at = img.size, _exif_date(img)
                if min_size and img.format == "JPEG":
                    w, h = img.size
                    scale = min(w, h) / min_size
                    if scale >= 2:
                        img.draft("RGB", (max(1, int(w / scale)), max(1, int(h / scale))))
                img.seek(0)  # first frame of a GIF or other multi-frame file
                img.load()
                return Photo(_to_upright_rgb(img), original_size, taken_at)
    except UnreadableImage:
        raise
    except NotReadable as err:
        raise UnreadableImage(str(err)) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnreadableImage(_("too many pixels (decompression-bomb guard: at most {n:,})", n=MAX_PIXELS)) from None
    except FileNotFoundError:
        if os.path.islink(path):
            raise UnreadableImage(_("broken symbolic link to {target}", target=printable(os.readlink(path)))) from None
        raise UnreadableImage(_("file vanished or does not exist")) from None
    except PermissionError:
        raise UnreadableImage(_("permission denied")) from None
    except IsADirectoryError:
        raise UnreadableImage(_("is a folder")) from None
    except Image.UnidentifiedImageError:
        hint = "" if is_image_path(path) else " " + _("(not an image file)")
        if path.suffix.lower() in {".heic", ".heif"} and not _heif_registered:
            hint = " " + _("(HEIC support needs: pip install pillow-heif)")
        raise UnreadableImage(_("not a readable image") + hint) from None
    except OSError as err:
        if err.filename is not None:  # the file itself (an I/O error of the disk, a stale network share)
            raise UnreadableImage(_("cannot read file: {why}", why=err.strerror or err)) from None
        raise UnreadableImage(_("corrupt or truncated image: {why}", why=err)) from None
    except (ValueError, SyntaxError, EOFError, struct.error) as err:  # Pillow raises these on malformed headers
        raise UnreadableImage(_("corrupt image: {why}", why=err)) from None


def _to_upright_rgb(img: Image.Image) -> Image.Image:
    """Apply EXIF orientation and convert any mode (RGBA, LA, P, L, I;16, CMYK...) to RGB."""
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as err:  # a broken EXIF block must not lose the photo
        log.debug("ignoring broken EXIF orientation: %s", err)
    if img.mode == "RGB":
        return img
    if img.mode in {"I;16", "I;16B", "I;16L", "I"}:
        # 16/32-bit greyscale: scale to 8 bits instead of clipping everything above 255 to white.
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        return Image.fromarray((arr / top * 255).clip(0, 255).astype("uint8"), "L").convert("RGB")
    if img.mode in {"RGBA", "LA", "PA"} or (img.mode == "P" and "transparency" in img.info):
        # Composite on white: transparent regions of cut-out dog photos would otherwise turn black.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def iter_image_files(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Every photo path of :func:`walk_image_files`, as a list."""
    return list(walk_image_files(paths))


def walk_image_files(
    paths: list[str | os.PathLike[str]],
    *,
    follow_links_outside: bool = False,
    on_outside: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Expand files and folders (walked recursively, sorted, hidden files skipped) into photo paths, one at a time.

    Memory grows with the depth of the tree and its largest folder, never with the number of photos, so a library
    of any size can be streamed; the walk keeps its own stack, so no depth of folders reaches Python's recursion
    limit. Files named explicitly are kept whatever their suffix, so the user hears why a file was unreadable.
    Each folder is walked once, however many routes lead to it (symlink loops, a folder named twice or linked from
    elsewhere); a folder that cannot be listed is skipped with a warning and the walk goes on. A link to a folder
    outside the folders given (a link to ``/`` would walk the whole disk) is not followed, with a warning, unless
    ``follow_links_outside`` (``on_outside`` hears of each such link).
    """
    walked: set[tuple[int, int]] = set()  # (device, inode) of every folder walked: one entry per folder
    roots = [os.path.realpath(p) for p in paths if os.path.isdir(p)]

    def enter(folder: Path) -> bool:
        if follow_links_outside or not folder.is_symlink():
            return True
        target = os.path.realpath(folder)
        if any(target == r or target.startswith(os.path.join(r, "")) for r in roots):
            return True
        log.warning(_("skipping {folder}: a link to {target}, outside the folders given (allow it with "
                      "--follow-links)", folder=printable(folder), target=printable(target)))  # fmt: skip
        if on_outside is not None:
            on_outside(folder)
        return False

    for p in map(Path, paths):
        if p.is_dir():
            yield from _walk_folder(p, walked, enter)
        else:
            yield p


def _walk_folder(root: Path, walked: set[tuple[int, int]], enter: Callable[[Path], bool] | None) -> Iterator[Path]:
    pending = [root]  # folders still to list, the next one last: a depth-first walk in name order
    while pending:
        folder = pending.pop()
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in walked:
                continue
            walked.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            log.warning(_("skipping folder {folder}: {why}", folder=printable(folder), why=err.strerror or err))
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()  # follows symlinks; a dangling one is a file that will be reported unreadable
            except OSError:
                is_dir = False
            if is_dir:
                if enter is None or enter(Path(entry.path)):
                    subfolders.append(Path(entry.path))
            elif is_image_path(Path(entry.name)):
                yield Path(entry.path)
        pending.extend(reversed(subfolders))

"""Files as a shelter's disks hold them: only regular files are read, never past a size cap, never hanging.

A library on a network share or a phone backup holds named pipes (reading one waits forever for a writer),
device files (``/dev/zero`` never ends), links pointing anywhere, files still being copied and names that are not
UTF-8. Everything dogbreeds reads from a user's tree goes through :func:`read_regular_file`.
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
from pathlib import Path

from dogbreeds.core.i18n import _

MAX_FILE_BYTES = 200 * 1024 * 1024  # a 200 MB photo is already absurd; DOGBREEDS_MAX_FILE_MB changes it
_CHUNK = 1 << 20


def max_file_bytes() -> int:
    """The size cap: ``$DOGBREEDS_MAX_FILE_MB`` megabytes when set, else 200 MB."""
    value = os.environ.get("DOGBREEDS_MAX_FILE_MB")
    try:
        return int(float(value) * 1024 * 1024) if value else MAX_FILE_BYTES
    except ValueError:
        return MAX_FILE_BYTES


class NotReadable(OSError):
    """A path that is not a regular file, or one over the size cap; ``str(err)`` is the reason for the user."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return _("a named pipe")
    if stat.S_ISSOCK(mode):
        return _("a socket")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return _("a device file")
    if stat.S_ISDIR(mode):
        return _("a folder")
    return _("a special file")


def open_regular(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """Open a file for reading only if it is a regular file: a FIFO is opened non-blocking (so no writer is waited
    for) and refused after ``fstat``, as are devices and sockets. Returns the descriptor and its stat."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotReadable(_("not a regular file ({kind})", kind=kind_of(st.st_mode)))
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_regular_file(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file and its stat, refusing anything else and anything over ``max_bytes``.

    Raises:
        NotReadable: not a regular file, or larger than the cap.
        OSError: the file cannot be opened or read (missing, permission denied...).
    """
    cap = max_file_bytes() if max_bytes is None else max_bytes
    fd, st = open_regular(path)
    try:
        if st.st_size > cap:
            raise NotReadable(_("file too large ({size} MB; the limit is {limit} MB)", size=st.st_size >> 20,
                                limit=cap >> 20))  # fmt: skip
        parts, total = [], 0
        while chunk := os.read(fd, _CHUNK):
            parts.append(chunk)
            total += len(chunk)
            if total > cap:  # growing while we read it
                raise NotReadable(_("file too large (over {limit} MB)", limit=cap >> 20))
        return b"".join(parts), st
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)  # read once, at import, before any thread could race on it
    os.umask(mask)
    return mask


NEW_FILE_MODE = 0o666 & ~_umask()  # what open() gives a new file here (mkstemp gives 0600, which hides it)


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write through a temporary file beside ``path`` and a rename: a full disk or a kill leaves the old file (or
    none), never half of one."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), NEW_FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def content_hash(path: str | Path) -> str:
    """The sha256 of a regular file's bytes, read a megabyte at a time (no size cap: models and caches too)."""
    h = hashlib.sha256()
    fd, _st = open_regular(path)
    with os.fdopen(fd, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def printable(text: str | os.PathLike[str]) -> str:
    """A file name fit for any output: the bytes of a name that is not UTF-8 (kept by Python as surrogates) shown
    as ``\\xe9`` escapes instead of crashing a JSON or terminal writer."""
    text = os.fspath(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # a lone surrogate that did not come from a file name's bytes
            return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_ready(value: object) -> object:
    """``value`` as valid JSON can hold it, whatever the photos: names that are not UTF-8 escaped (see
    :func:`printable`), NaN and infinities as None. What ``predict --json`` prints and the web API returns."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    return value


def user_cache_dir() -> Path:
    """dogbreeds' own cache folder (embeddings, compiled OpenVINO models): ``$DOGBREEDS_CACHE``, else
    ``~/.cache/dogbreeds``. Everything in it can be deleted; it is made again when needed."""
    if os.environ.get("DOGBREEDS_CACHE"):
        return Path(os.environ["DOGBREEDS_CACHE"])
    # expanduser, not Path.home(): in a container without a home or a passwd entry it leaves "~" instead of raising,
    # and then the cache goes to the temporary folder, never to a relative "~" inside the current folder
    home = os.path.expanduser("~")
    if not os.path.isabs(home):
        import tempfile

        return Path(tempfile.gettempdir()) / "dogbreeds-cache"
    return Path(home) / ".cache" / "dogbreeds"

"""Upload jobs: photos a volunteer adds from the browser, stored by content and classified in the background.

Kept apart from the routes (:mod:`dogbreeds.web.upload`) so the app's shared state can hold the jobs without
importing the pages.
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import os
import secrets
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from dogbreeds.core.files import NEW_FILE_MODE
from dogbreeds.data.images import read_photo

SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif",
            "HEIF": ".heic", "MPO": ".jpg"}  # fmt: skip


@dataclass
class Job:
    """One batch of uploads: what was stored or refused, and the classification's progress (read by its page)."""

    id: str
    user: str
    stored: list[str] = field(default_factory=list)  # file names in the uploads folder
    duplicates: list[str] = field(default_factory=list)  # the client's names of photos already there
    refused: list[tuple[str, str]] = field(default_factory=list)  # (client's name, why)
    classifier: Any = None  # the Classifier at work: its live stats give the progress
    done: bool = False
    failed: str = ""


class Jobs:
    """The upload jobs of this server, run one after the other on one thread beside the model's."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dogbreeds-uploads")

    def new(self, user: str) -> Job:
        job = Job(secrets.token_urlsafe(12), user)
        with self._lock:
            self._jobs[job.id] = job
            if len(self._jobs) > 1000:  # keep the latest thousand
                for old in list(self._jobs)[:100]:
                    del self._jobs[old]
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(self, run: Callable[[], None]) -> None:
        self._pool.submit(contextvars.copy_context().run, run)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def store(folder: Path, data: bytes, name: str = "") -> tuple[str, bool]:
    """Decode ``data`` (refusing what is not a photo in a format the library keeps), then keep it under its
    content hash in ``folder``. ``name``: the client's file name, only for its suffix (a HEIC photo is decoded as
    one). Returns the file name and whether it was new.

    Raises:
        UnreadableImage: not a photo, or not one of the formats the library keeps; its one-line reason.
    """
    from dogbreeds.core.i18n import _
    from dogbreeds.data.images import IMAGE_SUFFIXES, UnreadableImage

    suffix = Path(name).suffix.lower()
    read_photo(Path("upload" + (suffix if suffix in IMAGE_SUFFIXES else "")), data=data)  # the checks classify makes
    with Image.open(io.BytesIO(data)) as img:
        kept = SUFFIXES.get(img.format or "")
    if kept is None:
        raise UnreadableImage(_("not a photo format the library keeps (JPEG, PNG, WebP, HEIC, GIF, BMP, TIFF)"))
    stored = hashlib.sha256(data).hexdigest() + kept
    target = folder / stored
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), NEW_FILE_MODE)
            os.fsync(f.fileno())
        try:
            os.link(tmp, target)  # fails if the name exists: never overwrites
        except FileExistsError:
            return stored, False
        except OSError:  # no hard links here (FAT, some network mounts): rename the complete file into place;
            if target.exists():  # the name is the content's hash, so a file already there holds these bytes
                return stored, False
            os.replace(tmp, target)
        return stored, True
    finally:
        Path(tmp).unlink(missing_ok=True)

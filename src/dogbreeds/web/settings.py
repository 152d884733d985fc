"""What ``dogbreeds serve`` is started with, checked once, before anything is loaded."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _

MB = 1024 * 1024
DEFAULT_MAX_UPLOAD_MB = 20  # a 12 MP phone JPEG is 3-8 MB; a 20 MB one is already a RAW-sized file
DEFAULT_MAX_BATCH_MB = 500  # "add photos": a hundred phone photos at once
PAGE_SIZE = 48  # photos per library page: 4 rows of a desktop grid, a few screens on a phone
TOP_K = 5  # breeds shown per photo (the bars, and /api/predict's default)


def default_cache() -> Path:
    """Where thumbnails go: ``$XDG_CACHE_HOME/dogbreeds/thumbs`` (``~/.cache/...``). Keyed by content hash, so
    every catalog may share it."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "dogbreeds" / "thumbs"


@dataclass(frozen=True)
class WebSettings:
    """The server's settings.

    Attributes:
        db: the catalog (a SQLite file or an SQLAlchemy URL), opened read-only; None: only Identify works.
        model: a checkpoint folder or ``.onnx`` file; None: the shipped model.
        backend: the inference runtime (see :class:`~dogbreeds.inference.predictor.Predictor`).
        precision: its arithmetic.
        library: the photo library's folder: photos are named relative to it, and only photos inside it are
            shown as images (a catalog naming files elsewhere cannot make the server read them). None: any
            photo of the catalog.
        cache: the thumbnail folder.
        max_upload_bytes: the largest photo accepted.
        max_batch_bytes: the most that "add photos" takes in one request (each photo still within the above).
        page_size: photos per library page.
    """

    db: str | None = None
    model: str | None = None
    backend: str = "auto"
    precision: str = "auto"
    library: Path | None = None
    cache: Path = field(default_factory=default_cache)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * MB
    max_batch_bytes: int = DEFAULT_MAX_BATCH_MB * MB
    page_size: int = PAGE_SIZE

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1:
            raise UsageError(_("the upload limit must be at least 1 byte"))
        if self.page_size < 1:
            raise UsageError(_("a library page must hold at least one photo"))
        if self.library is not None:
            if not self.library.is_dir():
                raise UsageError(_("--library {path} is not a folder", path=self.library))
            object.__setattr__(self, "library", Path(os.path.realpath(self.library)))  # what catalog paths hold

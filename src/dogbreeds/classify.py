"""``dogbreeds classify``: walk folders, classify every photo once, and keep the result in the catalog.

Resumable and exact: an unchanged photo (same path, size and mtime) is skipped without being read; a photo whose
content the catalog already knows for this model (a copy, or a photo moved or renamed) is read and hashed but
neither decoded nor run through the model: it takes the known result; everything else is decoded in worker
threads, classified in batches, and written a batch per transaction.

Memory stays flat in the size of the library: the folders are walked as a stream (twice: once to count for the
progress bar), and the catalog is asked about each chunk of paths and each batch of contents as they come,
instead of being loaded whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds import catalog
from dogbreeds.data.images import UnreadableImage, is_image_path, read_photo, walk_image_files
from dogbreeds.parallel import batched, map_ahead
from dogbreeds.predict import UNREADABLE, Predictor
from dogbreeds.progress import progress

log = logging.getLogger(__name__)


@dataclass
class ClassifyStats:
    photos: int = 0
    classified: int = 0
    unchanged: int = 0
    reused: int = 0  # copies, moved or renamed photos whose content was already classified
    unreadable: int = 0
    vanished: int = 0
    seconds: float = 0.0
    by_verdict: dict[str, int] = field(default_factory=dict)

    @property
    def photos_per_second(self) -> float:
        return self.photos / self.seconds if self.seconds else 0.0


@dataclass
class _Prepared:
    """A photo read by a worker: either decoded, known by content, or unreadable."""

    path: str
    bytes: int = 0
    mtime_ns: int = 0
    sha256: str | None = None
    array: np.ndarray | None = None
    size: tuple[int, int] | None = None
    taken_at: str | None = None
    error: str | None = None
    vanished: bool = False
    known: bool = False  # the catalog has this content for this model: not decoded, its result is reused


class Classifier:
    """Classify folders into a catalog with one model; see the module docstring for the guarantees."""

    path_chunk = 512  # paths the catalog is asked about at a time

    def __init__(self, predictor: Predictor, engine: Any, *, batch_size: int = 16, workers: int = 2) -> None:
        self.predictor, self.engine = predictor, engine
        self.batch_size, self.workers = batch_size, max(1, workers)
        self.model_id = predictor.card.id

    def _prepare(self, path: str) -> _Prepared:
        try:
            st = os.stat(path)
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return _Prepared(path, vanished=True)
        except OSError as err:
            return _Prepared(path, error=f"cannot read file: {err.strerror or err}")
        p = _Prepared(path, st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest())
        if catalog.has_content(self.engine, p.sha256, self.model_id):  # a copy, or a moved photo: no decoding
            p.known = True
            return p
        return self._decode(p, data)

    def _decode(self, p: _Prepared, data: bytes) -> _Prepared:
        try:
            photo = read_photo(p.path, min_size=self.predictor.card.preprocess.resize_to, data=data)
        except UnreadableImage as err:
            p.error = str(err)
            return p
        p.array, p.size, p.taken_at = self.predictor.transform(photo.image), photo.size, photo.taken_at
        return p

    def _redecode(self, p: _Prepared) -> None:
        p.known = False
        try:
            with open(p.path, "rb") as f:
                self._decode(p, f.read())
        except FileNotFoundError:
            p.vanished = True
        except OSError as err:
            p.error = f"cannot read file: {err.strerror or err}"

    def _unchanged(self, path: str, row: dict[str, Any] | None) -> bool:
        if row is None or row["model_id"] != self.model_id or row["verdict"] == UNREADABLE:
            return False
        try:
            st = os.stat(path)
        except OSError:
            return False
        return row["bytes"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns

    def run(self, folders: list[str | Path]) -> ClassifyStats:
        """Classify every photo under ``folders`` not yet in the catalog; each batch is one transaction."""
        started = time.perf_counter()
        stats = ClassifyStats()
        total = sum(1 for _ in unique_photos(folders))  # a second, cheap walk: the progress bar's total
        with progress("classifying", total=total, unit="photos") as bar:
            todo = self._changed(unique_photos(folders), stats, bar.advance)
            prepared = map_ahead(self._prepare, todo, workers=self.workers, ahead=4 * self.batch_size)
            for batch in batched(prepared, self.batch_size):
                rows, stale = [], []
                for row, how, gone in self._rows(batch):
                    rows.append(row)
                    stale += gone
                    setattr(stats, how, getattr(stats, how) + 1)
                    stats.by_verdict[row["verdict"]] = stats.by_verdict.get(row["verdict"], 0) + 1
                stats.vanished += sum(p.vanished for p in batch)
                catalog.upsert(self.engine, rows, delete_paths=stale)
                bar.advance(len(batch))
        stats.seconds = time.perf_counter() - started
        return stats

    def _changed(self, paths: Iterator[str], stats: ClassifyStats, advance: Any) -> Iterator[str]:
        """The paths that need reading: the catalog is asked about a chunk of paths at a time."""
        for chunk in batched(paths, self.path_chunk):
            known = catalog.rows_by_path(self.engine, chunk)
            stats.photos += len(chunk)
            todo = [p for p in chunk if not self._unchanged(p, known.get(p))]
            stats.unchanged += len(chunk) - len(todo)
            advance(len(chunk) - len(todo))
            yield from todo

    def _rows(self, batch: list[_Prepared]) -> Iterator[tuple[dict[str, Any], str, list[str]]]:
        """Catalog rows for a batch, each with how it was obtained (classified, reused or unreadable) and the paths
        whose rows it replaces (a moved or renamed photo's old paths, gone from disk; looked for among the first
        16 rows of its content, enough for any photo not copied more than 16 times)."""
        hashes = [p.sha256 for p in batch if p.sha256 and (p.known or p.array is not None)]
        known = catalog.rows_by_hash(self.engine, hashes, self.model_id) if hashes else {}
        reuse = {id(p): known[p.sha256] for p in batch if p.sha256 in known and (p.known or p.array is not None)}
        for p in batch:
            if p.known and id(p) not in reuse:  # its known row was deleted meanwhile: classify it after all
                self._redecode(p)
        ready = [p for p in batch if p.array is not None and id(p) not in reuse]
        out = self.predictor.run_arrays(np.stack([p.array for p in ready])) if ready else None
        index = {id(p): i for i, p in enumerate(ready)}
        stamp = catalog.now()
        for p in batch:
            if p.vanished:  # deleted between the walk and the read: nothing to record
                continue
            base = {"path": p.path, "sha256": p.sha256, "bytes": p.bytes, "mtime_ns": p.mtime_ns,
                    "model_id": self.model_id, "classified_at": stamp}  # fmt: skip
            if same := reuse.get(id(p)):
                gone = [r["path"] for r in same if r["path"] != p.path and not os.path.exists(r["path"])]
                yield catalog.to_row({**same[0], **base}.items()), "reused", gone
            elif p.array is None:
                row = catalog.to_row({**base, "verdict": UNREADABLE, "error": p.error or "unreadable"}.items())
                yield row, "unreadable", []
            else:
                assert out is not None
                i = index[id(p)]
                pred = self.predictor.describe(p.path, out.probabilities[i], out.dog_probability[i], top_k=5)
                values = {**base, "width": p.size[0] if p.size else None, "height": p.size[1] if p.size else None,
                          "taken_at": p.taken_at, "breed": pred.breed, "name": pred.name,
                          "probability": pred.probability, "dog_probability": pred.dog_probability,
                          "top5": json.dumps(pred.top_k), "verdict": pred.verdict}  # fmt: skip
                yield catalog.to_row(values.items()), "classified", []


def unique_photos(paths: list[str | Path]) -> Iterator[str]:
    """Every photo under ``paths`` (folders and files) once, by its real path, streamed.

    The walk visits each folder once; what could still arrive twice is a symlinked file or a file named
    explicitly. Those whose real path lies inside a walked folder are left to the walk; the rest (links to photos
    elsewhere) are remembered, which costs memory per such link, never per photo.
    """
    folders = [str(p) for p in paths if os.path.isdir(p)]
    roots = [os.path.join(os.path.realpath(f), "") for f in folders]
    elsewhere: set[str] = set()
    last_folder, last_real = "", ""
    for path in map(str, walk_image_files(folders)):
        if not os.path.islink(path):  # a plain file in a folder walked once: unique by construction
            folder = os.path.dirname(path)
            if folder != last_folder:
                last_folder, last_real = folder, os.path.realpath(folder)
            yield os.path.join(last_real, os.path.basename(path))
        elif (real := os.path.realpath(path)) not in elsewhere and not _walked_directly(real, roots):
            elsewhere.add(real)
            yield real
    for path in (str(p) for p in paths if not os.path.isdir(p)):
        if (real := os.path.realpath(path)) not in elsewhere and not _walked_directly(real, roots):
            elsewhere.add(real)
            yield real


def _walked_directly(real: str, roots: list[str]) -> bool:
    """Whether the walk reaches this real path as a plain file: inside a root, in no hidden folder, a photo name."""
    for root in roots:
        if real.startswith(root):
            parts = Path(real[len(root) :]).parts
            return bool(parts) and not any(part.startswith(".") for part in parts) and is_image_path(Path(real))
    return False

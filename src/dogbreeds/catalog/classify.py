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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.catalog import database
from dogbreeds.core.parallel import batched, map_ahead
from dogbreeds.core.progress import progress
from dogbreeds.data.images import UnreadableImage, is_image_path, read_photo, walk_image_files
from dogbreeds.inference.predictor import UNREADABLE, Predictor

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
    data: bytes | None = None  # the file's bytes, between reading and decoding


class Classifier:
    """Classify folders into a catalog with one model; see the module docstring for the guarantees."""

    path_chunk = 512  # paths the catalog is asked about at a time

    def __init__(self, predictor: Predictor, engine: Any, *, batch_size: int = 16, workers: int = 2) -> None:
        self.predictor, self.engine = predictor, engine
        self.batch_size, self.workers = batch_size, max(1, workers)
        self.model_id = predictor.card.id
        self._roots: list[str] = []  # the real paths of the folders being classified, each ending with a separator

    def _read(self, path: str) -> _Prepared:
        """Read and hash a photo (a worker thread); it is decoded later, only if its content is new."""
        try:
            st = os.stat(path)
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            if os.path.islink(path):  # a symlink to nothing: worth telling, unlike a photo deleted meanwhile
                return _Prepared(path, error=f"broken symbolic link to {os.readlink(path)}")
            return _Prepared(path, vanished=True)
        except OSError as err:
            return _Prepared(path, error=f"cannot read file: {err.strerror or err}")
        return _Prepared(path, st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest(), data=data)

    def _mark_known(self, prepared: Iterator[_Prepared]) -> Iterator[_Prepared]:
        """Flag the photos whose content the catalog already has for this model (one query per batch, asked from
        this thread only: worker threads never touch the database)."""
        for chunk in batched(prepared, self.batch_size):
            hashes = [p.sha256 for p in chunk if p.sha256]
            known = database.known_contents(self.engine, hashes, self.model_id) if hashes else set()
            for p in chunk:
                p.known = p.sha256 in known
            yield from chunk

    def _decode_new(self, p: _Prepared) -> _Prepared:
        """Decode a photo whose content is new (a worker thread); a known one keeps no bytes."""
        data, p.data = p.data, None
        if data is None or p.known:
            return p
        try:
            photo = read_photo(p.path, min_size=self.predictor.card.preprocess.resize_to, data=data)
        except UnreadableImage as err:
            p.error = str(err)
            return p
        p.array, p.size, p.taken_at = self.predictor.transform(photo.image), photo.size, photo.taken_at
        return p

    def _redecode(self, p: _Prepared) -> None:
        """A photo taken for known whose known row vanished meanwhile: read it again and decode it after all."""
        vars(p).update(vars(self._decode_new(self._read(p.path))))

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
        self._roots = [os.path.join(os.path.realpath(f), "") for f in folders if os.path.isdir(f)]
        ahead = 4 * self.batch_size
        with progress("classifying", total=total, unit="photos") as bar:
            todo = self._changed(unique_photos(folders), stats, bar.advance)
            read = self._mark_known(map_ahead(self._read, todo, workers=self.workers, ahead=ahead))
            for batch in batched(map_ahead(self._decode_new, read, workers=self.workers, ahead=ahead), self.batch_size):
                rows, stale = [], []
                for row, how, gone in self._rows(batch):
                    rows.append(row)
                    stale += gone
                    setattr(stats, how, getattr(stats, how) + 1)
                    stats.by_verdict[row["verdict"]] = stats.by_verdict.get(row["verdict"], 0) + 1
                stats.vanished += sum(p.vanished for p in batch)
                database.upsert(self.engine, rows, delete_paths=stale)
                bar.advance(len(batch))
        stats.seconds = time.perf_counter() - started
        return stats

    def _changed(self, paths: Iterator[str], stats: ClassifyStats, advance: Callable[[int], None]) -> Iterator[str]:
        """The paths that need reading: the catalog is asked about a chunk of paths at a time."""
        for chunk in batched(paths, self.path_chunk):
            known = database.rows_by_path(self.engine, chunk)
            stats.photos += len(chunk)
            todo = [p for p in chunk if not self._unchanged(p, known.get(p))]
            stats.unchanged += len(chunk) - len(todo)
            advance(len(chunk) - len(todo))
            yield from todo

    def _rows(self, batch: list[_Prepared]) -> Iterator[tuple[dict[str, Any], str, list[str]]]:
        """Catalog rows for a batch, each with how it was obtained (classified, reused or unreadable) and the paths
        whose rows it replaces (a moved or renamed photo's old paths, gone from disk; looked for among the first
        16 rows of its content, enough for any photo not copied more than 16 times)."""
        readable = [p for p in batch if p.sha256 and (p.known or p.array is not None)]
        known = database.rows_by_hash(self.engine, [p.sha256 for p in readable], self.model_id) if readable else {}
        reuse = {id(p): known[p.sha256] for p in readable if p.sha256 in known}
        for p in batch:
            if p.known and id(p) not in reuse:  # its known row was deleted meanwhile: classify it after all
                self._redecode(p)
        first: dict[str | None, _Prepared] = {}  # copies within the batch go through the model once
        for p in batch:
            if p.array is not None and id(p) not in reuse:
                first.setdefault(p.sha256, p)
        ready = list(first.values())
        out = self.predictor.run_pixels(np.stack([p.array for p in ready])) if ready else None
        index = {p.sha256: i for i, p in enumerate(ready)}
        stamp = database.now()
        for p in batch:
            if p.vanished:  # deleted between the walk and the read: nothing to record
                continue
            base = {"path": p.path, "sha256": p.sha256, "bytes": p.bytes, "mtime_ns": p.mtime_ns,
                    "model_id": self.model_id, "classified_at": stamp}  # fmt: skip
            if same := reuse.get(id(p)):
                yield database.to_row({**same[0], **base}.items()), "reused", self._moved_from(p.path, same)
            elif p.array is None:
                row = database.to_row({**base, "verdict": UNREADABLE, "error": p.error or "unreadable"}.items())
                yield row, "unreadable", []
            else:
                assert out is not None
                i = index[p.sha256]
                pred = self.predictor.describe(p.path, out.probabilities[i], out.dog_probability[i], top_k=5)
                values = {**base, "width": p.size[0] if p.size else None, "height": p.size[1] if p.size else None,
                          "taken_at": p.taken_at, "breed": pred.breed, "name": pred.name,
                          "probability": pred.probability, "dog_probability": pred.dog_probability,
                          "top5": json.dumps(pred.top_k), "verdict": pred.verdict}  # fmt: skip
                yield database.to_row(values.items()), "classified" if first[p.sha256] is p else "reused", []

    def _moved_from(self, path: str, same: list[dict[str, Any]]) -> list[str]:
        """Paths of rows with this content that are gone from disk: where the photo was before a move or rename.
        Only paths inside the folders being classified count: a photo on an unmounted drive or another machine
        (a shared PostgreSQL catalog) is not gone because this machine cannot see it."""
        return [r["path"] for r in same if r["path"] != path and r["path"].startswith(tuple(self._roots))
                and not os.path.exists(r["path"])]  # fmt: skip


def unique_photos(paths: list[str | Path]) -> Iterator[str]:
    """Every photo under ``paths`` (folders and files) once, by its real path, streamed.

    The walk enters each folder once, so its plain files are unique by construction and are yielded as they come;
    memory holds one entry per folder walked, never one per photo. Symlinked files and files named explicitly are
    settled after the walk: skipped when the walk already yielded their real file, otherwise yielded once each.
    A symlink to nothing is yielded as is, so that it is reported unreadable.
    """
    walked: set[str] = set()  # real paths of the folders whose plain photos were yielded
    deferred: list[str] = []  # symlinked files: one entry per link
    last_folder = last_real = ""
    for path in map(str, walk_image_files([p for p in paths if os.path.isdir(p)])):
        if os.path.islink(path):
            deferred.append(path)
            continue
        folder = os.path.dirname(path)
        if folder != last_folder:
            last_folder, last_real = folder, os.path.realpath(folder)
            walked.add(last_real)
        real = os.path.join(last_real, os.path.basename(path))
        if _storable(real):
            yield real
    seen: set[str] = set()
    for path in deferred + [str(p) for p in paths if not os.path.isdir(p)]:
        real = os.path.realpath(path)
        if not os.path.exists(real):
            real = os.path.abspath(path)  # a broken link (or a missing file): reported, not followed
        elif os.path.dirname(real) in walked and is_image_path(Path(real)) and not os.path.islink(real):
            continue  # the walk yielded this very file
        if real not in seen and _storable(real):
            seen.add(real)
            yield real


def _storable(path: str) -> bool:
    """Whether a path can be a catalog key: names that are not valid UTF-8 (old archives) cannot."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        log.warning("skipping a file whose name is not valid UTF-8: %r", path)
        return False
    return True

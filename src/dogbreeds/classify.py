"""``dogbreeds classify``: walk folders, classify every photo once, and keep the result in the catalog.

Resumable and exact: an unchanged photo (same path, size and mtime) is skipped without being read; a photo whose
content the catalog already knows for this model (a copy, or a photo moved or renamed) takes the known result
without running the model; everything else is decoded in worker threads, classified in batches, and written a
batch per transaction.
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
from dogbreeds.data.images import UnreadableImage, iter_image_files, read_photo
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
    known_as: str | None = None  # path of a catalog row with the same content and model
    error: str | None = None
    vanished: bool = False


class Classifier:
    """Classify folders into a catalog with one model; see the module docstring for the guarantees."""

    def __init__(self, predictor: Predictor, engine: Any, *, batch_size: int = 16, workers: int = 2) -> None:
        self.predictor, self.engine = predictor, engine
        self.batch_size, self.workers = batch_size, max(1, workers)
        self.model_id = predictor.card.id

    def _prepare(self, path: str, known: catalog.Known) -> _Prepared:
        try:
            st = os.stat(path)
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return _Prepared(path, vanished=True)
        except OSError as err:
            return _Prepared(path, error=f"cannot read file: {err.strerror or err}")
        p = _Prepared(path, st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest())
        others = [q for q in known.by_hash.get(p.sha256, []) if q != path]
        if others:  # decoded all the same: should the known row disappear meanwhile, the photo is classified
            p.known_as = others[0]
        try:
            photo = read_photo(path, min_size=self.predictor.card.preprocess.resize_to, data=data)
        except UnreadableImage as err:
            p.error = str(err)
            return p
        p.array, p.size, p.taken_at = self.predictor.transform(photo.image), photo.size, photo.taken_at
        return p

    def _unchanged(self, path: str, known: catalog.Known) -> bool:
        row = known.by_path.get(path)
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
        known = catalog.known_rows(self.engine, self.model_id)
        # resolved and de-duplicated: a photo reached through a symlink too is one photo, classified once
        paths = list(dict.fromkeys(str(p.resolve()) for p in iter_image_files(list(folders))))
        stats.photos = len(paths)
        todo = [p for p in paths if not self._unchanged(p, known)]
        stats.unchanged = len(paths) - len(todo)
        pending: list[dict[str, Any]] = []
        stale: list[str] = []
        with progress("classifying", total=len(todo), unit="photos") as bar:
            for batch in self._batches(todo, known):
                for row, how in self._rows(batch):
                    pending.append(row)
                    setattr(stats, how, getattr(stats, how) + 1)
                    stats.by_verdict[row["verdict"]] = stats.by_verdict.get(row["verdict"], 0) + 1
                    if how == "reused":  # a moved or renamed photo: its old path is gone from disk
                        stale += [q for q in known.by_hash[row["sha256"]] if q != row["path"] and not os.path.exists(q)]
                stats.vanished += sum(p.vanished for p in batch)
                catalog.upsert(self.engine, pending, delete_paths=stale)
                pending, stale = [], []
                bar.advance(len(batch))
        stats.seconds = time.perf_counter() - started
        return stats

    def _rows(self, batch: list[_Prepared]) -> Iterator[tuple[dict[str, Any], str]]:
        """Catalog rows for a batch, each with how it was obtained (classified, reused or unreadable)."""
        reuse = {id(p): catalog.row_by_hash(self.engine, p.sha256, self.model_id) for p in batch if p.known_as}
        ready = [p for p in batch if p.array is not None and not reuse.get(id(p))]
        out = self.predictor.run_arrays(np.stack([p.array for p in ready])) if ready else None
        index = {id(p): i for i, p in enumerate(ready)}
        stamp = catalog.now()
        for p in batch:
            if p.vanished:  # deleted between the walk and the read: nothing to record
                continue
            base = {"path": p.path, "sha256": p.sha256, "bytes": p.bytes, "mtime_ns": p.mtime_ns,
                    "model_id": self.model_id, "classified_at": stamp}  # fmt: skip
            if known := reuse.get(id(p)):
                yield catalog.to_row({**known, **base}.items()), "reused"
            elif p.array is None:
                yield (
                    catalog.to_row({**base, "verdict": UNREADABLE, "error": p.error or "unreadable"}.items()),
                    "unreadable",
                )
            else:
                assert out is not None
                i = index[id(p)]
                pred = self.predictor.describe(p.path, out.probabilities[i], out.dog_probability[i], top_k=5)
                values = {**base, "width": p.size[0] if p.size else None, "height": p.size[1] if p.size else None,
                          "taken_at": p.taken_at, "breed": pred.breed, "name": pred.name,
                          "probability": pred.probability, "dog_probability": pred.dog_probability,
                          "top5": json.dumps(pred.top_k), "verdict": pred.verdict}  # fmt: skip
                yield catalog.to_row(values.items()), "classified"

    def _batches(self, paths: list[str], known: catalog.Known) -> Iterator[list[_Prepared]]:
        """Prepared photos, a batch at a time, read ahead by the workers while the model runs (bounded: memory
        stays flat whatever the size of the library)."""
        prepared = map_ahead(lambda p: self._prepare(p, known), paths, workers=self.workers, ahead=4 * self.batch_size)
        yield from batched(prepared, self.batch_size)

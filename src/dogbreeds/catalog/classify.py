"""``dogbreeds classify``: walk folders, classify every photo once, and keep the result in the catalog.

A pipeline of named stages, each a method taking the previous stage's output, read top to bottom in
:meth:`Classifier.run`::

    walk          the photos under the folders, as catalog keys             (catalog.walk, streamed)
    what changed  the paths whose row is missing, stale or another model's  (one query per chunk of paths)
    read          each file's bytes and sha256                              (worker threads)
    known         contents the catalog already classified with this model   (one query per batch)
    decode        pixels of the new contents only                           (worker threads)
    predict       the model on a batch; a content met twice runs once       (main thread)
    write         rows and embeddings; moved photos' old rows deleted      (one transaction per batch)
    prune         rows of photos gone from the folders, unused embeddings  (after a complete walk)

Each content's embedding is written with its row, in the same transaction, for ``dogbreeds similar``; a content
the catalog holds without one (a catalog from before schema 2) counts as new, so it is run once more.

Resumable and exact: an unchanged photo (same path, size and mtime) is skipped without being read; a photo whose
content the catalog already knows for this model (a copy, a link, a photo moved or renamed) is read and hashed
but neither decoded nor run through the model: it takes the known result. Verdicts follow the model's current
thresholds: when they change (``--min-probability`` ...), every row of that model is judged again from its stored
numbers before the run, without the model, so copies and originals always agree.

Memory stays flat in the size of the library: the folders are walked as a stream (twice: once to count for the
progress bar), and the catalog is asked about each chunk of paths and each batch of contents as they come.
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
from dogbreeds.catalog.walk import WalkCounts, count_photos, folder_roots, library_photos
from dogbreeds.core.files import read_regular_file
from dogbreeds.core.i18n import _
from dogbreeds.core.parallel import BATCH_SIZE, batched, map_ahead
from dogbreeds.core.progress import progress
from dogbreeds.core.verdicts import UNREADABLE
from dogbreeds.data.images import UnreadableImage, dhash, read_photo
from dogbreeds.inference.predictor import BatchOutput, Predictor

log = logging.getLogger(__name__)


@dataclass
class ClassifyStats:
    photos: int = 0
    classified: int = 0
    unchanged: int = 0
    reused: int = 0  # copies, links, moved or renamed photos whose content was already classified
    unreadable: int = 0
    vanished: int = 0
    saved: int = 0  # rows written by this run so far (what an interrupted run keeps)
    rejudged: int = 0  # rows whose verdict changed with the thresholds
    pruned: int = 0  # rows of photos deleted from the folders classified
    embeddings_pruned: int = 0  # embeddings no row uses any more
    walk: WalkCounts = field(default_factory=WalkCounts)
    seconds: float = 0.0
    by_verdict: dict[str, int] = field(default_factory=dict)

    @property
    def photos_per_second(self) -> float:
        return self.photos / self.seconds if self.seconds else 0.0


@dataclass
class Photo:
    """One photo on its way through the stages."""

    path: str
    nbytes: int = 0
    mtime_ns: int = 0
    sha256: str | None = None
    pixels: np.ndarray | None = None  # decoded, for the model (new contents only)
    dhash: int | None = None  # its difference hash, for similar's near-duplicates (new contents only)
    size: tuple[int, int] | None = None
    taken_at: str | None = None
    error: str | None = None
    vanished: bool = False
    known: bool = False  # the catalog has this content for this model: not decoded, its result is reused
    data: bytes | None = None  # the file's bytes, between reading and decoding


@dataclass
class Predicted:
    """What the predict stage found for a batch: known rows to reuse, and the model's outputs for the rest."""

    reuse: dict[int, list[dict[str, Any]]]  # id(photo) -> catalog rows with its content
    first: dict[str, Photo]  # sha256 -> the photo of the batch that went through the model
    output: BatchOutput | None
    index: dict[str, int]  # sha256 -> row of ``output``


class Classifier:
    """Classify folders into a catalog with one model; see the module docstring for the guarantees."""

    path_chunk = 512  # paths the catalog is asked about at a time

    def __init__(
        self,
        predictor: Predictor,
        engine: Any,
        *,
        batch_size: int = BATCH_SIZE,
        workers: int = 2,
        allow_outside: bool = False,
    ) -> None:
        self.predictor, self.engine = predictor, engine
        self.batch_size, self.workers = batch_size, max(1, workers)
        self.allow_outside = allow_outside
        self.model_id = predictor.card.id
        self.stats = ClassifyStats()  # live: an interrupted run still tells what it saved
        self.embeds = True  # the model gives embeddings (all of ours do): a content without one is not done yet
        self.dims = predictor.embedding_dims  # a stored embedding of other dimensions is from before its projection
        self._roots: list[str] = []  # the real paths of the folders being classified, each ending with a separator

    def run(self, folders: list[str | Path]) -> ClassifyStats:
        """Classify every photo under ``folders`` not yet in the catalog; each batch is one transaction."""
        started = time.perf_counter()
        stats = self.stats = ClassifyStats()
        roots = folder_roots(list(folders))
        self._roots = [os.path.join(r, "") for r in roots]
        database.record_folders(self.engine, roots)
        stats.rejudged = database.rejudge(self.engine, self.model_id, self.predictor.card.verdicts)
        total = count_photos(list(folders), allow_outside=self.allow_outside)  # the progress bar's total
        ahead = self.batch_size + 4 * self.workers  # keeps the model fed; each holds a photo's file (MBs at 12 MP)
        with progress(_("classifying"), total=total, unit=_("photos")) as bar:
            paths = library_photos(list(folders), allow_outside=self.allow_outside, counts=stats.walk)
            todo = self.what_changed(paths, bar.advance)
            read = map_ahead(self.read, todo, workers=self.workers, ahead=ahead)
            marked = self.known(read)
            decoded = map_ahead(self.decode, marked, workers=self.workers, ahead=ahead)
            for batch in batched(decoded, self.batch_size):
                self.write(batch, self.predict(batch))
                bar.advance(len(batch))
        stats.pruned = self.prune(roots)
        stats.embeddings_pruned = database.prune_embeddings(self.engine)
        database.checkpoint(self.engine)
        stats.seconds = time.perf_counter() - started
        return stats

    # -- what changed -------------------------------------------------------------------------------------------

    def what_changed(self, paths: Iterator[str], advance: Callable[[int], None]) -> Iterator[str]:
        """The paths that need reading: the catalog is asked about a chunk of paths at a time."""
        for chunk in batched(paths, self.path_chunk):
            known = database.rows_by_path(self.engine, chunk)
            if self.embeds:  # a row from before embeddings were kept (schema 1) is done again, once
                hashes = [r["sha256"] for r in known.values() if r["sha256"] and r["model_id"] == self.model_id]
                with_vector = database.embedded(self.engine, hashes, self.model_id, self.dims)
                known = {p: r for p, r in known.items() if r["sha256"] in with_vector or r["verdict"] == UNREADABLE}
            self.stats.photos += len(chunk)
            todo = [p for p in chunk if not self._unchanged(p, known.get(p))]
            self.stats.unchanged += len(chunk) - len(todo)
            advance(len(chunk) - len(todo))
            yield from todo

    def _unchanged(self, path: str, row: dict[str, Any] | None) -> bool:
        if row is None or row["model_id"] != self.model_id or row["verdict"] == UNREADABLE:
            return False
        try:
            st = os.stat(path)
        except OSError:
            return False
        return row["bytes"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns

    # -- read (worker threads) ----------------------------------------------------------------------------------

    def read(self, path: str) -> Photo:
        """Read and hash a photo; it is decoded later, only if its content is new. Only regular files are opened,
        never over the size cap (a FIFO, a device, a huge file are unreadable rows with the reason)."""
        try:
            data, st = read_regular_file(path)
        except FileNotFoundError:
            if os.path.islink(path):  # a symlink to nothing: worth telling, unlike a photo deleted meanwhile
                return Photo(path, error=_("broken symbolic link to {target}", target=os.readlink(path)))
            return Photo(path, vanished=True)
        except OSError as err:
            why = str(err) if not err.strerror else err.strerror
            return Photo(path, error=_("cannot read file: {why}", why=why))
        return Photo(path, st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest(), data=data)

    # -- known contents -----------------------------------------------------------------------------------------

    def known(self, photos: Iterator[Photo]) -> Iterator[Photo]:
        """Flag the photos whose content the catalog already has for this model (one query per batch, asked from
        this thread only: worker threads never touch the database)."""
        for chunk in batched(photos, self.batch_size):
            hashes = [p.sha256 for p in chunk if p.sha256]
            known = (
                database.known_contents(self.engine, hashes, self.model_id, with_embedding=self.embeds, dims=self.dims)
                if hashes
                else set()
            )
            for p in chunk:
                p.known = p.sha256 in known
            yield from chunk

    # -- decode (worker threads) --------------------------------------------------------------------------------

    def decode(self, p: Photo) -> Photo:
        """Decode a photo whose content is new; a known one keeps no bytes."""
        data, p.data = p.data, None
        if data is None or p.known:
            return p
        try:
            photo = read_photo(p.path, min_size=self.predictor.card.preprocess.resize_to, data=data)
        except UnreadableImage as err:
            p.error = str(err)
            return p
        p.pixels, p.size, p.taken_at = self.predictor.transform(photo.image), photo.size, photo.taken_at
        p.dhash = dhash(photo.image)
        return p

    # -- predict ------------------------------------------------------------------------------------------------

    def predict(self, batch: list[Photo]) -> Predicted:
        """Run the model on the batch's new contents, once per content; find the known rows of the others."""
        readable = [p for p in batch if p.sha256 and (p.known or p.pixels is not None)]
        hashes = [p.sha256 for p in readable if p.sha256]
        known = database.rows_by_hash(self.engine, hashes, self.model_id) if readable else {}
        # a decoded content met in rows written meanwhile (a copy in an earlier batch) takes them, unless they lack
        # an embedding (an older catalog's): then it goes through the model again
        complete = (
            set(known) if not self.embeds else database.embedded(self.engine, list(known), self.model_id, self.dims)
        )
        reuse = {id(p): known[p.sha256] for p in readable if p.sha256 in known and (p.known or p.sha256 in complete)}
        for p in batch:
            if p.known and id(p) not in reuse:  # its known row was deleted meanwhile (a race): decode it after all
                vars(p).update(vars(self.decode(self.read(p.path))))
        first: dict[str, Photo] = {}  # copies within the batch go through the model once
        for p in batch:
            if p.pixels is not None and id(p) not in reuse and p.sha256:
                first.setdefault(p.sha256, p)
        ready = list(first.values())
        pixels = [p.pixels for p in ready if p.pixels is not None]  # all of them: only decoded photos are first
        output = self.predictor.run_pixels(np.stack(pixels)) if ready else None
        if output is not None and output.features is None:
            self.embeds = False
        return Predicted(reuse, first, output, {sha: i for i, sha in enumerate(first)})

    # -- write --------------------------------------------------------------------------------------------------

    def write(self, batch: list[Photo], predicted: Predicted) -> None:
        """The batch's rows in one transaction, with the rows they replace (a moved photo's old paths)."""
        rows, stale = [], []
        vectors = self._vectors(predicted)
        stamp = database.now()
        for p in batch:
            if p.vanished:  # deleted between the walk and the read: nothing to record
                self.stats.vanished += 1
                continue
            row, how, gone = self._row(p, predicted, stamp)
            rows.append(row)
            stale += gone
            setattr(self.stats, how, getattr(self.stats, how) + 1)
            self.stats.by_verdict[row["verdict"]] = self.stats.by_verdict.get(row["verdict"], 0) + 1
        database.upsert(self.engine, rows, delete_paths=stale, vectors=vectors)
        self.stats.saved += len(rows)

    def _vectors(self, predicted: Predicted) -> list[dict[str, Any]]:
        """The embeddings of the contents that went through the model, one per content."""
        out = predicted.output
        vectors = None if out is None else self.predictor.embedding(out)
        if vectors is None:
            return []
        return [{"sha256": sha, "model_id": self.model_id, "vector": database.to_vector(vectors[i]),
                 "dhash": database.to_signed64(predicted.first[sha].dhash)}
                for sha, i in predicted.index.items()]  # fmt: skip

    def _row(self, p: Photo, predicted: Predicted, stamp: Any) -> tuple[dict[str, Any], str, list[str]]:
        """A photo's catalog row, how it was obtained (classified, reused or unreadable), and the paths whose rows
        it replaces."""
        base = {"path": p.path, "sha256": p.sha256, "bytes": p.nbytes, "mtime_ns": p.mtime_ns,
                "model_id": self.model_id, "classified_at": stamp}  # fmt: skip
        if same := predicted.reuse.get(id(p)):
            return database.to_row({**same[0], **base}.items()), "reused", self._moved_from(p.path, same)
        if p.pixels is None or p.sha256 is None or predicted.output is None:
            error = p.error or _("unreadable")
            return database.to_row({**base, "verdict": UNREADABLE, "error": error}.items()), "unreadable", []
        out, i = predicted.output, predicted.index[p.sha256]
        pred = self.predictor.describe(p.path, out.probabilities[i], out.dog_probability[i], 5, out.known(i))
        top = [k["probability"] for k in pred.top_k]
        values = {**base, "width": p.size[0] if p.size else None, "height": p.size[1] if p.size else None,
                  "taken_at": p.taken_at, "breed": pred.breed, "name": pred.name, "probability": pred.probability,
                  "margin": top[0] - (top[1] if len(top) > 1 else 0.0), "dog_probability": pred.dog_probability,
                  "familiarity": pred.familiarity, "top5": json.dumps(pred.top_k), "verdict": pred.verdict}  # fmt: skip
        return database.to_row(values.items()), "classified" if predicted.first[p.sha256] is p else "reused", []

    # -- prune --------------------------------------------------------------------------------------------------

    def prune(self, roots: list[str]) -> int:
        """Delete the rows of photos that are gone from inside the folders classified (a photo deleted, or moved
        away where no walk finds it). Rows outside them are never touched: an unplugged drive is not a deletion.
        Asked a chunk of paths at a time; returns how many rows went."""
        gone = 0
        for root in roots:
            stale = [p for p in database.paths_under(self.engine, root) if not os.path.lexists(p)]
            for chunk in batched(iter(stale), self.path_chunk):
                database.upsert(self.engine, [], delete_paths=chunk)
                gone += len(chunk)
        return gone

    def _moved_from(self, path: str, same: list[dict[str, Any]]) -> list[str]:
        """Paths of rows with this content that are gone from disk: where the photo was before a move or rename.
        Only paths inside the folders being classified count: a photo on an unmounted drive or another machine
        (a shared PostgreSQL catalog) is not gone because this machine cannot see it."""
        return [r["path"] for r in same if r["path"] != path and r["path"].startswith(tuple(self._roots))
                and not os.path.lexists(r["path"])]  # fmt: skip

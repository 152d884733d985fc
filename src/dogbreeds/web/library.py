"""The library as the pages and the API read it: photos filtered and paged, one photo with its review history.

Everything is read through the catalog's own functions (``iter_rows`` and its final answer, the review queue's
order), so a page shows what ``export``, ``sort`` and ``stats`` count. Filtering happens on the streamed rows:
memory stays flat, and a page costs one pass over the catalog (fine for a shelter's tens of thousands of photos;
a far larger catalog would want the filters in SQL).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from dogbreeds.catalog import database
from dogbreeds.catalog.review import queue_keys, row_of
from dogbreeds.catalog.schema import photos, reviews
from dogbreeds.core.breeds import UnknownBreedError, display_name, is_known_breed, resolve_breed, resolve_class
from dogbreeds.core.files import printable

# re-exported: the filter's choices (pages and the API read library.VERDICTS)
from dogbreeds.core.verdicts import VERDICTS as VERDICTS

REVIEW_STATES = ("reviewed", "waiting")  # a volunteer's decision recorded / in the review queue, in its order


@dataclass(frozen=True)
class PhotoFilter:
    """What the library is asked for; every field optional. ``breed`` is a breed id; ``verdict`` a final one."""

    breed: str | None = None
    verdict: str | None = None
    review: str | None = None

    def matches(self, row: dict[str, Any]) -> bool:
        if self.breed and row["final_breed"] != self.breed:
            return False
        if self.verdict and row["final_verdict"] != self.verdict:
            return False
        return not (self.review == "reviewed" and not row.get("review_decision"))


def find_breed(text: str) -> str:
    """The breed id a volunteer's search names: English or French, aliases, accents and case ignored; a name of
    the wider vocabulary (``croisé``, ``dalmatien``) too, since decisions may hold one.

    Raises:
        UnknownBreedError: no breed goes by that name; the message names the closest ones.
    """
    try:
        return resolve_class(text)
    except UnknownBreedError:
        return resolve_breed(text)  # raises, worded for the 120 (no talk of training options)


@dataclass
class Page:
    rows: list[dict[str, Any]]
    number: int  # from 1
    size: int
    total: int  # photos matching the filter

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def _rows(engine: Engine, f: PhotoFilter) -> Iterator[dict[str, Any]]:
    """The candidate rows: the review queue in its order for ``waiting``, else every row by path."""
    if f.review == "waiting":
        for path in queue_keys(engine):
            row = row_of(engine, path)  # no decision yet, by definition of the queue: the model's answer is final
            if row is not None:
                yield database.final_answer(row)
        return
    yield from database.iter_rows(engine, final_verdict=f.verdict)


def browse(engine: Engine, f: PhotoFilter, *, page: int, size: int) -> Page:
    """One page of the photos matching ``f`` and how many match, in one pass over the rows."""
    start, total, kept = (page - 1) * size, 0, []
    for row in _rows(engine, f):
        if f.matches(row):
            if start <= total < start + size:
                kept.append(row)
            total += 1
    return Page(kept, page, size, total)


@dataclass
class PhotoRecord:
    """One content (a photo and its copies): the catalog's rows for it, its review history, its final answer."""

    row: dict[str, Any]  # the first by path, with final_breed / final_verdict
    paths: list[str]
    history: list[dict[str, Any]] = field(default_factory=list)  # oldest first


def photo(engine: Engine, sha256: str) -> PhotoRecord | None:
    """The photo with this content hash, or None when the catalog holds none."""
    with engine.connect() as conn:
        query = select(*database.photo_columns(engine)).where(photos.c.sha256 == sha256).order_by(photos.c.path)
        found = [database.decoded(r) for r in conn.execute(query)]
        history = [r._asdict() for r in conn.execute(select(reviews).where(reviews.c.sha256 == sha256)
                                                     .order_by(reviews.c.reviewed_at, reviews.c.id))]  # fmt: skip
    if not found:
        return None
    row = found[0]
    decisions = [h for h in history if h["decision"] in database.DECISIONS]
    if decisions:  # the latest decision counts, as in iter_rows
        latest = max(decisions, key=lambda h: (h["reviewed_at"] is not None, h["reviewed_at"] or 0, h["id"]))
        row.update(review_decision=latest["decision"], reviewed_breed=latest["breed"], reviewer=latest["reviewer"],
                   reviewed_at=latest["reviewed_at"])  # fmt: skip
    return PhotoRecord(database.final_answer(row), [r["path"] for r in found], history)


def shown_path(path: str, library: Path | None) -> str:
    """A photo's path as the pages and the API show it: relative to ``--library`` when inside it, else its file
    name only (the server's folders are nobody's business)."""
    if library is not None:
        relative = os.path.relpath(path, library)
        if not relative.startswith(os.pardir):
            return printable(relative)
    return printable(os.path.basename(path))


def breed_label(breed: str | None) -> str:
    """A breed id in the visitor's language ("" for none)."""
    if not breed:
        return ""
    return display_name(breed) if is_known_breed(breed) else breed.replace("_", " ")


def summary(row: dict[str, Any], library: Path | None) -> dict[str, Any]:
    """One photo of a listing, as ``/api/photos`` returns it (ids and English keys; names in the visitor's
    language beside them)."""
    return {
        "id": row["sha256"],
        "name": shown_path(row["path"], library),
        "final_breed": row["final_breed"],
        "final_name": breed_label(row["final_breed"]),
        "final_verdict": row["final_verdict"],
        "model_breed": row["breed"],
        "probability": row["probability"],
        "model_verdict": row["verdict"],
        "reviewed": bool(row.get("review_decision")),
    }


def details(record: PhotoRecord, library: Path | None) -> dict[str, Any]:
    """One photo, as ``/api/photos/{id}`` returns it."""
    row = record.row
    stamp = row["classified_at"]
    return {
        **summary(row, library),
        "names": [shown_path(p, library) for p in record.paths],
        "width": row["width"],
        "height": row["height"],
        "taken_at": row["taken_at"],
        "dog_probability": row["dog_probability"],
        "top5": row["top5"],
        "error": row["error"],
        "model_id": row["model_id"],
        "classified_at": stamp.isoformat() if stamp is not None else None,
        "reviews": [
            {
                "decision": h["decision"],
                "breed": h["breed"],
                "model_breed": h["model_breed"],
                "reviewer": h["reviewer"],
                "reviewed_at": h["reviewed_at"].isoformat() if h["reviewed_at"] else None,
            }
            for h in record.history
        ],  # fmt: skip
    }


MORE_LIKE_THIS = 6


@dataclass
class IndexCache:
    """The catalog's embedding index, read once and kept for ``seconds``: reading 100,000 embeddings takes a
    fifth of a second, too much for every photo page, and a photo added meanwhile may wait that long to show."""

    seconds: float = 30.0
    _kept: dict[str, tuple[float, Any]] = field(default_factory=dict)

    def get(self, engine: Engine, model_id: str) -> Any:
        import time

        from dogbreeds.catalog.similar import load_index

        now = time.monotonic()
        kept = self._kept.get(model_id)
        if kept is None or now - kept[0] > self.seconds:
            kept = (now, load_index(engine, model_id))
            self._kept[model_id] = kept
        return kept[1]


def more_like_this(engine: Engine, record: PhotoRecord, cache: IndexCache) -> list[dict[str, Any]]:
    """The catalogued photos nearest to this one by their stored embeddings (none when the catalog keeps none)."""
    from dogbreeds.catalog.similar import neighbours

    sha, model_id = record.row["sha256"], record.row["model_id"]
    if not sha or not model_id:
        return []
    index = cache.get(engine, model_id)
    position = index.position(sha)
    if position is None:
        return []
    query = index.vectors[position].astype("float32")
    found = neighbours(engine, index, query, MORE_LIKE_THIS + 1, exclude_sha256=sha, query_path=record.paths[0],
                       query_dhash=index.dhash_at(position))  # fmt: skip
    return [{"id": n.sha256, "similarity": n.similarity, "breed": n.breed, "verdict": n.verdict}
            for n in found if n.sha256 != sha][:MORE_LIKE_THIS]  # fmt: skip

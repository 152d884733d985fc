"""The catalog: one row per photo path, in a real database through SQLAlchemy (SQLite by default).

Rows are written in batches, each batch one transaction, keyed by the photo's path: a run killed at any moment
leaves only whole batches behind, and the next run fills in the rest, so the catalog ends with exactly one row
per photo. The content hash (sha256) lets a later run skip unchanged photos and recognise moved ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
)

from dogbreeds.core.errors import CatalogError
from dogbreeds.core.i18n import _

DEFAULT_DB = "sqlite:///dogbreeds.db"

metadata = MetaData()
photos = Table(
    "photos",
    metadata,
    Column("path", Text, primary_key=True),
    Column("sha256", String(64), index=True),
    Column("bytes", BigInteger),  # 64-bit: PostgreSQL's INTEGER stops at 2 GB and at 2038 in nanoseconds
    Column("mtime_ns", BigInteger),
    Column("width", Integer),
    Column("height", Integer),
    Column("taken_at", String(32)),
    Column("breed", String(80)),
    Column("name", String(80)),
    Column("probability", Float),
    Column("dog_probability", Float),
    Column("top5", Text),  # JSON list of {breed, name, probability}
    Column("verdict", String(16), index=True),
    Column("error", Text),
    Column("model_id", String(80), index=True),
    Column("classified_at", DateTime(timezone=True)),
)
COLUMNS = [c.name for c in photos.columns]

# A volunteer's decision about a photo, kept by content hash so it survives moves and renames.
reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), index=True, nullable=False),
    Column("path", Text),  # where the photo was when reviewed
    Column("decision", String(16), nullable=False),  # confirmed | corrected | not_a_dog | skipped
    Column("breed", String(80)),  # the breed the volunteer settled on (None for not_a_dog / skipped)
    Column("model_breed", String(80)),  # what the model had said
    Column("reviewer", String(80)),
    Column("reviewed_at", DateTime(timezone=True)),
)


def database_url(url_or_path: str | None) -> str:
    """``None`` -> ``dogbreeds.db`` here; a plain file path -> a SQLite URL; a URL as is."""
    if url_or_path is None:
        return DEFAULT_DB
    return url_or_path if "://" in url_or_path else f"sqlite:///{Path(url_or_path).resolve()}"


def open_catalog(url: str | None = None) -> Engine:
    """Connect and create the table when missing. SQLite runs in WAL mode so readers never block the writer."""
    engine = create_engine(database_url(url))
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    metadata.create_all(engine)
    return engine


def rows_by_path(engine: Engine, paths: list[str]) -> dict[str, dict[str, Any]]:
    """What the catalog holds for these paths (asked a chunk at a time, so memory never grows with the catalog)."""
    query = select(
        photos.c.path, photos.c.sha256, photos.c.bytes, photos.c.mtime_ns, photos.c.model_id, photos.c.verdict
    ).where(photos.c.path.in_(paths))
    with engine.connect() as conn:
        return {row.path: row._asdict() for row in conn.execute(query)}


def known_contents(engine: Engine, hashes: list[str], model_id: str) -> set[str]:
    """Which of these content hashes have a classified row (not an unreadable one) for this model."""
    query = (
        select(photos.c.sha256)
        .distinct()
        .where(photos.c.sha256.in_(hashes), photos.c.model_id == model_id, photos.c.verdict != "unreadable")
    )
    with engine.connect() as conn:
        return set(conn.scalars(query))


def rows_by_hash(
    engine: Engine, hashes: list[str], model_id: str, *, per_hash: int = 16
) -> dict[str, list[dict[str, Any]]]:
    """Classified rows (unreadable ones excluded) with these contents and this model, by content hash, at most
    ``per_hash`` each (the first by path): a photo copied a thousand times must not cost a thousand rows a batch."""
    ranked = (
        select(photos, func.row_number().over(partition_by=photos.c.sha256, order_by=photos.c.path).label("rank"))
        .where(photos.c.sha256.in_(hashes), photos.c.model_id == model_id, photos.c.verdict != "unreadable")
        .subquery()
    )
    query = select(*(ranked.c[name] for name in COLUMNS)).where(ranked.c.rank <= per_hash).order_by(ranked.c.path)
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            found.setdefault(row.sha256, []).append(row._asdict())
    return found


def upsert(engine: Engine, rows: list[dict[str, Any]], *, delete_paths: list[str] | None = None) -> None:
    """Insert or replace rows by path, and delete the rows of ``delete_paths``, all in one transaction."""
    if not rows and not delete_paths:
        return
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    else:
        raise CatalogError(_("unsupported database {name!r}: use SQLite or PostgreSQL", name=engine.dialect.name))
    stmt = insert(photos)
    stmt = stmt.on_conflict_do_update(
        index_elements=["path"], set_={c: stmt.excluded[c] for c in COLUMNS if c != "path"}
    )
    with engine.begin() as conn:
        if rows:
            conn.execute(stmt, rows)
        if delete_paths:
            conn.execute(photos.delete().where(photos.c.path.in_(delete_paths)))


def iter_rows(engine: Engine, *, verdict: str | None = None) -> Iterator[dict[str, Any]]:
    query = select(photos).order_by(photos.c.path)
    if verdict:
        query = query.where(photos.c.verdict == verdict)
    with engine.connect() as conn:
        rows = [decoded(row) for row in conn.execute(query)]
    yield from rows


def decoded(row: Any) -> dict[str, Any]:
    """A result row as a dict, with ``top5`` parsed from its JSON."""
    r = row._asdict()
    r["top5"] = json.loads(r["top5"]) if r["top5"] else []
    return r


def now() -> datetime:
    return datetime.now(timezone.utc)


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(photos)).scalar_one())


def to_row(values: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    row = dict.fromkeys(COLUMNS)
    row.update(values)
    return row

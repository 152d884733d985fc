"""The catalog: one row per photo path, in a real database through SQLAlchemy (SQLite by default, or PostgreSQL).

Rows are written in batches, each batch one transaction, keyed by the photo's path: a run killed at any moment
leaves only whole batches behind, and the next run fills in the rest, so the catalog ends with exactly one row
per photo. The content hash (sha256) lets a later run skip unchanged photos and recognise moved ones.

Opening is careful, because the file named by ``--db`` may be anything: a catalog from an older release is
upgraded in place (:mod:`dogbreeds.catalog.schema`), one from a newer release is refused, a file that is not a
dogbreeds catalog is refused without being touched (no WAL switch, no new table), and read-only commands open
the database read-only and never create one. Every database error becomes one :class:`CatalogError` line that
names the cause and the catalog, never the SQL or its values.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, and_, bindparam, create_engine, event, func, inspect, literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from dogbreeds.catalog.schema import (
    COLUMNS,
    SCHEMA_VERSION,
    embeddings,
    folders,
    found_version,
    models,
    photos,
    reviews,
    upgrade,
)
from dogbreeds.core.card import Verdicts
from dogbreeds.core.errors import CatalogError, MissingExtraError
from dogbreeds.core.i18n import _
from dogbreeds.core.verdicts import judge

DEFAULT_DB = "dogbreeds.db"
READABLE_FROM = 1  # read-only commands read catalogs of this schema and later without upgrading them (2 only added
# the embeddings table, which `similar` does without; 4 added photos.familiarity, read as NULL where it is missing:
# see photo_columns)
DECISIONS = ("confirmed", "corrected", "not_a_dog")  # what counts as a volunteer's answer ("later" does not)
READ_CHUNK = 1000  # rows read at a time by iter_rows

__all__ = ["COLUMNS", "photos", "reviews"]


@functools.lru_cache(maxsize=64)
def photo_columns(engine: Engine) -> tuple[Any, ...]:
    """The ``photos`` columns to select from ``engine``'s catalog: a read-only command leaves an older catalog as
    it is, so a column a later schema added (``familiarity``) is read as NULL where the table lacks it."""
    present = {c["name"] for c in inspect(engine).get_columns("photos")}
    return tuple(c if c.name in present else literal(None).label(c.name) for c in photos.c)


def database_url(url_or_path: str | os.PathLike[str] | None) -> str:
    """``None`` -> ``dogbreeds.db`` here; a plain file path -> a SQLite URL; a URL as is."""
    value = os.fspath(url_or_path) if url_or_path is not None else DEFAULT_DB
    return value if "://" in value else f"sqlite:///{Path(value).resolve()}"


def describe(url: str) -> str:
    """The catalog as the user knows it: a SQLite file's path, else the URL with its password hidden."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or _("(in memory)")
    return parsed.render_as_string(hide_password=True)


def _timeout() -> float:
    """Seconds a writer waits for another one's lock before giving up (``$DOGBREEDS_DB_TIMEOUT``, default 30)."""
    try:
        return float(os.environ.get("DOGBREEDS_DB_TIMEOUT", "30"))
    except ValueError:
        return 30.0


_CAUSES = (
    ("database is locked", lambda: _("the catalog is locked by another program (another dogbreeds run?)")),
    ("disk is full", lambda: _("disk full")),
    ("disk i/o error", lambda: _("disk error")),
    ("readonly database", lambda: _("the catalog is read-only")),
    ("read-only", lambda: _("the catalog is read-only")),
    ("unable to open database", lambda: _("cannot open the catalog file (no such folder, or no permission)")),
    ("file is not a database", lambda: _("not a SQLite database (a corrupt catalog, or another kind of file)")),
    ("malformed", lambda: _("the catalog file is corrupt")),
    ("connection refused", lambda: _("cannot reach the database server")),
    ("could not translate host name", lambda: _("cannot reach the database server (unknown host)")),
    ("connection failed", lambda: _("cannot reach the database server")),
    ("password authentication failed", lambda: _("the database server refused the login")),
    ("does not exist", lambda: _("the database does not exist on the server")),
)


def explain(err: BaseException, url: str) -> CatalogError:
    """One line for a database error: its cause in words and the catalog; never the SQL nor its values."""
    original = getattr(err, "orig", None) or err
    first = (str(original).strip().splitlines() or [type(original).__name__])[0]
    low = first.lower()
    cause = next((words() for key, words in _CAUSES if key in low), None)
    if cause is None:
        cause = _("database error: {message}", message=first[:200])
    return CatalogError(f"{cause}: {describe(url)}")


def _sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (None: another database, or SQLite in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    return None if not database or database == ":memory:" or database.startswith("file:") else database


def _connect_sqlite(path: str, *, readonly: bool) -> sqlite3.Connection:
    """A DB-API connection to a catalog file. On read-only media a WAL catalog cannot be read the normal way (its
    ``-shm`` file cannot be created), so there it is opened ``immutable``: safe, since nothing can write it."""
    uri = "file:" + urllib.parse.quote(os.path.abspath(path))
    options: dict[str, Any] = {"uri": True, "check_same_thread": False, "isolation_level": None}
    conn = sqlite3.connect(f"{uri}?mode={'ro' if readonly else 'rw'}", timeout=_timeout(), **options)
    if not readonly:
        return conn
    try:
        conn.execute("PRAGMA schema_version").fetchone()  # opens the file for real
        return conn
    except sqlite3.OperationalError:
        if os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
            raise
        conn.close()
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", **options)


def _inspect_file(path: str, url: str) -> int | None:
    """The schema version of an existing SQLite file, read through a read-only connection that changes nothing."""
    if os.path.getsize(path) == 0:
        return None
    try:
        conn = _connect_sqlite(path, readonly=True)
    except sqlite3.Error as err:
        raise explain(err, url) from None
    try:
        engine = create_engine("sqlite://", creator=lambda: conn)
        with engine.connect() as c:
            return _version(c, url)
    except SQLAlchemyError as err:
        raise explain(err, url) from None
    finally:
        conn.close()


def _version(conn: Connection, url: str) -> int | None:
    try:
        version = found_version(conn, alone=conn.dialect.name == "sqlite")
    except ValueError as why:
        raise CatalogError(_("not a dogbreeds catalog ({why}); nothing was changed: {db}", why=why,
                             db=describe(url))) from None  # fmt: skip
    if version is not None and version > SCHEMA_VERSION:
        raise CatalogError(_("this catalog was written by a newer dogbreeds (schema {found}; this one reads up to "
                             "{ours}): upgrade dogbreeds to open it: {db}", found=version, ours=SCHEMA_VERSION,
                             db=describe(url)))  # fmt: skip
    return version


def _engine(url: str, path: str | None, *, readonly: bool) -> Engine:
    kwargs: dict[str, Any] = {}
    if path is not None:
        kwargs["creator"] = lambda: _connect_sqlite(path, readonly=readonly)
    elif make_url(url).get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "isolation_level": None}
    try:
        engine = create_engine(url, **kwargs)
    except NoSuchModuleError:
        raise CatalogError(
            _("unsupported database {url}: use a SQLite file or postgresql://", url=describe(url))
        ) from None
    except ModuleNotFoundError as err:
        raise MissingExtraError(_("this database needs {package}: pip install 'dogbreeds[postgres]'",
                                  package=err.name)) from None  # fmt: skip
    except ArgumentError as err:
        raise CatalogError(_("not a database URL ({why}): {url}", why=err, url=url)) from None
    if engine.dialect.name not in ("sqlite", "postgresql"):
        raise CatalogError(_("unsupported database {name!r}: use SQLite or PostgreSQL", name=engine.dialect.name))

    @event.listens_for(engine, "handle_error")
    def _one_line(context: Any) -> None:
        raise explain(context.original_exception, url) from None

    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            if not readonly and path is not None:
                dbapi_conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
                dbapi_conn.execute("PRAGMA synchronous=NORMAL")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # the driver runs in autocommit; transactions are ours, and a writer takes its lock up front
            # (BEGIN IMMEDIATE) so that it waits for another writer instead of failing half-way
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("writes") else "BEGIN")
    elif readonly:

        @event.listens_for(engine, "connect")
        def _read_only(dbapi_conn: Any, _record: Any) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            dbapi_conn.commit()

    return engine


def open_catalog(url: str | os.PathLike[str] | None = None, *, readonly: bool = False) -> Engine:
    """Open a catalog: created when missing (unless ``readonly``), upgraded when older, refused when foreign.

    Args:
        url: a SQLite file, an SQLAlchemy URL, or None for ``dogbreeds.db`` here.
        readonly: for commands that only read (export, sort, review --list...): the database must exist and is
            opened read-only (an older one is upgraded first, which needs write access once).

    Raises:
        CatalogError: the catalog cannot be opened as asked; the message names the cause and the catalog.
    """
    url = database_url(url)
    try:
        backend = make_url(url).get_backend_name()
        path = _sqlite_path(url)
    except ArgumentError as err:
        raise CatalogError(_("not a database URL ({why}): {url}", why=err, url=url)) from None
    if backend not in ("sqlite", "postgresql"):
        raise CatalogError(_("unsupported database {name!r}: use a SQLite file or postgresql://", name=backend))
    version: int | None = None
    if path is not None:
        if os.path.isdir(path):
            raise CatalogError(_("{path} is a folder, not a catalog file", path=path))
        if not os.path.exists(path):
            if readonly:
                raise CatalogError(_("no catalog at {path} (run dogbreeds classify first, or check --db)", path=path))
            if not os.path.isdir(os.path.dirname(path) or "."):
                raise CatalogError(_("the folder of {path} does not exist", path=path))
        else:
            version = _inspect_file(path, url)
            folder = os.path.dirname(os.path.abspath(path))
            if not readonly and not (os.access(path, os.W_OK) and os.access(folder, os.W_OK)):
                raise CatalogError(_("the catalog is read-only (read-only media, or no write permission); export "
                                     "and sort can still read it: {path}", path=path))  # fmt: skip
        if not os.path.exists(path):
            try:
                with open(path, "xb"):  # created empty: the engine then opens it read-write, never "rwc"
                    pass
            except FileExistsError:
                pass
            except OSError as err:
                raise explain(err, url) from None
    engine = _engine(url, path, readonly=readonly)
    if path is None:
        with engine.connect() as conn:
            version = _version(conn, url)
    if version == SCHEMA_VERSION:
        return engine
    if readonly:
        if version is None:
            raise CatalogError(_("not a dogbreeds catalog (no tables): {db}", db=describe(url)))
        if version >= READABLE_FROM:  # what reading needs is there: a read-only command leaves the file as it is
            return engine
        try:
            open_catalog(url).dispose()  # the upgrade, once, through a writable connection
        except CatalogError as err:
            raise CatalogError(_("this catalog comes from an older dogbreeds and must be upgraded once, which "
                                 "needs write access ({why})", why=err)) from None  # fmt: skip
        return engine
    with writing(engine) as conn:
        upgrade(conn, _version(conn, url))  # asked again inside the lock: another process may have done it
    return engine


def writing(engine: Engine) -> Any:
    """A write transaction (on SQLite one that takes the write lock first, waiting for another writer)."""
    return engine.execution_options(writes=True).begin()


def rows_by_path(engine: Engine, paths: list[str]) -> dict[str, dict[str, Any]]:
    """What the catalog holds for these paths (asked a chunk at a time, so memory never grows with the catalog)."""
    query = select(
        photos.c.path, photos.c.sha256, photos.c.bytes, photos.c.mtime_ns, photos.c.model_id, photos.c.verdict
    ).where(photos.c.path.in_(paths))
    with engine.connect() as conn:
        return {row.path: row._asdict() for row in conn.execute(query)}


def known_contents(
    engine: Engine, hashes: list[str], model_id: str, *, with_embedding: bool = False, dims: int | None = None
) -> set[str]:
    """Which of these content hashes have a classified row (not an unreadable one) for this model (and, with
    ``with_embedding``, its embedding too, of ``dims`` dimensions when given)."""
    query = (
        select(photos.c.sha256)
        .distinct()
        .where(photos.c.sha256.in_(hashes), photos.c.model_id == model_id, photos.c.verdict != "unreadable")
    )
    if with_embedding:
        query = query.where(photos.c.sha256.in_(embedded_query(model_id, dims)))
    with engine.connect() as conn:
        return set(conn.scalars(query))


def embedded_query(model_id: str, dims: int | None = None) -> Any:
    """The contents embedded under this model; with ``dims``, only embeddings of that many dimensions (one int8 byte
    each): a model that gained a retrieval projection embeds in fewer dimensions than the raw features its older
    rows stored, and those contents must be embedded again."""
    query = select(embeddings.c.sha256).where(embeddings.c.model_id == model_id)
    return query if dims is None else query.where(func.length(embeddings.c.vector) == dims)


def embedded(engine: Engine, hashes: list[str], model_id: str, dims: int | None = None) -> set[str]:
    """Which of these contents have an embedding under this model (of ``dims`` dimensions, when given)."""
    if not hashes:
        return set()
    with engine.connect() as conn:
        return set(conn.scalars(embedded_query(model_id, dims).where(embeddings.c.sha256.in_(hashes))))


def to_signed64(value: int | None) -> int | None:
    """A 64-bit hash as the signed number a BIGINT column holds (and back with ``& (2**64 - 1)``)."""
    if value is None:
        return None
    return value - (1 << 64) if value >= 1 << 63 else value


def to_vector(features: np.ndarray) -> bytes:
    """An embedding as stored: int8, scaled so its largest component is 127 (cosine similarity ignores the scale).
    A quarter of float32's bytes and half of float16's, and NumPy widens int8 three times faster than float16:
    reading and searching 100,000 of them is what a ``similar`` query costs (docs/results.md)."""
    peak = float(np.max(np.abs(features))) if len(features) else 0.0
    return np.round(features * (127.0 / peak if peak > 0 else 0.0)).astype(np.int8).tobytes()


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


def _insert(engine: Engine) -> Any:
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    return insert


def upsert(
    engine: Engine,
    rows: list[dict[str, Any]],
    *,
    delete_paths: list[str] | None = None,
    vectors: list[dict[str, Any]] | None = None,
) -> None:
    """Insert or replace rows by path, delete the rows of ``delete_paths``, and insert or replace the contents'
    ``vectors`` (``sha256``, ``model_id``, ``vector``), all in one transaction: a row never lands without its
    embedding, whenever the run is killed."""
    if not rows and not delete_paths:
        return
    insert = _insert(engine)
    stmt = insert(photos)
    stmt = stmt.on_conflict_do_update(
        index_elements=["path"], set_={c: stmt.excluded[c] for c in COLUMNS if c != "path"}
    )
    with writing(engine) as conn:
        if rows:
            conn.execute(stmt, rows)
        if vectors:
            vstmt = insert(embeddings)
            vstmt = vstmt.on_conflict_do_update(
                index_elements=["sha256", "model_id"],
                set_={"vector": vstmt.excluded.vector, "dhash": vstmt.excluded.dhash},
            )
            conn.execute(vstmt, vectors)
        if delete_paths:
            conn.execute(photos.delete().where(photos.c.path.in_(delete_paths)))


def checkpoint(engine: Engine) -> None:
    """Fold a SQLite catalog's write-ahead log back into the file after a run: a log left behind (hundreds of MB
    after a big run) would be read by every later command that opens the catalog, read-only ones included."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except SQLAlchemyError:  # another process is reading or writing: it, or the next run, will fold the log
        pass


def prune_embeddings(engine: Engine) -> int:
    """Delete the embeddings no row uses any more (every photo of that content deleted, or classified with another
    model since); returns how many went."""
    used = select(photos.c.sha256).where(
        photos.c.sha256 == embeddings.c.sha256, photos.c.model_id == embeddings.c.model_id
    )
    with writing(engine) as conn:
        return int(conn.execute(embeddings.delete().where(~used.exists())).rowcount or 0)


def paths_under(engine: Engine, root: str) -> Iterator[str]:
    """The paths of the rows inside the folder ``root``, a chunk at a time (flat memory)."""
    prefix = os.path.join(root, "")
    last = prefix
    while True:
        query = select(photos.c.path).where(photos.c.path > last, photos.c.path.startswith(prefix, autoescape=True))
        with engine.connect() as conn:
            chunk = list(conn.scalars(query.order_by(photos.c.path).limit(READ_CHUNK)))
        if not chunk:
            return
        last = chunk[-1]
        yield from chunk


def record_folders(engine: Engine, paths: list[str]) -> None:
    """Remember the (real) folders classify was given, for ``sort`` to keep out of them."""
    if not paths:
        return
    stmt = _insert(engine)(folders)
    stmt = stmt.on_conflict_do_update(index_elements=["path"], set_={"classified_at": stmt.excluded.classified_at})
    with writing(engine) as conn:
        conn.execute(stmt, [{"path": p, "classified_at": now()} for p in paths])


def classified_folders(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(folders.c.path).order_by(folders.c.path)))


def model_verdicts(engine: Engine, model_id: str) -> dict[str, Any] | None:
    """The thresholds this model's rows were last judged by (None: no row of it yet)."""
    with engine.connect() as conn:
        value = conn.scalar(select(models.c.verdicts).where(models.c.model_id == model_id))
    return json.loads(value) if value else None


def set_model_verdicts(conn: Connection, model_id: str, verdicts: dict[str, Any]) -> None:
    stmt = _insert(conn.engine)(models).values(model_id=model_id, verdicts=json.dumps(verdicts, sort_keys=True),
                                               updated_at=now())  # fmt: skip
    update = {"verdicts": stmt.excluded.verdicts, "updated_at": now()}
    conn.execute(stmt.on_conflict_do_update(index_elements=["model_id"], set_=update))


def rejudge(engine: Engine, model_id: str, verdicts: Verdicts) -> int:
    """Judge every row of ``model_id`` again from its stored numbers when ``verdicts`` differ from the thresholds
    they were judged by, in one transaction; returns how many verdicts changed. The model is not run."""
    current = asdict(verdicts)
    with writing(engine) as conn:
        stored = conn.scalar(select(models.c.verdicts).where(models.c.model_id == model_id))
        if stored is not None and json.loads(stored) == current:
            return 0
        changed, last = 0, ""
        numbers = (photos.c.path, photos.c.probability, photos.c.margin, photos.c.dog_probability,
                   photos.c.familiarity, photos.c.verdict)  # fmt: skip
        query = select(*numbers).where(photos.c.model_id == model_id, photos.c.verdict != "unreadable")
        update = photos.update().where(photos.c.path == bindparam("b_path")).values(verdict=bindparam("b_verdict"))
        while chunk := conn.execute(query.where(photos.c.path > last).order_by(photos.c.path).limit(2000)).all():
            last = chunk[-1].path
            updates = []
            for r in chunk:
                if r.probability is None:
                    continue
                margin = r.margin if r.margin is not None else 1.0
                new = judge(r.probability, margin, r.dog_probability, verdicts, r.familiarity)
                if new != r.verdict:
                    updates.append({"b_path": r.path, "b_verdict": new})
            if updates:
                conn.execute(update, updates)
            changed += len(updates)
        set_model_verdicts(conn, model_id, current)
    return changed


def _latest_reviews() -> Any:
    """Each content's latest decision (decisions only: "later" is not one), as a subquery."""
    ranked = func.row_number().over(partition_by=reviews.c.sha256, order_by=(reviews.c.reviewed_at.desc(),
                                                                             reviews.c.id.desc()))  # fmt: skip
    return (
        select(
            reviews.c.sha256,
            reviews.c.decision,
            reviews.c.breed,
            reviews.c.reviewer,
            reviews.c.reviewed_at,
            ranked.label("rank"),
        )  # fmt: skip
        .where(reviews.c.decision.in_(DECISIONS))
        .subquery()
    )


def iter_rows(
    engine: Engine,
    *,
    verdict: str | None = None,
    final_verdict: str | None = None,
    hashes: list[str] | None = None,
    model_id: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Every row, by path, with the volunteers' latest decision and the final answer (see :func:`final_answer`);
    read a chunk at a time by path, so memory stays flat and no transaction stays open while the caller works."""
    latest = _latest_reviews()
    query = select(
        *photo_columns(engine),
        latest.c.decision.label("review_decision"),
        latest.c.breed.label("reviewed_breed"),
        latest.c.reviewer,
        latest.c.reviewed_at,
    ).outerjoin(latest, and_(latest.c.sha256 == photos.c.sha256, latest.c.rank == 1))
    if verdict:
        query = query.where(photos.c.verdict == verdict)
    if hashes is not None:
        query = query.where(photos.c.sha256.in_(hashes))
    if model_id is not None:
        query = query.where(photos.c.model_id == model_id)
    last: str | None = None
    while True:
        page = query if last is None else query.where(photos.c.path > last)
        with engine.connect() as conn:
            chunk = [final_answer(decoded(row)) for row in conn.execute(page.order_by(photos.c.path).limit(READ_CHUNK))]
        if not chunk:
            return
        last = chunk[-1]["path"]
        yield from (r for r in chunk if final_verdict is None or r["final_verdict"] == final_verdict)


def final_answer(row: dict[str, Any]) -> dict[str, Any]:
    """Add ``final_breed`` / ``final_verdict``: the latest volunteer's decision when there is one, else the model's
    (whose breed counts only with a ``dog`` verdict)."""
    decision = row.get("review_decision")
    if decision == "not_a_dog":
        row["final_breed"], row["final_verdict"] = None, "not_a_dog"
    elif decision in ("confirmed", "corrected"):
        row["final_breed"], row["final_verdict"] = row["reviewed_breed"], "dog"
    else:
        row["final_breed"] = row["breed"] if row["verdict"] == "dog" else None
        row["final_verdict"] = row["verdict"]
    return row


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

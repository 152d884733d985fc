"""The catalog's tables, its schema version, and the steps that upgrade an older catalog in place.

Version 0 is the catalog of the releases before versioning (``photos`` and ``reviews`` only). Each step is a
function run inside one transaction, so a catalog is either upgraded whole or left as it was; a catalog whose
version is newer than :data:`SCHEMA_VERSION` is refused, never touched, by an older release.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
)

SCHEMA_VERSION = 4

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
    Column("probability", Float),  # the top breed's calibrated probability
    Column("dog_probability", Float),  # the ImageNet head's mass on dog classes (NULL: a model without one)
    Column("top5", Text),  # JSON list of {breed, name, probability}
    Column("verdict", String(16), index=True),  # derived from the numbers and the model's thresholds (models)
    Column("error", Text),
    Column("model_id", String(80), index=True),
    Column("classified_at", DateTime(timezone=True)),
    Column("margin", Float),  # top-1 minus top-2 probability (schema 1)
    Column("familiarity", Float),  # how much it looks like a breed the model knows (schema 4; NULL: cannot tell)
)
COLUMNS = [c.name for c in photos.columns]
V0_PHOTO_COLUMNS = set(COLUMNS) - {"margin", "familiarity"}  # the columns later schemas added

# A volunteer's decision about a photo, kept by content hash so it survives moves and renames.
reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), index=True, nullable=False),
    Column("path", Text),  # where the photo was when reviewed
    Column("decision", String(16), nullable=False),  # confirmed | corrected | not_a_dog (skipped: before schema 1)
    Column("breed", String(80)),  # the breed the volunteer settled on (None for not_a_dog)
    Column("model_breed", String(80)),  # what the model had said
    Column("reviewer", String(80)),
    Column("reviewed_at", DateTime(timezone=True)),
)
REVIEW_COLUMNS = {c.name for c in reviews.columns}

meta = Table("meta", metadata, Column("key", String(40), primary_key=True), Column("value", Text))

# The folders given to classify (their real paths): sort refuses to write inside them, and a photo gone from
# inside one of them was moved or deleted, not merely unreachable.
folders = Table(
    "folders",
    metadata,
    Column("path", Text, primary_key=True),
    Column("classified_at", DateTime(timezone=True)),
)

# The verdict thresholds each model's rows were last judged by: a change re-judges every row of that model.
models = Table(
    "models",
    metadata,
    Column("model_id", String(80), primary_key=True),
    Column("verdicts", Text),  # JSON of dogbreeds.core.card.Verdicts
    Column("updated_at", DateTime(timezone=True)),
)

# Each content's embedding under a model (schema 2): what `dogbreeds similar` searches. Keyed by content, like
# reviews, so a copy or a moved photo shares its original's; int8 scaled to its largest component (1.25 KB for
# 1,280 numbers; see database.to_vector).
embeddings = Table(
    "embeddings",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("model_id", String(80), primary_key=True),
    Column("vector", LargeBinary, nullable=False),
    # the photo's 64-bit difference hash (schema 3; as a signed 64-bit number): near-duplicates (re-encoded,
    # resized, slightly cropped, greyscale copies) are found by it, since the embedding keeps the breed more than
    # the photo. NULL for contents embedded before it.
    Column("dhash", BigInteger),
)

# The volunteers who may change the catalog through the web app (schema 3): `dogbreeds users add NAME`. Only an
# Argon2 hash of each password is kept (catalog/users.py).
users = Table(
    "users",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),  # volunteer | admin
    Column("created_at", DateTime(timezone=True)),
)

OURS = {"photos", "reviews", "meta", "folders", "models", "embeddings", "users"}


def found_version(conn: Connection, *, alone: bool = True) -> int | None:
    """The schema version of the database behind ``conn``: None when it holds none of our tables (a new catalog).

    ``alone``: the catalog should be the database's only content (a SQLite file): other tables without ours
    mean a foreign file. A PostgreSQL database may be shared with other programs' tables.

    Raises:
        ValueError: the database is not a dogbreeds catalog; the message says why (for the caller to wrap).
    """
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    if not tables & {"photos", "meta"}:
        if alone and tables:
            raise ValueError(f"tables {', '.join(sorted(tables)[:5])}")
        return None
    if "photos" in tables:
        columns = {c["name"] for c in inspector.get_columns("photos")}
        if not V0_PHOTO_COLUMNS <= columns:
            raise ValueError("a photos table with other columns")
    if "reviews" in tables and not REVIEW_COLUMNS <= {c["name"] for c in inspector.get_columns("reviews")}:
        raise ValueError("a reviews table with other columns")
    if "meta" not in tables:
        return 0
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    if value is None or not str(value).isdigit():
        raise ValueError("a meta table without a schema version")
    return int(value)


def _set_version(conn: Connection, version: int) -> None:
    conn.execute(meta.delete().where(meta.c.key == "schema_version"))
    conn.execute(meta.insert().values(key="schema_version", value=str(version)))


def _v0_to_v1(conn: Connection) -> None:
    """Schema 1: the top-2 margin stored beside the probability (so verdicts are re-judged without the model),
    and the meta, folders and models tables."""
    conn.execute(text("ALTER TABLE photos ADD COLUMN margin FLOAT"))
    metadata.create_all(conn, tables=[meta, folders, models])
    last = ""
    while True:  # a chunk of rows at a time, by path: memory stays flat in the size of the catalog
        chunk = conn.execute(
            select(photos.c.path, photos.c.top5).where(photos.c.path > last).order_by(photos.c.path).limit(2000)
        ).all()
        if not chunk:
            break
        last = chunk[-1].path
        updates = []
        for path, top5 in chunk:
            try:
                probabilities = [float(k["probability"]) for k in json.loads(top5 or "[]")]
            except (ValueError, TypeError, KeyError):
                continue
            if probabilities:
                updates.append({"p": path, "m": probabilities[0] - (probabilities[1] if len(probabilities) > 1 else 0)})
        if updates:
            conn.execute(text("UPDATE photos SET margin = :m WHERE path = :p"), updates)


def _v1_to_v2(conn: Connection) -> None:
    """Schema 2: the embeddings table. Rows classified before it have none: the next ``classify`` runs the model
    again on those photos only, and writes the same rows with their embeddings."""
    metadata.create_all(conn, tables=[embeddings])


def _v2_to_v3(conn: Connection) -> None:
    """Schema 3: the users table (the web app's volunteers; a catalog has none until one is added), and each
    embedding's photo hash (NULL for those from before: similar then does without it for them)."""
    metadata.create_all(conn, tables=[users])
    if "dhash" not in {c["name"] for c in inspect(conn).get_columns("embeddings")}:  # a schema-1 catalog's step
        conn.execute(text("ALTER TABLE embeddings ADD COLUMN dhash BIGINT"))  # to 2 made the table as it is now


def _v3_to_v4(conn: Connection) -> None:
    """Schema 4: each photo's familiarity, behind the ``other_breed`` verdict (NULL for rows from before: they
    keep their verdicts until the photo is classified again by a model that has the score)."""
    if "familiarity" not in {c["name"] for c in inspect(conn).get_columns("photos")}:
        conn.execute(text("ALTER TABLE photos ADD COLUMN familiarity FLOAT"))


UPGRADES: dict[int, Callable[[Connection], None]] = {
    0: _v0_to_v1,
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
}  # from version N to N + 1


def upgrade(conn: Connection, version: int | None) -> None:
    """Bring the catalog behind ``conn`` (inside a transaction) from ``version`` to :data:`SCHEMA_VERSION`."""
    if version is None:
        metadata.create_all(conn)
    else:
        while version < SCHEMA_VERSION:
            UPGRADES[version](conn)
            version += 1
    _set_version(conn, SCHEMA_VERSION)

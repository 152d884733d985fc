"""The volunteers who may change the catalog from the web app: names, roles and Argon2 password hashes.

They live in the catalog (schema 3, table ``users``), so every server and command that shares a catalog shares its
volunteers, PostgreSQL included. Only the hash is stored (argon2-cffi's defaults, the RFC 9106 low-memory
profile); a hash made with older parameters is replaced at the next good login. Checking a name that does not
exist costs one hash too, so the answer time does not tell which names exist.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Engine, inspect, select

from dogbreeds.catalog import database
from dogbreeds.catalog.schema import users
from dogbreeds.core.errors import MissingExtraError, UsageError
from dogbreeds.core.i18n import _

ROLES = ("volunteer", "admin")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # Argon2 takes any length; a megabyte "password" is only a way to make the server work


@dataclass(frozen=True)
class User:
    name: str
    role: str
    stamp: str = ""  # a digest of the stored hash: a new password, or the volunteer's removal, changes it

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@cache
def _hasher() -> Any:
    try:
        from argon2 import PasswordHasher
    except ImportError:
        raise MissingExtraError(_("volunteers' passwords need argon2-cffi: pip install 'dogbreeds[web]'")) from None
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return str(_hasher().hash("not a password anybody has"))


def clean_name(name: str) -> str:
    """A volunteer's name as stored: NFC, trimmed; printable, 1 to 80 characters.

    Raises:
        UsageError: the name is empty, too long or holds control characters.
    """
    name = unicodedata.normalize("NFC", name).strip()
    if not name or len(name) > 80 or not name.isprintable():
        raise UsageError(_("a volunteer's name is 1 to 80 printable characters"))
    return name


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UsageError(_("a password needs at least {n} characters", n=MIN_PASSWORD))


def has_users_table(engine: Engine) -> bool:
    with engine.connect() as conn:
        return "users" in inspect(conn).get_table_names()


def add_user(engine: Engine, name: str, password: str, *, role: str = "volunteer", replace: bool = False) -> User:
    """Add a volunteer (or, with ``replace``, set a known one's password and role).

    Raises:
        UsageError: a bad name or password, an unknown role, or the name is taken (without ``replace``).
    """
    name = clean_name(name)
    check_password(password)
    if role not in ROLES:
        raise UsageError(_("a role is one of {roles}", roles=", ".join(ROLES)))
    digest = _hasher().hash(password)
    with database.writing(engine) as conn:
        known = conn.execute(select(users.c.name).where(users.c.name == name)).first()
        if known and not replace:
            raise UsageError(_("{name} is already a volunteer here (--reset sets a new password)", name=name))
        if known:
            conn.execute(users.update().where(users.c.name == name).values(password_hash=digest, role=role))
        else:
            conn.execute(users.insert().values(name=name, password_hash=digest, role=role,
                                               created_at=database.now()))  # fmt: skip
    return User(name, role)


def stamp_of(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def current_stamp(engine: Engine, name: str) -> str | None:
    """The stamp of the volunteer's stored hash now (None when they are no longer a volunteer): a session made
    before a password reset or a removal no longer matches."""
    if not has_users_table(engine):
        return None
    with engine.connect() as conn:
        digest = conn.scalar(select(users.c.password_hash).where(users.c.name == name))
    return stamp_of(digest) if digest else None


def remove_user(engine: Engine, name: str) -> bool:
    with database.writing(engine) as conn:
        return bool(conn.execute(users.delete().where(users.c.name == clean_name(name))).rowcount)


def list_users(engine: Engine) -> list[User]:
    if not has_users_table(engine):
        return []
    with engine.connect() as conn:
        return [User(n, r) for n, r in conn.execute(select(users.c.name, users.c.role).order_by(users.c.name))]


def authenticate(engine: Engine, name: str, password: str, *, writer: Engine | None = None) -> User | None:
    """The volunteer when the password is theirs, else None (the same work either way). ``writer``: an engine that
    may write, to upgrade an old hash."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _hasher()
    try:
        name = clean_name(name)
    except UsageError:
        name = ""
    row = None
    if name and len(password) <= MAX_PASSWORD and has_users_table(engine):
        with engine.connect() as conn:
            row = conn.execute(select(users.c.password_hash, users.c.role).where(users.c.name == name)).first()
    try:
        hasher.verify(row.password_hash if row else _dummy_hash(), password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    digest = row.password_hash
    if writer is not None and hasher.check_needs_rehash(digest):
        with database.writing(writer) as conn:  # only if nobody changed it meanwhile (two logins at once)
            changed = conn.execute(users.update().where(users.c.name == name, users.c.password_hash == digest)
                                   .values(password_hash=hasher.hash(password))).rowcount  # fmt: skip
            if changed:
                digest = conn.scalar(select(users.c.password_hash).where(users.c.name == name)) or digest
    stamp = current_stamp(writer, name) if writer is not None else stamp_of(digest)
    return User(name, row.role, stamp or stamp_of(digest))

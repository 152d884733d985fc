"""Who is asking: server-side sessions, CSRF tokens and the login rate limit.

A session is a random token in an HttpOnly, SameSite=Lax cookie (Secure when served over HTTPS) that names an
entry held in this process's memory: nothing a visitor could forge or read, and a restart logs everyone out
(the catalog holds the users, not the sessions). Every session carries its own CSRF token; every form that
changes anything sends it back as a hidden field (or the ``X-CSRF-Token`` header, for the JSON API) and a write
whose token does not match is refused. Logging in replaces the session, so a token planted before the login is
worth nothing after it. Failed logins are counted per address and per name; past the limit, the next tries wait.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import Response

from dogbreeds.catalog.users import User

SESSION_COOKIE = "dogbreeds_session"
SESSION_SECONDS = 12 * 3600  # a shift at the shelter; then log in again
MAX_SESSIONS = 10_000  # anonymous sessions come from anyone who opens the login page: their number is capped
LOGIN_FAILURES = 5  # failed logins allowed per name from one address within the window
ADDRESS_FAILURES = 25  # ... per address (a shelter's volunteers may share one public address)
NAME_FAILURES = 50  # ... and per name from everywhere: a guesser spread over many addresses, without letting one
# visitor lock a volunteer out with five wrong tries
LOGIN_WINDOW = 15 * 60
RESERVE_SECONDS = 300.0  # a photo shown to one volunteer is not shown to another for this long


@dataclass
class Session:
    token: str
    csrf: str
    user: User | None = None
    expires: float = 0.0
    skipped: set[str] = field(default_factory=set)  # review queue: photos put off for later, this session only
    decisions: list[int] = field(default_factory=list)  # review ids recorded in this session, for undo
    problem: str = ""  # what the review page must say once (an answer it could not take), kept here, not in a URL


class Sessions:
    """The live sessions, by token (thread-safe: page handlers run on FastAPI's thread pool)."""

    def __init__(self, *, seconds: float = SESSION_SECONDS, limit: int = MAX_SESSIONS) -> None:
        self.seconds, self.limit = seconds, limit
        self._by_token: dict[str, Session] = {}
        self._lock = threading.Lock()

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._by_token.get(token)
            if session is not None and session.expires < time.monotonic():
                del self._by_token[token]
                return None
            return session

    def new(self, user: User | None = None) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user, time.monotonic() + self.seconds)
        with self._lock:
            if len(self._by_token) >= self.limit:
                self._prune()
            self._by_token[session.token] = session
        return session

    def drop(self, token: str) -> None:
        with self._lock:
            self._by_token.pop(token, None)

    def _prune(self) -> None:
        """Expired sessions go; if still full, the oldest anonymous ones (a flood of login-page visits must not
        log volunteers out)."""
        now = time.monotonic()
        for token in [t for t, s in self._by_token.items() if s.expires < now]:
            del self._by_token[token]
        anonymous = sorted((s.expires, t) for t, s in self._by_token.items() if s.user is None)
        for _expires, token in anonymous[: max(0, len(self._by_token) - self.limit + 1)]:
            del self._by_token[token]


class LoginLimiter:
    """At most a number of failed logins per key in any ``window`` seconds. An attempt is counted *before* its
    password is checked (:meth:`attempt`), so tries sent all at once cannot slip past the limit while the hashes
    are computed; a good login takes its own count back (:meth:`succeeded`)."""

    def __init__(self, *, failures: int = LOGIN_FAILURES, window: float = LOGIN_WINDOW) -> None:
        self.failures, self.window = failures, window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, keys: dict[str, int]) -> float:
        """Count one try for each key (its limit as the value), unless one of them is over its limit: then the
        seconds to wait, and nothing is counted."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key, limit in keys.items():
                times = self._seen.get(key)
                while times and times[0] < now - self.window:
                    times.popleft()
                if times and len(times) >= limit:
                    waits.append(times[-limit] + self.window - now)
            if waits:
                return max(waits)
            for key in keys:
                self._seen.setdefault(key, deque()).append(now)
            if len(self._seen) > MAX_SESSIONS:  # forget the quietest keys rather than grow without end
                for key in sorted(self._seen, key=lambda k: self._seen[k][-1] if self._seen[k] else 0)[:1000]:
                    del self._seen[key]
            return 0.0

    def succeeded(self, keys: dict[str, int], *, forgive: tuple[str, ...] = ()) -> None:
        """A good login: its try is not held against these keys (earlier failures stay), and the keys of
        ``forgive`` are cleared (the volunteer's own mistypes from this address)."""
        with self._lock:
            for key in keys:
                times = self._seen.get(key)
                if key in forgive:
                    self._seen.pop(key, None)
                elif times:
                    times.pop()


class Reservations:
    """Which session has which photo open: two volunteers working at once are shown different photos (a photo is
    held for ``seconds``, or until its session decides)."""

    def __init__(self, seconds: float = RESERVE_SECONDS) -> None:
        self.seconds = seconds
        self._held: dict[str, tuple[str, float]] = {}  # sha256 -> (session token, until)
        self._lock = threading.Lock()

    def take(self, sha256: str, token: str) -> bool:
        now = time.monotonic()
        with self._lock:
            holder = self._held.get(sha256)
            if holder is not None and holder[0] != token and holder[1] > now:
                return False
            if len(self._held) > 10_000:
                self._held = {k: v for k, v in self._held.items() if v[1] > now}
            self._held[sha256] = (token, now + self.seconds)
            return True

    def release(self, token: str) -> None:
        with self._lock:
            self._held = {k: v for k, v in self._held.items() if v[0] != token}


def session_of(request: Request) -> Session | None:
    """The visitor's session: the one this request started (see :func:`start_session`), else the cookie's."""
    started = getattr(request.state, "session", None)
    if started is not None:
        return started  # type: ignore[no-any-return]
    sessions: Sessions = request.app.state.web.sessions
    return sessions.get(request.cookies.get(SESSION_COOKIE))


def start_session(request: Request, user: User | None = None) -> Session:
    """A new session for this visitor, seen by the rest of this request (its pages' forms carry its token)."""
    sessions: Sessions = request.app.state.web.sessions
    session = sessions.new(user)
    request.state.session = session
    return session


def user_of(request: Request) -> User | None:
    session = session_of(request)
    return session.user if session is not None else None


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(SESSION_COOKIE, session.token, max_age=SESSION_SECONDS, path="/", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")  # fmt: skip


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=request.url.scheme == "https")  # fmt: skip


def csrf_matches(session: Session | None, token: str | None) -> bool:
    if session is None or not token:
        return False
    return hmac.compare_digest(session.csrf.encode(), str(token).encode("utf-8", "surrogatepass"))


def login_keys(address: str, name: str) -> dict[str, int]:
    """The limiter's keys for a login try, with their limits: the address, the name from that address, and the
    name from everywhere (the name as stored, so another spelling of it counts the same)."""
    from dogbreeds.catalog.users import clean_name
    from dogbreeds.core.errors import UsageError

    try:
        name = clean_name(name).casefold()
    except UsageError:
        name = "?"
    return {f"address:{address}": ADDRESS_FAILURES, f"name:{name}@{address}": LOGIN_FAILURES,
            f"name:{name}": NAME_FAILURES}  # fmt: skip


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this server only (never ``//elsewhere`` or ``https://...``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target

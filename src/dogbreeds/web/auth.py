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
LOGIN_FAILURES = 5  # failed logins allowed per address, and per name, within the window
LOGIN_WINDOW = 15 * 60


@dataclass
class Session:
    token: str
    csrf: str
    user: User | None = None
    expires: float = 0.0
    skipped: set[str] = field(default_factory=set)  # review queue: photos put off for later, this session only
    decisions: list[int] = field(default_factory=list)  # review ids recorded in this session, for undo


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
    """At most ``failures`` failed logins per key (an address, a name) in any ``window`` seconds."""

    def __init__(self, *, failures: int = LOGIN_FAILURES, window: float = LOGIN_WINDOW) -> None:
        self.failures, self.window = failures, window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, *keys: str) -> float:
        """Seconds before another try is allowed for these keys (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key in keys:
                times = self._seen.get(key)
                while times and times[0] < now - self.window:
                    times.popleft()
                if times and len(times) >= self.failures:
                    waits.append(times[0] + self.window - now)
            return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._seen.setdefault(key, deque()).append(time.monotonic())
            if len(self._seen) > MAX_SESSIONS:  # forget the quietest keys rather than grow without end
                for key in sorted(self._seen, key=lambda k: self._seen[k][-1] if self._seen[k] else 0)[:1000]:
                    del self._seen[key]

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._seen.pop(key, None)


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
    return session is not None and bool(token) and hmac.compare_digest(session.csrf, str(token))


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this server only (never ``//elsewhere`` or ``https://...``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target

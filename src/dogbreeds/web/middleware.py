"""What every request goes through before a page sees it: its language, the upload limit, safe headers.

Plain ASGI middleware (no per-request task as with ``BaseHTTPMiddleware``), so the language set here is the
context every page, template and thread-pool call of the request runs in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.cookies import SimpleCookie

from starlette.datastructures import MutableHeaders, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dogbreeds.core.i18n import LANGUAGES, current_language, speaking

LANG_COOKIE = "lang"
SECURITY_HEADERS = {
    # everything is served from here; no script but our own file; no framing (clickjacking)
    "content-security-policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def from_accept_language(header: str) -> str | None:
    """The visitor's preferred language among ours, by the header's q-values (``fr-FR,fr;q=0.9,en;q=0.8``)."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        code = tag.strip().split("-")[0].lower()
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            q = 0.0
        if code in LANGUAGES and q > 0 and (best is None or (q, -position) > best[:2]):
            best = (q, -position, code)
    return best[2] if best else None


def scope_cookie(scope: Scope, name: str) -> str | None:
    """A cookie's value from a request's raw headers (before any Request object exists), or None."""
    header = dict(scope["headers"]).get(b"cookie", b"").decode("latin-1")
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(header)
    except Exception:  # a malformed cookie header is the browser's problem, not a reason to fail
        pass
    return cookie[name].value if name in cookie else None


def request_language(scope: Scope) -> tuple[str, bool]:
    """``?lang=``, else the cookie, else ``Accept-Language``, else the server's own language; and whether the
    choice came from ``?lang=`` (then remembered in the cookie)."""
    asked = QueryParams(scope.get("query_string", b"").decode("latin-1")).get("lang")
    if asked in LANGUAGES:
        return asked, True
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    chosen = scope_cookie(scope, LANG_COOKIE)
    if chosen is not None and chosen in LANGUAGES:
        return chosen, False
    return from_accept_language(headers.get("accept-language", "")) or current_language(), False


class VisitorMiddleware:
    """Speaks the visitor's language for the whole request (:func:`dogbreeds.core.i18n.speaking`), remembers a
    ``?lang=`` choice in a cookie, and adds the security headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        language, chosen = request_language(scope)
        scope.setdefault("state", {})["language"] = language
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # the server's own time to the answer, which browsers' developer tools and benchmarks read
                headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers["content-language"] = language
                headers.append("vary", "Accept-Language, Cookie")
                if chosen:
                    headers.append("set-cookie", f"{LANG_COOKIE}={language}; Path=/; Max-Age=31536000; SameSite=Lax")
            await send(message)

        with speaking(language):
            await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuses a request body over its limit with 413 before it is all read: a declared ``Content-Length`` at once,
    a streamed body as soon as it passes the limit (so an endless upload never fills the disk that the form parser
    spools to). ``max_bytes(scope)`` is the request's limit (several photos at once may send more than one);
    ``refusal(scope)`` gives the response's content type and body."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: Callable[[Scope], int], refusal: Callable[[Scope], tuple[str, bytes]]
    ) -> None:
        self.app, self.max_bytes_for, self.refusal = app, max_bytes, refusal

    async def _refuse(self, scope: Scope, send: Send) -> None:
        media_type, body = self.refusal(scope)
        headers = [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())]
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes_for(scope)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send)
            return
        seen, over, started = 0, False, False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}  # the parser stops reading; the answer below is ours
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if over:
                return  # whatever the app answers to a cut body, the visitor hears "too large" instead
            started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except Exception:
            if not over:  # a cut body may make the app fail (a disconnected client); anything else is a bug
                raise
        if over and not started:
            await self._refuse(scope, send)


def json_refusal(message: str) -> tuple[str, bytes]:
    return "application/json", json.dumps({"detail": message}, ensure_ascii=False).encode()

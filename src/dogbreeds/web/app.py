"""The web app: ``create_app(settings)`` loads the model and opens the catalog once, then serves the pages
(:mod:`dogbreeds.web.pages`) and the JSON API (:mod:`dogbreeds.web.api`).

Errors never reach the visitor as a traceback or a server path: a refusal is one line in the visitor's language
(an HTML page, or ``{"detail": ...}`` under ``/api/``), and anything unexpected is logged on the server and
answered with a generic page. FastAPI's interactive docs (Swagger UI, ReDoc) load their scripts from a CDN, so
they are switched off; the schema itself is served at ``/openapi.json``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.types import Scope

from dogbreeds import __version__
from dogbreeds.catalog.database import open_catalog
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.i18n import LANGUAGES, _, current_language, n_, speaking
from dogbreeds.inference.display import verdict_word
from dogbreeds.inference.predictor import Predictor
from dogbreeds.web.auth import SESSION_COOKIE, LoginLimiter, Reservations, Sessions, session_of
from dogbreeds.web.identify import ModelWorker, shown_name
from dogbreeds.web.jobs import Jobs
from dogbreeds.web.library import IndexCache, breed_label
from dogbreeds.web.middleware import BodyLimitMiddleware, VisitorMiddleware, json_refusal, scope_cookie
from dogbreeds.web.settings import MB, WebSettings

HERE = Path(__file__).parent
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and headers around the photo itself
MAX_BATCH_FILES = 500  # photos in one "add photos" request
log = logging.getLogger(__name__)


@dataclass
class WebState:
    """What every request shares: loaded once by :func:`create_app`."""

    settings: WebSettings
    worker: ModelWorker
    engine: Engine | None  # None: no catalog, only Identify
    templates: Jinja2Templates
    sessions: Sessions = field(default_factory=Sessions)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    writer: Engine | None = None  # the catalog opened for writing, on the first write (review, upload)
    jobs: Jobs = field(default_factory=Jobs)  # photos added from the browser, being classified
    index_cache: IndexCache = field(default_factory=IndexCache)  # embeddings, for "more like this"
    reservations: Reservations = field(default_factory=Reservations)  # which session has which photo open


def state(request: Request) -> WebState:
    return request.app.state.web  # type: ignore[no-any-return]


def relative(url: URL) -> str:
    """An address on this server without its scheme and host, which a proxy in front may see otherwise."""
    return url.path + (f"?{url.query}" if url.query else "")


def _visitor(request: Request) -> dict[str, Any]:
    """What every template sees: the language, the links that switch it (same page where that is a GET)."""
    here = request.url if request.method == "GET" else request.url.replace(path="/", query="")
    session = session_of(request)
    return {
        "user": session.user if session is not None else None,
        "csrf": session.csrf if session is not None else "",
        "lang": current_language(),
        "switch": {code: relative(here.include_query_params(lang=code)) for code in LANGUAGES},
        "has_catalog": state(request).engine is not None,
        "has_library": state(request).settings.library is not None,
        "version": __version__,
    }


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"), context_processors=[_visitor])
    templates.env.globals.update(_=_, n_=n_, breed_label=breed_label, verdict_word=verdict_word)
    templates.env.filters["percent"] = lambda p: "" if p is None else f"{p:.1%}"
    return templates


def page(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> HTMLResponse:
    return state(request).templates.TemplateResponse(request, name, context, status_code=status)


def error_response(request: Request, status: int, message: str) -> Response:
    """A refusal or a failure, as one line: JSON under ``/api/``, else the error page."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code=status)
    return page(request, "error.html", {"status": status, "message": message}, status=status)


def upload_limit_message(settings: WebSettings, *, batch: bool = False) -> str:
    if batch:
        return _("these photos are too large together: at most {mb} MB at once; send them in several goes",
                 mb=format(settings.max_batch_bytes / MB, "g"))  # fmt: skip
    mb = format(settings.max_upload_bytes / MB, "g")
    return _("the upload is too large: at most {mb} MB", mb=mb)


def _default_message(status: int) -> str:
    return {
        404: _("there is no such page or photo here"),
        405: _("this address cannot be used that way"),
        413: _("the upload is too large"),
    }.get(status, _("this request cannot be answered ({status})", status=status))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else ""
    generic = not detail or detail == HTTPStatus(exc.status_code).phrase  # Starlette's English words
    with speaking(getattr(request.state, "language", current_language())):
        return error_response(request, exc.status_code, _default_message(exc.status_code) if generic else detail)


async def _invalid(request: Request, exc: Exception) -> Response:
    """A malformed query or form: which fields, never their values or the validator's internals."""
    assert isinstance(exc, RequestValidationError)
    fields = sorted({str(e.get("loc", ["?"])[-1]) for e in exc.errors()})
    return error_response(request, 422, _("this request cannot be used as it is (check: {fields})",
                                          fields=", ".join(fields)))  # fmt: skip


async def _unavailable(request: Request, exc: Exception) -> Response:
    """The catalog or the model failed under a request: its message may name server paths, so it goes to the
    log, and the visitor reads a generic line."""
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    with speaking(getattr(request.state, "language", current_language())):
        return error_response(request, 503, _("the catalog cannot be read right now; the server's log says why"))


async def _bug(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    with speaking(getattr(request.state, "language", current_language())):
        return error_response(request, 500, _("something went wrong on the server; it has been logged"))


async def read_upload(request: Request, file: UploadFile | None) -> tuple[bytes, str]:
    """The uploaded photo's bytes and the name to show for it.

    Raises:
        HTTPException: 400 without a file, 413 over the limit (the body limit stops most before this).
    """
    if file is None or not file.filename and not file.size:
        raise HTTPException(400, _("choose a photo first"))
    limit = state(request).settings.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, upload_limit_message(state(request).settings))
    return data, shown_name(file.filename)


def create_app(settings: WebSettings, *, predictor: Predictor | None = None) -> FastAPI:
    """The app, with its model loaded and its catalog opened (read-only) now, so a wrong ``--model`` or ``--db``
    fails before the server starts listening.

    Args:
        settings: what ``dogbreeds serve`` was given.
        predictor: an already loaded Predictor to share (tests load one for many apps); default: from settings.

    Raises:
        DogbreedsError: the model or the catalog cannot be opened.
    """
    from dogbreeds.web import api, pages, review, upload

    predictor = predictor or Predictor(settings.model, backend=settings.backend, precision=settings.precision)
    engine = open_catalog(settings.db, readonly=True) if settings.db else None
    web = WebState(settings, ModelWorker(predictor), engine, _templates())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        web.worker.close()
        web.jobs.close()
        for engine in (web.engine, web.writer):
            if engine is not None:
                engine.dispose()

    app = FastAPI(title="dogbreeds", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.web = web
    app.include_router(pages.router)
    app.include_router(review.router)
    app.include_router(upload.router)
    app.include_router(api.router)
    app.include_router(review.api)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(DogbreedsError, _unavailable)
    app.add_exception_handler(Exception, _bug)

    def is_batch(scope: Scope) -> bool:
        """A logged-in volunteer adding photos: only they may send many at once (an anonymous client never gets
        the server to spool more than one photo's worth to disk)."""
        path = scope["path"][len(scope.get("root_path", "")) :].rstrip("/")
        if path != "/upload":
            return False
        session = web.sessions.get(scope_cookie(scope, SESSION_COOKIE))
        return session is not None and session.user is not None

    def limit(scope: Scope) -> int:
        if is_batch(scope):  # each photo is still checked against the photo limit
            return settings.max_batch_bytes + FORM_OVERHEAD + 512 * MAX_BATCH_FILES
        return settings.max_upload_bytes + FORM_OVERHEAD

    def too_large(scope: Scope) -> tuple[str, bytes]:
        message = upload_limit_message(settings, batch=is_batch(scope))
        if scope["path"].startswith("/api/"):
            return json_refusal(message)
        body = web.templates.get_template("error.html").render(request=Request(scope), status=413, message=message,
                                                               **_visitor(Request(scope)))  # fmt: skip
        return "text/html; charset=utf-8", body.encode()

    app.add_middleware(BodyLimitMiddleware, max_bytes=limit, refusal=too_large)
    app.add_middleware(VisitorMiddleware)  # outermost: the language is set for everything inside
    return app

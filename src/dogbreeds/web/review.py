"""Logging in and out, and the review queue: the pages and the API routes that change the catalog.

Every write needs a logged-in volunteer and the session's CSRF token (:mod:`dogbreeds.web.auth`). Decisions go
through the same functions as ``dogbreeds review`` (:func:`~dogbreeds.catalog.review.decide`, ``record``,
``forget``): the same answers ("1" to "5", "m" for a mixed breed, a breed name in French or English, "+name" for
a breed nobody listed, "n" for not a dog), the same rows, recorded at once with who and when.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.exceptions import HTTPException

from dogbreeds.catalog import database
from dogbreeds.catalog.review import decide, forget, queue_keys, record, row_of
from dogbreeds.catalog.users import authenticate
from dogbreeds.core.breed_names import EXTRA_BREEDS
from dogbreeds.core.breeds import BREED_IDS, display_name
from dogbreeds.core.i18n import _
from dogbreeds.web import library, thumbs
from dogbreeds.web.app import page, state
from dogbreeds.web.auth import (
    Session,
    clear_session_cookie,
    csrf_matches,
    safe_next,
    session_of,
    set_session_cookie,
    start_session,
)

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["review"])
QUEUE_LOOKAHEAD = 200  # queue entries read to find the next photo not put off for later in this session


def writer(request: Request) -> Engine:
    """The catalog opened for writing (once, on the first write): a read-only catalog answers 503 in one line."""
    web = state(request)
    if web.engine is None:
        raise HTTPException(404, _("no catalog is open: start the server with --db CATALOG"))
    if web.writer is None:
        web.writer = database.open_catalog(web.settings.db)
    return web.writer


def logged_in(request: Request, csrf: str | None) -> Session:
    """The volunteer's session, when logged in and the token matches; else 401 (logged out) or 403 (token)."""
    session = session_of(request)
    if session is None or session.user is None:
        raise HTTPException(401, _("log in first: only registered volunteers can change the catalog"))
    if not csrf_matches(session, csrf):
        raise HTTPException(403, _("this form has expired: reload the page and try again"))
    return session


def _login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={here}", status_code=303)


# --- logging in and out ---------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    session = session_of(request) or start_session(request)
    response = page(request, "login.html", {"next": safe_next(next)})
    set_session_cookie(request, response, session)
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request, name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2000)] = "", csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:  # fmt: skip
    web = state(request)
    before = session_of(request)
    if not csrf_matches(before, csrf):
        raise HTTPException(403, _("this form has expired: reload the page and try again"))
    keys = (f"address:{request.client.host if request.client else '?'}", f"name:{name.strip().casefold()}")
    wait = web.limiter.wait(*keys)
    if wait > 0:
        raise HTTPException(429, _("too many failed logins: try again in {minutes} minutes",
                                   minutes=max(1, round(wait / 60))))  # fmt: skip
    engine = web.engine
    if engine is None:
        raise HTTPException(404, _("no catalog is open: start the server with --db CATALOG"))
    user = authenticate(engine, name, password)
    if user is None:
        web.limiter.failed(*keys)
        return page(request, "login.html", {"next": safe_next(next), "problem": _("wrong name or password")},
                    status=401)  # fmt: skip
    web.limiter.succeeded(*keys)
    if before is not None:
        web.sessions.drop(before.token)
    session = start_session(request, user)  # a new token: one planted before the login is worth nothing now
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, session)
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    session = session_of(request)
    if session is not None and csrf_matches(session, csrf):
        state(request).sessions.drop(session.token)
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(request, response)
    return response


# --- the review queue -------------------------------------------------------------------------------------------


def next_in_queue(engine: Engine, skipped: set[str]) -> tuple[dict[str, Any] | None, int]:
    """The first photo waiting for a volunteer that this session has not put off, and how many are waiting."""
    keys = queue_keys(engine)
    for path in keys[: QUEUE_LOOKAHEAD + len(skipped)]:
        row = row_of(engine, path)
        if row is not None and row["sha256"] not in skipped:
            return row, len(keys)
    return None, len(keys)


def suggestions() -> list[str]:
    """Breed names a volunteer may type, in the page's language first, then the other one (a datalist)."""
    names = [display_name(b) for b in BREED_IDS] + [display_name(b) for b in EXTRA_BREEDS]
    return sorted(set(names), key=str.casefold)


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, problem: str = "") -> Response:
    session = session_of(request)
    if session is None or session.user is None:
        return _login_redirect(request)
    engine = writer(request)
    row, waiting = next_in_queue(engine, session.skipped)
    decided = len(session.decisions)
    return page(request, "review.html", {
        "row": row, "id": row["sha256"] if row else None, "waiting": waiting, "decided": decided,
        "name": library.shown_path(row["path"], state(request).settings.library) if row else "",
        "problem": problem[:300], "suggestions": suggestions(), "can_undo": bool(session.decisions),
    })  # fmt: skip


def apply_answer(request: Request, session: Session, photo_id: str, answer: str) -> dict[str, Any]:
    """Record one answer about a photo; returns what was recorded.

    Raises:
        HTTPException: 404 for a photo the catalog does not hold, 422 for an answer that is not one (its message
            says what to type).
    """
    engine = writer(request)
    found = library.photo(engine, photo_id) if thumbs.SHA256.fullmatch(photo_id) else None
    row = row_of(engine, found.paths[0]) if found is not None else None
    if row is None:
        raise HTTPException(404, _("there is no such photo in the catalog"))
    decided = decide(answer, row)
    if isinstance(decided, str):
        raise HTTPException(422, decided)
    decision, breed = decided
    assert session.user is not None
    review_id = record(engine, row, decision, breed, session.user.name)
    session.decisions.append(review_id)
    return {"id": review_id, "photo": photo_id, "decision": decision, "breed": breed, "reviewer": session.user.name}


@router.post("/review/{photo_id}")
def review_answer(
    request: Request, photo_id: str, csrf: Annotated[str, Form(max_length=200)] = "",
    answer: Annotated[str, Form(max_length=200)] = "", later: Annotated[str, Form(max_length=10)] = "",
) -> Response:  # fmt: skip
    session = logged_in(request, csrf)
    if later:
        session.skipped.add(photo_id)
        return RedirectResponse("/review", status_code=303)
    try:
        apply_answer(request, session, photo_id, answer)
    except HTTPException as err:
        if err.status_code != 422:
            raise
        return RedirectResponse(f"/review?{_query(problem=str(err.detail))}", status_code=303)
    return RedirectResponse("/review", status_code=303)


@router.post("/review/undo/last")
def review_undo(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    session = logged_in(request, csrf)
    if session.decisions:
        forget(writer(request), session.decisions.pop())
    return RedirectResponse("/review", status_code=303)


def _query(**params: str) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


class ReviewAnswer(BaseModel):
    """One answer, as ``dogbreeds review`` takes it: "1" to "5" (that breed of the top-5), a breed name in French
    or English, "m" (mixed breed), "+name" (a breed nobody listed), "n" (not a dog)."""

    answer: str


@api.post("/photos/{photo_id}/review")
def api_review(
    request: Request, photo_id: str, body: ReviewAnswer,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:  # fmt: skip
    """Record a volunteer's decision about a photo (logged in, with the session's token in ``X-CSRF-Token``)."""
    session = logged_in(request, x_csrf_token)
    if len(body.answer) > 200:
        raise HTTPException(422, _("this answer is too long"))
    return apply_answer(request, session, photo_id, body.answer)

"""Logging in and out, and the review queue: the pages and the API routes that change the catalog.

Every write needs a logged-in volunteer and the session's CSRF token (:mod:`dogbreeds.web.auth`). Decisions go
through the same functions as ``dogbreeds review`` (:func:`~dogbreeds.catalog.review.decide`, ``record``,
``forget``): the same answers ("1" to "5", "m" for a mixed breed, a breed name in French or English, "+name" for
a breed nobody listed, "n" for not a dog), the same rows, recorded at once with who and when.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Header, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.exceptions import HTTPException

from dogbreeds.catalog import database
from dogbreeds.catalog.review import decide, forget, queue_keys, record, row_of
from dogbreeds.catalog.users import authenticate, current_stamp, has_users_table, list_users
from dogbreeds.core.breed_names import EXTRA_BREEDS
from dogbreeds.core.breeds import BREED_IDS, display_name
from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.i18n import _, n_
from dogbreeds.web import library, thumbs
from dogbreeds.web.app import page, state
from dogbreeds.web.auth import (
    Reservations,
    Session,
    clear_session_cookie,
    csrf_matches,
    login_keys,
    safe_next,
    session_of,
    set_session_cookie,
    start_session,
)

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["review"])
QUEUE_LOOKAHEAD = 200  # queue entries read to find the next photo not put off for later in this session
MAX_PUT_OFF = 1000  # photos one session may put off for later


_WRITER_LOCK = threading.Lock()


def writer(request: Request) -> Engine:
    """The catalog opened for writing (once, on the first write): a read-only catalog answers 503 in one line."""
    web = state(request)
    if web.engine is None:
        raise HTTPException(404, _("no catalog is open: start the server with --db CATALOG"))
    with _WRITER_LOCK:
        if web.writer is None:
            web.writer = database.open_catalog(web.settings.db)
    return web.writer


def logged_in(request: Request, csrf: str | None) -> Session:
    """The volunteer's session, when logged in and the token matches; else 401 (logged out, or the volunteer was
    removed or given a new password since) or 403 (token)."""
    session = session_of(request)
    if session is None or session.user is None:
        raise HTTPException(401, _("log in first: only registered volunteers can change the catalog"))
    if not csrf_matches(session, csrf):
        raise HTTPException(403, _("this form has expired: reload the page and try again"))
    if not still_volunteer(request, session):
        raise HTTPException(401, _("log in first: only registered volunteers can change the catalog"))
    return session


def still_volunteer(request: Request, session: Session) -> bool:
    """Whether the session's volunteer is still one, with the same password; if not, the session ends."""
    engine = state(request).engine
    if (
        session.user is not None
        and engine is not None
        and current_stamp(engine, session.user.name) == session.user.stamp
    ):
        return True
    state(request).sessions.drop(session.token)
    return False


def _login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': here})}", status_code=303)


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
    engine = web.engine
    if engine is None:
        raise HTTPException(404, _("no catalog is open: start the server with --db CATALOG"))
    keys = login_keys(request.client.host if request.client else "?", name)
    wait = web.limiter.attempt(keys)  # counted before the password is checked: tries at once cannot slip past
    if wait > 0:
        minutes = max(1, round(wait / 60))
        raise HTTPException(429, n_("too many failed logins: try again in {n} minute",
                                    "too many failed logins: try again in {n} minutes", minutes))  # fmt: skip
    try:
        rehash: Engine | None = writer(request)  # an old hash is replaced at a good login, where the catalog allows
    except DogbreedsError:
        rehash = None
    user = authenticate(engine, name, password, writer=rehash)
    if user is None:
        problem = (
            _("wrong name or password")
            if has_users_table(engine) and list_users(engine)
            else _("nobody can log in yet: add a volunteer with `dogbreeds users add NAME --db CATALOG`")
        )
        return page(request, "login.html", {"next": safe_next(next), "problem": problem}, status=401)
    web.limiter.succeeded(keys, forgive=tuple(k for k in keys if "@" in k))  # their own mistypes, from here
    if before is not None:
        web.sessions.drop(before.token)
    session = start_session(request, user)  # a new token: one planted before the login is worth nothing now
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(request, response, session)
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    session = session_of(request)
    response = RedirectResponse("/", status_code=303)
    if session is not None and csrf_matches(session, csrf):  # another site cannot log a volunteer out
        state(request).sessions.drop(session.token)
        clear_session_cookie(request, response)
    return response


# --- the review queue -------------------------------------------------------------------------------------------


def next_in_queue(
    engine: Engine, session: Session, reservations: Reservations
) -> tuple[dict[str, Any] | None, int, int]:
    """The first photo waiting for a volunteer that this session has not put off and no other session has open;
    how many are waiting; how many of them this session put off."""
    keys = queue_keys(engine)
    put_off = 0
    for path in keys[: QUEUE_LOOKAHEAD + len(session.skipped)]:
        row = row_of(engine, path)
        if row is None:
            continue
        if row["sha256"] in session.skipped:
            put_off += 1
        elif reservations.take(row["sha256"], session.token):
            return row, len(keys), put_off
        else:
            put_off += 1  # open on another volunteer's screen: not this one's to decide now
    return None, len(keys), put_off


def suggestions() -> list[str]:
    """Breed names a volunteer may type, in the page's language first, then the other one (a datalist)."""
    names = [display_name(b) for b in BREED_IDS] + [display_name(b) for b in EXTRA_BREEDS]
    return sorted(set(names), key=str.casefold)


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request) -> Response:
    session = session_of(request)
    if session is None or session.user is None or not still_volunteer(request, session):
        return _login_redirect(request)
    engine = writer(request)
    state(request).reservations.release(session.token)
    row, waiting, put_off = next_in_queue(engine, session, state(request).reservations)
    problem, session.problem = session.problem, ""  # said once, by the page after the answer it is about
    return page(request, "review.html", {
        "row": row, "id": row["sha256"] if row else None, "waiting": waiting, "decided": len(session.decisions),
        "put_off": put_off, "name": library.shown_path(row["path"], state(request).settings.library) if row else "",
        "problem": problem, "suggestions": suggestions(), "can_undo": bool(session.decisions),
    })  # fmt: skip


def apply_answer(request: Request, session: Session, photo_id: str, answer: str) -> dict[str, Any]:
    """Record one answer about a photo; returns what was recorded.

    Raises:
        HTTPException: 404 for a photo the catalog does not hold, 422 for an answer that is not one (its message
            says what to type).
    """
    engine = writer(request)
    found = library.photo(engine, photo_id) if thumbs.SHA256.fullmatch(photo_id) else None
    rows = [r for r in (row_of(engine, p) for p in (found.paths if found else [])) if r is not None]
    if not rows:
        raise HTTPException(404, _("there is no such photo in the catalog"))
    row = rows[0]
    for candidate in rows:  # a breed id from a button: the row whose top-5 showed it, as its position there
        top = [k["breed"] for k in candidate["top5"] or []]
        if answer in top:
            row, answer = candidate, str(top.index(answer) + 1)
            break
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
        if thumbs.SHA256.fullmatch(photo_id) and len(session.skipped) < MAX_PUT_OFF:
            session.skipped.add(photo_id)
        return RedirectResponse("/review", status_code=303)
    try:
        apply_answer(request, session, photo_id, answer)
    except HTTPException as err:
        if err.status_code != 422:
            raise
        session.problem = str(err.detail)[:300]
    return RedirectResponse("/review", status_code=303)


@router.post("/review/undo/last")
def review_undo(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    session = logged_in(request, csrf)
    if session.decisions and session.user is not None:
        forget(writer(request), session.decisions.pop(), reviewer=session.user.name)
    return RedirectResponse("/review", status_code=303)


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


@router.post("/photos/{photo_id}/reviews/{review_id}/withdraw")
def withdraw(
    request: Request, photo_id: str, review_id: int, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """An administrator takes back any volunteer's decision about a photo (a wrong click, a volunteer's mistake):
    the photo's final answer becomes the previous decision, or the model's."""
    session = logged_in(request, csrf)
    if session.user is None or not session.user.is_admin:
        raise HTTPException(403, _("only an administrator can withdraw a volunteer's decision"))
    found = library.photo(writer(request), photo_id) if thumbs.SHA256.fullmatch(photo_id) else None
    if found is None or review_id not in {h["id"] for h in found.history}:
        raise HTTPException(404, _("there is no such decision about this photo"))
    forget(writer(request), review_id)
    return RedirectResponse(f"/photos/{photo_id}", status_code=303)

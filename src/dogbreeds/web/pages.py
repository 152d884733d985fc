"""The pages a volunteer sees: Identify, Library, a photo, Stats, and the export downloads.

Each is a plain function over the library layer; handlers that only read the catalog are ``def`` (FastAPI runs
them in its thread pool, so a slow query never stalls the event loop), and Identify hands the model work to the
:class:`~dogbreeds.web.identify.ModelWorker`.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import Engine
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

from dogbreeds.catalog import database
from dogbreeds.catalog.export import FORMATS, export_rows
from dogbreeds.catalog.stats import catalog_stats
from dogbreeds.core.breeds import UnknownBreedError
from dogbreeds.core.errors import MissingExtraError
from dogbreeds.core.i18n import _
from dogbreeds.inference.display import sentence
from dogbreeds.inference.predictor import Prediction
from dogbreeds.web import library, thumbs
from dogbreeds.web.app import page, read_upload, relative, state
from dogbreeds.web.settings import TOP_K

router = APIRouter(include_in_schema=False)


def catalog(request: Request) -> Engine:
    engine = state(request).engine
    if engine is None:
        raise HTTPException(404, _("no catalog is open: start the server with --db CATALOG"))
    return engine


def as_prediction(row: dict[str, Any]) -> Prediction:
    """A catalog row as the Prediction it was made from, so it is worded by the same :func:`sentence`."""
    return Prediction(path=row["path"], breed=row["breed"], name=row["name"], probability=row["probability"],
                      top_k=row["top5"], verdict=row["verdict"], dog_probability=row["dog_probability"],
                      error=row["error"])  # fmt: skip


@router.get("/", response_class=HTMLResponse)
def identify_form(request: Request) -> HTMLResponse:
    return page(request, "identify.html", {})


@router.post("/identify", response_class=HTMLResponse)
async def identify_photo(
    request: Request, file: Annotated[UploadFile | None, File()] = None,
    add: Annotated[str, Form(max_length=10)] = "", csrf: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:  # fmt: skip
    from starlette.concurrency import run_in_threadpool

    from dogbreeds.web.review import logged_in
    from dogbreeds.web.upload import add_photos

    # adding to the library is a write: logged in, with the token (a catalog query: off the event loop)
    session = await run_in_threadpool(logged_in, request, csrf) if add else None
    data, name = await read_upload(request, file)
    found = await state(request).worker.identify(data, name, top_k=TOP_K, explain=True)
    p = found.prediction
    status = 415 if p.error is not None else 200  # not a photo: refused, and said so on the same page
    shown = {"p": p, "answer": sentence(p), "preview": found.preview, "heatmap": found.heatmap, "name": name}
    if session is not None and session.user is not None and p.error is None:
        shown["added"] = await run_in_threadpool(add_photos, request, session.user.name, [(name, data)])
    return page(request, "identify.html", shown, status=status)


@router.get("/library", response_class=HTMLResponse)
def library_page(
    request: Request, q: str = "", breed: str = "", verdict: str = "", review: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:  # fmt: skip
    engine = catalog(request)
    if verdict and verdict not in library.VERDICTS or review and review not in library.REVIEW_STATES:
        raise HTTPException(422, _("unknown filter: choose one from the lists"))
    problem = None
    if q.strip():
        try:
            breed = library.find_breed(q)
        except UnknownBreedError as err:
            problem = str(err)
    f = library.PhotoFilter(breed or None, verdict or None, review or None)
    size = state(request).settings.page_size
    found = library.browse(engine, f, page=page_number, size=size) if problem is None else library.Page([], 1, size, 0)
    links = {"q": q, "breed": "" if q.strip() else breed, "verdict": verdict, "review": review}
    return page(request, "library.html", {
        "photos": [library.summary(r, state(request).settings.library) for r in found.rows], "found": found,
        "filter": f, "problem": problem, "form": links, "verdicts": library.VERDICTS,
        "review_states": library.REVIEW_STATES,
        "page_link": lambda n: relative(request.url.include_query_params(page=n)),
    })  # fmt: skip


def _record(request: Request, photo_id: str) -> library.PhotoRecord:
    record = library.photo(catalog(request), photo_id) if thumbs.SHA256.fullmatch(photo_id) else None
    if record is None:
        raise HTTPException(404, _("there is no such photo in the catalog"))
    return record


@router.get("/photos/{photo_id}", response_class=HTMLResponse)
def photo_page(request: Request, photo_id: str) -> HTMLResponse:
    record = _record(request, photo_id)
    where = state(request).settings.library
    return page(request, "photo.html", {
        "id": photo_id, "row": record.row, "answer": sentence(as_prediction(record.row)),
        "names": [library.shown_path(p, where) for p in record.paths], "history": record.history,
        "similar": library.more_like_this(catalog(request), record, state(request).index_cache),
    })  # fmt: skip


@router.get("/photos/{photo_id}/{size}.jpg")
def photo_image(request: Request, photo_id: str, size: str) -> FileResponse:
    if size not in thumbs.SIZES:
        raise HTTPException(404)
    record = _record(request, photo_id)
    settings = state(request).settings
    made = thumbs.image_for(settings.cache, photo_id, size, record.paths, library=settings.library)
    if made is None:
        raise HTTPException(404, _("this photo is no longer where the catalog saw it"))
    # named by content: the same address always shows the same picture, so the browser may keep it
    return FileResponse(made, media_type="image/jpeg", headers={"cache-control": "private, max-age=31536000"})


@router.get("/stats", response_class=HTMLResponse)
def stats_page(request: Request) -> HTMLResponse:
    stats = catalog_stats(catalog(request))
    return page(request, "stats.html", {"stats": stats, "formats": FORMATS,
                                        "most": max(stats.breeds.values(), default=1)})  # fmt: skip


def _for_visitors(rows: Iterator[dict[str, Any]], request: Request) -> Iterator[dict[str, Any]]:
    """Rows as a browser may see them: each path as the pages show it (relative to --library, else the file name
    alone), and no error text (a broken link's message names its target)."""
    where = state(request).settings.library
    for row in rows:
        yield {**row, "path": library.shown_path(row["path"], where), "error": "unreadable" if row["error"] else None}


@router.get("/export/catalog.{fmt}")
def export(request: Request, fmt: str) -> FileResponse:
    """The catalog as ``dogbreeds export`` writes it (model answer, decisions, final answer), as a download."""
    if fmt not in FORMATS:
        raise HTTPException(404)
    engine = catalog(request)
    folder = Path(tempfile.mkdtemp(prefix="dogbreeds-export-"))
    try:
        export_rows(_for_visitors(database.iter_rows(engine), request), folder / f"catalog.{fmt}", fmt=fmt)
    except MissingExtraError as err:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(501, str(err)) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(folder / f"catalog.{fmt}", filename=f"catalog.{fmt}",
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))  # fmt: skip

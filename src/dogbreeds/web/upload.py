"""Adding photos to the library from the browser: stored by content, then classified in the background.

An upload is decoded before anything is written (a renamed executable, a truncated file or a decompression bomb is
refused with its reason), then stored as ``<library>/uploads/<sha256>.<format>``: the client's file name never
becomes a path, the same photo sent twice is stored once, and nothing already there is ever overwritten (the file
is linked into place, which fails rather than replace). Each upload batch becomes a :class:`Job` that runs
:class:`~dogbreeds.catalog.classify.Classifier` on the uploads folder, on a thread of its own, one job after the
other, so the rows are exactly those ``dogbreeds classify`` writes; its page shows the progress.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from dogbreeds.core.i18n import _
from dogbreeds.data.images import UnreadableImage
from dogbreeds.web.app import MAX_BATCH_FILES, page, state, upload_limit_message
from dogbreeds.web.auth import session_of
from dogbreeds.web.identify import shown_name
from dogbreeds.web.jobs import Job, Jobs, store
from dogbreeds.web.review import logged_in, writer

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
UPLOADS = "uploads"  # the folder inside --library that uploads go to


def _classify(request: Request, job: Job, folder: Path) -> None:
    """The job's body: classify the uploads folder into the catalog with the served model."""
    from dogbreeds.catalog.classify import Classifier

    try:
        classifier = Classifier(state(request).worker.predictor, writer(request))
        job.classifier = classifier
        classifier.run([folder])
    except Exception as err:  # the catalog or the disk failed: said on the job's page, the details in the log
        log.error("upload job %s failed", job.id, exc_info=err)
        job.failed = _("classifying the new photos failed; the server's log says why")
    finally:
        job.done = True


def uploads_folder(request: Request) -> Path:
    library = state(request).settings.library
    if library is None:
        raise HTTPException(409, _("photos can be added only when the server is started with --library DIR"))
    return library / UPLOADS


def add_photos(request: Request, user: str, files: list[tuple[str, bytes]]) -> Job:
    """Store the photos and start classifying them; returns the job."""
    folder = uploads_folder(request)
    writer(request)  # a read-only catalog fails here, before anything is stored
    jobs: Jobs = state(request).jobs
    job = jobs.new(user)
    for name, data in files:
        try:
            stored, new = store(folder, data, name)
        except UnreadableImage as err:
            job.refused.append((name, str(err)))
            continue
        except OSError as err:  # a full or read-only disk: nothing half-written stays (see store)
            job.refused.append((name, _("could not be stored ({why})", why=err.strerror or type(err).__name__)))
            continue
        (job.stored if new else job.duplicates).append(stored if new else name)
    if job.stored or job.duplicates:  # a photo kept by an earlier, failed job is classified now
        jobs.start(lambda: _classify(request, job, folder))
    else:
        job.done = True
    return job


@router.get("/upload", response_class=HTMLResponse)
def upload_form(request: Request) -> Response:
    session = session_of(request)
    if session is None or session.user is None:
        return RedirectResponse("/login?next=/upload", status_code=303)
    return page(request, "upload.html", {"has_library": state(request).settings.library is not None})


@router.post("/upload")
async def upload(
    request: Request, files: Annotated[list[UploadFile], File()], csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    session = await run_in_threadpool(logged_in, request, csrf)  # a catalog query: off the event loop
    assert session.user is not None
    if len(files) > MAX_BATCH_FILES:
        raise HTTPException(413, _("at most {n} photos at once", n=MAX_BATCH_FILES))
    limit = state(request).settings.max_upload_bytes
    received = []
    for file in files:
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise HTTPException(413, upload_limit_message(state(request).settings))
        if data:
            received.append((shown_name(file.filename), data))
    if not received:
        raise HTTPException(400, _("choose a photo first"))
    job = await run_in_threadpool(add_photos, request, session.user.name, received)  # decoding: off the loop
    return RedirectResponse(f"/upload/{job.id}", status_code=303)


@router.get("/upload/{job_id}", response_class=HTMLResponse)
def upload_progress(request: Request, job_id: str) -> Response:
    job = state(request).jobs.get(job_id)
    session = session_of(request)
    if job is None or session is None or session.user is None or session.user.name != job.user:
        raise HTTPException(404, _("there is no such upload here"))
    return page(request, "upload_job.html", {"job": job})

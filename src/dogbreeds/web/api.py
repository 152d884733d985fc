"""The JSON API, for scripts and the next front ends; its schema is at ``/openapi.json``.

``POST /api/predict`` answers with the very object ``dogbreeds predict --json`` prints for one photo
(:meth:`Prediction.to_dict` through :func:`~dogbreeds.core.files.json_ready`); the catalog routes use the stable
English keys and breed ids of ``dogbreeds export``, with names in the visitor's language beside them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Query, Request, UploadFile
from starlette.exceptions import HTTPException

from dogbreeds.catalog.stats import catalog_stats
from dogbreeds.core.breeds import UnknownBreedError
from dogbreeds.core.files import json_ready
from dogbreeds.core.i18n import _
from dogbreeds.web import library, thumbs
from dogbreeds.web.app import read_upload, state
from dogbreeds.web.pages import catalog
from dogbreeds.web.settings import TOP_K

router = APIRouter(prefix="/api", tags=["api"])
MAX_PER_PAGE = 500


@router.post("/predict")
async def predict(
    request: Request, file: Annotated[UploadFile | None, File(description="the photo")] = None,
    top_k: Annotated[int, Query(ge=1, le=1000, description="how many breeds to list")] = TOP_K,
) -> Any:  # fmt: skip
    """The breed of one photo: the object ``dogbreeds predict --json`` prints for it. A file that is not a
    readable photo is refused with 415 and the decoder's reason."""
    data, name = await read_upload(request, file)
    found = await state(request).worker.identify(data, name, top_k=top_k)
    if found.prediction.error is not None:
        raise HTTPException(415, _("not a photo dogbreeds can read: {why}", why=found.prediction.error))
    return json_ready(found.prediction.to_dict())


@router.get("/photos")
def photos(
    request: Request,
    breed: Annotated[str | None, Query(description="a breed name in English or French, or its id")] = None,
    verdict: Annotated[str | None, Query(description="final verdict: " + ", ".join(library.VERDICTS))] = None,
    review: Annotated[str | None, Query(description="reviewed, or waiting (the review queue, in its order)")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
) -> Any:
    """Photos of the catalog by final answer (a volunteer's decision, else the model's), a page at a time."""
    if verdict and verdict not in library.VERDICTS or review and review not in library.REVIEW_STATES:
        raise HTTPException(422, _("unknown filter: choose one from the lists"))
    try:
        breed_id = library.find_breed(breed) if breed else None
    except UnknownBreedError as err:
        raise HTTPException(422, str(err)) from None
    found = library.browse(catalog(request), library.PhotoFilter(breed_id, verdict, review), page=page,
                           size=per_page)  # fmt: skip
    where = state(request).settings.library
    return json_ready({"page": found.number, "per_page": found.size, "total": found.total, "pages": found.pages,
                       "photos": [library.summary(r, where) for r in found.rows]})  # fmt: skip


@router.get("/photos/{photo_id}")
def photo(request: Request, photo_id: str) -> Any:
    """One photo by content hash (its ``id``): the model's answer, the final answer, every review."""
    record = library.photo(catalog(request), photo_id) if thumbs.SHA256.fullmatch(photo_id) else None
    if record is None:
        raise HTTPException(404, _("there is no such photo in the catalog"))
    return json_ready(library.details(record, state(request).settings.library))


@router.get("/stats")
def stats(request: Request) -> Any:
    """What ``dogbreeds stats --json`` prints: photos per final verdict and breed, review progress."""
    return json_ready(catalog_stats(catalog(request)).to_dict())

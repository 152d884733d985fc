"""Identify one uploaded photo: decoded by its content (never by its name), run on the one shared Predictor.

The same steps as ``Predictor.predict_paths`` (decode at the model's framing, ``transform``, ``run_pixels``,
``describe``), only from bytes in memory, so the page, ``/api/predict`` and ``dogbreeds predict`` give one answer.
Model calls go through :class:`ModelWorker`: one at a time, on a thread of its own, so the event loop keeps
serving pages while a photo is being identified.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import functools
import io
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from dogbreeds.data.images import IMAGE_SUFFIXES, UnreadableImage, read_photo
from dogbreeds.inference.predictor import Prediction, Predictor

PREVIEW_PIXELS = 480  # the longer side of the photo shown beside the answer
MAX_NAME = 120


@dataclass(frozen=True)
class Identified:
    """The answer for one upload, and a small copy of the photo to show beside it (None when unreadable)."""

    prediction: Prediction
    preview: str | None  # a data: URI, so the page needs no second request and the upload is never stored


def shown_name(filename: str | None) -> str:
    """The client's file name as text to show: its last component only, printable, short. It never becomes a path
    on the server: uploads are decoded from memory and not written anywhere."""
    last = re.split(r"[\\/]", filename or "")[-1]
    clean = "".join(c for c in last if c.isprintable()).strip()[:MAX_NAME]
    return clean or "photo"


def _decoder_name(name: str) -> Path:
    """What the decoder is told the file is called: only a known image suffix survives (it enables HEIC and
    words the refusal of a file that is not a photo)."""
    suffix = Path(name).suffix.lower()
    return Path("upload" + (suffix if suffix in IMAGE_SUFFIXES else ""))


def preview_uri(image: Image.Image) -> str:
    small = image.copy()
    small.thumbnail((PREVIEW_PIXELS, PREVIEW_PIXELS))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def identify(predictor: Predictor, data: bytes, name: str, *, top_k: int) -> Identified:
    """Decode ``data`` and predict it; an unreadable upload comes back with the decoder's one-line reason, the way
    ``predict_paths`` reports an unreadable file."""
    try:
        photo = read_photo(_decoder_name(name), min_size=predictor.card.preprocess.resize_to, data=data)
    except UnreadableImage as err:
        return Identified(Prediction(path=name, error=str(err)), None)
    out = predictor.run_pixels(predictor.transform(photo.image)[None])
    prediction = predictor.describe(name, out.probabilities[0], out.dog_probability[0], top_k)
    return Identified(prediction, preview_uri(photo.image))


class ModelWorker:
    """The shared Predictor behind a single thread: ONNX Runtime already spreads one call over every core, so
    calls in parallel would only fight over them and multiply memory; queued, each finishes sooner."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dogbreeds-model")

    async def identify(self, data: bytes, name: str, *, top_k: int) -> Identified:
        """:func:`identify` off the event loop, in the request's context (its language, for the messages)."""
        call = functools.partial(identify, self.predictor, data, name, top_k=top_k)
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._pool, context.run, call)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

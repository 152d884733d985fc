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
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dogbreeds.core.errors import ModelCardError
from dogbreeds.core.verdicts import NOT_A_DOG
from dogbreeds.data.images import IMAGE_SUFFIXES, UnreadableImage, read_photo
from dogbreeds.inference.explain import Explainer, Explanation, overlay
from dogbreeds.inference.predictor import Prediction, Predictor

log = logging.getLogger(__name__)

PREVIEW_PIXELS = 480  # the longer side of the photo shown beside the answer
MAX_NAME = 120


@dataclass(frozen=True)
class Identified:
    """The answer for one upload, and a small copy of the photo to show beside it (None when unreadable)."""

    prediction: Prediction
    preview: str | None  # a data: URI, so the page needs no second request and the upload is never stored
    heatmap: str | None = None  # the same, for the heat-map over the model's view (None: not asked, or no dog)


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


def image_uri(image: Image.Image) -> str:
    small = image.copy()
    small.thumbnail((PREVIEW_PIXELS, PREVIEW_PIXELS))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def identify(
    predictor: Predictor, data: bytes, name: str, *, top_k: int, explainer: Explainer | None = None
) -> Identified:
    """Decode ``data`` and predict it; an unreadable upload comes back with the decoder's one-line reason, the way
    ``predict_paths`` reports an unreadable file. With ``explainer``, the heat-map of the predicted breed (a model
    that cannot draw one just answers without it). The answer is the predictor's, as in the catalog; the map
    comes from the fp32 graph, so a predictor running that very graph on ONNX Runtime answers from the same run."""
    try:
        photo = read_photo(_decoder_name(name), min_size=predictor.card.preprocess.resize_to, data=data)
    except UnreadableImage as err:
        return Identified(Prediction(path=name, error=str(err)), None)
    view = predictor.transform(photo.image)
    same_run = predictor.backend == "onnx" and predictor.path == predictor.reference_path
    explanation = _explain(explainer, view, None) if same_run else None
    out = explanation.output if explanation is not None else predictor.run_pixels(view[None])
    prediction = predictor.describe(name, out.probabilities[0], out.dog_probability[0], top_k, out.known(0))
    if explanation is None and not same_run and prediction.verdict != NOT_A_DOG:
        explanation = _explain(explainer, view, int(np.argmax(out.probabilities[0])))
    heatmap = None
    if explanation is not None and prediction.verdict != NOT_A_DOG:  # no breed evidence to show in a non-dog
        heatmap = image_uri(overlay(explanation))
    return Identified(prediction, image_uri(photo.image), heatmap)


def _explain(explainer: Explainer | None, view: np.ndarray, breed_index: int | None) -> Explanation | None:
    if explainer is None:
        return None
    try:
        return explainer.explain_view(view, breed_index)
    except ModelCardError as err:
        log.info("%s", err)
        return None


class ModelWorker:
    """The shared Predictor behind a single thread: the runtime already spreads one call over every core, so
    calls in parallel would only fight over them and multiply memory; queued, each finishes sooner."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        # Upload jobs classify on a thread of their own with the same predictor: its runner takes one call at a
        # time (an OpenVINO infer request refuses a second caller; ONNX Runtime's would only fight for the cores)
        lock = getattr(predictor, "model_lock", None)
        if lock is None:  # once per predictor, however many apps share it
            lock = threading.Lock()
            runner = predictor.runner

            def one_at_a_time(pixels: Any) -> Any:
                with lock:
                    return runner(pixels)

            predictor.runner = one_at_a_time
            predictor.model_lock = lock  # type: ignore[attr-defined]
        self.lock = lock
        self.explainer = Explainer(predictor, lock=self.lock)  # its session is made on first use
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dogbreeds-model")

    async def identify(self, data: bytes, name: str, *, top_k: int, explain: bool = False) -> Identified:
        """:func:`identify` off the event loop, in the request's context (its language, for the messages); with
        ``explain``, with the heat-map."""
        explainer = self.explainer if explain else None
        call = functools.partial(identify, self.predictor, data, name, top_k=top_k, explainer=explainer)
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._pool, context.run, call)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

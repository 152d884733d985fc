"""The one inference core: photos in, breeds, probabilities and verdicts out, on ONNX Runtime.

Behind ``dogbreeds predict``, ``evaluate`` and every later front end. Imports neither torch nor timm, so a cold
``dogbreeds predict photo.jpg`` answers in about a second.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.breeds import IMAGENET_OF
from dogbreeds.core.card import ONNX_NAME, ModelCard, load_card
from dogbreeds.core.errors import DogbreedsError, ModelCardError, NotFoundError
from dogbreeds.core.i18n import _
from dogbreeds.core.metrics import below_confidence, softmax
from dogbreeds.core.parallel import BATCH_SIZE, batched, map_ahead
from dogbreeds.core.transforms import pixels
from dogbreeds.core.verdicts import (
    DOG,
    NOT_A_DOG,
    OTHER_BREED,
    UNREADABLE,
    UNSURE,
    dog_mass,
    familiarity,
    familiarity_inputs,
    judge,
)  # fmt: skip
from dogbreeds.data.images import UnreadableImage, load_rgb
from dogbreeds.inference.backends import AUTO, QUANTIZED_FOR, open_runner, openvino_installed, resolve_runtime
from dogbreeds.inference.retrieval import Projection, load_projection

__all__ = ["DOG", "NOT_A_DOG", "OTHER_BREED", "UNREADABLE", "UNSURE", "Prediction", "Predictor"]

log = logging.getLogger(__name__)


def default_model_path() -> Path:
    """The model shipped inside the package."""
    return Path(str(resources.files("dogbreeds") / "assets" / "default.onnx"))


def default_int8_path() -> Path:
    """The shipped model's int8 copy for OpenVINO (``dogbreeds quantize --runtime openvino``), run by default."""
    return Path(str(resources.files("dogbreeds") / "assets" / "default.int8.onnx"))


def resolve_model_path(model: str | Path | None) -> Path:
    """``None`` -> the shipped model; a checkpoint folder -> its ``model.onnx``; an ``.onnx`` file as is."""
    if model is None:
        return default_model_path()
    path = Path(model)
    if path.is_dir():
        path = path / ONNX_NAME
        if not path.exists():
            raise NotFoundError(
                _(
                    "{model} has no {ONNX_NAME}: run `dogbreeds export-onnx --model {model}`",
                    model=model,
                    ONNX_NAME=ONNX_NAME,
                )
            )
    if not path.exists():
        raise NotFoundError(_("no model at {path}", path=path))
    return path


def runtime_model(model: str | Path | None, backend: str = AUTO, precision: str = AUTO) -> tuple[Path, str, str]:
    """The model file a Predictor with these options runs (the shipped model's int8 copy when ``auto`` picks it),
    and the backend and precision it runs with: what ``similar`` needs to find the catalog's rows of that model."""
    int8 = default_int8_path() if model is None and default_int8_path().exists() else None
    if backend == AUTO and model is not None:  # an int8 copy runs on the runtime it was made for, where installed
        made_for = QUANTIZED_FOR.get(load_card(resolve_model_path(model)).model_args.get("quantization", ""), AUTO)
        backend = made_for if made_for != "openvino" or openvino_installed() else AUTO
    backend, precision, use_int8 = resolve_runtime(backend, precision, int8_copy=int8)
    return (int8 if use_int8 and int8 is not None else resolve_model_path(model)), backend, precision


@dataclass
class Prediction:
    """What the tool says about one photo (``breed`` is the canonical id, probabilities are calibrated)."""

    path: str
    breed: str | None = None
    name: str | None = None
    probability: float | None = None
    top_k: list[dict[str, Any]] = field(default_factory=list)
    verdict: str = UNREADABLE
    dog_probability: float | None = None
    error: str | None = None
    familiarity: float | None = None  # how much it looks like a breed the model knows (None: cannot tell)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchOutput:
    """Raw outputs for a batch of photos: calibrated breed probabilities and the ImageNet dog mass."""

    probabilities: np.ndarray  # N x 120
    dog_probability: np.ndarray  # N; NaN for a model without an ImageNet head (it cannot say "not a dog")
    logits: np.ndarray  # N x 120, before temperature
    features: np.ndarray | None = None  # N x D pooled embeddings (what `similar` compares); None if not an output
    familiarity: np.ndarray | None = None  # N, from 0 to 1 (NaN: cannot tell); None for a model without open_set

    def known(self, row: int) -> float | None:
        """Photo ``row``'s familiarity, or None where the model cannot tell."""
        return None if self.familiarity is None else float(self.familiarity[row])


class Predictor:
    """Loads a model once; predicts photos or preprocessed arrays in batches."""

    def __init__(
        self, model: str | Path | None = None, *, threads: int | None = None, backend: str = AUTO,
        precision: str = AUTO,
    ) -> None:  # fmt: skip
        """``backend`` and ``precision`` ``auto``: see :func:`~dogbreeds.inference.backends.resolve_runtime` (the
        shipped model runs its int8 copy on OpenVINO; :attr:`reference_path` stays the fp32 model, which the
        heat-maps are drawn from)."""
        self.reference_path = resolve_model_path(model)
        asked, asked_precision = backend, precision
        self.path, backend, precision = runtime_model(model, backend, precision)
        self.card: ModelCard = load_card(self.path)
        made_for = QUANTIZED_FOR.get(self.card.model_args.get("quantization", ""))
        if made_for and made_for != backend:
            log.warning(_("{path} is an int8 copy made for --backend {made_for}; on {backend} it may run slower "
                          "than the fp32 model", path=self.path, made_for=made_for, backend=backend))  # fmt: skip
        try:
            self.runner = open_runner(self.path, self.card.preprocess, backend=backend, precision=precision,
                                      threads=threads)  # fmt: skip
        except DogbreedsError:
            raise  # our own refusals (a CPU without bfloat16...) are the user's to hear
        except Exception as err:  # OpenVINO's own error types: the automatic choice must not strand anyone
            if asked != AUTO or asked_precision not in (AUTO, "fp32") or backend != "openvino":
                raise
            log.warning(_("OpenVINO cannot run the model here ({why}); running {path} on ONNX Runtime",
                          why=str(err).splitlines()[0] if str(err) else type(err).__name__,
                          path=self.reference_path.name))  # fmt: skip
            self.path, backend, precision = self.reference_path, "onnx", "fp32"
            self.card = load_card(self.path)
            self.runner = open_runner(self.path, self.card.preprocess, backend=backend, threads=threads)
        self.backend, self.precision = backend, precision
        self.transform = functools.partial(pixels, cfg=self.card.preprocess)  # photo -> what run_pixels takes
        self.imagenet_index = np.array([IMAGENET_OF.get(c, -1) for c in self.card.classes])

    def run_pixels(self, batch: np.ndarray) -> BatchOutput:
        """Run a batch of :attr:`transform` outputs (uint8, N x H x W x 3); the backend normalises it.

        With the card's ``mirror_below``, the photos whose top probability is under it go through the model a
        second time as mirror images and get the mean of both passes' outputs: every output is linear in the
        pooled features, so that is exactly what a flip-averaging graph computes, for the photos where it
        can change the answer.
        """
        out = self.runner(batch)
        if "breed_logits" in out:
            again = np.flatnonzero(self.needs_mirror(out["breed_logits"]))
            if len(again):
                mirrored = self.runner(np.ascontiguousarray(batch[again, :, ::-1]))
                for name, values in mirrored.items():
                    out[name][again] = (out[name][again] + values) / 2
        return self.batch_output(out)

    def needs_mirror(self, breed_logits: np.ndarray) -> np.ndarray:
        """Which photos of a one-pass batch get the second pass on their mirror image (the card's
        ``mirror_below``; none for a card without it): the one rule behind the Predictor and the heat-maps."""
        if self.card.mirror_below <= 0:
            return np.zeros(len(breed_logits), dtype=bool)
        return below_confidence(breed_logits, self.card.temperature, self.card.mirror_below)

    def batch_output(self, out: dict[str, np.ndarray]) -> BatchOutput:
        """The model's raw outputs by name -> calibrated probabilities, dog mass, logits and features."""
        logits = out["breed_logits"]
        if logits.shape[-1] != len(self.card.classes):
            raise ModelCardError(_("{path}: the card names {n} breeds but the model has {m} outputs",
                                   path=self.path, n=len(self.card.classes), m=logits.shape[-1]))  # fmt: skip
        probs = softmax(logits / self.card.temperature)
        dog = dog_mass(out["imagenet_logits"]) if "imagenet_logits" in out else np.full(len(logits), np.nan)
        known = None
        if self.card.open_set.weights and "imagenet_logits" in out:
            inputs = familiarity_inputs(probs, logits, out["imagenet_logits"], self.imagenet_index)
            known = familiarity(inputs, self.card.open_set)
        return BatchOutput(probs, dog, logits, out.get("features"), known)

    def embed_paths(self, paths: list[str | Path], *, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """The pooled embeddings of photos (N x D; a photo that cannot be read raises its UnreadableImage)."""
        rows = [self.run_pixels(np.stack([self.load(p) for p in part])) for part in batched(iter(paths), batch_size)]
        vectors = [self.embedding(r) for r in rows]
        if any(v is None for v in vectors):
            raise ModelCardError(_("{path} gives no embeddings (no 'features' output)", path=self.path))
        return np.concatenate([v for v in vectors if v is not None])

    def embedding(self, out: BatchOutput) -> np.ndarray | None:
        """What the catalog stores and ``similar`` compares: the features through the card's retrieval projection
        (:mod:`dogbreeds.inference.retrieval`), or the raw features of a model without one."""
        if out.features is None:
            return None
        return self.projection(out.features) if self.projection is not None else out.features

    @functools.cached_property
    def names(self) -> list[str]:
        """The card's breed names, made once (every described photo needs them)."""
        return self.card.names

    @functools.cached_property
    def projection(self) -> Projection | None:
        """The card's retrieval projection (read on first use: predict never needs it); None: the raw features."""
        return load_projection(self.card)

    @property
    def embedding_dims(self) -> int | None:
        """The dimensions of :meth:`embedding` when the card fixes them (a projection), else None."""
        return self.projection.dims if self.projection is not None else None

    def load(self, path: str | Path) -> np.ndarray:
        return self.transform(load_rgb(path, min_size=self.card.preprocess.resize_to))

    def verdict(self, probs: np.ndarray, dog_probability: float, known: float | None = None) -> str:
        top = np.sort(probs)[::-1]
        margin = float(top[0] - top[1]) if len(top) > 1 else float(top[0])
        return judge(float(top[0]), margin, float(dog_probability), self.card.verdicts, known)

    def describe(
        self, path: str, probs: np.ndarray, dog_probability: float, top_k: int, known: float | None = None
    ) -> Prediction:
        order = np.argsort(-probs)[:top_k]
        known = None if known is None or np.isnan(known) else float(known)
        classes, names = self.card.classes, self.names
        return Prediction(
            path=path,
            breed=classes[order[0]],
            name=names[order[0]],
            probability=float(probs[order[0]]),
            top_k=[{"breed": classes[i], "name": names[i], "probability": float(probs[i])} for i in order],
            verdict=self.verdict(probs, dog_probability, known),
            dog_probability=None if np.isnan(dog_probability) else float(dog_probability),
            familiarity=known,
        )

    def predict_paths(
        self, paths: Iterable[str | Path], *, top_k: int = 5, batch_size: int = BATCH_SIZE
    ) -> Iterator[Prediction]:
        """Predictions in input order; unreadable photos come back with ``verdict="unreadable"`` and the reason."""
        files = [str(p) for p in paths]

        def load(p: str) -> np.ndarray | str:
            try:
                return self.load(p)
            except UnreadableImage as err:
                return str(err)

        loaded = map_ahead(lambda p: (p, load(p)), files, ahead=4 * batch_size)
        for batch in batched(loaded, batch_size):
            good = [a for _, a in batch if not isinstance(a, str)]
            out = self.run_pixels(np.stack(good)) if good else None
            row = 0
            for p, a in batch:
                if isinstance(a, str):
                    yield Prediction(path=p, error=a)
                else:
                    assert out is not None
                    yield self.describe(p, out.probabilities[row], out.dog_probability[row], top_k, out.known(row))
                    row += 1

"""Transforms as pure factory functions.

Evaluation preprocessing is NumPy + Pillow only, in two steps: :func:`pixels` (resize, centre crop) and
:func:`normalise_pixels`. The inference path (predict, evaluate, classify) runs them without ever importing torch;
feature extraction runs the same two steps (:func:`eval_transform`), so a model sees the pixels its head was
fitted on (the shipped head was fitted before :func:`resize_center_crop` computed only the kept pixels: up to 2
levels apart on about one value in 1,000 of its 260-pixel inputs). The training transform is built from
torchvision lazily.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _

Box = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in the annotation's pixel frame
_INTERPOLATION = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


@dataclass(frozen=True)
class Preprocess:
    """What a model needs done to a photo; travels inside every checkpoint and model card."""

    input_size: int = 224
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bicubic"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(map(float, self.mean)))  # hashable: normalising tables are cached
        object.__setattr__(self, "std", tuple(map(float, self.std)))
        if self.interpolation not in _INTERPOLATION:
            raise UsageError(
                _(
                    "interpolation must be one of {INTERPOLATION}, not {interpolation!r}",
                    INTERPOLATION=sorted(_INTERPOLATION),
                    interpolation=self.interpolation,
                )
            )
        if not 0 < self.crop_pct <= 1:
            raise UsageError(_("crop_pct must be in (0, 1], not {crop_pct}", crop_pct=self.crop_pct))

    @property
    def resize_to(self) -> int:
        """Shorter side before the centre crop (timm's ``size / crop_pct``)."""
        return int(math.floor(self.input_size / self.crop_pct))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocess:
        return cls(**{**d, "mean": tuple(d.get("mean", cls.mean)), "std": tuple(d.get("std", cls.std))})


def crop_to_box(
    img: Image.Image, box: Box, *, frame: tuple[int, int] | None = None, margin: float = 0.1
) -> Image.Image:
    """Crop to an annotated box, keeping up to ``margin`` of the box size around it where the photo allows.

    ``frame`` is the (width, height) the box was drawn on; boxes are rescaled when the photo was resized since.
    """
    w, h = img.size
    sx, sy = (w / frame[0], h / frame[1]) if frame else (1.0, 1.0)
    x0, y0, x1, y1 = box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    left, top = max(0, math.floor(x0 - mx)), max(0, math.floor(y0 - my))
    right, bottom = min(w, math.ceil(x1 + mx)), min(h, math.ceil(y1 + my))
    if right - left < 2 or bottom - top < 2:
        return img  # a degenerate box would leave nothing of the dog
    return img.crop((left, top, right, bottom))


# Part of every cache key of framed pixels (embeddings, decoded training photos): a change in how photos are framed
# must not reuse what the old way made.
FRAMING = "torchvision-sizes/box-passes-1"


def resize_center_crop(img: Image.Image, cfg: Preprocess) -> Image.Image:
    """Resize the shorter side to ``cfg.resize_to`` and cut the centre ``input_size`` square (timm's evaluation
    framing), computing only the pixels that are kept.

    Two one-way resizes over boxes, horizontal first as Pillow orders a whole resize, give the pixels of the whole
    resize then crop, except where floating-point rounding moves a filter window's edge: at most 2 levels on about one
    value in 10,000 of Stanford-sized photos (tested against timm), in less time (docs/results.md). A single box resize
    is no substitute: Pillow runs its vertical pass first there, which rounds differently (up to 13 levels).
    """
    w, h = img.size
    longer = int(cfg.resize_to * max(w, h) / min(w, h))  # torchvision's Resize(int) sizes, its CenterCrop offsets
    nw, nh = (longer, cfg.resize_to) if w >= h else (cfg.resize_to, longer)
    left, top = int(round((nw - cfg.input_size) / 2.0)), int(round((nh - cfg.input_size) / 2.0))
    size, resample = cfg.input_size, _INTERPOLATION[cfg.interpolation]
    rows = img.resize((size, h), resample, box=(left * w / nw, 0, (left + size) * w / nw, h))
    return rows.resize((size, size), resample, box=(0, top * h / nh, size, (top + size) * h / nh))


def pixels(img: Image.Image, cfg: Preprocess) -> np.ndarray:
    """The model's view of a photo as uint8 HWC RGB (resized and centre-cropped, not yet normalised).

    Inference batches travel as these: four times smaller than floats, and a runtime that normalises inside its
    graph (OpenVINO) never needs the float copy at all.
    """
    return np.asarray(resize_center_crop(img, cfg))


def normalise_pixels(batch: np.ndarray, cfg: Preprocess) -> np.ndarray:
    """uint8 NHWC RGB -> float32 NCHW, ``(x / 255 - mean) / std``, through a 256-entry table per channel.

    The table holds exactly what the arithmetic gives for each of the 256 values, so the result is bitwise the
    same; one lookup into a preallocated array replaces four full-size temporaries.
    """
    check_pixels(batch)
    out = np.empty((batch.shape[0], 3, *batch.shape[1:3]), np.float32)
    for c, table in enumerate(_normalise_tables(cfg.mean, cfg.std)):
        np.take(table, batch[..., c], out=out[:, c], mode="clip")  # uint8 indices never clip
    return out


def check_pixels(batch: np.ndarray) -> None:
    """Refuse anything but a uint8 RGB batch, in words, before a runtime fails on it in its own."""
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3:
        raise TypeError(f"expected uint8 pixels of shape (N, H, W, 3), got {batch.dtype} {batch.shape}")


@functools.cache
def _normalise_tables(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    levels = np.arange(256, dtype=np.float32) * (1.0 / 255.0)
    return (levels[None] - np.asarray(mean, np.float32)[:, None]) / np.asarray(std, np.float32)[:, None]


def eval_transform(cfg: Preprocess) -> Callable[[Image.Image], np.ndarray]:
    """The evaluation transform as floats, for PyTorch: feature extraction, the eager baseline. The inference path
    (predict, evaluate, classify) runs :func:`pixels` and lets its runtime normalise the batch the same way."""

    def transform(img: Image.Image) -> np.ndarray:
        return normalise_pixels(pixels(img, cfg)[None], cfg)[0]

    return transform

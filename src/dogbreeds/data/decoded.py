"""Photos decoded once into one uint8 array, so training epochs never touch a JPEG decoder again.

On 2 cores, decoding and resizing a 224 px JPEG costs about as much as a training step of a small CNN on it:
decoding every epoch would halve the speed. 12,000 photos at 128 px are 590 MB, at 260 px 2.4 GB; the array is
cached on disk (keyed by the photos and the preprocessing) and loaded by later runs.

Each photo is framed by :func:`~dogbreeds.core.transforms.resize_center_crop`, the evaluation transform's own resize,
so what a network trains on is what ``predict`` later shows it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from dogbreeds.core.errors import DogbreedsError
from dogbreeds.core.files import printable
from dogbreeds.core.i18n import _
from dogbreeds.core.parallel import map_ahead
from dogbreeds.core.progress import progress
from dogbreeds.core.transforms import FRAMING, Preprocess, crop_to_box, resize_center_crop
from dogbreeds.data.images import UnreadableImage, load_rgb
from dogbreeds.data.samples import Sample

log = logging.getLogger(__name__)


def frame_sample(sample: Sample, preprocess: Preprocess) -> np.ndarray:
    """One training photo as training stores it: cropped to its annotated box when it has one (Stanford's
    ``Images/``, as the crops are), then framed by the evaluation resize (uint8, S x S x 3).

    Raises:
        UnreadableImage: the photo cannot be read.
    """
    image = load_rgb(sample.path, min_size=preprocess.resize_to)
    if sample.box is not None:
        image = crop_to_box(image, sample.box, frame=sample.box_frame)
    return np.asarray(resize_center_crop(image, preprocess), dtype=np.uint8)


def decode_samples(
    samples: list[Sample],
    preprocess: Preprocess,
    *,
    cache_dir: Path | None = None,
    workers: int = 2,
    desc: str = "decoding",
) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, S, S, 3) uint8, labels (N,) int64)`` framed as ``preprocess`` frames a photo for evaluation
    (S is its ``input_size``); unreadable photos are dropped with a warning."""
    size = preprocess.input_size
    path = None
    if cache_dir is not None:
        described = "\n".join(f"{s.path}\t{s.label}\t{s.box}" for s in samples)
        described += json.dumps(preprocess.to_dict(), sort_keys=True) + FRAMING
        key = hashlib.sha256(described.encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"decoded-{key}-{size}.npz"
        if path.exists():
            with np.load(path) as cached:
                return cached["images"], cached["labels"]

    def decode(sample: Sample) -> np.ndarray | None:
        try:
            return frame_sample(sample, preprocess)
        except UnreadableImage as err:
            log.warning(_("skipping {path}: {why}", path=printable(sample.path), why=err))
            return None

    images = np.empty((len(samples), size, size, 3), np.uint8)
    keep = np.zeros(len(samples), bool)
    with progress(desc, total=len(samples), unit=_("photos")) as bar:
        for i, pixels in enumerate(map_ahead(decode, samples, workers=workers)):
            if pixels is not None:
                images[i], keep[i] = pixels, True
            bar.advance()
    if not keep.any():
        raise DogbreedsError(_("no readable photo among the training samples"))
    images, labels = images[keep], np.array([s.label for s in samples], np.int64)[keep]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, images=images, labels=labels)
        os.replace(tmp, path)
    return images, labels

"""Photos decoded once into one uint8 array, so training epochs never touch a JPEG decoder again.

On 2 cores, decoding and resizing a 224 px JPEG costs about as much as a training step of a small CNN on it:
decoding every epoch would halve the speed. 12,000 photos at 128 px are 590 MB, at 260 px 2.4 GB; the array is
cached on disk (keyed by the photos' fingerprint and the size) and memory-mapped by later runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from dogbreeds.data.images import UnreadableImage, load_rgb
from dogbreeds.data.samples import Sample
from dogbreeds.parallel import map_ahead
from dogbreeds.progress import progress
from dogbreeds.transforms import crop_to_box

log = logging.getLogger(__name__)


def square_resize(image: Image.Image, size: int, interpolation: str = "bilinear") -> np.ndarray:
    """Shorter side to ``size`` (antialiased), centre crop to a square: the framing of ``crop_pct=1`` evaluation."""
    w, h = image.size
    scale = size / min(w, h)
    resample = Image.Resampling.BICUBIC if interpolation == "bicubic" else Image.Resampling.BILINEAR
    resized = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), resample)
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    return np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.uint8)


def decode_samples(
    samples: list[Sample],
    size: int,
    *,
    interpolation: str = "bilinear",
    cache_dir: Path | None = None,
    workers: int = 2,
    desc: str = "decoding",
) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, size, size, 3) uint8, labels (N,) int64)``; unreadable photos are dropped with a warning."""
    path = None
    if cache_dir is not None:
        described = "\n".join(f"{s.path}\t{s.label}\t{s.box}" for s in samples)
        key = hashlib.sha256(described.encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"decoded-{key}-{size}{'' if interpolation == 'bilinear' else '-' + interpolation}.npz"
        if path.exists():
            with np.load(path) as cached:
                return cached["images"], cached["labels"]

    def decode(sample: Sample) -> np.ndarray | None:
        try:
            image = load_rgb(sample.path, min_size=size)
            if sample.box is not None:  # Stanford's Images/: train on the annotated dog, as the crops do
                image = crop_to_box(image, sample.box, frame=sample.box_frame)
            return square_resize(image, size, interpolation)
        except UnreadableImage as err:
            log.warning("skipping %s: %s", sample.path, err)
            return None

    images = np.empty((len(samples), size, size, 3), np.uint8)
    keep = np.zeros(len(samples), bool)
    with progress(desc, total=len(samples), unit="photos") as bar:
        for i, pixels in enumerate(map_ahead(decode, samples, workers=workers)):
            if pixels is not None:
                images[i], keep[i] = pixels, True
            bar.advance()
    if not keep.any():
        raise ValueError("no readable photo among the training samples")
    images, labels = images[keep], np.array([s.label for s in samples], np.int64)[keep]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, images=images, labels=labels)
        os.replace(tmp, path)
    return images, labels

"""Transfer learning, step one: pooled embeddings computed once and cached on disk.

Embeddings are computed with ONNX Runtime on an exported copy of the backbone (faster than PyTorch eager on a small CPU,
and the very graph the shipped model runs; docs/results.md). Each photo's embedding is cached under a key made of its
file content, the backbone, the preprocessing, the box crop and the flip setting, so a second run (or a run with new
photos added) only computes what is new. The cache is written in chunks as it goes: an interrupted run keeps what it
finished.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.files import content_hash, printable, user_cache_dir
from dogbreeds.core.i18n import _
from dogbreeds.core.parallel import batched, map_ahead
from dogbreeds.core.progress import progress
from dogbreeds.core.transforms import FRAMING, Preprocess, crop_to_box, eval_transform
from dogbreeds.data.images import UnreadableImage, load_rgb
from dogbreeds.data.samples import Sample
from dogbreeds.inference.onnx_session import open_session, run_session

log = logging.getLogger(__name__)
CHUNK = 512


def default_cache_dir() -> Path:
    return user_cache_dir()


@dataclass
class Embeddings:
    """Embeddings of a list of samples; rows of unreadable photos are dropped and their reasons kept."""

    features: np.ndarray  # N x D float32, of the photo as it is
    labels: np.ndarray  # N int64
    paths: list[Path]
    errors: dict[str, str]
    flipped: np.ndarray | None = None  # N x D, of the mirrored photo, when the spec asks for flips

    @property
    def averaged(self) -> np.ndarray:
        """Flip-averaged embeddings (a cheap, reliable test-time augmentation), or the plain ones."""
        return self.features if self.flipped is None else (self.features + self.flipped) / 2


@dataclass(frozen=True)
class BackboneSpec:
    """Which backbone, with which weights and preprocessing: the part of the cache key that is not the photo.

    ``weights`` is a digest of the weights themselves (see :func:`weights_digest`), not where they came from:
    two random initialisations, or two versions of a hub checkpoint, never share cached embeddings.
    """

    name: str
    weights: str
    preprocess: Preprocess
    flip: bool = False
    box_margin: float = 0.1

    @property
    def key(self) -> str:
        blob = json.dumps([self.name, self.weights, self.preprocess.to_dict(), self.flip, self.box_margin, FRAMING])
        return f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


class EmbeddingCache:
    """Append-only chunks of (key, embedding) rows under ``root/<spec key>/``."""

    def __init__(self, root: Path, spec: BackboneSpec) -> None:
        self.folder = root / "features" / spec.key
        self.rows: dict[str, np.ndarray] = {}
        for chunk in sorted(self.folder.glob("chunk-*.npz")):
            try:
                with np.load(chunk) as z:
                    self.rows.update(zip(z["keys"].tolist(), z["features"], strict=True))
            except Exception as err:  # a chunk cut short by a kill: recompute its rows
                log.warning(_("ignoring a damaged cache chunk {chunk}: {why}", chunk=chunk, why=err))

    def add(self, keys: list[str], features: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rows.update(zip(keys, features, strict=True))
        name = f"chunk-{len(list(self.folder.glob('chunk-*.npz'))):06d}-{os.getpid()}"
        tmp = self.folder / f".{name}.npz"
        np.savez(tmp, keys=np.array(keys), features=features.astype(np.float32))
        os.replace(tmp, self.folder / f"{name}.npz")


def _sample_key(sample: Sample, digest: str) -> str:
    return f"{digest}:{sample.box}" if sample.box else digest


class FeatureExtractor:
    """Embeds photos with an ONNX copy of a backbone; see :func:`backbone_onnx` for how the copy is made."""

    def __init__(self, spec: BackboneSpec, onnx_path: Path, *, batch_size: int = 16) -> None:
        self.spec, self.batch_size = spec, batch_size
        self.session = open_session(onnx_path)
        self.transform = eval_transform(spec.preprocess)

    def _load(self, sample: Sample) -> np.ndarray:
        img = load_rgb(sample.path, min_size=self.spec.preprocess.resize_to)
        if sample.box:
            img = crop_to_box(img, sample.box, frame=sample.box_frame, margin=self.spec.box_margin)
        return self.transform(img)

    def embed_arrays(self, batch: np.ndarray) -> np.ndarray:
        """Embeddings of a normalised batch; with flips, the mirrored photo's embedding is appended (N x 2D)."""
        feats = run_session(self.session, batch)["features"]
        if self.spec.flip:
            mirrored = run_session(self.session, np.ascontiguousarray(batch[..., ::-1]))["features"]
            feats = np.concatenate([feats, mirrored], axis=1)
        return feats

    def __call__(
        self, samples: list[Sample], cache: EmbeddingCache | None = None, desc: str = "embedding"
    ) -> Embeddings:
        digests = {}
        with ThreadPoolExecutor(2) as pool:
            for s, d in zip(samples, pool.map(lambda s: _safe_hash(s.path), samples), strict=True):
                digests[s.path] = d
        errors = {str(p): d[1:] for p, d in digests.items() if d.startswith("!")}
        todo = [s for s in samples if not digests[s.path].startswith("!")]
        keys = {s.path: _sample_key(s, digests[s.path]) for s in todo}
        missing = [s for s in todo if cache is None or keys[s.path] not in cache.rows]
        fresh: dict[str, np.ndarray] = {}
        with progress(desc, total=len(missing), unit=_("photos")) as bar:
            for chunk_samples, chunk_feats, chunk_errors in self._embed_stream(missing):
                errors.update(chunk_errors)
                chunk_keys = [keys[s.path] for s in chunk_samples]
                fresh.update(zip(chunk_keys, chunk_feats, strict=True))
                if cache is not None and chunk_keys:
                    cache.add(chunk_keys, chunk_feats)
                bar.advance(len(chunk_samples) + len(chunk_errors))
        rows = cache.rows if cache is not None else fresh
        kept = [s for s in todo if keys[s.path] in rows or keys[s.path] in fresh]
        feats = [fresh.get(keys[s.path], rows.get(keys[s.path])) for s in kept]
        stacked = np.stack(feats).astype(np.float32) if feats else np.zeros((0, 0), np.float32)
        half = stacked.shape[1] // 2
        return Embeddings(
            features=stacked[:, :half] if self.spec.flip else stacked,
            labels=np.array([s.label for s in kept], dtype=np.int64),
            paths=[s.path for s in kept],
            errors=errors,
            flipped=stacked[:, half:] if self.spec.flip else None,
        )

    def _embed_stream(self, samples: list[Sample]) -> Iterator[tuple[list[Sample], np.ndarray, dict[str, str]]]:
        """Decode in two threads while the model runs (bounded read-ahead); yield chunks of about CHUNK photos."""
        loaded = map_ahead(lambda s: (s, _try(self._load)(s)), samples, ahead=4 * self.batch_size)
        ok: list[Sample] = []
        feats: list[np.ndarray] = []
        errors: dict[str, str] = {}
        for batch in batched(loaded, self.batch_size):
            errors.update({str(s.path): a for s, a in batch if isinstance(a, str)})
            good = [(s, a) for s, a in batch if not isinstance(a, str)]
            if good:
                ok += [s for s, _ in good]
                feats.append(self.embed_arrays(np.stack([a for _, a in good])))
            if len(ok) + len(errors) >= CHUNK:
                yield ok, np.concatenate(feats) if feats else np.zeros((0, 0), np.float32), errors
                ok, feats, errors = [], [], {}
        if ok or errors:
            yield ok, np.concatenate(feats) if feats else np.zeros((0, 0), np.float32), errors


def _try(fn):  # type: ignore[no-untyped-def]
    def wrapped(sample: Sample) -> np.ndarray | str:
        try:
            return fn(sample)
        except UnreadableImage as err:
            log.warning(_("skipping {path}: {why}", path=printable(sample.path), why=err))
            return str(err)

    return wrapped


def _safe_hash(path: Path) -> str:
    try:
        return content_hash(path)
    except OSError as err:
        return f"!unreadable file: {err.strerror or err}"


def weights_digest(model: Any) -> str:
    """A short hash of a torch model's parameters and buffers."""
    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def backbone_onnx(spec: BackboneSpec, cache_root: Path, backbone: Any) -> Path:
    """``backbone`` exported to ONNX once and kept in the cache under its weights digest."""
    path = cache_root / "onnx" / f"{spec.name}-{spec.weights}.onnx"
    if not path.exists():
        from dogbreeds.models.heads import BreedModel
        from dogbreeds.models.onnx_export import export_onnx

        export_onnx(BreedModel(backbone), spec.preprocess.input_size, path)
    return path


def embed_samples(
    samples: list[Sample], spec: BackboneSpec, backbone: Any, *, cache_root: Path | None = None, desc: str = "embedding"
) -> Embeddings:
    """Embeddings of ``samples`` by ``backbone`` (described by ``spec``), computing only those not yet cached."""
    root = cache_root or default_cache_dir()
    extractor = FeatureExtractor(spec, backbone_onnx(spec, root, backbone))
    return extractor(samples, EmbeddingCache(root, spec), desc=desc)

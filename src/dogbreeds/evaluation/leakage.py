"""Near-duplicate photos between (and within) data sets, by perceptual hash.

A test photo that is a copy of a training photo, re-encoded or resized, inflates test accuracy; Stanford Dogs
itself has such a pair (Saint Bernard ``n02109525_1314`` in train, ``n02109525_7982`` in test). The 64-bit
difference hash (dHash) survives re-encoding, resizing and small brightness changes; two photos within a few
bits of each other are reported as near-duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dogbreeds.core.i18n import _
from dogbreeds.core.progress import progress
from dogbreeds.data.images import UnreadableImage, dhash, load_rgb, popcount

MAX_DISTANCE = 4  # bits of 64: re-encoded or resized copies measured 0-2, different dogs of one breed 10+
_NO_HASH = np.uint64(0)


def _hash_file(path: Path) -> int | None:
    try:
        return dhash(load_rgb(path, min_size=32))  # draft decoding: a tiny thumbnail is all the hash needs
    except UnreadableImage:
        return None


def hash_files(paths: Sequence[Path], desc: str = "hashing photos") -> np.ndarray:
    """dHash of each file (0 for unreadable ones, which are then never reported)."""
    out = np.zeros(len(paths), dtype=np.uint64)
    with ThreadPoolExecutor(2) as pool, progress(desc, total=len(paths), unit=_("photos")) as bar:
        for i, h in enumerate(pool.map(_hash_file, paths, chunksize=64)):
            out[i] = _NO_HASH if h is None else np.uint64(h)
            bar.advance()
    return out


@dataclass(frozen=True)
class NearDuplicate:
    a: str
    b: str
    distance: int  # differing bits of 64


def near_duplicates(
    a_paths: Sequence[Path],
    a_hashes: np.ndarray,
    b_paths: Sequence[Path] | None = None,
    b_hashes: np.ndarray | None = None,
    *,
    max_distance: int = MAX_DISTANCE,
) -> list[NearDuplicate]:
    """Pairs within ``max_distance`` bits: between A and B, or within A when B is not given."""
    within = b_hashes is None
    b_paths, b_hashes = (a_paths, a_hashes) if within else (b_paths, b_hashes)
    assert b_paths is not None and b_hashes is not None
    pairs = []
    for start in range(0, len(a_hashes), 1024):  # 1024 x N distances at a time keeps memory flat
        block = a_hashes[start : start + 1024, None] ^ b_hashes[None, :]
        dist = popcount(block)
        for i, j in zip(*np.nonzero(dist <= max_distance), strict=True):
            ai = start + int(i)
            if a_hashes[ai] == _NO_HASH or b_hashes[j] == _NO_HASH or (within and j <= ai):
                continue
            pairs.append(NearDuplicate(str(a_paths[ai]), str(b_paths[j]), int(dist[i, j])))
    return sorted(pairs, key=lambda p: (p.distance, p.a, p.b))


def leakage_report(
    evaluated: Sequence[Path], reference: Sequence[Path] | None = None
) -> dict[str, list[NearDuplicate]]:
    """Near-duplicates of the evaluated photos: among themselves, and against ``reference`` (the training set)."""
    hashes = hash_files(evaluated, desc=_("hashing evaluated photos"))
    report = {"within": near_duplicates(evaluated, hashes)}
    if reference is not None:
        ref_hashes = hash_files(reference, desc=_("hashing training photos"))
        report["against_train"] = near_duplicates(evaluated, hashes, reference, ref_hashes)
    return report


def write_duplicates_csv(report: dict[str, list[NearDuplicate]], path: Path) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "photo", "duplicate_of", "distance_bits"])
        for kind, pairs in report.items():
            writer.writerows([kind, p.a, p.b, p.distance] for p in pairs)

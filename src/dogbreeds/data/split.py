"""Seeded, stratified train/validation split."""

from __future__ import annotations

import random
from collections import defaultdict

from dogbreeds.core.breeds import display_name
from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _
from dogbreeds.data.samples import Sample, SampleSet


class TooFewPhotosError(UsageError):
    """A breed has too few photos to appear in both the training and the validation part."""


def stratified_split(data: SampleSet, *, val_fraction: float = 0.1, seed: int = 0) -> tuple[SampleSet, SampleSet]:
    """Split every breed in the same proportion; the same seed always gives the same split.

    Raises:
        TooFewPhotosError: a breed has fewer than 2 photos; the message names every such breed.
    """
    if not 0 < val_fraction < 1:
        raise UsageError(_("val_fraction must be in (0, 1), not {val_fraction}", val_fraction=val_fraction))
    by_label: dict[int, list[Sample]] = defaultdict(list)
    for s in data.samples:
        by_label[s.label].append(s)
    thin = sorted(display_name(s[0].breed_id) for s in by_label.values() if len(s) < 2)
    if thin:
        raise TooFewPhotosError(
            _(
                "{n_thin} breed(s) have fewer than 2 photos, too few to both train and validate: "
                "{names}. Add photos or remove those folders.",
                n_thin=len(thin),
                names=", ".join(thin),
            )
        )
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted(by_label):
        items = sorted(by_label[label], key=lambda s: str(s.path))
        rng.shuffle(items)
        n_val = min(len(items) - 1, max(1, round(len(items) * val_fraction)))
        val.extend(items[:n_val])
        train.extend(items[n_val:])
    return SampleSet(f"{data.name}:train", train, data.classes), SampleSet(f"{data.name}:val", val, data.classes)

"""The vocabulary shared by every data source: a labelled photo and a labelled collection."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from dogbreeds.core.breeds import BREED_IDS
from dogbreeds.core.transforms import Box


@dataclass(frozen=True)
class Sample:
    """One photo and its breed (index into ``classes``: the 120 breeds, then a tree's own), with its annotated box
    when one is known."""

    path: Path
    label: int
    box: Box | None = None
    box_frame: tuple[int, int] | None = None  # (width, height) the box coordinates refer to
    classes: tuple[str, ...] = field(default=BREED_IDS, repr=False, compare=False)

    @property
    def breed_id(self) -> str:
        return self.classes[self.label]


@dataclass
class SampleSet:
    """A named list of samples, e.g. the official train list or a user's folder tree."""

    name: str
    samples: list[Sample] = field(default_factory=list)
    classes: tuple[str, ...] = BREED_IDS  # what the labels index: the 120 Stanford breeds, then any others

    def __len__(self) -> int:
        return len(self.samples)

    def counts(self) -> Counter[int]:
        return Counter(s.label for s in self.samples)

    def fingerprint(self) -> str:
        """A short hash of the (relative path, label) list: which photos a model saw, without hashing pixels."""
        h = hashlib.sha256()
        for s in sorted(self.samples, key=lambda s: (s.label, s.path.name)):
            h.update(f"{s.path.parent.name}/{s.path.name}\t{s.label}\n".encode())
        return h.hexdigest()[:16]

    def limit_per_class(self, n: int | None) -> SampleSet:
        """Keep the first ``n`` photos of each breed (a quick-run option); ``None`` keeps all."""
        if n is None:
            return self
        kept: Counter[int] = Counter()
        out = []
        for s in self.samples:
            if kept[s.label] < n:
                kept[s.label] += 1
                out.append(s)
        return SampleSet(f"{self.name}[:{n}/breed]", out, self.classes)

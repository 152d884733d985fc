"""``dogbreeds stats``: what the catalog holds, by final answer: photos per verdict and per breed, review progress.

Counted from the same final answers that ``sort`` and ``export`` use (a volunteer's latest decision, else the
model's), in one read-only pass over the rows, so memory stays flat in the size of the library.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine

from dogbreeds.catalog import database
from dogbreeds.catalog.review import queue_keys
from dogbreeds.core.breeds import human_name


@dataclass
class CatalogStats:
    photos: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)  # final verdicts
    breeds: dict[str, int] = field(default_factory=dict)  # final breed id -> photos, most photos first
    reviewed: int = 0  # photos with a volunteer's decision
    waiting: int = 0  # photos in the review queue
    models: dict[str, int] = field(default_factory=dict)  # model id -> rows

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["breed_names"] = {b: human_name(b) for b in self.breeds}
        return d


def catalog_stats(engine: Engine) -> CatalogStats:
    verdicts: Counter[str] = Counter()
    breeds: Counter[str] = Counter()
    models: Counter[str] = Counter()
    stats = CatalogStats()
    for row in database.iter_rows(engine):
        stats.photos += 1
        verdicts[row["final_verdict"]] += 1
        if row["final_breed"]:
            breeds[row["final_breed"]] += 1
        if row.get("review_decision"):
            stats.reviewed += 1
        if row["model_id"]:
            models[row["model_id"]] += 1
    stats.verdicts = dict(verdicts.most_common())
    stats.breeds = dict(breeds.most_common())
    stats.models = dict(models.most_common())
    stats.waiting = len(queue_keys(engine))
    return stats

"""``dogbreeds review``: a terminal queue of doubtful photos for volunteers, and the corrections they produce.

The queue shows ``unsure`` photos first, then dogs from the least confident up; photos already reviewed (by
content hash, so moving a photo does not bring it back) are left out. Each decision is written at once, with who
and when, so quitting at any point loses nothing. ``corrections export`` turns decisions into a folder-per-breed
tree that ``dogbreeds train`` accepts, so volunteers' work improves the next model.
"""

from __future__ import annotations

import getpass
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, select

from dogbreeds.catalog import database
from dogbreeds.core.breeds import BREED_IDS, UnknownBreedError, human_name, resolve_breed
from dogbreeds.inference.predictor import DOG, UNSURE

HELP = (
    "Enter: confirm the first breed   1-5: pick that breed   a breed name: correct it   "
    "n: not a dog   o: open the photo   s: skip   q: quit"
)


def queue(engine: Engine, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Catalog rows waiting for a volunteer: unsure first, then dogs by rising probability."""
    photos, reviews = database.photos, database.reviews
    reviewed = select(reviews.c.sha256)
    query = (
        select(photos)
        .where(photos.c.verdict.in_([UNSURE, DOG]), photos.c.sha256.not_in(reviewed))
        .order_by(case((photos.c.verdict == UNSURE, 0), else_=1), photos.c.probability, photos.c.path)
    )
    if limit:
        query = query.limit(limit)
    with engine.connect() as conn:
        rows = [database.decoded(r) for r in conn.execute(query)]
    yield from rows


def record(engine: Engine, row: dict[str, Any], decision: str, breed: str | None, reviewer: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            database.reviews.insert().values(
                sha256=row["sha256"], path=row["path"], decision=decision, breed=breed, model_breed=row["breed"],
                reviewer=reviewer, reviewed_at=database.now(),
            )
        )  # fmt: skip


def open_photo(path: str) -> None:
    """Show a photo in the desktop's viewer (xdg-open, open, or startfile)."""
    if sys.platform.startswith("win"):
        import os

        os.startfile(path)  # type: ignore[attr-defined]
        return
    subprocess.Popen(["open" if sys.platform == "darwin" else "xdg-open", path], stderr=subprocess.DEVNULL)


@dataclass
class ReviewStats:
    confirmed: int = 0
    corrected: int = 0
    not_a_dog: int = 0
    skipped: int = 0


def decide(answer: str, row: dict[str, Any]) -> tuple[str, str | None] | str:
    """Turn an answer into (decision, breed), or return a message to show before asking again."""
    answer = answer.strip()
    top = [k["breed"] for k in row["top5"]]
    if answer == "":
        return ("confirmed", row["breed"])
    if answer.isdigit() and 1 <= int(answer) <= len(top):
        breed = top[int(answer) - 1]
        return ("confirmed" if breed == row["breed"] else "corrected", breed)
    if answer.lower() in ("n", "s"):
        return ("not_a_dog", None) if answer.lower() == "n" else ("skipped", None)
    try:
        breed = resolve_breed(answer)
    except UnknownBreedError as err:
        return str(err)
    return ("confirmed" if breed == row["breed"] else "corrected", breed)


def run_review(
    engine: Engine,
    *,
    reviewer: str | None = None,
    limit: int | None = None,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
    opener: Callable[[str], None] = open_photo,
) -> ReviewStats:
    """The interactive loop; ``ask``/``say``/``opener`` are parameters so tests can drive it."""
    reviewer = reviewer or getpass.getuser()
    stats = ReviewStats()
    items = list(queue(engine, limit=limit))
    say(f"{len(items)} photo(s) to review. {HELP}")
    for n, row in enumerate(items, start=1):
        say(f"\n[{n}/{len(items)}] {row['path']}  ({row['verdict']}, {row['probability']:.1%})")
        for i, k in enumerate(row["top5"], start=1):
            say(f"  {i}. {k['name']:<32} {k['probability']:6.1%}")
        while True:
            try:
                answer = ask("> ")
            except EOFError:
                return stats
            if answer.strip().lower() == "q":
                return stats
            if answer.strip().lower() == "o":
                opener(row["path"])
                continue
            result = decide(answer, row)
            if isinstance(result, str):
                say(result)
                continue
            decision, breed = result
            record(engine, row, decision, breed, reviewer)
            setattr(stats, decision, getattr(stats, decision) + 1)
            say(f"  {decision}" + (f": {human_name(breed)}" if breed else ""))
            break
    return stats


def export_corrections(engine: Engine, out: Path, *, mode: str = "copy") -> dict[str, int]:
    """Write every reviewed photo with a breed into ``out/<breed id>/`` (the latest decision per photo wins)."""
    from dogbreeds.catalog.sort import place

    r, p = database.reviews, database.photos
    with engine.connect() as conn:
        decisions = conn.execute(select(r.c.sha256, r.c.breed, r.c.path).order_by(r.c.reviewed_at, r.c.id)).all()
        where = {row.sha256: row.path for row in conn.execute(select(p.c.sha256, p.c.path))}
    latest = {d.sha256: (d.breed, d.path) for d in decisions}
    counts: dict[str, int] = {}
    for sha, (breed, reviewed_path) in latest.items():
        if breed not in BREED_IDS:
            continue
        source = Path(where.get(sha) or reviewed_path)  # the photo may have moved since it was reviewed
        if source.exists() and place(source, out / breed, mode=mode) is not None:
            counts[breed] = counts.get(breed, 0) + 1
    return counts

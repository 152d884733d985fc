"""``dogbreeds review``: a terminal queue of doubtful photos for volunteers, and the corrections they produce.

The queue shows ``unsure`` photos first, then dogs from the least confident up, then ``not_a_dog`` photos whose
dog score came close to the threshold (all of them with ``include_not_a_dog``), the most dog-like first; photos
already decided (by content hash, so moving a photo does not bring it back) are left out. Each decision is
written at once, with who and when, so quitting at any point (``q``, Ctrl-C, a closed terminal) loses nothing.
"Later" is not a decision: the photo comes back next time. ``u`` takes the last decision back. A photo that
cannot be shown (no viewer, no display) gets its path printed instead. ``corrections export`` turns decisions into
a folder-per-breed tree that ``dogbreeds train`` accepts, so volunteers' work improves the next model.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, select

from dogbreeds.catalog import database
from dogbreeds.catalog.schema import models, photos, reviews
from dogbreeds.core.breed_names import MIXED_BREED
from dogbreeds.core.breeds import UnknownBreedError, display_name, new_class_id, resolve_class
from dogbreeds.core.card import Verdicts
from dogbreeds.core.files import printable
from dogbreeds.core.i18n import _, n_
from dogbreeds.core.verdicts import DOG, NOT_A_DOG, OTHER_BREED, UNSURE, dog_score
from dogbreeds.inference.display import verdict_word

BORDERLINE = 0.5  # a not_a_dog photo is queued when its dog score reaches this share of the threshold


def help_text() -> str:
    return _(
        "Enter: confirm the first breed   1-5: pick that breed   a breed name (French or English): correct it   "
        "m: mixed breed   +name: another breed, new to dogbreeds   n: not a dog   o: open the photo   s: later   "
        "u: undo the last decision   q: quit"
    )


def _not_a_dog_keys(engine: Engine, include_all: bool) -> list[str]:
    """The not_a_dog photos to queue, most dog-like first: those near their model's threshold, or all."""
    with engine.connect() as conn:
        thresholds: dict[str, Verdicts] = {}
        for model_id, value, _at in conn.execute(select(models)):
            if value:
                thresholds[model_id] = Verdicts.from_dict(json.loads(value))
        decided = select(reviews.c.sha256).where(reviews.c.decision.in_(database.DECISIONS))
        query = select(photos.c.path, photos.c.probability, photos.c.dog_probability, photos.c.model_id).where(
            photos.c.verdict == NOT_A_DOG, photos.c.sha256.not_in(decided)
        )
        scored = []
        for path, probability, dog_probability, model_id in conn.execute(query):
            v = thresholds.get(model_id, Verdicts())
            score = dog_score(dog_probability or 0.0, probability or 0.0, v.dog_score_power)
            if include_all or score >= BORDERLINE * v.min_dog_score:
                scored.append((-score, path))
    return [path for _score, path in sorted(scored)]


def queue_keys(engine: Engine, *, include_not_a_dog: bool = False, limit: int | None = None) -> list[str]:
    """The paths waiting for a volunteer, in queue order (only the keys: rows are read as they are shown)."""
    decided = select(reviews.c.sha256).where(reviews.c.decision.in_(database.DECISIONS))
    query = (
        select(photos.c.path)
        .where(photos.c.verdict.in_([OTHER_BREED, UNSURE, DOG]), photos.c.sha256.not_in(decided))
        .order_by(case((photos.c.verdict == DOG, 1), else_=0), photos.c.probability, photos.c.path)
    )
    if limit:
        query = query.limit(limit)
    with engine.connect() as conn:
        keys = list(conn.scalars(query))
    if limit is None or len(keys) < limit:
        keys += _not_a_dog_keys(engine, include_not_a_dog)
    return keys[:limit] if limit else keys


def row_of(engine: Engine, path: str) -> dict[str, Any] | None:
    """A catalog row by path, with ``top5`` parsed (None when it vanished meanwhile)."""
    with engine.connect() as conn:
        row = conn.execute(select(*database.photo_columns(engine)).where(photos.c.path == path)).first()
    return database.decoded(row) if row is not None else None


def queue(engine: Engine, *, include_not_a_dog: bool = False, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Catalog rows waiting for a volunteer, in queue order (see the module docstring)."""
    for path in queue_keys(engine, include_not_a_dog=include_not_a_dog, limit=limit):
        if (row := row_of(engine, path)) is not None:
            yield row


def record(engine: Engine, row: dict[str, Any], decision: str, breed: str | None, reviewer: str) -> int:
    """Write a decision at once; returns its id (for undo)."""
    with database.writing(engine) as conn:
        result = conn.execute(
            reviews.insert().values(
                sha256=row["sha256"], path=row["path"], decision=decision, breed=breed, model_breed=row["breed"],
                reviewer=reviewer, reviewed_at=database.now(),
            )
        )  # fmt: skip
        return int(result.inserted_primary_key[0])


def forget(engine: Engine, review_id: int, *, reviewer: str | None = None) -> None:
    """Take a decision back (``u``); with ``reviewer``, only if it is theirs."""
    query = reviews.delete().where(reviews.c.id == review_id)
    if reviewer is not None:
        query = query.where(reviews.c.reviewer == reviewer)
    with database.writing(engine) as conn:
        conn.execute(query)


class CannotShow(Exception):
    """No way to show a photo here (no viewer program, no display)."""


def open_photo(path: str) -> None:
    """Show a photo in the desktop's viewer (startfile, open, or xdg-open with a display).

    Raises:
        CannotShow: no viewer, or no display to show it on (a server, an SSH session).
    """
    if sys.platform.startswith("win"):
        try:
            os.startfile(path)  # type: ignore[attr-defined]
        except OSError as err:
            raise CannotShow(str(err)) from None
        return
    program = "open" if sys.platform == "darwin" else "xdg-open"
    if program == "xdg-open" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise CannotShow(_("no display"))
    if shutil.which(program) is None:
        raise CannotShow(_("no {program} here", program=program))
    try:
        subprocess.Popen([program, path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError as err:
        raise CannotShow(str(err)) from None


@dataclass
class ReviewStats:
    confirmed: int = 0
    corrected: int = 0
    not_a_dog: int = 0
    later: int = 0

    @property
    def saved(self) -> int:
        return self.confirmed + self.corrected + self.not_a_dog


def decide(answer: str, row: dict[str, Any]) -> tuple[str, str | None] | str:
    """Turn an answer into (decision, breed), or return a message to show before asking again."""
    answer = answer.strip()
    top = [k["breed"] for k in row["top5"]]
    if answer == "":
        if row["verdict"] == NOT_A_DOG:
            return _("the model says this is not a dog: press n to agree, or type the breed")
        return ("confirmed", row["breed"])
    if answer.isdigit() and 1 <= int(answer) <= len(top):
        breed = top[int(answer) - 1]
        return ("confirmed" if breed == row["breed"] and row["verdict"] != NOT_A_DOG else "corrected", breed)
    if answer.lower() == "n":
        return ("not_a_dog", None)
    if answer.lower() == "m":
        breed = MIXED_BREED
    elif answer.startswith("+"):  # a breed nobody listed: taken as typed (the next `train --new-breeds` learns it)
        breed = new_class_id(answer[1:])
        if not breed:
            return _("type the breed's name after the +")
        breed = resolve_class(breed, new_breeds=True)  # a known breed typed with a +: that breed
    else:
        try:
            breed = resolve_class(answer)
        except UnknownBreedError as err:
            return _("{why}; to record it as a breed dogbreeds does not know yet, type +{name}", why=err,
                     name=answer)  # fmt: skip
    return ("confirmed" if breed == row["breed"] and row["verdict"] != NOT_A_DOG else "corrected", breed)


@dataclass
class ReviewSession:
    """The interactive loop; ``ask``/``say``/``opener`` are parameters so tests can drive it. ``stats`` is kept up
    to date, so an interrupted session still tells what it saved."""

    engine: Engine
    reviewer: str = field(default_factory=getpass.getuser)
    ask: Callable[[str], str] = field(default=lambda prompt: input(prompt))  # looked up when called
    say: Callable[[str], None] = print
    opener: Callable[[str], None] = open_photo
    stats: ReviewStats = field(default_factory=ReviewStats)

    def run(self, *, limit: int | None = None, include_not_a_dog: bool = False) -> ReviewStats:
        keys = queue_keys(self.engine, include_not_a_dog=include_not_a_dog, limit=limit)
        self.say(n_("{n} photo to review.", "{n} photos to review.", len(keys)) + " " + help_text())
        done: list[tuple[int, int, str]] = []  # (queue position, review id, decision) of this session's decisions
        position = 0
        while position < len(keys):
            row = row_of(self.engine, keys[position])
            if row is None:  # gone from the catalog meanwhile
                position += 1
                continue
            self._show(position + 1, len(keys), row)
            step = self._answer(row, position, done)
            if step is None:
                return self.stats
            position = step
        return self.stats

    def _show(self, n: int, total: int, row: dict[str, Any]) -> None:
        probability = row["probability"] or 0.0
        verdict = verdict_word(row["verdict"])
        self.say(f"\n[{n}/{total}] {printable(row['path'])}  ({verdict}, {probability:.1%})")
        for i, k in enumerate(row["top5"], start=1):
            self.say(f"  {i}. {display_name(k['breed']):<32} {k['probability']:6.1%}")

    def _answer(self, row: dict[str, Any], position: int, done: list[tuple[int, int, str]]) -> int | None:
        """Ask until the photo is settled; returns the next queue position (None: quit)."""
        while True:
            try:
                answer = self.ask("> ")
            except EOFError:
                return None
            key = answer.strip().lower()
            if key == "q":
                return None
            if key == "o":
                try:
                    self.opener(row["path"])
                except CannotShow as why:
                    self.say(_("cannot show it here ({why}); the photo is at: {path}", why=why,
                               path=printable(row["path"])))  # fmt: skip
                continue
            if key in ("s", "l"):
                self.stats.later += 1
                return position + 1
            if key == "u":
                if not done:
                    self.say(_("nothing to undo"))
                    continue
                back, review_id, decision = done.pop()
                forget(self.engine, review_id)
                setattr(self.stats, decision, getattr(self.stats, decision) - 1)
                self.say(_("  undone"))
                return back
            if key in ("?", "h"):
                self.say(help_text())
                continue
            result = decide(answer, row)
            if isinstance(result, str):
                self.say(result)
                continue
            decision, breed = result
            done.append((position, record(self.engine, row, decision, breed, self.reviewer), decision))
            setattr(self.stats, decision, getattr(self.stats, decision) + 1)
            words = {"confirmed": _("confirmed"), "corrected": _("corrected"), "not_a_dog": _("not a dog")}[decision]
            self.say(f"  {words}" + (f": {display_name(breed)}" if breed else ""))
            return position + 1


def run_review(
    engine: Engine,
    *,
    reviewer: str | None = None,
    limit: int | None = None,
    include_not_a_dog: bool = False,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
    opener: Callable[[str], None] = open_photo,
) -> ReviewStats:
    """Run a review session (see :class:`ReviewSession`)."""
    session = ReviewSession(engine, reviewer or getpass.getuser(), ask, say, opener)
    return session.run(limit=limit, include_not_a_dog=include_not_a_dog)


def export_corrections(engine: Engine, out: Path, *, mode: str = "copy") -> dict[str, int]:
    """Write every photo whose latest decision names a breed into ``out/<breed id>/``: the 120, the wider
    vocabulary's (``mixed_breed``, ``Dalmatian``...) and the volunteers' new breeds, each its own folder, so that
    ``dogbreeds train --new-breeds`` learns them all."""
    from dogbreeds.catalog.sort import place, safe_folder_name

    counts: dict[str, int] = {}
    for row in database.iter_rows(engine):
        breed = row["reviewed_breed"] if row.get("review_decision") in ("confirmed", "corrected") else None
        if not breed or new_class_id(breed) != breed:  # only ids a decision can hold: never a path, never empty
            continue
        source = Path(row["path"])
        if source.is_file() and place(source, out / safe_folder_name(breed), mode=mode, sha256=row["sha256"]):
            counts[breed] = counts.get(breed, 0) + 1
    return counts

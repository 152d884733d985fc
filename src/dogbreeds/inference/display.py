"""Predictions in words and tables, in the user's language: a sentence for one photo, a table for many."""

from __future__ import annotations

import os

from dogbreeds.core.breeds import display_name, is_known_breed
from dogbreeds.core.files import printable
from dogbreeds.core.i18n import _
from dogbreeds.core.verdicts import DOG, NOT_A_DOG, OTHER_BREED, UNSURE
from dogbreeds.inference.predictor import Prediction


def verdict_word(verdict: str) -> str:
    """A verdict as a volunteer reads it (the catalog and JSON keep the stable English keys)."""
    words = {DOG: _("dog"), UNSURE: _("unsure"), OTHER_BREED: _("other breed"), NOT_A_DOG: _("not a dog"),
             "unreadable": _("unreadable")}  # fmt: skip
    return words.get(verdict, verdict)


def _shown(breed: str | None, name: str | None) -> str:
    """A breed's name in the user's language (the card's own name for a breed nobody listed)."""
    if breed is None:
        return name or ""
    return display_name(breed) if is_known_breed(breed) else (name or breed)


def _common_folder(paths: list[str]) -> str:
    """The deepest folder holding every photo, so the table shows short names."""
    folders = [os.path.dirname(os.path.abspath(p)) for p in paths]
    common = os.path.commonpath(folders) if folders else "."
    return os.path.relpath(common) if not os.path.relpath(common).startswith("..") else common


def sentence(p: Prediction) -> str:
    """One line a volunteer can read: the verdict in words."""
    if p.error is not None:
        return _("Could not read this photo: {why}", why=p.error)
    if p.verdict == NOT_A_DOG:
        if p.name and p.probability is not None:
            return _("This does not look like a dog (dog probability {dog:.1%}; best breed guess {name} at "
                     "{probability:.1%})", dog=p.dog_probability or 0.0, name=_shown(p.breed, p.name),
                     probability=p.probability)  # fmt: skip
        return _("This does not look like a dog (dog probability {dog:.1%})", dog=p.dog_probability or 0.0)
    if p.verdict == OTHER_BREED:
        return _("Perhaps a breed this model does not know, or a mix: nearest is {name} ({probability:.1%}); a "
                 "volunteer should check", name=_shown(p.breed, p.name), probability=p.probability)  # fmt: skip
    if p.verdict == UNSURE:
        return _("Unsure: perhaps a {name} ({probability:.1%}); a volunteer should check",
                 name=_shown(p.breed, p.name), probability=p.probability)  # fmt: skip
    return _(
        "This dog is probably a {name} ({probability:.1%})", name=_shown(p.breed, p.name), probability=p.probability
    )


def print_predictions(predictions: list[Prediction]) -> None:
    """A rich table when many photos, a sentence plus top-k when one. File names are shown as text, never read
    as rich markup (a photo named ``a [/b].jpg`` is a name, not a style). One photo is plain text, so a single
    answer does not pay for importing rich."""
    if len(predictions) == 1:
        p = predictions[0]
        print(sentence(p))
        if p.verdict != NOT_A_DOG:
            for k in p.top_k:
                print(f"  {k['probability']:6.1%}  {_shown(k['breed'], k['name'])}")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    root = _common_folder([p.path for p in predictions])
    table = Table(title=Text(_("{n} photos in {folder}", n=len(predictions), folder=printable(root))),
                  title_justify="left")  # fmt: skip
    table.add_column(_("photo"), overflow="fold")
    table.add_column(_("verdict"), no_wrap=True)
    table.add_column(_("breed"))
    table.add_column(_("probability"), justify="right", no_wrap=True)
    table.add_column(_("runner-up"))
    style = {DOG: "green", UNSURE: "yellow", OTHER_BREED: "cyan", NOT_A_DOG: "magenta"}
    for p in predictions:
        breed_known = p.error is None and p.verdict != NOT_A_DOG
        runner = (
            f"{_shown(p.top_k[1]['breed'], p.top_k[1]['name'])} ({p.top_k[1]['probability']:.1%})"
            if breed_known and len(p.top_k) > 1
            else ""
        )
        table.add_row(
            Text(printable(os.path.relpath(p.path, root))),
            Text(verdict_word(p.verdict), style=style.get(p.verdict, "red")),
            Text(_shown(p.breed, p.name) if breed_known else (p.error or "-")),
            f"{p.probability:.1%}" if breed_known and p.probability is not None else "",
            Text(runner),
            end_section=False,
        )
    console.print(table)

"""Human-readable terminal output for predictions."""

from __future__ import annotations

import os

from dogbreeds.inference.predictor import DOG, NOT_A_DOG, UNSURE, Prediction


def _common_folder(paths: list[str]) -> str:
    """The deepest folder holding every photo, so the table shows short names."""
    folders = [os.path.dirname(os.path.abspath(p)) for p in paths]
    common = os.path.commonpath(folders) if folders else "."
    return os.path.relpath(common) if not os.path.relpath(common).startswith("..") else common


def sentence(p: Prediction) -> str:
    """One line a volunteer can read: the verdict in words."""
    if p.error is not None:
        return f"Could not read this photo: {p.error}"
    if p.verdict == NOT_A_DOG:
        guess = f"; best breed guess {p.name} at {p.probability:.1%}" if p.name else ""
        return f"This does not look like a dog (dog probability {p.dog_probability:.1%}{guess})"
    if p.verdict == UNSURE:
        return f"Unsure: perhaps a {p.name} ({p.probability:.1%}); a volunteer should check"
    return f"This dog is probably a {p.name} ({p.probability:.1%})"


def print_predictions(predictions: list[Prediction]) -> None:
    """A rich table when many photos, a sentence plus top-k when one."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if len(predictions) == 1:
        p = predictions[0]
        console.print(sentence(p), markup=False, highlight=False)
        if p.verdict == NOT_A_DOG:
            return
        for k in p.top_k:
            console.print(f"  {k['probability']:6.1%}  {k['name']}", markup=False, highlight=False)
        return
    root = _common_folder([p.path for p in predictions])
    table = Table(title=f"{len(predictions)} photos in {root}", title_justify="left")
    table.add_column("photo", overflow="fold")
    table.add_column("verdict", no_wrap=True)
    table.add_column("breed")
    table.add_column("probability", justify="right", no_wrap=True)
    table.add_column("runner-up")
    style = {DOG: "green", UNSURE: "yellow", NOT_A_DOG: "magenta"}
    for p in predictions:
        breed_known = p.error is None and p.verdict != NOT_A_DOG
        runner = f"{p.top_k[1]['name']} ({p.top_k[1]['probability']:.1%})" if breed_known and len(p.top_k) > 1 else ""
        table.add_row(
            os.path.relpath(p.path, root),
            f"[{style.get(p.verdict, 'red')}]{p.verdict}[/]",
            (p.name or "") if breed_known else (p.error or "-"),
            f"{p.probability:.1%}" if breed_known and p.probability is not None else "",
            runner,
            end_section=False,
        )
    console.print(table)

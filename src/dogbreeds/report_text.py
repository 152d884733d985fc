"""Human-readable terminal output for predictions."""

from __future__ import annotations

from dogbreeds.predict import DOG, NOT_A_DOG, UNSURE, Prediction


def sentence(p: Prediction) -> str:
    """One line a volunteer can read: the verdict in words."""
    if p.error is not None:
        return f"Could not read this photo: {p.error}"
    if p.verdict == NOT_A_DOG:
        return f"This does not look like a dog (dog probability {p.dog_probability:.1%})"
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
        for k in p.top_k:
            console.print(f"  {k['probability']:6.1%}  {k['name']}", markup=False, highlight=False)
        return
    table = Table(show_lines=False)
    for col in ("photo", "verdict", "breed", "probability", "runner-up"):
        table.add_column(col, justify="right" if col == "probability" else "left")
    style = {DOG: "green", UNSURE: "yellow", NOT_A_DOG: "magenta"}
    for p in predictions:
        runner = f"{p.top_k[1]['name']} ({p.top_k[1]['probability']:.1%})" if len(p.top_k) > 1 else ""
        table.add_row(
            p.path,
            f"[{style.get(p.verdict, 'red')}]{p.verdict}[/]",
            p.name or (p.error or ""),
            f"{p.probability:.1%}" if p.probability is not None else "",
            runner,
        )
    console.print(table)

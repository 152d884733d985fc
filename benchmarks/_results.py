"""A benchmark's results, written the same way by every script: JSON for machines, and a Markdown page (title,
the command that produced it, notes, a table) that the README quotes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+\s*(%|x|s|MB)?$")


def markdown_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table; columns whose every cell is a number (``1,234``, ``89.5 %``, ``2.8x``) align right."""
    cells = [[str(c) for c in row] for row in rows]
    numeric = [bool(cells) and all(_NUMBER.match(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    return lines + ["| " + " | ".join(row) + " |" for row in cells]


def write_results(
    name: str, data: Any, *, title: str, header: list[str], rows: list[list[Any]], notes: list[str] | None = None
) -> Path:
    """Write ``results/<name>.json`` (``data``) and ``results/<name>.md``; print the page; return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    command = " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    lines = [f"# {title}", "", f"Command: `{command}`", ""]
    if notes:
        lines += [*notes, ""]
    lines += markdown_table(header, rows)
    page = RESULTS / f"{name}.md"
    page.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return page

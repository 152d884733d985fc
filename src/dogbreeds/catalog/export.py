"""``dogbreeds export``: the catalog as CSV, JSON or Parquet, with the model's answer, the volunteers' decision
and the final answer (the decision when there is one) side by side."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dogbreeds.core.breeds import human_name
from dogbreeds.core.errors import MissingExtraError, UsageError
from dogbreeds.core.i18n import _

FORMATS = ("csv", "json", "parquet")
# The model's answer under model_*; the volunteers' latest decision under reviewed_*; final_*: what counts.
EXPORT_COLUMNS = [
    "path", "sha256", "bytes", "mtime_ns", "width", "height", "taken_at",
    "model_breed", "model_name", "probability", "margin", "dog_probability", "familiarity", "top5", "model_verdict",
    "error",
    "model_id", "classified_at",
    "reviewed_breed", "reviewed_verdict", "reviewer", "reviewed_at",
    "final_breed", "final_name", "final_verdict",
]  # fmt: skip


def export_row(row: dict[str, Any]) -> dict[str, Any]:
    """A catalog row (from :func:`~dogbreeds.catalog.database.iter_rows`) in the export's columns."""
    decision = row.get("review_decision")
    out = {k: row.get(k) for k in EXPORT_COLUMNS}
    out.update(
        model_breed=row["breed"], model_name=row["name"], model_verdict=row["verdict"],
        reviewed_verdict={"not_a_dog": "not_a_dog", "confirmed": "dog", "corrected": "dog"}.get(decision or ""),
        final_name=human_name(row["final_breed"]) if row.get("final_breed") else None,
    )  # fmt: skip
    for stamp in ("classified_at", "reviewed_at"):
        when = out[stamp]
        out[stamp] = when.isoformat() if when is not None else None
    return out


def export_rows(rows: Iterable[dict[str, Any]], out: Path, *, fmt: str | None = None) -> int:
    """Write rows to ``out`` (atomically: an interrupted export never leaves half a file); returns the count."""
    fmt = fmt or out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise UsageError(_("unknown export format {fmt!r}: use one of {names} (--format)", fmt=fmt,
                           names=", ".join(FORMATS)))  # fmt: skip
    if fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ModuleNotFoundError:
            raise MissingExtraError(_("Parquet export needs pyarrow: pip install pyarrow")) from None
    if out.is_dir():
        raise UsageError(_("--out {path} is a folder: name a file", path=out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    n = 0
    try:
        if fmt == "csv":
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=EXPORT_COLUMNS)
                writer.writeheader()
                for row in rows:
                    r = export_row(row)
                    writer.writerow({**r, "top5": json.dumps(r["top5"], ensure_ascii=False)})
                    n += 1
        elif fmt == "json":
            with open(tmp, "w", encoding="utf-8") as f:
                f.write("[")
                for row in rows:
                    f.write(("," if n else "") + "\n" + json.dumps(export_row(row), ensure_ascii=False))
                    n += 1
                f.write("\n]\n")
        else:
            data = [{**r, "top5": json.dumps(r["top5"], ensure_ascii=False)} for r in map(export_row, rows)]
            n = len(data)
            schema = None if data else pa.schema([(c, pa.string()) for c in EXPORT_COLUMNS])
            pq.write_table(pa.Table.from_pylist(data, schema=schema), tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n

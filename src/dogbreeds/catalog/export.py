"""``dogbreeds export``: the catalog as CSV, JSON or Parquet."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dogbreeds.catalog.database import COLUMNS
from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _

FORMATS = ("csv", "json", "parquet")


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["top5"] = json.dumps(row["top5"], ensure_ascii=False)
    out["classified_at"] = row["classified_at"].isoformat() if row.get("classified_at") else None
    return out


def export_rows(rows: Iterable[dict[str, Any]], out: Path, *, fmt: str | None = None) -> int:
    """Write rows to ``out`` (atomically: an interrupted export never leaves half a file); returns the count."""
    fmt = fmt or out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise UsageError(
            _("unknown export format {fmt!r}: use one of {names} (--format)", fmt=fmt, names=", ".join(FORMATS))
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    data = [_flat(r) for r in rows]
    if fmt == "csv":
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(data)
    elif fmt == "json":
        for r in data:
            r["top5"] = json.loads(r["top5"])
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(data), tmp)
    os.replace(tmp, out)
    return len(data)

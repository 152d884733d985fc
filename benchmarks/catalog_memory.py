"""Is peak memory flat in the library size? ``dogbreeds classify`` on 10,000 and 100,000 photos, side by side.

    python benchmarks/catalog_memory.py --data ../shared/datasets/stanford-dogs [--model CKPT] [--sizes 10000 100000]

The libraries are hard links to the same 1,000 test-list crops (hard links are separate paths, so each is walked,
read, hashed, decoded, classified and written like a distinct photo). Each size runs in a fresh process; its peak
RSS is read from the kernel (``ru_maxrss`` of the child). A smaller, faster model (``--model``) keeps the 100,000
run in minutes; memory flatness is a property of the pipeline, not of the model.

Writes benchmarks/results/catalog_memory.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import write_results


def make_library(photos: list[Path], root: Path, size: int) -> Path:
    """``size`` hard links to ``photos`` (first copied next to the links: hard links need one file system)."""
    base = root / "originals"
    base.mkdir(parents=True, exist_ok=True)
    originals = []
    for p in photos:
        dest = base / p.name
        if not dest.exists():
            shutil.copyfile(p, dest)
        originals.append(dest)
    lib = root / f"library_{size}"
    for i in range(size):
        folder = lib / f"{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        os.link(originals[i % len(originals)], folder / f"{i:06d}.jpg")
    return lib


def classify_peak_rss(lib: Path, db: Path, model: str | None) -> dict[str, float]:
    """Run ``dogbreeds classify`` in a fresh process that reports its own peak RSS (``ru_maxrss``, kB)."""
    args = ["classify", str(lib), "--db", str(db), *(["--model", model] if model else [])]
    code = (
        "import resource, sys; from dogbreeds.cli import main; "
        f"rc = main({args!r}); print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={**os.environ, "DOGBREEDS_PROGRESS": "0"}).stdout  # fmt: skip
    seconds = time.perf_counter() - started
    peak_kb = int(next(line for line in out.splitlines() if line.startswith("PEAK")).split()[1])
    return {"peak_rss_mb": peak_kb / 1024, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/stanford-dogs"))
    parser.add_argument("--model", help="checkpoint or .onnx (default: the shipped model)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--work", type=Path, help="folder for the libraries (default: a temp folder)")
    args = parser.parse_args()

    from dogbreeds.data.stanford import load_stanford

    photos = [s.path for s in load_stanford(args.data, "test", images="crops224").samples[::8][:1000]]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        for size in sorted(args.sizes):
            lib = make_library([Path(p) for p in photos], Path(tmp), size)
            result = classify_peak_rss(lib, Path(tmp) / f"catalog_{size}.db", args.model)
            rows.append({"photos": size, **{k: round(v, 1) for k, v in result.items()},
                         "photos_per_second": round(size / result["seconds"], 1)})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
            shutil.rmtree(lib)
    first, last = rows[0]["peak_rss_mb"], rows[-1]["peak_rss_mb"]
    write_results(
        "catalog_memory", {"model": args.model or "shipped", "rows": rows},
        title=f"Peak memory of `dogbreeds classify` by library size ({args.model or 'the shipped model'})",
        notes=[f"Peak RSS at {rows[-1]['photos']:,} photos: {last / first - 1:+.1%} against "
               f"{rows[0]['photos']:,} (target: within 10 %)."],
        header=["photos", "peak RSS (MB)", "seconds", "photos/s"],
        rows=[[f"{r['photos']:,}", f"{r['peak_rss_mb']:.0f}", f"{r['seconds']:.0f}", f"{r['photos_per_second']:.0f}"]
              for r in rows],
    )  # fmt: skip


if __name__ == "__main__":
    main()

"""Wall-clock targets of the spine, measured as a user runs them (fresh processes, the real CLI).

    python benchmarks/spine_timings.py --data ../shared/datasets/stanford-dogs

1. `dogbreeds train --method features` from raw JPEGs (empty embedding cache) on the 12,000 photos of the
   official train list, for lite0 and lite2; then the same command again with the cache warm.
2. `dogbreeds predict one.jpg` from a cold process start to the answer (median of 5).

Updates benchmarks/results/spine_timings.json (one key per backbone and flip setting).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CLI = [sys.executable, "-m", "dogbreeds"]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/datasets/stanford-dogs")
    parser.add_argument("--backbones", nargs="+", default=["tf_efficientnet_lite0", "tf_efficientnet_lite2"])
    parser.add_argument("--flip", action="store_true", help="also embed mirrored photos (the shipped recipe)")
    parser.add_argument("--photo", default="examples/photos/pug.jpg")
    args = parser.parse_args()
    out_file = RESULTS / "spine_timings.json"
    results: dict[str, object] = json.loads(out_file.read_text()) if out_file.exists() else {}
    results["cpu_count"] = os.cpu_count()
    for name in args.backbones:
        with tempfile.TemporaryDirectory() as tmp:
            cache, out = Path(tmp) / "cache", Path(tmp) / "ckpt"
            cmd = (
                CLI
                + [
                    "train",
                    "--method",
                    "features",
                    "--backbone",
                    name,
                    "--data",
                    args.data,
                    "--out",
                    str(out),
                    "--cache-dir",
                    str(cache),
                ]
                + ([] if args.flip else ["--no-flip"])
            )
            cold = timed(cmd)
            shutil.rmtree(out)
            warm = timed(cmd)
        key = f"train {name}" + (" with flips" if args.flip else " --no-flip")
        results[key] = {"cold_seconds": round(cold, 1), "warm_seconds": round(warm, 1)}
        print(key, results[key], flush=True)
    timed(CLI + ["predict", args.photo])  # let the OS page cache hold the model file, as on a user's machine
    runs = [timed(CLI + ["predict", args.photo]) for _ in range(5)]
    results["predict_cold_start_seconds"] = {"median": round(statistics.median(runs), 2), "max": round(max(runs), 2)}
    print(results, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

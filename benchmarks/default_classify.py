"""What `dogbreeds classify DIR` gives with no options, beside the fp32 model and the loop people write first.

    python benchmarks/default_classify.py --data ../shared/datasets/stanford-dogs [--photos 1000] [--repeats 3]

Side by side in one run, on the same Stanford-sized JPEGs (made from the 100 originals of fullres-sample/, as
benchmarks/classify_speed.py --source fullres makes them), each a fresh process into a fresh SQLite catalog:

  default        `dogbreeds classify DIR --db X`: no options (the shipped model's int8 copy on OpenVINO, one
                 pass, the mirror pass for photos under the card's mirror_below)
  fp32           `--backend onnx --precision fp32`: the fp32 model on ONNX Runtime (same mirror rule)
  eager loop     per photo: open, resize, normalise, the shipped model rebuilt in eager PyTorch, a row in
                 SQLite (one pass, no mirror)

Photos/s are the median of ``--repeats`` runs (as ``classify`` prints them: walk to last row, imports and model
loading excluded). With ``--evaluate``, also the official test list's top-1 for the default path and the fp32
path (`dogbreeds evaluate --split test`, 8,580 crops). Writes benchmarks/results/default_classify.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from _results import write_results
from classify_speed import eager_loop_rate, fullres_library
from onnx import numpy_helper

from dogbreeds.catalog.database import iter_rows, open_catalog
from dogbreeds.inference.predictor import default_model_path
from dogbreeds.models.backbones import create_backbone
from dogbreeds.models.heads import BreedModel

PATHS = {"default": [], "fp32": ["--backend", "onnx", "--precision", "fp32"]}


def shipped_eager_model() -> BreedModel:
    """The shipped model in eager PyTorch: the packaged backbone and the breed head read from the ONNX graph."""
    graph = onnx.load(str(default_model_path()))
    weights = {t.name: numpy_helper.to_array(t) for t in graph.graph.initializer}
    head = torch.nn.Linear(weights["head.weight"].shape[1], weights["head.weight"].shape[0])
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weights["head.weight"].copy()))
        head.bias.copy_(torch.from_numpy(weights["head.bias"].copy()))
    return BreedModel(create_backbone("tf_efficientnet_lite2"), head).eval()


def classify(photos: Path, db: Path, options: list[str], labels: dict[str, str]) -> tuple[float, float, float]:
    """Photos/s of one fresh `dogbreeds classify`, its top-1 against ``labels``, and the share of rows it calls dog."""
    command = [sys.executable, "-m", "dogbreeds", "classify", str(photos), "--db", str(db), *options]
    said = subprocess.run(command, env={**os.environ, "DOGBREEDS_PROGRESS": "0"}, capture_output=True, text=True,
                          check=True).stdout  # fmt: skip
    found = re.search(r"(\d+) photos in ([\d.]+) s \(([\d.]+)/s\)", said)
    if found is None:
        raise RuntimeError(f"unexpected classify output: {said!r}")
    rows = list(iter_rows(open_catalog(str(db))))
    top1 = sum(r["breed"] == labels[Path(r["path"]).name] for r in rows) / len(rows)
    return float(found[3]), top1, sum(r["verdict"] == "dog" for r in rows) / len(rows)


def test_top1(data: Path, options: list[str], out: Path) -> float:
    command = [sys.executable, "-m", "dogbreeds", "evaluate", "--data", str(data), "--split", "test", "--json-out",
               str(out), *options]  # fmt: skip
    subprocess.run(command, env={**os.environ, "DOGBREEDS_PROGRESS": "0"}, capture_output=True, check=True)
    return float(json.loads(out.read_text())["top1"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/stanford-dogs"))
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evaluate", action="store_true", help="also the test list's top-1 of both paths")
    args = parser.parse_args()
    result: dict[str, object] = {"photos": args.photos}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        library = work / "library"
        library.mkdir()
        labels = fullres_library(args.data, args.photos, library)
        for i in range(args.repeats):  # interleaved: the shared machine drifts
            for name, options in PATHS.items():
                rate, top1, dogs = classify(library, work / f"{name}-{i}.db", options, labels)
                result.setdefault(f"{name}_runs", []).append(round(rate, 1))  # type: ignore[union-attr]
                result[f"{name}_top1"], result[f"{name}_dog_share"] = round(top1, 4), round(dogs, 4)
        torch.set_num_threads(os.cpu_count() or 1)
        eager, files = shipped_eager_model(), sorted(library.iterdir())
        result["eager_runs"] = [round(eager_loop_rate(eager, files, work / f"eager-{i}.db"), 1)
                                for i in range(args.repeats)]  # fmt: skip
    for name in ("default", "fp32", "eager"):
        result[name] = float(np.median(result[f"{name}_runs"]))  # type: ignore[arg-type]
        if args.evaluate:
            for name, options in PATHS.items():
                result[f"{name}_test_top1"] = test_top1(args.data, options, work / f"{name}-test.json")
    print(json.dumps(result), flush=True)
    cells = [[name, result[name], f"{result[name] / result['eager']:.1f}x",  # type: ignore[operator]
              f"{result[f'{name}_top1']:.1%}" if name != "eager" else "-",
              f"{result[f'{name}_test_top1']:.2%}" if f"{name}_test_top1" in result else "-"]
             for name in ("default", "fp32", "eager")]  # fmt: skip
    write_results(
        "default_classify", result, title=f"`dogbreeds classify` with no options, {args.photos} Stanford-sized JPEGs",
        notes=[f"Photos/s: the median of {args.repeats} fresh runs each, interleaved (walk, read, hash, decode, "
               "model, SQLite); default = no options (int8 copy on OpenVINO, mirror pass under mirror_below); fp32 "
               "= `--backend onnx --precision fp32`; eager = per-photo PyTorch loop. Top-1 on these photos (4 breeds, "
               "whole frames) and, with --evaluate, on the 8,580 official test crops."],
        header=["path", "photos/s", "/ eager loop", "top-1 (these photos)", "top-1 (test crops)"], rows=cells,
    )  # fmt: skip


if __name__ == "__main__":
    main()

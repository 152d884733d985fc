"""End-to-end catalog speed (walk, decode, model, database) for lite0 and lite2, beside a per-photo eager loop.

    python benchmarks/classify_speed.py --data ../shared/datasets/stanford-dogs [--photos 1000] [--source fullres]

For each backbone: a one-pass model (the backbone, its ImageNet head, a breed head from its ImageNet rows;
speed does not depend on the head's values) exported to ONNX, and its int8 copies from ``dogbreeds quantize``
(one for ONNX Runtime, one for OpenVINO; calibrated on 240 train-list crops). Each runtime (ONNX Runtime fp32 and
int8; OpenVINO fp32, bf16 and int8, when installed) runs the ``dogbreeds classify`` command in a fresh process
(read-ahead decoding threads, batches, one transaction per batch) on the same test-list crops into a fresh
SQLite catalog, then the model alone in another fresh process, ``--repeats`` times (the median is reported: the
shared machine drifts); side by side in one run with the loop people write first: for each photo, open, resize,
normalise, call the eager PyTorch model, write a row. Each catalog's top-1 against the photos' labels says what a
faster runtime costs in accuracy. Writes benchmarks/results/classify_speed.{json,md}; with ``--source fullres``
(Stanford-sized JPEGs made from the 100 originals of ``fullres-sample/`` instead of 224-pixel test crops: about
four times the pixels to decode and resize) classify_speed_fullres.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _results import write_results

from dogbreeds.catalog.database import iter_rows, open_catalog
from dogbreeds.core.breeds import BREED_IDS
from dogbreeds.core.card import ModelCard, save_card
from dogbreeds.core.transforms import eval_transform
from dogbreeds.data.images import load_rgb
from dogbreeds.data.stanford import load_stanford
from dogbreeds.inference.quantize import quantize_model
from dogbreeds.models.backbones import backbone_preprocess, create_backbone
from dogbreeds.models.heads import BreedModel
from dogbreeds.models.onnx_export import export_onnx
from dogbreeds.training.finetune import breed_head_from_imagenet


def one_pass_model(name: str, folder: Path) -> tuple[BreedModel, Path]:
    backbone = create_backbone(name)
    model = BreedModel(backbone, breed_head_from_imagenet(backbone)).eval()
    folder.mkdir(parents=True, exist_ok=True)
    export_onnx(model, backbone_preprocess(backbone).input_size, folder / "model.onnx")
    card = ModelCard(model="features-head", backbone=name, backbone_weights="packaged",
                     preprocess=backbone_preprocess(backbone), model_args={"flip_average": False})  # fmt: skip
    save_card(card, folder)
    return model, folder / "model.onnx"


MODEL_ALONE = """
import sys
from dogbreeds.inference.predictor import Predictor
from dogbreeds.evaluation.report import inference_speed
print(inference_speed(Predictor(sys.argv[1], backend=sys.argv[2], precision=sys.argv[3]), batch=16, seconds=3.0))
"""


def classify_run(
    onnx: Path, photos: Path, db: Path, labels: dict[str, str], *, backend: str = "onnx", precision: str = "fp32"
) -> tuple[float, float, float]:
    """Photos/s of ``dogbreeds classify`` into a fresh catalog, the catalog's top-1 against ``labels``, and the
    photos/s of the model alone on the same runtime (random pixels, same batch size) right after.

    Each is a fresh process, as a user runs the command: runtimes measured one after another in one process
    disturb one another (thread pools of the one before). The rate is the one ``classify`` prints (the walk to
    the last row; imports and model loading excluded). The shared machine's speed drifts by a quarter from hour
    to hour; the ratio of the two rates says what the pipeline around the model costs whatever the drift."""
    command = [sys.executable, "-m", "dogbreeds", "classify", str(photos), "--db", str(db), "--model", str(onnx),
               "--backend", backend, "--precision", precision, "--batch-size", "16"]  # fmt: skip
    env = {**os.environ, "DOGBREEDS_PROGRESS": "0"}
    said = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    found = re.search(r"(\d+) photos in ([\d.]+) s \(([\d.]+)/s\)", said)
    if found is None:
        raise RuntimeError(f"unexpected classify output: {said!r}")
    rows = list(iter_rows(open_catalog(str(db))))
    top1 = sum(r["breed"] == labels[Path(r["path"]).name] for r in rows) / len(rows)
    alone = subprocess.run([sys.executable, "-c", MODEL_ALONE, str(onnx), backend, precision], env=env,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    return float(found[3]), top1, float(alone.strip().splitlines()[-1])


@torch.inference_mode()
def eager_loop_rate(model: BreedModel, paths: list[Path], db: Path) -> float:
    """One photo at a time, the way a first script does it; rows into SQLite, one commit at the end."""
    transform = eval_transform(backbone_preprocess(model.backbone))
    con = sqlite3.connect(db)
    con.execute("create table photos (path text primary key, breed integer, probability real)")
    started = time.perf_counter()
    for path in paths:
        x = torch.from_numpy(transform(load_rgb(path)))[None]
        probs = model(x)[-1].softmax(1)[0]
        con.execute("insert into photos values (?, ?, ?)", (str(path), int(probs.argmax()), float(probs.max())))
    con.commit()
    return len(paths) / (time.perf_counter() - started)


RUNTIMES = {  # column -> (which graph: fp32 or the int8 copy made for that runtime, backend options)
    "onnx_fp32": ("fp32", {}),
    "onnx_int8": ("onnx", {}),
    "openvino_fp32": ("fp32", {"backend": "openvino"}),
    "openvino_bf16": ("fp32", {"backend": "openvino", "precision": "bf16"}),
    "openvino_int8": ("openvino", {"backend": "openvino"}),
}


def crops_library(data: Path, photos: int, library: Path) -> dict[str, str]:
    """A flat copy of ``photos`` test-list crops (224 x 224) into ``library``; file name -> breed id."""
    test = load_stanford(data, "test", images="crops224").samples
    chosen = [test[i] for i in sorted(np.random.default_rng(0).choice(len(test), photos, replace=False))]
    labels = {}
    for i, sample in enumerate(chosen):  # a copy: the walk, reads and hashes are part of the measurement
        name = f"{i:05d}_{Path(sample.path).name}"
        (library / name).write_bytes(Path(sample.path).read_bytes())
        labels[name] = BREED_IDS[sample.label]
    return labels


def fullres_library(data: Path, photos: int, library: Path) -> dict[str, str]:
    """``photos`` Stanford-sized JPEGs (the 100 original photos of ``fullres-sample/``, median 500 x 375), each
    original in several versions cut a few pixels smaller at the right and bottom and saved at JPEG quality 75:
    distinct contents, so that the catalog decodes every one instead of reusing a copy's result."""
    from PIL import Image

    originals = sorted((data / "fullres-sample").glob("*/*.jpg"))
    labels = {}
    for i in range(photos):
        source = originals[i % len(originals)]
        cut = i // len(originals)
        with Image.open(source) as img:
            name = f"{i:05d}_{source.name}"
            img.convert("RGB").crop((0, 0, img.width - cut, img.height - cut)).save(library / name, quality=75)
        labels[name] = source.parent.name
    return labels


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/stanford-dogs"))
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--backbones", nargs="+", default=["tf_efficientnet_lite0", "tf_efficientnet_lite2"])
    parser.add_argument("--runtimes", nargs="+", choices=list(RUNTIMES), default=list(RUNTIMES))
    parser.add_argument("--repeats", type=int, default=3, help="fresh runs per runtime; the median is reported")
    parser.add_argument("--source", choices=["crops", "fullres"], default="crops",
                        help="test-list crops (224 x 224) or Stanford-sized JPEGs from fullres-sample/")  # fmt: skip
    args = parser.parse_args()
    try:
        import openvino  # noqa: F401
    except ImportError:
        args.runtimes = [r for r in args.runtimes if not r.startswith("openvino")]
    calibration = [s.path for s in load_stanford(args.data, "train", images="crops224").samples[::50]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        library = work / "library"
        library.mkdir()
        make_library = crops_library if args.source == "crops" else fullres_library
        labels = make_library(args.data, args.photos, library)
        for name in args.backbones:
            model, onnx = one_pass_model(name, work / name)
            graphs = {"fp32": onnx}
            for target in {RUNTIMES[r][0] for r in args.runtimes} - {"fp32"}:
                graphs[target] = quantize_model(onnx, calibration, work / f"{name}-int8-{target}" / "model.onnx",
                                                photos=len(calibration), runtime=target)  # fmt: skip
            row: dict[str, object] = {"backbone": name, "photos": len(labels)}
            for runtime in args.runtimes:
                graph, backend = RUNTIMES[runtime]
                runs = [classify_run(graphs[graph], library, work / f"{name}-{runtime}-{i}.db", labels, **backend)
                        for i in range(args.repeats)]  # fmt: skip
                row[f"{runtime}_runs"] = [round(rate, 1) for rate, _, _ in runs]
                row[runtime] = round(float(np.median([rate for rate, _, _ in runs])), 1)
                row[f"{runtime}_top1"] = round(runs[0][1], 4)
                row[f"{runtime}_model_alone"] = round(float(np.median([alone for _, _, alone in runs])), 1)
            row["eager_loop"] = round(eager_loop_rate(model, sorted(library.iterdir()), work / f"{name}-eager.db"), 1)
            rows.append(row)
            print(json.dumps(row), flush=True)
    what = "Stanford test crops" if args.source == "crops" else "Stanford-sized JPEGs (from fullres-sample)"
    write_results(
        "classify_speed" if args.source == "crops" else "classify_speed_fullres", rows,
        title=f"`dogbreeds classify` end to end, {args.photos} {what}",
        notes=[f"Photos/s, the median of {args.repeats} fresh runs (each photo once through the model; walk, read,",
               "hash, decode, model, SQLite), with the catalog's top-1 on these photos in brackets and, after the",
               "slash, the model alone on that runtime (random pixels, batch 16, measured right after each run;",
               "median); the last column: the fastest runtime / the eager loop. int8: the copy `dogbreeds quantize`",
               "makes for that runtime (`--runtime onnx` or `--runtime openvino`), calibrated on 240 train-list",
               "crops."],
        header=["backbone", *args.runtimes, "per-photo eager loop", "fastest / eager"],
        rows=[[r["backbone"], *(f"{r[k]} ({r[f'{k}_top1']:.1%}) / {r[f'{k}_model_alone']}" for k in args.runtimes),
               r["eager_loop"], f"{max(r[k] for k in args.runtimes) / r['eager_loop']:.1f}x"] for r in rows],
    )  # fmt: skip


if __name__ == "__main__":
    main()

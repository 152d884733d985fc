"""End-to-end catalog speed (walk, decode, model, database) for lite0 and lite2, beside a per-photo eager loop.

    python benchmarks/classify_speed.py --data ../shared/datasets/stanford-dogs [--photos 1000]

For each backbone: a one-pass model (the backbone, its ImageNet head, a breed head from its ImageNet rows;
speed does not depend on the head's values) exported to ONNX, and an int8 copy of it. Each runs
``dogbreeds classify`` (the Classifier: read-ahead decoding threads, batches, one transaction per batch) on the
same test-list crops into a fresh SQLite catalog, side by side in one run with the loop people write first: for
each photo, open, resize, normalise, call the eager PyTorch model, write a row. Writes
benchmarks/results/classify_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dogbreeds.backbones import backbone_preprocess, create_backbone
from dogbreeds.catalog import open_catalog
from dogbreeds.checkpoint import ModelCard, save_card
from dogbreeds.classify import Classifier
from dogbreeds.data.images import load_rgb
from dogbreeds.data.stanford import load_stanford
from dogbreeds.finetune import breed_head_from_imagenet
from dogbreeds.models import BreedModel
from dogbreeds.onnx_export import export_onnx
from dogbreeds.predict import Predictor
from dogbreeds.quantize import quantize_model
from dogbreeds.transforms import eval_transform

RESULTS = Path(__file__).parent / "results"


def one_pass_model(name: str, folder: Path) -> tuple[BreedModel, Path]:
    backbone = create_backbone(name)
    model = BreedModel(backbone, breed_head_from_imagenet(backbone)).eval()
    folder.mkdir(parents=True, exist_ok=True)
    export_onnx(model, backbone_preprocess(backbone).input_size, folder / "model.onnx")
    card = ModelCard(model="features-head", backbone=name, backbone_weights="packaged",
                     preprocess=backbone_preprocess(backbone), model_args={"flip_average": False})  # fmt: skip
    save_card(card, folder)
    return model, folder / "model.onnx"


def classify_rate(onnx: Path, photos: Path, db: Path) -> float:
    classifier = Classifier(Predictor(onnx), open_catalog(str(db)), batch_size=16)
    stats = classifier.run([photos])
    return stats.photos / stats.seconds


@torch.inference_mode()
def eager_loop_rate(model: BreedModel, name: str, paths: list[Path], db: Path) -> float:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/stanford-dogs"))
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--backbones", nargs="+", default=["tf_efficientnet_lite0", "tf_efficientnet_lite2"])
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    test = load_stanford(args.data, "test", images="crops224").samples
    rng = np.random.default_rng(0)
    chosen = [Path(test[i].path) for i in sorted(rng.choice(len(test), args.photos, replace=False))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        library = work / "library"
        library.mkdir()
        for i, p in enumerate(chosen):  # a flat copy: the walk, reads and hashes are part of the measurement
            (library / f"{i:05d}_{p.name}").write_bytes(p.read_bytes())
        calibration = [str(p) for p in chosen[:: max(1, len(chosen) // 100)]]
        for name in args.backbones:
            model, onnx = one_pass_model(name, work / name)
            int8 = quantize_model(onnx, calibration, work / f"{name}-int8" / "model.onnx", photos=100)
            row = {"backbone": name, "photos": len(chosen)}
            row["dogbreeds_fp32"] = classify_rate(onnx, library, work / f"{name}-fp32.db")
            row["dogbreeds_int8"] = classify_rate(int8, library, work / f"{name}-int8.db")
            row["eager_loop"] = eager_loop_rate(model, name, sorted(library.iterdir()), work / f"{name}-eager.db")
            rows.append({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()})
            print(json.dumps(rows[-1]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "classify_speed.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = [
        f"# `dogbreeds classify` end to end, {args.photos} Stanford test crops, this machine",
        "",
        f"Command: `python benchmarks/classify_speed.py {' '.join(sys.argv[1:])}`",
        "",
        "| backbone | dogbreeds fp32 | dogbreeds int8 | per-photo eager loop | int8 / eager |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['backbone']} | {r['dogbreeds_fp32']} | {r['dogbreeds_int8']} | {r['eager_loop']} | "
        f"{r['dogbreeds_int8'] / r['eager_loop']:.1f}x |"
        for r in rows
    ]
    (RESULTS / "classify_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

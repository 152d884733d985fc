"""Build the model shipped inside the package, from the official TRAIN list only, and its int8 copy.

    python scripts/build_default_model.py --data ../shared/datasets/stanford-dogs

1. Trains the feature-extraction head (docs/training.md) on the train-list crops, validated on whole frames it
   never saw: ``fullframe224-train-sample/`` and ``fullres-sample/`` (their own crops leave training; the
   test-list photos of ``fullres-sample/`` are refused as validation photos).
2. Makes the int8 copy for OpenVINO (NNCF), calibrated on 240 train-list crops outside the validation photos.
3. Evaluates both on the official test list (reported in the cards, never used for any choice) and copies them
   with their cards to src/dogbreeds/assets/default.{onnx,json} and default.int8.{onnx,json}. The retrieval
   projection (``default.retrieval.npz``) depends on the backbone's features only and is kept, its figures (the
   card's ``metrics.retrieval``) copied from the shipped card; to refit both: ``dogbreeds fit-retrieval``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
from pathlib import Path

from dogbreeds.core.card import ONNX_NAME, load_card, save_card, write_json_atomic
from dogbreeds.evaluation.evaluate import evaluate
from dogbreeds.inference.quantize import quantize_model
from dogbreeds.training.feature_head import FeaturesConfig, train_features

ASSETS = Path(__file__).resolve().parents[1] / "src" / "dogbreeds" / "assets"
MAX_BYTES = 25_000_000
VALIDATION = ("fullframe224-train-sample", "fullres-sample")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/stanford-dogs"))
    parser.add_argument("--backbone", default="tf_efficientnet_lite2")
    parser.add_argument("--out", type=Path, default=Path("runs/default"))
    parser.add_argument("--cache-dir", type=Path)
    args = parser.parse_args()
    data = args.data
    cfg = FeaturesConfig(data=str(data), out=str(args.out), backbone=args.backbone, split="train",
                         images="crops224", val_frames=tuple(str(data / v) for v in VALIDATION))  # fmt: skip
    train_features(cfg, cache_root=args.cache_dir)
    size = (args.out / ONNX_NAME).stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{args.out / ONNX_NAME} is {size:,} bytes, over the {MAX_BYTES:,} the package may ship")
    held_out = {f"{p.parent.name}/{p.name}" for v in VALIDATION for p in (data / v).glob("*/*.jpg")}
    train = [line.split()[0] for line in (data / "lists" / "train_list.txt").read_text().splitlines() if line]
    pool = [r for r in train if r not in held_out]
    random.Random(0).shuffle(pool)
    int8 = args.out.parent / (args.out.name + "-int8") / ONNX_NAME
    with tempfile.TemporaryDirectory() as tmp:
        for rel in pool[:240]:
            (Path(tmp) / rel.replace("/", "__")).symlink_to((data / "crops224" / rel).resolve())
        quantize_model(args.out / ONNX_NAME, [tmp], int8, photos=240, runtime="openvino")
    for model, extra in ((args.out, {"backend": "onnx", "precision": "fp32"}), (int8, {"backend": "openvino"})):
        result = evaluate(str(data), model=model, split="test", images="crops224", **extra)
        card = load_card(model)
        card.metrics["test"] = {**result.metrics, "data": "official test list, crops224 (8,580 photos)"}
        card.retrieval = "default.retrieval.npz"  # beside the shipped copies, with its figures
        card.metrics["retrieval"] = load_card(ASSETS / "default.onnx").metrics.get("retrieval", {})
        if model == args.out:
            save_card(card, args.out)
        else:
            write_json_atomic(int8.with_suffix(".json"), card.to_dict())
        print(f"{card.id}: test {result.metrics}")
    ASSETS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.out / ONNX_NAME, ASSETS / "default.onnx")
    shutil.copyfile(args.out / "model.json", ASSETS / "default.json")
    shutil.copyfile(int8, ASSETS / "default.int8.onnx")
    shutil.copyfile(int8.with_suffix(".json"), ASSETS / "default.int8.json")


if __name__ == "__main__":
    main()

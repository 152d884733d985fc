"""Build the model shipped inside the package, from the official TRAIN list only.

    python scripts/build_default_model.py --data ../shared/datasets/stanford-dogs

Trains the feature-extraction head chosen in benchmarks/results/default_model_selection.md, evaluates it on
the official test list (reported in the card, never used for any choice), and copies the ONNX model and its
card to src/dogbreeds/assets/default.{onnx,json}.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from dogbreeds.core.card import ONNX_NAME, load_card, save_card
from dogbreeds.evaluation.evaluate import evaluate
from dogbreeds.training.feature_head import FeaturesConfig, train_features

ASSETS = Path(__file__).resolve().parents[1] / "src" / "dogbreeds" / "assets"
MAX_BYTES = 25_000_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/datasets/stanford-dogs")
    parser.add_argument("--backbone", default="tf_efficientnet_lite2")
    parser.add_argument("--no-flip", dest="flip", action="store_false")
    parser.add_argument("--out", type=Path, default=Path("runs/default"))
    parser.add_argument("--cache-dir", type=Path)
    args = parser.parse_args()

    cfg = FeaturesConfig(
        data=args.data, out=str(args.out), backbone=args.backbone, split="train", images="crops224", flip=args.flip
    )
    train_features(cfg, cache_root=args.cache_dir)
    result = evaluate(args.data, model=args.out, split="test", images="crops224")
    card = load_card(args.out)
    card.metrics["test"] = {**result.metrics, "data": "official test list, crops224 (8,580 photos)"}
    save_card(card, args.out)
    size = (args.out / ONNX_NAME).stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{args.out / ONNX_NAME} is {size:,} bytes, over the {MAX_BYTES:,} the package may ship")
    ASSETS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.out / ONNX_NAME, ASSETS / "default.onnx")
    shutil.copyfile(args.out / "model.json", ASSETS / "default.json")
    print(f"shipped {card.id}: test {result.metrics}; {size:,} bytes")


if __name__ == "__main__":
    main()

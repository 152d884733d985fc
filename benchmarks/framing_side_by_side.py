"""The framing change side by side: the whole resize then crop (before) against two box resizes (now).

    python benchmarks/framing_side_by_side.py [--backbone tf_efficientnet_lite0] [--photos 1000] [--rounds 5]

Alternating rounds of the catalog (the Classifier behind ``dogbreeds classify``, a fresh SQLite catalog each time)
over the same Stanford-sized JPEGs (made from ``fullres-sample/`` as ``classify_speed.py --source fullres`` makes
them), one with each framing, so that the shared machine's drift falls on both alike. The model: classify_speed's
one-pass model of the backbone, in the int8 copy ``dogbreeds quantize --runtime openvino`` makes, on OpenVINO (the
fastest runtime, where framing weighs most). Writes
benchmarks/results/framing_side_by_side.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from _results import write_results
from classify_speed import fullres_library, one_pass_model
from PIL import Image

from dogbreeds.catalog.classify import Classifier
from dogbreeds.catalog.database import open_catalog
from dogbreeds.core import transforms
from dogbreeds.data.stanford import load_stanford
from dogbreeds.inference.predictor import Predictor
from dogbreeds.inference.quantize import quantize_model


def whole_resize_then_crop(img: Image.Image, cfg: transforms.Preprocess) -> Image.Image:
    """The framing before the change: every resized pixel computed, most cut away."""
    w, h = img.size
    scale = cfg.resize_to / min(w, h)
    nw, nh = max(cfg.input_size, round(w * scale)), max(cfg.input_size, round(h * scale))
    img = img.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - cfg.input_size) // 2, (nh - cfg.input_size) // 2
    return img.crop((left, top, left + cfg.input_size, top + cfg.input_size))


def catalog_rate(predictor: Predictor, photos: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return Classifier(predictor, open_catalog(f"{tmp}/catalog.db"), batch_size=16).run([photos]).photos_per_second


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/stanford-dogs"))
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ["DOGBREEDS_PROGRESS"] = "0"
    current = transforms.resize_center_crop
    framings = {"whole resize then crop": whole_resize_then_crop, "two box resizes": current}
    rounds = []
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as models:
        fullres_library(args.data, args.photos, Path(tmp))
        _, onnx = one_pass_model(args.backbone, Path(models) / "fp32")
        calibration = [s.path for s in load_stanford(args.data, "train", images="crops224").samples[::50]]
        int8 = quantize_model(onnx, calibration, Path(models) / "int8" / "model.onnx", photos=len(calibration),
                              runtime="openvino")  # fmt: skip
        predictor = Predictor(int8, backend="openvino")
        for _ in range(args.rounds):
            rates = {}
            for name, framing in framings.items():
                transforms.resize_center_crop = framing  # `pixels` looks it up at each call
                rates[name] = round(catalog_rate(predictor, Path(tmp)), 1)
            transforms.resize_center_crop = current
            rounds.append(rates)
            print(rates, flush=True)
    write_results(
        "framing_side_by_side", rounds, title="Framing side by side: photos/s of the catalog, alternating rounds",
        notes=[f"{args.backbone} (one-pass, int8 for OpenVINO) on OpenVINO; {args.photos} Stanford-sized JPEGs."],
        header=["round", *framings], rows=[[i + 1, *r.values()] for i, r in enumerate(rounds)],
    )  # fmt: skip


if __name__ == "__main__":
    main()

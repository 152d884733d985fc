"""End-to-end photos/s of dogbreeds beside the ways people usually predict, in one run, on the same photos.

    python benchmarks/inference_vs_baselines.py --data ../shared/datasets/stanford-dogs [--photos 256]

1. dogbreeds: the shipped model through the Predictor (ONNX Runtime, batches, decoding threads); also int8 when
   --int8 names a quantised copy.
2. the studies' way: one photo at a time (load, resize to 299, normalise, eager model call) with the Xception
   architecture they shipped (timm ``legacy_xception``, random weights: speed does not depend on them).
3. timm's documented batch recipe: ``resolve_data_config`` + ``create_transform`` + a DataLoader (2 workers)
   + the eager model, on the same backbone as ours (``tf_efficientnet_lite2``, one pass per photo).

Also the roofline: each model's FLOPs per photo (torch's FlopCounterMode) times the measured photos/s, against
the machine's measured peak (a large fp32 matrix product). Writes benchmarks/results/inference_vs_baselines.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dogbreeds.data.stanford import load_stanford
from dogbreeds.inference.predictor import Predictor

RESULTS = Path(__file__).parent / "results"


def flops_per_image(model: torch.nn.Module, size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, size, size))
    return float(counter.get_total_flops())


def peak_flops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - started)


def run_dogbreeds(paths: list[Path], model: str | None) -> float:
    predictor = Predictor(model)
    list(predictor.predict_paths(paths[:16]))  # warm-up
    started = time.perf_counter()
    list(predictor.predict_paths(paths))
    return len(paths) / (time.perf_counter() - started)


def run_studies_way(paths: list[Path]) -> tuple[float, float]:
    import timm

    model = timm.create_model("legacy_xception", pretrained=False).eval()
    mean, std = np.array([0.5] * 3, np.float32), np.array([0.5] * 3, np.float32)

    def one(path: Path) -> None:
        img = Image.open(path).convert("RGB").resize((299, 299))
        x = torch.from_numpy(((np.asarray(img, np.float32) / 255 - mean) / std).transpose(2, 0, 1))[None]
        with torch.no_grad():
            model(x)

    one(paths[0])
    started = time.perf_counter()
    for p in paths:
        one(p)
    return len(paths) / (time.perf_counter() - started), flops_per_image(model, 299)


def run_timm_recipe(paths: list[Path]) -> tuple[float, float]:
    import timm
    from timm.data import create_transform, resolve_data_config
    from torch.utils.data import DataLoader, Dataset

    from dogbreeds.models.backbones import create_backbone

    model = create_backbone("tf_efficientnet_lite2")
    transform = create_transform(**resolve_data_config({}, model=model))

    class Photos(Dataset):
        def __len__(self) -> int:
            return len(paths)

        def __getitem__(self, i: int) -> torch.Tensor:
            return transform(Image.open(paths[i]).convert("RGB"))

    loader = DataLoader(Photos(), batch_size=16, num_workers=2)
    with torch.no_grad():
        model(next(iter(loader)))
        started = time.perf_counter()
        for x in loader:
            model(x).softmax(1)
    del timm
    return len(paths) / (time.perf_counter() - started), flops_per_image(model, 260)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/stanford-dogs"))
    parser.add_argument("--photos", type=int, default=256)
    parser.add_argument("--int8", help="a quantised copy of the shipped model to measure too")
    args = parser.parse_args()
    paths = [s.path for s in load_stanford(args.data, "test").samples[:: max(1, 8580 // args.photos)]][: args.photos]
    peak = peak_flops()
    from dogbreeds.models.backbones import create_backbone

    lite2_flops = flops_per_image(create_backbone("tf_efficientnet_lite2"), 260)
    rows = {
        "dogbreeds (shipped lite2, photo + mirror image, ONNX Runtime fp32)": (
            run_dogbreeds(paths, None),
            2 * lite2_flops,
        )
    }
    if args.int8:
        rows["dogbreeds int8 copy"] = (run_dogbreeds(paths, args.int8), 2 * lite2_flops)
    rows["studies' way: one photo at a time, eager Xception"] = run_studies_way(paths)
    rows["timm recipe: DataLoader + eager lite2 (one pass)"] = run_timm_recipe(paths)
    result = {
        "photos": len(paths), "cpu_count": os.cpu_count(), "peak_gflops_measured": round(peak / 1e9, 1),
        "rows": [{"pipeline": k, "photos_per_second": round(v, 2), "gflops_per_photo": round(f / 1e9, 3),
                  "achieved_gflops": round(v * f / 1e9, 1), "share_of_peak": round(v * f / peak, 3)}
                 for k, (v, f) in rows.items()],
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "inference_vs_baselines.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

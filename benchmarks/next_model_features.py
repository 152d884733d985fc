"""Pooled lite2 features of every Stanford photo and view the next-model study needs (issue 18), computed once.

    python benchmarks/next_model_features.py --stanford ../shared/datasets/stanford-dogs [--work /tmp/next-model]

One backbone pass per view, single view and mirror image kept apart (so flip-averaging, and mirroring only some
photos, can both be studied without running the backbone again). Sets, each a ``<work>/<set>.npz`` of
``features`` (N x 1280, float32), ``labels`` (breed folder names) and ``paths``:

  train-crops / train-crops-mirror   the 12,000 train-list crops
  train-rrc                          one seeded random resized crop of each train-list crop (area 35-100 %)
  test-crops / test-crops-mirror     the 8,580 test-list crops
  frames / frames-mirror             the 1,200 whole frames of fullframe224-train-sample/ (train-list photos)
  fullres / fullres-mirror           the 100 full-resolution whole frames of fullres-sample/

plus ``imagenet_head.npz`` (the backbone's own 1000-way classifier, linear on the features). The backbone runs
on OpenVINO in fp32 (the ONNX copy of the shipped weights without its breed head); a set already written is
not computed again. Takes about 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from dogbreeds.core.parallel import batched, map_ahead
from dogbreeds.core.progress import progress
from dogbreeds.core.transforms import Preprocess, pixels
from dogbreeds.data.images import load_rgb
from dogbreeds.inference.backends import open_runner

View = Callable[[Path], np.ndarray]


def backbone_model(work: Path) -> tuple[Path, Preprocess]:
    """The lite2 backbone (the shipped model's frozen weights) as ONNX, and its preprocessing."""
    from dogbreeds.models.backbones import backbone_preprocess, create_backbone
    from dogbreeds.models.heads import BreedModel
    from dogbreeds.models.onnx_export import export_onnx

    backbone = create_backbone("tf_efficientnet_lite2", weights="auto")
    preprocess = backbone_preprocess(backbone)
    path = work / "lite2-backbone.onnx"
    if not path.exists():
        export_onnx(BreedModel(backbone), preprocess.input_size, path)
    fc = backbone.get_classifier()
    np.savez(work / "imagenet_head.npz", weight=fc.weight.detach().numpy(), bias=fc.bias.detach().numpy())
    return path, preprocess


def random_resized_crop(img: Image.Image, seed: int) -> Image.Image:
    """A seeded crop of 35-100 % of the area, aspect ratio 3/4-4/3 (torchvision's RandomResizedCrop idea)."""
    rng = np.random.default_rng(seed)
    w, h = img.size
    for _ in range(10):
        area = w * h * rng.uniform(0.35, 1.0)
        ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        cw, ch = round(np.sqrt(area * ratio)), round(np.sqrt(area / ratio))
        if 0 < cw <= w and 0 < ch <= h:
            x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
            return img.crop((int(x), int(y), int(x + cw), int(y + ch)))
    return img


def embed(runner, paths: list[Path], view: View, desc: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = []
    with progress(desc, total=len(paths), unit="photos") as bar:
        for batch in batched(map_ahead(view, paths, ahead=64), 16):
            out.append(runner(np.stack(batch))["features"])
            bar.advance(len(batch))
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stanford", type=Path, default=Path("../shared/datasets/stanford-dogs"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/next-model"))
    args = parser.parse_args()
    root, work = args.stanford, args.work
    work.mkdir(parents=True, exist_ok=True)
    onnx, cfg = backbone_model(work)
    runner = open_runner(onnx, cfg, backend="openvino", precision="fp32")

    def plain(p: Path) -> np.ndarray:
        return pixels(load_rgb(p, min_size=cfg.resize_to), cfg)

    def mirror(p: Path) -> np.ndarray:
        return np.ascontiguousarray(plain(p)[:, ::-1])

    def rrc(p: Path) -> np.ndarray:
        img = load_rgb(p, min_size=cfg.resize_to)
        return pixels(random_resized_crop(img, zlib.crc32(p.name.encode())), cfg)

    def listed(split: str) -> list[Path]:
        lines = (root / "lists" / f"{split}_list.txt").read_text().splitlines()
        return [root / "crops224" / line.split()[0] for line in lines if line.strip()]

    sets = {
        "train-crops": (listed("train"), plain),
        "train-crops-mirror": (listed("train"), mirror),
        "frames": (sorted((root / "fullframe224-train-sample").glob("*/*.jpg")), plain),
        "frames-mirror": (sorted((root / "fullframe224-train-sample").glob("*/*.jpg")), mirror),
        "fullres": (sorted((root / "fullres-sample").glob("*/*.jpg")), plain),
        "fullres-mirror": (sorted((root / "fullres-sample").glob("*/*.jpg")), mirror),
        "test-crops": (listed("test"), plain),
        "test-crops-mirror": (listed("test"), mirror),
        "train-rrc": (listed("train"), rrc),
    }
    for name, (paths, view) in sets.items():
        target = work / f"{name}.npz"
        if target.exists():
            continue
        feats = embed(runner, paths, view, name)
        labels = np.array([p.parent.name for p in paths])
        rel = np.array([f"{p.parent.name}/{p.name}" for p in paths])
        np.savez(work / f".{name}.npz", features=feats.astype(np.float32), labels=labels, paths=rel)
        (work / f".{name}.npz").replace(target)


if __name__ == "__main__":
    main()

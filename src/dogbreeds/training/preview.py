"""``dogbreeds data preview``: a grid of training photos after the augmentation training really applies.

The photos are framed as :func:`~dogbreeds.data.decoded.decode_samples` stores them for training, then cropped,
resized and mirrored by :func:`~dogbreeds.training.augment.random_resized_crop` with the training settings, so
what the grid shows is what a network trains on (the feature-head recipe adds only the mirror image).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dogbreeds.core.breeds import human_name
from dogbreeds.core.i18n import _
from dogbreeds.core.transforms import Preprocess
from dogbreeds.data.decoded import frame_sample
from dogbreeds.data.folders import load_samples
from dogbreeds.data.images import UnreadableImage
from dogbreeds.training.config import TrainConfig

TITLE_HEIGHT = 18


def augmented(frames: np.ndarray, size: int, *, crop_scale_min: float, seed: int) -> np.ndarray:
    """Training's augmentation of framed photos (uint8, N x S x S x 3) -> uint8 crops (N x size x size x 3)."""
    import torch

    from dogbreeds.training.augment import random_resized_crop, to_float

    x = to_float(torch.from_numpy(frames), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # no normalising: shown as is
    crops = random_resized_crop(x, size, scale=(crop_scale_min, 1.0), generator=torch.Generator().manual_seed(seed))
    return (crops.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def preview_grid(
    root: Path, out: Path, *, split: str | None = None, n: int = 16, size: int = 224, seed: int = 0,
    crop_scale_min: float = TrainConfig.crop_scale_min,
) -> Path:  # fmt: skip
    """Write a PNG grid of ``n`` random training photos after augmentation, each titled with its breed."""
    data = load_samples(root, split)
    picks = random.Random(seed).sample(data.samples, min(n, len(data)))
    cfg = Preprocess(input_size=size)
    frames, titles = [], []
    for sample in picks:
        try:
            frames.append(frame_sample(sample, cfg))
            titles.append(human_name(sample.breed_id)[:34])
        except UnreadableImage as err:
            frames.append(np.zeros((size, size, 3), np.uint8))
            titles.append(_("unreadable: {why}", why=err)[:34])
    tiles = augmented(np.stack(frames), size, crop_scale_min=crop_scale_min, seed=seed) if frames else []
    cols = max(1, min(4, len(picks)))
    rows = (len(picks) + cols - 1) // cols
    grid = Image.new("RGB", (cols * size, rows * (size + TITLE_HEIGHT)), "white")
    draw = ImageDraw.Draw(grid)
    for i, (tile, title) in enumerate(zip(tiles, titles, strict=True)):
        x, y = (i % cols) * size, (i // cols) * (size + TITLE_HEIGHT)
        grid.paste(Image.fromarray(tile), (x, y + TITLE_HEIGHT))
        draw.text((x + 4, y + 3), title, fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)
    return out

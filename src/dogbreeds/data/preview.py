"""``dogbreeds data preview``: a grid of augmented training samples, to see what the model will see."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

from dogbreeds.breeds import human_name
from dogbreeds.data.folders import load_samples
from dogbreeds.data.images import UnreadableImage, load_rgb
from dogbreeds.transforms import Preprocess, train_transform

TITLE_HEIGHT = 18


def preview_grid(
    root: Path, out: Path, *, split: str | None = None, n: int = 16, size: int = 224, seed: int = 0
) -> Path:
    """Write a PNG grid of ``n`` random training photos after augmentation, each titled with its breed."""
    import torch

    data = load_samples(root, split)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    picks = rng.sample(data.samples, min(n, len(data)))
    cfg = Preprocess(input_size=size)
    transform = train_transform(cfg)
    cols = max(1, min(4, len(picks)))
    rows = (len(picks) + cols - 1) // cols
    grid = Image.new("RGB", (cols * size, rows * (size + TITLE_HEIGHT)), "white")
    draw = ImageDraw.Draw(grid)
    mean, std = torch.tensor(cfg.mean)[:, None, None], torch.tensor(cfg.std)[:, None, None]
    for i, sample in enumerate(picks):
        x, y = (i % cols) * size, (i // cols) * (size + TITLE_HEIGHT)
        try:
            tensor = transform(load_rgb(sample.path))
        except UnreadableImage as err:
            draw.text((x + 4, y + 4), f"unreadable: {err}"[:40], fill="red")
            continue
        pixels = ((tensor * std + mean).clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()
        grid.paste(Image.fromarray(pixels), (x, y + TITLE_HEIGHT))
        draw.text((x + 4, y + 3), human_name(sample.breed_id)[:34], fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)
    return out

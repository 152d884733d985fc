"""``dogbreeds data preview``: a grid of augmented training samples, to see what the model will see."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from dogbreeds.core.breeds import human_name
from dogbreeds.core.transforms import Preprocess
from dogbreeds.data.folders import load_samples
from dogbreeds.data.images import UnreadableImage, load_rgb

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


def train_transform(
    cfg: Preprocess,
    *,
    scale: tuple[float, float] = (0.35, 1.0),
    hflip: float = 0.5,
    shift: float = 0.1,
    rotation: float = 15.0,
    zoom: float = 0.1,
    brightness: float = 0.2,
    contrast: float = 0.2,
) -> Callable[[Image.Image], Any]:
    """The studies' training augmentation list, each a parameter (0 switches one off); returns a tensor.

    Args:
        scale: random-resized-crop area range; the lower end teaches the model to find the dog in a whole frame.
        hflip: probability of a horizontal flip.
        shift: largest translation, as a fraction of the side.
        rotation: largest rotation in degrees.
        zoom: largest zoom in or out, as a fraction.
        brightness: colour-jitter brightness factor.
        contrast: colour-jitter contrast factor.
    """
    from torchvision import transforms as T

    steps: list[Any] = [
        T.RandomResizedCrop(cfg.input_size, scale=scale, interpolation=T.InterpolationMode(cfg.interpolation))
    ]
    if hflip:
        steps.append(T.RandomHorizontalFlip(hflip))
    if shift or rotation or zoom:
        steps.append(T.RandomAffine(rotation, translate=(shift, shift), scale=(1 - zoom, 1 + zoom)))
    if brightness or contrast:
        steps.append(T.ColorJitter(brightness=brightness, contrast=contrast))
    steps += [T.ToTensor(), T.Normalize(cfg.mean, cfg.std)]
    return T.Compose(steps)

"""Augmentation of whole uint8 batches in one tensor operation (random resized crop + flip), and normalisation.

Per-photo torchvision transforms cost a Python round trip per image; here one ``affine_grid`` + ``grid_sample``
crops, scales and mirrors a whole batch. Inception-style crops (area 25-100 %, aspect 3/4-4/3) are the strongest
single augmentation for training from scratch on 12,000 photos.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def to_float(batch: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 -> normalised ``(N, 3, H, W)`` float32."""
    x = batch.permute(0, 3, 1, 2).float().div_(255)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def random_resized_crop(
    x: torch.Tensor, size: int, *, scale: tuple[float, float] = (0.25, 1.0), ratio: tuple[float, float] = (0.75, 4 / 3),
    hflip: float = 0.5, generator: torch.Generator | None = None,
) -> torch.Tensor:  # fmt: skip
    """A random crop of each image (area fraction in ``scale``, aspect in ``ratio``), resized to ``size``, mirrored
    with probability ``hflip``. ``x`` is ``(N, C, H, W)`` float; the crop never leaves the image."""
    n = x.shape[0]
    area = torch.empty(n).uniform_(*scale, generator=generator)
    log_ratio = torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspect = log_ratio.exp()
    width = (area * aspect).sqrt().clamp(max=1.0)  # fractions of the image side
    height = (area / aspect).sqrt().clamp(max=1.0)
    cx = (torch.rand(n, generator=generator) * 2 - 1) * (1 - width)  # centre in [-1, 1] keeps the crop inside
    cy = (torch.rand(n, generator=generator) * 2 - 1) * (1 - height)
    flip = torch.where(torch.rand(n, generator=generator) < hflip, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = height, cy
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

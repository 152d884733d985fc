"""Batch augmentation and decoded-photo arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dogbreeds.training.augment import random_resized_crop, to_float  # noqa: E402


def test_full_crop_is_the_image_and_flip_mirrors_it() -> None:
    x = torch.rand(3, 3, 16, 16)
    same = random_resized_crop(x, 16, scale=(1, 1), ratio=(1, 1), hflip=0.0)
    mirrored = random_resized_crop(x, 16, scale=(1, 1), ratio=(1, 1), hflip=1.0)
    assert torch.allclose(same, x, atol=1e-5) and torch.allclose(mirrored, x.flip(3), atol=1e-5)


def test_random_crops_are_seeded_sized_and_inside_the_image() -> None:
    x = torch.zeros(64, 1, 32, 32)
    x[:, :, :, :16] = 1.0  # left half white: a crop that left the image would show reflected padding
    a = random_resized_crop(x, 8, generator=torch.Generator().manual_seed(3))
    b = random_resized_crop(x, 8, generator=torch.Generator().manual_seed(3))
    assert a.shape == (64, 1, 8, 8) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and 0 < a.mean() < 1
    big = random_resized_crop(x, 32, scale=(0.25, 0.25), ratio=(1, 1), hflip=0.0, generator=torch.Generator())
    # a quarter-area crop is half the side: at most half of it can be the white half... or all of it
    assert ((big.mean((1, 2, 3)) > 0) & (big.mean((1, 2, 3)) < 1)).any()


def test_to_float_normalises_channels_first() -> None:
    batch = torch.full((2, 4, 4, 3), 255, dtype=torch.uint8)
    out = to_float(batch, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert out.shape == (2, 3, 4, 4) and torch.allclose(out, torch.ones_like(out))


def test_decoded_arrays_drop_unreadable_photos_and_are_cached(tmp_path: Path, tiny_tree: Path) -> None:
    from dogbreeds.core.transforms import Preprocess
    from dogbreeds.data.decoded import decode_samples
    from dogbreeds.data.samples import Sample

    photos = sorted(tiny_tree.rglob("*.jpg"))[:3]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    samples = [Sample(str(p), i) for i, p in enumerate(photos)] + [Sample(str(broken), 7)]
    preprocess = Preprocess(input_size=24, crop_pct=1.0)
    images, labels = decode_samples(samples, preprocess, cache_dir=tmp_path / "cache")
    assert images.shape == (3, 24, 24, 3) and images.dtype == np.uint8 and labels.tolist() == [0, 1, 2]
    (cached,) = (tmp_path / "cache").glob("decoded-*.npz")
    again, _ = decode_samples(samples, preprocess, cache_dir=tmp_path / "cache")
    assert np.array_equal(images, again) and list((tmp_path / "cache").glob("*")) == [cached]

"""The loader turns every kind of file into an RGB photo or a clear reason, and never raises anything else."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dogbreeds.data.images import UnreadableImage, iter_image_files, load_rgb


def _rgb(mode_image: Image.Image, path: Path, **save) -> Path:
    mode_image.save(path, **save)
    return path


@pytest.mark.parametrize(
    "name,image,save",
    [
        ("grey.png", Image.new("L", (30, 20), 128), {}),
        ("rgba.png", Image.new("RGBA", (30, 20), (255, 0, 0, 0)), {}),
        ("la.png", Image.new("LA", (30, 20), (10, 255)), {}),
        ("palette.gif", Image.new("P", (30, 20), 3), {}),
        ("cmyk.jpg", Image.new("CMYK", (30, 20), (0, 255, 255, 0)), {}),
        ("photo.bmp", Image.new("RGB", (30, 20), (1, 2, 3)), {}),
        ("photo.webp", Image.new("RGB", (30, 20), (1, 2, 3)), {}),
        ("deep.png", Image.fromarray(np.full((20, 30), 65535, dtype=np.uint16)), {}),
    ],
)
def test_every_mode_becomes_rgb(tmp_path: Path, name: str, image: Image.Image, save: dict) -> None:
    img = load_rgb(_rgb(image, tmp_path / name, **save))
    assert img.mode == "RGB" and img.size == (30, 20)


def test_transparent_pixels_become_white_and_16_bit_is_scaled(tmp_path: Path) -> None:
    assert load_rgb(_rgb(Image.new("RGBA", (4, 4), (255, 0, 0, 0)), tmp_path / "a.png")).getpixel((0, 0)) == (255,) * 3
    white16 = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    assert load_rgb(_rgb(white16, tmp_path / "w.png")).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert load_rgb(tmp_path / "rot.jpg").size == (20, 40)


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    r, g, b = load_rgb(tmp_path / "anim.gif").getpixel((5, 5))
    assert r > 200 and b < 50


def test_heic_is_read_when_pillow_heif_is_installed(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    Image.new("RGB", (32, 32), (0, 200, 0)).save(tmp_path / "phone.heic")
    assert load_rgb(tmp_path / "phone.heic").size == (32, 32)


def _truncated(path: Path) -> Path:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)  # opening it for reading would wait for a writer forever
    return path


def _symlink(path: Path, target: str | Path) -> Path:
    path.symlink_to(target)
    return path


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda p: _write(p / "empty.jpg", b""), "empty"),
        (lambda p: _truncated(p / "cut.jpg"), "truncated"),
        (lambda p: _write(p / "notes.jpg", b"not a photo"), "not a readable image"),
        (lambda p: _write(p / "doc.txt", b"hello"), "not an image file"),
        (lambda p: p / "missing.jpg", "vanished"),
        (lambda p: p, r"not a regular file \(a folder\)"),
        (lambda p: _fifo(p / "pipe.jpg"), r"not a regular file \(a named pipe\)"),
        (lambda p: Path("/dev/zero"), r"not a regular file \(a device file\)"),
        (lambda p: _symlink(p / "zero.jpg", "/dev/zero"), r"not a regular file \(a device file\)"),
        (lambda p: _symlink(p / "gone.jpg", p / "nothing.jpg"), "broken symbolic link"),
    ],
)
def test_bad_files_raise_unreadable_with_a_reason(tmp_path: Path, make, reason: str) -> None:
    with pytest.raises(UnreadableImage, match=reason):
        load_rgb(make(tmp_path))


def test_files_over_the_size_cap_are_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = _write(tmp_path / "big.jpg", b"\xff" * (3 << 20))
    monkeypatch.setenv("DOGBREEDS_MAX_FILE_MB", "2")
    with pytest.raises(UnreadableImage, match="file too large"):
        load_rgb(big)


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    Image.new("RGB", (100, 100)).save(tmp_path / "bomb.png")
    with pytest.raises(UnreadableImage, match="decompression-bomb"):
        load_rgb(tmp_path / "bomb.png")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(tmp_path: Path) -> None:
    p = tmp_path / "secret.jpg"
    Image.new("RGB", (4, 4)).save(p)
    p.chmod(0)
    with pytest.raises(UnreadableImage, match="permission"):
        load_rgb(p)


def test_big_jpeg_is_decoded_at_reduced_size(tmp_path: Path) -> None:
    Image.new("RGB", (2400, 1600), (9, 9, 9)).save(tmp_path / "big.jpg")
    small = load_rgb(tmp_path / "big.jpg", min_size=300)
    assert 300 <= min(small.size) < 800  # draft decodes at 1/2, 1/4 or 1/8 scale, never below what is needed


def test_walk_is_recursive_sorted_skips_hidden_and_survives_symlink_loops(tmp_path: Path) -> None:
    for rel in ["b/2.jpg", "a/1.png", "a/deep/3.webp", ".hidden/4.jpg", "a/notes.txt", "café dir/ünï côdé.jpg"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a")
    names = [p.relative_to(tmp_path).as_posix() for p in iter_image_files([tmp_path])]
    assert names == ["a/1.png", "a/deep/3.webp", "b/2.jpg", "café dir/ünï côdé.jpg"]


def test_read_photo_keeps_original_size_and_exif_date(tmp_path: Path) -> None:
    from dogbreeds.data.images import read_photo

    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2024:05:17 10:11:12"
    Image.new("RGB", (1600, 1200)).save(tmp_path / "dated.jpg", exif=exif)
    photo = read_photo(tmp_path / "dated.jpg", min_size=200)
    assert photo.size == (1600, 1200) and photo.image.size[0] < 1600  # decoded small, size as on disk
    assert photo.taken_at == "2024:05:17 10:11:12"
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.png")
    assert read_photo(tmp_path / "plain.png").taken_at is None

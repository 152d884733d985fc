"""Tiny synthetic photo folders, made fresh for each test session; no network, no shared data needed."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("DOGBREEDS_PROGRESS", "0")
os.environ["DOGBREEDS_LANG"] = "en"  # tests read English unless they ask for French (whatever the machine's locale)
# training commands track to MLflow by default: into a throw-away store, never ./runs of the checkout
os.environ.setdefault("DOGBREEDS_RUNS", tempfile.mkdtemp(prefix="dogbreeds-runs-"))

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DOGBREEDS_SHARED", REPO.parent / "shared")) / "datasets" / "stanford-dogs"
EXAMPLES = REPO / "examples" / "photos"

needs_shared = pytest.mark.skipif(not (SHARED / "crops224").is_dir(), reason="../shared/datasets/stanford-dogs absent")


def make_photo(path: Path, colour: tuple[int, int, int], *, size: tuple[int, int] = (64, 48), seed: int = 0) -> Path:
    """A small noisy image dominated by ``colour``, so breeds differ in a way a model can learn."""
    rng = np.random.default_rng(seed)
    base = np.array(colour, dtype=np.float32)[None, None, :]
    pixels = np.clip(base + rng.normal(0, 25, size=(size[1], size[0], 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


COLOURS = {"Scottish_deerhound": (200, 40, 40), "pug": (40, 200, 40), "n02110185-Siberian_husky": (40, 40, 200)}


@pytest.fixture(scope="session")
def tiny_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder-per-breed tree: 3 breeds x 8 photos, folder names in the three accepted spellings."""
    root = tmp_path_factory.mktemp("tree")
    for b, (folder, colour) in enumerate(COLOURS.items()):
        for i in range(8):
            make_photo(root / folder / f"photo {i}.jpg", colour, seed=100 * b + i)
    return root


@pytest.fixture(scope="session")
def tiny_stanford(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A miniature Stanford Dogs folder: Images/, Annotation/ VOC XML and lists/ in the text form."""
    root = tmp_path_factory.mktemp("stanford")
    breeds = ["n02092002-Scottish_deerhound", "n02110958-pug"]
    lines = {"train": [], "test": []}
    for label, breed in enumerate(breeds, start=1):
        wnid = breed.split("-")[0]
        for i in range(6):
            rel = f"{breed}/{wnid}_{i}.jpg"
            make_photo(root / "Images" / rel, (200, 40, 40) if label == 1 else (40, 200, 40), size=(100, 80), seed=i)
            ann = root / "Annotation" / breed / f"{wnid}_{i}"
            ann.parent.mkdir(parents=True, exist_ok=True)
            ann.write_text(
                "<annotation><size><width>100</width><height>80</height></size><object><name>x</name>"
                "<bndbox><xmin>10</xmin><ymin>20</ymin><xmax>60</xmax><ymax>70</ymax></bndbox></object></annotation>"
            )
            lines["train" if i < 4 else "test"].append(f"{rel}\t{label}")
    (root / "lists").mkdir()
    for split, rows in lines.items():
        (root / "lists" / f"{split}_list.txt").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(autouse=True)
def _english_again() -> Iterator[None]:
    """A test that switches to French (``--lang fr``) leaves the next one in English."""
    yield
    from dogbreeds.core.i18n import set_language

    set_language(None)

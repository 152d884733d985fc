"""Any folder-per-breed tree (the association's own photos), and the dispatcher over every accepted layout."""

from __future__ import annotations

from pathlib import Path

from dogbreeds.core.breeds import breed_index
from dogbreeds.core.errors import NotFoundError, UsageError
from dogbreeds.core.i18n import _
from dogbreeds.data.images import is_image_path
from dogbreeds.data.samples import Sample, SampleSet
from dogbreeds.data.stanford import image_dir, is_stanford_root, load_stanford


def load_folder_tree(root: Path) -> SampleSet:
    """Photos under ``root/<breed folder>/`` (recursively), each folder name mapped to one of the 120 breeds.

    Raises:
        UnknownBreedError: a folder names no breed (the message lists the closest names).
        FileNotFoundError: ``root`` is missing or holds no photos.
    """
    if not root.is_dir():
        raise NotFoundError(_("{root} is not a folder", root=root))
    samples: list[Sample] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        photos = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_path(p))
        if not photos:
            continue
        label = breed_index(folder.name)
        samples.extend(Sample(p, label) for p in photos)
    if not samples:
        raise NotFoundError(
            _("{root} holds no photos in breed folders (expected {root}/<breed>/<photo>.jpg)", root=root)
        )
    return SampleSet(root.name, samples)


def load_samples(root: str | Path, split: str | None = None, *, images: str | None = None) -> SampleSet:
    """Load a Stanford Dogs folder (``split`` picks the official list) or any folder-per-breed tree."""
    root = Path(root)
    if is_stanford_root(root):
        # Whole photos (Images/) come with boxes to crop to; the shared crops224/ are cropped already.
        full_frame = image_dir(root, images).name == "Images"
        return load_stanford(root, split or "train", images=images, with_boxes=full_frame)
    if split is not None:
        raise UsageError(
            _(
                "--split {split} needs a Stanford Dogs folder (with lists/), and {root} is a plain tree",
                split=split,
                root=root,
            )
        )
    return load_folder_tree(root)

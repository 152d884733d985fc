"""Any folder-per-breed tree (the association's own photos), and the dispatcher over every accepted layout."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from dogbreeds.core.breeds import class_list, display_name, resolve_class
from dogbreeds.core.errors import NotFoundError, UsageError
from dogbreeds.core.i18n import _
from dogbreeds.data.images import is_image_path
from dogbreeds.data.samples import Sample, SampleSet
from dogbreeds.data.stanford import image_dir, is_stanford_root, load_stanford


def load_folder_tree(root: Path, *, new_breeds: bool = False, also: Collection[str] = ()) -> SampleSet:
    """Photos under ``root/<breed folder>/`` (recursively), each folder naming a breed: one of the 120, one of the
    wider vocabulary (``dalmatien``, ``croisé``...), one of ``also`` (the new breeds a model knows), or with
    ``new_breeds`` any name (a new class). The classes are the 120, then the tree's others
    (:func:`~dogbreeds.core.breeds.class_list`).

    Raises:
        UnknownBreedError: a folder names no breed (the message lists the closest names).
        UsageError: two folders name the same breed.
        FileNotFoundError: ``root`` is missing or holds no photos.
    """
    if not root.is_dir():
        raise NotFoundError(_("{root} is not a folder", root=root))
    found: dict[str, list[Path]] = {}
    folder_of: dict[str, str] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        photos = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_path(p))
        if not photos:
            continue
        breed = resolve_class(folder.name, new_breeds=new_breeds, also=also)
        if breed in folder_of:
            raise UsageError(_("the folders {a!r} and {b!r} both mean {breed}: merge them", a=folder_of[breed],
                               b=folder.name, breed=display_name(breed)))  # fmt: skip
        folder_of[breed] = folder.name
        found[breed] = photos
    if not found:
        raise NotFoundError(
            _("{root} holds no photos in breed folders (expected {root}/<breed>/<photo>.jpg)", root=root)
        )
    classes = class_list(set(found))
    index = {c: i for i, c in enumerate(classes)}
    samples = [Sample(p, index[breed], classes=classes) for breed, photos in found.items() for p in photos]
    return SampleSet(root.name, samples, classes)


def load_samples(
    root: str | Path,
    split: str | None = None,
    *,
    images: str | None = None,
    new_breeds: bool = False,
    also: Collection[str] = (),
) -> SampleSet:
    """Load a Stanford Dogs folder (``split`` picks the official list) or any folder-per-breed tree (``new_breeds``:
    folders naming no known breed become new classes)."""
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
    return load_folder_tree(root, new_breeds=new_breeds, also=also)

"""The Stanford Dogs layout: ``Images/`` (or the shared ``crops224/``), ``Annotation/`` VOC XML, official lists.

The official split comes either as the original archive's ``lists/train_list.mat`` / ``test_list.mat`` or as
the text form ``lists/train_list.txt`` (``folder/file.jpg<TAB>label``) of the shared copy.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from dogbreeds.core.breeds import breed_index
from dogbreeds.core.errors import NotFoundError, UsageError
from dogbreeds.core.i18n import _
from dogbreeds.data.samples import Box, Sample, SampleSet

IMAGE_DIRS = ("Images", "crops224")
SPLITS = ("train", "test")


def is_stanford_root(root: Path) -> bool:
    return (root / "lists").is_dir() and any((root / d).is_dir() for d in IMAGE_DIRS)


def image_dir(root: Path, images: str | None = None) -> Path:
    """The folder holding ``<wnid-breed>/`` photo folders: ``images`` if given, else ``Images`` then ``crops224``."""
    for name in [images] if images else IMAGE_DIRS:
        if (root / name).is_dir():
            return root / name
    raise NotFoundError(
        _("{root} has none of {names}: not a Stanford Dogs folder", root=root, names=", ".join(IMAGE_DIRS))
    )


def read_split_list(root: Path, split: str) -> list[str]:
    """Relative photo paths (``folder/file.jpg``) of the official ``train`` or ``test`` list."""
    if split not in SPLITS:
        raise UsageError(_("split must be one of {SPLITS}, not {split!r}", SPLITS=SPLITS, split=split))
    txt, mat = root / "lists" / f"{split}_list.txt", root / "lists" / f"{split}_list.mat"
    if txt.exists():
        return [line.split("\t")[0].strip() for line in txt.read_text().splitlines() if line.strip()]
    if mat.exists():
        from scipy.io import loadmat  # only the original archive needs scipy

        return [str(entry[0][0]) for entry in loadmat(mat)["file_list"]]
    raise NotFoundError(
        _(
            "no official {split} list in {value} (expected {name} or {name2})",
            split=split,
            value=root / "lists",
            name=txt.name,
            name2=mat.name,
        )
    )


def read_annotation(path: Path) -> tuple[list[Box], tuple[int, int] | None]:
    """Boxes of a VOC XML annotation and the (width, height) they refer to."""
    tree = ET.parse(path).getroot()
    size = tree.find("size")
    frame = None
    if size is not None:
        w, h = int(size.findtext("width", "0")), int(size.findtext("height", "0"))
        frame = (w, h) if w > 0 and h > 0 else None
    boxes = []
    for obj in tree.iter("object"):
        bb = obj.find("bndbox")
        if bb is not None:
            boxes.append(tuple(float(bb.findtext(k, "0")) for k in ("xmin", "ymin", "xmax", "ymax")))
    return boxes, frame  # type: ignore[return-value]


def load_stanford(root: Path, split: str, *, images: str | None = None, with_boxes: bool = False) -> SampleSet:
    """The official ``split`` of a Stanford Dogs folder, optionally with each photo's first annotated box.

    Photos of the list that are missing on disk are skipped (the shared samples hold only part of the data).
    """
    folder = image_dir(root, images)
    samples = []
    for rel in read_split_list(root, split):
        path = folder / rel
        if not path.exists():
            continue
        breed_folder = rel.split("/", 1)[0]
        box, frame = None, None
        if with_boxes:
            ann = root / "Annotation" / breed_folder / Path(rel).stem
            if ann.exists():
                boxes, frame = read_annotation(ann)
                box = boxes[0] if boxes else None
        samples.append(Sample(path, breed_index(breed_folder), box, frame))
    if not samples:
        raise NotFoundError(
            _("none of the official {split} photos were found under {folder}", split=split, folder=folder)
        )
    return SampleSet(f"{root.name}/{folder.name}:{split}", samples)

"""How often do photos without a dog get the ``not_a_dog`` verdict, and dog photos not?

    python benchmarks/not_a_dog_eval.py [--model M] [--stanford ../shared/datasets/stanford-dogs] [FOLDER ...]

Images without a dog, by source:

- ``packages``: the sample images that ship inside installed packages: scikit-image's ``skimage/data`` (a cat, a
  horse, people, a rocket, coffee, textures, documents...), matplotlib's sample data, scikit-learn's two images;
- ``stanford backgrounds`` (with ``--stanford``): the parts of Stanford Dogs' whole-frame photos outside every
  annotated dog box (kennels, floors, gardens, people, furniture): for each photo, the widest strip left, right,
  above or below the union of its boxes, when it is at least a third of the frame in both directions. These
  come from ImageNet photos the backbone saw as dog photos, so they are a hard case, not an easy one;
- any ``FOLDER`` given (``folders``).

The packaged images need scikit-image and scikit-learn installed (``pip install scikit-image scikit-learn``);
without them only matplotlib's few samples count. With ``--stanford`` the same whole-frame photos (the dogs,
``fullframe224-train-sample`` and ``fullres-sample``) say how many dogs are wrongly called ``not_a_dog``. Writes
benchmarks/results/not_a_dog_eval.{json,md}.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

from _results import write_results
from PIL import Image

from dogbreeds.core.verdicts import dog_score
from dogbreeds.data.images import iter_image_files, load_rgb
from dogbreeds.data.stanford import read_annotation
from dogbreeds.inference.predictor import NOT_A_DOG, Predictor

WHOLE_FRAME = ("fullres-sample", "fullframe224-train-sample")


def packaged_images() -> list[Path]:
    found = []
    for module, sub in (("skimage", "data"), ("matplotlib", "mpl-data/sample_data"), ("sklearn", "datasets/images")):
        spec = importlib.util.find_spec(module)
        if spec and spec.origin:
            folder = Path(spec.origin).parent / sub
            found += [p for p in iter_image_files([folder]) if "lbpcascade" not in p.name]
    return found


def whole_frame_photos(stanford: Path) -> list[Path]:
    return [p for name in WHOLE_FRAME if (stanford / name).is_dir() for p in iter_image_files([stanford / name])]


def dog_free_strip(photo: Path, stanford: Path, min_fraction: float = 1 / 3) -> Image.Image | None:
    """The widest part of ``photo`` outside the union of its annotated dog boxes, or None when too small."""
    boxes, frame = read_annotation(stanford / "Annotation" / photo.parent.name / photo.stem)
    image = load_rgb(photo)
    if not boxes or frame is None:
        return None
    sx, sy = image.width / frame[0], image.height / frame[1]  # boxes refer to the original frame
    x0, y0 = min(b[0] for b in boxes) * sx, min(b[1] for b in boxes) * sy
    x1, y1 = max(b[2] for b in boxes) * sx, max(b[3] for b in boxes) * sy
    strips = [(0, 0, x0, image.height), (x1, 0, image.width, image.height),
              (0, 0, image.width, y0), (0, y1, image.width, image.height)]  # fmt: skip
    left, top, right, bottom = max(strips, key=lambda s: (s[2] - s[0]) * (s[3] - s[1]))
    if right - left < min_fraction * image.width or bottom - top < min_fraction * image.height:
        return None
    return image.crop((round(left), round(top), round(right), round(bottom)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--model")
    parser.add_argument("--stanford", type=Path, help="Stanford Dogs folder: adds its dog-free strips and dogs")
    args = parser.parse_args()
    predictor = Predictor(args.model)
    sets: dict[str, list[Path]] = {"packages": packaged_images()}
    if args.folders:
        sets["folders"] = iter_image_files(args.folders)
    rows, results = [], {"model": predictor.card.id}
    with tempfile.TemporaryDirectory() as tmp:
        if args.stanford:
            dogs = whole_frame_photos(args.stanford)
            sets["stanford backgrounds"] = []
            for photo in dogs:
                if (strip := dog_free_strip(photo, args.stanford)) is not None:
                    sets["stanford backgrounds"].append(Path(tmp) / f"{photo.parent.name}_{photo.stem}.png")
                    strip.save(sets["stanford backgrounds"][-1])
        for name, photos in sets.items():
            results[name] = verdict_counts(predictor, photos, dogs=False)
            rows.append([name, "no", results[name]["images"], f"{results[name]['rate']:.1%}"])
        if args.stanford:
            results["stanford dogs, whole frame"] = verdict_counts(predictor, dogs, dogs=True)
            r = results["stanford dogs, whole frame"]
            rows.append(["stanford dogs, whole frame", "yes", r["images"], f"{r['rate']:.1%}"])
    sets_only = {k: v for k, v in results.items() if isinstance(v, dict)}
    v = predictor.card.verdicts
    rules = [(v.dog_score_power, t) for t in sorted({0.2, 0.25, round(v.min_dog_score, 3), 0.35, 0.4})]
    rules += [(0.0, t) for t in (0.4, 0.45, 0.495, 0.55, 0.6)]  # the ImageNet dog mass alone
    write_results(
        "not_a_dog_eval", results, title=f"not_a_dog verdicts ({predictor.card.id})",
        notes=["Targets: >= 95 % of images without a dog get not_a_dog; >= 98 % of dog photos do not.",
               f"not_a_dog when dog mass x (top breed probability)^{v.dog_score_power:g} < {v.min_dog_score:.3f} "
               "(the model's rule, threshold from its validation dogs); other thresholds, and the dog mass alone "
               "(power 0, the rule before), on the same sets:",
               "", *threshold_sweep(sets_only, rules), ""],
        header=["images", "dog in it", "n", "rate (not_a_dog without a dog; not not_a_dog with one)"], rows=rows,
    )  # fmt: skip


def verdict_counts(predictor: Predictor, photos: list[Path], *, dogs: bool) -> dict[str, object]:
    """How many of ``photos`` get it right: ``not_a_dog`` when there is no dog, anything else when there is."""
    got = [p for p in predictor.predict_paths(photos) if p.error is None]
    wrong = [p for p in got if (p.verdict != NOT_A_DOG) != dogs]
    return {
        "images": len(got), "right": len(got) - len(wrong),
        "rate": (len(got) - len(wrong)) / len(got) if got else float("nan"),
        "dog_probabilities": [p.dog_probability for p in got],
        "top_probabilities": [p.probability for p in got],
        "wrong": [{"path": p.path, "verdict": p.verdict, "dog_probability": p.dog_probability, "breed": p.name}
                  for p in wrong],
    }  # fmt: skip


def threshold_sweep(results: dict[str, dict], rules: list[tuple[float, float]]) -> list[str]:
    """What other not_a_dog rules (power, threshold) would give on these same sets (a trade-off to read, not to
    tune on)."""
    lines = ["| power | threshold | " + " | ".join(results) + " |", "|---" * (len(results) + 2) + "|"]
    for power, t in rules:
        cells = []
        for name, r in results.items():
            pairs = list(zip(r["dog_probabilities"], r["top_probabilities"], strict=True))
            has_dog = name.startswith("stanford dogs")
            right = sum((q is not None and dog_score(q, top, power) >= t) == has_dog for q, top in pairs)
            cells.append(f"{right / len(pairs):.1%}" if pairs else "-")
        lines.append(f"| {power:g} | {t:.3f} | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    main()

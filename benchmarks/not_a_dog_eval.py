"""How often do photos without a dog get the ``not_a_dog`` verdict?

    python benchmarks/not_a_dog_eval.py [--model M] [FOLDER ...]

With no folder, it gathers the sample images that ship inside installed packages and contain no dog:
scikit-image's ``skimage/data`` (a cat, a horse, people, a rocket, coffee, textures, documents...; install
scikit-image, or point at an unpacked wheel's skimage/data), matplotlib's sample data and scikit-learn's two
images. It is a small set (a few dozen images), so read the rate as a smoke test, not a benchmark.
Writes benchmarks/results/not_a_dog_eval.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from dogbreeds.data.images import iter_image_files
from dogbreeds.predict import NOT_A_DOG, Predictor

RESULTS = Path(__file__).parent / "results"


def packaged_images() -> list[Path]:
    found = []
    for module, sub in (("skimage", "data"), ("matplotlib", "mpl-data/sample_data"), ("sklearn", "datasets/images")):
        spec = importlib.util.find_spec(module)
        if spec and spec.origin:
            folder = Path(spec.origin).parent / sub
            found += [p for p in iter_image_files([folder]) if "lbpcascade" not in p.name]
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folders", nargs="*", type=Path)
    parser.add_argument("--model")
    args = parser.parse_args()
    photos = iter_image_files(args.folders) if args.folders else packaged_images()
    predictor = Predictor(args.model)
    rows = [p for p in predictor.predict_paths(photos) if p.error is None]
    flagged = [p for p in rows if p.verdict == NOT_A_DOG]
    result = {
        "model": predictor.card.id,
        "images": len(rows),
        "not_a_dog": len(flagged),
        "rate": len(flagged) / len(rows) if rows else float("nan"),
        "missed": [{"path": p.path, "verdict": p.verdict, "dog_probability": p.dog_probability, "breed": p.name}
                   for p in rows if p.verdict != NOT_A_DOG],
    }  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "not_a_dog_eval.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['not_a_dog']}/{result['images']} images without a dog got not_a_dog ({result['rate']:.1%})")
    for m in result["missed"]:
        print(f"  missed: {m['path']} -> {m['verdict']} (dog probability {m['dog_probability']:.2f}, {m['breed']})")


if __name__ == "__main__":
    main()

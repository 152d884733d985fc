"""Does the shipped model hold on photos that are not tight crops?

    python benchmarks/fullframe_eval.py --data ../shared/datasets/stanford-dogs [--model CKPT_OR_ONNX ...]

Evaluates each model on:
  crops-test        the official test list as 224x224 box crops (the benchmark protocol; with --with-crops)
  fullres-test      the TEST-list photos of fullres-sample/, whole frame, full resolution (34 photos, 4 breeds)
  fullres-test-224  the same photos squashed to 224x224 whole frame (the fullframe224 protocol)
  fullres-test-box  the same photos cropped to their annotated box with a 10 % margin
  fullframe224      fullframe224-train-sample/ (1,200 whole frames of TRAIN-list photos; the shipped model was
                    validated on them and never trained on them, crops included; a model trained on the whole
                    train list saw their crops, so for it this measures the framing effect, not generalisation)

Writes benchmarks/results/fullframe_eval.{json,md}.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _results import write_results
from PIL import Image

from dogbreeds.core.transforms import crop_to_box
from dogbreeds.data.folders import load_folder_tree
from dogbreeds.data.stanford import load_stanford, read_annotation, read_split_list
from dogbreeds.evaluation.evaluate import evaluate_samples
from dogbreeds.inference.predictor import Predictor


def fullres_test_sets(root: Path, work: Path) -> dict[str, Path]:
    """Folder trees of the test-list photos of fullres-sample/: as they are, squashed to 224, box-cropped."""
    test = set(read_split_list(root, "test"))
    sets = {name: work / name for name in ("fullres-test", "fullres-test-224", "fullres-test-box")}
    for photo in sorted((root / "fullres-sample").glob("*/*.jpg")):
        rel = f"{photo.parent.name}/{photo.name}"
        if rel not in test:
            continue
        img = Image.open(photo).convert("RGB")
        boxes, frame = read_annotation(root / "Annotation" / photo.parent.name / photo.stem)
        variants = {
            "fullres-test": img,
            "fullres-test-224": img.resize((224, 224), Image.Resampling.BICUBIC),
            "fullres-test-box": crop_to_box(img, boxes[0], frame=frame, margin=0.1),
        }
        for name, variant in variants.items():
            (sets[name] / photo.parent.name).mkdir(parents=True, exist_ok=True)
            variant.save(sets[name] / rel, quality=95)
    return sets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/stanford-dogs"))
    parser.add_argument("--model", nargs="*", default=[None],
                        help="checkpoints, .onnx files, 'default' (the shipped model as it runs with no options: "
                             "its int8 copy on OpenVINO) or 'default-fp32' (fp32, ONNX Runtime)")  # fmt: skip
    parser.add_argument("--with-crops", action="store_true", help="also the 8,580 test crops (5 minutes more)")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        sets = {"crops-test": load_stanford(args.data, "test", images="crops224").samples} if args.with_crops else {}
        sets.update({k: load_folder_tree(v).samples for k, v in fullres_test_sets(args.data, Path(tmp)).items()})
        sets["fullframe224"] = load_folder_tree(args.data / "fullframe224-train-sample").samples
        for model in args.model:
            name_only = model in (None, "default", "default-fp32")
            predictor = Predictor(
                None if name_only else model,
                **({"backend": "onnx", "precision": "fp32"} if model == "default-fp32" else {}),
            )
            for name, samples in sets.items():
                m = evaluate_samples(predictor, samples).metrics
                results.append({"model": predictor.card.id, "set": name, **m})
                print(results[-1], flush=True)
    write_results(
        "fullframe_eval", results, title="Crops versus whole photos",
        header=["model", "photos", "n", "top-1", "top-5", "loss"],
        rows=[[r["model"], r["set"], r["n"], f"{r['top1']:.2%}", f"{r['top5']:.2%}", f"{r['loss']:.3f}"]
              for r in results],
    )  # fmt: skip


if __name__ == "__main__":
    main()

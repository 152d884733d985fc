"""Choose the shipped model: lite0 vs lite2, flips, ImageNet prior vs plain logistic regression, L2 strength.

Every choice is made on a seeded 10 % validation split of the official TRAIN list; the official test list is
only reported, never used to choose. Embeddings come from the cache (`dogbreeds train` fills it), so re-running
this takes a minute.

    python benchmarks/default_model_selection.py --data ../shared/datasets/stanford-dogs

Writes benchmarks/results/default_model_selection.{md,json}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _results import write_results

from dogbreeds.core.breeds import NUM_BREEDS
from dogbreeds.core.metrics import classification_metrics
from dogbreeds.data.split import stratified_split
from dogbreeds.data.stanford import load_stanford
from dogbreeds.models.backbones import backbone_preprocess, create_backbone
from dogbreeds.training.embeddings import BackboneSpec, Embeddings, embed_samples, weights_digest
from dogbreeds.training.feature_head import _imagenet_prior, _subset
from dogbreeds.training.linear_head import LinearHead, fit_linear_head

GRID = (3e-4, 1e-3, 3e-3, 1e-2)  # wider than the shipped recipe's grid, to show where the optimum lies


def embed(root: Path, name: str, cache: Path | None) -> tuple[Embeddings, Embeddings, Embeddings, Embeddings, object]:
    backbone = create_backbone(name)
    spec = BackboneSpec(name, weights_digest(backbone), backbone_preprocess(backbone), flip=True)
    train_set = load_stanford(root, "train")
    fit_set, val_set = stratified_split(train_set, val_fraction=0.1, seed=0)
    train = embed_samples(train_set.samples, spec, backbone, cache_root=cache)
    test = embed_samples(load_stanford(root, "test").samples, spec, backbone, cache_root=cache)
    index = {p: i for i, p in enumerate(train.paths)}
    fit = _subset(train, [index[s.path] for s in fit_set.samples])
    val = _subset(train, [index[s.path] for s in val_set.samples])
    return fit, val, train, test, backbone


def fit_view(e: Embeddings, view: str) -> tuple[np.ndarray, np.ndarray]:
    """Training rows: the plain embeddings, photo and mirror image as two rows, or their average."""
    if view == "plain":
        return e.features, e.labels
    if view == "averaged":
        return e.averaged, e.labels
    return np.concatenate([e.features, e.flipped]), np.concatenate([e.labels, e.labels])


def eval_view(e: Embeddings, flip_average: bool) -> np.ndarray:
    return e.averaged if flip_average else e.features


def row(
    name: str,
    head_name: str,
    train_view: str,
    flip_eval: bool,
    l2: float | None,
    head: LinearHead,
    val: Embeddings,
    test: Embeddings,
    val_metrics: dict | None = None,
) -> dict:
    return {
        "backbone": name,
        "head": head_name,
        "train_view": train_view,
        "flip_eval": flip_eval,
        "l2": l2,
        "val": val_metrics or classification_metrics(head.logits(eval_view(val, flip_eval)), val.labels),
        "test": classification_metrics(head.logits(eval_view(test, flip_eval)), test.labels),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets/stanford-dogs"))
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--backbones", nargs="+", default=["tf_efficientnet_lite0", "tf_efficientnet_lite2"])
    args = parser.parse_args()
    rows = []
    for name in args.backbones:
        fit, val, train, test, _ = embed(args.data, name, args.cache_dir)
        prior, _ = _imagenet_prior(name, "auto")
        for flip_eval in (False, True):  # the untrained ImageNet head, restricted to the 120 breeds
            rows.append(row(name, "imagenet rows, no training", "-", flip_eval, None, prior, val, test))
        for train_view, eval_views in (("plain", (False, True)), ("both views", (True,)), ("averaged", (True,))):
            for prior_name, p in (("imagenet prior", prior), ("logistic", None)):
                heads = {
                    l2: fit_linear_head(*fit_view(fit, train_view), num_classes=NUM_BREEDS, l2=l2, prior=p, max_iter=60)
                    for l2 in GRID
                }
                for flip_eval in eval_views:
                    scores = {
                        l2: classification_metrics(h.logits(eval_view(val, flip_eval)), val.labels)
                        for l2, h in heads.items()
                    }
                    l2 = max(scores, key=lambda k: (scores[k]["top1"], -scores[k]["loss"]))
                    full = fit_linear_head(
                        *fit_view(train, train_view), num_classes=NUM_BREEDS, l2=l2, prior=p, max_iter=60
                    )
                    rows.append(row(name, prior_name, train_view, flip_eval, l2, full, val, test, scores[l2]))
                    print(rows[-1], flush=True)
    write_results(
        "default_model_selection", rows, title="Choosing the shipped model (feature extraction)",
        notes=["Chosen on a seeded 10 % validation split of the official train list (1,200 photos); the official",
               "test list (8,580 crops) is reported only. L2 is the best of the grid on validation; the head is then",
               "refit on all 12,000 training photos. Training rows: `plain` embeddings, `both views` (photo and",
               "mirror image as two rows) or `averaged` (the mean of the two embeddings, what a flip-averaging",
               "model sees at prediction time)."],
        header=["backbone", "head", "training rows", "flip-average at eval", "L2", "val top-1", "val loss",
                "test top-1", "test top-5", "test loss"],
        rows=[[r["backbone"], r["head"], r["train_view"], "yes" if r["flip_eval"] else "no",
               r["l2"] if r["l2"] is not None else "-", f"{r['val']['top1']:.2%}", f"{r['val']['loss']:.3f}",
               f"{r['test']['top1']:.2%}", f"{r['test']['top5']:.2%}", f"{r['test']['loss']:.3f}"] for r in rows],
    )  # fmt: skip


if __name__ == "__main__":
    main()

"""Breeds the model does not know: which score tells an unknown breed's dog from a known one? (issue 18, item 3)

    python benchmarks/open_set.py --stanford ../shared/datasets/stanford-dogs [--folds 5] [--work /tmp/open-set]

The standard held-out-class protocol, on the shipped backbone's pooled features (flip-averaged, as shipped):
in each fold 20 of the 120 breeds are "unknown"; a head is fitted on the train-list photos of the other 100
(multinomial logistic regression with the shipped recipe's L2, temperature fitted on a fifth of those photos kept
aside), and each score's threshold is set on that kept-aside fifth so that 85 % of known-breed photos are
answered. Then, on the test list: the share of unknown-breed dogs flagged, of known-breed dogs still answered,
and how often an answered known-breed dog gets its right breed; AUROC without a threshold. Folds: the 120 breeds
shuffled (seed 0) into 6 groups of 20, the first ``--folds`` of them held out in turn.

Scores (higher = "a breed I know"): the top calibrated probability (what ``unsure`` uses today), the top-2
margin, the energy (T * logsumexp(logits / T)), the nearest class mean and the nearest training photo in the
retrieval projection's space (an LDA fitted on the known breeds' training photos; cosine similarity), and the
ImageNet head's probability on the predicted breed's own ImageNet class.

Caveat, and it is large: the 120 breeds are all ImageNet classes, and the backbone was trained on ImageNet, so its
features (and its ImageNet head, above all) know the "unknown" breeds; the feature-based scores are optimistic
here, the ImageNet one most of all. Real shelters' unknown breeds (Shiba inu, American bulldog, mixed breeds) are
partly outside ImageNet. Writes benchmarks/results/open_set.{json,md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _results import write_results

from dogbreeds.core.breeds import BREED_IDS, IMAGENET_INDICES
from dogbreeds.core.parallel import batched, map_ahead
from dogbreeds.core.progress import progress
from dogbreeds.inference.predictor import Predictor, default_model_path
from dogbreeds.inference.retrieval import fit_lda

ROOT = Path(__file__).resolve().parents[1]
ANSWERED = 0.85  # the share of known-breed dogs each threshold keeps answered (on the kept-aside photos)
L2 = 1e-4


def features(stanford: Path, split: str, work: Path) -> dict[str, np.ndarray]:
    """The shipped model's pooled features and ImageNet logits of a split's crops (cached in ``work``)."""
    cache = work / f"{split}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return dict(z)
    rel = [line.split()[0] for line in (stanford / "lists" / f"{split}_list.txt").read_text().splitlines() if line]
    predictor = Predictor()
    feats = []
    with progress(f"embedding {split}", total=len(rel), unit="photos") as bar:
        for batch in batched(map_ahead(lambda r: predictor.load(stanford / "crops224" / r), rel, ahead=64), 16):
            feats.append(predictor.run_pixels(np.stack(batch)).features)
            bar.advance(len(batch))
    out = {"features": np.concatenate(feats), "labels": np.array([r.split("/")[0] for r in rel])}
    work.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def imagenet_head() -> tuple[np.ndarray, np.ndarray]:
    """The backbone's own ImageNet classifier (weights, bias), read from the shipped ONNX graph."""
    import onnx
    from onnx import numpy_helper

    inits = {i.name: i for i in onnx.load(str(default_model_path())).graph.initializer}
    return (numpy_helper.to_array(inits["backbone.classifier.weight"]),
            numpy_helper.to_array(inits["backbone.classifier.bias"]))  # fmt: skip


def fit_head(x: np.ndarray, y: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression with L2, by L-BFGS (torch, as the training code)."""
    import torch

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    w = torch.zeros(x.shape[1], classes, requires_grad=True)
    b = torch.zeros(classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=300, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + L2 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    temps = np.exp(np.linspace(np.log(0.3), np.log(3), 60))
    nll = [float(-np.mean(log_softmax(logits / t)[np.arange(len(y)), y])) for t in temps]
    return float(temps[int(np.argmin(nll))])


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """P(score of a known-breed photo > score of an unknown-breed one), ties half."""
    scores = np.concatenate([known, unknown])
    ranks = scores.argsort().argsort().astype(np.float64) + 1
    return float((ranks[: len(known)].sum() - len(known) * (len(known) + 1) / 2) / (len(known) * len(unknown)))


def scores_of(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, t: float, projection: object, means: np.ndarray,
    train_projected: np.ndarray, imagenet: tuple[np.ndarray, np.ndarray], imagenet_index: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:  # fmt: skip
    logits = x @ w + b
    p = np.exp(log_softmax(logits / t))
    top2 = np.sort(p, axis=1)[:, -2:]
    z = logits / t
    energy = t * (np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1))
    v = projection(x)  # type: ignore[operator]
    class_sim = (v @ means.T).max(axis=1)
    photo_sim = np.concatenate([(v[i : i + 2048] @ train_projected.T).max(axis=1) for i in range(0, len(v), 2048)])
    inet = np.exp(log_softmax(x @ imagenet[0].T + imagenet[1]))
    predicted = p.argmax(axis=1)
    return {
        "top probability (today's unsure)": top2[:, 1],
        "top-2 margin": top2[:, 1] - top2[:, 0],
        "energy": energy,
        "nearest class mean (projection)": class_sim,
        "nearest training photo (projection)": photo_sim,
        "ImageNet head on the predicted breed": inet[np.arange(len(x)), imagenet_index[predicted]],
    }, predicted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stanford", type=Path, default=ROOT.parent / "shared" / "datasets" / "stanford-dogs")
    parser.add_argument("--work", type=Path, default=Path("/tmp/open-set"))
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    train, test = features(args.stanford, "train", args.work), features(args.stanford, "test", args.work)
    imagenet = imagenet_head()
    breed_of = {b: i for i, b in enumerate(BREED_IDS)}
    ytr = np.array([breed_of[b] for b in train["labels"]])
    yte = np.array([breed_of[b] for b in test["labels"]])
    groups = np.random.default_rng(0).permutation(len(BREED_IDS)).reshape(6, 20)
    per_fold = []
    for fold in range(args.folds):
        unknown = set(groups[fold].tolist())
        known = np.array([k for k in range(len(BREED_IDS)) if k not in unknown])
        remap = -np.ones(len(BREED_IDS), int)
        remap[known] = np.arange(len(known))
        keep = np.isin(ytr, known)
        x, y = train["features"][keep], remap[ytr[keep]]
        aside = np.random.default_rng(fold).random(len(y)) < 0.2
        w, b = fit_head(x[~aside], y[~aside], len(known))
        t = fit_temperature(x[aside] @ w + b, y[aside])
        projection = fit_lda(x[~aside], y[~aside], 0.1)
        fitted = unit(projection(x[~aside]))
        means = unit(np.stack([fitted[y[~aside] == k].mean(axis=0) for k in range(len(known))]))
        inet_index = np.array([IMAGENET_INDICES[k] for k in known])
        context = (w, b, t, projection, means, fitted, imagenet, inet_index)
        val, _pv = scores_of(x[aside], *context)  # type: ignore[arg-type]
        is_known = np.isin(yte, known)
        tst, predicted = scores_of(test["features"], *context)  # type: ignore[arg-type]
        right = predicted == remap[yte]
        fold_result = {}
        for name, score in tst.items():
            threshold = float(np.quantile(val[name], 1 - ANSWERED))
            answered = score >= threshold
            fold_result[name] = {
                "unknown_flagged": float(np.mean(~answered[~is_known])),
                "known_answered": float(np.mean(answered[is_known])),
                "answered_right": float(np.mean(right[is_known & answered])),
                "auroc": auroc(score[is_known], score[~is_known]),
            }
        per_fold.append(fold_result)
        print(f"fold {fold}: " + ", ".join(f"{n}: {r['unknown_flagged']:.1%}" for n, r in fold_result.items()),
              flush=True)  # fmt: skip

    names = list(per_fold[0])
    mean = {n: {m: float(np.mean([f[n][m] for f in per_fold])) for m in per_fold[0][n]} for n in names}
    write_results(
        "open_set",
        {"folds": per_fold, "mean": mean, "answered_target": ANSWERED},
        title="Breeds the model does not know: held-out-breed protocol",
        header=["score", "unknown-breed dogs flagged", "known-breed dogs answered", "answered right", "AUROC"],
        rows=[
            [
                n,
                f"{r['unknown_flagged']:.1%}",
                f"{r['known_answered']:.1%}",
                f"{r['answered_right']:.1%}",
                f"{r['auroc']:.3f}",
            ]
            for n, r in mean.items()
        ],  # fmt: skip
        notes=[
            f"Mean of {args.folds} folds, each holding out 20 of the 120 breeds; a head fitted on the other 100 "
            f"breeds' train-list crops; thresholds set on a fifth of those photos kept aside, to answer "
            f"{ANSWERED:.0%} of known-breed dogs; measured on the test list (targets, issue 18: >= 70 % flagged "
            "with >= 85 % answered, answered right >= 95 %). Optimistic: every breed here is an ImageNet class "
            "the backbone learnt, the ImageNet-head score most of all (see the script's docstring).",
        ],
    )


if __name__ == "__main__":
    main()

"""Transfer learning, step two: a linear breed head fitted on frozen embeddings.

The head can start from, and be pulled towards, the backbone's own ImageNet rows of the 120 breeds (a prior:
the penalty is ``l2 * ||W - W_imagenet||^2`` instead of ``l2 * ||W||^2``). With a large ``l2`` the head *is*
the ImageNet head restricted to dogs; with a small one it is a plain logistic regression; the validation split
picks the point between the two. Full-batch L-BFGS, warm-started along the L2 grid: 25 iterations reach the
same validation loss (to 3 decimals) as 300, and 12,000 x 1,280 fits in about a second on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# With the ImageNet prior the best strength has always been 1e-3..1e-2; weaker ones overfit 100 photos a breed.
L2_GRID = (1e-3, 3e-3, 1e-2)


@dataclass
class LinearHead:
    weight: np.ndarray  # C x D
    bias: np.ndarray  # C

    def logits(self, features: np.ndarray) -> np.ndarray:
        return features @ self.weight.T + self.bias


def fit_linear_head(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    l2: float,
    prior: LinearHead | None = None,
    init: LinearHead | None = None,
    max_iter: int = 25,
) -> LinearHead:
    """Multinomial logistic regression with an L2 pull towards ``prior`` (or towards zero).

    ``init`` warm-starts the solver (e.g. from the solution for a neighbouring ``l2``): a few iterations then
    suffice instead of dozens, which is what keeps a re-run on cached embeddings within seconds.
    """
    x, y = torch.from_numpy(features).float(), torch.from_numpy(labels).long()
    dim = x.shape[1]
    w0 = torch.from_numpy(prior.weight).float() if prior else torch.zeros(num_classes, dim)
    b0 = torch.from_numpy(prior.bias).float() if prior else torch.zeros(num_classes)
    start = init or prior
    w = (torch.from_numpy(start.weight).float() if start else w0).clone().requires_grad_(True)
    b = (torch.from_numpy(start.bias).float() if start else b0).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(x @ w.T + b, y) + 0.5 * l2 * (w - w0).pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return LinearHead(w.detach().numpy().copy(), b.detach().numpy().copy())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising validation NLL of ``softmax(logits / T)`` (Guo et al., 2017)."""
    z, y = torch.from_numpy(logits).double(), torch.from_numpy(labels).long()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())

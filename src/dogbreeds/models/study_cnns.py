"""The from-scratch CNNs of the original studies, reproduced layer for layer.

Input 224x224x3, ReLU, ``same`` padding (Keras), max-pooling 2x2 (``valid``), a 120-way softmax head:

- ``study_cnn1``: Conv 64 7x7 s2 -> MaxPool -> Conv 128 3x3 s2 -> Conv 128 3x3 s2 -> MaxPool -> Conv 256 3x3 ->
  Conv 256 3x3 -> MaxPool -> Flatten -> Dense 128 -> Dense 64 -> Dense 120 (1,427,256 parameters);
- ``study_cnn3``: the same with the two 128-wide convs at stride 1 (7,554,872);
- ``study_cnn4``: ``study_cnn3`` with Dense 128 + Dense 64 replaced by Dense 64 + Dropout 0.5 (4,335,288).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _
from dogbreeds.models.heads import TimmHeadInterface
from dogbreeds.models.registry import register_model


def _conv(cin: int, cout: int, k: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2), nn.ReLU(inplace=True)]


class StudyCNN(TimmHeadInterface):
    """A plain conv stack -> flatten -> dense layers, exposing timm's head interface."""

    def __init__(
        self, *, widths: tuple[int, int, int], mid_stride: int, dense: tuple[int, ...], dropout: float,
        num_classes: int, input_size: int = 224,
    ) -> None:  # fmt: skip
        super().__init__()
        w1, w2, w3 = widths
        self.features = nn.Sequential(
            *_conv(3, w1, 7, 2), nn.MaxPool2d(2),
            *_conv(w1, w2, 3, mid_stride), *_conv(w2, w2, 3, mid_stride), nn.MaxPool2d(2),
            *_conv(w2, w3, 3, 1), *_conv(w3, w3, 3, 1), nn.MaxPool2d(2),
        )  # fmt: skip
        with torch.no_grad():
            flat = self.features(torch.zeros(1, 3, input_size, input_size)).numel()
        layers: list[nn.Module] = [nn.Flatten()]
        for width in dense:
            layers += [nn.Linear(flat, width), nn.ReLU(inplace=True)]
            flat = width
        if dropout:
            layers.append(nn.Dropout(dropout))
        self.pre_logits = nn.Sequential(*layers)
        self.num_features = flat
        self.classifier = nn.Linear(flat, num_classes)
        self.pretrained_cfg = {
            "input_size": (3, input_size, input_size), "crop_pct": 0.875, "interpolation": "bilinear",
            "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
        }  # fmt: skip

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pre_logits(x)
        return x if pre_logits else self.classifier(x)


def _study(
    widths: tuple[int, int, int], mid_stride: int, dense: tuple[int, ...], dropout: float, **kw: Any
) -> StudyCNN:
    if kw.pop("pretrained", False):
        raise UsageError(_("the study CNNs are trained from scratch: there are no pretrained weights"))
    return StudyCNN(widths=widths, mid_stride=mid_stride, dense=dense, dropout=dropout, **kw)


_VARIANTS = {
    "study_cnn1": dict(widths=(64, 128, 256), mid_stride=2, dense=(128, 64), dropout=0.0),
    "study_cnn3": dict(widths=(64, 128, 256), mid_stride=1, dense=(128, 64), dropout=0.0),
    "study_cnn4": dict(widths=(64, 128, 256), mid_stride=1, dense=(64,), dropout=0.5),
}
for _name, _args in _VARIANTS.items():
    register_model(_name)(lambda _a=_args, **kw: _study(**{**_a, **kw}))  # a search may change any argument
    # the tiny variant: same layers, 8x narrower, 64 px input
    _tiny = {**_args, "widths": (8, 16, 32), "dense": tuple(8 for _ in _args["dense"]), "input_size": 64}
    register_model(f"{_name}_test")(lambda _a=_tiny, **kw: _study(**{**_a, **kw}))

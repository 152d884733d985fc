"""``dognet``: our from-scratch network, sized for 12,000 photos and a 2-core CPU.

Why this shape (the runs that chose it are in benchmarks/results/scratch_*):

- a ResNet (He et al. 2016) of basic blocks with batch norm: residuals let a 10-layer stack train from random
  weights in a few epochs, which the studies' plain conv stacks did not;
- the last batch norm of every residual branch starts at zero, so each block starts as the identity
  (Goyal et al. 2017): a stable, large learning rate from step one;
- global average pooling instead of the studies' flatten + dense layers: 6x fewer parameters at the head, and the
  net runs at any resolution, so it trains at 112 px and is tested at 128 px (the "FixRes" effect: random crops
  make objects look bigger in training than a whole test photo at the same size);
- no stem max-pool: at 112 px the first stage still sees 56x56, where breed texture lives;
- widths (32, 64, 128, 256), about 2.8 M parameters: 11 MB of weights, and about 150 training images/s in
  bfloat16 autocast here, enough for ~30 epochs in 90 minutes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _
from dogbreeds.models.heads import TimmHeadInterface
from dogbreeds.models.registry import register_model

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _conv_bn(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout)]


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(*_conv_bn(cin, cout, stride), nn.ReLU(inplace=True), *_conv_bn(cout, cout))
        nn.init.zeros_(self.branch[-1].weight)  # the block starts as the identity
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.AvgPool2d(stride) if stride > 1 else nn.Identity(),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
            )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.branch(x) + self.shortcut(x))


class DogNet(TimmHeadInterface):
    """Stem -> four stages of basic blocks -> global average pool -> dropout -> linear (timm's head interface)."""

    def __init__(
        self, *, widths: tuple[int, ...] = (32, 64, 128, 256), depths: tuple[int, ...] = (2, 2, 2, 2),
        stem_width: int = 24, dropout: float = 0.2, num_classes: int = 120, input_size: int = 128,
    ) -> None:  # fmt: skip
        super().__init__()
        self.stem = nn.Sequential(
            *_conv_bn(3, stem_width, 2), nn.ReLU(inplace=True), *_conv_bn(stem_width, widths[0]), nn.ReLU(inplace=True)
        )  # fmt: skip
        blocks: list[nn.Module] = []
        cin = widths[0]
        for stage, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            for i in range(depth):
                blocks.append(BasicBlock(cin, width, stride=2 if stage > 0 and i == 0 else 1))
                cin = width
        self.stages = nn.Sequential(*blocks)
        self.num_features = cin
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.pretrained_cfg = {
            "input_size": (3, input_size, input_size), "crop_pct": 1.0, "interpolation": "bilinear",
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
        }  # fmt: skip

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(x.mean((2, 3)))
        return x if pre_logits else self.classifier(x)


def _dognet(**kw: Any) -> DogNet:
    if kw.pop("pretrained", False):
        raise UsageError(_("dognet is trained from scratch: there are no pretrained weights"))
    return DogNet(**kw)


register_model("dognet")(_dognet)
register_model("dognet_wide")(
    lambda **kw: _dognet(**{"widths": (48, 96, 192, 320), "depths": (1, 2, 2, 2), "stem_width": 32, **kw})
)
register_model("dognet_test")(
    lambda **kw: _dognet(widths=(8, 16), depths=(1, 1), stem_width=8, input_size=kw.pop("input_size", 64), **kw)
)

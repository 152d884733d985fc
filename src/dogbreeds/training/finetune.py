"""Transfer learning beyond feature extraction: partial and full fine-tuning of an ImageNet backbone.

The model is the same :class:`~dogbreeds.models.heads.BreedModel` as the feature-extraction recipe (backbone, its own
ImageNet head kept frozen so it can still say "not a dog", a 120-way breed head), so a fine-tuned checkpoint
exports, predicts and classifies exactly like the shipped model.

- The breed head starts from the backbone's own ImageNet rows of the 120 breeds: on Stanford Dogs that is already a good
  classifier before the first step (docs/results.md), so fine-tuning starts from a good model instead of a random head
  that would push large, noisy gradients into the body.
- ``freeze_stages=N`` freezes the stem and the first N stages (the studies kept Xception's first 1-2 blocks);
  their batch-norm layers stay in eval mode, so their running statistics never move either. With
  ``freeze_bn`` every batch norm keeps its ImageNet statistics (the usual choice for small batches).
- The body trains at ``body_lr_scale`` times the head's learning rate (discriminative learning rates).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dogbreeds.core.breeds import IMAGENET_INDICES, NUM_BREEDS
from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _
from dogbreeds.models.heads import BreedModel


def body_stages(backbone: nn.Module) -> list[nn.Module]:
    """The backbone's trunk in input-to-output order: stem first, then each stage (timm's common layouts)."""
    for stages_attr, stem_attrs in (
        ("blocks", ("conv_stem", "bn1")),  # EfficientNet, MobileNet, lite
        ("stages", ("stem",)),  # ConvNeXt, RegNet, NFNet
        ("layers", ("patch_embed",)),  # Swin
    ):
        if hasattr(backbone, stages_attr):
            stem = [getattr(backbone, a) for a in stem_attrs if hasattr(backbone, a)]
            return [nn.Sequential(*stem), *getattr(backbone, stages_attr)]
    if hasattr(backbone, "layer1"):  # ResNet family
        stem = [getattr(backbone, a) for a in ("conv1", "bn1") if hasattr(backbone, a)]
        return [nn.Sequential(*stem), *(getattr(backbone, f"layer{i}") for i in range(1, 5))]
    raise UsageError(
        _("do not know the stages of {kind}; use freeze_stages=0 (full fine-tuning)", kind=type(backbone).__name__)
    )


def breed_head_from_imagenet(backbone: nn.Module) -> nn.Linear:
    """A 120-way head initialised with the backbone's ImageNet rows of the breeds (random if it has no such head)."""
    fc = backbone.get_classifier()
    head = nn.Linear(backbone.num_features, NUM_BREEDS)
    if isinstance(fc, nn.Linear) and fc.out_features == 1000:
        with torch.no_grad():
            head.weight.copy_(fc.weight[list(IMAGENET_INDICES)])
            head.bias.copy_(fc.bias[list(IMAGENET_INDICES)])
    return head


def build_finetune_model(name: str, weights: str | None, *, freeze_stages: int) -> BreedModel:
    """The backbone with ImageNet weights and a breed head; the stem and the first ``freeze_stages`` stages frozen."""
    from dogbreeds.models.backbones import create_backbone

    backbone = create_backbone(name, weights=None if weights in (None, "none") else weights)  # none: random (tests)
    model = BreedModel(backbone, breed_head_from_imagenet(backbone))
    backbone.get_classifier().requires_grad_(False)  # the ImageNet head only says "dog or not"
    if freeze_stages:
        stages = body_stages(backbone)
        if freeze_stages >= len(stages):
            raise UsageError(
                _(
                    "{name} has {value} stages after its stem; freeze_stages={freeze_stages}",
                    name=name,
                    value=len(stages) - 1,
                    freeze_stages=freeze_stages,
                )
            )
        for stage in stages[: freeze_stages + 1]:  # the stem and N stages
            stage.requires_grad_(False)
    return model


def set_train_mode(model: nn.Module, *, freeze_bn: bool) -> None:
    """``model.train()``, except batch norms that are frozen (or all of them with ``freeze_bn``) stay in eval."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if freeze_bn or not any(p.requires_grad for p in m.parameters()):
                m.eval()


def param_groups(model: nn.Module, body_lr_scale: float) -> list[dict[str, Any]]:
    """The head at the full learning rate, the trainable body at ``body_lr_scale`` of it."""
    head = getattr(model, "head", None)
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    body = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    groups = [{"params": [p for p in model.parameters() if id(p) in head_ids], "lr_scale": 1.0}]
    if body:
        groups.append({"params": body, "lr_scale": body_lr_scale})
    return [g for g in groups if g["params"]]

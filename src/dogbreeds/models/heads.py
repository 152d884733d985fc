"""The torch form of a dogbreeds model: an ImageNet backbone, its own 1000-way head, and a breed head."""

from __future__ import annotations

import torch


class BreedModel(torch.nn.Module):
    """Backbone -> pooled embedding -> (ImageNet logits, breed logits).

    ``forward`` returns ``(features, imagenet_logits)`` or, with a breed head, ``(features, imagenet_logits,
    breed_logits)``: the names of the ONNX graph's outputs. The ImageNet head stays so that the backbone can
    say "this is not a dog". With ``flip_average`` each photo and its mirror image are embedded in one pass and
    their embeddings averaged (the test-time augmentation a head was chosen with).
    """

    def __init__(self, backbone: torch.nn.Module, head: torch.nn.Module | None = None, *, flip_average: bool = False):
        super().__init__()
        self.backbone, self.head, self.flip_average = backbone, head, flip_average

    @property
    def output_names(self) -> list[str]:
        return ["features", "imagenet_logits"] + (["breed_logits"] if self.head is not None else [])

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        if not self.flip_average:
            return self.backbone.forward_head(self.backbone.forward_features(images), pre_logits=True)
        n = images.shape[0]
        both = self.backbone.forward_head(
            self.backbone.forward_features(torch.cat([images, images.flip(3)])), pre_logits=True
        )
        return (both[:n] + both[n:]) / 2

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.embed(images)
        imagenet = self.backbone.get_classifier()(feats)
        if self.head is None:
            return feats, imagenet
        return feats, imagenet, self.head(feats)


class TimmHeadInterface(torch.nn.Module):
    """timm's head interface for our own networks: a subclass gives ``forward_features``, ``forward_head`` and
    the attributes ``classifier`` (a linear layer) and ``num_features``; this gives the rest."""

    classifier: torch.nn.Linear
    num_features: int

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def get_classifier(self) -> torch.nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        self.classifier = torch.nn.Linear(self.num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class ClassifierModel(torch.nn.Module):
    """A from-scratch network (timm's head interface) as a graph of ``(features, breed_logits)``: no ImageNet
    head, so such a model never says "not a dog"."""

    output_names = ["features", "breed_logits"]

    def __init__(self, net: torch.nn.Module, *, flip_average: bool = False) -> None:
        super().__init__()
        self.net, self.flip_average = net, flip_average

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([images, images.flip(3)]) if self.flip_average else images
        feats = self.net.forward_head(self.net.forward_features(x), pre_logits=True)
        if self.flip_average:  # a photo and its mirror image in one pass, embeddings averaged
            n = images.shape[0]  # not len(): the ONNX trace must keep the batch size symbolic
            feats = (feats[:n] + feats[n:]) / 2
        return feats, self.net.get_classifier()(feats)

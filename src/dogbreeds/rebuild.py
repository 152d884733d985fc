"""Rebuild a torch model from a checkpoint folder alone (card + safetensors), and export it to ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dogbreeds.checkpoint import ONNX_NAME, load_card, load_weights


def load_model(folder: Path) -> Any:
    """The :class:`~dogbreeds.models.BreedModel` of a ``features-head`` checkpoint, in eval mode."""
    import torch

    from dogbreeds.backbones import create_backbone
    from dogbreeds.models import BreedModel

    card = load_card(folder)
    if card.model != "features-head":
        raise ValueError(f"{folder} holds a {card.model!r} model; only features-head checkpoints are supported")
    state = load_weights(folder)
    backbone = create_backbone(card.backbone, weights=None)
    backbone.load_state_dict({k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")})
    head = torch.nn.Linear(state["head.weight"].shape[1], state["head.weight"].shape[0])
    head.load_state_dict({"weight": state["head.weight"], "bias": state["head.bias"]})
    return BreedModel(backbone, head, flip_average=bool(card.model_args.get("flip_average"))).eval()


def export_checkpoint(folder: Path, out: Path | None = None) -> Path:
    """Export backbone + head to ONNX; the card is copied beside it, so the ``.onnx`` file stands alone."""
    import shutil

    from dogbreeds.onnx_export import export_onnx

    card = load_card(folder)
    out = out or folder / ONNX_NAME
    export_onnx(load_model(folder), card.preprocess.input_size, out)
    card_out = out.with_suffix(".json")
    if card_out.resolve() != (folder / "model.json").resolve():
        shutil.copyfile(folder / "model.json", card_out)
    return out

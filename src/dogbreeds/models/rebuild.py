"""Rebuild a torch model from a checkpoint folder alone (card + safetensors), and export it to ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dogbreeds.core.card import ONNX_NAME, load_card
from dogbreeds.core.errors import ModelCardError
from dogbreeds.core.i18n import _
from dogbreeds.models.weights import load_weights


def load_model(folder: Path) -> Any:
    """The torch model of a checkpoint, in eval mode: a :class:`~dogbreeds.models.heads.BreedModel` for
    ``features-head`` and ``finetune`` checkpoints, a :class:`~dogbreeds.models.heads.ClassifierModel` for registered
    from-scratch networks."""
    import torch

    from dogbreeds.models.backbones import create_backbone
    from dogbreeds.models.heads import BreedModel, ClassifierModel
    from dogbreeds.models.registry import create_model, list_models

    card = load_card(folder)
    state = load_weights(folder)
    if card.model in list_models():
        args = {k: v for k, v in card.model_args.items()
                if k not in ("parameters", "trainable_parameters", "flip_average")}  # fmt: skip
        net = create_model(card.model, num_classes=len(card.classes), **args)
        net.load_state_dict(state)
        return ClassifierModel(net, flip_average=bool(card.model_args.get("flip_average"))).eval()
    if card.model not in ("features-head", "finetune"):
        raise ModelCardError(_("{folder} holds an unknown model {model!r}", folder=folder, model=card.model))
    backbone = create_backbone(card.backbone, weights=None)
    backbone.load_state_dict({k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")})
    head = torch.nn.Linear(state["head.weight"].shape[1], state["head.weight"].shape[0])
    head.load_state_dict({"weight": state["head.weight"], "bias": state["head.bias"]})
    return BreedModel(backbone, head, flip_average=bool(card.model_args.get("flip_average"))).eval()


def export_checkpoint(folder: Path, out: Path | None = None) -> Path:
    """Export backbone + head to ONNX; the card is copied beside it, so the ``.onnx`` file stands alone."""
    import json
    import shutil

    from dogbreeds.core.card import carry_projection, write_json_atomic
    from dogbreeds.models.onnx_export import export_onnx

    card = load_card(folder)
    out = out or folder / ONNX_NAME
    export_onnx(load_model(folder), card.preprocess.input_size, out)
    card_out = out.with_suffix(".json")
    if card_out.resolve() != (folder / "model.json").resolve():
        shutil.copyfile(folder / "model.json", card_out)
        if card.retrieval:  # the projection travels with the model, under the copy's name
            raw = json.loads(card_out.read_text(encoding="utf-8"))
            raw["retrieval"] = carry_projection(card, out)
            write_json_atomic(card_out, raw)
    return out

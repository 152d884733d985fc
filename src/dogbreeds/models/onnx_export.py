"""Export to ONNX: the backbone alone (for fast feature extraction), backbone + breed head (the shipped model), or
a from-scratch network.

Every exported graph takes ``images`` (N x 3 x S x S, normalised by the card's preprocessing) and returns
``features`` (pooled embedding) and, from an ImageNet backbone, ``imagenet_logits`` (its own 1000-way head, which
says "dog or not"); a model with a breed head adds ``breed_logits`` (N x 120, before temperature). The names
come from the module's ``output_names``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dogbreeds.models.heads import BreedModel

OPSET = 17


def export_onnx(model: BreedModel, input_size: int, out: Path) -> Path:
    """Write the graph to ``out`` atomically (a killed export never leaves a half file that looks valid)."""
    import torch

    model = model.eval()
    names = list(model.output_names)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    dummy = torch.zeros(2, 3, input_size, input_size)
    # The TorchScript exporter is deprecated but exact and fast for these CNNs; its notices are noise to a user.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dummy,),
            str(tmp),
            input_names=["images"],
            output_names=names,
            dynamic_axes={"images": {0: "batch"}, **{n: {0: "batch"} for n in names}},
            opset_version=OPSET,
            dynamo=False,
        )
    os.replace(tmp, out)
    return out

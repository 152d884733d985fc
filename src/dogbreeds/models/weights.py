"""Weights on disk: safetensors, never a pickle (a file a user hands us is never unpickled)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dogbreeds.core.card import WEIGHTS_NAME
from dogbreeds.core.errors import NotFoundError
from dogbreeds.core.i18n import _


def save_weights(tensors: dict[str, Any], folder: Path) -> Path:
    """Save a dict of torch tensors with safetensors (atomically)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{WEIGHTS_NAME}.tmp"
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, folder / WEIGHTS_NAME)
    return folder / WEIGHTS_NAME


def load_weights(folder: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    path = Path(folder) / WEIGHTS_NAME
    if not path.exists():
        raise NotFoundError(_("no weights at {path}", path=path))
    return load_file(str(path))

"""A tiny model registry: ``create_model(name, *, num_classes, pretrained)`` and ``list_models()``.

Every registered model shares timm's head interface (``forward_features`` -> ``forward_head(x, pre_logits)``
-> ``get_classifier()`` / ``reset_classifier(n)``), so transfer learning is "create, then reset the head" and
embeddings come for free. Each architecture registers a tiny ``*_test`` variant so tests run the real code path
in milliseconds. Names are unique: registering one twice is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _

_REGISTRY: dict[str, Callable[..., Any]] = {}


def register_model(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def add(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return add


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, *, num_classes: int = 120, pretrained: bool = False, **kwargs: Any) -> Any:
    """Build a registered model; ``pretrained`` is refused for from-scratch architectures."""
    if name not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        if close:
            raise UsageError(_("unknown model {name!r}; did you mean {names}?", name=name, names=", ".join(close)))
        raise UsageError(_("unknown model {name!r}; see dogbreeds train --list-models", name=name))
    return _REGISTRY[name](num_classes=num_classes, pretrained=pretrained, **kwargs)


def count_parameters(model: Any, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

"""The networks (PyTorch): registry, our CNN, the studies' CNNs, ImageNet backbones, rebuild and ONNX export.

As in timm, each model module registers its architectures when imported and imports the registry, never the
reverse; importing this package imports them, so ``create_model`` always sees every architecture.
"""

from dogbreeds.models import dognet, study_cnns  # noqa: F401  (they register their models on import)

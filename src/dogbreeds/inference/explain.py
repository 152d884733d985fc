"""What the model looked at: a class activation map (CAM) computed by the ONNX model itself, without torch.

The breed head is linear on globally average-pooled features, so a breed's logit is the spatial mean of the head's
row for that breed applied at every position of the last feature map, plus its bias: ``logit_k = mean_xy(W_k .
F[:, y, x]) + b_k``. That map, ``W_k . F[:, y, x]``, is the CAM (Zhou et al., 2016), and it is exact: its mean is
the logit, not an approximation of it. A flip-averaging model runs each photo and its mirror image in one batch;
its map is the average of the photo's map and the mirror's map flipped back, which keeps the identity.

No second copy of the weights and no ``onnx`` package are needed: the explaining graph is the model's own bytes
with two nodes and one output appended as a protobuf message (``ModelProto.graph``, field 7). Protobuf merges a
repeated embedded message into the first, so ONNX Runtime reads the original graph plus ``Transpose(feature map)
@ Transpose(head weight) -> breed_cam``. The model file and its id stay as they are.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dogbreeds.core.errors import ModelCardError
from dogbreeds.core.i18n import _
from dogbreeds.core.transforms import normalise_pixels
from dogbreeds.inference.predictor import BatchOutput, Predictor

CAM_OUTPUT = "breed_cam"
# The names timm's EfficientNet-Lite backbones get when dogbreeds exports them (models/onnx_export.py); a card may
# name others under model_args["explain"] = {"feature_map": ..., "head_weight": ...}.
DEFAULT_NAMES = {"feature_map": "/bn2/act/Clip_output_0", "head_weight": "head.weight"}
MAX_MODEL_BYTES = 1 << 30  # the explaining graph is built in memory


@dataclass(frozen=True)
class Explanation:
    """One photo's answer and, for one breed, where in the model's view of the photo the evidence lies."""

    output: BatchOutput  # as Predictor.run_pixels gives it, for a batch of one
    view: np.ndarray  # H x W x 3 uint8: the pixels the model saw (the photo resized and centre-cropped)
    cam: np.ndarray  # h x w float32: the breed's map on the last feature grid (its mean + bias = the logit)
    breed_index: int


# --- a few protobuf fields, by hand (wire format: key = field << 3 | type; 0 varint, 2 length-delimited) ---
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _text(number: int, value: str) -> bytes:
    return _field(number, value.encode("utf-8"))


def _ints_attribute(name: str, values: list[int]) -> bytes:
    """AttributeProto: name (1), ints (8, one varint each), type (20) = INTS (7)."""
    return _text(1, name) + b"".join(_varint(8 << 3) + _varint(v) for v in values) + _varint(20 << 3) + _varint(7)


def _node(op: str, inputs: list[str], output: str, **ints: list[int]) -> bytes:
    """NodeProto: input (1), output (2), name (3), op_type (4), attribute (5)."""
    body = b"".join(_text(1, i) for i in inputs) + _text(2, output) + _text(3, f"dogbreeds_explain_{output}")
    return body + _text(4, op) + b"".join(_field(5, _ints_attribute(k, v)) for k, v in ints.items())


def explaining_graph(model_bytes: bytes, feature_map: str, head_weight: str) -> bytes:
    """The model plus an output ``breed_cam`` (batch x h x w x breeds): the head's rows applied at every position
    of ``feature_map`` (batch x channels x h x w), without the bias."""
    nodes = [
        _node("Transpose", [feature_map], "dogbreeds_explain_nhwc", perm=[0, 2, 3, 1]),
        _node("Transpose", [head_weight], "dogbreeds_explain_head_t", perm=[1, 0]),
        _node("MatMul", ["dogbreeds_explain_nhwc", "dogbreeds_explain_head_t"], CAM_OUTPUT),
    ]
    float_tensor = _field(1, _varint(1 << 3) + _varint(1))  # TypeProto.tensor_type (1) { elem_type (1) = FLOAT }
    output = _text(1, CAM_OUTPUT) + _field(2, float_tensor)  # ValueInfoProto: name (1), type (2)
    graph = b"".join(_field(1, n) for n in nodes) + _field(12, output)  # GraphProto: node (1), output (12)
    return model_bytes + _field(7, graph)  # ModelProto.graph (7), merged into the model's own


class Explainer:
    """The predictor's model with its CAM output, on ONNX Runtime (whatever backend the predictor uses: the map
    needs the graph, and ONNX Runtime is always installed). Built on first use; one per served model."""

    def __init__(self, predictor: Predictor, *, lock: Any = None) -> None:
        self.predictor = predictor
        self.lock = lock or contextlib.nullcontext()  # shared with the predictor's calls, where several threads call
        card = predictor.card
        names = {**DEFAULT_NAMES, **(card.model_args.get("explain") or {})}
        self.feature_map, self.head_weight = str(names["feature_map"]), str(names["head_weight"])
        self._session: Any = None
        self._failure: ModelCardError | None = None

    @property
    def session(self) -> Any:
        """The explaining session, made once; a model that cannot explain is told so once and then every time,
        without reading its graph again."""
        if self._failure is not None:
            raise self._failure
        if self._session is None:
            try:
                self._session = self._open()
            except ModelCardError as err:
                self._failure = err
                raise
        return self._session

    def _open(self) -> Any:
        from dogbreeds.inference.onnx_session import open_session

        path = self.predictor.reference_path
        if path.suffix != ".onnx" or path.stat().st_size > MAX_MODEL_BYTES:
            raise ModelCardError(_("{path} cannot draw a heat-map: it is not an ONNX model", path=path.name))
        try:
            return open_session(explaining_graph(Path(path).read_bytes(), self.feature_map, self.head_weight))
        except Exception as err:  # ONNX Runtime's own error types: the names are not in this model's graph
            raise ModelCardError(
                _(
                    "{path} cannot draw a heat-map: its graph has no {feature_map} feature map or {head} head ({kind})",
                    path=path.name,
                    feature_map=self.feature_map,
                    head=self.head_weight,
                    kind=type(err).__name__,
                )  # fmt: skip
            ) from None

    def explain_view(self, view: np.ndarray, breed_index: int | None = None) -> Explanation:
        """Answer and map for one photo as the model sees it (``Predictor.transform``'s uint8 H x W x 3); the map
        is the top breed's unless ``breed_index`` names another."""
        names = [o.name for o in self.session.get_outputs()]
        images = normalise_pixels(view[None], self.predictor.card.preprocess)
        with self.lock:
            raw = dict(zip(names, self.session.run(names, {"images": images}), strict=True))
        cams = raw.pop(CAM_OUTPUT)  # (n or 2n) x h x w x breeds
        n = len(images)
        if len(cams) == 2 * n:  # the photos, then their mirror images: flip the mirrors' maps back
            cams = (cams[:n] + cams[n:, :, ::-1]) / 2
        elif self.predictor.needs_mirror(raw["breed_logits"]).all():  # a one-view model's second pass, as predicted
            with self.lock:
                again = dict(zip(names, self.session.run(names, {"images": images[..., ::-1].copy()}), strict=True))
            cams = (cams + again.pop(CAM_OUTPUT)[:, :, ::-1]) / 2
            raw = {name: (raw[name] + again[name]) / 2 for name in raw}
        output = self.predictor.batch_output(raw)
        k = int(np.argmax(output.probabilities[0])) if breed_index is None else breed_index
        return Explanation(output, view, cams[0, :, :, k].astype(np.float32), k)

    def explain_image(self, image: Image.Image, breed_index: int | None = None) -> Explanation:
        return self.explain_view(self.predictor.transform(image), breed_index)


# A perceptually ordered ramp (dark blue -> purple -> orange -> light yellow), close to matplotlib's "inferno"
# at these stops, without matplotlib.
_RAMP = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                  [250, 193, 39], [252, 255, 164]], np.float32)  # fmt: skip


def colour_map(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB along the ramp."""
    position = np.clip(values, 0, 1) * (len(_RAMP) - 1)
    low = np.minimum(position.astype(int), len(_RAMP) - 2)
    t = (position - low)[..., None]
    return ((1 - t) * _RAMP[low] + t * _RAMP[low + 1]).astype(np.uint8)


def heat(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The map at ``size`` (width, height), smoothly upsampled, scaled to [0, 1]: 0 where the breed has no
    evidence (negative or zero), 1 at its strongest."""
    positive = np.maximum(cam, 0).astype(np.float32)
    top = float(positive.max())
    scaled = positive / top if top > 0 else positive
    return np.asarray(Image.fromarray(scaled, mode="F").resize(size, Image.Resampling.BICUBIC)).clip(0, 1)


def overlay(explanation: Explanation, *, opacity: float = 0.55) -> Image.Image:
    """The model's view of the photo with the map laid over it: more colour where the evidence is stronger."""
    h, w = explanation.view.shape[:2]
    values = heat(explanation.cam, (w, h))
    alpha = (opacity * values)[..., None]  # no evidence, no tint: the photo stays as it was
    mixed = (1 - alpha) * explanation.view.astype(np.float32) + alpha * colour_map(values).astype(np.float32)
    return Image.fromarray(mixed.clip(0, 255).astype(np.uint8), mode="RGB")


def hottest_point(explanation: Explanation) -> tuple[float, float]:
    """Where the map peaks, as fractions (x, y) of the model's view: what tests and the API report."""
    h, w = explanation.cam.shape
    y, x = np.unravel_index(int(np.argmax(explanation.cam)), explanation.cam.shape)
    return (x + 0.5) / w, (y + 0.5) / h

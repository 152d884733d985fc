"""``dogbreeds quantize``: an int8 copy of an ONNX model for faster CPU inference.

Static quantisation, calibrated on real photos run through the model's own preprocessing, written as a QDQ
``.onnx`` file with its card, for one runtime:

- ``onnx`` (ONNX Runtime's ``quantize_static``: per-channel int8 weights, uint8 activations), for ONNX
  Runtime.
- ``openvino`` (NNCF's post-training quantisation, performance preset, with bias correction): the placement of
  quantisation nodes OpenVINO fuses into its int8 kernels. ONNX Runtime runs such a file too, but slower than the
  fp32 model: each copy suits its runtime (speeds in docs/results.md).

Before a copy is kept, its runtime runs it on (up to 64 of) the calibration photos beside the fp32 model on ONNX
Runtime: a copy whose top breed differs on more than a tenth of those is refused, not written (a runtime that
computes a quantised graph wrongly is caught here, not in a user's catalog). Whether a copy keeps accuracy must
still be measured on labelled photos (``dogbreeds evaluate --model q.onnx``), never assumed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.card import carry_projection, load_card, write_json_atomic
from dogbreeds.core.errors import DogbreedsError, MissingExtraError, UsageError
from dogbreeds.core.i18n import _
from dogbreeds.core.progress import progress
from dogbreeds.core.transforms import Preprocess, normalise_pixels, pixels
from dogbreeds.data.images import UnreadableImage, iter_image_files, load_rgb
from dogbreeds.inference.backends import QUANTIZED_FOR, open_runner
from dogbreeds.inference.predictor import resolve_model_path

QUANTIZATIONS = {runtime: name for name, runtime in QUANTIZED_FOR.items()}  # the name goes into the model id
MIN_AGREEMENT = 0.9  # of the checked calibration photos, the share whose top breed the copy must keep
CHECKED_PHOTOS = 64
MIN_CALIBRATION_PHOTOS = 32  # fewer cannot pin down the activations' ranges (and the agreement check means little)


def calibration_pixels(photos: list[Path], cfg: Preprocess) -> np.ndarray:
    """The readable calibration photos as the model sees them (uint8, N x H x W x 3)."""
    arrays = []
    with progress(_("reading calibration photos"), total=len(photos), unit=_("photos")) as bar:
        for path in photos:
            try:
                arrays.append(pixels(load_rgb(path, min_size=cfg.resize_to), cfg))
            except UnreadableImage:
                pass
            bar.advance()
    if len(arrays) < MIN_CALIBRATION_PHOTOS:
        raise UsageError(_("quantizing needs at least {n} readable calibration photos; found {found} (give more "
                           "folders, or a larger --photos)", n=MIN_CALIBRATION_PHOTOS, found=len(arrays)))  # fmt: skip
    return np.stack(arrays)


def top_breed_agreement(fp32: Path, copy: Path, photos: np.ndarray, cfg: Preprocess, backend: str) -> float:
    """The share of ``photos`` whose top class is the same for ``fp32`` on ONNX Runtime and ``copy`` on
    ``backend``."""
    reference, candidate = open_runner(fp32, cfg), open_runner(copy, cfg, backend=backend)
    agree = 0
    for i in range(0, len(photos), 16):
        a, b = reference(photos[i : i + 16]), candidate(photos[i : i + 16])
        if "breed_logits" not in a:
            raise UsageError(_("{fp32} has no breed_logits output: not a dogbreeds model", fp32=fp32))
        agree += int((a["breed_logits"].argmax(1) == b["breed_logits"].argmax(1)).sum())
    return agree / len(photos)


def quantize_model(
    model: str | Path | None, calibration: list[str | Path], out: Path, *, photos: int = 200, seed: int = 0,
    runtime: str = "onnx",
) -> Path:  # fmt: skip
    """Write an int8 copy of ``model`` (a checkpoint folder, an .onnx file, or the shipped model) to ``out``, for
    ``runtime`` (``onnx`` or ``openvino``; see the module docstring)."""
    if runtime not in QUANTIZATIONS:
        raise UsageError(
            _("runtime must be one of {names}, not {runtime!r}", names=", ".join(QUANTIZATIONS), runtime=runtime)
        )
    source = resolve_model_path(model)
    card = load_card(source)
    if card.model_args.get("quantization"):
        raise UsageError(
            _(
                "{source} is already an int8 copy ({quantization}): quantize the fp32 model it was made from",
                source=source,
                quantization=card.model_args["quantization"],
            )
        )
    if out.suffix != ".onnx" or out.is_dir():
        raise UsageError(_("--out must be an .onnx file (its card is written beside it), not {out}", out=out))
    if out.resolve() == source.resolve():
        raise UsageError(_("--out {out} would overwrite the model being quantized (and its card)", out=out))
    paths = iter_image_files(list(calibration))
    random.Random(seed).shuffle(paths)
    cfg = card.preprocess
    calibration_photos = calibration_pixels(paths[:photos], cfg)
    batches = [{"images": normalise_pixels(calibration_photos[i : i + 8], cfg)}
               for i in range(0, len(calibration_photos), 8)]  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")  # OpenVINO knows a model's format by its suffix
    try:
        try:
            (_for_onnxruntime if runtime == "onnx" else _for_openvino)(source, batches, tmp)
            checked = calibration_photos[:CHECKED_PHOTOS]
            agreement = top_breed_agreement(source, tmp, checked, cfg, runtime)
        except (DogbreedsError, RuntimeError, ValueError, ImportError):
            raise
        except Exception as err:  # the quantisers' and runtimes' own error types, in one line for the CLI
            raise DogbreedsError(
                _(
                    "quantizing {source} for {runtime} failed: {kind}: {err}",
                    source=source,
                    runtime=runtime,
                    kind=type(err).__name__,
                    err=err,
                )
            ) from err
        if agreement < MIN_AGREEMENT:
            raise DogbreedsError(
                _(
                    "the int8 copy on {runtime} keeps the top breed of only {agreement:.0%} of {n_checked} "
                    "calibration photos (at least {asked:.0%} asked): not written; calibrate on more photos, "
                    "or keep the fp32 model",
                    runtime=runtime,
                    agreement=agreement,
                    n_checked=len(checked),
                    asked=MIN_AGREEMENT,
                )
            )
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        card.model_args = {**card.model_args, "quantization": QUANTIZATIONS[runtime],
                           "calibration_photos": len(calibration_photos), "quantized_sha256": digest}  # fmt: skip
        # The fp32 model's test numbers do not describe this one: keep them under their own name only.
        card.metrics = {"fp32": card.metrics, "calibration_top_breed_agreement": agreement}
        card.retrieval = carry_projection(card, out)
        write_json_atomic(out.with_suffix(".json"), card.to_dict())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _for_onnxruntime(source: Path, batches: list[dict[str, np.ndarray]], out: Path) -> None:
    try:
        import onnx  # noqa: F401  (ONNX Runtime's quantiser needs it)
    except ImportError:
        raise MissingExtraError(_("quantizing needs onnx: pip install 'dogbreeds[quantize]'")) from None
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    prepared = out.with_name(f"{out.name}.pre")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    try:
        quantize_static(
            str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )  # fmt: skip
    finally:
        prepared.unlink()


def _for_openvino(source: Path, batches: list[dict[str, np.ndarray]], out: Path) -> None:
    try:
        import nncf
        import onnx
        import openvino  # noqa: F401  (the copy is checked on it afterwards: fail before the work, not after)
    except ImportError as err:
        raise MissingExtraError(
            _("quantizing for OpenVINO needs {name}: pip install 'dogbreeds[quantize]'", name=err.name)
        ) from None
    if logging.getLogger().getEffectiveLevel() > logging.INFO:  # NNCF's INFO lines only with --verbose
        nncf.set_log_level(logging.WARNING)

    # One photo per item: NNCF's statistics (and its sample count) are per item.
    photos = [{name: array[i : i + 1]} for batch in batches for name, array in batch.items() for i in range(len(array))]
    model = onnx.load(str(source))
    stem = up_to_first_conv(model)
    # A flip-averaging model concatenates each photo with its mirror image before the stem. OpenVINO 2026.4's
    # low-precision transformations compute a quantised input through that concatenation wrongly (a large loss
    # of top-1 on test photos, while ONNX Runtime runs the same file right), so its stem stays in floats (with
    # --precision bf16, bfloat16); a one-pass model is quantised whole (an fp32 stem costs it much of its speed).
    ignored = [node.name for node in stem] if any(node.op_type == "Concat" for node in stem) else []
    quantized = nncf.quantize(model, nncf.Dataset(photos), subset_size=len(photos),
                              preset=nncf.QuantizationPreset.PERFORMANCE,
                              ignored_scope=nncf.IgnoredScope(names=ignored, validate=False))  # fmt: skip
    onnx.save(quantized, str(out))


def up_to_first_conv(model: Any) -> list[Any]:
    """The nodes on the pixels' way from the graph's input to its first convolutions, those included."""
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found: dict[int, Any] = {}  # by identity: nodes of graphs not exported by torch may have no names
    todo = [i.name for i in model.graph.input]
    while todo:
        for node in consumers.get(todo.pop(), []):
            if id(node) not in found:
                found[id(node)] = node
                if node.op_type not in ("Conv", "Shape"):  # a shape is no path for pixels
                    todo.extend(node.output)
    return list(found.values())

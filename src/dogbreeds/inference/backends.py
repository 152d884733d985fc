"""Inference backends behind one call: ``runner(pixels) -> {output name: array}``.

A runner takes a batch of uint8 pixels (N x H x W x 3, resized and cropped by :func:`transforms.pixels`) and
normalises it the way the model card says: OpenVINO inside its compiled graph (folded into the first
convolution), the others through :func:`transforms.normalise_pixels`.

- ``openvino`` (what ``auto`` picks where it is installed, as it is by default): Intel's OpenVINO runtime on the
  ``.onnx`` file; with ``precision="bf16"`` it computes in bfloat16 on CPUs that have it (AVX512-BF16 or AMX);
  the int8 copy ``dogbreeds quantize --runtime openvino`` writes (the shipped model's is inside the package) runs
  faster still. Compiled models are cached in the user's cache folder.
- ``onnx``: ONNX Runtime on the exported graph; starts fastest, fp32 (or the int8 copy ``dogbreeds quantize
  --runtime onnx`` writes); what ``auto`` falls back to. Speeds, and whether bf16 or int8 keeps accuracy, are
  measured in docs/results.md, never assumed.
- ``torch``: the PyTorch model rebuilt from a checkpoint folder (``model.safetensors`` + card); needs the
  ``[train]`` extra and seconds of imports; the reference the other two are checked against.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dogbreeds.core.errors import MissingExtraError, UsageError
from dogbreeds.core.i18n import _
from dogbreeds.core.transforms import Preprocess, check_pixels, normalise_pixels
from dogbreeds.inference.onnx_session import cpu_threads, open_session, run_session

BACKENDS = ("onnx", "openvino", "torch")
PRECISIONS = ("fp32", "bf16")
AUTO = "auto"  # the backend / precision a user gets when they ask for none: see resolve_runtime
# The int8 copies ``dogbreeds quantize`` writes (the name their card carries) and the backend each was made for:
# each runs slower than the fp32 model on the other runtime, so predict and classify warn when they are crossed.
QUANTIZED_FOR = {"int8-static-qdq": "onnx", "int8-nncf-qdq": "openvino"}
Runner = Callable[[np.ndarray], dict[str, np.ndarray]]


def openvino_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def resolve_runtime(backend: str, precision: str, *, int8_copy: Path | None) -> tuple[str, str, bool]:
    """What ``auto`` means: (backend, precision, whether to run ``int8_copy`` instead of the model).

    ``auto`` backend: OpenVINO when it is installed (it is, with a plain ``pip install dogbreeds``), else ONNX
    Runtime. ``auto`` precision: the shipped model's int8 copy on OpenVINO (``int8_copy``: None for other
    models), fp32 otherwise. ``int8`` asks for that copy outright.
    """
    if backend == AUTO:
        backend = "openvino" if openvino_installed() else "onnx"
    if precision == "int8":
        if int8_copy is None:
            raise UsageError(_("--precision int8 runs the shipped model's int8 copy; for another model make one with "
                               "`dogbreeds quantize` and pass it as --model"))  # fmt: skip
        return backend, "fp32", True
    if precision == AUTO:
        return backend, "fp32", int8_copy is not None and backend == "openvino"
    return backend, precision, False


def open_runner(
    onnx_path: Path, preprocess: Preprocess, *, backend: str = "onnx", precision: str = "fp32",
    threads: int | None = None,
) -> Runner:  # fmt: skip
    """A callable running the model of ``onnx_path`` (a checkpoint's ``model.onnx`` or a standalone ``.onnx``) on
    uint8 pixel batches, normalised by ``preprocess``."""
    if backend not in BACKENDS:
        raise UsageError(
            _("backend must be one of {names}, not {backend!r}", names=", ".join(BACKENDS), backend=backend)
        )
    if precision not in PRECISIONS:
        raise UsageError(
            _("precision must be one of {names}, not {precision!r}", names=", ".join(PRECISIONS), precision=precision)
        )
    threads = threads or cpu_threads()
    if backend == "onnx":
        if precision != "fp32":
            raise UsageError(
                _(
                    "ONNX Runtime runs fp32 (or an int8 copy from `dogbreeds quantize`); for bf16 use "
                    "--backend openvino or --backend torch"
                )
            )
        session = open_session(onnx_path, threads=threads)
        return lambda pixels: run_session(session, normalise_pixels(pixels, preprocess))
    if backend == "openvino":
        return _openvino_runner(onnx_path, preprocess, precision, threads)
    return _torch_runner(onnx_path, preprocess, precision, threads)


def _openvino_runner(onnx_path: Path, preprocess: Preprocess, precision: str, threads: int) -> Runner:
    try:
        import openvino as ov
    except ImportError:
        raise MissingExtraError(_("the openvino backend needs OpenVINO: pip install 'dogbreeds[openvino]'")) from None
    core = ov.Core()
    _cache_compiled_models(core)
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        raise UsageError(_("this CPU has no bfloat16 instructions (AVX512-BF16 or AMX): use --precision fp32"))
    compiled = core.compile_model(
        _with_pixel_input(core.read_model(str(onnx_path)), preprocess), "CPU",
        {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
         "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"},
    )  # fmt: skip
    request = compiled.create_infer_request()
    names = [port.get_any_name() for port in compiled.outputs]

    def run(pixels: np.ndarray) -> dict[str, np.ndarray]:
        check_pixels(pixels)
        request.infer({0: pixels})
        # copies: the request's output buffers are reused by the next call
        return {name: np.array(request.get_output_tensor(i).data) for i, name in enumerate(names)}

    return run


def _cache_compiled_models(core: Any) -> None:
    """Keep OpenVINO's compiled models in the user's cache folder: compiling the shipped int8 model takes about
    0.35 s at every start, loading it back 0.07 s (``dogbreeds predict one.jpg`` starts in half the time). Where
    the folder cannot be made (a read-only home), models are compiled every time, as before."""
    from dogbreeds.core.files import user_cache_dir

    folder = user_cache_dir() / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            core.set_property({"CACHE_DIR": str(folder)})
    except (OSError, RuntimeError):  # no writable home, or OpenVINO refusing the folder: compile every time
        pass


def _with_pixel_input(model: Any, preprocess: Preprocess) -> Any:
    """The OpenVINO model taking uint8 NHWC pixels: conversion, layout and ``(x - 255 mean) / (255 std)`` become
    graph operations, which OpenVINO folds into the first convolution instead of the CPU doing them photo by
    photo in NumPy."""
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(model)
    ppp.input(0).tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input(0).model().set_layout(ov.Layout("NCHW"))
    steps = ppp.input(0).preprocess().convert_element_type(ov.Type.f32)
    steps.mean([255.0 * m for m in preprocess.mean]).scale([255.0 * s for s in preprocess.std])
    return ppp.build()


def _torch_runner(onnx_path: Path, preprocess: Preprocess, precision: str, threads: int) -> Runner:
    folder = onnx_path.parent
    if not (folder / "model.safetensors").exists():
        raise UsageError(
            _(
                "the torch backend needs a checkpoint folder with model.safetensors; {onnx_path} has "
                "none beside it (an exported .onnx file runs on --backend onnx or openvino)",
                onnx_path=onnx_path,
            )
        )
    try:
        import torch
    except ImportError:
        raise MissingExtraError(_("the torch backend needs PyTorch: pip install 'dogbreeds[train]'")) from None
    from dogbreeds.models.rebuild import load_model

    torch.set_num_threads(threads)
    model = load_model(folder)

    @torch.inference_mode()
    def run(pixels: np.ndarray) -> dict[str, np.ndarray]:
        images = torch.from_numpy(normalise_pixels(pixels, preprocess))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out: Any = model(images)
        outputs = (out,) if isinstance(out, torch.Tensor) else out
        return {name: t.float().numpy() for name, t in zip(model.output_names, outputs, strict=True)}

    return run

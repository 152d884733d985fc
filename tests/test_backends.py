"""Every inference backend gives the ONNX Runtime answer: OpenVINO fp32 and PyTorch to 1e-4, bf16 close to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dogbreeds.catalog.database import iter_rows, open_catalog
from dogbreeds.cli import main
from dogbreeds.core.transforms import Preprocess
from dogbreeds.inference.backends import open_runner
from dogbreeds.inference.predictor import Predictor

from .conftest import EXAMPLES


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    predictor = Predictor()
    return np.stack([predictor.load(p) for p in sorted(EXAMPLES.glob("*.jpg"))])


def _has_bf16() -> bool:
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.mark.slow
def test_openvino_fp32_matches_onnx_runtime(photos: np.ndarray) -> None:
    pytest.importorskip("openvino")
    onnx, openvino = Predictor(), Predictor(backend="openvino")
    a, b = onnx.run_pixels(photos), openvino.run_pixels(photos)
    assert np.abs(a.probabilities - b.probabilities).max() < 1e-4
    assert np.abs(a.dog_probability - b.dog_probability).max() < 1e-4
    last = openvino.run_pixels(photos[:3])  # a smaller last batch: shapes are dynamic
    assert np.abs(last.probabilities - a.probabilities[:3]).max() < 1e-4


def test_openvino_bf16_keeps_the_answers(photos: np.ndarray) -> None:
    pytest.importorskip("openvino")
    if not _has_bf16():
        pytest.skip("this CPU has no bfloat16 instructions")
    a = Predictor(backend="onnx", precision="fp32").run_pixels(photos)
    b = Predictor(backend="openvino", precision="bf16").run_pixels(photos)
    assert not np.array_equal(a.logits, b.logits)  # bfloat16 did run: the digits differ
    assert (a.probabilities.argmax(1) == b.probabilities.argmax(1)).all()
    assert np.abs(a.probabilities - b.probabilities).max() < 0.05


def test_unusable_backend_choices_say_why(tmp_path: Path) -> None:
    from dogbreeds.inference.predictor import default_model_path

    cfg = Preprocess()
    with pytest.raises(ValueError, match="bf16 use --backend openvino"):
        open_runner(default_model_path(), cfg, precision="bf16")
    with pytest.raises(ValueError, match="needs a checkpoint folder with model.safetensors"):
        open_runner(default_model_path(), cfg, backend="torch")
    with pytest.raises(ValueError, match="backend must be one of"):
        open_runner(default_model_path(), cfg, backend="tensorrt")


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_runners_normalise_each_channel_by_its_own_mean_and_std(backend: str, tmp_path: Path) -> None:
    """On an identity graph the runner's output is its normalisation: ImageNet's mean and std differ per channel,
    so a swapped or misordered channel would show (the shipped model's 0.5 everywhere would hide it)."""
    if backend == "openvino":
        pytest.importorskip("openvino")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from dogbreeds.core.transforms import normalise_pixels

    shape = ["n", 3, 8, 8]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["images"], ["breed_logits"])], "identity",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("breed_logits", TensorProto.FLOAT, shape)],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "identity.onnx")
    cfg = Preprocess(input_size=8, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    pixels = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    out = open_runner(tmp_path / "identity.onnx", cfg, backend=backend)(pixels)["breed_logits"]
    assert np.abs(out - normalise_pixels(pixels, cfg)).max() < 1e-5


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_runners_refuse_float_batches(backend: str, photos: np.ndarray) -> None:
    if backend == "openvino":
        pytest.importorskip("openvino")
    predictor = Predictor(backend=backend)
    with pytest.raises(TypeError, match="expected uint8 pixels"):
        predictor.run_pixels(photos.astype(np.float32))
    with pytest.raises(TypeError, match="expected uint8 pixels"):
        predictor.run_pixels(np.ascontiguousarray(photos.transpose(0, 3, 1, 2)))  # channels first


def test_torch_backend_matches_onnx_on_a_trained_checkpoint(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from dogbreeds.training.config import TrainConfig
    from dogbreeds.training.loop import fit

    from .conftest import make_photo

    for i, breed in enumerate(["n02085620-Chihuahua", "n02110958-pug"]):
        for j in range(4):
            make_photo(tmp_path / "data" / breed / f"{j}.jpg", (200 * i, 40, 90), seed=j)
    cfg = TrainConfig(data=str(tmp_path / "data"), out=str(tmp_path / "run"), model="dognet_test", image_size=32,
                      epochs=1, batch_size=4, val_fraction=0.25, track=False)  # fmt: skip
    fit(cfg)
    x = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    onnx = Predictor(tmp_path / "run").run_pixels(x)
    torch_out = Predictor(tmp_path / "run", backend="torch").run_pixels(x)
    assert np.abs(onnx.probabilities - torch_out.probabilities).max() < 1e-4


def test_cli_classify_on_openvino_writes_the_onnx_verdicts(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    for backend in ("onnx", "openvino"):
        db = str(tmp_path / f"{backend}.db")
        assert main(["classify", str(EXAMPLES), "--db", db, "--backend", backend, "--precision", "fp32"]) == 0
    rows = {b: {r["path"]: r for r in iter_rows(open_catalog(str(tmp_path / f"{b}.db")))} for b in ("onnx", "openvino")}
    assert rows["onnx"].keys() == rows["openvino"].keys() and len(rows["onnx"]) == 12
    for path, row in rows["onnx"].items():
        other = rows["openvino"][path]
        assert (row["breed"], row["verdict"]) == (other["breed"], other["verdict"])
        assert abs(row["probability"] - other["probability"]) < 1e-4

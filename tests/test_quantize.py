"""int8 quantisation: a smaller model that loads with its card and mostly agrees with the original."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxruntime.quantization")

from dogbreeds.cli import main  # noqa: E402
from dogbreeds.core.card import load_card, write_json_atomic  # noqa: E402
from dogbreeds.inference.predictor import Predictor, default_model_path  # noqa: E402

from .conftest import EXAMPLES  # noqa: E402


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """36 calibration photos: the 12 sample photos, mirrored and cropped too (quantize wants at least 32)."""
    from PIL import Image, ImageOps

    folder = tmp_path_factory.mktemp("calibration")
    for photo in sorted(EXAMPLES.glob("*.jpg")):
        with Image.open(photo) as img:
            img = img.convert("RGB")
            w, h = img.size
            img.save(folder / photo.name)
            ImageOps.mirror(img).save(folder / f"mirrored {photo.name}")
            img.crop((w // 10, h // 10, w - w // 10, h - h // 10)).save(folder / f"cropped {photo.name}")
    return folder


@pytest.mark.slow
def test_quantized_shipped_model_agrees_on_the_sample_photos(tmp_path: Path, calibration: Path) -> None:
    out = tmp_path / "q" / "dogs int8.onnx"
    assert main(["quantize", "--calibration", str(calibration), "--out", str(out)]) == 0
    card = load_card(out)
    assert card.model_args["quantization"] == "int8-static-qdq" and card.model_args["calibration_photos"] == 36
    # its own id in a catalog: the hash of its own file, and which quantisation
    assert card.id.endswith(f":{card.model_args['quantized_sha256'][:12]}:int8-static-qdq")
    assert card.id != Predictor(default_model_path()).card.id
    assert "fp32" in card.metrics and "test" not in card.metrics
    # the retrieval projection travels with the copy, under its name
    assert card.retrieval == "dogs int8.retrieval.npz" and (out.parent / card.retrieval).is_file()
    assert Predictor(out).embedding_dims == 119
    assert out.stat().st_size < default_model_path().stat().st_size / 2
    photos = sorted(EXAMPLES.glob("*.jpg"))
    fp32 = [p.breed for p in Predictor(backend="onnx", precision="fp32").predict_paths(photos)]
    int8 = [p.breed for p in Predictor(out).predict_paths(photos)]
    assert sum(a == b for a, b in zip(fp32, int8, strict=True)) >= len(photos) - 1


def test_quantize_with_too_few_readable_photos_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"")
    assert main(["quantize", "--calibration", str(tmp_path), str(EXAMPLES), "--out", str(tmp_path / "q.onnx")]) == 2
    assert "at least 32 readable calibration photos; found 12" in capsys.readouterr().err
    assert not (tmp_path / "q.onnx").exists()


@pytest.mark.slow
def test_openvino_copy_keeps_the_top_breeds(
    tmp_path: Path, calibration: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The shipped model mirrors each photo inside its graph: the case OpenVINO's int8 transformations got wrong."""
    pytest.importorskip("nncf")
    pytest.importorskip("openvino")
    out = tmp_path / "ov int8.onnx"
    assert main(["quantize", "--calibration", str(calibration), "--out", str(out), "--runtime", "openvino"]) == 0
    card = load_card(out)
    assert card.id.endswith(":int8-nncf-qdq")
    photos = sorted(EXAMPLES.glob("*.jpg"))
    fp32 = [p.breed for p in Predictor(backend="onnx", precision="fp32").predict_paths(photos)]
    int8 = [p.breed for p in Predictor(out, backend="openvino").predict_paths(photos)]
    assert sum(a == b for a, b in zip(fp32, int8, strict=True)) >= len(photos) - 1
    Predictor(out, backend="onnx")  # runs on ONNX Runtime too, slowly: the user hears it
    assert "made for --backend openvino" in caplog.text


@pytest.mark.slow
def test_a_copy_that_loses_the_top_breeds_is_refused(
    tmp_path: Path, calibration: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnx
    from onnx import numpy_helper

    from dogbreeds.inference import quantize

    def broken(source: Path, batches: object, out: Path) -> None:  # the breed head turned upside down
        model = onnx.load(str(source))
        head = {n.input[1] for n in model.graph.node if n.name == "/head/Gemm"}
        for init in model.graph.initializer:
            if init.name in head:
                init.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(init), init.name))
        onnx.save(model, str(out))

    monkeypatch.setattr(quantize, "_for_onnxruntime", broken)
    out = tmp_path / "q.onnx"
    assert main(["quantize", "--calibration", str(calibration), "--out", str(out)]) == 2
    assert "keeps the top breed of only 0% of 36 calibration photos" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # neither the copy nor its temporary file


def test_quantize_refuses_bad_outputs_and_copies_of_copies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Checked before any calibration work: nothing is written."""
    (tmp_path / "folder.onnx").mkdir()
    model = tmp_path / "m.onnx"
    model.write_bytes(default_model_path().read_bytes())
    card = Predictor().card
    card.model_args = {**card.model_args, "quantization": "int8-static-qdq"}
    write_json_atomic(model.with_suffix(".json"), card.to_dict())
    for argv, said in [
        (["--out", str(tmp_path / "q.json")], "must be an .onnx file"),
        (["--out", str(tmp_path / "folder.onnx")], "must be an .onnx file"),
        (["--model", str(model), "--out", str(tmp_path / "q.onnx")], "already an int8 copy"),
    ]:
        assert main(["quantize", "--calibration", str(EXAMPLES), *argv]) == 2
        assert said in capsys.readouterr().err
    shipped = default_model_path()
    assert main(["quantize", "--calibration", str(EXAMPLES), "--model", str(shipped), "--out", str(shipped)]) == 2
    assert "would overwrite the model being quantized" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.onnx", "m.json", "m.onnx"]

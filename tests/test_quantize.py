"""int8 quantisation: a smaller model that loads with its card and mostly agrees with the original."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxruntime.quantization")

from dogbreeds.checkpoint import load_card  # noqa: E402
from dogbreeds.cli import main  # noqa: E402
from dogbreeds.predict import Predictor  # noqa: E402

from .conftest import EXAMPLES  # noqa: E402


def test_quantized_shipped_model_agrees_on_the_sample_photos(tmp_path: Path) -> None:
    out = tmp_path / "q" / "dogs int8.onnx"
    assert main(["quantize", "--calibration", str(EXAMPLES), "--out", str(out)]) == 0
    card = load_card(out)
    assert card.model_args["quantization"] == "int8-static-qdq" and card.model_args["calibration_photos"] == 12
    assert card.id.endswith(":int8-static-qdq") and card.id != Predictor().card.id  # never mixed up in a catalog
    assert "fp32" in card.metrics and "test" not in card.metrics
    assert out.stat().st_size < Predictor().path.stat().st_size / 2
    photos = sorted(EXAMPLES.glob("*.jpg"))
    fp32 = [p.breed for p in Predictor().predict_paths(photos)]
    int8 = [p.breed for p in Predictor(out).predict_paths(photos)]
    assert sum(a == b for a, b in zip(fp32, int8, strict=True)) >= len(photos) - 1


def test_quantize_without_readable_photos_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"")
    assert main(["quantize", "--calibration", str(tmp_path), "--out", str(tmp_path / "q.onnx")]) == 2
    assert "no readable calibration photos" in capsys.readouterr().err

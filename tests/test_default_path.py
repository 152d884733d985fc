"""What a user gets with no options: the shipped model's int8 copy on OpenVINO, one pass, and a second pass on
the mirror image only for photos under the card's ``mirror_below``; and how it compares with the fp32 model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dogbreeds.core.errors import UsageError
from dogbreeds.inference.backends import resolve_runtime
from dogbreeds.inference.predictor import Predictor, default_int8_path, default_model_path

PHOTOS = sorted(p for p in (Path(__file__).parents[1] / "examples" / "photos").glob("*.jpg") if "cat" not in p.name)
PROBABILITY_TOLERANCE = 0.1  # the int8 copy's largest top-probability gap on these photos is a few points


def test_auto_means_int8_on_openvino_only_for_the_shipped_model(tmp_path: Path) -> None:
    copy = tmp_path / "int8.onnx"
    assert resolve_runtime("openvino", "auto", int8_copy=copy) == ("openvino", "fp32", True)
    assert resolve_runtime("onnx", "auto", int8_copy=copy) == ("onnx", "fp32", False)  # its int8 runs slower there
    assert resolve_runtime("openvino", "auto", int8_copy=None) == ("openvino", "fp32", False)  # another model
    assert resolve_runtime("openvino", "fp32", int8_copy=copy) == ("openvino", "fp32", False)
    assert resolve_runtime("onnx", "int8", int8_copy=copy) == ("onnx", "fp32", True)
    with pytest.raises(UsageError, match="quantize"):
        resolve_runtime("onnx", "int8", int8_copy=None)


def test_the_mirror_pass_is_the_average_of_both_views() -> None:
    p = Predictor(backend="onnx", precision="fp32")
    assert p.path == default_model_path() and p.card.mirror_below > 0
    batch = np.stack([p.load(photo) for photo in PHOTOS])
    p.card.mirror_below = 0.0
    one = p.run_pixels(batch)
    mirrored = p.run_pixels(np.ascontiguousarray(batch[:, :, ::-1]))
    p.card.mirror_below = 1.0  # every photo's top probability is under 1: every photo mirrored
    both = p.run_pixels(batch)
    np.testing.assert_allclose(both.logits, (one.logits + mirrored.logits) / 2, atol=1e-4)
    assert both.features is not None and one.features is not None and mirrored.features is not None
    np.testing.assert_allclose(both.features, (one.features + mirrored.features) / 2, atol=1e-5)
    top = one.probabilities.max(axis=1)
    p.card.mirror_below = float(np.median(top))  # half the photos under it, half above
    mixed = p.run_pixels(batch)
    again = top < p.card.mirror_below
    assert again.any() and (~again).any()
    np.testing.assert_allclose(mixed.logits[again], both.logits[again], atol=1e-4)
    np.testing.assert_allclose(mixed.logits[~again], one.logits[~again], atol=1e-4)


@pytest.mark.slow
def test_the_default_path_agrees_with_fp32() -> None:
    pytest.importorskip("openvino")
    default = Predictor()
    assert default.backend == "openvino" and default.path == default_int8_path()
    assert default.reference_path == default_model_path()  # heat-maps still come from the fp32 model
    fp32 = Predictor(backend="onnx", precision="fp32")
    fast, slow = list(default.predict_paths(PHOTOS)), list(fp32.predict_paths(PHOTOS))
    assert [a.breed for a in fast] == [b.breed for b in slow]
    gaps = [abs((a.probability or 0) - (b.probability or 0)) for a, b in zip(fast, slow, strict=True)]
    assert max(gaps) < PROBABILITY_TOLERANCE


def test_auto_falls_back_to_onnx_runtime_when_openvino_cannot_run(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("openvino")
    from dogbreeds.inference import backends

    def broken(*_args: object) -> None:
        raise RuntimeError("Exception from src/inference: no CPU plugin\nsecond line")

    monkeypatch.setattr(backends, "_openvino_runner", broken)
    p = Predictor()
    assert (p.backend, p.precision, p.path) == ("onnx", "fp32", default_model_path())
    assert "no CPU plugin" in caplog.text and "second line" not in caplog.text
    with pytest.raises(RuntimeError):  # asked for by name: the user hears it, no silent switch
        Predictor(backend="openvino")


def test_an_int8_copy_made_for_onnx_runtime_runs_there_by_default(tmp_path: Path) -> None:
    import json
    import shutil

    copy = tmp_path / "q.onnx"
    shutil.copyfile(default_model_path(), copy)
    card = json.loads(default_model_path().with_suffix(".json").read_text())
    card["model_args"]["quantization"] = "int8-static-qdq"
    card["retrieval"] = ""
    copy.with_suffix(".json").write_text(json.dumps(card))
    assert Predictor(copy).backend == "onnx"


def test_a_precision_asked_for_is_never_swapped_silently(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openvino")
    from dogbreeds.inference import backends

    def broken(*_args: object) -> None:
        raise RuntimeError("no CPU plugin")

    monkeypatch.setattr(backends, "_openvino_runner", broken)
    for precision in ("int8", "bf16"):
        with pytest.raises(RuntimeError):
            Predictor(precision=precision)


def test_the_cli_verdict_choices_are_the_verdicts() -> None:
    from dogbreeds.cli.common import VERDICT_CHOICES
    from dogbreeds.core.verdicts import VERDICTS

    assert VERDICT_CHOICES == VERDICTS


def test_inference_speed_times_one_pass_and_restores_the_card(monkeypatch: pytest.MonkeyPatch) -> None:
    from dogbreeds.evaluation.report import inference_speed

    p = Predictor(backend="onnx", precision="fp32")
    shipped = p.card.mirror_below
    seen: list[float] = []
    monkeypatch.setattr(p, "run_pixels", lambda x: seen.append(p.card.mirror_below) or (_ for _ in ()).throw(OSError))
    with pytest.raises(OSError):
        inference_speed(p, batch=2, seconds=0.01)
    assert seen == [0.0] and p.card.mirror_below == shipped

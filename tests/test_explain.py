"""The heat-map: a class activation map from the ONNX model itself, exact, and where the dog is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dogbreeds.cli import main
from dogbreeds.core.card import write_json_atomic
from dogbreeds.core.errors import ModelCardError
from dogbreeds.data.images import load_rgb
from dogbreeds.inference.explain import Explainer, colour_map, explaining_graph, hottest_point, overlay
from dogbreeds.inference.predictor import Predictor, default_model_path

from .conftest import EXAMPLES


@pytest.fixture(scope="module")
def explainer() -> Explainer:
    return Explainer(Predictor(backend="onnx", precision="fp32"))  # heat-maps come from the fp32 graph


def test_the_map_is_exact_and_the_answer_is_the_predictors(explainer: Explainer) -> None:
    a, b = load_rgb(EXAMPLES / "pug.jpg"), load_rgb(EXAMPLES / "beagle.jpg")
    plain = explainer.predictor.run_pixels(
        np.stack([explainer.predictor.transform(a), explainer.predictor.transform(b)])
    )
    ea = explainer.explain_image(a)
    eb = explainer.explain_image(b, breed_index=ea.breed_index)  # the pug's map, on the beagle
    assert np.allclose(ea.output.probabilities[0], plain.probabilities[0], atol=1e-5)
    assert explainer.predictor.card.classes[ea.breed_index] == "n02110958-pug"
    assert ea.cam.shape == (9, 9)
    # a logit is the map's mean plus the head's bias: the bias cancels between two photos
    k = ea.breed_index
    assert ea.cam.mean() - eb.cam.mean() == pytest.approx(plain.logits[0, k] - plain.logits[1, k], abs=1e-3)


def test_a_photo_under_mirror_below_is_explained_with_its_mirror_pass() -> None:
    predictor = Predictor(backend="onnx", precision="fp32")
    predictor.card.mirror_below = 1.0  # every photo gets the second pass
    explainer = Explainer(predictor)
    a, b = load_rgb(EXAMPLES / "pug.jpg"), load_rgb(EXAMPLES / "beagle.jpg")
    plain = predictor.run_pixels(np.stack([predictor.transform(a), predictor.transform(b)]))
    ea = explainer.explain_image(a)
    eb = explainer.explain_image(b, breed_index=ea.breed_index)
    assert np.allclose(ea.output.probabilities[0], plain.probabilities[0], atol=1e-5)
    k = ea.breed_index  # the averaged maps keep the identity: their means differ as the averaged logits do
    assert ea.cam.mean() - eb.cam.mean() == pytest.approx(plain.logits[0, k] - plain.logits[1, k], abs=1e-3)
    predictor.card.mirror_below = 0.0
    one_view = Explainer(predictor).explain_image(a)
    assert not np.allclose(one_view.cam, ea.cam, atol=1e-3)  # the mirror pass did change the map


@pytest.mark.parametrize("corner", ["top left", "bottom right"])
def test_a_dog_in_one_corner_of_a_plain_canvas_is_where_the_map_is_hottest(explainer: Explainer, corner: str) -> None:
    with Image.open(EXAMPLES / "pug.jpg") as dog:
        dog = dog.convert("RGB").resize((300, 300))
    canvas = Image.new("RGB", (800, 800), (128, 128, 128))
    origin = (40, 40) if corner == "top left" else (460, 460)
    canvas.paste(dog, origin)
    explanation = explainer.explain_image(canvas)
    x, y = hottest_point(explanation)
    pre = explainer.predictor.card.preprocess
    margin = (1 - pre.input_size / pre.resize_to) / 2  # the view is the canvas's centre crop
    cx, cy = (margin + f * (1 - 2 * margin) for f in (x, y))  # as fractions of the canvas
    left, top = origin[0] / 800, origin[1] / 800
    assert left <= cx <= left + 300 / 800 and top <= cy <= top + 300 / 800


def test_the_overlay_keeps_the_photo_where_there_is_no_evidence(explainer: Explainer) -> None:
    explanation = explainer.explain_image(load_rgb(EXAMPLES / "beagle.jpg"))
    picture = np.asarray(overlay(explanation), np.int16)
    assert picture.shape == explanation.view.shape
    changed = np.abs(picture - explanation.view).sum(axis=2) > 30
    assert 0.02 < changed.mean() < 0.9  # some of the photo is tinted, not all of it
    assert (colour_map(np.array([0.0, 1.0])) == [[0, 0, 4], [252, 255, 164]]).all()


def test_the_extra_output_is_appended_without_touching_the_model() -> None:
    original = default_model_path().read_bytes()
    extended = explaining_graph(original, "/bn2/act/Clip_output_0", "head.weight")
    assert extended.startswith(original) and 200 < len(extended) - len(original) < 600


def test_explain_writes_the_heat_map_and_says_the_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "why.png"
    assert main(["--lang", "fr", "explain", str(EXAMPLES / "scottish_deerhound.jpg"), "--out", str(out),
                 "--breed", "lévrier irlandais"]) == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "lévrier écossais" in said.splitlines()[0] and "lévrier irlandais" in said.splitlines()[1]
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (260, 260)


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["README.md", "--out", "x.png"], "cannot read README.md"),
        (["examples/photos/pug.jpg", "--out", "x.jpg"], "--out must name a .png file"),
        (["examples/photos/pug.jpg", "--breed", "xyzzy"], "'xyzzy' is not a breed dogbreeds knows"),
    ],
)
def test_explain_refuses_in_one_line(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(EXAMPLES.parents[1])
    assert main(["explain", *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_model_whose_graph_lacks_the_names_cannot_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    onnx = tmp_path / "m.onnx"
    shutil.copyfile(default_model_path(), onnx)
    card = json.loads(default_model_path().with_suffix(".json").read_text())
    card.pop("retrieval")
    card["model_args"]["explain"] = {"feature_map": "no such tensor", "head_weight": "head.weight"}
    write_json_atomic(onnx.with_suffix(".json"), card)
    with pytest.raises(ModelCardError, match="cannot draw a heat-map"):
        Explainer(Predictor(onnx)).explain_image(load_rgb(EXAMPLES / "pug.jpg"))
    assert main(["explain", str(EXAMPLES / "pug.jpg"), "--model", str(onnx), "--out", str(tmp_path / "h.png")]) == 2
    assert "cannot draw a heat-map" in capsys.readouterr().err and not (tmp_path / "h.png").exists()


def test_explain_refuses_a_pipe_and_takes_a_name_that_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    assert main(["explain", str(fifo), "--out", str(tmp_path / "h.png")]) == 2  # refused at once, never a hang
    err = capsys.readouterr().err
    assert "photo.jpg" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    odd = os.fsdecode(bytes(tmp_path) + b"/chien \xe9t\xe9.jpg")  # a Latin-1 name, not UTF-8
    shutil.copyfile(EXAMPLES / "pug.jpg", odd)
    assert main(["explain", odd, "--out", str(tmp_path / "odd.png")]) == 0
    assert (tmp_path / "odd.png").is_file() and "pug" in capsys.readouterr().out

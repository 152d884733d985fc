"""The model inside the package answers right after install, on the bundled sample photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dogbreeds.cli import main
from dogbreeds.core.card import load_card
from dogbreeds.inference.predictor import default_model_path

from .conftest import EXAMPLES


def test_shipped_model_is_packaged_with_its_card() -> None:
    path = default_model_path()
    assert path.exists() and path.stat().st_size <= 25_000_000
    card = load_card(path)
    assert len(card.classes) == 120 and card.training["split"] == "train"  # never fitted on the test list
    assert card.preprocess.input_size == 260 and card.temperature > 0


def test_sample_photos_get_their_breed_and_the_cat_is_not_a_dog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(EXAMPLES), "--json", "--top-k", "5"]) == 0
    rows = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert len(rows) == 12
    expected = {
        "pug.jpg": "pug",
        "chihuahua.jpg": "Chihuahua",
        "Saint Bernard – café.jpg": "Saint Bernard",
        "golden_retriever_fullframe.jpg": "golden retriever",
        "maltese full frame.jpg": "Maltese dog",
    }
    for name, breed in expected.items():
        assert rows[name]["name"] == breed and rows[name]["verdict"] == "dog", rows[name]
    assert rows["cat (not a dog).jpg"]["verdict"] == "not_a_dog"
    probs = [k["probability"] for k in rows["pug.jpg"]["top_k"]]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True) and 0.5 < probs[0] <= 1


def test_one_photo_prints_a_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(EXAMPLES / "pug.jpg")]) == 0
    assert capsys.readouterr().out.startswith("This dog is probably a pug (")
    assert main(["predict", str(EXAMPLES / "cat (not a dog).jpg")]) == 0
    said = " ".join(capsys.readouterr().out.split())  # the terminal may wrap the line
    assert said.startswith("This does not look like a dog (dog probability") and "best breed guess" in said


def test_unreadable_only_input_exits_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.jpg").write_bytes(b"")
    assert main(["predict", str(tmp_path / "x.jpg")]) == 1
    assert "empty file" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "nothing-here")]) == 1


def test_committed_scratch_checkpoint_loads_and_describes_its_training() -> None:
    torch = pytest.importorskip("torch")
    from dogbreeds.core.card import load_card
    from dogbreeds.models.rebuild import load_model

    folder = Path(__file__).resolve().parents[1] / "models" / "scratch"
    assert (folder / "model.safetensors").stat().st_size < 20 * 2**20
    card = load_card(folder)
    assert card.backbone_weights == "scratch" and card.training["method"] == "scratch"
    assert card.training["split"] in (None, "train")  # a Stanford folder without a split means its train list
    assert card.metrics["val"]["val_top1"] > 0.6 and sum(h["seconds"] for h in card.metrics["history"]) < 2 * 3600
    model = load_model(folder)
    with torch.inference_mode():
        features, logits = model(torch.zeros(1, 3, card.preprocess.input_size, card.preprocess.input_size))
    assert logits.shape == (1, 120)

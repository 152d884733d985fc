"""The shelter's own breeds: the wider vocabulary, new breeds taught with --new-breeds, mixed breeds, and review
answers that name them; the next `train` learns what volunteers recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dogbreeds.catalog.review import decide
from dogbreeds.core.breed_names import ALIASES, EXTRA_BREEDS, FRENCH, MIXED_BREED
from dogbreeds.core.breeds import (
    _WIDER_KEY,
    BREED_IDS,
    UnknownBreedError,
    _normalise,
    class_list,
    display_name,
    new_class_id,
    resolve_class,
)
from dogbreeds.data.folders import load_samples

from .conftest import make_photo


def test_no_name_of_the_wider_vocabulary_leads_to_two_breeds() -> None:
    owner: dict[str, str] = {}
    names = {b: (b, FRENCH[b.split("-", 1)[1]], *ALIASES.get(b.split("-", 1)[1], ())) for b in BREED_IDS}
    names |= {b: (b, french, *aliases) for b, (french, aliases) in EXTRA_BREEDS.items()}
    for breed, all_names in names.items():
        for key in {_normalise(n) for n in all_names}:
            assert owner.setdefault(key, breed) == breed, f"{key!r} names both {owner[key]} and {breed}"
    assert all(_WIDER_KEY[_normalise(b)] == b for b in EXTRA_BREEDS)
    assert all(french for french, _aliases in EXTRA_BREEDS.values())


@pytest.mark.parametrize(
    ("typed", "breed"),
    [
        ("dalmatien", "Dalmatian"),
        ("Croisé", MIXED_BREED),
        ("croise", MIXED_BREED),
        ("mixed breed", MIXED_BREED),
        ("Shiba", "Shiba_Inu"),
        ("teckel", "Dachshund"),
        ("berger australien", "Australian_Shepherd"),
        ("labrador", "n02099712-Labrador_retriever"),  # the 120 first
    ],
)
def test_the_wider_vocabulary_resolves(typed: str, breed: str) -> None:
    assert resolve_class(typed) == breed


@pytest.mark.parametrize(
    ("typed", "breed"),
    [
        ("bouledogue-anglais", "English_Bulldog"),
        ("corgi-cardigan", "n02113186-Cardigan"),
        ("springer-gallois", "n02102177-Welsh_springer_spaniel"),
        ("basset-fauve-de-Bretagne", "Basset_Fauve_de_Bretagne"),
        ("n02110958-pug", "n02110958-pug"),
        ("n02110958", "n02110958-pug"),
    ],
)
def test_hyphenated_names_are_whole_names_only_wordnet_ids_are_prefixes(typed: str, breed: str) -> None:
    assert resolve_class(typed) == breed
    with pytest.raises(UnknownBreedError):
        resolve_class("pug-mix")  # not a pug: a name nobody listed


def test_data_summary_counts_the_wider_vocabulary_and_new_breeds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dogbreeds.cli import main

    for folder in ("beagle", "dalmatien", "Berger de Picardie"):
        make_photo(tmp_path / folder / "a.jpg", (0, 0, 0))
    assert main(["data", "summary", str(tmp_path), "--json"]) == 2
    assert "--new-breeds" in capsys.readouterr().err
    assert main(["data", "summary", str(tmp_path), "--json", "--new-breeds"]) == 0
    per_breed = json.loads(capsys.readouterr().out)["per_breed"]
    assert per_breed == {"n02088364-beagle": 1, "Berger_de_Picardie": 1, "Dalmatian": 1}


def test_a_new_breed_needs_asking_for_and_its_name_stays_readable_and_harmless() -> None:
    with pytest.raises(UnknownBreedError, match="--new-breeds"):
        resolve_class("Berger de Picardie")
    assert resolve_class("Berger de Picardie", new_breeds=True) == "Berger_de_Picardie"
    assert new_class_id("../../etc/passwd") == "etc_passwd" and "/" not in new_class_id("a/b\\c")
    assert display_name("Berger_de_Picardie", "fr") == "Berger de Picardie"
    assert display_name(MIXED_BREED, "fr") == "croisé" and display_name(MIXED_BREED, "en") == "mixed breed"
    assert display_name("Dachshund", "fr") == "teckel"


def test_a_tree_with_its_own_breeds_keeps_the_120_first(tmp_path: Path) -> None:
    for folder in ("pug", "dalmatien", "Croisé", "Berger de Picardie"):
        make_photo(tmp_path / folder / "a.jpg", (0, 0, 0))
    with pytest.raises(UnknownBreedError, match="Berger de Picardie"):
        load_samples(tmp_path)
    data = load_samples(tmp_path, new_breeds=True)
    assert data.classes == class_list({"Dalmatian", MIXED_BREED, "Berger_de_Picardie"})
    assert data.classes[:120] == BREED_IDS and data.classes[120:] == ("Berger_de_Picardie", "Dalmatian", MIXED_BREED)
    assert {s.breed_id for s in data.samples} == {"n02110958-pug", "Dalmatian", MIXED_BREED, "Berger_de_Picardie"}


def test_two_folders_of_one_breed_are_refused(tmp_path: Path) -> None:
    make_photo(tmp_path / "pug" / "a.jpg", (0, 0, 0))
    make_photo(tmp_path / "carlin" / "a.jpg", (0, 0, 0))
    with pytest.raises(Exception, match="carlin"):
        load_samples(tmp_path)


def _row() -> dict:
    top = [{"breed": "n02110958-pug", "probability": 0.6}, {"breed": "n02088364-beagle", "probability": 0.3}]
    return {"breed": "n02110958-pug", "verdict": "unsure", "top5": top}


def test_review_answers_mixed_known_other_and_new_breeds() -> None:
    assert decide("m", _row()) == ("corrected", MIXED_BREED)
    assert decide("dalmatien", _row()) == ("corrected", "Dalmatian")
    assert decide("+Berger de Picardie", _row()) == ("corrected", "Berger_de_Picardie")
    assert "+" in str(decide("Berger de Picardie", _row()))  # unknown: tells how to record it as new
    assert "+" in str(decide("+  ", _row()))
    for empty in ("+..", "+-", "+/"):  # nothing left of the name: asked again, the session goes on
        assert isinstance(decide(empty, _row()), str)
    assert decide("+dalmatien", _row()) == ("corrected", "Dalmatian")


@pytest.mark.slow
def test_new_breeds_train_predict_and_come_back_from_review(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A tree with a Stanford breed, a breed of the wider vocabulary, mixed breeds and a new breed trains with
    --new-breeds; the model predicts the new classes; a volunteer's answers come back as folders train accepts."""
    pytest.importorskip("torch")
    import timm
    import torch

    from dogbreeds.catalog.database import open_catalog
    from dogbreeds.catalog.review import export_corrections, record, row_of
    from dogbreeds.cli import main
    from dogbreeds.core.card import load_card
    from dogbreeds.inference.predictor import Predictor

    torch.manual_seed(0)
    weights = tmp_path / "w.pth"
    torch.save(timm.create_model("test_efficientnet").state_dict(), weights)
    colours = {"pug": (40, 200, 40), "dalmatien": (230, 230, 230), "croisé": (200, 40, 40),
               "Berger de Picardie": (40, 40, 200)}  # fmt: skip
    for folder, colour in colours.items():
        for i in range(8):
            make_photo(tmp_path / "tree" / folder / f"{i}.jpg", colour, seed=i)
    train = ["train", "--data", str(tmp_path / "tree"), "--backbone", "test_efficientnet", "--weights",
             f"file:{weights}", "--val-fraction", "0.25", "--no-track"]  # fmt: skip
    assert main([*train, "--out", str(tmp_path / "refused")]) == 2
    assert "--new-breeds" in capsys.readouterr().err and not (tmp_path / "refused").exists()
    assert main([*train, "--out", str(tmp_path / "ckpt"), "--new-breeds"]) == 0
    card = load_card(tmp_path / "ckpt")
    assert card.classes[120:] == ["Berger_de_Picardie", "Dalmatian", MIXED_BREED]

    photos = {f: make_photo(tmp_path / "new" / f"{i}.jpg", c, seed=100 + i) for i, (f, c) in enumerate(colours.items())}
    predictor = Predictor(tmp_path / "ckpt")
    got = {f: p.breed for f, p in zip(photos, predictor.predict_paths(list(photos.values())), strict=True)}
    assert got == {"pug": "n02110958-pug", "dalmatien": "Dalmatian", "croisé": MIXED_BREED,
                   "Berger de Picardie": "Berger_de_Picardie"}  # fmt: skip
    assert main(["--lang", "fr", "predict", str(photos["croisé"]), "--model", str(tmp_path / "ckpt")]) == 0
    assert "croisé" in capsys.readouterr().out
    assert main(["evaluate", "--data", str(tmp_path / "tree"), "--model", str(tmp_path / "ckpt"), "--json-out",
                 str(tmp_path / "m.json")]) == 0  # fmt: skip
    assert json.loads((tmp_path / "m.json").read_text())["top1"] > 0.9

    db = f"sqlite:///{tmp_path / 'c.db'}"
    assert main(["classify", str(tmp_path / "new"), "--db", db, "--model", str(tmp_path / "ckpt")]) == 0
    engine = open_catalog(db)
    answers = {"pug": "m", "dalmatien": "dalmatien", "croisé": "+Bleu de Gascogne", "Berger de Picardie": "1"}
    for folder, answer in answers.items():
        row = row_of(engine, str(photos[folder].resolve()))
        assert row is not None
        decision = decide(answer, row)
        assert isinstance(decision, tuple)
        record(engine, row, *decision, reviewer="tester")
    counts = export_corrections(engine, tmp_path / "corrections")
    assert set(counts) == {MIXED_BREED, "Dalmatian", "Bleu_de_Gascogne", "Berger_de_Picardie"}
    again = load_samples(tmp_path / "corrections", new_breeds=True)
    assert {s.breed_id for s in again.samples} == set(counts)

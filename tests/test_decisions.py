"""Volunteers' decisions count everywhere; thresholds are re-applied, never baked in; the model id is its weights;
the CLI's one-line errors and its tracebacks for bugs."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from dogbreeds.catalog.classify import Classifier
from dogbreeds.catalog.database import iter_rows, open_catalog
from dogbreeds.catalog.review import ReviewSession, queue, run_review
from dogbreeds.cli import main
from dogbreeds.inference.predictor import Predictor, default_model_path

from .conftest import EXAMPLES


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


def _library(root: Path) -> Path:
    root.mkdir(parents=True)
    for photo in EXAMPLES.glob("*.jpg"):
        shutil.copy(photo, root / photo.name)
    return root


def _classified(tmp_path: Path, predictor: Predictor) -> tuple[Path, Path]:
    lib, db = _library(tmp_path / "lib"), tmp_path / "c.db"
    Classifier(predictor, open_catalog(db), batch_size=4).run([lib])
    return lib, db


def test_later_is_not_a_decision_and_undo_takes_the_last_one_back(tmp_path: Path, predictor: Predictor) -> None:
    _lib, db = _classified(tmp_path, predictor)
    engine = open_catalog(db)
    waiting = list(queue(engine))
    answers = iter(["s", "", "n", "u", "3", "q"])  # later, confirm, not a dog, undo it, pick #3 instead, quit
    stats = run_review(engine, reviewer="ana", ask=lambda _: next(answers), say=lambda _: None, opener=print)
    assert (stats.later, stats.confirmed + stats.corrected, stats.not_a_dog) == (1, 2, 0)
    rows = {r["path"]: r for r in iter_rows(engine)}
    first, second, third = (rows[w["path"]] for w in waiting[:3])
    assert first["review_decision"] is None  # "later": it is still waiting
    assert second["review_decision"] == "confirmed" and second["reviewer"] == "ana"
    assert (
        third["review_decision"] in ("confirmed", "corrected")
        and third["reviewed_breed"] == waiting[2]["top5"][2]["breed"]
    )
    assert [r["path"] for r in queue(engine)][0] == first["path"]  # back first in the next session


def test_a_photo_that_cannot_be_shown_prints_its_path_and_the_session_goes_on(
    tmp_path: Path, predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dogbreeds.catalog.review import open_photo

    _lib, db = _classified(tmp_path, predictor)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    said: list[str] = []
    answers = iter(["o", "", "q"])
    stats = run_review(
        open_catalog(db), reviewer="ana", ask=lambda _: next(answers), say=said.append, opener=open_photo
    )
    assert stats.confirmed + stats.corrected == 1
    assert any("cannot show it here" in s and str(tmp_path) in s for s in said)


def test_ctrl_c_in_review_is_one_line_and_keeps_the_decisions(
    tmp_path: Path, predictor: Predictor, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _lib, db = _classified(tmp_path, predictor)
    answers = iter(["", ""])

    def ask(_prompt: str) -> str:
        try:
            return next(answers)
        except StopIteration:
            raise KeyboardInterrupt from None

    monkeypatch.setattr("builtins.input", ask)
    assert main(["review", "--db", str(db), "--reviewer", "ana"]) == 130
    err = capsys.readouterr().err
    assert "stopped; 2 decisions saved" in err and "Traceback" not in err
    assert sum(r["review_decision"] is not None for r in iter_rows(open_catalog(db))) == 2


def test_not_a_dog_photos_are_queued_when_asked(tmp_path: Path, predictor: Predictor) -> None:
    _lib, db = _classified(tmp_path, predictor)
    engine = open_catalog(db)
    plain = [r["path"] for r in queue(engine)]
    everything = list(queue(engine, include_not_a_dog=True))
    cat = [r for r in everything if r["verdict"] == "not_a_dog"]
    assert cat and cat[0]["path"] not in plain and everything[-1]["verdict"] == "not_a_dog"
    answers = iter(["", "2"])  # Enter cannot confirm "not a dog" by accident: it asks again; then breed #2
    said: list[str] = []
    session = ReviewSession(engine, "ana", ask=lambda _: next(answers), say=said.append, opener=print)
    session._answer(cat[0], 0, [])
    assert any("press n to agree" in s for s in said)
    (row,) = [r for r in iter_rows(engine) if r["path"] == cat[0]["path"]]
    assert row["final_verdict"] == "dog" and row["final_breed"] == cat[0]["top5"][1]["breed"]


def test_decisions_count_in_export_and_sort(tmp_path: Path, predictor: Predictor) -> None:
    lib, db = _classified(tmp_path, predictor)
    engine = open_catalog(db)
    pug = next(r for r in iter_rows(engine) if Path(r["path"]).name == "pug.jpg")
    beagle = next(r for r in iter_rows(engine) if Path(r["path"]).name == "beagle.jpg")
    from dogbreeds.catalog.review import record

    record(engine, pug, "corrected", "n02085620-Chihuahua", "ana")
    record(engine, beagle, "not_a_dog", None, "bob")
    out = tmp_path / "out.csv"
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    rows = {Path(r["path"]).name: r for r in csv.DictReader(open(out, encoding="utf-8"))}
    assert (
        rows["pug.jpg"]["model_breed"] == "n02110958-pug" and rows["pug.jpg"]["reviewed_breed"] == "n02085620-Chihuahua"
    )
    assert rows["pug.jpg"]["final_breed"] == "n02085620-Chihuahua" and rows["pug.jpg"]["final_name"] == "Chihuahua"
    assert rows["pug.jpg"]["reviewer"] == "ana" and rows["pug.jpg"]["reviewed_at"]
    assert rows["beagle.jpg"]["final_verdict"] == "not_a_dog" and rows["beagle.jpg"]["model_verdict"] == "dog"
    golden = rows["golden_retriever_fullframe.jpg"]
    assert golden["model_verdict"] == "dog" and golden["final_breed"] == golden["model_breed"]  # no decision
    into = tmp_path / "sorted"
    assert main(["sort", "--db", str(db), "--into", str(into)]) == 0
    assert (into / "Chihuahua" / "pug.jpg").is_file() and (into / "not_a_dog" / "beagle.jpg").is_file()
    assert not (into / "pug").exists()
    dogs = tmp_path / "dogs.csv"
    assert main(["export", "--db", str(db), "--out", str(dogs), "--verdict", "not_a_dog"]) == 0
    assert "beagle.jpg" in dogs.read_text()


def test_sort_refuses_an_into_inside_the_classified_folder_or_a_file(
    tmp_path: Path, predictor: Predictor, capsys: pytest.CaptureFixture[str]
) -> None:
    lib, db = _classified(tmp_path, predictor)
    refused = [
        (lib / "sorted", "lies inside the classified folder"),
        (lib, "lies inside the classified folder"),
        (tmp_path, "holds the classified folder"),
        (lib / "pug.jpg", "is a file"),
    ]
    for into, said in refused:
        assert main(["sort", "--db", str(db), "--into", str(into)]) == 2
        assert said in capsys.readouterr().err
    assert not (lib / "sorted").exists()


def test_sort_skips_a_photo_changed_or_retargeted_since_it_was_classified(tmp_path: Path, predictor: Predictor) -> None:
    lib, db = _classified(tmp_path, predictor)
    (lib / "pug.jpg").write_bytes((EXAMPLES / "beagle.jpg").read_bytes())  # edited since
    (lib / "husky.jpg").unlink()
    (lib / "husky.jpg").symlink_to("/etc/passwd")  # replaced by a link out of the tree
    from dogbreeds.catalog.database import classified_folders
    from dogbreeds.catalog.sort import sort_rows

    engine = open_catalog(db)
    stats = sort_rows(iter_rows(engine), tmp_path / "sorted", classified=classified_folders(engine))
    assert (stats.changed, stats.outside) == (1, 1) and stats.placed == 10
    assert not list((tmp_path / "sorted").rglob("husky.jpg")) and not list((tmp_path / "sorted").rglob("pug.jpg"))


def test_a_change_of_thresholds_rejudges_every_row_without_the_model(
    tmp_path: Path, predictor: Predictor, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = _library(tmp_path / "lib")
    shutil.copy(lib / "husky.jpg", lib / "husky copy.jpg")
    db = tmp_path / "c.db"
    assert main(["classify", str(lib), "--db", str(db)]) == 0
    before = {r["path"]: r["verdict"] for r in iter_rows(open_catalog(db))}
    capsys.readouterr()
    assert main(["classify", str(lib), "--db", str(db), "--min-probability", "0.98"]) == 0
    out = capsys.readouterr().out
    assert "13 unchanged" in out and "judged again" in out  # nothing read, nothing run through the model
    strict = {Path(r["path"]).name: r for r in iter_rows(open_catalog(db))}
    assert all(r["verdict"] != "dog" or r["probability"] >= 0.98 for r in strict.values())
    assert strict["husky.jpg"]["verdict"] == strict["husky copy.jpg"]["verdict"] == "unsure"  # copies agree
    assert main(["classify", str(lib), "--db", str(db)]) == 0  # the card's thresholds again
    assert {r["path"]: r["verdict"] for r in iter_rows(open_catalog(db))} == before


def test_the_model_id_hashes_the_weights(tmp_path: Path) -> None:
    """The same card with other weights (a model retrained into the same folder) is another model."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(default_model_path().with_suffix(".json"), tmp_path / name / "m.json")
    shutil.copy(default_model_path(), tmp_path / "a" / "m.onnx")
    data = bytearray(default_model_path().read_bytes())
    data[-1] ^= 1  # one bit of the last weight
    (tmp_path / "b" / "m.onnx").write_bytes(bytes(data))
    from dogbreeds.core.card import load_card

    a, b = load_card(tmp_path / "a" / "m.onnx"), load_card(tmp_path / "b" / "m.onnx")
    assert a.to_dict() == b.to_dict() and a.id != b.id and a.id == load_card(default_model_path()).id


def test_bugs_are_one_line_without_v_and_a_traceback_with_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dogbreeds.cli.predict

    def broken(args: object) -> int:
        raise ValueError("an internal mistake")

    monkeypatch.setattr(dogbreeds.cli.predict, "run_predict", broken)
    assert main(["predict", "x.jpg"]) == 3
    err = capsys.readouterr().err
    assert "internal error (ValueError: an internal mistake)" in err and "-v" in err and "Traceback" not in err
    with pytest.raises(ValueError, match="an internal mistake"):
        main(["-v", "predict", "x.jpg"])

    def disk_full(args: object) -> int:
        raise OSError(28, "No space left on device", "/media/full/out.csv")

    monkeypatch.setattr(dogbreeds.cli.predict, "run_predict", disk_full)
    assert main(["predict", "x.jpg"]) == 2
    assert capsys.readouterr().err.strip() == "dogbreeds predict: error: disk full: /media/full/out.csv"


def test_messages_speak_french(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "fr", "predict", str(EXAMPLES / "pug.jpg")]) == 0
    assert "Ce chien est probablement un carlin" in capsys.readouterr().out
    assert main(["--lang", "fr", "predict", "nothing-here.jpg"]) == 1
    with pytest.raises(SystemExit):
        main(["--lang", "fr", "predict", "--top-k", "0", "x.jpg"])
    err = capsys.readouterr().err
    assert "doit valoir au moins 1" in err and "utilisation" in err

"""Options a user reaches for: evaluate's default list on a Stanford folder, classify --follow-links, and the
features recipe tracked in MLflow with ``runs`` naming each run's id and output folder."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from dogbreeds.catalog import database
from dogbreeds.cli import main

from .conftest import EXAMPLES, make_photo


def test_evaluate_on_a_stanford_folder_defaults_to_the_test_list_and_says_so(
    tiny_stanford: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--data", str(tiny_stanford), "--json-out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "official test list" in err
    test_photos = len((tiny_stanford / "lists" / "test_list.txt").read_text().split()) // 2
    assert json.loads(out.read_text())["n"] == test_photos  # not the whole folder, not the train list

    assert main(["evaluate", "--data", str(tiny_stanford), "--split", "train", "--json-out", str(out)]) == 0
    assert "official train list" in capsys.readouterr().err
    assert json.loads(out.read_text())["n"] == 8


def _library_with_a_link_outside(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "elsewhere"
    make_photo(outside / "far.jpg", (200, 40, 40))
    lib = tmp_path / "library"
    (lib / "dogs").mkdir(parents=True)
    (lib / "dogs" / "pug.jpg").write_bytes((EXAMPLES / "pug.jpg").read_bytes())
    os.symlink(outside / "far.jpg", lib / "dogs" / "link to far.jpg")
    return lib, outside


def test_classify_skips_links_leading_outside_unless_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib, _outside = _library_with_a_link_outside(tmp_path)
    db = tmp_path / "catalog.db"
    assert main(["classify", str(lib), "--db", str(db)]) == 0
    assert "skipped 1 links leading outside" in capsys.readouterr().out
    engine = database.open_catalog(str(db), readonly=True)
    assert sorted(Path(r["path"]).name for r in database.iter_rows(engine)) == ["pug.jpg"]
    engine.dispose()

    assert main(["classify", str(lib), "--db", str(db), "--follow-links"]) == 0
    assert "leading outside" not in capsys.readouterr().out
    engine = database.open_catalog(str(db), readonly=True)
    rows = {Path(r["path"]).name: r for r in database.iter_rows(engine)}
    engine.dispose()
    assert sorted(rows) == ["link to far.jpg", "pug.jpg"]  # catalogued under the link's own name
    assert rows["link to far.jpg"]["path"].startswith(str(lib.resolve()))


def test_features_training_is_tracked_and_runs_names_its_id_and_folder(
    tiny_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mlflow")
    timm = pytest.importorskip("timm")
    import torch

    from dogbreeds.training.feature_head import FeaturesConfig, train_features
    from dogbreeds.training.tracking import list_runs

    torch.manual_seed(0)
    weights = tmp_path / "test_efficientnet.pth"
    torch.save(timm.create_model("test_efficientnet").state_dict(), weights)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "features-run"
    cfg = FeaturesConfig(data=str(tiny_tree), out=str(out), backbone="test_efficientnet", weights=f"file:{weights}",
                         val_fraction=0.25, track=True, tracking_uri=uri)  # fmt: skip
    train_features(cfg, cache_root=tmp_path / "cache")
    (run,) = list_runs(uri)
    assert run["params"]["method"] == "features" and run["params"]["out"] == str(out)
    assert "val_top1" in run["metrics"] and run["status"] == "FINISHED"

    monkeypatch.setenv("COLUMNS", "400")  # rich wraps to the terminal's width
    assert main(["runs", "--tracking-uri", uri]) == 0
    table = capsys.readouterr().out
    assert run["run_id"] in table and str(out) in table


def _dump(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return list(conn.iterdump())


def test_stats_and_the_review_list_read_the_final_answers_and_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dogbreeds.catalog.review import queue, record

    db = tmp_path / "catalog.db"
    assert main(["classify", str(EXAMPLES), "--db", str(db)]) == 0
    capsys.readouterr()
    engine = database.open_catalog(str(db))
    husky = next(r for r in queue(engine) if r["name"] == "Siberian husky")
    record(engine, husky, "not_a_dog", None, "ana")  # a volunteer overrules the model
    engine.dispose()
    before = _dump(db)

    assert main(["stats", "--db", str(db), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    photos = len([p for p in EXAMPLES.iterdir() if p.suffix == ".jpg"])
    assert stats["photos"] == photos == sum(stats["verdicts"].values())
    assert stats["verdicts"]["not_a_dog"] == 2 and stats["reviewed"] == 1  # the cat, and the overruled husky
    assert "n02110185-Siberian_husky" not in stats["breeds"] and stats["breeds"]["n02110958-pug"] == 1
    assert main(["stats", "--db", str(db)]) == 0
    assert "Siberian husky" not in capsys.readouterr().out

    assert main(["review", "--list", "--db", str(db)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("unsure") and "border_collie.jpg" in listed[0]
    assert not any("husky.jpg" in line for line in listed)  # decided: out of the queue
    assert listed[-1] == f"{stats['waiting']} photos waiting for a volunteer"
    assert _dump(db) == before

    assert main(["stats", "--db", str(tmp_path / "typo.db")]) == 2
    assert main(["review", "--list", "--db", str(tmp_path / "typo.db")]) == 2
    assert not (tmp_path / "typo.db").exists()

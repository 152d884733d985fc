"""The ``other_breed`` verdict through the catalog: stored familiarity, judged again without the model, first in the
review queue, its own folder in ``sort``, in the volunteers' language; and older catalogs upgraded for it."""

from __future__ import annotations

import csv
import dataclasses
import sqlite3
from pathlib import Path

import pytest

from dogbreeds.catalog import database
from dogbreeds.catalog.classify import Classifier
from dogbreeds.catalog.database import iter_rows, open_catalog
from dogbreeds.catalog.review import queue_keys
from dogbreeds.catalog.sort import folder_for
from dogbreeds.cli import main
from dogbreeds.core.i18n import set_language
from dogbreeds.core.verdicts import DOG, NOT_A_DOG, OTHER_BREED
from dogbreeds.inference.display import verdict_word
from dogbreeds.inference.predictor import Predictor

from .conftest import EXAMPLES


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(backend="onnx", precision="fp32")


def test_the_shipped_model_has_an_open_set_score(predictor: Predictor) -> None:
    card = predictor.card
    assert len(card.open_set.weights) == 3 and 0 < card.verdicts.min_familiarity < 1
    (pug,) = predictor.predict_paths([EXAMPLES / "pug.jpg"])
    assert pug.familiarity is not None and pug.familiarity > card.verdicts.min_familiarity and pug.verdict == DOG
    (cat,) = predictor.predict_paths([EXAMPLES / "cat (not a dog).jpg"])
    assert cat.verdict == NOT_A_DOG  # not a dog is judged before other breed


def test_other_breed_through_the_catalog(tmp_path: Path, predictor: Predictor) -> None:
    db = tmp_path / "c.db"
    engine = open_catalog(str(db))
    Classifier(predictor, engine, batch_size=4).run([str(EXAMPLES)])
    rows = {Path(r["path"]).name: r for r in iter_rows(engine)}
    dogs = [r for r in rows.values() if r["verdict"] != NOT_A_DOG]
    assert dogs and all(r["familiarity"] is not None for r in dogs)
    expected = {Path(p.path).name: p.verdict for p in predictor.predict_paths(sorted(EXAMPLES.glob("*.jpg")))}
    assert {name: r["verdict"] for name, r in rows.items()} == expected

    # a stricter familiarity threshold: the catalog judges again from the stored numbers, without the model
    strict = dataclasses.replace(predictor.card.verdicts, min_familiarity=0.9999)
    changed = database.rejudge(engine, predictor.card.id, strict)
    after = {Path(r["path"]).name: r for r in iter_rows(engine)}
    assert changed > 0 and all(after[n]["verdict"] == OTHER_BREED for n, r in rows.items()
                               if r["verdict"] != NOT_A_DOG and r["familiarity"] < 0.9999)  # fmt: skip
    assert after["cat (not a dog).jpg"]["verdict"] == NOT_A_DOG
    keys = queue_keys(engine)
    verdicts = [after[Path(k).name]["verdict"] for k in keys]
    assert OTHER_BREED in verdicts and verdicts.index(OTHER_BREED) < (verdicts.index(DOG) if DOG in verdicts else 99)
    some = next(r for r in after.values() if r["verdict"] == OTHER_BREED)
    assert folder_for(some) == "other_breed"
    out = tmp_path / "catalog.csv"
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    with open(out, encoding="utf-8", newline="") as f:
        exported = {Path(r["path"]).name: r for r in csv.DictReader(f)}
    assert float(exported["pug.jpg"]["familiarity"]) == pytest.approx(rows["pug.jpg"]["familiarity"], abs=1e-6)


def test_other_breed_speaks_french() -> None:
    set_language("fr")
    assert verdict_word(OTHER_BREED) not in ("other breed", OTHER_BREED)


def test_a_schema_3_catalog_gains_the_familiarity_column(tmp_path: Path, predictor: Predictor) -> None:
    db = tmp_path / "c.db"
    Classifier(predictor, open_catalog(str(db)), batch_size=4).run([str(EXAMPLES / "pug.jpg")])
    con = sqlite3.connect(db)
    con.execute("alter table photos drop column familiarity")
    con.execute("update meta set value = '3' where key = 'schema_version'")
    con.commit()
    con.close()
    (row,) = list(iter_rows(open_catalog(str(db), readonly=True)))  # read-only: left as it is, read all the same
    assert row["familiarity"] is None and row["verdict"] == DOG
    assert "familiarity" not in [r[1] for r in sqlite3.connect(db).execute("pragma table_info(photos)")]
    (row,) = list(iter_rows(open_catalog(str(db))))  # the next writer upgrades it; the old row keeps its verdict
    assert row["familiarity"] is None and row["verdict"] == DOG
    assert "familiarity" in [r[1] for r in sqlite3.connect(db).execute("pragma table_info(photos)")]

"""The retrieval projection: fitted so the nearest photo shows the same breed more often, checked when loaded (a
model handed to us may carry a hostile file), carried with copies of the model, and what the catalog stores."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from dogbreeds.catalog.classify import Classifier
from dogbreeds.catalog.database import open_catalog
from dogbreeds.cli import main
from dogbreeds.core.card import load_card, write_json_atomic
from dogbreeds.core.errors import ModelCardError
from dogbreeds.inference import retrieval
from dogbreeds.inference.predictor import Predictor, default_model_path
from dogbreeds.inference.retrieval import (
    Projection,
    fit_lda,
    fit_projection,
    load_projection,
    nearest_same_label,
    save_projection,
)

from .conftest import EXAMPLES, make_photo


def _clusters(seed: int = 0, classes: int = 6, per_class: int = 40, dims: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Breeds that differ along 3 directions, photos of one breed that vary far more along the other 27 (pose,
    light): the raw nearest neighbour is mostly noise, the discriminant one is not."""
    centres = np.zeros((classes, dims))
    centres[:, :3] = np.random.default_rng(0).normal(0, 2.0, size=(classes, 3))  # the same breeds every time
    rng = np.random.default_rng(seed)  # other photos of them
    labels = np.repeat(np.arange(classes), per_class)
    noise = rng.normal(0, 0.25, size=(len(labels), dims))
    noise[:, 3:] *= 12
    return (centres[labels] + noise + 5).astype(np.float32), labels  # an offset: unit-normalising must not hurt


def test_the_projection_makes_the_nearest_photo_share_the_breed_more_often() -> None:
    x, y = _clusters()
    held_x, held_y = _clusters(seed=1)
    projection, scores = fit_projection(x, y)
    assert projection.dims == 5 and projection.matrix.shape == (30, 5)
    raw, projected = nearest_same_label(held_x, held_y), nearest_same_label(projection(held_x), held_y)
    assert projected > raw + 0.3 and projected > 0.8  # on photos it was not fitted on
    assert scores["raw"] < scores[f"shrink={scores['chosen_shrink']:g}"]
    z = projection(held_x)
    assert np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)  # unit vectors: the catalog's int8 scaling fits


def test_nearest_same_label_leaves_each_photo_itself_out() -> None:
    v = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1]], np.float32)
    assert nearest_same_label(v, np.array([0, 0, 1, 1])) == 1.0
    assert nearest_same_label(v, np.array([0, 1, 0, 1])) == 0.0


def _model_copy(folder: Path, projection: Projection | None = None) -> Path:
    """The shipped model copied, without a projection, or with ``projection`` beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx = folder / "dogs.onnx"
    shutil.copyfile(default_model_path(), onnx)
    card = json.loads(default_model_path().with_suffix(".json").read_text())
    card.pop("retrieval", None)
    if projection is not None:
        save_projection(projection, folder / "dogs.retrieval.npz")
        card["retrieval"] = "dogs.retrieval.npz"
    write_json_atomic(onnx.with_suffix(".json"), card)
    return onnx


def _set_card(onnx: Path, **fields: object) -> None:
    card = json.loads(onnx.with_suffix(".json").read_text())
    write_json_atomic(onnx.with_suffix(".json"), {**card, **fields})


def test_the_shipped_model_carries_a_checked_projection_and_embeds_through_it() -> None:
    predictor = Predictor()
    assert predictor.projection is not None and predictor.embedding_dims == 119  # 120 breeds - 1
    vectors = predictor.embed_paths(sorted(EXAMPLES.glob("*.jpg"))[:3])
    assert vectors.shape == (3, 119) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert load_card(default_model_path()).metrics["retrieval"]["dims"] == 119


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("pickled", "cannot read the retrieval projection"),
        ("shape", "wrong shape"),
        ("nan", "not finite"),
        ("not an npz", "cannot read the retrieval projection"),
        ("oversize", "too big"),
    ],
)
def test_a_damaged_or_hostile_projection_is_refused_in_one_line(
    tmp_path: Path, damage: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    onnx = _model_copy(tmp_path, Projection(np.zeros(1280, np.float32), np.eye(1280, 7, dtype=np.float32)))
    side = tmp_path / "dogs.retrieval.npz"
    if damage == "pickled":  # an object array only unpickling can read: never unpickled
        np.savez(side, mean=np.array([{"a": 1}], dtype=object), matrix=np.eye(3))
    elif damage == "shape":
        np.savez(side, mean=np.zeros(1280, np.float32), matrix=np.eye(5, dtype=np.float32))
    elif damage == "nan":
        np.savez(side, mean=np.full(1280, np.nan, np.float32), matrix=np.eye(1280, 7, dtype=np.float32))
    elif damage == "not an npz":
        side.write_bytes(b"#!/bin/sh\nrm -rf /\n")
    else:
        monkeypatch.setattr(retrieval, "MAX_BYTES", 1000)
    with pytest.raises(ModelCardError, match=expected):
        load_projection(load_card(onnx))
    assert main(["similar", str(EXAMPLES / "pug.jpg"), "--model", str(onnx), "--db", str(tmp_path / "c.db")]) == 2


def test_a_model_copied_without_its_projection_still_classifies(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    onnx = _model_copy(tmp_path, Projection(np.zeros(1280, np.float32), np.eye(1280, 7, dtype=np.float32)))
    (tmp_path / "dogs.retrieval.npz").unlink()
    predictor = Predictor(onnx)
    assert predictor.projection is None and predictor.embedding_dims is None
    assert "missing beside the model" in caplog.text
    assert predictor.embed_paths([EXAMPLES / "pug.jpg"]).shape == (1, 1280)


@pytest.mark.parametrize("name", ["../../etc/passwd.npz", "/tmp/x.npz", "sub/x.npz", "x.pkl", ".."])
def test_a_card_may_only_name_a_projection_file_beside_the_model(tmp_path: Path, name: str) -> None:
    onnx = _model_copy(tmp_path)
    _set_card(onnx, retrieval=name)
    with pytest.raises(ModelCardError, match="retrieval must name an .npz file beside the model"):
        load_card(onnx)


def _dims(db: Path) -> set[int]:
    return {r[0] for r in sqlite3.connect(db).execute("select length(vector) from embeddings")}


def test_a_catalog_embeds_again_once_its_model_gains_a_projection(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    shutil.copytree(EXAMPLES, lib, ignore=shutil.ignore_patterns("*.md"))
    onnx, db = _model_copy(tmp_path / "model"), tmp_path / "c.db"
    first = Classifier(Predictor(onnx), open_catalog(str(db)), batch_size=4).run([lib])
    assert _dims(db) == {1280} and first.classified == 12
    shutil.copyfile(default_model_path().with_suffix(".retrieval.npz"), onnx.with_suffix(".retrieval.npz"))
    _set_card(onnx, retrieval="dogs.retrieval.npz")
    assert load_card(onnx).id == Predictor(onnx).card.id  # the same model: its rows stay, its embeddings change
    second = Classifier(Predictor(onnx), open_catalog(str(db)), batch_size=4).run([lib])
    assert _dims(db) == {119} and second.classified == 12
    rows = sqlite3.connect(db).execute("select count(*), count(distinct sha256) from embeddings").fetchone()
    assert rows == (12, 12)  # replaced, not added beside
    third = Classifier(Predictor(onnx), open_catalog(str(db)), batch_size=4).run([lib])
    assert third.classified == 0  # done: nothing runs again


def test_fit_retrieval_writes_the_projection_beside_the_model_and_similar_uses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "breeds"
    colours = {"pug": (40, 200, 40), "beagle": (200, 40, 40), "Dalmatian": (230, 230, 230)}
    for b, (breed, colour) in enumerate(colours.items()):
        for i in range(10):
            make_photo(data / breed / f"photo {i}.jpg", colour, size=(96, 80), seed=100 * b + i)
    onnx = _model_copy(tmp_path / "model")
    before = load_card(onnx).id
    assert main(["fit-retrieval", "--model", str(onnx), "--data", str(data)]) == 0
    assert "2 dimensions, from 30 photos" in capsys.readouterr().out
    card = load_card(onnx)
    assert card.retrieval == "dogs.retrieval.npz" and card.id == before
    assert card.metrics["retrieval"]["photos"] == 30 and card.metrics["test"]  # the other figures kept
    assert Predictor(onnx).embedding_dims == 2

    db = tmp_path / "c.db"
    assert main(["classify", str(data / "pug"), str(data / "beagle"), "--model", str(onnx), "--db", str(db)]) == 0
    assert _dims(db) == {2}
    capsys.readouterr()
    query = make_photo(tmp_path / "another pug.jpg", colours["pug"], size=(96, 80), seed=999)
    assert main(["similar", str(query), "--model", str(onnx), "--db", str(db), "--json", "--top", "3"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert all(Path(f["path"]).parent.name == "pug" for f in found)


def test_fit_retrieval_refuses_too_few_photos_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for breed in ("pug", "beagle"):
        for i in range(3):
            make_photo(tmp_path / "breeds" / breed / f"{i}.jpg", (40, 200, 40), seed=i)
    onnx = _model_copy(tmp_path / "model")
    assert main(["fit-retrieval", "--model", str(onnx), "--data", str(tmp_path / "breeds")]) == 2
    assert "at least 2 breeds and 10 readable photos" in capsys.readouterr().err
    assert not onnx.with_suffix(".retrieval.npz").exists() and not load_card(onnx).retrieval


def test_lda_directions_whiten_the_within_breed_scatter() -> None:
    x, y = _clusters(classes=4)
    projection = fit_lda(x, y, shrink=0.0)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    z = (unit - projection.mean) @ projection.matrix
    means = np.stack([z[y == k].mean(axis=0) for k in range(4)])
    within = z - means[y]
    assert np.allclose(within.T @ within / len(z), np.eye(3), atol=1e-3)  # S_w becomes the identity

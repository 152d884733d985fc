"""Embeddings in the catalog and `dogbreeds similar`: written with their rows, found again, upgraded into old
catalogs, pruned with their photos."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dogbreeds.catalog.classify import Classifier
from dogbreeds.catalog.database import open_catalog, to_vector
from dogbreeds.catalog.similar import EmbeddingIndex, load_index
from dogbreeds.cli import main
from dogbreeds.inference.predictor import Predictor

from .conftest import EXAMPLES


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


def _library(root: Path) -> Path:
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("*.md"))
    shutil.copy(root / "beagle.jpg", root / "beagle copy.jpg")  # the same bytes: one content
    with Image.open(root / "pug.jpg") as img:  # the same photo, smaller and re-encoded: a near-duplicate
        img.convert("RGB").resize((img.width * 3 // 4, img.height * 3 // 4)).save(root / "pug small.jpg", quality=70)
    return root


def _classified(tmp_path: Path, predictor: Predictor) -> tuple[Path, Path]:
    """The library above, classified into a fresh catalog; its folder and its database."""
    lib, db = _library(tmp_path / "lib"), tmp_path / "c.db"
    Classifier(predictor, open_catalog(str(db)), batch_size=4).run([lib])
    return lib, db


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _contents(db: Path) -> tuple[set[str], set[str]]:
    con = sqlite3.connect(db)
    classified = {r[0] for r in con.execute("select sha256 from photos where verdict != 'unreadable'")}
    embedded = {r[0] for r in con.execute("select sha256 from embeddings")}
    return classified, embedded


def test_every_classified_content_has_one_embedding_and_similar_finds_the_near_duplicate(
    tmp_path: Path, predictor: Predictor, capsys: pytest.CaptureFixture[str]
) -> None:
    lib, db = _classified(tmp_path, predictor)
    classified, embedded = _contents(db)
    assert classified == embedded and len(embedded) == len(list(lib.glob("*.jpg"))) - 1  # the copy shares one
    index = load_index(open_catalog(str(db), readonly=True), predictor.card.id)
    stored = index.vectors[index.hashes.index(_sha(lib / "pug.jpg"))].astype(np.float32)
    (features,) = predictor.embed_paths([lib / "pug.jpg"])
    assert index.vectors.dtype == np.int8 and np.abs(index.vectors).max() == 127
    assert stored @ features / np.linalg.norm(stored) / np.linalg.norm(features) > 0.999  # int8 keeps the direction

    assert main(["similar", str(lib / "pug small.jpg"), "--db", str(db), "--top", "3", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert Path(found[0]["path"]).name == "pug.jpg" and found[0]["similarity"] > 0.9 > found[1]["similarity"]
    assert found[0]["breed"] == "n02110958-pug" and len(found) == 3

    assert main(["similar", str(lib / "pug small.jpg"), "--db", str(db), "--top", "3", "--json", "--no-expand"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert Path(plain[0]["path"]).name == "pug.jpg" and len(plain) == 3

    assert main(["similar", str(lib / "beagle.jpg"), "--db", str(db), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert Path(found[0]["path"]).name == "beagle copy.jpg" and found[0]["similarity"] == 1.0
    assert all(Path(f["path"]).name != "beagle.jpg" for f in found)

    outside = tmp_path / "found dog.jpg"  # not in the catalog: the model embeds it
    with Image.open(lib / "pug.jpg") as img:
        img.convert("RGB").rotate(3).save(outside)
    assert main(["--lang", "fr", "similar", str(outside), "--db", str(db), "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "carlin" in out and "pug" in out.splitlines()[0]


def test_similar_refuses_in_one_line(tmp_path: Path, predictor: Predictor, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "c.db"
    assert main(["similar", str(EXAMPLES / "pug.jpg"), "--db", str(db)]) == 2  # no catalog: never created
    assert "no catalog" in capsys.readouterr().err.lower() and not db.exists()
    open_catalog(str(db)).dispose()
    assert main(["similar", str(EXAMPLES / "pug.jpg"), "--db", str(db)]) == 2
    assert "classify" in capsys.readouterr().err
    Classifier(predictor, open_catalog(str(db))).run([EXAMPLES / "pug.jpg"])
    (tmp_path / "notes.jpg").write_text("not a photo")
    assert main(["similar", str(tmp_path / "notes.jpg"), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "notes.jpg" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_catalog_from_before_embeddings_gets_them_on_the_next_run_once(tmp_path: Path, predictor: Predictor) -> None:
    lib, db = _classified(tmp_path, predictor)
    con = sqlite3.connect(db)  # as schema 1 left it: no embeddings table
    con.execute("drop table embeddings")
    con.execute("update meta set value = '1' where key = 'schema_version'")
    con.commit()
    con.close()
    stats = Classifier(predictor, open_catalog(str(db)), batch_size=4).run([lib])
    classified, embedded = _contents(db)
    assert classified == embedded and stats.classified == len(embedded) and stats.unchanged == 0
    again = Classifier(predictor, open_catalog(str(db)), batch_size=4).run([lib])
    assert again.classified == 0 and again.unchanged == len(list(lib.glob("*.jpg")))


def test_read_only_commands_leave_an_older_catalog_as_it_was(
    tmp_path: Path, predictor: Predictor, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    lib, db = _classified(tmp_path, predictor)
    con = sqlite3.connect(db)  # as schema 1 left it
    con.execute("drop table embeddings")
    con.execute("update meta set value = '1' where key = 'schema_version'")
    con.commit()
    con.execute("pragma wal_checkpoint(truncate)")
    con.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert main(["stats", "--db", str(db), "--json"]) == 0
    assert main(["export", "--db", str(db), "--out", str(tmp_path / "out.csv")]) == 0
    assert main(["similar", str(lib / "pug.jpg"), "--db", str(db)]) == 2
    assert "classify" in capsys.readouterr().err
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_top_n_is_n_with_copies_included(tmp_path: Path, predictor: Predictor, capsys: pytest.CaptureFixture[str]):
    lib, db = _classified(tmp_path, predictor)
    assert main(["similar", str(lib / "beagle.jpg"), "--db", str(db), "--top", "3", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_embeddings_go_with_their_last_photo(tmp_path: Path, predictor: Predictor) -> None:
    lib, db = _classified(tmp_path, predictor)
    (lib / "beagle.jpg").unlink()  # its copy keeps the content
    (lib / "husky.jpg").unlink()
    stats = Classifier(predictor, open_catalog(str(db)), batch_size=4).run([lib])
    classified, embedded = _contents(db)
    assert classified == embedded and stats.embeddings_pruned == 1


def test_search_is_exact_and_leaves_out_what_it_is_told() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 64)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    stored = np.stack([np.frombuffer(to_vector(v), np.int8) for v in x])
    index = EmbeddingIndex("m", [f"{i:064x}" for i in range(len(x))], stored)
    q = x[123] + 0.01 * rng.normal(size=64)
    hits = index.search(q, 5, expand=False)
    widened = stored.astype(np.float32)
    brute = np.argsort(-(widened @ q / np.linalg.norm(widened, axis=1)))[:5]
    assert [i for i, _s in hits] == list(brute) and hits[0][0] == 123 and hits[0][1] > 0.99
    assert 123 not in [i for i, _s in index.search(q, 5, exclude={123})]
    assert len(index.search(q, 10**6)) == len(x)
    assert index.search(q, 3)[0][0] == 123  # expanded, the near-duplicate keeps its place


def test_query_expansion_follows_the_neighbours_that_agree() -> None:
    """The plain nearest row is a lone look-alike; the query's other four nearest rows agree with each other, so
    the expanded query ranks one of them first. Similarities stay those to the query itself."""

    def unit(v: list[float]) -> np.ndarray:
        a = np.array(v, np.float32)
        return a / np.linalg.norm(a)

    lone = unit([0.9, 0.436, 0, 0])
    agreeing = [unit([0.88, -0.40, 0.25 + 0.01 * i, 0]) for i in range(4)]
    far = [unit([0.0, 0.2 * i, 0.1, 1]) for i in range(5)]
    rows = np.stack([lone, *agreeing, *far])
    stored = np.stack([np.frombuffer(to_vector(v), np.int8) for v in rows])
    index = EmbeddingIndex("m", [f"{i:064x}" for i in range(len(rows))], stored)
    q = unit([1, 0, 0, 0])
    assert index.search(q, 1, expand=False)[0][0] == 0
    (best, similarity), *_rest = index.search(q, 2)
    assert best in (1, 2, 3, 4) and similarity == pytest.approx(float(rows[best] @ q), abs=0.01)


def test_a_greyscale_copy_is_found_first_by_its_photo_hash(
    tmp_path: Path, predictor: Predictor, capsys: pytest.CaptureFixture[str]
) -> None:
    from dogbreeds.data.images import dhash, load_rgb

    lib, db = _classified(tmp_path, predictor)
    stored = dict(sqlite3.connect(db).execute("select sha256, dhash from embeddings"))
    husky = _sha(lib / "husky.jpg")
    expected = dhash(load_rgb(lib / "husky.jpg", min_size=predictor.card.preprocess.resize_to))
    assert stored[husky] is not None and stored[husky] & (2**64 - 1) == expected
    grey = tmp_path / "husky in grey.jpg"  # not in the catalog: its hash comes from its own bytes
    with Image.open(lib / "husky.jpg") as img:
        img.convert("L").save(grey, quality=80)
    assert main(["similar", str(grey), "--db", str(db), "--top", "2", "--json"]) == 0
    assert Path(json.loads(capsys.readouterr().out)[0]["path"]).name == "husky.jpg"


def test_embeddings_from_before_the_photo_hash_are_still_searched(tmp_path: Path, predictor: Predictor) -> None:
    lib, db = _classified(tmp_path, predictor)
    con = sqlite3.connect(db)  # the catalog as schema 2 had it: embeddings without their photo hash
    con.execute("alter table embeddings drop column dhash")
    con.execute("drop table users")
    con.execute("update meta set value = '2' where key = 'schema_version'")
    con.commit()
    con.close()
    index = load_index(open_catalog(str(db), readonly=True), predictor.card.id)  # read-only: left as it is
    assert len(index) == len(list(lib.glob("*.jpg"))) - 1 and not index.has_dhash.any()
    assert index.search(index.vectors[0], 3, query_dhash=123)  # no hashes: the embedding alone
    engine = open_catalog(str(db))  # the next writer upgrades it; the old embeddings stay, without a hash
    columns = [r[1] for r in sqlite3.connect(db).execute("pragma table_info(embeddings)")]
    assert "dhash" in columns and load_index(engine, predictor.card.id).has_dhash.sum() == 0


def test_every_near_duplicate_keeps_its_place_and_a_blank_frames_hash_pins_nothing() -> None:
    """Five shots of a burst lean one way, a sixth the other way, and look-alikes lean the first way: the
    expansion follows the five, yet the sixth (similarity 0.958) must stay ahead of the look-alikes (0.857)."""

    def unit(*v: float) -> np.ndarray:
        a = np.array([*v, 0, 0, 0], np.float32)[:4]
        return a / np.linalg.norm(a)

    rows = np.stack([*[unit(0.97, 0.243, 0.001 * i) for i in range(5)], unit(0.958, -0.287),
                     *[unit(0.857, 0.515, 0.002 * i) for i in range(3)]])  # fmt: skip
    stored = np.stack([np.frombuffer(to_vector(v), np.int8) for v in rows])
    index = EmbeddingIndex("m", [f"{i:064x}" for i in range(len(rows))], stored)
    top = [i for i, _s in index.search(unit(1, 0), 6)]
    assert set(top) == set(range(6))  # all six shots before any look-alike
    hashed = EmbeddingIndex("m", index.hashes, stored, np.zeros(len(rows), np.uint64), np.ones(len(rows), bool))
    assert len(hashed.near_duplicates(0)[0]) == 0 and len(hashed.near_duplicates(2**64 - 1)[0]) == 0  # blank frames

"""The catalog job: exact, resumable, never loses or doubles a photo, knows moved photos by their content."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dogbreeds.catalog.classify import Classifier
from dogbreeds.catalog.database import count, iter_rows, open_catalog
from dogbreeds.cli import main
from dogbreeds.inference.predictor import Predictor

from .conftest import EXAMPLES


def _library(root: Path, n_copies: int = 1) -> Path:
    """Sample photos (some in a unicode sub-folder) plus a zero-byte, a corrupt and a non-photo file."""
    for i in range(n_copies):
        dest = root / ("ünï côdé" if i % 2 else "plain") / f"set {i}"
        shutil.copytree(EXAMPLES, dest, ignore=shutil.ignore_patterns("*.md"))
        # make each copy's bytes distinct so that they are separate photos, not copies of one another
        for photo in dest.glob("*.jpg"):
            with open(photo, "ab") as f:
                f.write(f"copy {i}".encode())
    (root / "plain" / "empty.jpg").write_bytes(b"")
    (root / "plain" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "plain" / "notes.txt").write_text("not a photo, not walked")
    return root


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


def _classify(folder: Path, db: Path, predictor: Predictor):
    return Classifier(predictor, open_catalog(str(db)), batch_size=4).run([folder])


def test_every_photo_gets_exactly_one_row(tmp_path: Path, predictor: Predictor) -> None:
    lib = _library(tmp_path / "lib")
    stats = _classify(lib, tmp_path / "c.db", predictor)
    rows = {Path(r["path"]).name: r for r in iter_rows(open_catalog(str(tmp_path / "c.db")))}
    assert stats.photos == len(rows) == 14 and stats.classified == 12 and stats.unreadable == 2
    assert rows["empty.jpg"]["verdict"] == "unreadable" and "empty" in rows["empty.jpg"]["error"]
    assert rows["broken.jpg"]["verdict"] == "unreadable" and rows["broken.jpg"]["error"]
    pug = rows["pug.jpg"]
    assert pug["breed"] == "n02110958-pug" and pug["verdict"] == "dog" and len(pug["top5"]) == 5
    assert pug["width"] == 224 and len(pug["sha256"]) == 64 and pug["bytes"] > 0 and pug["model_id"]
    assert rows["cat (not a dog).jpg"]["verdict"] == "not_a_dog"
    again = _classify(lib, tmp_path / "c.db", predictor)
    assert again.unchanged == 12 and again.classified == 0 and again.unreadable == 2  # unreadable ones are retried


def test_moved_and_copied_photos_are_known_by_content(tmp_path: Path, predictor: Predictor) -> None:
    lib = _library(tmp_path / "lib")
    db = tmp_path / "c.db"
    _classify(lib, db, predictor)
    set0 = lib / "plain" / "set 0"
    (set0 / "pug.jpg").rename(set0 / "renamed pug.jpg")
    shutil.copy(set0 / "beagle.jpg", set0 / "beagle copy.jpg")
    stats = _classify(lib, db, predictor)
    assert stats.classified == 0 and stats.reused == 2
    rows = {Path(r["path"]).name: r for r in iter_rows(open_catalog(str(db)))}
    assert "pug.jpg" not in rows and rows["renamed pug.jpg"]["breed"] == "n02110958-pug"
    assert rows["beagle copy.jpg"]["breed"] == rows["beagle.jpg"]["breed"] and len(rows) == 15


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_ends_with_exactly_one_row_per_photo(tmp_path: Path) -> None:
    lib = _library(tmp_path / "lib", n_copies=6)  # 72 photos + 2 unreadable
    db = tmp_path / "c.db"
    cmd = [sys.executable, "-m", "dogbreeds", "classify", str(lib), "--db", str(db), "--batch-size", "2"]
    env = {**os.environ, "DOGBREEDS_PROGRESS": "0"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    rows = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                rows = sqlite3.connect(db).execute("select count(*) from photos").fetchone()[0]
            except sqlite3.OperationalError:
                rows = 0
            if rows >= 6:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = sqlite3.connect(db).execute("select count(*) from photos").fetchone()[0]
    assert 0 < killed_at < 74
    assert _classified_without_embedding(db) == set()  # an embedding lands with its row, or neither does
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    con = sqlite3.connect(db)
    paths = [r[0] for r in con.execute("select path from photos")]
    expected = sorted(str(p.resolve()) for p in lib.rglob("*.jpg"))
    assert sorted(paths) == expected and len(set(paths)) == len(paths) == 74
    assert _classified_without_embedding(db) == set()
    assert con.execute("select count(*) from embeddings").fetchone()[0] == 72


def _classified_without_embedding(db: Path) -> set[str]:
    query = ("select path from photos where verdict != 'unreadable' and sha256 not in "
             "(select sha256 from embeddings where embeddings.model_id = photos.model_id)")  # fmt: skip
    return {r[0] for r in sqlite3.connect(db).execute(query)}


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_export_round_trips(tmp_path: Path, predictor: Predictor, fmt: str) -> None:
    lib = _library(tmp_path / "lib")
    db = tmp_path / "c.db"
    _classify(lib, db, predictor)
    out = tmp_path / f"catalog.{fmt}"
    assert main(["export", "--db", str(db), "--out", str(out)]) == 0
    if fmt == "csv":
        import csv

        back = list(csv.DictReader(open(out, encoding="utf-8")))
        back = [{**r, "top5": json.loads(r["top5"])} for r in back]
    elif fmt == "json":
        back = json.loads(out.read_text(encoding="utf-8"))
    else:
        import pyarrow.parquet as pq

        back = [{**r, "top5": json.loads(r["top5"])} for r in pq.read_table(out).to_pylist()]
    original = list(iter_rows(open_catalog(str(db))))
    assert len(back) == len(original) == count(open_catalog(str(db)))
    assert [r["path"] for r in back] == [r["path"] for r in original]
    assert [r["top5"] for r in back] == [r["top5"] for r in original]
    assert [str(r["model_verdict"]) for r in back] == [r["verdict"] for r in original]
    assert [str(r["final_verdict"]) for r in back] == [r["final_verdict"] for r in original]


def test_photo_vanishing_during_the_run_gets_no_row(tmp_path: Path, predictor: Predictor) -> None:
    engine = open_catalog(str(tmp_path / "c.db"))
    classifier = Classifier(predictor, engine)
    photo = classifier.read(str(tmp_path / "gone.jpg"))
    assert photo.vanished
    classifier.write([photo], classifier.predict([photo]))
    assert count(engine) == 0 and classifier.stats.vanished == 1


def test_cli_classify_reports_and_refuses_missing_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "black.png")
    assert main(["classify", str(tmp_path), "--db", str(tmp_path / "x.db")]) == 0
    assert "1 photos" in capsys.readouterr().out
    assert main(["classify", str(tmp_path / "nope"), "--db", str(tmp_path / "x.db")]) == 2
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_sort_never_touches_originals_and_suffixes_collisions(tmp_path: Path, predictor: Predictor, mode: str) -> None:
    lib = _library(tmp_path / "lib", n_copies=2)  # every sample name appears twice: collisions
    db = tmp_path / "c.db"
    _classify(lib, db, predictor)
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes()) for p in lib.rglob("*") if p.is_file()}
    into = tmp_path / "sorted"
    assert main(["sort", "--db", str(db), "--into", str(into), "--mode", mode]) == 0
    after = {p: (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes()) for p in lib.rglob("*") if p.is_file()}
    assert after == before
    assert {p.name for p in (into / "pug").iterdir()} == {"pug.jpg", "pug (2).jpg"}
    assert len(list((into / "not_a_dog").iterdir())) == 2 and len(list((into / "unreadable").iterdir())) == 2
    assert sum(1 for p in into.rglob("*") if p.is_file() or p.is_symlink()) == 26
    if mode == "symlink":
        assert (into / "pug" / "pug.jpg").is_symlink()
    assert main(["sort", "--db", str(db), "--into", str(into), "--mode", mode]) == 0  # again: nothing new
    assert sum(1 for p in into.rglob("*") if p.is_file() or p.is_symlink()) == 26


def test_review_records_confirmations_and_corrections_then_exports_a_training_tree(
    tmp_path: Path, predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dogbreeds.catalog.database import reviews
    from dogbreeds.catalog.review import queue, run_review
    from dogbreeds.data.folders import load_folder_tree

    lib = _library(tmp_path / "lib")
    db = tmp_path / "c.db"
    _classify(lib, db, predictor)
    engine = open_catalog(str(db))
    waiting = list(queue(engine))
    assert len(waiting) == 11  # 11 dogs (the cat is not_a_dog, 2 unreadable)
    probs = [r["probability"] for r in waiting if r["verdict"] == "dog"]
    assert probs == sorted(probs)  # least confident first
    answers = iter(["o", "", "labradoodle", "golden retriever", "2", "n", "q"])
    opened: list[str] = []
    said: list[str] = []
    stats = run_review(engine, reviewer="ana", ask=lambda _: next(answers), say=said.append, opener=opened.append)
    assert opened == [waiting[0]["path"]] and any("not a breed dogbreeds knows" in s for s in said)
    assert (stats.confirmed + stats.corrected, stats.not_a_dog) == (3, 1)
    with engine.connect() as conn:
        rows = [r._asdict() for r in conn.execute(reviews.select().order_by(reviews.c.id))]
    assert [r["reviewer"] for r in rows] == ["ana"] * 4 and all(r["reviewed_at"] for r in rows)
    assert rows[0]["decision"] == "confirmed" and rows[0]["breed"] == waiting[0]["breed"]
    assert rows[1]["breed"] == "n02099601-golden_retriever"
    assert rows[2]["breed"] == waiting[2]["top5"][1]["breed"] and rows[3]["decision"] == "not_a_dog"
    assert len(list(queue(engine))) == 7  # reviewed photos leave the queue
    out = tmp_path / "corrections"
    assert main(["corrections", "export", "--db", str(db), "--out", str(out)]) == 0
    tree = load_folder_tree(out)  # the format `train` reads
    assert len(tree) == 3 and "n02099601-golden_retriever" in {s.breed_id for s in tree.samples}


def test_permission_denied_photo_gets_an_unreadable_row_with_the_reason(
    tmp_path: Path, predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = _library(tmp_path / "lib")
    secret = lib / "plain" / "set 0" / "pug.jpg"
    if os.geteuid() != 0:  # a real unreadable file; root reads anything, so there the os.open() call is refused
        secret.chmod(0)
    else:
        real_open = os.open

        def refusing_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
            if str(file) == str(secret.resolve()):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)
    stats = _classify(lib, tmp_path / "c.db", predictor)
    rows = {Path(r["path"]).name: r for r in iter_rows(open_catalog(str(tmp_path / "c.db")))}
    assert stats.photos == len(rows) == 14 and stats.unreadable == 3
    assert rows["pug.jpg"]["verdict"] == "unreadable" and "Permission denied" in rows["pug.jpg"]["error"]


def test_symlink_loops_and_linked_photos_are_classified_once(tmp_path: Path, predictor: Predictor) -> None:
    """A link is catalogued under its own name and reuses its target's result; nothing twice through a loop."""
    lib = _library(tmp_path / "lib")
    (lib / "plain" / "loop").symlink_to(lib / "plain")  # a folder that contains itself
    (lib / "linked pug.jpg").symlink_to(lib / "plain" / "set 0" / "pug.jpg")
    stats = _classify(lib, tmp_path / "c.db", predictor)
    rows = {r["path"]: r for r in iter_rows(open_catalog(str(tmp_path / "c.db")))}
    assert stats.photos == len(rows) == 15 and (stats.classified, stats.reused) == (12, 1)
    link, target = rows[str(lib.resolve() / "linked pug.jpg")], rows[str(lib.resolve() / "plain" / "set 0" / "pug.jpg")]
    assert (link["sha256"], link["breed"]) == (target["sha256"], target["breed"])


def test_classify_streams_the_walk_and_asks_the_catalog_as_it_goes(
    tmp_path: Path, predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dogbreeds.catalog.database
    import dogbreeds.catalog.walk

    lib = _library(tmp_path / "lib", n_copies=3)  # 36 photos + 2 unreadable
    walks: list[int] = []  # photos yielded so far by each walk (the first one only counts for the progress bar)
    walk, upsert = dogbreeds.catalog.walk.walk_image_files, dogbreeds.catalog.database.upsert

    def counting_walk(paths: list[str], **kwargs):
        walks.append(0)
        for p in walk(paths, **kwargs):
            walks[-1] += 1
            yield p

    walked_at_first_write: list[int] = []

    def recording_upsert(*args, **kwargs):
        walked_at_first_write.append(walks[-1])
        return upsert(*args, **kwargs)

    monkeypatch.setattr(dogbreeds.catalog.walk, "walk_image_files", counting_walk)
    monkeypatch.setattr(dogbreeds.catalog.database, "upsert", recording_upsert)
    classifier = Classifier(predictor, open_catalog(str(tmp_path / "c.db")), batch_size=2, workers=1)
    classifier.path_chunk = 4
    stats = classifier.run([lib])
    assert walks[0] == walks[1] == stats.photos == 38
    # the first batch is written once the read-ahead is full (a chunk of paths, two stages of a batch and 4 photos
    # per worker ahead), while the rest of the library is still unwalked
    bound = classifier.path_chunk + 2 * (classifier.batch_size + 4 * classifier.workers) + 2 * classifier.batch_size
    assert walked_at_first_write[0] <= bound < 38
    assert count(open_catalog(str(tmp_path / "c.db"))) == 38


def test_one_photo_reached_many_ways_is_one_row(tmp_path: Path, predictor: Predictor) -> None:
    lib = _library(tmp_path / "lib")
    outside = tmp_path / "elsewhere" / "dog.jpg"
    outside.parent.mkdir()
    shutil.copy(lib / "plain" / "set 0" / "pug.jpg", outside)
    (lib / "link one.jpg").symlink_to(outside)
    (lib / "plain" / "link two.jpg").symlink_to(outside)
    named = [lib, lib / "plain", lib / "plain" / "set 0" / "beagle.jpg", outside]  # overlapping folders and files
    stats = Classifier(predictor, open_catalog(str(tmp_path / "c.db")), batch_size=4).run(named)
    paths = [r["path"] for r in iter_rows(open_catalog(str(tmp_path / "c.db")))]
    # the file named outside the library is classified, so the links to it are inside what is classified: each
    # link its own row, reusing the one result (dog.jpg is a copy of pug.jpg: reused too)
    assert stats.photos == len(paths) == len(set(paths)) == 17 and (stats.classified, stats.reused) == (12, 3)
    assert {str(outside.resolve()), str(lib.resolve() / "link one.jpg")} < set(paths)


@pytest.mark.parametrize("batch_size", [1, 4])  # copies in separate batches, and all in one batch
def test_copies_met_in_one_run_are_classified_once(tmp_path: Path, predictor: Predictor, batch_size: int) -> None:
    (tmp_path / "lib" / "sub").mkdir(parents=True)
    for name in ["a.jpg", "b.jpg", "sub/c.jpg"]:
        shutil.copy(EXAMPLES / "pug.jpg", tmp_path / "lib" / name)
    engine = open_catalog(str(tmp_path / "c.db"))
    stats = Classifier(predictor, engine, batch_size=batch_size).run([tmp_path / "lib"])
    rows = list(iter_rows(open_catalog(str(tmp_path / "c.db"))))
    assert (stats.classified, stats.reused) == (1, 2)
    assert len(rows) == 3 and len({(r["breed"], r["probability"], r["sha256"]) for r in rows}) == 1


def test_links_into_folders_the_walk_enters_elsewhere_are_not_doubled(tmp_path: Path, predictor: Predictor) -> None:
    lib, outside = tmp_path / "lib", tmp_path / "outside" / "dir"
    outside.mkdir(parents=True)
    (lib / ".hidden" / "photos").mkdir(parents=True)
    shutil.copy(EXAMPLES / "pug.jpg", outside / "x.jpg")
    shutil.copy(EXAMPLES / "beagle.jpg", lib / ".hidden" / "photos" / "y.jpg")
    (lib / "linkdir").symlink_to(outside)  # the walk enters outside/dir through this folder link...
    (lib / "fav.jpg").symlink_to(outside / "x.jpg")  # ...and meets x.jpg again through a file link
    (lib / "favy.jpg").symlink_to(lib / ".hidden" / "photos" / "y.jpg")  # a hidden folder named as a root too
    (lib / "broken.jpg").symlink_to(tmp_path / "nothing.jpg")
    engine = open_catalog(str(tmp_path / "c.db"))
    stats = Classifier(predictor, engine, batch_size=4).run([lib, lib / ".hidden" / "photos"])
    rows = {r["path"]: r for r in iter_rows(engine)}
    # the folder link and the file link to outside/ are skipped (outside the folders classified), with warnings
    assert stats.walk.outside == 2 and not any("outside" in p for p in rows)
    assert stats.photos == len(rows) == 3 and (stats.classified, stats.reused, stats.unreadable) == (1, 1, 1)
    assert {str((lib / ".hidden" / "photos" / "y.jpg").resolve()), str(lib.resolve() / "favy.jpg")} < rows.keys()
    assert rows[str(lib.resolve() / "broken.jpg")]["error"].startswith("broken symbolic link to ")


def test_in_memory_catalog_works_because_workers_never_touch_the_database(tmp_path: Path, predictor: Predictor) -> None:
    engine = open_catalog("sqlite://")
    stats = Classifier(predictor, engine, batch_size=4).run([_library(tmp_path / "lib")])
    assert stats.photos == count(engine) == 14


def test_a_known_photo_out_of_sight_keeps_its_row(tmp_path: Path, predictor: Predictor) -> None:
    """A row whose path is outside the folders being classified is not taken for a moved photo's old path, even
    when this machine cannot see it (an unmounted drive, another machine's disk in a shared catalog)."""
    lib, elsewhere = tmp_path / "lib", tmp_path / "drive"
    for folder in (lib, elsewhere):
        folder.mkdir()
        shutil.copy(EXAMPLES / "pug.jpg", folder / "pug.jpg")
    db = tmp_path / "c.db"
    _classify(elsewhere, db, predictor)
    shutil.rmtree(elsewhere)  # the drive is unplugged
    stats = _classify(lib, db, predictor)
    assert stats.reused == 1
    assert sorted(Path(r["path"]).parent.name for r in iter_rows(open_catalog(str(db)))) == ["drive", "lib"]


def test_a_known_content_whose_row_vanishes_meanwhile_is_classified_after_all(
    tmp_path: Path, predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dogbreeds.catalog.database

    lib = _library(tmp_path / "lib")
    monkeypatch.setattr(
        dogbreeds.catalog.database, "known_contents", lambda _, hashes, __, **kw: set(hashes)
    )  # gone when written
    stats = _classify(lib, tmp_path / "c.db", predictor)
    assert (stats.classified, stats.reused, stats.unreadable) == (12, 0, 2)
    assert count(open_catalog(str(tmp_path / "c.db"))) == 14


@pytest.mark.slow
def test_cli_classify_thresholds_override_the_card(tmp_path: Path) -> None:
    """``--min-dog-score`` of 1 calls every readable photo not_a_dog; ``--min-probability`` of 1
    leaves no photo called ``dog``."""
    folder = tmp_path / "photos"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("*.md"))
    db = str(tmp_path / "strict.db")
    assert main(["classify", str(folder), "--db", db, "--min-dog-score", "1"]) == 0
    verdicts = {r["verdict"] for r in iter_rows(open_catalog(db))}
    assert verdicts == {"not_a_dog"}
    db = str(tmp_path / "unsure.db")
    assert main(["classify", str(folder), "--db", db, "--min-probability", "1"]) == 0
    verdicts = {r["verdict"] for r in iter_rows(open_catalog(db))}
    assert "dog" not in verdicts and "unsure" in verdicts
    # the card's dog score, and the dog probability alone under the old flag: each row's verdict follows its rule
    for flag, score in (("--min-dog-score", lambda r: r["dog_probability"] * r["probability"] ** 0.5),
                        ("--min-dog-probability", lambda r: r["dog_probability"])):  # fmt: skip
        db = str(tmp_path / f"{flag}.db")
        assert main(["classify", str(folder), "--db", db, flag, "0.65"]) == 0
        rows = [r for r in iter_rows(open_catalog(db)) if r["verdict"] != "unreadable"]
        assert {r["path"] for r in rows if r["verdict"] == "not_a_dog"} == {r["path"] for r in rows if score(r) < 0.65}
    assert main(["classify", str(folder), "--db", db, "--min-dog-score", "0.5", "--min-dog-probability", "0.5"]) == 2

"""What a shelter's disk really holds, run through the commands as a volunteer would: pipes, devices, links out of
the tree, 1,100-deep folders, names that are not UTF-8, hostile model cards, foreign and damaged databases.

Targets: no traceback, no hang, nothing written outside ``--into``, no row lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dogbreeds.catalog.database import count, iter_rows, open_catalog
from dogbreeds.catalog.schema import SCHEMA_VERSION
from dogbreeds.cli import main
from dogbreeds.core.errors import CatalogError

from .conftest import EXAMPLES

DEEP = 1100


def _run(*args: str, timeout: float = 240, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in its own process: a hang fails the test instead of freezing it."""
    return subprocess.run(
        [sys.executable, "-m", "dogbreeds", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "DOGBREEDS_PROGRESS": "0", **(env or {})},
    )  # fmt: skip


def _hostile_library(root: Path) -> dict[str, Path]:
    """A library with every kind of trouble in it; returns the paths that must end with a row."""
    root.mkdir(parents=True)
    good = {}
    for name in ("pug.jpg", "beagle.jpg", "Saint Bernard – café.jpg"):
        good[name] = Path(shutil.copy(EXAMPLES / name, root / name))
    os.mkfifo(root / "pipe.jpg")  # reading it would wait forever for a writer
    (root / "zero.jpg").symlink_to("/dev/zero")  # never ends
    (root / "passwd.jpg").symlink_to("/etc/passwd")  # a link out of the tree
    (root / "everything").symlink_to("/")  # a folder link out of the tree: never walked
    (root / "notes.jpg").write_text("not a photo")
    (root / "empty.jpg").write_bytes(b"")
    (root / "cut.jpg").write_bytes((EXAMPLES / "pug.jpg").read_bytes()[:2000])  # half-copied
    with open(root / "huge.jpg", "wb") as f:  # sparse: 300 MB on paper, nothing on disk
        f.truncate(300 * 1024 * 1024)
    deep = root
    for _i in range(DEEP):  # one mkdir at a time: os.makedirs itself recurses once per level
        deep = deep / "d"
        deep.mkdir()
    good["deep.jpg"] = Path(shutil.copy(EXAMPLES / "husky.jpg", deep / "deep.jpg"))
    os.symlink(EXAMPLES / "poodle.jpg", root / "link outside.jpg")  # a photo linked from outside: skipped
    (root / "inside link.jpg").symlink_to(root / "pug.jpg")  # a link inside the tree: its own row
    bad_name = os.fsencode(root) + b"/caf\xe9 latin-1.jpg"  # not UTF-8: cannot be a catalog key
    with open(bad_name, "wb") as f:
        f.write((EXAMPLES / "chihuahua.jpg").read_bytes())
    return good


def _snapshot(root: Path, skip: tuple[Path, ...]) -> dict[str, str]:
    """Every file and link under ``root`` (not following links) with its content hash or target."""
    out = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        if any(Path(folder) == s or s in Path(folder).parents for s in skip) or folder.endswith("/d/d"):
            dirs[:] = []  # (os.walk recurses: the 1,100-deep folders are left to the test's own checks)
            continue
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                out[path] = "-> " + os.readlink(path)
            elif os.path.isfile(path) and os.path.getsize(path) < 50 << 20:
                out[path] = hashlib.sha256(open(path, "rb").read()).hexdigest()
            else:
                out[path] = "special"
    return out


@pytest.fixture
def hostile(tmp_path: Path):  # type: ignore[no-untyped-def]
    lib = tmp_path / "lib"
    yield lib, _hostile_library(lib)
    # Python's rmtree (and so pytest's clean-up) recurses once per level: rm does not
    subprocess.run(["rm", "-rf", str(lib / "d")], check=False)


@pytest.mark.slow
def test_a_hostile_library_classifies_sorts_exports_and_predicts_cleanly(tmp_path: Path, hostile) -> None:  # type: ignore[no-untyped-def]
    lib, good = hostile
    db, into = tmp_path / "catalog.db", tmp_path / "sorted"
    before = _snapshot(tmp_path, skip=(into,))

    done = _run("classify", str(lib), "--db", str(db))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "passwd.jpg" in done.stderr and "everything" in done.stderr  # the links out, warned about
    assert "not valid UTF-8" in done.stderr and "\\xe9" in done.stderr
    rows = {Path(r["path"]).name: r for r in iter_rows(open_catalog(db))}
    for name in ("pug.jpg", "beagle.jpg", "Saint Bernard – café.jpg", "deep.jpg", "inside link.jpg"):
        assert rows[name]["verdict"] in ("dog", "unsure"), name
    reasons = {name: rows[name]["error"] for name in ("pipe.jpg", "huge.jpg", "notes.jpg", "empty.jpg", "cut.jpg")}
    assert "not a regular file (a named pipe)" in reasons["pipe.jpg"]
    assert "file too large" in reasons["huge.jpg"] and "empty" in reasons["empty.jpg"]
    assert "truncated" in reasons["cut.jpg"] and "not a readable image" in reasons["notes.jpg"]
    assert not {"passwd.jpg", "zero.jpg", "link outside.jpg"} & rows.keys()  # links out of the tree: no row
    assert "zero.jpg" in done.stderr
    assert len(rows) == 10  # 5 photos + 5 unreadable: nothing lost, nothing twice

    done = _run("sort", "--db", str(db), "--into", str(into))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert _snapshot(tmp_path, skip=(into, db.parent / "catalog.db-wal", db.parent / "catalog.db-shm")) == {
        **before,
        **{k: v for k, v in _snapshot(tmp_path, skip=(into,)).items() if k.startswith(str(db))},
    }  # nothing outside --into changed or appeared but the catalog itself
    placed = [p for p in into.rglob("*") if p.is_file()]
    passwd = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    assert placed and all(hashlib.sha256(p.read_bytes()).hexdigest() != passwd for p in placed)
    assert all(into.resolve() in p.resolve().parents for p in placed)

    done = _run("export", "--db", str(db), "--out", str(tmp_path / "out.csv"))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr

    done = _run("predict", str(lib), "--json")
    assert "Traceback" not in done.stderr, done.stderr
    predictions = json.loads(done.stdout)  # valid JSON, whatever the names
    by_name = {Path(p["path"]).name: p for p in predictions}
    assert "caf\\xe9 latin-1.jpg" in by_name and "pipe.jpg" in by_name
    assert "a device file" in by_name["zero.jpg"]["error"]  # predict reads what it is given, never /dev/zero
    assert good["pug.jpg"].name in by_name


def _crafted_card_model(folder: Path) -> Path:
    """The shipped model with a card whose breed ids try to climb out of the sorted tree."""
    from dogbreeds.inference.predictor import default_model_path

    folder.mkdir()
    onnx = folder / "evil.onnx"
    shutil.copy(default_model_path(), onnx)
    card = json.loads(default_model_path().with_suffix(".json").read_text())
    card["classes"] = [f"../../escaped-{i}" if i % 2 else f"/abs/{i}" for i in range(len(card["classes"]))]
    card.pop("names", None)
    onnx.with_suffix(".json").write_text(json.dumps(card))
    return onnx


def test_a_crafted_card_cannot_make_sort_write_outside_into(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("pug.jpg", "beagle.jpg", "husky.jpg", "poodle.jpg"):
        shutil.copy(EXAMPLES / name, lib / name)
    model = _crafted_card_model(tmp_path / "model")
    db, into = tmp_path / "c.db", tmp_path / "out" / "sorted"
    assert main(["classify", str(lib), "--db", str(db), "--model", str(model), "--min-probability", "0"]) == 0
    assert main(["sort", "--db", str(db), "--into", str(into)]) == 0
    outside = [p for p in tmp_path.rglob("*") if "escaped" in p.name or p.name.isdigit()]
    assert all(into in p.parents for p in outside) and len(outside) >= 1
    assert not Path("/abs").exists()
    assert {p.parent.parent for p in into.rglob("*.jpg")} == {into}  # one level of breed folders, no deeper


def test_card_checks_refuse_hostile_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dogbreeds.inference.predictor import default_model_path

    card = json.loads(default_model_path().with_suffix(".json").read_text())
    cases = {
        "zero temperature": ({**card, "temperature": 0}, "temperature must be a number above 0"),
        "nan threshold": ({**card, "verdicts": {**card["verdicts"], "min_probability": float("nan")}}, "number"),
        "no classes": ({**card, "classes": []}, "non-empty list"),
        "five classes": ({**card, "classes": card["classes"][:5]}, "names 5 breeds but the model has 120 outputs"),
        "tiny input": ({**card, "preprocess": {**card["preprocess"], "input_size": 0}}, "input_size"),
        "not an object": ([1, 2], "JSON object"),
    }
    for i, (name, (value, said)) in enumerate(cases.items()):
        folder = tmp_path / f"m{i}"
        folder.mkdir()
        shutil.copy(default_model_path(), folder / "m.onnx")
        (folder / "m.json").write_text(json.dumps(value).replace("NaN", "NaN"))
        code = main(["predict", str(EXAMPLES / "pug.jpg"), "--model", str(folder / "m.onnx")])
        err = capsys.readouterr().err
        assert code == 2 and said in err and "Traceback" not in err, (name, err)


def test_argument_errors_are_refused_before_any_work(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["predict", "x.jpg", "--top-k", "0"], ["predict", "x.jpg", "--batch-size", "0"],
                 ["classify", "d", "--min-probability", "2"]):  # fmt: skip
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2 and "must be" in capsys.readouterr().err


def test_predict_json_escapes_names_that_are_not_utf8(tmp_path: Path) -> None:
    from dogbreeds.cli.predict import predictions_json

    bad = os.fsdecode(os.fsencode(tmp_path) + b"/chien \xe9.jpg")
    text = predictions_json([{"path": bad, "probability": float("nan"), "top_k": [{"p": float("inf")}]}])
    back = json.loads(text)
    assert back[0]["path"].endswith("chien \\xe9.jpg") and back[0]["probability"] is None
    assert back[0]["top_k"][0]["p"] is None and "NaN" not in text


# -- the catalog as a real database --------------------------------------------------------------------------------


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "make,said",
    [
        (lambda c: c.execute("CREATE TABLE invoices (id INTEGER, total REAL)"), "not a dogbreeds catalog"),
        (lambda c: c.execute("CREATE TABLE photos (id INTEGER, url TEXT)"), "photos table with other columns"),
        (
            lambda c: (
                c.execute("CREATE TABLE meta (key TEXT, value TEXT)"),
                c.execute("INSERT INTO meta VALUES ('schema_version', '99')"),
            ),
            "newer dogbreeds",
        ),
    ],  # fmt: skip
)
def test_a_foreign_or_newer_database_is_refused_untouched(
    tmp_path: Path, make, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "other.db"
    con = sqlite3.connect(db)
    make(con)
    con.commit()
    con.close()
    before = _sha(db)
    commands = [
        ["classify", str(EXAMPLES), "--db", str(db)],
        ["export", "--db", str(db), "--out", str(tmp_path / "x.csv")],
        ["sort", "--db", str(db), "--into", str(tmp_path / "s")],
        ["review", "--db", str(db)],
    ]
    for argv in commands:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert said in err and str(db) in err and err.count("\n") == 1 and "Traceback" not in err
    assert _sha(db) == before and sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]  # no WAL, no tables


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "photo.jpg"
    shutil.copy(EXAMPLES / "pug.jpg", db)
    assert main(["classify", str(EXAMPLES), "--db", str(db)]) == 2
    assert "not a SQLite database" in capsys.readouterr().err and _sha(db) == _sha(EXAMPLES / "pug.jpg")


def test_read_only_commands_never_create_a_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "catalgo.db"
    for argv in (["export", "--db", str(typo), "--out", str(tmp_path / "x.csv")],
                 ["sort", "--db", str(typo), "--into", str(tmp_path / "s")],
                 ["corrections", "export", "--db", str(typo), "--out", str(tmp_path / "c")]):  # fmt: skip
        assert main(argv) == 2
        assert f"no catalog at {typo}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_classify_into_a_missing_folder_and_unknown_databases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (str(tmp_path / "no" / "such" / "c.db"), "does not exist"),
        ("mysql://user:secret@localhost/dogs", "unsupported database"),
        ("postgresql://dogs:secret@127.0.0.1:1/catalog", "cannot reach the database server"),
    ]
    for db, said in cases:
        if db.startswith("postgresql"):
            pytest.importorskip("psycopg")
        assert main(["classify", str(EXAMPLES / "pug.jpg"), "--db", db]) == 2
        err = capsys.readouterr().err
        assert said in err and "secret" not in err and "Traceback" not in err and err.count("\n") == 1, err


V0_SCHEMA = """
CREATE TABLE photos (path TEXT NOT NULL, sha256 VARCHAR(64), bytes BIGINT, mtime_ns BIGINT, width INTEGER,
  height INTEGER, taken_at VARCHAR(32), breed VARCHAR(80), name VARCHAR(80), probability FLOAT,
  dog_probability FLOAT, top5 TEXT, verdict VARCHAR(16), error TEXT, model_id VARCHAR(80),
  classified_at DATETIME, PRIMARY KEY (path));
CREATE INDEX ix_photos_sha256 ON photos (sha256);
CREATE INDEX ix_photos_verdict ON photos (verdict);
CREATE INDEX ix_photos_model_id ON photos (model_id);
CREATE TABLE reviews (id INTEGER NOT NULL, sha256 VARCHAR(64) NOT NULL, path TEXT, decision VARCHAR(16) NOT NULL,
  breed VARCHAR(80), model_breed VARCHAR(80), reviewer VARCHAR(80), reviewed_at DATETIME, PRIMARY KEY (id));
CREATE INDEX ix_reviews_sha256 ON reviews (sha256);
"""  # the catalog of the releases before schema versioning, as they created it


def test_a_catalog_from_the_previous_release_is_upgraded_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.executescript(V0_SCHEMA)
    top5 = json.dumps([{"breed": "n02110958-pug", "name": "pug", "probability": 0.9},
                       {"breed": "n02085620-Chihuahua", "name": "Chihuahua", "probability": 0.06}])  # fmt: skip
    con.execute(
        "INSERT INTO photos (path, sha256, breed, name, probability, dog_probability, top5, verdict, model_id) "
        "VALUES ('/x/pug.jpg', 'abc', 'n02110958-pug', 'pug', 0.9, 0.8, ?, 'dog', 'old')",
        (top5,),
    )
    con.execute("INSERT INTO reviews (sha256, path, decision, breed) VALUES ('abc', '/x/pug.jpg', 'corrected', "
                "'n02085620-Chihuahua')")  # fmt: skip
    con.commit()
    con.close()
    engine = open_catalog(db, readonly=True)  # a read-only command upgrades it once, then reads
    (row,) = list(iter_rows(engine))
    assert row["margin"] == pytest.approx(0.84) and row["final_breed"] == "n02085620-Chihuahua"
    con = sqlite3.connect(db)
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    assert con.execute("SELECT count(*) FROM embeddings").fetchone() == (0,)  # schema 2's table, empty until classify
    assert {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")} >= {"folders", "models"}


def test_a_locked_catalog_is_one_line_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    assert main(["classify", str(EXAMPLES / "pug.jpg"), "--db", str(db)]) == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program writing
    try:
        done = _run("classify", str(EXAMPLES), "--db", str(db), env={"DOGBREEDS_DB_TIMEOUT": "0.2"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 2 and "locked by another program" in done.stderr and str(db) in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert count(open_catalog(db)) == 1  # the row written before is still there


def _mount_tmpfs(where: Path, size: str, *options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    opts = ",".join([f"size={size}", *options])
    return (
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True).returncode == 0
    )


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An 8 MB file system, where the test may mount one (root in a container); else the tests skip."""
    where = tmp_path / "small"
    if not _mount_tmpfs(where, "8m"):
        pytest.skip("cannot mount a small file system here")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_is_one_line_and_keeps_the_rows_written(tmp_path: Path, small_disk: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(400):  # distinct contents: each photo gets a row of its own
        (lib / f"{i:03d}.jpg").write_bytes(os.urandom(16) + b"x" * 10)
    db = small_disk / "c.db"
    (small_disk / "filler").write_bytes(b"\0" * (8 * 1024 * 1024 - 200_000))  # room for a few batches only
    done = _run("classify", str(lib), "--db", str(db), "--batch-size", "8")
    assert done.returncode == 2 and "disk full" in done.stderr and "Traceback" not in done.stderr, done.stderr
    (small_disk / "filler").unlink()
    kept = count(open_catalog(db))
    assert 0 < kept < 400 and sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert _run("classify", str(lib), "--db", str(db)).returncode == 0  # room again: the run finishes the rest
    assert count(open_catalog(db)) == 400


def test_sort_onto_a_full_disk_is_one_line(tmp_path: Path, small_disk: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("pug.jpg", "beagle.jpg", "husky.jpg", "poodle.jpg", "chihuahua.jpg"):
        shutil.copy(EXAMPLES / name, lib / name)
    db = tmp_path / "c.db"
    assert main(["classify", str(lib), "--db", str(db)]) == 0
    (small_disk / "filler").write_bytes(b"\0" * (8 * 1024 * 1024 - 40_000))
    done = _run("sort", "--db", str(db), "--into", str(small_disk / "sorted"))
    assert done.returncode == 2 and "disk full" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not list((small_disk / "sorted").rglob(".*.part"))  # no half copy left behind


def test_a_catalog_on_read_only_media_is_read(tmp_path: Path) -> None:
    media = tmp_path / "media"
    if not _mount_tmpfs(media, "4m"):
        pytest.skip("cannot mount a file system here")
    try:
        db = media / "c.db"
        assert _run("classify", str(EXAMPLES / "pug.jpg"), "--db", str(db)).returncode == 0  # its own process:
        for extra in ("c.db-wal", "c.db-shm"):  # no file of it stays open
            (media / extra).unlink(missing_ok=True)
        if subprocess.run(["mount", "-o", "remount,ro", str(media)], capture_output=True).returncode != 0:
            pytest.skip("cannot make the file system read-only here")
        done = _run("export", "--db", str(db), "--out", str(tmp_path / "out.csv"))
        assert done.returncode == 0, done.stderr
        assert "pug.jpg" in (tmp_path / "out.csv").read_text()
        done = _run("classify", str(EXAMPLES), "--db", str(db))
        assert done.returncode == 2 and "read-only" in done.stderr and "Traceback" not in done.stderr, done.stderr
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)


def test_catalog_errors_never_show_sql_or_values(tmp_path: Path) -> None:
    from dogbreeds.catalog.database import explain

    err = explain(sqlite3.IntegrityError("UNIQUE constraint failed: photos.path\n[SQL: INSERT ...] secret"), "x.db")
    assert isinstance(err, CatalogError) and "SQL" not in str(err) and "secret" not in str(err)

"""The catalog on a real PostgreSQL server: a throwaway cluster in a temp folder, skipped cleanly without one.

Needs PostgreSQL's server programs (Debian: ``apt-get install postgresql``; `.ci/run` installs them) and psycopg.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("psycopg")

from dogbreeds.catalog.classify import Classifier  # noqa: E402
from dogbreeds.catalog.database import count, iter_rows, open_catalog  # noqa: E402
from dogbreeds.inference.predictor import Predictor  # noqa: E402

from .test_classify import _library  # noqa: E402


def _server_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _server_bin("initdb"), _server_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server programs not installed")
    # directly under /tmp: the server's user must reach it, and a socket path must stay under 108 bytes
    root = Path(tempfile.mkdtemp(prefix="dogbreeds-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres user
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    run = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    try:
        subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], **run)
        opts = f"-p {port} -k {root} -c listen_addresses=''"
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"], **run)
    except subprocess.CalledProcessError as err:
        pytest.skip(f"could not start PostgreSQL: {err.stderr.decode(errors='replace')[-300:]}")
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={root}&port={port}"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def db(postgres_url: str) -> Iterator[str]:
    engine = open_catalog(postgres_url)
    with engine.begin() as con:
        con.exec_driver_sql("TRUNCATE photos, reviews")
    yield postgres_url


def test_classify_into_postgres_is_exact_and_resumable(tmp_path: Path, db: str) -> None:
    lib = _library(tmp_path / "lib")
    predictor = Predictor()
    stats = Classifier(predictor, open_catalog(db), batch_size=4).run([lib])
    rows = {Path(r["path"]).name: r for r in iter_rows(open_catalog(db))}
    assert stats.photos == len(rows) == count(open_catalog(db)) == 14 and stats.unreadable == 2
    assert rows["pug.jpg"]["breed"] == "n02110958-pug" and len(rows["pug.jpg"]["top5"]) == 5
    again = Classifier(predictor, open_catalog(db), batch_size=4).run([lib])
    assert again.unchanged == 12 and count(open_catalog(db)) == 14  # upserts: no duplicates
    (lib / "plain" / "set 0" / "pug.jpg").rename(lib / "renamed pug.jpg")
    moved = Classifier(predictor, open_catalog(db), batch_size=4).run([lib])
    names = [Path(r["path"]).name for r in iter_rows(open_catalog(db))]
    assert moved.reused == 1 and "renamed pug.jpg" in names and "pug.jpg" not in names and len(names) == 14


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_on_postgres(tmp_path: Path, db: str) -> None:
    lib = _library(tmp_path / "lib", n_copies=4)  # 48 photos + 2 unreadable
    cmd = [sys.executable, "-m", "dogbreeds", "classify", str(lib), "--db", db, "--batch-size", "2"]
    env = {**os.environ, "DOGBREEDS_PROGRESS": "0"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and count(open_catalog(db)) < 6:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < count(open_catalog(db)) < 50
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    paths = [r["path"] for r in iter_rows(open_catalog(db))]
    assert sorted(paths) == sorted(str(p.resolve()) for p in lib.rglob("*.jpg")) and len(set(paths)) == 50


def test_review_is_recorded_in_postgres(tmp_path: Path, db: str) -> None:
    from dogbreeds.catalog.review import queue, record

    lib = _library(tmp_path / "lib")
    Classifier(Predictor(), open_catalog(db), batch_size=4).run([lib])
    first = next(queue(open_catalog(db)))
    record(open_catalog(db), first, "corrected", "n02085620-Chihuahua", "volunteer")
    with open_catalog(db).connect() as con:
        (who, breed) = con.exec_driver_sql("SELECT reviewer, breed FROM reviews").one()
    assert who == "volunteer" and breed == "n02085620-Chihuahua"

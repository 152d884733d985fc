"""The web app's writes: volunteers log in (Argon2, rate-limited), every write needs the session's CSRF token, and
the review queue records decisions that the library and the export then show."""

from __future__ import annotations

import csv
import io
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dogbreeds.catalog.classify import Classifier
from dogbreeds.catalog.database import open_catalog
from dogbreeds.catalog.users import add_user, authenticate, list_users
from dogbreeds.cli import main
from dogbreeds.inference.predictor import Predictor

from .conftest import EXAMPLES

pytest.importorskip("fastapi")
pytest.importorskip("argon2")
from fastapi.testclient import TestClient  # noqa: E402

from dogbreeds.web.app import create_app  # noqa: E402
from dogbreeds.web.settings import WebSettings  # noqa: E402

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


@pytest.fixture
def catalog(tmp_path: Path, predictor: Predictor) -> tuple[Path, Path]:
    lib = tmp_path / "photos"
    shutil.copytree(EXAMPLES, lib, ignore=shutil.ignore_patterns("*.md"))
    db = tmp_path / "catalog.db"
    engine = open_catalog(str(db))
    Classifier(predictor, engine, batch_size=4).run([lib])
    add_user(engine, "Camille", PASSWORD)
    engine.dispose()
    return lib, db


@pytest.fixture
def client(catalog: tuple[Path, Path], predictor: Predictor, tmp_path: Path) -> Any:
    lib, db = catalog
    settings = WebSettings(db=str(db), library=lib, cache=tmp_path / "thumbs")
    with TestClient(create_app(settings, predictor=predictor), raise_server_exceptions=False) as c:
        yield c


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF token in the form"
    return found.group(1)


def _login(client: TestClient, name: str = "Camille", password: str = PASSWORD) -> Any:
    token = _csrf(client.get("/login").text)
    return client.post("/login", data={"name": name, "password": password, "csrf": token, "next": "/review"},
                       follow_redirects=False)  # fmt: skip


def _reviews(db: Path) -> list[tuple[str, str | None, str]]:
    return list(sqlite3.connect(db).execute("select decision, breed, reviewer from reviews order by id"))


def _photo_on(page: str) -> str:
    found = re.search(r'data-photo="([0-9a-f]{64})"', page)
    assert found, "no photo on the review page"
    return found.group(1)


def test_only_a_hash_is_stored_and_only_the_right_password_passes(catalog: tuple[Path, Path]) -> None:
    _lib, db = catalog
    (stored,) = sqlite3.connect(db).execute("select password_hash from users where name = 'Camille'").fetchone()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    engine = open_catalog(str(db), readonly=True)
    assert authenticate(engine, "Camille", PASSWORD) is not None
    assert authenticate(engine, "Camille", PASSWORD + "x") is None and authenticate(engine, "Nobody", PASSWORD) is None


def test_logged_out_every_write_is_refused_and_nothing_is_recorded(client: TestClient, catalog: tuple[Path, Path]):
    _lib, db = catalog
    page = client.get("/review", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Freview"
    photo = sqlite3.connect(db).execute("select sha256 from photos limit 1").fetchone()[0]
    refused = client.post(f"/review/{photo}", data={"answer": "1", "csrf": "x"})
    assert refused.status_code == 401 and "log in first" in refused.text
    api = client.post(f"/api/photos/{photo}/review", json={"answer": "1"})
    assert api.status_code == 401 and api.json() == {"detail": "log in first: only registered volunteers can change "
                                                               "the catalog"}  # fmt: skip
    assert _reviews(db) == []


def test_login_sets_a_safe_cookie_and_replaces_the_session(client: TestClient) -> None:
    client.get("/login")
    before = client.cookies.get("dogbreeds_session")
    answer = _login(client)
    assert answer.status_code == 303 and answer.headers["location"] == "/review"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # plain http here
    assert client.cookies.get("dogbreeds_session") not in (None, before)
    assert "Log out (Camille)" in client.get("/").text


def test_over_https_the_cookie_is_secure(catalog: tuple[Path, Path], predictor: Predictor, tmp_path: Path) -> None:
    lib, db = catalog
    app = create_app(WebSettings(db=str(db), library=lib, cache=tmp_path / "t"), predictor=predictor)
    with TestClient(app, base_url="https://testserver") as c:
        assert "Secure" in c.get("/login").headers["set-cookie"]


def test_a_login_form_without_its_token_or_with_a_wrong_password_fails(client: TestClient) -> None:
    client.get("/login")
    forged = client.post("/login", data={"name": "Camille", "password": PASSWORD, "csrf": "forged"})
    assert forged.status_code == 403 and "Log out" not in forged.text
    wrong = _login(client, password="not it at all")
    assert wrong.status_code == 401 and "wrong name or password" in wrong.text


def test_failed_logins_are_rate_limited(client: TestClient) -> None:
    for _ in range(5):
        assert _login(client, password="guess guess").status_code == 401
    blocked = _login(client)  # even the right password waits now
    assert blocked.status_code == 429 and "too many failed logins" in blocked.text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_after_login_only_a_page_of_this_server_is_visited(client: TestClient, target: str) -> None:
    token = _csrf(client.get("/login").text)
    answer = client.post("/login", data={"name": "Camille", "password": PASSWORD, "csrf": token, "next": target},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_review_records_decisions_with_who_and_the_library_and_export_show_them(
    client: TestClient, catalog: tuple[Path, Path]
) -> None:
    _lib, db = catalog
    _login(client)
    page = client.get("/review")
    assert page.status_code == 200 and "mixed breed" in page.text and 'list="breeds"' in page.text
    first, token = _photo_on(page.text), _csrf(page.text)
    assert client.get(f"/photos/{first}/large.jpg").status_code == 200  # the photo, large, on the page

    forged = client.post(f"/review/{first}", data={"answer": "2", "csrf": "not the token"})
    assert forged.status_code == 403 and _reviews(db) == []

    done = client.post(f"/review/{first}", data={"answer": "2", "csrf": token}, follow_redirects=False)
    assert done.status_code == 303
    second_breed = sqlite3.connect(db).execute("select top5 from photos where sha256 = ?", (first,)).fetchone()[0]
    decision, breed, reviewer = _reviews(db)[0]
    assert reviewer == "Camille" and breed in second_breed and decision in ("corrected", "confirmed")

    page = client.get("/review")
    second = _photo_on(page.text)
    assert second != first and "1 decided in this session" in page.text
    client.post(f"/review/{second}", data={"answer": "m", "csrf": token})
    assert _reviews(db)[-1][:2] == ("corrected", "mixed_breed")
    client.post("/review/undo/last", data={"csrf": token})
    assert len(_reviews(db)) == 1  # the mixed breed taken back

    client.post(f"/review/{second}", data={"later": "1", "csrf": token})  # later: not a decision
    assert _photo_on(client.get("/review").text) not in (first, second) and len(_reviews(db)) == 1

    typo = client.post(f"/review/{second}", data={"answer": "xyzzy", "csrf": token})
    assert "not a breed dogbreeds knows" in typo.text and "+xyzzy" in typo.text
    client.post(f"/review/{second}", data={"answer": "berger allemand", "csrf": token})
    assert _reviews(db)[-1][1] == "n02106662-German_shepherd"

    shown = client.get(f"/photos/{second}")
    assert "decided by Camille" in shown.text
    exported = list(csv.DictReader(io.StringIO(client.get("/export/catalog.csv").text)))
    row = next(r for r in exported if r["sha256"] == second)
    assert row["final_breed"] == "n02106662-German_shepherd" and row["reviewer"] == "Camille"


def test_the_api_records_a_review_with_the_sessions_token(client: TestClient, catalog: tuple[Path, Path]) -> None:
    _lib, db = catalog
    _login(client)
    page = client.get("/review")
    photo, token = _photo_on(page.text), _csrf(page.text)
    assert client.post(f"/api/photos/{photo}/review", json={"answer": "n"}).status_code == 403  # no token
    answer = client.post(f"/api/photos/{photo}/review", json={"answer": "n"}, headers={"X-CSRF-Token": token})
    assert answer.status_code == 200 and answer.json()["decision"] == "not_a_dog"
    assert client.get(f"/api/photos/{photo}").json()["final_verdict"] == "not_a_dog"
    assert client.post(f"/api/photos/{'0' * 64}/review", json={"answer": "n"},
                       headers={"X-CSRF-Token": token}).status_code == 404  # fmt: skip


def test_logging_out_ends_the_session(client: TestClient) -> None:
    _login(client)
    token = _csrf(client.get("/review").text)
    assert client.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    assert client.get("/review", follow_redirects=False).status_code == 303


def test_users_command_adds_lists_and_removes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    db = str(tmp_path / "c.db")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert main(["users", "add", "Sam", "--admin", "--db", db]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "Léa", "--db", db]) == 2
    assert "at least 8 characters" in capsys.readouterr().err
    assert [(u.name, u.role) for u in list_users(open_catalog(db, readonly=True))] == [("Sam", "admin")]
    assert main(["users", "remove", "Sam", "--db", db]) == 0
    assert main(["users", "remove", "Sam", "--db", db]) == 2


def _wait_for_job(client: TestClient, location: str) -> str:
    import time

    for _ in range(300):
        page = client.get(location)
        if 'http-equiv="refresh"' not in page.text:
            return page.text
        time.sleep(0.2)
    raise AssertionError("the upload job did not finish")


def test_adding_photos_stores_them_by_content_and_classifies_them_as_classify_does(
    client: TestClient, catalog: tuple[Path, Path], tmp_path: Path
) -> None:
    import hashlib

    lib, db = catalog
    refused = client.post("/upload", files=[("files", ("a.jpg", (EXAMPLES / "pug.jpg").read_bytes(), "image/jpeg"))])
    assert refused.status_code == 401 and not (lib / "uploads").exists()

    _login(client)
    token = _csrf(client.get("/upload").text)
    beagle, husky = (EXAMPLES / "beagle.jpg").read_bytes(), (EXAMPLES / "husky.jpg").read_bytes()
    planted = lib / "uploads" / (hashlib.sha256(husky).hexdigest() + ".jpg")
    planted.parent.mkdir()
    planted.write_bytes(b"already here, not to be overwritten")
    files = [("files", ("../../etc/my beagle.jpg", beagle, "image/jpeg")),
             ("files", ("beagle again.jpg", beagle, "image/jpeg")),
             ("files", ("husky.jpg", husky, "image/jpeg")),
             ("files", ("holiday.jpg", b"MZ\x90\x00" + bytes(500), "image/jpeg"))]  # fmt: skip
    answer = client.post("/upload", files=files, data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 303
    page = _wait_for_job(client, answer.headers["location"])
    assert "Done: 1 new photo classified" in page and "holiday.jpg refused: not a readable image" in page
    assert "beagle again.jpg" in page and "husky.jpg" in page  # kept once / already there
    stored = sorted(p.name for p in (lib / "uploads").iterdir())
    assert stored == sorted([hashlib.sha256(beagle).hexdigest() + ".jpg", planted.name])
    assert planted.read_bytes() == b"already here, not to be overwritten"
    rows = sqlite3.connect(db).execute("select path, breed, verdict from photos where path like '%uploads%'").fetchall()
    beagle_row = next(r for r in rows if hashlib.sha256(beagle).hexdigest() in r[0])
    assert beagle_row[1] == "n02088364-beagle" and beagle_row[2] == "dog"


def test_identify_can_add_the_photo_for_a_logged_in_volunteer(client: TestClient, catalog: tuple[Path, Path]) -> None:
    lib, _db = catalog
    plain = client.post("/identify", files={"file": ("p.jpg", (EXAMPLES / "poodle.jpg").read_bytes(), "image/jpeg")})
    assert "also add it to the library" not in plain.text  # logged out: identify only
    _login(client)
    page = client.get("/")
    assert "also add it to the library" in page.text
    added = client.post("/identify", data={"add": "1", "csrf": _csrf(page.text)},
                        files={"file": ("p.jpg", (EXAMPLES / "poodle.jpg").read_bytes(), "image/jpeg")})  # fmt: skip
    assert "Added to the library" in added.text and len(list((lib / "uploads").glob("*.jpg"))) == 1
    forged = client.post("/identify", data={"add": "1", "csrf": "nope"},
                         files={"file": ("p.jpg", (EXAMPLES / "pug.jpg").read_bytes(), "image/jpeg")})  # fmt: skip
    assert forged.status_code == 403 and len(list((lib / "uploads").glob("*.jpg"))) == 1


def test_a_removed_volunteer_or_a_new_password_ends_the_session(client: TestClient, catalog: tuple[Path, Path]):
    from dogbreeds.catalog.users import remove_user

    _lib, db = catalog
    _login(client)
    page = client.get("/review")
    photo, token = _photo_on(page.text), _csrf(page.text)
    add_user(open_catalog(str(db)), "Camille", "a brand new password", replace=True)
    assert client.post(f"/review/{photo}", data={"answer": "n", "csrf": token}).status_code == 401
    _login(client, password="a brand new password")
    page = client.get("/review")
    remove_user(open_catalog(str(db)), "Camille")
    assert client.post(f"/review/{photo}", data={"answer": "n", "csrf": _csrf(page.text)}).status_code == 401
    assert _reviews(db) == []


def test_tries_sent_at_once_are_counted_before_the_passwords_are_checked() -> None:
    from dogbreeds.web.auth import LoginLimiter, login_keys

    limiter = LoginLimiter()
    keys = login_keys("10.0.0.1", "Amélie")
    assert [limiter.attempt(keys) for _ in range(6)][-1] > 0  # the sixth waits, whatever the hashes say
    nfd = login_keys("10.0.0.1", "Ame\u0301lie")  # the same name, spelt with a combining accent
    assert limiter.attempt(nfd) > 0
    assert limiter.attempt(login_keys("10.0.0.2", "Amélie")) == 0  # from elsewhere: not locked out by a stranger


def test_odd_tokens_and_a_foreign_logout_change_nothing(client: TestClient) -> None:
    _login(client)
    photo = _photo_on(client.get("/review").text)
    odd = client.post(f"/api/photos/{photo}/review", json={"answer": "n"},
                      headers={"X-CSRF-Token": "jeton-é".encode("latin-1")})  # fmt: skip
    assert odd.status_code == 403 and "Traceback" not in odd.text
    assert client.post(f"/review/{photo}", data={"answer": "n", "csrf": "jeton-é"}).status_code == 403
    client.post("/logout", data={"csrf": "from another site"})
    assert client.get("/review", follow_redirects=False).status_code == 200  # still logged in


def test_two_volunteers_are_shown_different_photos(client: TestClient, catalog: tuple[Path, Path]) -> None:
    lib, db = catalog
    add_user(open_catalog(str(db)), "Sam", PASSWORD)
    _login(client)
    first = _photo_on(client.get("/review").text)
    other = TestClient(client.app)
    token = _csrf(other.get("/login").text)
    other.post("/login", data={"name": "Sam", "password": PASSWORD, "csrf": token})
    assert _photo_on(other.get("/review").text) != first


def test_a_breed_button_records_the_breed_it_showed(client: TestClient, catalog: tuple[Path, Path]) -> None:
    _lib, db = catalog
    _login(client)
    page = client.get("/review")
    photo = _photo_on(page.text)
    shown = re.findall(r'name="answer" value="([^"]+)" data-key="3"', page.text)
    assert len(shown) == 1 and shown[0].startswith("n0")  # the breed id, not its position
    client.post(f"/review/{photo}", data={"answer": shown[0], "csrf": _csrf(page.text)})
    assert _reviews(db)[-1][1] == shown[0]


def test_many_photos_at_once_may_pass_one_photos_limit(catalog: tuple[Path, Path], predictor: Predictor,
                                                       tmp_path: Path) -> None:  # fmt: skip
    lib, db = catalog
    settings = WebSettings(db=str(db), library=lib, cache=tmp_path / "t", max_upload_bytes=20_000)
    with TestClient(create_app(settings, predictor=predictor), raise_server_exceptions=False) as c:
        photos = [p for p in sorted(EXAMPLES.glob("*.jpg")) if p.stat().st_size < 20_000]
        assert sum(p.stat().st_size for p in photos) > 20_000 + 64 * 1024  # past one photo's limit and the form's
        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
        # logged out, the server takes no more than one photo's worth: refused before the body is spooled
        assert c.post("/upload", files=files, data={"csrf": "x"}).status_code == 413
        _login(c)
        token = _csrf(c.get("/upload").text)
        answer = c.post("/upload", files=files, data={"csrf": token}, follow_redirects=False)
        assert answer.status_code == 303
        assert "refused" not in _wait_for_job(c, answer.headers["location"])


def test_a_format_the_library_would_not_walk_is_refused_not_stored(client: TestClient, catalog: tuple[Path, Path]):
    from PIL import Image

    lib, _db = catalog
    _login(client)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 80, 40)).save(buffer, format="PPM")
    token = _csrf(client.get("/upload").text)
    answer = client.post("/upload", files=[("files", ("x.ppm", buffer.getvalue(), "image/x-portable-pixmap"))],
                         data={"csrf": token})  # fmt: skip
    assert "not a photo format the library keeps" in answer.text and not (lib / "uploads").exists()


def test_only_an_administrator_withdraws_a_decision(client: TestClient, catalog: tuple[Path, Path]) -> None:
    _lib, db = catalog
    _login(client)
    page = client.get("/review")
    photo, token = _photo_on(page.text), _csrf(page.text)
    client.post(f"/review/{photo}", data={"answer": "n", "csrf": token})
    (review_id,) = sqlite3.connect(db).execute("select id from reviews").fetchone()
    shown = client.get(f"/photos/{photo}").text
    assert "withdraw" not in shown  # a volunteer: no such button...
    refused = client.post(f"/photos/{photo}/reviews/{review_id}/withdraw", data={"csrf": token})
    assert refused.status_code == 403 and len(_reviews(db)) == 1  # ... and no such right

    add_user(open_catalog(str(db)), "Sam", PASSWORD, role="admin")
    client.cookies.clear()
    _login(client, name="Sam")
    shown = client.get(f"/photos/{photo}").text
    assert "withdraw" in shown and client.get(f"/api/photos/{photo}").json()["final_verdict"] == "not_a_dog"
    done = client.post(f"/photos/{photo}/reviews/{review_id}/withdraw", data={"csrf": _csrf(shown)},
                       follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and _reviews(db) == []
    (model_verdict,) = sqlite3.connect(db).execute("select verdict from photos where sha256 = ?", (photo,)).fetchone()
    assert client.get(f"/api/photos/{photo}").json()["final_verdict"] == model_verdict  # the model's answer again
    assert client.post(f"/photos/{photo}/reviews/{review_id}/withdraw", data={"csrf": _csrf(shown)}).status_code == 404

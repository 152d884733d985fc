"""End to end in a real browser: headless Chromium (Debian's, driven by Playwright) against ``dogbreeds serve``'s
app on a loopback port. Skipped cleanly where either is missing; ``.ci/run`` installs both."""

from __future__ import annotations

import csv
import io
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dogbreeds.catalog.classify import Classifier
from dogbreeds.catalog.database import open_catalog
from dogbreeds.inference.predictor import Predictor

from .conftest import EXAMPLES

pytest.importorskip("fastapi")
pytest.importorskip("argon2")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt install chromium)")]

PASSWORD = "a volunteer's password"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The web app on a free loopback port, over a catalog of the sample photos with one volunteer."""
    from dogbreeds.catalog.users import add_user
    from dogbreeds.web.app import create_app
    from dogbreeds.web.settings import WebSettings

    root = tmp_path_factory.mktemp("browser")
    lib = root / "photos"
    shutil.copytree(EXAMPLES, lib, ignore=shutil.ignore_patterns("*.md"))
    db = root / "catalog.db"
    predictor = Predictor()
    engine = open_catalog(str(db))
    Classifier(predictor, engine, batch_size=4).run([lib])
    add_user(engine, "Camille", PASSWORD)
    engine.dispose()
    app = create_app(WebSettings(db=str(db), library=lib, cache=root / "thumbs"), predictor=predictor)
    port = _free_port()
    served = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    for _ in range(100):
        if served.started:
            break
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", db
    served.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="en-GB")
    yield context.new_page()
    context.close()


def test_a_photo_chosen_in_the_browser_is_identified(server: tuple[str, Path], page: Any) -> None:
    url, _db = server
    page.goto(url + "/")
    page.locator('form.upload:not(.camera) input[type="file"]').set_input_files(str(EXAMPLES / "pug.jpg"))
    page.wait_for_selector("p.sentence")  # chosen: the form sends itself
    assert "This dog is probably a pug" in page.inner_text("p.sentence")
    assert page.locator("figure.heatmap img").count() == 1
    assert page.locator("table.top5 th").first.inner_text() == "pug"


def test_logged_out_a_write_is_refused(server: tuple[str, Path], page: Any) -> None:
    url, db = server
    page.goto(url + "/review")
    assert page.url.startswith(url + "/login")  # sent to log in first
    sha = open_catalog(str(db), readonly=True).connect().exec_driver_sql("select sha256 from photos").scalar()
    answer = page.request.post(f"{url}/review/{sha}", form={"answer": "1", "csrf": "guessed"})
    assert answer.status == 401


def test_a_volunteer_reviews_a_photo_and_sees_it_in_the_library_and_the_export(
    server: tuple[str, Path], page: Any
) -> None:
    url, _db = server
    page.goto(url + "/login")
    page.fill('input[name="name"]', "Camille")
    page.fill('input[name="password"]', PASSWORD)
    page.click('form.login button[type="submit"]')
    page.wait_for_url(url + "/")
    page.goto(url + "/review")
    photo = page.get_attribute("section.review", "data-photo")
    second = page.locator('button[data-key="2"]').inner_text()
    breed_name = re.sub(r"^\s*2\s*|\s*[\d.]+%\s*$", "", second).strip()
    page.keyboard.press("2")  # the keyboard shortcut presses the second breed's button
    page.wait_for_function(f"document.querySelector('section.review')?.dataset.photo !== '{photo}'")
    assert "1 decided in this session" in page.inner_text("p.progress")

    page.goto(f"{url}/photos/{photo}")
    assert "decided by Camille" in page.inner_text("main") and breed_name in page.inner_text("main")
    exported = page.request.get(url + "/export/catalog.csv").text()
    row = next(r for r in csv.DictReader(io.StringIO(exported)) if r["sha256"] == photo)
    assert row["reviewer"] == "Camille" and row["reviewed_verdict"] == "dog"
    assert row["final_breed"] == row["reviewed_breed"]


def test_the_page_is_french_when_the_browser_asks_for_french(server: tuple[str, Path], browser: Any) -> None:
    url, _db = server
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.goto(url + "/")
    assert page.get_attribute("html", "lang") == "fr"
    assert "Quelle est la race de ce chien" in page.inner_text("h1")
    page.locator('form.upload:not(.camera) input[type="file"]').set_input_files(str(EXAMPLES / "pug.jpg"))
    page.wait_for_selector("p.sentence")
    assert "Ce chien est probablement un carlin" in page.inner_text("p.sentence")
    context.close()

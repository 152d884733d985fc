"""The web app through FastAPI's test client: every route, its answers checked against the library functions
behind it (the Predictor, the catalog's queries, stats, export), and every refusal (not an image, too large,
unknown filters, a failing catalog) one line, without a traceback or a server path."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dogbreeds.catalog.classify import Classifier
from dogbreeds.catalog.database import iter_rows, open_catalog
from dogbreeds.catalog.review import queue_keys, record, row_of
from dogbreeds.catalog.stats import catalog_stats
from dogbreeds.cli.predict import predictions_json
from dogbreeds.core.breeds import display_name
from dogbreeds.inference.display import sentence
from dogbreeds.inference.predictor import Predictor

from .conftest import EXAMPLES

pytest.importorskip("fastapi")  # the [web] extra
pytest.importorskip("httpx")  # the test client's
from fastapi.testclient import TestClient  # noqa: E402

from dogbreeds.web.app import create_app  # noqa: E402
from dogbreeds.web.settings import MB, WebSettings  # noqa: E402

PAGE_SIZE = 5
PHOTOS = sorted(p for p in EXAMPLES.iterdir() if p.suffix == ".jpg")
DEERHOUND, PUG, SHEPHERD = "n02092002-Scottish_deerhound", "n02110958-pug", "n02106662-German_shepherd"
MALTESE = "n02085936-Maltese_dog"


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, predictor: Predictor) -> tuple[Path, Path]:
    """The sample photos classified into a catalog by the catalog's own Classifier; one reviewed by ana."""
    root = tmp_path_factory.mktemp("web")
    lib = root / "photos"
    shutil.copytree(EXAMPLES, lib, ignore=shutil.ignore_patterns("*.md"))
    db = root / "catalog.db"
    Classifier(predictor, open_catalog(str(db)), batch_size=4).run([lib])
    engine = open_catalog(str(db))
    collie = next(r for r in iter_rows(engine) if r["path"].endswith("border_collie.jpg"))
    record(engine, row_of(engine, collie["path"]) or {}, "corrected", "n02106030-collie", "ana")
    engine.dispose()
    return lib, db


@pytest.fixture(scope="module")
def client(library: tuple[Path, Path], predictor: Predictor, tmp_path_factory: pytest.TempPathFactory) -> Any:
    lib, db = library
    settings = WebSettings(db=str(db), library=lib, cache=tmp_path_factory.mktemp("thumbs"), page_size=PAGE_SIZE)
    with TestClient(create_app(settings, predictor=predictor), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def identify_only(predictor: Predictor, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server without a catalog and with a 1 MB upload limit."""
    settings = WebSettings(cache=tmp_path_factory.mktemp("thumbs"), max_upload_bytes=1 * MB)
    with TestClient(create_app(settings, predictor=predictor), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_cookie_kept(client: TestClient) -> Any:
    """A test that chose a language in the address leaves the next one to its Accept-Language."""
    yield
    client.cookies.clear()


def _upload(path: Path, name: str | None = None) -> dict[str, Any]:
    return {"file": (name or path.name, path.read_bytes(), "image/jpeg")}


def _texts(page: str, css_class: str) -> list[str]:
    return [html.unescape(t).strip() for t in re.findall(rf'class="{css_class}[^"]*">([^<]*)<', page)]


def _assert_one_clean_line(text: str, *secrets: str) -> None:
    assert "Traceback" not in text and 'File "' not in text
    for secret in secrets:
        assert secret not in text


def _ids(page: str) -> list[str]:
    return re.findall(r'<a href="/photos/([0-9a-f]{64})">', page)


# --- Identify -------------------------------------------------------------------------------------------------


def test_the_identify_page_offers_the_camera_and_loads_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'type="file"' in page.text and 'accept="image/*"' in page.text and "capture" in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # every asset is served from here
    for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_a_photo_is_identified_as_the_predictor_says(client: TestClient, predictor: Predictor) -> None:
    expected = next(predictor.predict_paths([EXAMPLES / "scottish_deerhound.jpg"], top_k=5))
    assert expected.breed == DEERHOUND  # the answer is the model's, not a constant: a wrong page would differ
    page = client.post("/identify", files=_upload(EXAMPLES / "scottish_deerhound.jpg"))
    assert page.status_code == 200
    assert _texts(page.text, "sentence") == [sentence(expected)]
    assert f"Scottish deerhound ({expected.probability:.1%})" in sentence(expected)
    rows = re.findall(r'<th scope="row">([^<]*)</th>\s*<td><meter min="0" max="1" value="([0-9.]+)"', page.text)
    assert [name for name, _value in rows] == [display_name(k["breed"]) for k in expected.top_k]
    assert [float(v) for _name, v in rows] == pytest.approx([k["probability"] for k in expected.top_k], abs=1e-4)
    assert 'src="data:image/jpeg;base64,' in page.text  # the photo beside its answer, never stored
    # and the heat-map: a second picture, the model's view with the evidence for its top breed laid over it
    figure = re.search(r'<figure class="heatmap">\s*<img src="data:image/jpeg;base64,([^"]+)" alt="([^"]*)"', page.text)
    assert figure and "Scottish deerhound" in figure.group(2)
    with Image.open(io.BytesIO(base64.b64decode(figure.group(1)))) as heat:
        assert heat.size == (260, 260)


def test_no_heat_map_for_a_photo_without_a_dog(client: TestClient) -> None:
    page = client.post("/identify", files=_upload(EXAMPLES / "cat (not a dog).jpg"))
    assert page.status_code == 200 and "not_a_dog" in page.text and 'class="heatmap"' not in page.text


def test_api_predict_returns_what_predict_json_prints(client: TestClient, predictor: Predictor) -> None:
    photo = EXAMPLES / "pug.jpg"
    printed = json.loads(predictions_json([p.to_dict() for p in predictor.predict_paths([photo], top_k=5)]))[0]
    answer = client.post("/api/predict", files=_upload(photo, "C:\\fakepath\\../my pug.jpg"))
    assert answer.status_code == 200
    got = answer.json()
    assert got["path"] == "my pug.jpg"  # the client's name, its last part only: never a path here
    assert {**got, "path": printed["path"]} == printed
    assert got["breed"] == PUG and len(got["top_k"]) == 5
    assert len(client.post("/api/predict?top_k=2", files=_upload(photo)).json()["top_k"]) == 2


@pytest.mark.parametrize("route", ["/identify", "/api/predict"])
def test_a_file_that_is_not_a_photo_is_refused_in_one_line(client: TestClient, route: str, tmp_path: Path) -> None:
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(b"MZ\x90\x00\x03" + bytes(2000))  # a Windows executable renamed .jpg
    answer = client.post(route, files=_upload(fake))
    assert answer.status_code == 415
    message = answer.json()["detail"] if route.startswith("/api") else _texts(answer.text, "sentence")[0]
    assert "not a readable image" in message and "\n" not in message
    _assert_one_clean_line(answer.text, str(tmp_path), "site-packages")


def test_posting_without_a_photo_asks_for_one(client: TestClient) -> None:
    assert client.post("/api/predict").json() == {"detail": "choose a photo first"}
    page = client.post("/identify", files={"file": ("", b"", "application/octet-stream")})
    assert page.status_code == 400 and _texts(page.text, "problem") == ["choose a photo first"]


def test_an_upload_over_the_limit_is_refused(identify_only: TestClient) -> None:
    big = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, size=(700, 700, 3), dtype=np.uint8)
    Image.fromarray(noise).save(big, format="PNG")  # noise does not compress
    assert big.tell() > 1 * MB
    files = {"file": ("big.png", big.getvalue(), "image/png")}
    answer = identify_only.post("/api/predict", files=files)
    assert answer.status_code == 413 and answer.json() == {"detail": "the upload is too large: at most 1 MB"}
    page = identify_only.post("/identify", files=files)
    assert page.status_code == 413 and "the upload is too large" in _texts(page.text, "problem")[0]

    def endless() -> Any:  # no Content-Length: refused as the bytes pass the limit, not after
        yield b"--x\r\nContent-Disposition: form-data; name=file; filename=a.jpg\r\n\r\n"
        for _ in range(1000):
            yield bytes(10_000)

    streamed = identify_only.post(
        "/api/predict", content=endless(), headers={"content-type": "multipart/form-data; boundary=x"}
    )
    assert streamed.status_code == 413
    small = identify_only.post("/api/predict", files=_upload(EXAMPLES / "pug.jpg"))
    assert small.status_code == 200 and small.json()["breed"] == PUG  # under the limit: served as usual


def test_without_a_catalog_only_identify_is_offered(identify_only: TestClient) -> None:
    assert 'href="/library"' not in identify_only.get("/").text
    for route in ("/library", "/stats", "/api/photos", "/api/stats"):
        answer = identify_only.get(route)
        assert answer.status_code == 404 and "--db" in answer.text


# --- Languages ------------------------------------------------------------------------------------------------


def test_the_page_speaks_french_when_the_browser_asks(client: TestClient, predictor: Predictor) -> None:
    french = {"accept-language": "fr-FR,fr;q=0.9,en;q=0.8"}
    page = client.get("/", headers=french)
    assert '<html lang="fr">' in page.text and "Quelle est la race de ce chien" in page.text
    assert page.headers["content-language"] == "fr"
    english = client.get("/", headers={"accept-language": "en-GB,en;q=0.9,fr;q=0.5"})
    assert '<html lang="en">' in english.text and "Which breed is this dog?" in english.text
    answer = client.post("/identify", files=_upload(EXAMPLES / "pug.jpg"), headers=french)
    pug = next(predictor.predict_paths([EXAMPLES / "pug.jpg"]))
    assert pug.verdict == "dog"
    assert _texts(answer.text, "sentence") == [f"Ce chien est probablement un carlin ({pug.probability:.1%})"]
    refused = client.post("/api/predict", files={"file": ("a.jpg", b"nope", "image/jpeg")}, headers=french)
    # worded in the model's thread, in the visitor's language
    assert refused.json()["detail"] == "pas une photo que dogbreeds sait lire : pas une image lisible"


def test_lang_in_the_address_wins_and_is_remembered(client: TestClient) -> None:
    chosen = client.get("/?lang=fr", headers={"accept-language": "en"})
    assert '<html lang="fr">' in chosen.text and "lang=fr" in chosen.headers["set-cookie"]
    assert "SameSite=Lax" in chosen.headers["set-cookie"]
    again = client.get("/library", headers={"accept-language": "en"})  # the cookie now
    assert '<html lang="fr">' in again.text and "Photothèque" in again.text


# --- Library --------------------------------------------------------------------------------------------------


def test_the_library_is_paged(client: TestClient, library: tuple[Path, Path]) -> None:
    engine = open_catalog(str(library[1]), readonly=True)
    paths = [r["path"] for r in iter_rows(engine)]
    assert len(paths) == len(PHOTOS) == 12
    seen: list[str] = []
    for number in (1, 2, 3):
        page = client.get(f"/library?page={number}")
        assert page.status_code == 200 and "12 photos" in page.text
        assert f"page {number} of 3" in page.text
        seen += _ids(page.text)
        assert ('rel="next"' in page.text) == (number < 3) and ('rel="prev"' in page.text) == (number > 1)
    hashes = {r["path"]: r["sha256"] for r in iter_rows(engine)}
    assert seen == [hashes[p] for p in paths]  # every photo once, in the catalog's order
    assert _ids(client.get("/library?page=4").text) == []
    assert client.get("/library?page=0").status_code == 422


@pytest.mark.parametrize(
    ("search", "breed"), [("carlin", PUG), ("BICHON maltais", MALTESE), ("berger allemand", SHEPHERD)]
)
def test_the_library_finds_a_breed_by_its_french_name(
    client: TestClient, library: tuple[Path, Path], search: str, breed: str
) -> None:
    engine = open_catalog(str(library[1]), readonly=True)
    expected = [r["sha256"] for r in iter_rows(engine) if r["final_breed"] == breed]
    assert len(expected) == 1
    page = client.get("/library", params={"q": search})
    assert _ids(page.text) == expected and "1 photo" in page.text
    api = client.get("/api/photos", params={"breed": search}).json()
    assert [p["id"] for p in api["photos"]] == expected and api["photos"][0]["final_breed"] == breed


def test_an_unknown_breed_says_which_names_are_close(client: TestClient) -> None:
    page = client.get("/library", params={"q": "begle"})
    assert page.status_code == 200 and _ids(page.text) == []
    assert "beagle" in _texts(page.text, "problem")[0]
    api = client.get("/api/photos", params={"breed": "begle"})
    assert api.status_code == 422 and "beagle" in api.json()["detail"]


def test_filters_by_verdict_and_review(client: TestClient, library: tuple[Path, Path]) -> None:
    engine = open_catalog(str(library[1]), readonly=True)
    rows = list(iter_rows(engine))
    not_a_dog = [r["sha256"] for r in rows if r["final_verdict"] == "not_a_dog"]
    assert _ids(client.get("/library?verdict=not_a_dog").text) == not_a_dog and not_a_dog
    reviewed = client.get("/api/photos?review=reviewed").json()
    assert [p["name"] for p in reviewed["photos"]] == ["border_collie.jpg"]
    assert reviewed["photos"][0]["final_breed"] == "n02106030-collie"  # the volunteer's answer counts
    waiting = client.get("/api/photos?review=waiting&per_page=100").json()
    by_path = {r["path"]: r["sha256"] for r in rows}
    assert [p["id"] for p in waiting["photos"]] == [by_path[k] for k in queue_keys(engine)]
    bad = client.get("/api/photos?verdict=maybe")
    assert bad.status_code == 422 and set(bad.json()) == {"detail"}
    assert client.get("/api/photos?per_page=abc").json() == {
        "detail": "this request cannot be used as it is (check: per_page)"
    }


def test_api_photos_pages_and_names_no_server_path(client: TestClient, library: tuple[Path, Path]) -> None:
    first = client.get("/api/photos?per_page=5").json()
    assert (first["total"], first["pages"], len(first["photos"])) == (12, 3, 5)
    last = client.get("/api/photos?per_page=5&page=3").json()
    assert len(last["photos"]) == 2
    assert str(library[0]) not in json.dumps(first) + json.dumps(last)


def test_a_photo_page_shows_the_answer_and_the_review_history(client: TestClient) -> None:
    collie = client.get("/api/photos?review=reviewed").json()["photos"][0]["id"]
    page = client.get(f"/photos/{collie}")
    assert page.status_code == 200
    assert "Unsure: perhaps a Border collie" in _texts(page.text, "sentence")[0]
    assert "ana" in page.text and "corrected" in page.text and f'src="/photos/{collie}/large.jpg"' in page.text
    details = client.get(f"/api/photos/{collie}").json()
    assert details["model_breed"] == "n02106166-Border_collie" and details["final_breed"] == "n02106030-collie"
    assert [(r["decision"], r["reviewer"]) for r in details["reviews"]] == [("corrected", "ana")]
    assert len(details["top5"]) == 5 and details["names"] == ["border_collie.jpg"]
    # more like this: the nearest other photos by the catalog's embeddings, most similar first, never itself
    shown = re.findall(r'<li><a href="/photos/([0-9a-f]{64})">.*?· (-?[0-9.]+)</span>', page.text, re.S)
    assert len(shown) == 6 and collie not in [s for s, _ in shown]
    assert [float(v) for _s, v in shown] == sorted((float(v) for _s, v in shown), reverse=True)
    for missing in ("0" * 64, "not-a-hash"):
        assert client.get(f"/photos/{missing}").status_code == 404
        assert client.get(f"/api/photos/{missing}").json() == {"detail": "there is no such photo in the catalog"}


def test_thumbnails_are_made_once_then_served_from_the_cache(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dogbreeds.web.thumbs as thumbs

    reads: list[str] = []
    real = thumbs.read_regular_file
    monkeypatch.setattr(thumbs, "read_regular_file", lambda path, **kw: reads.append(path) or real(path, **kw))
    photo_id = client.get("/api/photos", params={"breed": "pug"}).json()["photos"][0]["id"]
    first = client.get(f"/photos/{photo_id}/thumb.jpg")
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(first.content))
    assert image.format == "JPEG" and max(image.size) <= 320 and not image.getexif()
    assert len(list(client.app.state.web.settings.cache.rglob(f"{photo_id}.jpg"))) == 1
    second = client.get(f"/photos/{photo_id}/thumb.jpg")
    assert second.content == first.content and len(reads) == 1  # the original was read once
    assert client.get(f"/photos/{photo_id}/huge.jpg").status_code == 404


def test_a_photo_outside_the_library_or_changed_since_is_not_shown(
    library: tuple[Path, Path], predictor: Predictor, tmp_path: Path
) -> None:
    lib, db = library
    settings = WebSettings(db=str(db), library=tmp_path, cache=tmp_path / "thumbs")
    with TestClient(create_app(settings, predictor=predictor)) as c:
        photo_id = c.get("/api/photos?per_page=1").json()["photos"][0]["id"]
        assert c.get(f"/photos/{photo_id}/thumb.jpg").status_code == 404  # the catalog's photos lie elsewhere


# --- Stats, export, API schema, failures ----------------------------------------------------------------------


def test_stats_count_what_the_catalog_stats_count(client: TestClient, library: tuple[Path, Path]) -> None:
    expected = catalog_stats(open_catalog(str(library[1]), readonly=True)).to_dict()
    assert client.get("/api/stats").json() == json.loads(json.dumps(expected))
    page = client.get("/stats")
    assert page.status_code == 200 and "12 photos" in page.text
    assert f"waiting in the review queue: {expected['waiting']}" in page.text
    assert 'href="/export/catalog.csv"' in page.text and display_name(SHEPHERD) in page.text


def test_the_csv_export_is_the_catalogs(client: TestClient) -> None:
    answer = client.get("/export/catalog.csv")
    assert answer.status_code == 200 and 'filename="catalog.csv"' in answer.headers["content-disposition"]
    lines = answer.text.splitlines()
    assert lines[0].startswith("path,sha256,") and len(lines) == 13
    assert "/tmp" not in answer.text and not any(line.startswith("/") for line in lines)  # no server path leaks
    assert client.get("/export/catalog.exe").status_code == 404


def test_the_schema_is_served_and_the_cdn_docs_are_not(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {
        "/api/predict",
        "/api/photos",
        "/api/photos/{photo_id}",
        "/api/stats",
        "/api/photos/{photo_id}/review",
    }
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


def test_failures_show_a_generic_page_without_details(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import dogbreeds.web.library as library
    from dogbreeds.core.errors import CatalogError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom in /srv/secret/catalog.db")

    monkeypatch.setattr(library, "browse", broken)
    page = client.get("/library")
    assert page.status_code == 500 and _texts(page.text, "problem") == [
        "something went wrong on the server; it has been logged"
    ]
    _assert_one_clean_line(page.text, "/srv/secret", "RuntimeError")

    def locked(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("the catalog is locked by another program: /srv/secret/catalog.db")

    monkeypatch.setattr(library, "browse", locked)
    api = client.get("/api/photos")
    assert api.status_code == 503 and "/srv/secret" not in api.text
    assert client.get("/no/such/page").status_code == 404


def test_serve_without_the_extra_names_the_pip_install(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "for name in ('fastapi', 'uvicorn', 'starlette'): sys.modules[name] = None\n"
        "from dogbreeds.cli import main\n"
        "sys.exit(main(['serve']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "pip install 'dogbreeds[web]'" in result.stderr


def test_the_web_app_imports_no_training_library() -> None:
    heavy = ("torch", "torchvision", "timm", "mlflow", "optuna")
    code = (
        "import sys; from dogbreeds.web import app, pages, api; from dogbreeds.cli import web; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""

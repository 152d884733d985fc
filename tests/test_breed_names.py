"""Breeds go by many names: French ones, short ones, misspelt ones; each leads to one breed, and names are shown in
the user's language."""

from __future__ import annotations

import pytest

from dogbreeds.catalog.review import decide
from dogbreeds.cli import main
from dogbreeds.core.breed_names import ALIASES, FRENCH
from dogbreeds.core.breeds import BREED_IDS, UnknownBreedError, _normalise, display_name, resolve_breed

from .conftest import EXAMPLES


def test_every_breed_has_a_french_name_and_no_name_leads_to_two_breeds() -> None:
    stanford = {b.split("-", 1)[1]: b for b in BREED_IDS}
    assert set(FRENCH) == set(stanford) and set(ALIASES) <= set(stanford)
    owner: dict[str, str] = {}
    for name, breed in stanford.items():
        for key in {_normalise(n) for n in (breed, FRENCH[name], *ALIASES.get(name, ()))}:
            assert owner.setdefault(key, breed) == breed, f"{key!r} names both {owner[key]} and {breed}"


@pytest.mark.parametrize(
    ("typed", "breed"),
    [
        ("Berger Allemand", "n02106662-German_shepherd"),
        ("berger-allemand", "n02106662-German_shepherd"),
        ("chiwawa", "n02085620-Chihuahua"),
        ("labrador", "n02099712-Labrador_retriever"),
        ("lévrier écossais", "n02092002-Scottish_deerhound"),
        ("levrier ecossais", "n02092002-Scottish_deerhound"),
        ("CARLIN", "n02110958-pug"),
        ("westie", "n02098286-West_Highland_white_terrier"),
        ("Scottish_deerhound", "n02092002-Scottish_deerhound"),
        ("n02110958", "n02110958-pug"),
    ],
)
def test_french_names_and_aliases_resolve(typed: str, breed: str) -> None:
    assert resolve_breed(typed) == breed


def test_an_unknown_name_suggests_breeds_in_the_users_language() -> None:
    with pytest.raises(UnknownBreedError, match="German shepherd"):
        resolve_breed("german sheperd")


def test_names_are_shown_in_the_users_language() -> None:
    assert display_name("n02110958-pug", "fr") == "carlin" and display_name("n02110958-pug", "en") == "pug"
    assert display_name("my_own_breed", "fr") == "my own breed"  # a breed outside the 120 keeps its name


def test_a_volunteer_may_type_a_breed_in_french_in_review() -> None:
    row = {"breed": "n02106550-Rottweiler", "verdict": "dog", "top5": [{"breed": "n02106550-Rottweiler"}]}
    assert decide("berger allemand", row) == ("corrected", "n02106662-German_shepherd")


def test_predict_speaks_french_breed_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "fr", "predict", str(EXAMPLES / "husky.jpg")]) == 0
    out = capsys.readouterr().out
    assert "husky de Sibérie" in out and "chien esquimau" in out
    assert main(["--lang", "fr", "predict", "--json", str(EXAMPLES / "husky.jpg")]) == 0
    assert '"name": "Siberian husky"' in capsys.readouterr().out  # JSON keeps its stable English values

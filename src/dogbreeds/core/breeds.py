"""The 120 Stanford Dogs breeds: canonical ids, human names, ImageNet indices, and name matching.

Canonical ids are the dataset's folder names (``n02092002-Scottish_deerhound``). Every Stanford breed is an
ImageNet-1k class; because both lists are sorted by WordNet id, the breed order here is also the order of their
ImageNet indices, which lets a backbone's own 1000-way head vote on breeds and on "dog or not".
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Collection

from dogbreeds.core.breed_names import ALIASES, EXTRA_BREEDS, FRENCH
from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _, current_language

_STANFORD_FOLDERS = """
n02085620-Chihuahua n02085782-Japanese_spaniel n02085936-Maltese_dog n02086079-Pekinese n02086240-Shih-Tzu
n02086646-Blenheim_spaniel n02086910-papillon n02087046-toy_terrier n02087394-Rhodesian_ridgeback
n02088094-Afghan_hound n02088238-basset n02088364-beagle n02088466-bloodhound n02088632-bluetick
n02089078-black-and-tan_coonhound n02089867-Walker_hound n02089973-English_foxhound n02090379-redbone
n02090622-borzoi n02090721-Irish_wolfhound n02091032-Italian_greyhound n02091134-whippet n02091244-Ibizan_hound
n02091467-Norwegian_elkhound n02091635-otterhound n02091831-Saluki n02092002-Scottish_deerhound
n02092339-Weimaraner n02093256-Staffordshire_bullterrier n02093428-American_Staffordshire_terrier
n02093647-Bedlington_terrier n02093754-Border_terrier n02093859-Kerry_blue_terrier n02093991-Irish_terrier
n02094114-Norfolk_terrier n02094258-Norwich_terrier n02094433-Yorkshire_terrier n02095314-wire-haired_fox_terrier
n02095570-Lakeland_terrier n02095889-Sealyham_terrier n02096051-Airedale n02096177-cairn
n02096294-Australian_terrier n02096437-Dandie_Dinmont n02096585-Boston_bull n02097047-miniature_schnauzer
n02097130-giant_schnauzer n02097209-standard_schnauzer n02097298-Scotch_terrier n02097474-Tibetan_terrier
n02097658-silky_terrier n02098105-soft-coated_wheaten_terrier n02098286-West_Highland_white_terrier
n02098413-Lhasa n02099267-flat-coated_retriever n02099429-curly-coated_retriever n02099601-golden_retriever
n02099712-Labrador_retriever n02099849-Chesapeake_Bay_retriever n02100236-German_short-haired_pointer
n02100583-vizsla n02100735-English_setter n02100877-Irish_setter n02101006-Gordon_setter
n02101388-Brittany_spaniel n02101556-clumber n02102040-English_springer n02102177-Welsh_springer_spaniel
n02102318-cocker_spaniel n02102480-Sussex_spaniel n02102973-Irish_water_spaniel n02104029-kuvasz
n02104365-schipperke n02105056-groenendael n02105162-malinois n02105251-briard n02105412-kelpie
n02105505-komondor n02105641-Old_English_sheepdog n02105855-Shetland_sheepdog n02106030-collie
n02106166-Border_collie n02106382-Bouvier_des_Flandres n02106550-Rottweiler n02106662-German_shepherd
n02107142-Doberman n02107312-miniature_pinscher n02107574-Greater_Swiss_Mountain_dog
n02107683-Bernese_mountain_dog n02107908-Appenzeller n02108000-EntleBucher n02108089-boxer n02108422-bull_mastiff
n02108551-Tibetan_mastiff n02108915-French_bulldog n02109047-Great_Dane n02109525-Saint_Bernard
n02109961-Eskimo_dog n02110063-malamute n02110185-Siberian_husky n02110627-affenpinscher n02110806-basenji
n02110958-pug n02111129-Leonberg n02111277-Newfoundland n02111500-Great_Pyrenees n02111889-Samoyed
n02112018-Pomeranian n02112137-chow n02112350-keeshond n02112706-Brabancon_griffon n02113023-Pembroke
n02113186-Cardigan n02113624-toy_poodle n02113712-miniature_poodle n02113799-standard_poodle
n02113978-Mexican_hairless n02115641-dingo n02115913-dhole n02116738-African_hunting_dog
"""

BREED_IDS: tuple[str, ...] = tuple(_STANFORD_FOLDERS.split())
NUM_BREEDS = len(BREED_IDS)

# ImageNet-1k indices of the breeds, in breed order: 151..268 without 251 (dalmatian, not in Stanford Dogs),
# then dingo, dhole and African hunting dog.
IMAGENET_INDICES: tuple[int, ...] = tuple([i for i in range(151, 269) if i != 251] + [273, 274, 275])
# Every ImageNet class that is a dog or looks like one (151-268 domestic dogs, dalmatian included; 269-272
# wolves and coyote, which huskies and malamutes are often taken for; 273-275 dingo, dhole, African hunting dog):
# the mass on these is the backbone's own belief that the photo shows a dog.
IMAGENET_DOG_INDICES: tuple[int, ...] = tuple(range(151, 276))
IMAGENET_OF: dict[str, int] = dict(zip(BREED_IDS, IMAGENET_INDICES, strict=True))  # breed id -> ImageNet class


def human_name(breed_id: str) -> str:
    """``n02092002-Scottish_deerhound`` -> ``Scottish deerhound`` (hyphens inside names are kept)."""
    _, _, rest = breed_id.partition("-") if re.match(r"^n\d{8}-", breed_id) else ("", "", breed_id)
    return rest.replace("_", " ")


def display_name(breed_id: str, language: str | None = None) -> str:
    """The name a user reads, in their language: ``n02110958-pug`` -> ``pug``, or ``carlin`` in French."""
    language = language or current_language()
    if language == "fr":
        if breed_id in EXTRA_BREEDS:
            return EXTRA_BREEDS[breed_id][0]
        key = breed_id.split("-", 1)[-1] if re.match(r"^n\d{8}-", breed_id) else breed_id
        return FRENCH.get(key) or human_name(breed_id)
    return human_name(breed_id)


def is_known_breed(breed_id: str) -> bool:
    """One of the 120 or of the wider vocabulary (:data:`~dogbreeds.core.breed_names.EXTRA_BREEDS`)."""
    return breed_id in _INDEX or breed_id in EXTRA_BREEDS


def _normalise(name: str) -> str:
    """A name as matched: without the WordNet id, accents, case, spaces or punctuation ("Berger-Allemand" ->
    "bergerallemand")."""
    name = re.sub(r"^n\d{8}[-_ ]?", "", name.strip().lower())
    name = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "", name)


_BY_KEY: dict[str, str] = {}  # every name a Stanford breed goes by (English, French, aliases), normalised -> its id
for _id in BREED_IDS:
    _stanford = _id.split("-", 1)[1]
    for _name in (_id, FRENCH[_stanford], *ALIASES.get(_stanford, ())):
        _BY_KEY.setdefault(_normalise(_name), _id)
    _BY_KEY[_id.split("-", 1)[0]] = _id
_WIDER_KEY: dict[str, str] = dict(_BY_KEY)  # ... and the breeds outside the 120
for _id, (_french, _aliases) in EXTRA_BREEDS.items():
    for _name in (_id, _french, *_aliases):
        _WIDER_KEY.setdefault(_normalise(_name), _id)


class UnknownBreedError(UsageError):
    """A folder or label names no breed we know; the message lists the closest names."""


def _closest(key: str, keys: dict[str, str]) -> str:
    close = difflib.get_close_matches(key, list(keys), n=8, cutoff=0.6) or difflib.get_close_matches(
        key, list(keys), n=8, cutoff=0.4
    )
    suggestions = list(dict.fromkeys(display_name(keys[k]) for k in close))[:3]
    return _("; closest: {names}", names=", ".join(suggestions)) if suggestions else ""


def resolve_breed(name: str) -> str:
    """Map a folder name or label to one of the 120 Stanford breed ids (a Stanford Dogs folder's labels).

    Accepts ``n02092002-Scottish_deerhound``, ``Scottish_deerhound``, ``scottish deerhound``, ``n02092002``, the
    French name (``lévrier écossais``, accents optional) and common aliases (``deerhound``); see
    :mod:`dogbreeds.core.breed_names`.

    Raises:
        UnknownBreedError: with the closest breed names, so a typo in a folder name is easy to fix.
    """
    wnid = name.strip().split("-", 1)[0]
    if re.fullmatch(r"n\d{8}", wnid) and wnid in _BY_KEY:  # a WordNet id, with or without its name
        return _BY_KEY[wnid]
    key = _normalise(name)
    if key in _BY_KEY:
        return _BY_KEY[key]
    raise UnknownBreedError(
        _("{name!r} is not one of the 120 Stanford Dogs breeds{hint}", name=name, hint=_closest(key, _BY_KEY))
    )


def new_class_id(name: str) -> str:
    """A breed nobody listed, named by a user (a folder name, a typed answer): its id is the name itself, tidied
    (spaces as underscores, no separators or control characters, at most 80 characters), so ``Berger de
    Picardie`` stays readable in catalogs and sorted folders."""
    name = unicodedata.normalize("NFC", name)
    name = "".join(c if c.isprintable() and c not in "/\\" else " " for c in name)
    return re.sub(r"\s+", "_", name.strip(" ._-"))[:80].strip("_")


def resolve_class(name: str, *, new_breeds: bool = False, also: Collection[str] = ()) -> str:
    """Map a folder name or a typed answer to a class id: one of the 120, a breed of the wider vocabulary
    (``dalmatien``, ``shiba``, ``croisé``), one of ``also`` (a model's own new breeds), or, with ``new_breeds``, a
    new class named after it.

    Raises:
        UnknownBreedError: no breed goes by that name (and ``new_breeds`` is off, or the name is empty); the
            message lists the closest names and says how to teach a new breed.
    """
    wnid = name.strip().split("-", 1)[0]
    if re.fullmatch(r"n\d{8}", wnid) and wnid in _BY_KEY:  # a WordNet id, with or without its name
        return _BY_KEY[wnid]
    key = _normalise(name)
    if key in _WIDER_KEY:
        return _WIDER_KEY[key]
    new = new_class_id(name)
    if new and (new_breeds or new in also):
        return new
    raise UnknownBreedError(
        _("{name!r} is not a breed dogbreeds knows{hint} (a new breed is learnt with --new-breeds)", name=name,
          hint=_closest(key, _WIDER_KEY))
    )  # fmt: skip


def class_list(found: set[str]) -> tuple[str, ...]:
    """The classes a model trained on ``found`` learns: all 120 (each keeps its ImageNet prior, seen or not), then
    the others in name order."""
    return BREED_IDS + tuple(sorted(found - set(BREED_IDS)))


_INDEX = {b: i for i, b in enumerate(BREED_IDS)}


def breed_index(name: str) -> int:
    """Position in the 120-way output of a folder name or label (see :func:`resolve_breed`)."""
    return _INDEX[resolve_breed(name)]

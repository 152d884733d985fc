"""Messages in the user's language: English in the code, French from ``locale/fr/LC_MESSAGES/dogbreeds.po``.

Every user-facing text goes through :func:`_` (or :func:`n_` for counts), written as a ``str.format`` template
with named fields, so a translator sees whole sentences and may reorder them::

    print(_("wrote {n} rows to {path}", n=n, path=out))

The catalogue is a gettext ``.po`` file kept with Babel (``make messages`` extracts and merges; a test fails when a
message has no French translation or a translation loses a field). It is read here with a small parser instead of a
compiled ``.mo``, so no generated binary lives in git and reading it costs about a millisecond. The language is
``--lang``, else ``$DOGBREEDS_LANG``, else the system locale (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG``),
else English. A web request speaks its visitor's language through :func:`speaking`, without changing the
process's.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import functools
import gettext
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "fr")
DOMAIN = "dogbreeds"
_LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def locale_dir() -> Path:
    return Path(str(resources.files("dogbreeds") / "locale"))


def choose_language(explicit: str | None = None, environ: dict[str, str] | None = None) -> str:
    """The language to speak: ``explicit``, else ``$DOGBREEDS_LANG``, else the system locale, else English."""
    env = os.environ if environ is None else environ
    candidates = [explicit, env.get("DOGBREEDS_LANG")]
    for var in _LOCALE_VARIABLES:  # LANGUAGE may list several, "fr:en"; C and POSIX mean "no preference"
        candidates += (env.get(var) or "").split(":")
    for value in candidates:
        code = (value or "").split(".")[0].split("_")[0].split("-")[0].lower()
        if code in LANGUAGES:
            return code
    return "en"


def _unquote(text: str) -> str:
    """A .po string literal's value: C escapes, as Python reads them."""
    return ast.literal_eval(text) if text.startswith('"') else ""


class PoTranslations(gettext.NullTranslations):
    """A gettext catalogue read straight from a ``.po`` file (fuzzy and untranslated entries are left out)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.catalog: dict[str | tuple[str, int], str] = {}
        for entry in _po_entries(path.read_text(encoding="utf-8")):
            if "fuzzy" in entry.get("flags", "") or "msgid" not in entry or entry["msgid"] == "":
                continue
            if "msgid_plural" in entry:
                forms = [entry.get(f"msgstr[{i}]", "") for i in range(2)]
                if all(forms):
                    for i, form in enumerate(forms):
                        self.catalog[(entry["msgid"], i)] = form
            elif entry.get("msgstr"):
                self.catalog[entry["msgid"]] = entry["msgstr"]

    def gettext(self, message: str) -> str:
        found = self.catalog.get(message)
        return found if isinstance(found, str) else message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        form = int(n > 1)  # French: "0 photo", "1 photo", "2 photos"
        return self.catalog.get((singular, form)) or (singular if n == 1 else plural)


def _po_entries(text: str) -> list[dict[str, str]]:
    """The entries of a .po file as dicts (``msgid``, ``msgstr``, ``msgstr[0]``..., ``flags``)."""
    entries: list[dict[str, str]] = []
    entry: dict[str, str] = {}
    key = None
    for raw in text.splitlines() + [""]:
        line = raw.strip()
        if not line:
            if entry:
                entries.append(entry)
            entry, key = {}, None
        elif line.startswith("#,"):
            entry["flags"] = entry.get("flags", "") + line[2:]
        elif line.startswith("#"):
            continue
        elif line.startswith('"') and key is not None:
            entry[key] += _unquote(line)
        else:
            key, _sep, value = line.partition(" ")
            if "msgid" in entry and key == "msgid":  # entries not separated by a blank line
                entries.append(entry)
                entry = {}
            entry[key] = _unquote(value.strip())
    return entries


@functools.cache
def _translations(language: str) -> gettext.NullTranslations:
    path = locale_dir() / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    return PoTranslations(path) if language != "en" and path.exists() else gettext.NullTranslations()


_language = choose_language()
# The language of one web request, where it differs from the process's: a context variable, because a server
# answers an English and a French visitor at the same time (a global would switch under one of them).
_context_language: contextvars.ContextVar[str | None] = contextvars.ContextVar("dogbreeds_language", default=None)


def set_language(language: str | None) -> str:
    """Speak ``language`` from now on (None: choose as the module docstring says); returns the language chosen."""
    global _language
    _language = choose_language(language)
    return _language


def current_language() -> str:
    return _context_language.get() or _language


@contextlib.contextmanager
def speaking(language: str) -> Iterator[str]:
    """Speak ``language`` (one of :data:`LANGUAGES`, else English) inside the block, in this context only: what a
    web request does for its visitor. Threads that the block hands work to keep it when given the context
    (``contextvars.copy_context().run``, as Starlette's thread pool does)."""
    token = _context_language.set(language if language in LANGUAGES else "en")
    try:
        yield current_language()
    finally:
        _context_language.reset(token)


def _(message: str, /, **fields: Any) -> str:
    """``message`` in the current language, its ``{fields}`` filled in."""
    text = _translations(current_language()).gettext(message)
    return text.format(**fields) if fields else text


def n_(singular: str, plural: str, n: int, /, **fields: Any) -> str:
    """The singular or plural form for ``n`` (also passed to the template as ``{n}``), in the current language."""
    text = _translations(current_language()).ngettext(singular, plural, n)
    return text.format(n=n, **fields)


def N_(message: str, /) -> str:
    """Mark a constant for translation without translating it now (it is translated where it is shown)."""
    return message

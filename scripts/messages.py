"""Keep the message catalogue in step with the code (``make messages``): extract every ``_()`` / ``n_()`` text from
``src/`` (Python and the web app's templates) and argparse's own words, then merge them into each language's
``.po`` (new texts untranslated, gone ones dropped). Translate what is new, then run the tests:
``tests/test_i18n.py`` fails while a text lacks French.

    python scripts/messages.py            # update src/dogbreeds/locale/*/LC_MESSAGES/dogbreeds.po
    python scripts/messages.py --check    # exit 1 if a .po is out of date or incomplete (what CI runs)
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "src" / "dogbreeds" / "locale"
KEYWORDS = {"_": None, "n_": (1, 2), "N_": None}
# the web app's pages call the same _() and n_() inside their Jinja templates (a template that does not parse
# fails here, instead of silently losing its texts)
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2.ext:babel_extract")]
OPTIONS = {"**/templates/**.html": {"silent": "false"}}


def template() -> Catalog:
    """Every text the program shows: ours, and argparse's (usage, errors), which it asks through gettext."""
    catalog = Catalog(project="dogbreeds", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT / "src"), method_map=METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        catalog.add(message, locations=[(filename, lineno)], auto_comments=comments, context=context)
    for lineno, message, comments, context in extract_from_file(
        "python", argparse.__file__, keywords={"_": None, "ngettext": (1, 2)}
    ):
        catalog.add(message, locations=[("argparse.py", lineno)], auto_comments=comments, context=context)
    return catalog


def updated(po: Path, pot: Catalog) -> bytes:
    """The .po merged with the texts of today's code. Its creation date moves only when the messages changed, so
    running this twice, or ``--check`` on a clean clone, finds nothing to do."""
    with open(po, "rb") as f:
        catalog = read_po(f, locale=po.parts[-3])
    kept_date = catalog.creation_date
    catalog.update(pot, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    new_date = catalog.creation_date
    catalog.creation_date = kept_date
    unchanged = _written(catalog)
    if unchanged == po.read_bytes():
        return unchanged
    catalog.creation_date = new_date
    return _written(catalog)


def _written(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_po(out, catalog, omit_header=False, no_location=True, sort_output=True, width=120)
    return out.getvalue()


def _translated(string: str | tuple[str, ...]) -> bool:
    return bool(string) and (not isinstance(string, tuple) or all(string))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a catalogue is out of date or incomplete")
    args = parser.parse_args()
    pot = template()
    stale = False
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/dogbreeds.po")):
        new = updated(po, pot)
        with open(po, "rb") as f:
            catalog = read_po(f, locale=po.parts[-3])
        missing = [m.id for m in catalog if m.id and not _translated(m.string)]
        if args.check:
            if new != po.read_bytes() or missing:
                print(f"{po.relative_to(ROOT)}: out of date or {len(missing)} untranslated; run make messages")
                stale = True
        else:
            po.write_bytes(new)
            print(f"updated {po.relative_to(ROOT)} ({len(pot)} messages)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())

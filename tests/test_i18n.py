"""Every text speaks French: the catalogue is complete, its translations keep their fields, our small .po reader
agrees with Babel's, and no function hides the translation function behind a local ``_``."""

from __future__ import annotations

import ast
import importlib.util
import re
import string
from pathlib import Path

import pytest

from dogbreeds.cli import main
from dogbreeds.core import i18n
from dogbreeds.core.i18n import PoTranslations, choose_language

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "dogbreeds"
PO = SRC / "locale" / "fr" / "LC_MESSAGES" / "dogbreeds.po"
PERCENT_FIELD = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[sdrifgex%]")

babel = pytest.importorskip("babel.messages.pofile", reason="Babel (the dev extra) keeps the catalogue")


def _catalog():
    with open(PO, "rb") as f:
        return babel.read_po(f, locale="fr")


def _messages_script():
    spec = importlib.util.spec_from_file_location("messages_script", ROOT / "scripts" / "messages.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _brace_fields(text: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def _percent_fields(text: str) -> list[str]:
    return sorted(m.group(0) if m.group(1) is None else m.group(1) for m in PERCENT_FIELD.finditer(text))


def test_every_text_of_the_code_has_its_french() -> None:
    extracted = {m.id if isinstance(m.id, str) else m.id[0] for m in _messages_script().template() if m.id}
    translated = {}
    for m in _catalog():
        if m.id and "fuzzy" not in m.flags:
            translated[m.id if isinstance(m.id, str) else m.id[0]] = m.string
    missing = sorted(t for t in extracted if not translated.get(t) or not all(translated[t]))
    assert not missing, f"{len(missing)} texts lack French (run make messages, then translate): {missing[:5]}"


def test_translations_keep_their_fields() -> None:
    for m in _catalog():
        if not m.id:
            continue
        ids = (m.id,) if isinstance(m.id, str) else m.id
        strings = (m.string,) if isinstance(m.string, str) else m.string
        for translation in strings:
            if not translation:
                continue
            if "python-brace-format" in m.flags or not m.python_format:
                assert _brace_fields(translation) == _brace_fields(ids[0]), (m.id, translation)
            if m.python_format:
                assert _percent_fields(translation) == _percent_fields(ids[-1]), (m.id, translation)


def test_our_po_reader_agrees_with_babel() -> None:
    ours = PoTranslations(PO).catalog
    theirs: dict[str | tuple[str, int], str] = {}
    for m in _catalog():
        if not m.id or "fuzzy" in m.flags:
            continue
        if isinstance(m.id, str):
            if m.string:
                theirs[m.id] = m.string
        elif all(m.string):
            for i, form in enumerate(m.string):
                theirs[(m.id[0], i)] = form
    assert ours == theirs


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _own_nodes(fn: ast.AST):
    """The nodes of ``fn``'s own scope: not those of nested functions, classes or comprehension variables (each
    has a scope of its own, so a ``_`` bound there hides nothing here)."""
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES):
            continue
        if isinstance(node, _COMPREHENSIONS):
            for gen in node.generators:  # the loop targets belong to the comprehension; the rest is read here too
                stack += [gen.iter, *gen.ifs]
            stack += [getattr(node, "elt", None) or node.key, getattr(node, "value", None)]
            stack = [n for n in stack if n is not None]
            continue
        yield node
        stack += list(ast.iter_child_nodes(node))


def _shadowing(tree: ast.AST) -> list[str]:
    """Functions that bind ``_`` in their own scope (``for _, x in``, ``a, _ = ...``, a parameter) and also call
    ``_()``: the call then hits the local, not the translation function (an UnboundLocalError or worse)."""
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        binds = any(a.arg == "_" for a in ast.walk(fn.args) if isinstance(a, ast.arg))
        calls = False
        for node in _own_nodes(fn):
            if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store):
                binds = True
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_":
                calls = True
        if binds and calls:
            found.append(f"{fn.name} (line {fn.lineno})")
    return found


def test_no_function_hides_the_translation_function() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        offenders += [f"{path.relative_to(SRC)}: {f}" for f in _shadowing(ast.parse(path.read_text(encoding="utf-8")))]
    assert not offenders, offenders


def test_the_shadowing_check_sees_a_hidden_translation_function() -> None:
    bad = "def f(rows):\n    for _, row in rows:\n        print(_('x'))\n"
    good = "def f(rows):\n    for _row in rows:\n        print(_('x'))\n"
    comprehension = "def f(rows):\n    print(_('x'), [r for _, r in rows])\n"
    nested = "def f(rows):\n    def g():\n        _ = 1\n    print(_('x'))\n"
    assert _shadowing(ast.parse(bad)) == ["f (line 1)"]
    assert _shadowing(ast.parse(good)) == _shadowing(ast.parse(comprehension)) == _shadowing(ast.parse(nested)) == []


def test_the_language_comes_from_the_flag_then_the_environment() -> None:
    assert choose_language("fr", {}) == "fr"
    assert choose_language(None, {"DOGBREEDS_LANG": "fr"}) == "fr"
    assert choose_language(None, {"LANG": "fr_FR.UTF-8"}) == "fr"
    assert choose_language(None, {"LANGUAGE": "de:fr", "LANG": "en_US.UTF-8"}) == "fr"
    assert choose_language(None, {"LANG": "C"}) == "en" and choose_language(None, {}) == "en"


def test_french_from_the_command_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOGBREEDS_LANG", "fr")
    try:
        assert main(["predict", str(ROOT / "examples" / "photos" / "beagle.jpg")]) == 0
        assert "Ce chien est probablement un beagle" in capsys.readouterr().out
        with pytest.raises(SystemExit):
            main(["classify"])
        err = capsys.readouterr().err
        assert err.startswith("utilisation : ") and "erreur" in err
        assert i18n.n_("{n} photo to review.", "{n} photos to review.", 0) == "0 photo à vérifier."  # 0 is singular
        assert i18n.n_("{n} photo to review.", "{n} photos to review.", 2) == "2 photos à vérifier."
    finally:
        i18n.set_language("en")
    assert i18n._("error: {message}", message="x") == "error: x"


def test_the_catalogue_file_is_what_make_messages_writes() -> None:
    """``make lint`` runs ``messages.py --check``: it must find nothing to do on a clean clone, whatever the time."""
    script = _messages_script()
    assert script.updated(PO, script.template()) == PO.read_bytes()

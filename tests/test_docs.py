"""The docs stay true to the code: the README's size and links, the catalog page's columns, the generated pictures,
and the site itself (``mkdocs build --strict``, which fails on a broken link)."""

from __future__ import annotations

import importlib.util
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dogbreeds.catalog import schema

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _architecture():
    spec = importlib.util.spec_from_file_location("architecture", ROOT / "scripts" / "architecture.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["architecture"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_readme_is_short_and_its_links_lead_somewhere() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    local = [link for link in LINK.findall(text) if not link.startswith(("http://", "https://"))]
    assert local, "the README links to the docs"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_catalog_page_describes_every_column() -> None:
    page = (ROOT / "docs" / "catalog.md").read_text(encoding="utf-8")
    for table in schema.metadata.sorted_tables:
        assert f"### `{table.name}`" in page, f"docs/catalog.md lacks the {table.name} table"
        for column in table.columns:
            assert f"`{column.name}`" in page, f"docs/catalog.md lacks {table.name}.{column.name}"


def test_package_picture_comes_from_the_imports_and_shows_no_cycle() -> None:
    architecture = _architecture()
    edges, modules = architecture.package_imports()
    assert {"core", "catalog", "inference", "training", "cli"} <= set(modules)
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    assert ("training", "training stack") in {(e.source, e.target) for e in edges}
    # the inference side reaches the training stack only inside functions
    for edge in edges:
        if edge.target == "training stack" and edge.source in {"core", "data", "inference", "catalog", "evaluation"}:
            assert not edge.module_level, edge

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    assert not [p for p in graph if reaches(p, p, set())], "a cycle between packages"
    svg = architecture.packages_svg()
    assert svg.startswith("<svg") and all(f">{name}<" in svg for name in modules)


def test_stage_picture_follows_the_classify_docstring() -> None:
    from dogbreeds.catalog.classify import Classifier

    stages = [name for name, _what in _architecture().classify_stages()]
    assert stages[0] == "walk" and stages[-1] == "prune" and len(stages) >= 6
    for name in stages[1:]:  # each stage after the walk (catalog.walk's stream) is a method of the pipeline
        assert hasattr(Classifier, name.replace(" ", "_")), f"Classifier has no stage {name!r}"
    assert "library_photos(" in inspect.getsource(Classifier.run)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None, reason="mkdocs missing")
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(["make", "-s", "docs", f"BIN={Path(sys.executable).parent}", "STAMP="],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (ROOT / "site" / "architecture" / "index.html").exists()
    assert (ROOT / "site" / "generated" / "packages.svg").exists()

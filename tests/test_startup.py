"""The inference side never imports torch, timm, mlflow or optuna: seconds of startup, gigabytes of install.

Three layers of defence: the import-linter contract in pyproject.toml (run by ``make lint`` and here), a check
that the contract's few allowed imports stay inside functions, and real commands run with the training stack made
unimportable, the way a ``pip install dogbreeds`` without ``[train]`` sees the world.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
EXAMPLES = ROOT / "examples" / "photos"
HEAVY = ("torch", "torchvision", "timm", "mlflow", "optuna")


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def _run_blocked(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``dogbreeds ARGS`` in a fresh interpreter where importing any heavy package fails."""
    code = (
        "import sys\n"
        f"for name in {HEAVY!r}: sys.modules[name] = None  # 'import torch' now raises ImportError\n"
        "from dogbreeds.cli import main\n"
        f"code = main({args!r})\n"
        f"loaded = [m for m in {HEAVY!r} if sys.modules.get(m) is not None]\n"
        "print('LOADED:' + ','.join(loaded))\n"
        "sys.exit(code)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_predict_path_imports_no_heavy_library() -> None:
    code = (
        "import sys; from dogbreeds import cli; from dogbreeds.inference import predictor, display; "
        "from dogbreeds.evaluation import evaluate, report; "
        "from dogbreeds.catalog import classify, database, review, sort; "
        "from dogbreeds.data import folders, summary; cli.build_parser(); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"inference path imported {out}"


def test_building_the_cli_imports_neither_numpy_nor_pillow() -> None:
    """`dogbreeds --help` and argument errors answer before NumPy, Pillow or a runtime are imported."""
    code = (
        "import sys; from dogbreeds import cli; cli.build_parser(); "
        "print(','.join(m for m in ('numpy', 'PIL', 'onnxruntime', 'openvino') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"building the CLI imported {out}"


@pytest.mark.slow
def test_predict_and_classify_run_without_the_training_stack(tmp_path: Path) -> None:
    predicted = _run_blocked(["predict", "--json", str(EXAMPLES / "pug.jpg")], tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    assert '"pug"' in predicted.stdout and "LOADED:\n" in predicted.stdout + "\n"

    db = tmp_path / "catalog.db"
    classified = _run_blocked(["classify", str(EXAMPLES), "--db", str(db)], tmp_path)
    assert classified.returncode == 0, classified.stderr
    assert db.stat().st_size > 0
    exported = _run_blocked(["export", "--db", str(db), "--out", str(tmp_path / "rows.csv")], tmp_path)
    assert exported.returncode == 0, exported.stderr
    rows = (tmp_path / "rows.csv").read_text().splitlines()
    assert len(rows) - 1 == len([p for p in EXAMPLES.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"}])


def test_training_commands_say_what_to_install_without_the_extra(tmp_path: Path) -> None:
    result = _run_blocked(["train", "--data", str(EXAMPLES), "--out", str(tmp_path / "run")], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "dogbreeds[train]" in result.stderr


def _imports_of(tree: ast.Module, target: str) -> list[tuple[ast.stmt, bool]]:
    """Every import of ``target`` (or a submodule) in ``tree``, with whether it sits inside a function."""
    found: list[tuple[ast.stmt, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import) and any(
                a.name == target or a.name.startswith(target + ".") for a in child.names
            ):
                found.append((child, inner))
            elif (
                isinstance(child, ast.ImportFrom)
                and child.module
                and (child.module == target or child.module.startswith(target + "."))
            ):
                found.append((child, inner))
            visit(child, inner)

    visit(tree, False)
    return found


def test_the_contracts_allowed_imports_stay_inside_functions() -> None:
    ignored = [rule for contract in _contracts() for rule in contract.get("ignore_imports", [])]
    assert ignored, "the forbidden contract lost its allowed imports: update this test"
    for rule in ignored:
        importer, target = (part.strip() for part in rule.split("->"))
        path = SRC / Path(*importer.split(".")).with_suffix(".py")
        imports = _imports_of(ast.parse(path.read_text()), target)
        assert imports, f"{rule}: no such import any more; drop it from pyproject.toml"
        for node, in_function in imports:
            assert in_function, f"{path.name}:{node.lineno} imports {target} at module level"


def test_the_function_level_checker_sees_module_level_imports() -> None:
    tree = ast.parse("import torch\ndef f():\n    from torch import nn\n")
    assert [inside for _node, inside in _imports_of(tree, "torch")] == [False, True]


@pytest.mark.skipif(
    shutil.which("lint-imports", path=str(Path(sys.executable).parent)) is None, reason="import-linter is not installed"
)
def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout

"""Draw the architecture from the code itself (``make docs``): the package picture and the classify pipeline.

The pictures are generated, never drawn by hand, so they cannot drift from the code:

- ``packages.svg``: the subpackages of ``src/dogbreeds`` in the layers of the import-linter contract
  (``pyproject.toml``), an arrow for each subpackage another one imports (solid: at module level; dashed: only inside
  functions, so it costs nothing until that function runs), and the training stack (torch, timm, mlflow,
  optuna) with who imports it. Imports are read from the source with ``ast``; nothing is imported or installed.
- ``classify-stages.svg``: the stages of ``dogbreeds classify``, read from the table in its module docstring.

    python scripts/architecture.py --out docs/generated
"""

from __future__ import annotations

import argparse
import ast
import html
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "dogbreeds"
TRAINING_STACK = ("torch", "torchvision", "timm", "mlflow", "optuna")
STACK = "training stack"
BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 170, 46, 40, 56, 24


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    module_level: bool


def layers() -> list[list[str]]:
    """The layers of the import-linter contract, top first, each a list of sibling subpackages."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [[name.strip().removeprefix("dogbreeds.") for name in layer.split("|")] for layer in contract["layers"]]


def _imported(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module]
    return []


def package_imports() -> tuple[list[Edge], dict[str, int]]:
    """Imports between subpackages (and of the training stack), and the number of modules in each subpackage."""
    found: dict[tuple[str, str], bool] = {}
    modules: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) < 2:
            continue  # dogbreeds/__init__.py, __main__.py
        source = parts[0]
        modules[source] = modules.get(source, 0) + 1

        def visit(node: ast.AST, in_function: bool, source: str = source) -> None:
            for child in ast.iter_child_nodes(node):
                inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                for name in _imported(child) if isinstance(child, ast.stmt) else []:
                    top = name.split(".")
                    if top[0] == "dogbreeds" and len(top) > 1 and top[1] != source and (PACKAGE / top[1]).is_dir():
                        target = top[1]
                    elif top[0] in TRAINING_STACK:
                        target = STACK
                    else:
                        continue
                    key = (source, target)
                    found[key] = found.get(key, False) or not inner
                visit(child, inner)

        visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return [Edge(s, t, level) for (s, t), level in sorted(found.items())], modules


def _svg(width: int, height: int, body: list[str]) -> str:
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="14">',
            "<defs><marker id='arrow' viewBox='0 0 10 10' refX='9' refY='5' markerWidth='7' markerHeight='7' "
            "orient='auto-start-reverse'><path d='M 0 0 L 10 5 L 0 10 z' fill='#555'/></marker></defs>",
            *body,
            "</svg>",
        ]
    )


def _box(x: float, y: float, title: str, subtitle: str, fill: str) -> list[str]:
    return [
        f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" stroke="#333"/>',
        f'<text x="{x + BOX_W / 2}" y="{y + 20}" text-anchor="middle" font-weight="bold">{html.escape(title)}</text>',
        f'<text x="{x + BOX_W / 2}" y="{y + 37}" text-anchor="middle" font-size="11" fill="#444">'
        f"{html.escape(subtitle)}</text>",
    ]


def _spread(x: float, i: int, n: int) -> float:
    """The i-th of n attachment points along a box edge starting at x, evenly spaced."""
    return x + BOX_W * (i + 1) / (n + 1)


def packages_svg() -> str:
    rows = layers()
    edges, modules = package_imports()
    edges = [e for e in edges if e.target != "core"]  # everything imports core: said in the legend instead
    widest = max(len(row) for row in rows)
    stack_gap = 120
    width = 2 * MARGIN + widest * BOX_W + (widest - 1) * GAP_X + stack_gap + BOX_W
    height = 2 * MARGIN + len(rows) * BOX_H + (len(rows) - 1) * GAP_Y + 50
    where: dict[str, tuple[float, float]] = {}
    body: list[str] = []
    inference_side = {"core", "data", "inference", "catalog", "evaluation", "web"}
    for r, row in enumerate(rows):
        row_w = len(row) * BOX_W + (len(row) - 1) * GAP_X
        x0 = MARGIN + (widest * BOX_W + (widest - 1) * GAP_X - row_w) / 2
        for i, name in enumerate(row):
            where[name] = (x0 + i * (BOX_W + GAP_X), MARGIN + r * (BOX_H + GAP_Y))
    training_y = where.get("training", (0, MARGIN))[1]
    where[STACK] = (width - MARGIN - BOX_W, training_y + (BOX_H + GAP_Y) / 2)
    edges = [e for e in edges if e.source in where and e.target in where]
    outgoing = {
        n: sorted((e for e in edges if e.source == n and e.target != STACK), key=lambda e: where[e.target][0])
        for n in where
    }
    incoming = {n: sorted((e for e in edges if e.target == n), key=lambda e: where[e.source][0]) for n in where}
    for edge in edges:
        (sx, sy), (tx, ty) = where[edge.source], where[edge.target]
        if edge.target == STACK:
            start = (sx + BOX_W, sy + BOX_H / 2)
            k = incoming[STACK].index(edge)
            end = (tx, ty + BOX_H * (k + 1) / (len(incoming[STACK]) + 1))
            bend = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        else:
            out, inc = outgoing[edge.source], incoming[edge.target]
            start = (_spread(sx, out.index(edge), len(out)), sy + BOX_H)
            end = (_spread(tx, inc.index(edge), len(inc)), ty)
            bend = ((start[0] + end[0]) / 2 + (end[1] - start[1]) * 0.15, (start[1] + end[1]) / 2)
        dash = "" if edge.module_level else ' stroke-dasharray="5 4"'
        body.append(
            f'<path d="M {start[0]:.0f} {start[1]:.0f} Q {bend[0]:.0f} {bend[1]:.0f} {end[0]:.0f} {end[1]:.0f}" '
            f'fill="none" stroke="#555" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>'
        )
    for name, (x, y) in where.items():
        if name == STACK:
            body += _box(x, y, STACK, ", ".join(TRAINING_STACK[:3]) + "...", "#f6d5d5")
        else:
            fill = "#d8ecd8" if name in inference_side else "#eeeeee" if name == "cli" else "#dde4f4"
            body += _box(x, y, name, f"{modules.get(name, 0)} modules", fill)
    legend = [
        "green: the inference side, which never imports the training stack at module level; blue: the training side;",
        "solid arrow: imported at module level; dashed: only inside a function; every package imports core.",
    ]
    for i, line in enumerate(legend):
        y = height - 34 + 16 * i
        body.append(f'<text x="{MARGIN}" y="{y}" font-size="12" fill="#333">{html.escape(line)}</text>')
    return _svg(width, height, body)


def classify_stages() -> list[tuple[str, str]]:
    """The ``(stage, what it does)`` rows of the table in ``catalog/classify.py``'s docstring."""
    doc = ast.get_docstring(ast.parse((PACKAGE / "catalog" / "classify.py").read_text(encoding="utf-8"))) or ""
    table = doc.split("::", 1)[1].strip().split("\n\n", 1)[0]
    stages = []
    for line in table.splitlines():
        words = line.strip().split("  ")
        name = words[0].strip()
        rest = " ".join(w.strip() for w in words[1:] if w.strip())
        what = rest.split("(")[0].strip()
        stages.append((name, what))
    return stages


def _stage_box(x: float, y: float, w: float, h: float, title: str, what: str) -> list[str]:
    lines = textwrap.wrap(what, 28)[:3]
    out = [
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="8" fill="#d8ecd8" stroke="#333"/>',
        f'<text x="{x + w / 2}" y="{y + 20}" text-anchor="middle" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, line in enumerate(lines):
        out.append(f'<text x="{x + w / 2}" y="{y + 38 + 14 * i}" text-anchor="middle" font-size="11" fill="#444">'
                   f"{html.escape(line)}</text>")  # fmt: skip
    return out


def stages_svg() -> str:
    """The stages in a snake of rows of four, so every arrow stays short."""
    stages = classify_stages()
    per_row, w, h, gap_x, gap_y = 4, 190, 80, 36, 40
    spot = {}
    for i in range(len(stages)):
        row, col = divmod(i, per_row)
        col = col if row % 2 == 0 else per_row - 1 - col
        spot[i] = (MARGIN + col * (w + gap_x), MARGIN + row * (h + gap_y))
    body: list[str] = []
    for i, (name, what) in enumerate(stages):
        x, y = spot[i]
        body += _stage_box(x, y, w, h, f"{i + 1}. {name}", what)
        if i + 1 in spot:
            nx, ny = spot[i + 1]
            if ny == y:
                forward = nx > x
                start = (x + w, y + h / 2) if forward else (x, y + h / 2)
                end = (nx, ny + h / 2) if forward else (nx + w, ny + h / 2)
            else:
                start, end = (x + w / 2, y + h), (nx + w / 2, ny)
            body.append(f'<line x1="{start[0]}" y1="{start[1]}" x2="{end[0]}" y2="{end[1]}" stroke="#555" '
                        'stroke-width="1.6" marker-end="url(#arrow)"/>')  # fmt: skip
    rows = (len(stages) + per_row - 1) // per_row
    return _svg(2 * MARGIN + per_row * w + (per_row - 1) * gap_x, 2 * MARGIN + rows * h + (rows - 1) * gap_y, body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "generated", help="folder for the SVG files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "packages.svg").write_text(packages_svg(), encoding="utf-8")
    (args.out / "classify-stages.svg").write_text(stages_svg(), encoding="utf-8")
    print(f"wrote {args.out / 'packages.svg'} and {args.out / 'classify-stages.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

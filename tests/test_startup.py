"""The inference path must never import torch, timm or mlflow: they cost seconds of startup."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "timm", "mlflow", "torchvision")


def test_predict_path_imports_no_heavy_library() -> None:
    code = (
        "import sys; from dogbreeds import cli; from dogbreeds.inference import predictor, display; "
        "from dogbreeds.evaluation import evaluate; from dogbreeds.catalog import classify, database, review, sort; "
        "from dogbreeds.data import folders, summary; cli.build_parser(); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"inference path imported {out}"

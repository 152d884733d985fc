"""``dogbreeds bench`` measures every requested combination and writes its JSON and chart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from dogbreeds.cli import main  # noqa: E402


@pytest.mark.slow
def test_bench_writes_a_row_per_combination_and_a_chart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "--model", "study_cnn1_test", "--batch-sizes", "1", "2", "--threads", "1",
            "--backends", "eager", "bf16", "onnx", "--seconds", "0", "--out", str(tmp_path),
            "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]  # fmt: skip
    assert main(args) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    combos = {(r["backend"], r["mode"], r["batch_size"]) for r in rows}
    expected = {(b, m, n) for b in ("eager", "bf16") for m in ("inference", "training") for n in (1, 2)}
    assert combos == expected | {("onnx", "inference", 1), ("onnx", "inference", 2)}
    assert all(r["images_per_second"] > 0 and r["threads"] == 1 and r["device"] == "cpu" for r in rows)
    with Image.open(tmp_path / "bench.png") as img:
        assert img.size[0] >= 400
    assert "images/s" in capsys.readouterr().out
    from dogbreeds.training.tracking import list_runs

    (run,) = list_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")  # the bench is a tracked run with one metric per row
    assert run["params"]["kind"] == "bench" and len(run["metrics"]) == len(rows)
    assert run["metrics"]["images_per_second.cpu.1t.bf16.training.b2"] > 0

"""Hyper-parameter search: a 2-trial Optuna study on tiny data, trials nested under the study's MLflow run."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
optuna = pytest.importorskip("optuna")
mlflow = pytest.importorskip("mlflow")

from dogbreeds.training.search import load_search  # noqa: E402

SEARCH = """
base:
  model: study_cnn1_test
  epochs: 2
  image_size: 64
  batch_size: 8
space:
  lr: {low: 0.001, high: 0.1, log: true}
  optimizer: {choices: [sgd, adamw]}
  model_args.widths: {choices: [[8, 16, 32], [4, 8, 16]]}
  model_args.dropout: {choices: [0.0, 0.5]}
metric: val_top1
"""


@pytest.mark.slow
def test_two_trial_search_runs_nested_trials_and_continues_its_study(
    tiny_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dogbreeds.cli import main
    from dogbreeds.core.card import load_card
    from dogbreeds.training.search import trials_table

    config = tmp_path / "search.yaml"
    config.write_text(SEARCH)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "study"
    args = ["search", "--config", str(config), "--data", str(tiny_tree), "--out", str(out), "--tracking-uri", uri]
    assert main([*args, "--trials", "2"]) == 0
    assert "best: trial" in capsys.readouterr().out
    rows = trials_table(out)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"]
    for r in rows:  # each trial trained with the values Optuna suggested, model arguments included
        card = load_card(out / f"trial_{r['number']:03d}")
        assert card.training["lr"] == pytest.approx(r["lr"]) and card.training["optimizer"] == r["optimizer"]
        assert card.model_args["widths"] == eval(r["model_args.widths"])
    runs = mlflow.MlflowClient(uri).search_runs(mlflow.get_experiment_by_name("dogbreeds").experiment_id)
    (parent,) = [r for r in runs if r.info.run_name.startswith("search")]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2 and "best_val_top1" in parent.data.metrics
    assert main([*args, "--trials", "1"]) == 0  # the study continues: a third trial
    assert len(trials_table(out)) == 3


def test_search_file_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("space:\n  learning_rate: {low: 0.1, high: 1}\n")
    with pytest.raises(ValueError, match="cannot search 'learning_rate'"):
        load_search(bad)
    bad.write_text("space:\n  lr: {low: 0.1}\n")
    with pytest.raises(ValueError, match="choices"):
        load_search(bad)


def test_every_experiment_config_loads() -> None:
    from dogbreeds.training.config import TrainConfig, load_config

    folder = Path(__file__).parents[1] / "experiments"
    configs = sorted(folder.glob("*.yaml"))
    assert len(configs) >= 8
    for path in configs:
        if path.name.startswith("search_"):
            spec = load_search(path)
            TrainConfig(data="d", out="o", **spec.get("base", {}))
        else:
            TrainConfig(data="d", out="o", **load_config(path))

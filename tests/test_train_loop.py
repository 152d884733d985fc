"""The from-scratch training loop: weights change, a killed-then-resumed run equals an uninterrupted one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from safetensors.torch import load_file  # noqa: E402

from dogbreeds.core.card import load_card  # noqa: E402
from dogbreeds.core.transforms import normalise_pixels  # noqa: E402
from dogbreeds.training.config import TrainConfig  # noqa: E402
from dogbreeds.training.loop import fit  # noqa: E402


def _cfg(data: Path, out: Path, **kw: object) -> TrainConfig:
    base = dict(model="study_cnn1_test", epochs=2, batch_size=4, lr=0.01, image_size=64, val_fraction=0.25, track=False)
    return TrainConfig(data=str(data), out=str(out), **{**base, **kw})  # type: ignore[arg-type]


class Killed(Exception):
    pass


def test_training_changes_weights_and_writes_a_card(tiny_tree: Path, tmp_path: Path) -> None:
    from dogbreeds.models.registry import create_model

    torch.manual_seed(0)
    initial = create_model("study_cnn1_test").state_dict()
    card = fit(_cfg(tiny_tree, tmp_path / "run", epochs=1))
    trained = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert any(not torch.equal(initial[k], trained[k]) for k in initial)
    assert load_card(tmp_path / "run").model == "study_cnn1_test" and card.model_args["parameters"] > 0
    (epoch,) = card.metrics["history"]
    assert {"train_loss", "val_loss", "val_top1", "images_per_second", "lr"} <= set(epoch)


@pytest.mark.parametrize("optimizer,schedule", [("sgd", "power"), ("adamw", "cosine")])
def test_killed_then_resumed_run_ends_with_the_same_weights(
    tiny_tree: Path, tmp_path: Path, optimizer: str, schedule: str
) -> None:
    whole = tmp_path / "whole"
    fit(_cfg(tiny_tree, whole, optimizer=optimizer, schedule=schedule))

    def kill_after_first_epoch(metrics: dict) -> None:
        if metrics["epoch"] == 1:
            raise Killed

    cut = tmp_path / "cut"
    with pytest.raises(Killed):
        fit(_cfg(tiny_tree, cut, optimizer=optimizer, schedule=schedule), on_epoch=kill_after_first_epoch)
    assert not (cut / "model.safetensors").exists() and (cut / "last" / "state.json").exists()
    fit(_cfg(tiny_tree, cut, optimizer=optimizer, schedule=schedule), resume=True)
    a, b = load_file(str(whole / "model.safetensors")), load_file(str(cut / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [[h["val_loss"] for h in load_card(run).metrics["history"]] for run in (cut, whole)]
    assert losses[0] == losses[1] and len(losses[0]) == 2


@pytest.mark.slow
def test_mlflow_run_has_params_per_epoch_metrics_and_artifacts(
    tiny_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mlflow")
    import json

    from dogbreeds.cli import main
    from dogbreeds.training.tracking import list_runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    def kill(metrics: dict) -> None:
        raise Killed

    with pytest.raises(Killed):
        fit(_cfg(tiny_tree, tmp_path / "run", track=True, tracking_uri=uri), on_epoch=kill)
    fit(_cfg(tiny_tree, tmp_path / "run", track=True, tracking_uri=uri), resume=True)
    (run,) = list_runs(uri)  # the resumed run continued the same MLflow run
    assert run["status"] == "FINISHED" and run["params"]["model"] == "study_cnn1_test"
    assert int(run["params"]["parameters"]) > 0 and "wall_seconds" in run["metrics"]
    import mlflow

    history = mlflow.MlflowClient(uri).get_metric_history(run["run_id"], "val_loss")
    assert [m.step for m in history] == [1, 2]
    artifacts = {a.path for a in mlflow.MlflowClient(uri).list_artifacts(run["run_id"])}
    assert {"model.json", "learning_curves.png"} <= artifacts
    assert (tmp_path / "run" / "learning_curves.png").stat().st_size > 1000
    assert main(["runs", "--tracking-uri", uri, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["run_id"] == run["run_id"]


def test_scratch_model_is_calibrated_exported_and_predicts_without_a_dog_verdict(
    tiny_tree: Path, tmp_path: Path
) -> None:
    import numpy as np

    from dogbreeds.inference.predictor import NOT_A_DOG, Predictor
    from dogbreeds.models.rebuild import load_model

    card = fit(
        _cfg(
            tiny_tree,
            tmp_path / "run",
            model="dognet_test",
            train_size=48,
            bf16=True,
            channels_last=True,
            flip_average=True,
        )
    )
    assert {"val_top1_with_flip", "val_top1_without_flip"} <= set(card.metrics["val"])
    assert card.temperature > 0 and card.verdicts.min_dog_score == 0.0  # no ImageNet head: never not_a_dog
    predictor = Predictor(tmp_path / "run")
    photos = sorted(tiny_tree.rglob("*.jpg"))[:4]
    preds = list(predictor.predict_paths(photos))
    assert all(p.dog_probability is None and p.verdict != NOT_A_DOG and p.breed in card.classes for p in preds)
    # ONNX graph == the torch model rebuilt from the checkpoint folder alone
    pixels = np.stack([predictor.load(p) for p in photos])
    onnx_logits = predictor.run_pixels(pixels).logits
    with torch.inference_mode():
        images = torch.from_numpy(normalise_pixels(pixels, card.preprocess))
        torch_logits = load_model(tmp_path / "run")(images)[-1].numpy()
    assert np.abs(onnx_logits - torch_logits).max() < 1e-4


def test_config_file_sets_training_and_unknown_keys_are_refused(tiny_tree: Path, tmp_path: Path) -> None:
    from dogbreeds.cli import main
    from dogbreeds.training.config import load_config

    config = tmp_path / "exp.yaml"
    config.write_text("model: dognet_test\nepochs: 5\nimage_size: 64\nbatch_size: 8\nseed: 3\n")
    out = tmp_path / "run"
    args = ["train", "--config", str(config), "--data", str(tiny_tree), "--out", str(out), "--no-track"]
    assert main([*args, "--max-epochs", "1", "--max-train-samples", "10", "--val-fraction", "0.25"]) == 0
    card = load_card(out)
    assert card.model == "dognet_test" and len(card.metrics["history"]) == 1  # --max-epochs caps the config's 5
    assert card.training["max_train_samples"] == 10 and card.training["batch_size"] == 8
    assert card.training["seed"] == 3 and card.training["val_fraction"] == 0.25  # the file's, then the flags'
    config.write_text("model: dognet_test\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError, match="unknown setting.*learning_rate"):
        load_config(config)


@pytest.mark.slow
def test_report_compares_two_tiny_runs_offline(
    tiny_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import re

    from PIL import Image

    from dogbreeds.cli import main

    fit(_cfg(tiny_tree, tmp_path / "scratch a", model="dognet_test", epochs=2))
    fit(_cfg(tiny_tree, tmp_path / "scratch b", model="study_cnn1_test", epochs=1))
    out = tmp_path / "report"
    args = ["report", str(tmp_path / "scratch a"), str(tmp_path / "scratch b"), "--out", str(out)]
    assert main([*args, "--data", str(tiny_tree), "--speed-seconds", "0.2"]) == 0
    assert "report ->" in capsys.readouterr().out
    page = (out / "index.html").read_text()
    assert "scratch a" in page and "scratch b" in page and "from scratch" in page
    images = re.findall(r"src='([^']+)'", page)
    assert set(images) == {"comparison.png", "learning_curves.png"}  # beside the page: opens offline
    for name in images:
        with Image.open(out / name) as im:
            assert im.width >= 600 and im.height >= 200
    md = (out / "report.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| scratch")]
    assert len(table) == 2 and all("%" in line and "min" in line for line in table)
    cached = sorted((out / "models").glob("*/predictions.csv"))
    assert len(cached) == 2  # predictions kept, so a re-run does not evaluate again
    mtime = cached[0].stat().st_mtime_ns
    assert main([*args, "--data", str(tiny_tree), "--speed-seconds", "0.2"]) == 0
    assert cached[0].stat().st_mtime_ns == mtime


def test_resume_finds_the_checkpoint_a_kill_left_mid_swap_and_an_early_stop_stays_stopped(
    tiny_tree: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    with pytest.raises(Killed):

        def kill(metrics: dict) -> None:
            raise Killed

        fit(_cfg(tiny_tree, run), on_epoch=kill)
    (run / "last").rename(run / ".last.old")  # killed between moving the previous folder away and the new one in
    fit(_cfg(tiny_tree, run), resume=True)
    assert len(load_card(run).metrics["history"]) == 2  # continued from epoch 1, not from scratch
    stopped = tmp_path / "stopped"
    fit(_cfg(tiny_tree, stopped, epochs=6, lr=0.0, early_stop_patience=1))  # lr 0: no progress, stops at epoch 2
    assert len(load_card(stopped).metrics["history"]) == 2
    fit(_cfg(tiny_tree, stopped, epochs=6, lr=0.0, early_stop_patience=1), resume=True)
    assert len(load_card(stopped).metrics["history"]) == 2  # resuming a stopped run does not train on


def test_progressive_resizing_trains_each_size_over_its_share_of_the_epochs(tiny_tree: Path, tmp_path: Path) -> None:
    cfg = _cfg(tiny_tree, tmp_path / "run", model="dognet_test", epochs=5, image_size=40, train_size=[24, 32, 40])
    assert [cfg.train_size_at(e, 40) for e in range(5)] == [24, 24, 32, 32, 40]
    assert _cfg(tiny_tree, tmp_path, train_size=28).train_size_at(3, 64) == 28
    assert _cfg(tiny_tree, tmp_path).train_size_at(0, 64) == 64
    assert [replace(cfg, epochs=2).train_size_at(e, 40) for e in range(2)] == [24, 40]  # ends at the last size
    with pytest.raises(ValueError, match="train_size"):
        _cfg(tiny_tree, tmp_path, train_size=[32, 0])
    card = fit(replace(cfg, epochs=3))
    assert [h["train_size"] for h in card.metrics["history"]] == [24, 32, 40]
    assert card.preprocess.input_size == 40


def test_early_stopping_returns_the_best_epoch_not_the_last(
    tiny_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation loss 1.0, 0.5, 0.9, 0.95 with patience 2: the run stops after epoch 4 and ships epoch 2."""
    import dogbreeds.training.loop as loop

    losses = iter([1.0, 0.5, 0.9, 0.95])
    weights_after: dict[int, dict] = {}
    real_evaluate = loop.evaluate

    def scripted(model, data, preprocess, cfg):  # type: ignore[no-untyped-def]
        metrics = real_evaluate(model, data, preprocess, cfg)
        weights_after[len(weights_after) + 1] = {k: v.clone() for k, v in model.state_dict().items()}
        return {**metrics, "val_loss": next(losses)}

    monkeypatch.setattr(loop, "evaluate", scripted)
    card = fit(_cfg(tiny_tree, tmp_path / "run", epochs=8, early_stop_patience=2))
    assert len(card.metrics["history"]) == 4 and card.metrics["val"]["epoch"] == 2
    assert card.metrics["val"]["best_epoch"] == 2 and card.metrics["val"]["val_loss"] == 0.5
    shipped = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert all(torch.equal(shipped[k], weights_after[2][k]) for k in shipped)
    assert any(not torch.equal(shipped[k], weights_after[4][k]) for k in shipped)

"""Feature extraction -> head -> checkpoint -> ONNX -> Predictor -> CLI, on tiny synthetic photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from dogbreeds.cli import main  # noqa: E402
from dogbreeds.core.breeds import breed_index  # noqa: E402
from dogbreeds.core.card import load_card  # noqa: E402
from dogbreeds.inference.predictor import Predictor  # noqa: E402
from dogbreeds.training.feature_head import FeaturesConfig, train_features  # noqa: E402

from .conftest import COLOURS, make_photo  # noqa: E402


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Fixed random weights for timm's tiny test network, as a local file (no hub)."""
    import timm
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "test_efficientnet.pth"
    torch.save(timm.create_model("test_efficientnet").state_dict(), path)
    return f"file:{path}"


def tiny_config(data: Path, out: Path, weights: str) -> FeaturesConfig:
    return FeaturesConfig(
        data=str(data),
        out=str(out),
        backbone="test_efficientnet",
        weights=weights,
        val_fraction=0.25,
        track=False,
    )


@pytest.fixture(scope="module")
def trained(tiny_tree: Path, weights_file: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A features-head checkpoint on timm's tiny test backbone (the breeds' colours are easy to separate)."""
    work = tmp_path_factory.mktemp("trained")
    train_features(tiny_config(tiny_tree, work / "ckpt", weights_file), cache_root=work / "cache")
    return work / "ckpt", work / "cache"


def test_checkpoint_describes_itself(trained: tuple[Path, Path], tiny_tree: Path) -> None:
    ckpt, _ = trained
    assert {p.name for p in ckpt.iterdir()} >= {"model.json", "model.safetensors", "model.onnx"}
    card = load_card(ckpt)
    assert card.backbone == "test_efficientnet" and len(card.classes) == 120
    assert card.preprocess.input_size == 160 and card.temperature > 0
    assert card.training["n_train"] + card.training["n_val"] == 24
    assert len(card.data_fingerprint) == 16 and card.metrics["val"]["n"] == 6


def test_second_run_uses_the_embedding_cache(
    trained: tuple[Path, Path], tiny_tree: Path, weights_file: str, tmp_path: Path
) -> None:
    _, cache = trained
    chunks = sorted((cache / "features").rglob("chunk-*.npz"))
    card = train_features(tiny_config(tiny_tree, tmp_path / "again", weights_file), cache_root=cache)
    assert sorted((cache / "features").rglob("chunk-*.npz")) == chunks  # nothing new was embedded
    assert card.data_fingerprint == load_card(trained[0]).data_fingerprint


def test_new_weights_never_reuse_cached_embeddings(trained: tuple[Path, Path], tiny_tree: Path, tmp_path: Path) -> None:
    _, cache = trained
    before = set((cache / "features").iterdir())
    train_features(tiny_config(tiny_tree, tmp_path / "random", None), cache_root=cache)  # type: ignore[arg-type]
    assert len(set((cache / "features").iterdir()) - before) == 1


def test_predictor_learns_the_tiny_breeds(trained: tuple[Path, Path], tmp_path: Path) -> None:
    ckpt, _ = trained
    photo = make_photo(tmp_path / "new pug.jpg", (40, 200, 40), seed=999)
    (p,) = Predictor(ckpt).predict_paths([photo], top_k=3)
    assert p.error is None and p.breed == "n02110958-pug"
    assert 0 < p.probability <= 1 and len(p.top_k) == 3
    assert p.top_k[0]["probability"] >= p.top_k[1]["probability"] >= p.top_k[2]["probability"]


def test_checkpoint_round_trip_gives_identical_logits(trained: tuple[Path, Path], tmp_path: Path) -> None:
    import torch

    from dogbreeds.inference.onnx_session import open_session, run_session
    from dogbreeds.models.rebuild import export_checkpoint, load_model

    ckpt, _ = trained
    model = load_model(ckpt)
    assert not model.flip_average  # a one-view graph: the Predictor makes the mirror pass (card.mirror_below)
    x = torch.randn(2, 3, 160, 160)
    with torch.inference_mode():
        torch_logits = model(x)[2].numpy()
    onnx_logits = run_session(open_session(ckpt / "model.onnx"), x.numpy())["breed_logits"]
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-4)
    again = export_checkpoint(ckpt, tmp_path / "copy.onnx")
    assert load_card(again).classes == load_card(ckpt).classes
    np.testing.assert_allclose(run_session(open_session(again), x.numpy())["breed_logits"], onnx_logits, atol=1e-5)


def test_cli_predict_json(trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt, _ = trained
    folder = tmp_path / "photos ünï"
    make_photo(folder / "dog.jpg", (200, 40, 40), seed=5)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    assert main(["predict", str(folder), "--model", str(ckpt), "--json", "--top-k", "2"]) == 0
    rows = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert rows["dog.jpg"]["breed"] == "n02092002-Scottish_deerhound" and rows["dog.jpg"]["error"] is None
    assert set(rows["dog.jpg"]) >= {"path", "breed", "name", "probability", "top_k", "error", "verdict"}
    assert len(rows["dog.jpg"]["top_k"]) == 2 and rows["dog.jpg"]["name"] == "Scottish deerhound"
    assert rows["broken.jpg"]["error"] and rows["broken.jpg"]["breed"] is None


def test_cli_evaluate_writes_metrics_and_predictions(
    trained: tuple[Path, Path], tiny_tree: Path, tmp_path: Path
) -> None:
    ckpt, _ = trained
    code = main(
        [
            "evaluate",
            "--data",
            str(tiny_tree),
            "--model",
            str(ckpt),
            "--json-out",
            str(tmp_path / "m.json"),
            "--predictions",
            str(tmp_path / "p.csv"),
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n"] == 24 and metrics["top1"] > 0.9 and metrics["top5"] == 1.0 and metrics["loss"] >= 0
    assert 0 <= metrics["ece"] <= 1
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert len(lines) == 25 and lines[0].startswith("path,label,")


def test_cli_train_with_a_one_photo_breed_fails_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_photo(tmp_path / "pug" / "a.jpg", (0, 0, 0))
    make_photo(tmp_path / "pug" / "b.jpg", (0, 0, 0))
    make_photo(tmp_path / "beagle" / "only.jpg", (0, 0, 0))
    code = main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--backbone", "test_efficientnet"])
    assert code == 2 and "beagle" in capsys.readouterr().err


def test_cli_errors_are_one_clear_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["predict", str(tmp_path / "x.jpg"), "--model", str(tmp_path / "nope")]) == 2
    assert "no model" in capsys.readouterr().err
    (tmp_path / "labradoodle").mkdir()
    make_photo(tmp_path / "labradoodle" / "a.jpg", (0, 0, 0))
    assert main(["evaluate", "--data", str(tmp_path)]) == 2
    assert "Labrador retriever" in capsys.readouterr().err


def test_label_of_tiny_tree_breeds() -> None:
    assert breed_index("pug") != breed_index("Scottish deerhound")


def test_val_frames_are_the_validation_and_their_own_photos_leave_training(
    tiny_tree: Path, weights_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The honest split: whole frames validate; the training photo of the same name (its crop) is not trained on."""
    import dataclasses

    from dogbreeds.core.errors import UsageError
    from dogbreeds.training import feature_head

    frames = tmp_path / "frames"
    for b, (folder, colour) in enumerate(COLOURS.items()):
        for i in range(3):  # the same names as three of each breed's training photos
            make_photo(frames / folder / f"photo {i}.jpg", colour, size=(96, 72), seed=500 + 10 * b + i)
    cfg = dataclasses.replace(tiny_config(tiny_tree, tmp_path / "ckpt", weights_file), val_frames=(str(frames),))
    with pytest.raises(UsageError, match="at least 100"):
        train_features(cfg, cache_root=tmp_path / "cache")
    monkeypatch.setattr(feature_head, "MIN_VALIDATION_PHOTOS", 6)
    card = train_features(cfg, cache_root=tmp_path / "cache")
    assert card.training["n_val"] == 9 and card.training["n_train"] == 24 - 9
    assert card.model_args["flip_average"] is False and 0 <= card.mirror_below <= 1  # one-view graph
    assert Predictor(tmp_path / "ckpt", backend="onnx").card.mirror_below == card.mirror_below
    make_photo(frames / "beagle" / "x.jpg", (1, 2, 3))
    with pytest.raises(UsageError, match="beagle"):
        train_features(cfg, cache_root=tmp_path / "cache")
    (frames / "beagle" / "x.jpg").unlink()
    pug = next(f for f in COLOURS if "pug" in f)
    for i in range(3, 8):  # now every pug photo is a validation frame: none left to train on
        make_photo(frames / pug / f"photo {i}.jpg", COLOURS[pug], size=(96, 72), seed=600 + i)
    with pytest.raises(UsageError, match="without a training photo"):
        train_features(cfg, cache_root=tmp_path / "cache")


def test_val_frames_refuse_the_test_list_photos(
    tiny_stanford: Path, weights_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a Stanford folder, a frame of a test-list photo never validates (the test list is for the numbers only),
    whatever its folder is called."""
    import dataclasses

    from dogbreeds.training import feature_head

    frames = tmp_path / "frames"
    for breed, wnid, folder in (("n02092002-Scottish_deerhound", "n02092002", "Scottish_deerhound"),
                                ("n02110958-pug", "n02110958", "carlin")):  # fmt: skip
        for i in (0, 1, 4):  # 0 and 1 are train-list photos, 4 a test-list one
            make_photo(frames / folder / f"{wnid}_{i}.jpg", (200, 40, 40) if "deer" in breed else (40, 200, 40))
    monkeypatch.setattr(feature_head, "MIN_VALIDATION_PHOTOS", 4)
    cfg = dataclasses.replace(tiny_config(tiny_stanford, tmp_path / "ckpt", weights_file), split="train",
                              val_frames=(str(frames),))  # fmt: skip
    card = train_features(cfg, cache_root=tmp_path / "cache")
    t = card.training
    assert t["val_frames_refused_test"] == 2 and t["n_val"] == 4 and t["n_train"] == 8 - 4

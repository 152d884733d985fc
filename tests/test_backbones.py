"""Offline ImageNet weights: the key renaming, the hub code path pointed at a local file, and ONNX parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from dogbreeds.core.transforms import eval_transform  # noqa: E402
from dogbreeds.data.images import load_rgb  # noqa: E402
from dogbreeds.models.backbones import PACKAGED, backbone_preprocess, create_backbone, rename_lite_keys  # noqa: E402
from dogbreeds.models.heads import BreedModel  # noqa: E402

from .conftest import EXAMPLES  # noqa: E402

PUG = 254  # ImageNet-1k index of "pug, pug-dog"


@pytest.fixture(scope="module")
def lite0() -> torch.nn.Module:
    pytest.importorskip(PACKAGED["tf_efficientnet_lite0"])
    return create_backbone("tf_efficientnet_lite0", weights="packaged")


def test_packaged_weights_classify_a_known_photo(lite0: torch.nn.Module) -> None:
    x = torch.from_numpy(eval_transform(backbone_preprocess(lite0))(load_rgb(EXAMPLES / "pug.jpg")))[None]
    with torch.inference_mode():
        probs = lite0(x).softmax(1)[0]
    assert int(probs.argmax()) == PUG and float(probs[PUG]) > 0.5


def test_key_renaming_covers_every_tensor(lite0: torch.nn.Module) -> None:
    import timm

    from dogbreeds.models.backbones import _block_positions, load_weights_file, packaged_weights_file

    source = load_weights_file(packaged_weights_file("tf_efficientnet_lite0"))
    renamed = rename_lite_keys(source, _block_positions(timm.create_model("tf_efficientnet_lite0")))
    target = lite0.state_dict()
    assert set(renamed) == set(target)
    assert all(renamed[k].shape == target[k].shape for k in target)
    assert "blocks.1.0.conv_pwl.weight" in renamed and "blocks.0.0.conv_pw.weight" in renamed


def test_timm_pretrained_path_offline_from_a_local_file(tmp_path: Path) -> None:
    import timm

    reference = timm.create_model("test_efficientnet")
    torch.save(reference.state_dict(), tmp_path / "weights.pth")
    loaded = create_backbone("test_efficientnet", weights=f"file:{tmp_path / 'weights.pth'}")
    for key, value in reference.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key


def test_missing_weights_file_and_unknown_source_are_clear_errors() -> None:
    with pytest.raises(FileNotFoundError, match="no weights file"):
        create_backbone("test_efficientnet", weights="file:/nonexistent.pth")
    with pytest.raises(ValueError, match="unknown weights source"):
        create_backbone("test_efficientnet", weights="imagenet")
    with pytest.raises(ValueError, match="no packaged weights"):
        create_backbone("resnet18", weights="packaged")


def test_onnx_export_matches_torch(tmp_path: Path) -> None:
    from dogbreeds.inference.onnx_session import open_session, run_session
    from dogbreeds.models.onnx_export import export_onnx

    torch.manual_seed(0)
    backbone = create_backbone("test_efficientnet", weights=None)
    head = torch.nn.Linear(backbone.num_features, 120)
    path = export_onnx(BreedModel(backbone, head), 64, tmp_path / "m.onnx")
    x = torch.randn(3, 3, 64, 64)
    with torch.inference_mode():
        feats = backbone.forward_head(backbone.forward_features(x), pre_logits=True)
        expected = head(feats).numpy()
    out = run_session(open_session(path), x.numpy())
    assert out["breed_logits"].shape == (3, 120) and out["imagenet_logits"].shape == (3, 1000)
    np.testing.assert_allclose(out["breed_logits"], expected, atol=1e-4)


def test_flip_averaged_export_averages_photo_and_mirror(tmp_path: Path) -> None:
    from dogbreeds.inference.onnx_session import open_session, run_session
    from dogbreeds.models.onnx_export import export_onnx

    torch.manual_seed(0)
    backbone = create_backbone("test_efficientnet", weights=None)
    path = export_onnx(BreedModel(backbone, flip_average=True), 64, tmp_path / "m.onnx")
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        embed = lambda t: backbone.forward_head(backbone.forward_features(t), pre_logits=True)  # noqa: E731
        expected = ((embed(x) + embed(x.flip(3))) / 2).numpy()
        plain = embed(x).numpy()
    got = run_session(open_session(path), x.numpy())["features"]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert np.abs(got - plain).max() > 1e-3  # the mirror image really was used

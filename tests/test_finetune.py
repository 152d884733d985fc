"""Fine-tuning: freezing freezes exactly what it says, batch norms stay frozen, body and head learning rates."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

from dogbreeds.core.breeds import IMAGENET_INDICES  # noqa: E402
from dogbreeds.models.registry import count_parameters  # noqa: E402
from dogbreeds.training.finetune import body_stages, build_finetune_model, param_groups, set_train_mode  # noqa: E402


def _tiny(freeze_stages: int):  # timm's own test network (356 k parameters), random weights
    return build_finetune_model("test_efficientnet", None, freeze_stages=freeze_stages)


def test_breed_head_starts_from_the_imagenet_rows_and_the_imagenet_head_is_frozen() -> None:
    model = _tiny(0)
    fc = model.backbone.get_classifier()
    assert torch.equal(model.head.weight, fc.weight[list(IMAGENET_INDICES)])
    assert not any(p.requires_grad for p in fc.parameters())
    x = torch.randn(2, 3, 64, 64)
    feats, imagenet, breeds = model.eval()(x)
    assert imagenet.shape == (2, 1000) and torch.allclose(breeds, imagenet[:, list(IMAGENET_INDICES)], atol=1e-5)


@pytest.mark.parametrize("freeze_stages", [0, 1, 3])
def test_freezing_freezes_exactly_the_stem_and_the_first_stages(freeze_stages: int) -> None:
    model = _tiny(freeze_stages)
    stages = body_stages(model.backbone)
    frozen_stages = stages[: freeze_stages + 1] if freeze_stages else []  # 0: full fine-tuning, stem included
    frozen = sum(count_parameters(s) for s in frozen_stages)
    fc = count_parameters(model.backbone.get_classifier())
    assert count_parameters(model, trainable_only=True) == count_parameters(model) - frozen - fc
    assert all(not p.requires_grad for s in frozen_stages for p in s.parameters())
    assert all(p.requires_grad for s in stages[len(frozen_stages) :] for p in s.parameters())


def test_too_many_frozen_stages_is_an_error() -> None:
    with pytest.raises(ValueError, match="stages after its stem"):
        _tiny(99)


def test_frozen_batch_norms_keep_their_statistics_through_training() -> None:
    model = _tiny(2)
    stem = body_stages(model.backbone)[0]
    before = {k: v.clone() for k, v in stem.state_dict().items() if "running" in k}
    set_train_mode(model, freeze_bn=False)
    last_bn = [m for m in body_stages(model.backbone)[-1].modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    assert not stem[1].training and last_bn.training  # frozen stage in eval, trainable one in train mode
    model(torch.randn(4, 3, 64, 64))
    assert all(torch.equal(before[k], v) for k, v in stem.state_dict().items() if k in before)
    set_train_mode(model, freeze_bn=True)
    assert not any(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_param_groups_give_the_body_a_fraction_of_the_head_learning_rate() -> None:
    model = _tiny(1)
    head, body = param_groups(model, 0.1)
    assert head["lr_scale"] == 1.0 and body["lr_scale"] == 0.1
    assert {id(p) for p in head["params"]} == {id(p) for p in model.head.parameters()}
    assert sum(p.numel() for p in body["params"]) == count_parameters(model, trainable_only=True) - count_parameters(
        model.head
    )


def test_finetune_run_trains_only_the_unfrozen_part_and_exports_a_predictable_model(
    tiny_tree: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    from dogbreeds.inference.predictor import Predictor
    from dogbreeds.training.config import TrainConfig
    from dogbreeds.training.loop import fit

    cfg = TrainConfig(
        data=str(tiny_tree), out=str(tmp_path / "ft"), model="test_efficientnet", method="finetune", weights="none",
        freeze_stages=2, flip_average=True, epochs=1, batch_size=4, lr=0.05, image_size=64, val_fraction=0.25,
        track=False,
    )  # fmt: skip
    card = fit(cfg)
    torch.manual_seed(cfg.seed)
    initial = _tiny(2).state_dict()
    trained = load_file(str(tmp_path / "ft" / "model.safetensors"))
    stages = body_stages(_tiny(2).backbone)
    changed = {k for k in initial if not torch.equal(initial[k], trained[k])}
    assert "head.weight" in changed
    assert not any(k.startswith(("backbone.conv_stem", "backbone.blocks.0.", "backbone.blocks.1.")) for k in changed)
    assert any(k.startswith(f"backbone.blocks.{len(stages) - 2}.") for k in changed)
    assert card.model == "finetune" and card.model_args["trainable_parameters"] < card.model_args["parameters"]
    assert card.model_args["flip_average"] is True
    pred = next(Predictor(tmp_path / "ft").predict_paths([next(tiny_tree.rglob("*.jpg"))]))
    assert pred.breed in card.classes and pred.dog_probability is not None

"""Registered models: the studies' parameter counts, shapes, gradients, and the shared head interface."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from dogbreeds.models.registry import count_parameters, create_model, list_models, register_model  # noqa: E402

# Hand-computed: convs 9,472 + 73,856 + 147,584 + 295,168 + 590,080 = 1,116,160, plus the dense layers.
STUDY_COUNTS = {
    "study_cnn1": 1_116_160 + (2304 * 128 + 128) + (128 * 64 + 64) + (64 * 120 + 120),
    "study_cnn3": 1_116_160 + (50176 * 128 + 128) + (128 * 64 + 64) + (64 * 120 + 120),
    "study_cnn4": 1_116_160 + (50176 * 64 + 64) + (64 * 120 + 120),
}


@pytest.mark.parametrize("name", sorted(STUDY_COUNTS))
def test_study_cnns_have_the_studies_parameter_counts(name: str) -> None:
    assert count_parameters(create_model(name)) == STUDY_COUNTS[name]


@pytest.mark.parametrize("name", [n for n in list_models() if n.endswith("_test")])
def test_forward_backward_and_head_interface(name: str) -> None:
    model = create_model(name, num_classes=7)
    x = torch.randn(2, 3, 64, 64)
    out = model(x)
    assert out.shape == (2, 7)
    out.logsumexp(1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    emb = model.forward_head(model.forward_features(x), pre_logits=True)
    assert emb.shape == (2, model.num_features)
    model.reset_classifier(3)
    assert model(x).shape == (2, 3) and model.get_classifier().out_features == 3


def test_registry_refuses_duplicates_unknown_names_and_pretrained_scratch_models() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("study_cnn1")(lambda **kw: None)
    with pytest.raises(ValueError, match="did you mean .*study_cnn1"):
        create_model("study_cnn")
    with pytest.raises(ValueError, match="from scratch"):
        create_model("study_cnn1", pretrained=True)

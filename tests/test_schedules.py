"""Every schedule gives the learning rates its formula says."""

from __future__ import annotations

import math

import pytest

from dogbreeds.training.schedules import SCHEDULES, make_schedule


def test_power_schedule_is_the_2020_studys_formula() -> None:
    f = make_schedule("power", lr=0.01, total_steps=100, power_s=20, power_c=1)
    assert f(0) == pytest.approx(0.01) and f(20) == pytest.approx(0.005) and f(60) == pytest.approx(0.0025)
    g = make_schedule("power", lr=0.01, total_steps=100, power_s=10, power_c=2)
    assert g(10) == pytest.approx(0.01 / 4)


def test_constant_exponential_cosine_onecycle() -> None:
    assert make_schedule("constant", lr=0.1, total_steps=10)(7) == 0.1
    e = make_schedule("exponential", lr=0.1, total_steps=100, gamma=0.01)
    assert e(0) == pytest.approx(0.1) and e(50) == pytest.approx(0.01) and e(100) == pytest.approx(0.001)
    c = make_schedule("cosine", lr=1.0, total_steps=110, warmup_steps=10)
    assert c(0) == pytest.approx(0.1) and c(9) == pytest.approx(1.0)
    assert c(10) == pytest.approx(1.0) and c(60) == pytest.approx(0.5) and c(110) == pytest.approx(0.0, abs=1e-12)
    o = make_schedule("onecycle", lr=1.0, total_steps=100)
    assert o(0) == pytest.approx(1 / 25) and o(30) == pytest.approx(1.0)
    assert o(100) == pytest.approx(1 / 25 / 1e4) and max(o(t) for t in range(100)) == pytest.approx(1.0)


@pytest.mark.parametrize("name", SCHEDULES)
def test_every_schedule_is_positive_and_finite(name: str) -> None:
    f = make_schedule(name, lr=0.05, total_steps=50, warmup_steps=5)
    assert all(0 <= f(t) <= 0.05 + 1e-12 and math.isfinite(f(t)) for t in range(60))


def test_unknown_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="onecycle"):
        make_schedule("step", lr=0.1, total_steps=10)

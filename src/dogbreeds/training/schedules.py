"""Learning-rate schedules as pure functions of the step: easy to test, to plot, and to resume exactly.

``power`` is the 2020 study's power scheduling, ``lr0 / (1 + t / s) ** c``; the others are the usual ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from dogbreeds.core.errors import UsageError
from dogbreeds.core.i18n import _

SCHEDULES = ("constant", "power", "exponential", "cosine", "onecycle")


def make_schedule(
    name: str,
    *,
    lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    power_s: float = 1000.0,
    power_c: float = 1.0,
    gamma: float = 0.1,
    min_lr: float = 0.0,
) -> Callable[[int], float]:
    """The learning rate at each optimisation step (0-based).

    Args:
        name: one of :data:`SCHEDULES`.
        lr: the peak (or initial) learning rate.
        total_steps: steps in the whole run.
        warmup_steps: linear warm-up from 0 (cosine); one-cycle warms up over 30 % of the run unless given.
        power_s, power_c: the power schedule's step scale and exponent.
        gamma: exponential decay reached at the end of the run (``lr * gamma``).
        min_lr: floor of the cosine schedule.
    """
    if name not in SCHEDULES:
        raise UsageError(_("schedule must be one of {names}, not {name!r}", names=", ".join(SCHEDULES), name=name))
    total = max(1, total_steps)

    def constant(t: int) -> float:
        return lr

    def power(t: int) -> float:
        return lr / (1 + t / power_s) ** power_c

    def exponential(t: int) -> float:
        return lr * gamma ** (t / total)

    def cosine(t: int) -> float:
        if t < warmup_steps:
            return lr * (t + 1) / warmup_steps
        progress = (t - warmup_steps) / max(1, total - warmup_steps)
        return min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def onecycle(t: int) -> float:
        # up from lr/25 to lr, then cosine down to lr/1e4 (as torch's OneCycleLR)
        up = warmup_steps or max(1, int(0.3 * total))
        start, end = lr / 25, lr / 25 / 1e4
        if t < up:
            return start + (lr - start) * 0.5 * (1 - math.cos(math.pi * t / up))
        progress = min(1.0, (t - up) / max(1, total - up))
        return end + (lr - end) * 0.5 * (1 + math.cos(math.pi * progress))

    return {"constant": constant, "power": power, "exponential": exponential, "cosine": cosine,
            "onecycle": onecycle}[name]  # fmt: skip

"""Hyper-parameter search with Optuna: each trial a training run, nested under the study's run in MLflow.

A search file (YAML) says what every trial shares and what varies::

    base:                     # TrainConfig settings of every trial
      model: study_cnn1
      epochs: 4
    space:                    # one entry per searched setting
      batch_size: {choices: [16, 32, 64]}
      lr: {low: 0.001, high: 0.3, log: true}
      model_args.mid_stride: {choices: [1, 2]}           # arguments of the model itself
      model_args.widths: {choices: [[32, 64, 128], [64, 128, 256]]}
    metric: val_top1          # maximised (val_loss is minimised)
    sampler: tpe              # or grid: every combination of the choices once

Hopeless trials are pruned after each epoch (median rule: worse than the median of earlier trials at the same
epoch). The study lives in ``OUT/study.db``, so an interrupted search continues where it stopped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from dogbreeds.core.errors import DogbreedsError, UsageError
from dogbreeds.core.i18n import _
from dogbreeds.training.config import TrainConfig
from dogbreeds.training.loop import fit

log = logging.getLogger(__name__)
MINIMISED = {"val_loss", "train_loss"}


def load_search(path: str | Path) -> dict[str, Any]:
    """Read and check a search file: ``base`` settings must be TrainConfig fields, ``space`` entries well formed."""
    import yaml

    spec = yaml.safe_load(Path(path).read_text()) or {}
    unknown = sorted(set(spec) - {"base", "space", "metric", "sampler"})
    if unknown:
        raise UsageError(
            _(
                "{path}: unknown section(s) {names} (use base, space, metric, sampler)",
                path=path,
                names=", ".join(unknown),
            )
        )
    if spec.get("sampler", "tpe") not in ("tpe", "grid"):
        raise UsageError(_("{path}: sampler must be tpe or grid", path=path))
    if spec.get("sampler") == "grid" and any("choices" not in d for d in (spec.get("space") or {}).values()):
        raise UsageError(_("{path}: a grid search needs choices: [...] for every dimension", path=path))
    known = {f.name for f in fields(TrainConfig)}
    for name, dim in (spec.get("space") or {}).items():
        if name.split(".")[0] not in known:
            raise UsageError(_("{path}: cannot search {name!r}: not a training setting", path=path, name=name))
        if not isinstance(dim, dict) or not ("choices" in dim or {"low", "high"} <= set(dim)):
            raise UsageError(_("{path}: {name!r} needs either choices: [...] or low: / high:", path=path, name=name))
    bad = sorted(set(spec.get("base") or {}) - known)
    if bad:
        raise UsageError(_("{path}: unknown base setting(s) {names}", path=path, names=", ".join(bad)))
    if not spec.get("space"):
        raise UsageError(_("{path}: nothing to search (empty space)", path=path))
    return spec


def suggest(trial: Any, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One value per dimension; list-valued choices (e.g. widths) travel through Optuna as JSON strings."""
    values: dict[str, Any] = {}
    for name, dim in space.items():
        if "choices" in dim:
            choices = dim["choices"]
            if any(isinstance(c, list | dict) for c in choices):
                values[name] = json.loads(trial.suggest_categorical(name, [json.dumps(c) for c in choices]))
            else:
                values[name] = trial.suggest_categorical(name, choices)
        elif isinstance(dim["low"], int) and isinstance(dim["high"], int):
            values[name] = trial.suggest_int(name, dim["low"], dim["high"], step=dim.get("step", 1),
                                             log=bool(dim.get("log")))  # fmt: skip
        else:
            values[name] = trial.suggest_float(name, float(dim["low"]), float(dim["high"]), log=bool(dim.get("log")))
    return values


def trial_config(base: TrainConfig, values: dict[str, Any], out: Path) -> TrainConfig:
    """``base`` with the suggested values; ``model_args.X`` keys go into the model's arguments."""
    direct = {k: v for k, v in values.items() if "." not in k}
    model_args = {**base.model_args, **{k.split(".", 1)[1]: v for k, v in values.items() if "." in k}}
    return replace(base, **direct, model_args=model_args, out=str(out))


def run_search(
    spec: dict[str, Any], base: TrainConfig, *, trials: int, out: Path, seed: int = 0
) -> dict[str, Any]:  # fmt: skip
    """Run ``trials`` more trials of the study in ``out``; returns the best trial's number, value and values."""
    import optuna

    metric = spec.get("metric", "val_top1")
    direction = "minimize" if metric in MINIMISED else "maximize"
    out.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name="dogbreeds", storage=f"sqlite:///{out / 'study.db'}", load_if_exists=True, direction=direction,
        sampler=_sampler(spec, seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),  # epochs 1-2 never pruned
    )  # fmt: skip
    parent = None
    if base.track:
        from dogbreeds.training.tracking import Tracker

        parent = Tracker(base.tracking_uri, f"search {out.name}", {"search": json.dumps(spec), "trials": trials})
        base = replace(base, parent_run_id=parent.run_id)

    def objective(trial: Any) -> float:
        cfg = trial_config(base, suggest(trial, spec["space"]), out / f"trial_{trial.number:03d}")

        def report(metrics: dict[str, Any]) -> None:
            trial.report(metrics[metric], metrics["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned()

        card = fit(cfg, on_epoch=report)
        return float(card.metrics["val"][metric])

    try:
        study.optimize(objective, n_trials=trials, catch=())
    finally:
        if parent:
            done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
            if done:
                parent.log_summary({f"best_{metric}": study.best_value, "trials_complete": len(done)})
            parent.end()
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise DogbreedsError(_("no trial of the study in {out} completed (all pruned or failed)", out=out))
    best = study.best_trial
    return {"number": best.number, "value": best.value, "params": best.params, "metric": metric}


def _sampler(spec: dict[str, Any], seed: int) -> Any:
    import optuna

    if spec.get("sampler") == "grid":
        grid = {name: [json.dumps(c) if isinstance(c, list | dict) else c for c in dim["choices"]]
                for name, dim in spec["space"].items()}  # fmt: skip
        return optuna.samplers.GridSampler(grid, seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def trials_table(out: Path) -> list[dict[str, Any]]:
    """Every trial of the study in ``out``: number, state, value, parameters."""
    import optuna

    study = optuna.load_study(study_name="dogbreeds", storage=f"sqlite:///{out / 'study.db'}")
    return [{"number": t.number, "state": t.state.name, "value": t.value, **t.params} for t in study.trials]

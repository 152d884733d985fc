"""Experiment tracking in MLflow, in an embedded SQLite store under the runs folder by default (no server).

Imported only by training commands: ``import mlflow`` costs seconds, which ``predict`` must never pay.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

EXPERIMENT = "dogbreeds"


def default_tracking_uri() -> str:
    """``sqlite:///runs/mlflow.db`` (or under ``$DOGBREEDS_RUNS``)."""
    runs = Path(os.environ.get("DOGBREEDS_RUNS", "runs")).resolve()
    runs.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{runs / 'mlflow.db'}"


def _artifact_root(uri: str) -> str:
    """Artifacts beside a SQLite store (``runs/mlartifacts``) rather than in ``./mlruns`` of whatever folder."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / "mlartifacts").as_uri()
    return ""


class Tracker:
    """One MLflow run: parameters once, metrics per epoch, artifacts at the end; resumable by run id."""

    def __init__(
        self, uri: str | None, run_name: str, params: dict[str, Any], *, run_id: str | None = None,
        parent_run_id: str | None = None,
    ) -> None:  # fmt: skip
        import mlflow

        self.mlflow = mlflow
        self.uri = uri or default_tracking_uri()
        mlflow.set_tracking_uri(self.uri)
        if mlflow.get_experiment_by_name(EXPERIMENT) is None:
            mlflow.create_experiment(EXPERIMENT, artifact_location=_artifact_root(self.uri) or None)
        mlflow.set_experiment(EXPERIMENT)
        # a child of another run (a search study's trial) is marked by MLflow's own parent tag, so the UI nests it
        tags = {"mlflow.parentRunId": parent_run_id} if parent_run_id and run_id is None else None
        nested = mlflow.active_run() is not None  # a trial inside a search study's run
        self.run = mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name, tags=tags, nested=nested)
        if run_id is None:
            mlflow.log_params({k: str(v) for k, v in params.items()})

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    def log_epoch(self, metrics: dict[str, float], epoch: int) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}, step=epoch)

    def log_summary(self, metrics: dict[str, float]) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, int | float)})

    def log_artifacts(self, paths: list[Path]) -> None:
        for path in paths:
            if path.exists():
                self.mlflow.log_artifact(str(path))

    def end(self, status: str = "FINISHED") -> None:
        """End this run (not whichever run is on top of MLflow's stack: a trial's failure must not end its study)."""
        active = self.mlflow.active_run()
        if active is not None and active.info.run_id == self.run_id:
            self.mlflow.end_run(status=status)
        else:
            self.mlflow.MlflowClient().set_terminated(self.run_id, status)


def list_runs(uri: str | None = None) -> list[dict[str, Any]]:
    """Every run of the experiment, newest first, as plain dicts (name, status, parameters, last metrics)."""
    import mlflow

    mlflow.set_tracking_uri(uri or default_tracking_uri())
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        return []
    client = mlflow.MlflowClient()
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    return [
        {"run_id": r.info.run_id, "name": r.info.run_name, "status": r.info.status,
         "start_time": r.info.start_time, "params": dict(r.data.params), "metrics": dict(r.data.metrics)}
        for r in runs
    ]  # fmt: skip

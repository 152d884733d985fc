"""ONNX Runtime sessions tuned for this kind of machine (few cores, batch inference)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def cpu_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def open_session(path: Path | bytes, *, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with full graph optimisation, of a model file or of a model's bytes."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or cpu_threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def run_session(session: Any, images: np.ndarray) -> dict[str, np.ndarray]:
    """Run a dogbreeds graph; returns its outputs by name."""
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"images": images}), strict=True))

"""``dogbreeds bench``: the studies' compute-environment comparison for today.

Training and inference images/s of one model for each available device (CPU with 1 and all threads; CUDA when
present) and backend (PyTorch eager, channels-last, bf16 autocast, ONNX Runtime), over batch sizes. Synthetic
inputs: this measures the model and the runtime, not JPEG decoding (``classify`` reports that end to end).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

BACKENDS = ("eager", "channels_last", "bf16", "onnx")


@dataclass
class BenchRow:
    device: str
    threads: int
    backend: str
    mode: str  # inference | training
    batch_size: int
    images_per_second: float


def _model(name: str) -> tuple[torch.nn.Module, int]:
    from dogbreeds.models.registry import create_model, list_models

    if name in list_models():
        model = create_model(name)
    else:
        import timm

        model = timm.create_model(name, pretrained=False)
    return model, int(model.pretrained_cfg["input_size"][-1])


def _has_mps() -> bool:
    """Apple-silicon GPUs (not on this project's machines; measured where a user has one)."""
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def _timed(step: Any, images: int, min_seconds: float, min_iters: int) -> float:
    step()  # warm-up (allocations, kernel selection)
    n, started = 0, time.perf_counter()
    while n < min_iters or time.perf_counter() - started < min_seconds:
        step()
        n += 1
    return n * images / (time.perf_counter() - started)


def _torch_step(model: torch.nn.Module, x: torch.Tensor, backend: str, training: bool) -> Any:
    if backend == "channels_last":
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=backend == "bf16")
    opt = torch.optim.SGD(model.parameters(), lr=1e-4) if training else None
    model.train(training)

    def step() -> None:
        if training:
            with autocast:
                loss = model(x).float().logsumexp(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        else:
            with torch.inference_mode(), autocast:
                model(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        elif x.device.type == "mps":
            torch.mps.synchronize()

    return step


def _onnx_step(model: torch.nn.Module, size: int, batch: int, threads: int, tmp: Path) -> Any:
    from dogbreeds.inference.onnx_session import open_session
    from dogbreeds.models.heads import BreedModel
    from dogbreeds.models.onnx_export import export_onnx

    path = tmp / "bench.onnx"
    if not path.exists():  # the same export as a shipped model's: embedding + the model's own classifier
        export_onnx(BreedModel(model), size, path)
    session = open_session(path, threads=threads)
    x = torch.randn(batch, 3, size, size).numpy()
    return lambda: session.run(None, {"images": x})


def run_bench(
    name: str, *, batch_sizes: tuple[int, ...] = (1, 16), threads: tuple[int, ...] | None = None,
    backends: tuple[str, ...] = BACKENDS, training: bool = True, min_seconds: float = 2.0, min_iters: int = 3,
    work: Path,
) -> list[BenchRow]:  # fmt: skip
    import os
    import warnings

    all_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = threads or tuple(sorted({1, all_threads}))
    rows = []
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) + (["mps"] if _has_mps() else [])
    for device in devices:
        for n_threads in threads if device == "cpu" else (all_threads,):
            torch.set_num_threads(n_threads)
            for backend in backends:
                if backend == "onnx" and device != "cpu":
                    continue
                for mode in ("inference", "training") if training and backend != "onnx" else ("inference",):
                    for batch in batch_sizes:
                        model, size = _model(name)
                        model = model.to(device)
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            if backend == "onnx":
                                step = _onnx_step(model, size, batch, n_threads, work)
                            else:
                                x = torch.randn(batch, 3, size, size, device=device)
                                step = _torch_step(model, x, backend, mode == "training")
                            speed = _timed(step, batch, min_seconds, min_iters)
                        rows.append(BenchRow(device, n_threads, backend, mode, batch, round(speed, 2)))
    torch.set_num_threads(all_threads)
    return rows


def plot_bench(rows: list[BenchRow], out: Path, *, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.device}/{r.threads}t {r.backend}\n{r.mode} b{r.batch_size}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(rows) + 2), 4.5))
    colours = {"inference": "tab:blue", "training": "tab:orange"}
    ax.bar(range(len(rows)), [r.images_per_second for r in rows], color=[colours[r.mode] for r in rows])
    ax.set_xticks(range(len(rows)), labels, rotation=90, fontsize=7)
    ax.set_ylabel("images / s")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def write_bench(rows: list[BenchRow], out: Path, name: str) -> tuple[Path, Path]:
    import json

    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"model": name, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    return out / "bench.json", plot_bench(rows, out / "bench.png", title=f"{name}: images/s by device and backend")


def log_bench(rows: list[BenchRow], name: str, files: list[Path], tracking_uri: str | None = None) -> str:
    """One MLflow run per bench: the machine as parameters, one metric per measurement, JSON and chart attached."""
    import platform

    from dogbreeds.training.tracking import Tracker

    params = {"model": name, "kind": "bench", "machine": platform.machine(), "processor": platform.processor(),
              "cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
              "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}  # fmt: skip
    tracker = Tracker(tracking_uri, f"bench {name}", params)
    tracker.log_summary({
        f"images_per_second.{r.device}.{r.threads}t.{r.backend}.{r.mode}.b{r.batch_size}": r.images_per_second
        for r in rows
    })  # fmt: skip
    tracker.log_artifacts(files)
    tracker.end()
    return tracker.run_id

"""Cold start: ``dogbreeds predict PHOTO`` against the smallest ONNX Runtime script that answers the same question.

    python benchmarks/cold_start.py [--photo examples/photos/pug.jpg] [--rounds 9]

The bare script is what a user could write in ten lines with the shipped model: import NumPy, Pillow and ONNX
Runtime, open the session, resize and crop the photo as the card says, run it, print the top breed. It knows
nothing of verdicts, progress bars, languages or odd files. Each round starts both as fresh processes, one after
the other, alternating which goes first, so the shared machine's drift falls on both alike; the model file is read
once before the first round so the page cache holds it, as on a user's machine. The target (issue 17): the
median of ``predict`` at most 1.3 times the median of the bare script.

Writes benchmarks/results/cold_start.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import write_results

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "src" / "dogbreeds" / "assets" / "default.onnx"
TARGET = 1.3

BARE = """
import json, sys
import numpy as np
import onnxruntime as ort
from PIL import Image

card = json.load(open(sys.argv[1].replace(".onnx", ".json")))
pre = card["preprocess"]
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
img = Image.open(sys.argv[2]).convert("RGB")
size = pre["input_size"]
scale = int(size / pre["crop_pct"]) / min(img.size)
img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC)
left, top = (img.width - size) // 2, (img.height - size) // 2
img = img.crop((left, top, left + size, top + size))
x = (np.asarray(img, dtype=np.float32) / 255 - np.array(pre["mean"])) / np.array(pre["std"])
logits = session.run(["breed_logits"], {"images": x.transpose(2, 0, 1)[None].astype(np.float32)})[0][0]
p = np.exp(logits - logits.max())
print(card["names"][int(p.argmax())], f"{p.max() / p.sum():.1%}")
"""


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", default=str(ROOT / "examples" / "photos" / "pug.jpg"))
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bare_onnxruntime.py"
        script.write_text(BARE)
        commands = {
            "bare ONNX Runtime script": [sys.executable, str(script), str(MODEL), args.photo],
            "dogbreeds predict": [sys.executable, "-m", "dogbreeds", "predict", args.photo],
        }
        for cmd in commands.values():  # warm the page cache; check both run
            timed(cmd)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for r in range(args.rounds):
            order = list(commands) if r % 2 == 0 else list(reversed(commands))
            for name in order:
                times[name].append(timed(commands[name]))
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    ratio = medians["dogbreeds predict"] / medians["bare ONNX Runtime script"]
    rows = [[name, f"{medians[name]:.3f} s", f"{min(t):.3f} s", f"{max(t):.3f} s"] for name, t in times.items()]
    rows.append(["ratio of medians", f"{ratio:.2f}x", "", ""])
    verdict = "met" if ratio <= TARGET else "missed"
    write_results(
        "cold_start",
        {"seconds": times, "medians": medians, "ratio": ratio, "target": TARGET, "photo": args.photo},
        title="Cold start: dogbreeds predict against a bare ONNX Runtime script",
        header=["command", "median", "fastest", "slowest"],
        rows=rows,
        notes=[
            f"{args.rounds} alternating rounds, fresh processes, the shipped model, `{Path(args.photo).name}`. "
            f"Target: at most {TARGET}x: **{verdict}**."
        ],
    )


if __name__ == "__main__":
    main()

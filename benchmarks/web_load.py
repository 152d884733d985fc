"""``dogbreeds serve`` under load: Locust against the real server on loopback, and the page and photo timings a
volunteer feels.

    pip install locust
    python benchmarks/web_load.py --stanford ../shared/datasets/stanford-dogs [--minutes 2] [--work /tmp/web-load]

1. A library of the first ``--catalog-photos`` test-list crops (links), catalogued by ``dogbreeds classify``; the
   server is ``dogbreeds serve --db ... --library ...`` in a process of its own, as a user starts it.
2. Page loads: each page's HTML and its style sheet and script, the first time after the start (cold) and the
   median of 10 (warm); and Chromium's own navigation timing (``loadEventEnd``) when Playwright and Debian's
   chromium are installed.
3. A 12 MP phone photo (about 3 MB: made from the full-resolution Stanford originals, upscaled to 4000 x 3000 with
   sensor-like noise) identified on the Identify page with its heat-map: the server's time (its Server-Timing
   header) and the time seen by the client, median of the photos.
4. Locust, headless, each run ``--minutes`` long: (a) 4 users posting Stanford-sized originals to /api/predict
   back to back; (b) the same with the 12 MP photos; (c) (a) plus 20 users browsing the library (a breed's page, a
   photo page and its thumbnail, the stats; 1-3 s between clicks). Requests/s, p50/p95, failures; the server's
   resident memory sampled every second (first minute against last minute); whether the server is still up.

Targets (issue 14): 0 errors, 0 crashes, memory flat; first page load under 1 s; a 3 MB phone photo identified
with its heat-map in under 1 s of server time. Writes benchmarks/results/web_load.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _results import write_results
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAGES = ["/", "/library", "/stats", "/login"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def phone_photos(originals: list[Path], out: Path, n: int) -> list[Path]:
    """12 MP JPEGs of a phone photo's size (3-4 MB): an original upscaled to 4000 x 3000 with a camera's noise."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    made = []
    for i, src in enumerate(originals[:n]):
        target = out / f"phone_{i}.jpg"
        if not target.exists():
            with Image.open(src) as img:
                big = np.asarray(img.convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC), np.float32)
            noisy = np.clip(big + rng.normal(0, 8, big.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(target, quality=92)
        made.append(target)
    return made


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class MemorySampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                self.samples.append(rss_mb(self.pid))
            except OSError:
                return


def page_loads(url: str) -> dict[str, dict[str, float]]:
    """Each page and its assets, sequentially: the first time (cold) and the median of 10 (warm), in seconds."""
    out = {}
    with httpx.Client(base_url=url) as client:
        for path in PAGES:
            times = []
            for _ in range(11):
                t = time.perf_counter()
                page = client.get(path)
                page.raise_for_status()
                for asset in ("/static/style.css", "/static/identify.js"):
                    client.get(asset).raise_for_status()
                times.append(time.perf_counter() - t)
            out[path] = {"cold": times[0], "warm": statistics.median(times[1:])}
    return out


def chromium_loads(url: str) -> dict[str, float] | None:
    """Chromium's navigation timing (start to the load event) per page, median of 5; None without a browser."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        for path in PAGES:
            times = []
            for _ in range(5):
                page.goto(url + path)
                times.append(page.evaluate("() => { const t = performance.getEntriesByType('navigation')[0];"
                                           " return t.loadEventEnd - t.startTime; }") / 1000)  # fmt: skip
            out[path] = statistics.median(times)
        browser.close()
    return out


def identify_times(url: str, photos: list[Path]) -> dict[str, Any]:
    """POST /identify (the page, with its heat-map) for each photo: server time and client time, in seconds."""
    server, client_side = [], []
    with httpx.Client(base_url=url, timeout=60) as client:
        for photo in photos:
            data = photo.read_bytes()
            t = time.perf_counter()
            answer = client.post("/identify", files={"file": (photo.name, data, "image/jpeg")})
            client_side.append(time.perf_counter() - t)
            answer.raise_for_status()
            assert 'class="heatmap"' in answer.text or "not_a_dog" in answer.text
            server.append(float(answer.headers["server-timing"].split("dur=")[1]) / 1000)
    sizes = [p.stat().st_size / 1e6 for p in photos]
    return {"server": server, "client": client_side, "server_median": statistics.median(server),
            "client_median": statistics.median(client_side), "mb_median": statistics.median(sizes)}  # fmt: skip


def locust_run(url: str, work: Path, name: str, *, users: int, minutes: float, photos: list[Path],
               browse_weight: int, pid: int, breeds: list[str]) -> dict[str, Any]:  # fmt: skip
    folders = sorted({str(p.parent) for p in photos})
    env = {**os.environ, "DOGBREEDS_LOAD_PHOTOS": os.pathsep.join(folders),
           "DOGBREEDS_LOAD_BROWSE_WEIGHT": str(browse_weight), "DOGBREEDS_LOAD_BREEDS": ",".join(breeds)}  # fmt: skip
    prefix = work / name
    sampler = MemorySampler(pid)
    sampler.start()
    subprocess.run([str(BIN / "locust"), "-f", str(ROOT / "benchmarks" / "web_locustfile.py"), "--headless",
                    "-u", str(users), "-r", str(users), "-t", f"{int(minutes * 60)}s", "--host", url,
                    "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"],
                   env=env, check=False, stdout=subprocess.DEVNULL)  # fmt: skip
    sampler.stop.set()
    rows = {r["Name"]: r for r in csv.DictReader(open(f"{prefix}_stats.csv"))}
    memory = sampler.samples
    minute = max(1, min(60, len(memory) // 2))

    def summary(row: dict[str, str]) -> dict[str, float]:
        return {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "rps": float(row["Requests/s"]), "p50_ms": float(row["50%"]), "p95_ms": float(row["95%"])}  # fmt: skip

    return {"users": users, "by_name": {n: summary(r) for n, r in rows.items()},
            "memory_first_minute_mb": statistics.mean(memory[:minute]) if memory else None,
            "memory_last_minute_mb": statistics.mean(memory[-minute:]) if memory else None,
            "memory_max_mb": max(memory, default=None)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stanford", type=Path, default=ROOT.parent / "shared" / "datasets" / "stanford-dogs")
    parser.add_argument("--work", type=Path, default=Path("/tmp/web-load"))
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--catalog-photos", type=int, default=1000)
    parser.add_argument("--phone-photos", type=int, default=8)
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)

    test = [line.split()[0] for line in (args.stanford / "lists" / "test_list.txt").read_text().splitlines()]
    library = work / "library"
    for rel in test[: args.catalog_photos]:  # copies: the server shows only photos inside --library
        target = library / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(args.stanford / "crops224" / rel, target)
    db = work / "catalog.db"
    subprocess.run([str(BIN / "dogbreeds"), "classify", str(library), "--db", str(db)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    originals = sorted((args.stanford / "fullres-sample").rglob("*.jpg"))
    stanford_sized = work / "stanford-sized"
    stanford_sized.mkdir(exist_ok=True)
    for src in originals:
        if not (stanford_sized / src.name).exists():
            shutil.copy(src, stanford_sized / src.name)
    phones = phone_photos(originals, work / "phone", args.phone_photos)
    breeds = sorted({rel.split("/")[0].split("-", 1)[1] for rel in test[: args.catalog_photos]})[:10]

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen([str(BIN / "dogbreeds"), "serve", "--db", str(db), "--library", str(library),
                               "--port", str(port), "--cache", str(work / "thumbs")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if server.poll() is not None or time.perf_counter() - started > 60:
                raise SystemExit(f"the server did not start: {server.stderr.read().decode()[-500:]}") from None
            time.sleep(0.05)
    start_seconds = time.perf_counter() - started
    try:
        loads = page_loads(url)
        browser = chromium_loads(url)
        identify = identify_times(url, phones)
        runs = {
            "a_predict_stanford": locust_run(url, work, "a", users=4, minutes=args.minutes,
                                             photos=list(stanford_sized.glob("*.jpg")), browse_weight=0,
                                             pid=server.pid, breeds=breeds),
            "b_predict_12mp": locust_run(url, work, "b", users=4, minutes=args.minutes, photos=phones,
                                         browse_weight=0, pid=server.pid, breeds=breeds),
            "c_predict_and_browse": locust_run(url, work, "c", users=24, minutes=args.minutes,
                                               photos=list(stanford_sized.glob("*.jpg")), browse_weight=5,
                                               pid=server.pid, breeds=breeds),
        }  # fmt: skip
        alive = server.poll() is None and httpx.get(url + "/").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)

    data = {"start_seconds": start_seconds, "page_loads": loads, "chromium_loads": browser, "identify_12mp": identify,
            "runs": runs, "server_alive_after": alive, "catalog_photos": args.catalog_photos}  # fmt: skip
    rows = [
        ["server start (process start to listening)", f"{start_seconds:.2f} s", ""],
        *[[f"page `{p}` with its assets, first load / warm median", f"{v['cold'] * 1000:.0f} / "
           f"{v['warm'] * 1000:.0f} ms", "< 1 s"] for p, v in loads.items()],
        *([[f"Chromium `{p}`, start to load event (median of 5)", f"{v * 1000:.0f} ms", "< 1 s"]
           for p, v in browser.items()] if browser else []),
        [f"12 MP phone photo ({identify['mb_median']:.1f} MB) identified with its heat-map: server time, median of "
         f"{len(phones)}", f"{identify['server_median']:.2f} s", "< 1 s"],
        ["the same, seen by the client (upload on loopback included)", f"{identify['client_median']:.2f} s", ""],
    ]  # fmt: skip
    for name, run in runs.items():
        agg = run["by_name"]["Aggregated"]
        predict = run["by_name"].get("/api/predict", agg)
        rows.append([f"{name}: {run['users']} users, /api/predict requests/s, p50 / p95",
                     f"{predict['rps']:.1f}/s, {predict['p50_ms']:.0f} / {predict['p95_ms']:.0f} ms", ""])  # fmt: skip
        if "/library?breed=" in run["by_name"]:
            lib = run["by_name"]["/library?breed="]
            rows.append([f"{name}: library pages while predicting, p50 / p95",
                         f"{lib['p50_ms']:.0f} / {lib['p95_ms']:.0f} ms", ""])  # fmt: skip
        rows.append([f"{name}: requests, failures", f"{agg['requests']:,}, {agg['failures']}", "0 failures"])
        rows.append([f"{name}: server memory, first minute / last minute / max",
                     f"{run['memory_first_minute_mb']:.0f} / {run['memory_last_minute_mb']:.0f} / "
                     f"{run['memory_max_mb']:.0f} MB", "flat"])  # fmt: skip
    rows.append(["server still answering after the runs", "yes" if alive else "NO", "0 crashes"])
    write_results(
        "web_load",
        data,
        title="The web app under load (Locust on loopback) and the timings a volunteer feels",
        header=["measure", "value", "target"],
        rows=rows,
        notes=[
            "`dogbreeds serve` (shipped model, no options: its int8 copy on OpenVINO; heat-maps from the fp32 graph "
            f"on ONNX Runtime) over a catalog of {args.catalog_photos:,} test-list crops, on this 2-core machine; "
            "Locust runs on the same cores, so the server has less than two. "
            f"Each Locust run lasts {args.minutes:g} min. Stanford-sized photos: the {len(originals)} originals of "
            "`fullres-sample/` (median 500 x 375); 12 MP photos: made from them, 4000 x 3000 with noise.",
        ],
    )


if __name__ == "__main__":
    main()

"""Locust users for ``benchmarks/web_load.py`` (run by it; see there). Photos come from the folders named in
``DOGBREEDS_LOAD_PHOTOS`` (os.pathsep-separated); the library pages browsed from ``DOGBREEDS_LOAD_BREEDS``."""

from __future__ import annotations

import os
import random
from pathlib import Path

from locust import HttpUser, between, constant, tag, task

PHOTOS = [p.read_bytes() for folder in os.environ.get("DOGBREEDS_LOAD_PHOTOS", "").split(os.pathsep) if folder
          for p in sorted(Path(folder).glob("*.jpg"))]  # fmt: skip
BREEDS = [b for b in os.environ.get("DOGBREEDS_LOAD_BREEDS", "").split(",") if b]


class Predicting(HttpUser):
    """A script or a phone sending photos to /api/predict, one after the other."""

    wait_time = constant(0)
    weight = int(os.environ.get("DOGBREEDS_LOAD_PREDICT_WEIGHT", "1"))

    @tag("predict")
    @task
    def predict(self) -> None:
        data = random.choice(PHOTOS)
        with self.client.post("/api/predict", files={"file": ("photo.jpg", data, "image/jpeg")},
                              name="/api/predict", catch_response=True) as answer:  # fmt: skip
            if answer.status_code != 200 or "verdict" not in answer.text:
                answer.failure(f"status {answer.status_code}")


class Browsing(HttpUser):
    """A volunteer browsing the library: a breed's page, a photo page, its thumbnails, the stats."""

    wait_time = between(1, 3)
    weight = int(os.environ.get("DOGBREEDS_LOAD_BROWSE_WEIGHT", "0"))

    @tag("browse")
    @task(3)
    def library_page(self) -> None:
        breed = random.choice(BREEDS) if BREEDS else ""
        self.client.get(f"/library?breed={breed}" if breed else "/library", name="/library?breed=")

    @tag("browse")
    @task(2)
    def photo_page(self) -> None:
        listing = self.client.get(f"/api/photos?page={random.randint(1, 5)}", name="/api/photos").json()
        if listing.get("photos"):
            photo = random.choice(listing["photos"])["id"]
            self.client.get(f"/photos/{photo}", name="/photos/{id}")
            self.client.get(f"/photos/{photo}/thumb.jpg", name="/photos/{id}/thumb.jpg")

    @tag("browse")
    @task(1)
    def stats(self) -> None:
        self.client.get("/stats")

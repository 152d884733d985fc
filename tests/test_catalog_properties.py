"""A property of the catalog, checked on random histories (Hypothesis): whatever the interleaving of classify,
move, copy, delete, killed runs, reviews and classify with other thresholds, a complete classify ends with one row per
photo on disk, and each row's answers equal a simple model of the rules:

- the model's breed and numbers are those of the photo's content;
- its verdict is :func:`~dogbreeds.core.verdicts.judge` of those numbers under the latest thresholds;
- its final answer is the latest volunteer decision about that content, else the model's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule  # noqa: E402
from PIL import Image  # noqa: E402

from dogbreeds.catalog.classify import Classifier  # noqa: E402
from dogbreeds.catalog.database import iter_rows, open_catalog  # noqa: E402
from dogbreeds.catalog.review import record  # noqa: E402
from dogbreeds.core.verdicts import judge  # noqa: E402
from dogbreeds.inference.predictor import Predictor  # noqa: E402

from .conftest import EXAMPLES  # noqa: E402

CONTENTS = ["pug.jpg", "husky.jpg", "border_collie.jpg", "cat (not a dog).jpg"]  # dog, dogs near thresholds, a cat
THRESHOLDS = [None, 0.5, 0.95]  # min_probability (None: the card's); each one changes some verdicts


class Killed(Exception):
    pass


class _Dying(Classifier):
    """A run killed after ``left`` batches were written (each batch its own transaction, as with kill -9)."""

    def __init__(self, *args, left: int, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.left = left

    def write(self, batch, predicted) -> None:  # type: ignore[no-untyped-def]
        if self.left == 0:
            raise Killed
        self.left -= 1
        super().write(batch, predicted)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Small copies of four sample photos, the predictor, and what the model says of each content."""
    folder = tmp_path_factory.mktemp("contents")
    paths = []
    for name in CONTENTS:
        with Image.open(EXAMPLES / name) as img:
            img.convert("RGB").resize((160, 120)).save(folder / name, quality=90)
        paths.append(folder / name)
    predictor = Predictor()
    model = {}
    for i, p in enumerate(predictor.predict_paths(paths, top_k=5)):
        top = [k["probability"] for k in p.top_k]
        model[i] = (p.breed, p.probability, top[0] - top[1], p.dog_probability, p.top_k)
    data = [p.read_bytes() for p in paths]
    by_hash = {hashlib.sha256(d).hexdigest(): i for i, d in enumerate(data)}
    return {"paths": paths, "data": data, "by_hash": by_hash, "predictor": predictor, "model": model,
            "card_verdicts": replace(predictor.card.verdicts)}  # fmt: skip


class CatalogHistory(RuleBasedStateMachine):
    world: dict = {}

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="dogbreeds-history-"))
        self.lib = self.root / "lib"
        (self.lib / "sub").mkdir(parents=True)
        self.engine = open_catalog(self.root / "c.db")
        self.files: dict[str, int] = {}  # the model of the disk: relative path -> content
        self.decisions: dict[int, tuple[str, str | None]] = {}  # content -> latest (decision, breed)
        self.min_probability: float | None = None
        self.n = 0

    def _new_name(self) -> str:
        self.n += 1
        return f"{'sub/' if self.n % 3 == 0 else ''}photo {self.n}.jpg"

    def _predictor(self) -> Predictor:
        predictor = self.world["predictor"]
        verdicts = self.world["card_verdicts"]
        if self.min_probability is not None:
            verdicts = replace(verdicts, min_probability=self.min_probability)
        predictor.card.verdicts = verdicts
        return predictor

    @initialize(contents=st.lists(st.integers(0, len(CONTENTS) - 1), min_size=1, max_size=3))
    def start(self, contents: list[int]) -> None:
        for content in contents:
            self.add(content)

    @rule(content=st.integers(0, len(CONTENTS) - 1))
    def add(self, content: int) -> None:
        name = self._new_name()
        (self.lib / name).write_bytes(self.world["data"][content])
        self.files[name] = content

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def move(self, data: st.DataObject) -> None:
        old = data.draw(st.sampled_from(sorted(self.files)))
        new = self._new_name()
        os.rename(self.lib / old, self.lib / new)
        self.files[new] = self.files.pop(old)

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def copy(self, data: st.DataObject) -> None:
        old = data.draw(st.sampled_from(sorted(self.files)))
        new = self._new_name()
        shutil.copy2(self.lib / old, self.lib / new)
        self.files[new] = self.files[old]

    @precondition(lambda self: self.files)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.files)))
        (self.lib / name).unlink()
        del self.files[name]

    @rule(after=st.integers(0, 2), threshold=st.sampled_from(THRESHOLDS))
    def killed_classify(self, after: int, threshold: float | None) -> None:
        self.min_probability = threshold  # classify --min-probability ... (None: the card's thresholds)
        try:
            _Dying(self._predictor(), self.engine, batch_size=1, left=after).run([self.lib])
        except Killed:
            pass

    @rule(threshold=st.sampled_from(THRESHOLDS))
    def classify(self, threshold: float | None = None) -> None:
        self.min_probability = threshold
        Classifier(self._predictor(), self.engine, batch_size=2).run([self.lib])
        self._check()

    @rule(data=st.data(), not_a_dog=st.booleans())
    def review(self, data: st.DataObject, not_a_dog: bool) -> None:
        rows = [r for r in iter_rows(self.engine) if r["verdict"] != "unreadable"]
        if not rows:
            return
        row = data.draw(st.sampled_from(rows))
        content = self.world["by_hash"][row["sha256"]]
        breed = None if not_a_dog else row["top5"][-1]["breed"]
        decision = "not_a_dog" if not_a_dog else ("confirmed" if breed == row["breed"] else "corrected")
        record(self.engine, row, decision, breed, "hypothesis")
        self.decisions[content] = (decision, breed)

    def _check(self) -> None:
        rows = {r["path"]: r for r in iter_rows(self.engine)}
        assert sorted(rows) == sorted(str(self.lib.resolve() / name) for name in self.files)
        verdicts = self._predictor().card.verdicts
        for name, content in self.files.items():
            row = rows[str(self.lib.resolve() / name)]
            breed, probability, margin, dog, _top = self.world["model"][content]
            assert row["breed"] == breed and row["probability"] == pytest.approx(probability, abs=1e-6)
            assert row["verdict"] == judge(probability, margin, dog, verdicts)
            decision = self.decisions.get(content)
            if decision is None:
                expected = (breed if row["verdict"] == "dog" else None, row["verdict"])
            else:
                expected = (decision[1], "not_a_dog" if decision[0] == "not_a_dog" else "dog")
            assert (row["final_breed"], row["final_verdict"]) == expected

    def teardown(self) -> None:
        try:
            self.classify(self.min_probability)
        finally:
            self.engine.dispose()
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.mark.slow
def test_random_histories_keep_one_row_per_photo_and_the_rules(world: dict) -> None:
    CatalogHistory.world = world
    run = CatalogHistory.TestCase
    run.settings = settings(
        max_examples=int(os.environ.get("DOGBREEDS_HYPOTHESIS_EXAMPLES", "40")), stateful_step_count=15,
        deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )  # fmt: skip
    run("runTest").runTest()

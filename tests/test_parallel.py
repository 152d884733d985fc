"""Bounded read-ahead: order kept, never more than ``ahead`` results waiting."""

from __future__ import annotations

import threading
import time

from dogbreeds.core.parallel import batched, map_ahead


def test_map_ahead_keeps_order_and_bounds_what_is_in_flight() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            started.append(i)
        time.sleep(0.001)
        return i * i

    results = []
    for k, r in enumerate(map_ahead(work, range(200), workers=2, ahead=8)):
        results.append(r)
        time.sleep(0.002)  # a slow consumer, like the model
        with lock:
            assert len(started) <= k + 1 + 8  # never more than 8 beyond what was consumed
    assert results == [i * i for i in range(200)]


def test_batched() -> None:
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batched([], 3)) == []

"""Decoding photos in worker threads while the model runs, with memory that stays flat.

``ThreadPoolExecutor.map`` submits every item at once: on a 100,000-photo library the decoded arrays would pile
up faster than the model consumes them. :func:`map_ahead` keeps a bounded number of results in flight instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
# Photos per model call. OpenVINO's int8 kernels run the shipped model about a third faster in batches of 64 than
# of 16 on 2 cores (classify end to end: 182 against 133 photos/s; benchmarks/results/default_classify.md); a
# batch is also one catalog transaction, so an interrupted classify redoes at most this many photos.
BATCH_SIZE = 64


def map_ahead(fn: Callable[[T], R], items: Iterable[T], *, workers: int = 2, ahead: int = 64) -> Iterator[R]:
    """``fn`` over ``items`` in ``workers`` threads, results in input order, at most ``ahead`` in flight."""
    it = iter(items)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        pending: deque[Future[R]] = deque(pool.submit(fn, item) for item in islice(it, max(1, ahead)))
        try:
            while pending:
                done = pending.popleft()
                for item in islice(it, 1):
                    pending.append(pool.submit(fn, item))
                yield done.result()
        finally:  # stopped early (Ctrl-C, an error downstream): what has not started never will
            for future in pending:
                future.cancel()


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch

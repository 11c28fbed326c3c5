"""How a compile and a run use Python's cyclic garbage collector.

Both make objects that live until they end: a compile builds every step's syntax trees
(~125k objects at 500 steps, each node pointing at its parent), a run keeps the compiled
project and its plan. Python's full (generation 2) collection walks every tracked object,
holding the GIL, and is started again each time the heap has grown by a quarter: during a
500-step compile and first build that was 6-8 full collections, 0.1-0.45 s each, freeing
nothing of those trees, while DuckDB waited for its next statement. Young garbage (the
copies a compile or a build makes and drops) is collected as usual by the young
generations; only the full walks are held off, and nothing is kept from the collector
once the compile or run has ended.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def growing() -> Iterator[None]:
    """No full collection while a compile builds its trees (also a decorator)."""
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, max(full, 1_000_000))
    try:
        yield
    finally:
        gc.set_threshold(young, middle, full)


@contextmanager
def kept() -> Iterator[None]:
    """What exists now (the compiled project) is out of the collector's sight until the
    run ends, and what the run keeps (the plan's fingerprints, results) is not walked
    again and again either (after a freeze a full collection came every ~25% of growth:
    3 of them, 0.47 s under load 11, in a 500-step first build); young garbage is
    collected as usual."""
    gc.freeze()
    try:
        with growing():  # what the plan and the builds keep (fingerprints, results) grows too
            yield
    finally:
        gc.unfreeze()

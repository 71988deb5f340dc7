"""carelog serve's GC settings: start-up objects frozen, a higher young-generation threshold."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from adapters.gc_tuning import SERVE_GC_THRESHOLD, tune_gc_for_serving


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("restored_gc")
def test_serving_freezes_start_up_and_collects_less_often() -> None:
    gc.unfreeze()
    kept = [[i] for i in range(100)]  # start-up state, alive
    tune_gc_for_serving()
    assert gc.get_threshold() == SERVE_GC_THRESHOLD
    assert SERVE_GC_THRESHOLD[0] > 700
    assert gc.get_freeze_count() >= len(kept)


@pytest.mark.usefixtures("restored_gc")
def test_cycles_are_still_collected() -> None:
    tune_gc_for_serving()

    class Node:
        other: object

    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    assert gc.collect() >= 2

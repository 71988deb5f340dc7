"""The cyclic collector is paused during catch-ups and restored exactly as it was."""

from __future__ import annotations

import gc
import threading

from projections.collector import collector_paused


def test_nested_and_concurrent_pauses_restore_the_collector_once_all_end() -> None:
    assert gc.isenabled()
    entered, release = threading.Event(), threading.Event()

    def other_catch_up() -> None:
        with collector_paused():
            entered.set()
            release.wait(5)

    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer one still runs
        thread = threading.Thread(target=other_catch_up)
        thread.start()
        assert entered.wait(5)
    assert not gc.isenabled()  # the other thread's catch-up still runs
    release.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_comes_back_after_a_failure() -> None:
    try:
        with collector_paused():
            raise RuntimeError("a catch-up that fails")
    except RuntimeError:
        pass
    assert gc.isenabled()

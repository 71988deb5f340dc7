"""Log lines from an event loop's thread are written once per loop turn, in order."""

from __future__ import annotations

import asyncio
import threading

from adapters.logging import _LineSink


class _Stream:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass


def test_lines_of_one_loop_turn_are_one_write() -> None:
    stream = _Stream()
    sink = _LineSink(stream)  # type: ignore[arg-type]

    async def turn() -> list[str]:
        for n in range(3):
            sink.add(f"line {n}")
        before = list(stream.writes)
        await asyncio.sleep(0)  # the loop turns: the pending lines are written
        await asyncio.sleep(0)
        return before

    assert asyncio.run(turn()) == []
    assert stream.writes == ["line 0\nline 1\nline 2\n"]


def test_a_line_from_another_thread_is_written_at_once_after_the_pending_ones() -> None:
    stream = _Stream()
    sink = _LineSink(stream)  # type: ignore[arg-type]

    async def main() -> None:
        sink.add("loop 1")
        thread = threading.Thread(target=sink.add, args=("writer thread",))
        thread.start()
        thread.join()
        assert stream.writes == ["loop 1\nwriter thread\n"]
        sink.add("loop 2")
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(main())
    assert stream.writes == ["loop 1\nwriter thread\n", "loop 2\n"]


def test_what_is_pending_when_the_loop_ends_is_written_by_flush() -> None:
    stream = _Stream()
    sink = _LineSink(stream)  # type: ignore[arg-type]

    loop = asyncio.new_event_loop()
    asyncio.events._set_running_loop(loop)  # as inside a callback of that loop
    try:
        sink.add("last words")
    finally:
        asyncio.events._set_running_loop(None)
    loop.close()  # the loop stopped before the scheduled write ran
    assert stream.writes == []
    sink.flush()  # what atexit does
    assert stream.writes == ["last words\n"]
    sink.flush()
    assert stream.writes == ["last words\n"]

"""GroupCommitWriter: messages waiting together share one commit; each gets its own outcome."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from adapters.writer import GroupCommitWriter
from engine.application.outcome import IngestOutcome


class _Gate:
    """An ingest_many that blocks until released, recording the batches it was given."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.batches: list[list[bytes]] = []
        self.fail = False

    def __call__(self, items: Sequence[tuple[bytes, str]]) -> list[IngestOutcome]:
        self.entered.set()
        self.release.wait(5)
        self.batches.append([raw for raw, _ in items])
        if self.fail:
            raise OSError("disk full")
        return [IngestOutcome("AA", None, raw) for raw, _ in items]


async def _queued(writer: GroupCommitWriter, n: int) -> None:
    """Returns once ``n`` messages wait in the writer's queue (each ``submit`` puts its
    message there on its first step, so this takes a loop turn or two)."""
    for _ in range(1000):
        if writer._queue.qsize() >= n:
            return
        await asyncio.sleep(0)  # one loop turn: the submitting tasks run their first step
    raise AssertionError(f"{n} messages never reached the writer's queue")


def test_waiting_messages_share_one_commit_and_get_their_own_outcomes() -> None:
    gate = _Gate()
    writer = GroupCommitWriter(gate)

    async def scenario() -> list[IngestOutcome]:
        first = asyncio.ensure_future(writer.submit(b"1", "c"))
        await asyncio.to_thread(gate.entered.wait, 5)  # the writer holds message 1
        rest = [asyncio.ensure_future(writer.submit(b"%d" % n, "c")) for n in (2, 3, 4)]
        await _queued(writer, 3)  # all three wait behind message 1's commit
        gate.release.set()
        return await asyncio.gather(first, *rest)

    outcomes = asyncio.run(scenario())
    writer.close()
    assert [o.raw for o in outcomes] == [b"1", b"2", b"3", b"4"]
    assert gate.batches == [[b"1"], [b"2", b"3", b"4"]]
    assert (writer.batches, writer.messages) == (2, 4)


def test_a_waiter_that_gave_up_does_not_break_the_batch() -> None:
    gate = _Gate()
    writer = GroupCommitWriter(gate)

    async def scenario() -> tuple[IngestOutcome, IngestOutcome]:
        first = asyncio.ensure_future(writer.submit(b"1", "c"))
        await asyncio.to_thread(gate.entered.wait, 5)
        quitter = asyncio.ensure_future(writer.submit(b"2", "c"))
        stayer = asyncio.ensure_future(writer.submit(b"3", "c"))
        await _queued(writer, 2)
        quitter.cancel()  # a connection closed while its message was queued
        gate.release.set()
        done = await asyncio.gather(first, stayer)
        later = await writer.submit(b"4", "c")  # the writer still serves
        return done[1], later

    stayer, later = asyncio.run(scenario())
    writer.close()
    assert (stayer.raw, later.raw) == (b"3", b"4")
    assert [b"2", b"3"] in gate.batches  # committed all the same: a resend is answered AA


def test_a_failed_commit_fails_every_message_in_it() -> None:
    gate = _Gate()
    gate.fail = True
    gate.release.set()
    writer = GroupCommitWriter(gate)

    async def scenario() -> None:
        await writer.submit(b"1", "c")

    with pytest.raises(OSError, match="disk full"):
        asyncio.run(scenario())
    writer.close()

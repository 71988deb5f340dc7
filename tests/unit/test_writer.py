"""GroupCommitWriter: messages waiting together share one commit; each gets its own outcome."""

from __future__ import annotations

import asyncio
import threading
import time
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


def test_waiting_messages_share_one_commit_and_get_their_own_outcomes() -> None:
    gate = _Gate()
    writer = GroupCommitWriter(gate)

    async def scenario() -> list[IngestOutcome]:
        first = asyncio.ensure_future(writer.submit(b"1", "c"))
        await asyncio.to_thread(gate.entered.wait, 5)  # the writer holds message 1
        rest = [asyncio.ensure_future(writer.submit(b"%d" % n, "c")) for n in (2, 3, 4)]
        await asyncio.sleep(0.05)
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
        await asyncio.sleep(0.01)
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


def test_commits_are_reported_at_most_once_per_interval_and_none_is_lost() -> None:
    reports: list[tuple[float, list[bytes]]] = []
    gate = _Gate()
    gate.release.set()
    writer = GroupCommitWriter(
        gate,
        on_commit=lambda outcomes: reports.append((time.monotonic(), [o.raw for o in outcomes])),
        notify_interval_s=0.5,
    )

    async def scenario() -> None:
        for n in range(1, 6):  # five commits, one message each, well inside one interval
            await writer.submit(b"%d" % n, "c")

    asyncio.run(scenario())
    first_wave = list(reports)
    time.sleep(0.8)  # no message comes: the writer still reports what it owes
    writer.close()
    assert first_wave[0][1] == [b"1"]  # the first commit after a quiet spell: at once
    assert [raw for _, rs in reports for raw in rs] == [b"1", b"2", b"3", b"4", b"5"]
    assert len(reports) == 2  # the other four together, when the interval was up
    assert reports[1][0] - reports[0][0] >= 0.49


def test_close_reports_commits_still_owed() -> None:
    reports: list[list[bytes]] = []
    gate = _Gate()
    gate.release.set()
    writer = GroupCommitWriter(
        gate,
        on_commit=lambda outcomes: reports.append([o.raw for o in outcomes]),
        notify_interval_s=60,
    )

    async def scenario() -> None:
        await writer.submit(b"1", "c")
        await writer.submit(b"2", "c")

    asyncio.run(scenario())
    writer.close()
    assert reports == [[b"1"], [b"2"]]


def test_a_short_batch_waits_for_the_senders_lately_seen_at_once() -> None:
    gate = _Gate()
    writer = GroupCommitWriter(gate, max_linger_s=1.0)

    async def scenario() -> None:
        first = asyncio.ensure_future(writer.submit(b"1", "c"))
        await asyncio.to_thread(gate.entered.wait, 5)
        rest = [asyncio.ensure_future(writer.submit(b"%d" % n, "c")) for n in (2, 3, 4)]
        await asyncio.sleep(0.3)  # a slow commit: lingering may take up to half of it
        gate.release.set()
        await first  # message 1's sender answered, sends again: 4 were outstanding at once
        late = asyncio.ensure_future(writer.submit(b"5", "c"))
        await asyncio.gather(*rest, late)

    asyncio.run(scenario())
    writer.close()
    # Without lingering, message 5 would (most often) get a commit of its own.
    assert gate.batches == [[b"1"], [b"2", b"3", b"4", b"5"]]


def test_a_lone_sender_never_waits() -> None:
    entered: list[float] = []

    def slow_commit(items: Sequence[tuple[bytes, str]]) -> list[IngestOutcome]:
        entered.append(time.monotonic())
        time.sleep(0.2)  # lingering, if any, would be up to half of this: 0.1 s
        return [IngestOutcome("AA", None, raw) for raw, _ in items]

    writer = GroupCommitWriter(slow_commit, max_linger_s=5.0)

    async def scenario() -> list[float]:
        sent = []
        for n in range(4):
            sent.append(time.monotonic())
            await writer.submit(b"%d" % n, "c")
        return sent

    sent = asyncio.run(scenario())
    writer.close()
    assert len(entered) == 4
    assert max(e - s for s, e in zip(sent, entered, strict=True)) < 0.08

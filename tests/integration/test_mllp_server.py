"""The asyncio MLLP listener on a real socket: framing, concurrency, limits, shutdown."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path

from adapters.bootstrap import build
from adapters.mllp.framing import FrameReader, frame
from adapters.mllp.server import MLLPServer
from engine.application.outcome import IngestOutcome
from engine.config import Settings
from engine.hl7.message import parse_message
from tests.conftest import sample
from tests.fakes import FakeMessageValidator
from tests.messages import VERSIONS


def read_frames(sock: socket.socket, count: int) -> list[bytes]:
    reader = FrameReader()
    frames: list[bytes] = []
    while len(frames) < count:
        data = sock.recv(65536)
        if not data:
            break
        frames += [f for f in reader.feed(data) if isinstance(f, bytes)]
    return frames


async def start_server(tmp_path: Path, **kwargs: object) -> tuple[MLLPServer, object]:
    engine = build(
        Settings(store=f"sqlite:///{tmp_path / 'c.db'}"), validator=FakeMessageValidator()
    )
    loop = asyncio.get_running_loop()

    async def ingest(raw: bytes, channel: str) -> IngestOutcome:
        return await loop.run_in_executor(None, engine.ingestion.ingest, raw, channel)

    server = MLLPServer(ingest, host="127.0.0.1", port=0, **kwargs)  # type: ignore[arg-type]
    await server.start()
    return server, engine


def test_many_messages_per_connection_and_concurrent_connections(tmp_path: Path) -> None:
    async def scenario() -> None:
        server, engine = await start_server(tmp_path)
        base = sample("adt_a01.hl7")

        def client(conn: int) -> list[str]:
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.settimeout(10)
                # Pipelined: five frames in one write; one ACK each, in order.
                msgs = [base.replace(b"MSG00001", b"C%dM%d" % (conn, i)) for i in range(5)]
                s.sendall(b"".join(frame(m) for m in msgs))
                return [parse_message(a).get("MSA", 2) for a in read_frames(s, 5)]

        results = await asyncio.gather(*(asyncio.to_thread(client, c) for c in range(4)))
        for conn, controls in enumerate(results):
            assert controls == [f"C{conn}M{i}" for i in range(5)]
        await server.stop()
        engine.close()  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_oversize_frame_gets_ar_and_the_connection_goes_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        server, engine = await start_server(tmp_path, max_frame_bytes=1000)

        def client() -> list[str]:
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.settimeout(10)
                big = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|BIG1|P|2.5\rNTE|" + b"x" * 5000
                s.sendall(frame(big) + frame(sample("adt_a01.hl7")))
                return [
                    f"{parse_message(a).get('MSA', 1)}:{parse_message(a).get('MSA', 2)}"
                    for a in read_frames(s, 2)
                ]

        assert await asyncio.to_thread(client) == ["AR:BIG1", "AA:MSG00001"]
        await server.stop()
        engine.close()  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_oversize_frame_ack_has_a_size_code_and_the_whole_msh_9(tmp_path: Path) -> None:
    """Table 0357 102 (not 100, a segment sequence error), MSH-9 ACK^<trigger>^ACK read
    from the frame's head (ACK^<trigger> in 2.3), the setting named in ERR."""

    async def scenario() -> None:
        server, engine = await start_server(tmp_path, max_frame_bytes=1000)

        def client(version: str) -> bytes:
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.settimeout(10)
                head = f"MSH|^~\\&|LAB|H|C|D|20240101||ORU^R01^ORU_R01|BIG2|P|{version}\r"
                s.sendall(frame(head.encode() + b"OBX|1|ED|PDF||" + b"A" * 5000))
                return read_frames(s, 1)[0]

        for version in VERSIONS:  # the ACK of every version (ERR-1 before 2.5, ERR-3 from it)
            msh9 = "ACK^R01" if version == "2.3" else "ACK^R01^ACK"
            ack = parse_message(await asyncio.to_thread(client, version))
            assert (ack.get("MSA", 1), ack.get("MSA", 2)) == ("AR", "BIG2")
            assert (ack.field("MSH", 9), ack.get("MSH", 12)) == (msh9, version)
            err = ack.segments_named("ERR")[0]
            code = ack.get("ERR", 3) if version >= "2.5" else ack.get("ERR", 1, 4)
            assert code == "102", err
            assert "CARELOG_MAX_FRAME_BYTES" in "|".join(err) + ack.get("MSA", 3)
        await server.stop()
        engine.close()  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_idle_connection_is_closed(tmp_path: Path) -> None:
    async def scenario() -> None:
        server, engine = await start_server(tmp_path, idle_timeout_s=0.2)

        def client() -> bytes:
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.settimeout(5)
                return s.recv(10)  # b"" once the server closes the idle connection

        assert await asyncio.to_thread(client) == b""
        await server.stop()
        engine.close()  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_idle_timeout_counts_from_the_last_message_not_the_connection(tmp_path: Path) -> None:
    async def scenario() -> None:
        server, engine = await start_server(tmp_path, idle_timeout_s=0.3)
        loop = asyncio.get_running_loop()

        def client() -> tuple[int, float, bytes]:
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.settimeout(5)
                answered = 0
                for n in range(6):  # 6 x 0.15 s: three times the timeout, never idle for long
                    msg = sample("adt_a01.hl7").replace(b"MSG00001", f"IDLE{n}".encode())
                    s.sendall(frame(msg))
                    answered += len(read_frames(s, 1))
                    if n < 5:
                        threading.Event().wait(0.15)
                last = loop.time()
                closed = s.recv(10)  # b"" once the server closes the now idle connection
                return answered, loop.time() - last, closed

        answered, idle_for, closed = await asyncio.to_thread(client)
        assert answered == 6
        assert closed == b""
        assert 0.25 <= idle_for < 2.0
        await server.stop()
        engine.close()  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_stop_lets_the_in_flight_message_finish_with_its_ack(tmp_path: Path) -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        seen = asyncio.Event()
        acks: list[str] = []

        async def slow_ingest(raw: bytes, channel: str) -> IngestOutcome:
            seen.set()
            await release.wait()
            return IngestOutcome("AA", parse_message(raw), raw)

        server = MLLPServer(slow_ingest, host="127.0.0.1", port=0)
        await server.start()

        def client() -> None:
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.settimeout(10)
                s.sendall(frame(sample("adt_a01.hl7")))
                acks.extend(parse_message(a).get("MSA", 1) for a in read_frames(s, 1))

        task = asyncio.create_task(asyncio.to_thread(client))
        await seen.wait()
        stopping = asyncio.create_task(server.stop())
        # stop() closes the listening socket in its first step, before it awaits anything.
        await asyncio.wait_for(server._stopping.wait(), 10)
        # Not accepting any more while the first message is still in flight.
        refused = await asyncio.to_thread(_connect_refused, server.port)
        release.set()
        await stopping
        await task
        assert acks == ["AA"]
        assert refused

    asyncio.run(scenario())


def _connect_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_no_ack_when_the_sender_asks_for_none(tmp_path: Path) -> None:
    async def scenario() -> None:
        server, engine = await start_server(tmp_path)
        base = sample("adt_a01.hl7")
        silent = base.replace(b"|P|2.5.1", b"|P|2.5.1|||NE|NE")
        accept_only = base.replace(b"MSG00001", b"MSG00002").replace(
            b"|P|2.5.1", b"|P|2.5.1|||AL|NE"
        )

        def client() -> list[str]:
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.settimeout(10)
                s.sendall(frame(silent) + frame(accept_only))
                return [
                    f"{parse_message(a).get('MSA', 1)}:{parse_message(a).get('MSA', 2)}"
                    for a in read_frames(s, 1)
                ]

        # Only the second message is answered, with a commit ACK; both were stored.
        assert await asyncio.to_thread(client) == ["CA:MSG00002"]
        await server.stop()
        topics = [
            n.topic
            for n in engine.ingestion.recorder.select_notifications(1, 100)  # type: ignore[attr-defined]
        ]
        assert sum(t.endswith("InboundMessage.Received") for t in topics) == 2
        engine.close()  # type: ignore[attr-defined]

    asyncio.run(scenario())


def test_a_batch_in_one_frame_gets_one_batch_ack_and_bad_messages_do_not_sink_it(
    tmp_path: Path,
) -> None:
    from adapters.writer import GroupCommitWriter
    from tests.messages import adt

    messages = [
        adt("A01", "B1", mrn="M1", visit="V1"),
        adt("A08", "B2", mrn="M1", name="DOE^JOAN"),
        adt("A03", "B3", mrn="M1", visit="NOSUCHVISIT"),  # AE 204: unknown visit
        b"MSH^broken\r",  # AR: no usable header
        adt("A01", "B5", mrn="M2", visit="V2"),
    ]
    batch = (
        b"FHS|^~\\&|LAB|HOSP|CARELOG|HOSP|20240101120000||||FILE-9\r"
        b"BHS|^~\\&|LAB|HOSP|CARELOG|HOSP|20240101120000||||BATCH-7\r"
        + b"".join(messages)
        + b"BTS|5\rFTS|1\r"
    )

    async def scenario() -> tuple[list[bytes], int, int]:
        engine = build(
            Settings(store=f"sqlite:///{tmp_path / 'c.db'}"), validator=FakeMessageValidator()
        )
        writer = GroupCommitWriter(engine.ingestion.ingest_many)
        server = MLLPServer(writer.submit, host="127.0.0.1", port=0)
        await server.start()

        def client() -> list[bytes]:
            with socket.create_connection(("127.0.0.1", server.port)) as s:
                s.settimeout(10)
                s.sendall(frame(batch))
                answer = read_frames(s, 1)
                s.sendall(frame(adt("A08", "B6", mrn="M2")))  # the connection goes on
                return answer + read_frames(s, 1)

        frames = await asyncio.to_thread(client)
        await server.stop()
        writer.close()
        stored = [
            engine.ingestion.mapper.to_domain_event(n).control_id
            for n in engine.ingestion.recorder.select_notifications(1, 100)
            if n.topic.endswith("InboundMessage.Received")
        ]
        engine.close()
        return frames, writer.batches, len(stored) and stored  # type: ignore[return-value]

    frames, batches, stored = asyncio.run(scenario())
    assert len(frames) == 2
    lines = [line.split("|") for line in frames[0].decode().split("\r") if line]
    assert [line[0] for line in lines][:2] == ["FHS", "BHS"]
    assert (lines[0][11], lines[1][11]) == ("FILE-9", "BATCH-7")  # FHS-12, BHS-12 echo them
    assert (lines[1][2], lines[1][4]) == ("CARELOG", "LAB")  # sender and receiver swapped
    msas = [line for line in lines if line[0] == "MSA"]
    assert [(m[1], m[2]) for m in msas] == [
        ("AA", "B1"),
        ("AA", "B2"),
        ("AE", "B3"),
        ("AR", ""),
        ("AA", "B5"),
    ]
    errs = [line for line in lines if line[0] == "ERR"]
    assert errs[0][3].startswith("204^")  # the unknown visit, located
    bts = next(line for line in lines if line[0] == "BTS")
    assert bts[1] == "5" and "3 of 5 accepted" in bts[2] and "3:AE 4:AR" in bts[2]
    assert [line[0] for line in lines][-1] == "FTS"
    assert stored == ["B1", "B2", "B5", "B6"]  # the good ones committed, in order
    assert batches < 5  # group commit: the batch's messages shared commits
    assert parse_message(frames[1]).get("MSA", 2) == "B6"

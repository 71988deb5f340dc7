"""The reference servers carelog's ingest is measured against, on the same corpus and client.

``python -m bench.peers hl7 --port 0``: python-hl7's asyncio MLLP server
(``hl7.mllp.start_hl7_server``), answering ``create_ack()`` after ``hl7.parse``
and storing nothing: what a thin Python HL7 listener costs.

``python -m bench.peers bare --port 0``: a bare asyncio server that finds the
MLLP end block and answers a fixed ACK without parsing: the ceiling of one
Python process on this machine.

Each prints a ``serve.ready`` JSON line with its port on stderr (as `carelog
serve` does), so the bench starts all three the same way, each in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

__all__ = ["main"]

_FIXED_ACK = (
    b"\x0bMSH|^~\\&|CARELOG|GENHOSP|EPIC|GENHOSP|20240301000000||ACK^A01^ACK|1|P|2.5.1\r"
    b"MSA|AA|1\r\x1c\r"
)


async def _hl7_server(host: str, port: int) -> asyncio.AbstractServer:
    import hl7
    import hl7.mllp

    async def handle(reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
        try:
            while not writer.is_closing():
                message = await reader.readmessage()  # readblock + hl7.parse
                writer.writemessage(message.create_ack())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    # python-hl7 0.4.5 decodes as ASCII unless told; the corpus is UTF-8 declared.
    return await hl7.mllp.start_hl7_server(handle, host, port, encoding="utf-8")


async def _bare_server(host: str, port: int) -> asyncio.AbstractServer:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\x1c\r")
                writer.write(_FIXED_ACK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=1 << 20)


async def _run(kind: str, host: str, port: int) -> None:
    server = await (_hl7_server if kind == "hl7" else _bare_server)(host, port)
    bound = server.sockets[0].getsockname()[1]
    print(json.dumps({"event": "serve.ready", "mllp_port": bound, "peer": kind}), file=sys.stderr)
    sys.stderr.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(server.wait_closed(), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["hl7", "bare"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(_run(args.kind, args.host, args.port))


if __name__ == "__main__":
    main()

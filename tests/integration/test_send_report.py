"""`carelog send` over a real socket names the file, the position in it and MSH-10 of each
non-AA answer (not `message 3: AE`, counted across every file)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.bootstrap import build
from adapters.cli import main
from adapters.mllp.server import MLLPServer
from engine.application.outcome import IngestOutcome
from engine.config import Settings
from native import NativeMessageValidator
from tests.messages import adt, dft

pytestmark = pytest.mark.native


def test_send_names_file_position_and_control_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "adt.hl7"
    first.write_bytes(adt("A01", "ADT1") + adt("A01", "ADT2", mrn="MRN2", visit="V2"))
    second = tmp_path / "dft.hl7"
    ft1 = {1: "1", 4: "20240101", 6: "CG", 7: "99213", 10: "1", 11: "125.00&USD"}
    second.write_bytes(
        dft("DFT1", [ft1]) + dft("DFT2", [{**ft1, 11: "1,250.00&USD"}]) + adt("A99", "ADT3")
    )

    async def scenario() -> int:
        engine = build(
            Settings(store=f"sqlite:///{tmp_path / 'c.db'}"), validator=NativeMessageValidator()
        )
        loop = asyncio.get_running_loop()

        async def ingest(raw: bytes, channel: str) -> IngestOutcome:
            return await loop.run_in_executor(None, engine.ingestion.ingest, raw, channel)

        server = MLLPServer(ingest, host="127.0.0.1", port=0)
        await server.start()
        try:
            to = f"127.0.0.1:{server.port}"
            return await asyncio.to_thread(main, ["send", str(first), str(second), "--to", to])
        finally:
            await server.stop()
            engine.close()

    assert asyncio.run(scenario()) == 1
    out = capsys.readouterr()
    details = out.err.splitlines()
    assert len(details) == 2, out.err
    assert details[0].startswith(f"{second}: message 2 (MSH-10 DFT2): AE ")
    assert "FT1-11.1.1" in details[0]
    assert details[1].startswith(f"{second}: message 3 (MSH-10 ADT3): AR ")

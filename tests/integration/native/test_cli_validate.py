"""`carelog validate FILE...` reports the profile rules as `FILE:MSG#:SEG[n]-F.C: CODE text`."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.cli import main
from tests.messages import adt

pytestmark = pytest.mark.native


def test_profile_faults_in_the_contract_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.hl7"
    good.write_bytes(adt("A01", "1"))
    bad = tmp_path / "bad.hl7"
    bad.write_bytes(adt("A01", "2", pv1=False) + b"\r\n" + adt("A01", "3", birth="19800230"))
    assert main(["validate", str(good), str(bad)]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f"{bad}:1:PV1[0]: 100 a required segment is missing (PV1)",
        f"{bad}:2:PID[1]-7.1: 102 not a valid HL7 date/time "
        "YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ] (PID-7.1)",
    ]
    assert "3 message(s), 2 invalid" in out.err
    assert main(["validate", str(good)]) == 0


def test_strict_level_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "z.hl7"
    path.write_bytes(adt("A01", "1").replace(b"\rPV1", b"\rZPI|site\rPV1"))
    assert main(["validate", str(path)]) == 0  # tolerant: a Z segment is fine
    capsys.readouterr()
    assert main(["validate", "--strict", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:1:ZPI[1]: 100 segment not defined for this message structure (ZPI)"
    ]

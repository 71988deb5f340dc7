"""`carelog validate` and ingest give the same verdict on the same message.

The validator checks the numeric parts of the composite types the profiles use
(CP in FT1-11/12, MO, SN in OBX-5 as OBX-2 names it), so a message the handlers
could not read (a DFT whose FT1-11 is ``1,250.00``) is refused by both, and one
validate passes is accepted by ingest. A property test over generated DFT and
ORU messages compares validate's verdict (the CLI's exit status and output)
with the ACK code of ingest on SQLite.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.cli import main
from adapters.crypto.setup import prepare_keys
from engine.application.ingestion import Ingestion
from engine.config import Settings
from native import NativeMessageValidator
from tests.conftest import _POSTGRES, _store_url
from tests.fakes import FixedClock
from tests.messages import VERSIONS, dft, oru

pytestmark = pytest.mark.native

_IDS = itertools.count(1)

# Amounts as senders write them: plain, signed, decimals, thousands commas, currency
# suffixes, spaces, letters; as CP (amount&currency^type^from^to) or MO (amount^currency).
_NUMBER = st.sampled_from(
    ["0", "12", "-3.5", "+7", ".25", "1250.00", "1,250.00", "12,5", "1e3", "x", "12USD", " 5", ""]
)
_CURRENCY = st.sampled_from(["", "USD", "EUR"])


@st.composite
def _cp(draw: st.DrawFn) -> str:
    amount, currency = draw(_NUMBER), draw(_CURRENCY)
    form = draw(st.sampled_from(["cp", "mo", "range"]))
    if form == "mo":
        return f"{amount}^{currency}" if currency else amount
    price = f"{amount}&{currency}" if currency else amount
    if form == "range":
        return f"{price}^^{draw(_NUMBER)}^{draw(_NUMBER)}"
    return price


@st.composite
def _dft_message(draw: st.DrawFn) -> bytes:
    ft1 = {1: "1", 4: "20240101", 6: "CG", 7: "99213^Visit", 10: draw(_NUMBER)}
    ft1[11], ft1[12] = draw(_cp()), draw(_cp())
    return dft(f"P{next(_IDS)}", [ft1], version=draw(st.sampled_from(VERSIONS)))


@st.composite
def _oru_message(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["NM", "SN", "MO", "CP"]))
    if kind == "NM":
        value = draw(_NUMBER)
    elif kind == "SN":
        value = f"{draw(st.sampled_from(['', '>', '<=']))}^{draw(_NUMBER)}"
        if draw(st.booleans()):
            value += f"^{draw(st.sampled_from([':', '-', '/']))}^{draw(_NUMBER)}"
    else:
        value = draw(_cp())
    obx = {1: "1", 2: kind, 3: "2093-3^Cholesterol^LN", 5: value, 11: "F"}
    return oru(f"O{next(_IDS)}", [obx], version=draw(st.sampled_from(VERSIONS)))


@pytest.fixture(scope="module", params=["sqlite", _POSTGRES])
def ingestion(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ingestion]:
    """One store per backend for the whole module (the property test's many examples)."""
    work = tmp_path_factory.mktemp("agree")
    url = _store_url(request.param, work)
    if request.param == "sqlite":
        (work / "store").mkdir(parents=True)
    settings = prepare_keys(Settings(store=url))
    app = Ingestion(
        settings.eventsourcing_env(),
        validator=NativeMessageValidator(**settings.validator_limits()),
        clock=FixedClock(),
    )
    yield app
    app.close()


def _validate_verdict(path: Path, message: bytes, capsys: pytest.CaptureFixture[str]) -> bool:
    path.write_bytes(message)
    capsys.readouterr()
    ok = main(["validate", str(path)]) == 0
    capsys.readouterr()
    return ok


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(message=st.one_of(_dft_message(), _oru_message()))
def test_validate_passes_exactly_what_ingest_accepts(
    message: bytes,
    ingestion: Ingestion,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    valid = _validate_verdict(tmp_path / "m.hl7", message, capsys)
    outcome = ingestion.ingest(message, "test")
    assert outcome.ack_code in ("AA", "AE")
    assert valid == (outcome.ack_code == "AA"), (message, [f.text for f in outcome.faults])


def test_the_issues_dft_is_refused_by_both(
    ingestion: Ingestion, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ft1 = {1: "1", 4: "20240101", 6: "CG", 7: "99213", 10: "1", 11: "1,250.00&USD"}
    message = dft("COMMA1", [ft1])
    path = tmp_path / "dft.hl7"
    path.write_bytes(message)
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:1:FT1[1]-11.1.1: 102 not an HL7 number (NM): optional sign, digits, "
        "optional decimal point (FT1-11.1.1)"
    ]
    outcome = ingestion.ingest(message, "test")
    assert outcome.ack_code == "AE"
    assert [(f.code, f.location()) for f in outcome.faults] == [(102, "FT1[1]-11.1.1")]


def test_validate_names_segments_by_their_sequence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {1: "1", 2: "NM", 3: "GLU^Glucose", 5: "5.1", 11: "F"}
    path = tmp_path / "oru.hl7"
    path.write_bytes(oru("SEQ1", [good, {**good, 1: "2", 5: "high"}]))
    assert main(["validate", str(path)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}:1:OBX[2]-5.1: 102 ")

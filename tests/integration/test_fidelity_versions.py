"""Issue 15's bullets in every version from 2.3 to 2.8 on SQLite and PostgreSQL, through
the real validator, where the other tests run one version: the emergency visit admitted as
an inpatient (A04 then A01), and a reused control id told apart from a resend.

tests/README.md ("HL7 v2 fidelity matrix") lists which test covers which bullet.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.bootstrap import Engine, build
from engine.config import Settings
from native import NativeMessageValidator
from projections.texts import id_text
from tests.messages import VERSIONS, adt
from tests.unit.test_adt_scenarios import VISIT

pytestmark = pytest.mark.native


@pytest.fixture
def engine(durable_store_url: str) -> Iterator[Engine]:
    built = build(Settings(store=durable_store_url), validator=NativeMessageValidator())
    yield built
    built.close()


def _ack(engine: Engine, message: bytes) -> tuple[str, list[int]]:
    outcome = engine.ingestion.ingest(message, "t")
    return outcome.ack_code, [f.code for f in outcome.faults]


@pytest.mark.parametrize("version", VERSIONS)
def test_an_emergency_visit_admitted_as_inpatient(engine: Engine, version: str) -> None:
    ed = adt("A04", "1", version=version, patient_class="E", location="ED^^^HOSP")
    assert _ack(engine, ed) == ("AA", [])
    admit = adt(
        "A01", "2", version=version, prior_location="ED^^^HOSP", admit_time="20240101143000"
    )
    assert _ack(engine, admit) == ("AA", [])
    engine.runner.catch_up()
    record = engine.views["encounters"].encounter(id_text(VISIT))
    assert record is not None
    assert (record.patient_class, record.location.point_of_care) == ("I", "WARD1")
    causes = [s.cause for s in record.locations]
    assert causes == ["registered", "admitted"]
    # A04 (class E) after the admission is refused: A07 says that, not A04.
    late = adt("A04", "3", version=version, patient_class="E", location="ED^^^HOSP")
    assert _ack(engine, late) == ("AE", [207])


@pytest.mark.parametrize("version", VERSIONS)
def test_a_reused_control_id_is_ae_205_and_a_resend_aa(engine: Engine, version: str) -> None:
    first = adt("A01", "R1", version=version)
    assert _ack(engine, first) == ("AA", [])
    head = engine.ingestion.recorder.max_notification_id()
    resend = first.replace(b"|20240101120000||", b"|20240101121500||", 1)
    assert resend != first
    outcome = engine.ingestion.ingest(resend, "t")
    assert (outcome.ack_code, outcome.duplicate) == ("AA", True)
    assert engine.ingestion.recorder.max_notification_id() == head
    assert _ack(engine, adt("A03", "R1", version=version)) == ("AE", [205])
    after = engine.ingestion.recorder.select_notifications(head + 1, 10)
    # Only the console's message log took it: no patient or visit changed.
    assert [n.topic.split(":")[0] for n in after] == ["engine.domain.rejected"]

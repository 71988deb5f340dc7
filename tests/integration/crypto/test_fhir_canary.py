"""The canary through FHIR: a transaction Bundle's request body and the events it caused
are stored as ciphertext on each durable store, and the patient still reads back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.audit.helpers import events_table, execute
from tests.integration.crypto.canary import Canary
from tests.integration.fhir import resources as r
from tests.integration.fhir.client import FhirClient, open_client

pytestmark = [pytest.mark.native]


@pytest.fixture
def fhir(durable_store_url: str) -> Iterator[FhirClient]:
    yield from open_client(durable_store_url)


def test_a_fhir_write_stores_no_canary(fhir: FhirClient, durable_store_url: str) -> None:
    canary = Canary.new()
    birth = f"{canary.birth_date[:4]}-{canary.birth_date[4:6]}-{canary.birth_date[6:]}"
    patient = r.patient(canary.mrn, family=canary.family, birthDate=birth)
    bundle = r.bundle(
        r.entry(patient, full_url="urn:uuid:1"),
        r.entry(r.encounter(visit=f"V{canary.mrn}", subject="urn:uuid:1")),
    )
    response = fhir.post("/fhir", bundle)
    assert response.status_code == 200, response.text
    table, _ = events_table(durable_store_url)
    states = b"".join(bytes(s[0]) for s in execute(durable_store_url, f"SELECT state FROM {table}"))
    assert states
    looked_for = (canary.family.encode(), canary.mrn.encode(), birth.encode())
    assert [s for s in looked_for if s in states] == []  # the request body is encrypted too
    fhir.catch_up()
    found = fhir.get(f"/fhir/Patient?identifier={r.HOSP}|{canary.mrn}").json()
    assert found["total"] == 1
    assert found["entry"][0]["resource"]["name"][0]["family"] == canary.family

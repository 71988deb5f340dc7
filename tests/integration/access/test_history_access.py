"""vread and ``_history`` behind the access layer: SMART read scopes open them, a patient/
token reads only its own patient's versions, and every use is in the access log."""

from __future__ import annotations

from tests import tokens
from tests.asgi import get
from tests.integration.access.conftest import World

PATHS = {
    "patient.history": "/fhir/Patient/{a}/_history",
    "patient.vread": "/fhir/Patient/{a}/_history/1",
    "encounter.history": "/fhir/Encounter/{ea}/_history",
    "encounter.vread": "/fhir/Encounter/{ea}/_history/1",
}
GRANTS = [
    ("user/*.rs", set(PATHS)),
    ("user/Patient.r", {"patient.history", "patient.vread"}),
    ("user/Patient.s", set()),  # search is not read: no versions
    ("user/Encounter.read", {"encounter.history", "encounter.vread"}),  # v1
    ("user/*.cud", set()),
    ("carelog/audit.read", set()),  # the auditors' /api history is another route
]


def test_read_scopes_open_vread_and_history_and_nothing_else_does(world: World) -> None:
    for scopes, opened in GRANTS:
        headers = tokens.bearer(scopes)
        for name, template in PATHS.items():
            path = template.format(a=world.a, ea=world.encounter_a)
            r = get(world.app, path, headers=headers)
            assert r.status_code == (200 if name in opened else 403), (scopes, name, r.text[:200])


def test_a_token_for_patient_a_reads_no_version_of_patient_b(world: World) -> None:
    a_only = tokens.bearer("patient/*.rs", patient=world.a)
    for template in PATHS.values():
        own = get(world.app, template.format(a=world.a, ea=world.encounter_a), headers=a_only)
        assert own.status_code == 200, template
        path = template.format(a=world.b, ea=world.encounter_b)
        r = get(world.app, path, headers=a_only)
        assert r.status_code == 403, (path, r.status_code)
        assert "MRNB" not in r.text


def test_every_vread_and_history_is_in_the_access_log(world: World) -> None:
    headers = tokens.bearer(tokens.ALL_SCOPES, sub="dr-who")
    cases = [
        (f"/fhir/Patient/{world.b}/_history", "Patient", 200, world.b),
        (f"/fhir/Patient/{world.a}/_history/1", "Patient", 200, world.a),
        (f"/fhir/Encounter/{world.encounter_b}/_history/1", "Encounter", 200, world.b),
        (f"/fhir/Encounter/{world.encounter_a}/_history?_count=1", "Encounter", 200, world.a),
        (f"/fhir/Patient/{world.a}/_history/99", "Patient", 404, ""),
    ]
    for path, resource_type, status, patient in cases:
        head = world.head()
        assert get(world.app, path, headers=headers).status_code == status, path
        (record,) = world.records_after(head)
        assert (record.patient_id, record.resource_type, record.outcome) == (
            patient,
            resource_type,
            status,
        )
        assert (record.interaction, record.subject, record.path) == (
            "read",
            "dr-who",
            path.split("?")[0],
        )

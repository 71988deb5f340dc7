"""The access log: every PHI route and every refusal leaves the expected records (one per
patient), stored as sealed events that `carelog verify` checks, queryable at /api/audit."""

from __future__ import annotations

from adapters.security.access_log import AccessEntry, AccessLog
from projections.audit import verify
from tests import tokens
from tests.asgi import get
from tests.integration.access.conftest import World
from tests.integration.audit.helpers import events_table, execute


def _report(world: World) -> str:
    (report,) = world.engine.views["observations"].reports_of([world.a])
    return str(report.report_id)


def test_every_phi_route_records_who_what_which_patient_and_the_outcome(world: World) -> None:
    cases = [
        (f"/fhir/Patient/{world.a}", "Patient", "read", [world.a]),
        ("/fhir/Patient?identifier=MRNB", "Patient", "search", [world.b]),
        ("/fhir/Patient?identifier=NOBODY", "Patient", "search", [""]),
        (f"/fhir/Encounter/{world.encounter_b}", "Encounter", "read", [world.b]),
        (f"/fhir/Encounter?patient={world.a}", "Encounter", "search", [world.a]),
        (f"/fhir/Observation?patient={world.b}", "Observation", "search", [world.b]),
        (f"/fhir/ChargeItem?patient={world.a}", "ChargeItem", "search", [world.a]),
        (f"/fhir/DiagnosticReport?patient={world.b}", "DiagnosticReport", "search", [world.b]),
        (f"/fhir/DiagnosticReport/{_report(world)}", "DiagnosticReport", "read", [world.a]),
        ("/fhir/Account?identifier=ACCB", "Account", "search", [world.b]),
        ("/fhir/Encounter?identifier=VA", "Encounter", "search", [world.a]),
        (
            "/fhir/Patient?identifier=MRNB&_revinclude=Encounter:patient",
            "Patient",
            "search",
            [world.b],
        ),
        ("/api/queue/ED", "Queue", "read", None),  # whoever waits there
        ("/api/billing/accounts/ACCB", "Account", "read", [world.b]),
        (f"/api/patients/{world.a}/history", "History", "read", [world.a]),
        ("/api/audit?limit=1", "AuditEvent", "read", [""]),
        ("/fhir/AuditEvent?_count=1", "AuditEvent", "read", [""]),
    ]
    headers = tokens.bearer(tokens.ALL_SCOPES, sub="dr-who")
    for path, resource_type, interaction, patients in cases:
        head = world.head()
        r = get(world.app, path, headers=headers)
        assert r.status_code == 200, path
        records = world.records_after(head)
        if patients is None:
            patients = [e["patient_id"] for e in r.json()["entries"]]
            assert patients
        assert [x.patient_id for x in records] == patients, path
        for x in records:
            assert (x.resource_type, x.interaction, x.outcome) == (resource_type, interaction, 200)
            assert (x.subject, x.client_id, x.method) == ("dr-who", "tests", "GET")
            assert x.token_id and x.peer and x.path == path.split("?")[0]
            assert x.query == (path.split("?")[1] if "?" in path else "")


def test_a_miss_is_recorded_and_non_phi_routes_are_not(world: World) -> None:
    head = world.head()
    assert get(world.app, "/fhir/Patient/nobody").status_code == 404
    (miss,) = world.records_after(head)
    assert (miss.patient_id, miss.outcome, miss.resource_type) == ("", 404, "Patient")
    head = world.head()
    for path in ("/health", "/fhir/metadata", "/metrics", "/api/queue/ED/stats", "/openapi.json"):
        assert get(world.app, path).status_code == 200
    assert world.records_after(head) == []


def test_every_refusal_is_recorded(world: World) -> None:
    head = world.head()
    assert get(world.app, f"/fhir/Patient/{world.a}", auth=False).status_code == 401
    assert get(world.app, "/metrics", headers={"Authorization": "Bearer x.y.z"}).status_code == 401
    queue_only = tokens.bearer("carelog/queue.read", sub="clerk")
    assert get(world.app, f"/fhir/Patient/{world.a}", headers=queue_only).status_code == 403
    a_only = tokens.bearer("patient/*.rs", patient=world.a, sub="patient-a")
    assert get(world.app, f"/fhir/Encounter/{world.encounter_b}", headers=a_only).status_code == 403
    assert get(world.app, f"/fhir/Observation?patient={world.b}", headers=a_only).status_code == 403
    records = world.records_after(head)
    assert [(r.subject, r.outcome, r.patient_id, r.resource_type) for r in records] == [
        ("", 401, "", "Patient"),
        ("", 401, "", ""),
        ("clerk", 403, "", "Patient"),
        ("patient-a", 403, world.b, "Encounter"),  # found out after the read: held back
        ("patient-a", 403, "", "Observation"),  # refused before the read
    ]


def test_auditors_query_the_log_by_patient_subject_and_time(world: World) -> None:
    headers = tokens.bearer("user/*.rs", sub="nurse-ratched")
    get(world.app, f"/fhir/Patient/{world.b}", headers=headers)
    world.log.flush()
    auditor = tokens.bearer("carelog/audit.read", sub="auditor")
    found = get(world.app, "/api/audit", params={"patient": world.b, "subject": "nurse-ratched"},
                headers=auditor).json()  # fmt: skip
    assert found["count"] == 1
    (record,) = found["records"]
    assert record["patient_id"] == world.b and record["path"] == f"/fhir/Patient/{world.b}"
    since = get(world.app, "/api/audit", params={"since": "2999-01-01T00:00:00Z"}, headers=auditor)
    assert since.json()["count"] == 0
    bad = get(world.app, "/api/audit", params={"since": "yesterday"}, headers=auditor)
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"


def test_the_access_log_answers_fhir_auditevent_searches(world: World) -> None:
    from fhir.resources.R4B.bundle import Bundle

    get(world.app, f"/fhir/Observation?patient={world.a}", headers=tokens.bearer(sub="lab-tech"))
    get(world.app, f"/fhir/Patient/{world.a}", headers=tokens.bearer("carelog/operator", sub="op"))
    world.log.flush()
    auditor = tokens.bearer("carelog/audit.read", sub="auditor")
    r = get(world.app, "/fhir/AuditEvent", params={"patient": f"Patient/{world.a}",
            "agent": "lab-tech", "date": "ge2000-01-01T00:00:00Z"}, headers=auditor)  # fmt: skip
    assert r.status_code == 200
    bundle = Bundle.model_validate(r.json())
    assert bundle.total == 1
    event = r.json()["entry"][0]["resource"]
    assert event["action"] == "E" and event["outcome"] == "0"
    assert event["agent"][0]["who"]["identifier"]["value"] == "lab-tech"
    assert event["entity"][0]["what"]["reference"] == f"Patient/{world.a}"
    refused = get(world.app, "/fhir/AuditEvent", params={"agent": "op"}, headers=auditor).json()
    assert [e["resource"]["outcome"] for e in refused["entry"]] == ["4"]
    for bad in ({"date": "2024-01-01"}, {"date": "ge2024-01-01"}, {"_count": "0"}, {"x": "1"}):
        answer = get(world.app, "/fhir/AuditEvent", params=bad, headers=auditor)
        assert answer.status_code == 400 and answer.json()["resourceType"] == "OperationOutcome"


def test_verify_covers_the_access_log_and_catches_an_altered_record(world: World) -> None:
    get(world.app, f"/fhir/Patient/{world.a}", headers=tokens.bearer(sub="to-be-erased"))
    world.log.flush()
    engine = world.engine
    assert engine.sealer is not None
    engine.sealer.seal()
    app = engine.ingestion
    assert verify(app.recorder, app.mapper, engine.sealer).intact
    store = engine.settings.store
    table, column = events_table(store)
    (position,) = [r.position for r in world.view.rows() if r.subject == "to-be-erased"]
    (state,) = execute(store, f"SELECT state FROM {table} WHERE {column}=%s", (position,))[0]
    altered = bytes(state)[:-1] + bytes([bytes(state)[-1] ^ 1])  # stored encrypted: flip a byte
    execute(store, f"UPDATE {table} SET state=%s WHERE {column}=%s", (altered, position))
    report = verify(app.recorder, app.mapper, engine.sealer)
    assert (position, "altered") in [(f.position, f.kind) for f in report.faults]
    assert {f.position for f in report.faults} == {position}  # and undecodable, being ciphertext
    execute(store, f"UPDATE {table} SET state=%s WHERE {column}=%s", (bytes(state), position))
    assert verify(app.recorder, app.mapper, engine.sealer).intact


def entry(n: int) -> AccessEntry:
    return AccessEntry("2024-01-01T00:00:00+00:00", f"s{n}", "", "", "read", "Patient", "GET",
                       "/fhir/Patient/x", "", "x", 200, "")  # fmt: skip


def test_a_failed_store_keeps_the_entries_for_the_next_flush() -> None:
    stored: list[AccessEntry] = []
    failing = [True]

    def store(entries: list[AccessEntry]) -> None:
        if failing[0]:
            raise OSError("disk full")
        stored.extend(entries)

    log = AccessLog(store)
    log.add([entry(1), entry(2)])
    assert log.flush() == 0 and log.pending() == 2 and log.failed == 1
    failing[0] = False
    log.add([entry(3)])
    log.stop()  # never started: stop still stores what is buffered
    assert [e.subject for e in stored] == ["s1", "s2", "s3"] and log.pending() == 0

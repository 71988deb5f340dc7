"""Access to the appointment routes: scopes decide, patient-compartment tokens see only their
own patient's appointments, and every use is in the access log, one record per patient."""

from __future__ import annotations

from tests import tokens
from tests.asgi import get
from tests.integration.appointments.world import World, appointments_world

__all__ = ["appointments_world"]  # the fixture, used by name


def test_access_is_scoped_and_logged(appointments_world: World) -> None:
    world = appointments_world
    a_only = tokens.bearer("patient/*.rs", patient=world.a)
    assert world.get(f"/fhir/Appointment?patient={world.a}", a_only).status_code == 200
    for path in (f"/fhir/Appointment?patient={world.b}", "/fhir/Appointment?date=2024-01-02"):
        r = world.get(path, a_only)
        assert r.status_code == 403, path
        assert world.b not in r.text
    ids = {
        who: world.get(f"/fhir/Appointment?patient={pid}").json()["entry"][0]["resource"]["id"]
        for who, pid in (("a", world.a), ("b", world.b))
    }
    assert world.get(f"/fhir/Appointment/{ids['a']}", a_only).status_code == 200
    refused = world.get(f"/fhir/Appointment/{ids['b']}", a_only)
    assert refused.status_code == 403 and world.b not in refused.text
    assert world.get("/api/queue/CLINIC1/expected", a_only).status_code == 403
    only_encounters = tokens.bearer("user/Encounter.rs")
    assert world.get(f"/fhir/Appointment/{ids['a']}", only_encounters).status_code == 403
    queue_reader = tokens.bearer("carelog/queue.read")
    assert world.get("/api/queue/CLINIC1/expected", queue_reader).status_code == 200
    assert world.get("/fhir/Appointment", queue_reader).status_code == 403
    assert world.get("/api/queue/CLINIC1/expected", tokens.bearer("user/*.rs")).status_code == 403
    assert get(world.app, "/fhir/Appointment", auth=False).status_code == 401
    world.log.flush()
    before = world.engine.access_view.rows()
    world.get("/api/queue/CLINIC1/expected", queue_reader)
    world.get(f"/fhir/Appointment?patient={world.b}")
    world.log.flush()
    rows = world.engine.access_view.rows()[len(before) :]
    assert [(r.resource_type, r.interaction, r.patient_id) for r in rows] == [
        ("Appointment", "read", world.a),
        ("Appointment", "read", world.b),
        ("Appointment", "search", world.b),
    ]

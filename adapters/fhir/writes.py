"""FHIR write entries decided on the single writer thread, in one commit.

``decide_entries`` runs inside ``Ingestion.record``: first one pass resolves
every entry's id (ids are derived from identifiers, as for v2), the Bundle's
``urn:uuid:`` full URLs and its conditional references; then each entry is
translated (adapters.fhir.mapping) and decided through the engine's decision
functions in one Session. A transaction's first error propagates (nothing is
saved); a batch entry's error is kept as that entry's answer and the others
are decided again without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from adapters.fhir.errors import FhirError
from adapters.fhir.mapping import (
    encounter_state,
    identifier_from_token,
    observation_command,
    observation_resource_id,
    patient_command,
)
from adapters.fhir.requests import Entry, condition_of
from engine.application.commands import PatientRef
from engine.application.decisions import (
    Decision,
    Session,
    record_results,
    register_patient,
    report_id_for,
    survivor,
)
from engine.application.visit_state import set_visit_state
from engine.domain.ids import encounter_id_for, patient_id_for
from engine.domain.patient import Patient
from engine.errors import (
    DomainError,
    MessageRejectedError,
    UnknownPatientError,
    UnknownVisitError,
)

__all__ = ["EntryResult", "decide_entries", "named_ids"]


@dataclass(frozen=True, slots=True)
class EntryResult:
    """One entry's answer: 201 created / 200 updated or unchanged, or its error."""

    index: int
    resource_type: str = ""
    resource_id: str = ""
    status: int = 200
    outcome: str = "unchanged"  # created, updated, unchanged (the import counts these)
    aggregate_id: UUID | None = None  # whose version is the ETag
    patient_id: str = ""
    error: FhirError | None = None


class _Refs:
    """What references resolve through: the Bundle's full URLs, and the patients this
    write has decided on so far by identifier key (a conditional reference finds them)."""

    __slots__ = ("patients", "urls")

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.patients: dict[str, Patient] = {}

    def add(self, patient: Patient) -> None:
        for identifier in patient.identifiers:
            self.patients.setdefault(identifier.key(), patient)


class _Failed(Exception):
    def __init__(self, index: int, error: FhirError) -> None:
        self.index = index
        self.error = error


def decide_entries(
    entries: list[Entry | FhirError], *, atomic: bool
) -> Callable[[Session, Decision], list[EntryResult]]:
    """The ``decide`` for ``Ingestion.record``: returns one EntryResult per entry.

    Raises:
        FhirError: ``atomic`` and an entry was refused (nothing is saved).
    """

    def decide(session: Session, ctx: Decision) -> list[EntryResult]:
        failed: dict[int, FhirError] = {
            i: e for i, e in enumerate(entries) if isinstance(e, FhirError)
        }
        if atomic and failed:
            raise next(iter(failed.values()))
        while True:
            session.reset()
            try:
                return _decide_all(entries, failed, session, ctx)
            except _Failed as f:
                if atomic:
                    raise f.error from None
                failed[f.index] = f.error

    return decide


def _decide_all(
    entries: list[Entry | FhirError],
    failed: dict[int, FhirError],
    session: Session,
    ctx: Decision,
) -> list[EntryResult]:
    live = [e for i, e in enumerate(entries) if isinstance(e, Entry) and i not in failed]
    refs = _Refs(_full_urls(live, failed))
    results: dict[int, EntryResult] = {i: EntryResult(i, error=e) for i, e in failed.items()}
    # Patients first, then visits, then results: what a reference names is decided before it.
    for item in sorted(live, key=lambda e: (_RANK[e.resource_type], e.index)):
        i = item.index
        try:
            results[i] = _decide(item, refs, session, ctx)
        except FhirError as e:
            raise _Failed(i, e.at(item.where) if e.expression else _located(e, item)) from None
        except (DomainError, MessageRejectedError) as e:
            raise _Failed(i, _domain_error(e, item)) from None
    return [results[i] for i in range(len(entries))]


_RANK = {"Patient": 0, "Encounter": 1, "Observation": 2}


def _located(error: FhirError, entry: Entry) -> FhirError:
    return FhirError(error.status, error.code, error.text, entry.where)


def _domain_error(error: Exception, entry: Entry) -> FhirError:
    """A domain refusal as 422 (404 for a visit or patient that the entry needs and that is
    not known)."""
    if isinstance(error, UnknownPatientError | UnknownVisitError):
        return FhirError(404, "not-found", str(error), entry.where)
    if isinstance(error, MessageRejectedError):
        return FhirError(422, "invariant", error.reason, entry.where)
    return FhirError(422, "business-rule", str(error), entry.where)


def _full_urls(live: list[Entry], failed: dict[int, FhirError]) -> dict[str, str]:
    """The Bundle's full URLs to ``Type/id``, resolved before anything is decided."""
    urls: dict[str, str] = {}
    for entry in live:
        if not entry.full_url:
            continue
        try:
            urls[entry.full_url] = f"{entry.resource_type}/{_derived_id(entry)}"
        except FhirError as e:
            failed[entry.index] = e.at(entry.where)
            raise _Failed(entry.index, e.at(entry.where)) from None
    return urls


def _derived_id(entry: Entry) -> str:
    """The id the entry's resource has (or will have): derived from its identifiers."""
    data = entry.resource
    if entry.resource_type == "Patient":
        return entry.target or str(patient_command(data).patient_id)
    if entry.resource_type == "Encounter":
        number = encounter_state(data, UUID(int=0)).visit.visit_number
        return str(encounter_id_for(number, UUID(int=0)))
    return observation_resource_id(observation_command(data, UUID(int=0), None))


def _reference(entry: Entry, field: str, kind: str, refs: _Refs) -> str | None:
    """The id a reference names: ``Kind/id``, a full URL in the Bundle, or ``Kind?identifier=``."""
    sent = str((entry.resource.get(field) or {}).get("reference") or "")
    if not sent:
        return None
    where = f"{entry.where}.{field}.reference"
    ref = refs.urls.get(sent, sent)
    if ref.startswith("urn:uuid:"):
        raise FhirError(400, "not-found", f"{ref} is not the fullUrl of an entry here", where)
    if ref.startswith(f"{kind}?"):
        return f"?{ref.partition('?')[2]}"
    _, _, rest = ref.rpartition(f"{kind}/")
    if not rest or "/" in rest:
        raise FhirError(400, "invalid", f"{field} must reference a {kind}: {ref!r}", where)
    return rest


def _uuid(text: str, kind: str, where: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise FhirError(404, "not-found", f"{kind}/{text} is not known", where) from None


def _patient_ref(entry: Entry, refs: _Refs, session: Session) -> PatientRef:
    ref = _reference(entry, "subject", "Patient", refs)
    where = f"{entry.where}.subject"
    if ref is None:
        raise FhirError(422, "required", f"{entry.resource_type}.subject is required", where)
    if ref.startswith("?"):
        return _conditional_patient(ref[1:], refs, session, where)
    return _uuid(ref, "Patient", where)


def _conditional_patient(query: str, refs: _Refs, session: Session, where: str) -> UUID:
    """``Patient?identifier=`` to the patient that identifier keys (its survivor if merged)."""
    found = _patient_by_token(condition_of(query, where), refs, session)
    if found is None:
        raise FhirError(404, "not-found", f"no Patient matches {query!r}", where)
    return found.id


def _patient_by_token(token: str, refs: _Refs, session: Session) -> Patient | None:
    """The patient an identifier names: one this write already has with it, else the one it
    keys in the store (the survivor when merged)."""
    identifier = identifier_from_token(token)
    decided = refs.patients.get(identifier.key())
    if decided is not None:
        return survivor(decided, session.load)
    found: Patient | None = session.load(patient_id_for(identifier))
    return survivor(found, session.load) if found is not None else None


def _check_version(entry: Entry, aggregate: Any) -> None:
    if entry.if_match is None:
        return
    current = aggregate.version if aggregate is not None else 0
    if current != entry.if_match:
        raise FhirError(
            412,
            "conflict",
            f"If-Match names version {entry.if_match}, the resource is at version {current}",
            entry.where,
        )


@dataclass(frozen=True, slots=True)
class _Decided:
    kind: str
    aggregate_id: UUID  # whose version is the ETag
    resource_id: str
    existed: bool
    patient_id: UUID
    changed: bool = False  # this entry added events to its aggregate


def _decide(entry: Entry, refs: _Refs, session: Session, ctx: Decision) -> EntryResult:
    if entry.resource_type == "Patient":
        done = _patient(entry, refs, session, ctx)
    elif entry.resource_type == "Encounter":
        done = _encounter(entry, refs, session, ctx)
    else:
        done = _observation(entry, refs, session, ctx)
    changed = done.changed
    outcome = "unchanged" if not changed else ("updated" if done.existed else "created")
    return EntryResult(
        index=entry.index,
        resource_type=done.kind,
        resource_id=done.resource_id,
        status=200 if done.existed or not changed else 201,
        outcome=outcome,
        aggregate_id=done.aggregate_id,
        patient_id=str(done.patient_id),
    )


def _patient(entry: Entry, refs: _Refs, session: Session, ctx: Decision) -> _Decided:
    target: UUID | None = None
    if entry.target:
        target = _uuid(entry.target, "Patient", entry.where)
    elif entry.condition:
        match = _patient_by_token(entry.condition, refs, session)
        if match is not None and entry.method == "POST":  # If-None-Exist: already there
            return _Decided("Patient", match.id, str(match.id), True, match.id)
        target = match.id if match is not None else None
    command = patient_command(entry.resource, target)
    existing = session.load(command.patient_id)
    if target is not None and existing is None and entry.target:
        derived = patient_command(entry.resource).patient_id
        if derived != target:
            raise FhirError(
                404,
                "not-found",
                f"Patient/{entry.target} is not known (create it with POST or a conditional"
                " update: carelog derives patient ids from identifiers)",
                entry.where,
            )
    _check_version(entry, existing)
    before = _pending(existing)
    patient = register_patient(command, ctx, session.load)
    session.keep([patient])
    refs.add(patient)
    changed = _pending(patient) > (before if patient is existing else 0)
    return _Decided(
        "Patient", patient.id, str(patient.id), existing is not None, patient.id, changed
    )


def _encounter(entry: Entry, refs: _Refs, session: Session, ctx: Decision) -> _Decided:
    patient = _patient_ref(entry, refs, session)
    state = encounter_state(entry.resource, patient)
    encounter_id = encounter_id_for(state.visit.visit_number, ctx.source_id)
    if entry.target and entry.target != str(encounter_id):
        raise FhirError(
            400,
            "invalid",
            f"Encounter/{entry.target} is not the visit its identifier names ({encounter_id})",
            f"{entry.where}.identifier",
        )
    existing = session.load(encounter_id)
    if entry.condition:
        wanted = encounter_id_for(identifier_from_token(entry.condition), ctx.source_id)
        if wanted != encounter_id:
            raise FhirError(
                412,
                "conflict",
                f"the condition {entry.condition!r} does not name this Encounter's identifier",
                entry.where,
            )
        if existing is not None and entry.method == "POST":  # If-None-Exist: already there
            return _Decided("Encounter", encounter_id, str(encounter_id), True, existing.patient_id)
    _check_version(entry, existing)
    before = _pending(existing)
    set_visit_state(state, ctx, session)
    encounter = session.get(encounter_id)
    changed = _pending(encounter) > before
    return _Decided(
        "Encounter",
        encounter_id,
        str(encounter_id),
        existing is not None,
        encounter.patient_id,
        changed,
    )


def _observation(entry: Entry, refs: _Refs, session: Session, ctx: Decision) -> _Decided:
    patient = _patient_ref(entry, refs, session)
    encounter_ref = _reference(entry, "encounter", "Encounter", refs)
    encounter_id = None
    if encounter_ref is not None:
        if encounter_ref.startswith("?"):
            token = condition_of(encounter_ref[1:], f"{entry.where}.encounter")
            encounter_id = encounter_id_for(identifier_from_token(token), ctx.source_id)
        else:
            encounter_id = _uuid(encounter_ref, "Encounter", f"{entry.where}.encounter")
    command = observation_command(entry.resource, patient, encounter_id)
    resource_id = observation_resource_id(command)
    if entry.target and entry.target != resource_id:
        raise FhirError(
            400,
            "invalid",
            f"Observation/{entry.target} is not the result its identifier names ({resource_id})",
            f"{entry.where}.identifier",
        )
    if (
        entry.condition
        and observation_resource_id(
            observation_command(
                {**entry.resource, "identifier": [_token(entry.condition)]}, patient, encounter_id
            )
        )
        != resource_id
    ):
        raise FhirError(
            412,
            "conflict",
            f"the condition {entry.condition!r} does not name this Observation's identifier",
            entry.where,
        )
    o = command.results[0].observations[0]
    report_id = report_id_for(command.results[0].order_number)
    report = session.load(report_id)
    existed = report is not None and any(
        (x.code.code, x.code.system, x.set_id) == (o.code.code, o.code.system, o.set_id)
        for x in report.observations
    )
    if existed and entry.method == "POST" and entry.condition:
        return _Decided("Observation", report_id, resource_id, True, report.patient_id)
    _check_version(entry, report)
    before = _pending(report)
    decided = session.keep(record_results(command, ctx, session.load))
    changed = _pending(session.get(report_id)) > before
    return _Decided("Observation", report_id, resource_id, existed, decided[0].id, changed)


def _pending(aggregate: Any) -> int:
    """How many unsaved events an aggregate has (0 for none)."""
    return len(aggregate.pending_events) if aggregate is not None else 0


def _token(token: str) -> dict[str, str]:
    system, sep, value = token.rpartition("|")
    return {"system": system, "value": value} if sep else {"value": value}


def named_ids(entries: list[Entry | FhirError]) -> list[UUID]:
    """The aggregates the entries will load (patients, visits, reports), read ahead at once.

    A guess: anything missed is read when loaded; an entry that cannot be
    translated names nothing (its error comes when it is decided).
    """
    found: list[UUID] = []
    for entry in entries:
        if not isinstance(entry, Entry):
            continue
        try:
            data = entry.resource
            if entry.resource_type == "Patient":
                found.append(patient_command(data).patient_id)
                if entry.condition:
                    found.append(patient_id_for(identifier_from_token(entry.condition)))
            elif entry.resource_type == "Encounter":
                number = encounter_state(data, UUID(int=0)).visit.visit_number
                found.append(encounter_id_for(number, UUID(int=0)))
            else:
                command = observation_command(data, UUID(int=0), None)
                found.append(report_id_for(command.results[0].order_number))
            ref = str((data.get("subject") or {}).get("reference", ""))
            if ref.startswith("Patient/"):
                found.append(UUID(ref.removeprefix("Patient/")))
        except (FhirError, ValueError):
            continue
    return found

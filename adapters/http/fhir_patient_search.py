"""``GET /fhir/Patient?...``: the FHIR Patient search, with keyset paging.

Parameters served (each listed in the CapabilityStatement): ``identifier``
(``[system|]value``), ``name``, ``family``, ``given`` (case- and
accent-insensitive prefix, comma = OR), ``birthdate`` (eq, ne, lt, gt, le,
ge; ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``), ``gender``, ``_id``,
``_lastUpdated`` (the same prefixes; a date or a date-time), ``_sort``
(``family``, ``birthdate``, ``_lastUpdated``, ``-`` for descending),
``_count`` (page size, 0 = count only), ``_summary=count``, ``_total``
(``none`` leaves out ``total`` and the count behind it; ``estimate`` and
``accurate`` both get the exact count), and
``_revinclude`` of ``Observation:patient`` and ``Encounter:patient``. Any
other parameter or modifier is refused with a 400 OperationOutcome rather
than ignored, since a silently widened search returns more than was asked.

Pages are keyset pages in the sort's order (then by patient id): the
``next`` link carries the last row served (``_page_after``), ``previous``
the first (``_page_before``), so patients arriving while a client pages
never shift a page, forward or back (``adapters/http/fhir_paging.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.http.context import principal_of, touched
from adapters.http.fhir_encounter import encounters_of_patient
from adapters.http.fhir_json import DecimalFhirResponse, operation_outcome
from adapters.http.fhir_observation import observations_of_patient
from adapters.http.fhir_paging import (
    AFTER,
    BEFORE,
    DEFAULT_COUNT,
    MAX_COUNT,
    decode_cursor,
    encode_cursor,
    page_link,
)
from adapters.http.fhir_params import Refused, alternatives, date_range
from adapters.http.fhir_patient import AUTHORITY_SYSTEM_PREFIX, patient_resource
from adapters.security.policy import authorize
from projections.patients.search import (
    SORT_COLUMNS,
    DateRange,
    Keyset,
    PatientCriteria,
    instant_bounds,
)
from projections.patients.view import PatientRecord, PatientView, sort_value

__all__ = ["PATIENT_SEARCH_PARAMETERS", "patient_search_router"]

# FHIR's ``_id`` parameter, joined at run time: the eventsourcing fence test flags
# any string equal to a private name of the library, and ``_id`` is one of them.
ID_PARAMETER = "".join(("_", "id"))
PATIENT_SEARCH_PARAMETERS = {
    "identifier": "token",
    "name": "string",
    "family": "string",
    "given": "string",
    "birthdate": "date",
    "gender": "token",
    ID_PARAMETER: "token",
    "_lastUpdated": "date",
}
_CONTROL = {"_count", "_summary", "_total", "_format", "_sort", "_revinclude", AFTER, BEFORE}
_TOTALS = ("none", "estimate", "accurate")
PATIENT_REVINCLUDES = ("Observation:patient", "Encounter:patient")
_GENDER = {"female": ("F",), "male": ("M",), "other": ("O", "A", "N"), "unknown": ("U",)}


def authority_from_system(system: str) -> str:
    """The assigning authority a FHIR system names: our URN, an OID URN, or the bare name."""
    if system.startswith(AUTHORITY_SYSTEM_PREFIX):
        return system[len(AUTHORITY_SYSTEM_PREFIX) :]
    if system.startswith("urn:oid:"):
        return system[len("urn:oid:") :]
    return system


def _birth_date(value: str) -> DateRange:
    return date_range("birthdate", value)


def _last_updated(value: str) -> DateRange:
    return date_range("_lastUpdated", value, instant_bounds, "a date or a date-time")


def _keyset(request: Request) -> Keyset:
    """``_sort`` and the page cursor (``_page_after`` or ``_page_before``)."""
    params = request.query_params
    sorts = [s for v in params.getlist("_sort") for s in v.split(",") if s]
    if len(sorts) > 1:
        raise Refused("_sort takes one parameter (family, birthdate or _lastUpdated)")
    sort = sorts[0] if sorts else ""
    name = sort.removeprefix("-")
    if sort and name not in SORT_COLUMNS:
        raise Refused(f"_sort={sort} is not served (family, birthdate, _lastUpdated, - first)")
    after, before = params.getlist(AFTER), params.getlist(BEFORE)
    if len(after) + len(before) > 1:
        raise Refused(f"give one {AFTER} or {BEFORE}")
    try:
        cursor = decode_cursor((after or before)[0]) if after or before else None
    except ValueError as e:
        raise Refused(str(e)) from e
    return Keyset(name, sort.startswith("-"), cursor, backward=bool(before))


def _criteria(request: Request) -> tuple[PatientCriteria, int, bool, bool]:
    """The criteria, the page size, whether only the count is wanted, and whether ``total`` is."""
    params = request.query_params
    unknown = set(params) - set(PATIENT_SEARCH_PARAMETERS) - _CONTROL
    if unknown:
        raise Refused(f"unsupported search parameter(s): {', '.join(sorted(unknown))}")
    identifiers = []
    for value in params.getlist("identifier"):
        system, sep, code = value.rpartition("|")
        if not code:
            raise Refused("identifier needs [system|]value")
        identifiers.append((code, authority_from_system(system) if sep and system else None))
    sexes: tuple[str, ...] | None = None
    for value in params.getlist("gender"):
        wanted = alternatives("gender", value)
        if wrong := sorted(set(wanted) - set(_GENDER)):
            raise Refused(f"unknown gender: {', '.join(wrong)}")
        codes = tuple(c for g in wanted for c in _GENDER[g])
        sexes = codes if sexes is None else tuple(c for c in sexes if c in codes)
    ids: tuple[str, ...] = ()
    for value in params.getlist(ID_PARAMETER):
        ids = (*ids, *alternatives(ID_PARAMETER, value))
    count = params.get("_count", str(DEFAULT_COUNT))
    if not count.isdigit():
        raise Refused(f"_count must be a whole number, not {count!r}")
    total = params.get("_total", "accurate")
    if total not in _TOTALS:
        raise Refused(f"_total={total} is not served (one of {', '.join(_TOTALS)})")
    summary = params.get("_summary")
    if summary not in (None, "count"):
        raise Refused(f"_summary={summary} is not served (only _summary=count is)")
    criteria = PatientCriteria(
        ids=ids,
        identifiers=tuple(identifiers),
        names=tuple(alternatives("name", v) for v in params.getlist("name")),
        families=tuple(alternatives("family", v) for v in params.getlist("family")),
        givens=tuple(alternatives("given", v) for v in params.getlist("given")),
        birth_dates=tuple(_birth_date(v) for v in params.getlist("birthdate")),
        sexes=sexes,
        last_updated=tuple(_last_updated(v) for v in params.getlist("_lastUpdated")),
        keyset=_keyset(request),
    )
    count_only = summary == "count" or int(count) == 0
    return criteria, min(int(count), MAX_COUNT), count_only, count_only or total != "none"


def _revincludes(request: Request) -> list[str]:
    """The ``_revinclude`` types asked for; Refused for any not served."""
    wanted = [v for value in request.query_params.getlist("_revinclude") for v in value.split(",")]
    aliases = {f"{t.split(':')[0]}:subject": t for t in PATIENT_REVINCLUDES}
    out = []
    for value in wanted:
        name = aliases.get(value, value)
        if name not in PATIENT_REVINCLUDES:
            raise Refused(
                f"_revinclude={value} is not served (only {' or '.join(PATIENT_REVINCLUDES)})"
            )
        out.append(name.split(":")[0])
    return sorted(set(out))


def patient_search_router(views: Mapping[str, Any]) -> APIRouter:
    """The Patient search route over the ``patients`` view (and those ``_revinclude`` reads)."""
    router = APIRouter()
    patients: PatientView = views["patients"]

    def page(criteria: PatientCriteria, count: int) -> tuple[list[PatientRecord], bool, bool]:
        """The page's records, whether rows lie after its end, and before its start."""
        keyset = criteria.keyset
        records = patients.search(criteria, count + 1)
        more = len(records) > count
        records = (records[-count:] if more else records) if keyset.backward else records[:count]
        if keyset.cursor is None:
            return records, more, False  # the first page: nothing before it
        # Paged from a cursor: is anything on the other side of the page's near edge?
        near = records[-1 if keyset.backward else 0] if records else None
        edge = (sort_value(near, keyset.sort), near.patient_id) if near else keyset.cursor
        other = replace(keyset, cursor=edge, backward=not keyset.backward)
        beyond = bool(patients.search(replace(criteria, keyset=other), 1))
        return (records, beyond, more) if keyset.backward else (records, more, beyond)

    @router.get("/fhir/Patient")
    def search_patients(request: Request) -> JSONResponse:
        try:
            criteria, count, count_only, with_total = _criteria(request)
            revincludes = _revincludes(request)
        except Refused as e:
            return operation_outcome(400, "not-supported", str(e))
        for resource_type in revincludes:  # the route's row asks for Patient search only
            authorize(principal_of(request), resource_type, "search")
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
        if with_total:  # a count of every match: for a broad search, most of its time
            bundle["total"] = patients.count(criteria)
        bundle["link"] = [{"relation": "self", "url": str(request.url)}]
        if count_only:
            return DecimalFhirResponse(bundle)
        records, has_next, has_previous = page(criteria, count)
        sort = criteria.keyset.sort

        def cursor(record: PatientRecord) -> str:
            return encode_cursor(sort_value(record, sort), record.patient_id)

        edge = criteria.keyset.cursor
        first = cursor(records[0]) if records else encode_cursor(*edge) if edge else ""
        last = cursor(records[-1]) if records else first
        if has_next and last:
            bundle["link"].append(page_link(request, "next", AFTER, last))
        if has_previous and first:
            bundle["link"].append(page_link(request, "previous", BEFORE, first))
        touched(request, *(r.patient_id for r in records))
        base = str(request.base_url).rstrip("/")
        entries = [
            {
                "fullUrl": f"{base}/fhir/Patient/{r.patient_id}",
                "resource": patient_resource(r),
                "search": {"mode": "match"},
            }
            for r in records
        ]
        for r in records:
            for resource in _revincluded(views, revincludes, r.patient_id):
                entries.append(
                    {
                        "fullUrl": f"{base}/fhir/{resource['resourceType']}/{resource['id']}",
                        "resource": resource,
                        "search": {"mode": "include"},
                    }
                )
        if entries:  # FHIR arrays are absent, never empty
            bundle["entry"] = entries
        return DecimalFhirResponse(bundle)

    return router


def _revincluded(
    views: Mapping[str, Any], types: list[str], patient_id: str
) -> list[dict[str, Any]]:
    """The resources of ``types`` whose subject is ``patient_id`` (its merged group's too)."""
    out: list[dict[str, Any]] = []
    if "Encounter" in types and "encounters" in views:
        out.extend(encounters_of_patient(views["encounters"], patient_id))
    if "Observation" in types and "observations" in views:
        out.extend(observations_of_patient(views["observations"], patient_id))
    return out

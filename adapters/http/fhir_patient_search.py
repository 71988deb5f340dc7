"""``GET /fhir/Patient?...``: the FHIR Patient search, with keyset paging.

Parameters served (each listed in the CapabilityStatement): ``identifier``
(``[system|]value``), ``name``, ``family``, ``given`` (case- and
accent-insensitive prefix, comma = OR), ``birthdate`` (eq, ne, lt, gt, le,
ge; ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``), ``gender``, ``_id``,
``_count`` (page size, 0 = count only), ``_summary=count``. Any other
parameter or modifier is refused with a 400 OperationOutcome rather than
ignored, since a silently widened search returns more than was asked.

Pages are keyset pages ordered by patient id: the ``next`` link carries the
last id served (``_page_after``), so patients arriving while a client pages
never shift a page; there is no ``previous`` link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from adapters.http.context import touched
from adapters.http.fhir_json import FhirResponse, operation_outcome
from adapters.http.fhir_patient import AUTHORITY_SYSTEM_PREFIX, patient_resource
from projections.patients.search import DateRange, PatientCriteria, date_bounds
from projections.patients.view import PatientView

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
}
_CONTROL = {"_count", "_summary", "_format", "_page_after"}
DEFAULT_COUNT = 50
MAX_COUNT = 1000
_GENDER = {"female": ("F",), "male": ("M",), "other": ("O", "A", "N"), "unknown": ("U",)}
_PREFIXES = ("eq", "ne", "lt", "gt", "le", "ge")


class Refused(ValueError):
    """A search parameter that cannot be served: answered 400 with its text."""


def authority_from_system(system: str) -> str:
    """The assigning authority a FHIR system names: our URN, an OID URN, or the bare name."""
    if system.startswith(AUTHORITY_SYSTEM_PREFIX):
        return system[len(AUTHORITY_SYSTEM_PREFIX) :]
    if system.startswith("urn:oid:"):
        return system[len("urn:oid:") :]
    return system


def _alternatives(name: str, value: str) -> tuple[str, ...]:
    out = tuple(v.strip() for v in value.split(",") if v.strip())
    if not out:
        raise Refused(f"{name} needs a value")
    return out


def _birth_date(value: str) -> DateRange:
    prefix, text = ("eq", value)
    if value[:2] in _PREFIXES:
        prefix, text = value[:2], value[2:]
    elif value[:2].isalpha():
        raise Refused(f"birthdate prefix {value[:2]!r} is not served (eq ne lt gt le ge are)")
    try:
        low, high = date_bounds(text)
    except ValueError as e:
        raise Refused(f"birthdate: {text!r} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)") from e
    return DateRange(prefix, low, high)


def _criteria(request: Request) -> tuple[PatientCriteria, int, bool]:
    """The criteria, the page size, and whether only the count is wanted."""
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
        wanted = _alternatives("gender", value)
        if wrong := sorted(set(wanted) - set(_GENDER)):
            raise Refused(f"unknown gender: {', '.join(wrong)}")
        codes = tuple(c for g in wanted for c in _GENDER[g])
        sexes = codes if sexes is None else tuple(c for c in sexes if c in codes)
    ids: tuple[str, ...] = ()
    for value in params.getlist(ID_PARAMETER):
        ids = (*ids, *_alternatives(ID_PARAMETER, value))
    count = params.get("_count", str(DEFAULT_COUNT))
    if not count.isdigit():
        raise Refused(f"_count must be a whole number, not {count!r}")
    summary = params.get("_summary")
    if summary not in (None, "count"):
        raise Refused(f"_summary={summary} is not served (only _summary=count is)")
    criteria = PatientCriteria(
        ids=ids,
        identifiers=tuple(identifiers),
        names=tuple(_alternatives("name", v) for v in params.getlist("name")),
        families=tuple(_alternatives("family", v) for v in params.getlist("family")),
        givens=tuple(_alternatives("given", v) for v in params.getlist("given")),
        birth_dates=tuple(_birth_date(v) for v in params.getlist("birthdate")),
        sexes=sexes,
    )
    return criteria, min(int(count), MAX_COUNT), summary == "count" or int(count) == 0


def patient_search_router(views: Mapping[str, Any]) -> APIRouter:
    """The Patient search route over the ``patients`` view."""
    router = APIRouter()
    patients: PatientView = views["patients"]

    @router.get("/fhir/Patient")
    def search_patients(request: Request) -> JSONResponse:
        try:
            criteria, count, count_only = _criteria(request)
        except Refused as e:
            return operation_outcome(400, "not-supported", str(e))
        base = str(request.base_url).rstrip("/")
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": patients.count(criteria),
            "link": [{"relation": "self", "url": str(request.url)}],
        }
        if count_only:
            return FhirResponse(bundle)
        after = request.query_params.get("_page_after", "")
        records = patients.search(replace(criteria, after=after), count + 1)
        if len(records) > count:
            records = records[:count]
            query = [(k, v) for k, v in request.query_params.multi_items() if k != "_page_after"]
            query.append(("_page_after", records[-1].patient_id))
            bundle["link"].append(
                {"relation": "next", "url": f"{base}/fhir/Patient?{urlencode(query)}"}
            )
        touched(request, *(r.patient_id for r in records))
        if records:  # FHIR arrays are absent, never empty
            bundle["entry"] = [
                {
                    "fullUrl": f"{base}/fhir/Patient/{r.patient_id}",
                    "resource": patient_resource(r),
                    "search": {"mode": "match"},
                }
                for r in records
            ]
        return FhirResponse(bundle)

    return router

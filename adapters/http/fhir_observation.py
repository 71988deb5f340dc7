"""Observation rows as FHIR R4 Observations (HL7 v2-to-FHIR IG, OBX -> Observation).

OBX-3 -> code, OBX-5 by OBX-2 -> value[x] (NM valueQuantity with OBX-6 as the
unit, ST/TX/FT valueString with repetitions on separate lines, CWE/CE
valueCodeableConcept, SN valueQuantity with comparator, valueRange or
valueRatio), OBX-7 -> referenceRange (text, plus low/high for ``a-b``), OBX-8
-> interpretation (v3 ObservationInterpretation codes, which reuse table 0078),
OBX-11 -> status, OBX-14 (else OBR-7) -> effectiveDateTime. Departures: CWE
and SN values are split on ``^`` (the domain keeps the text after unescaping),
and other value types (DTM, TM...) are given as valueString.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fhir.resources.R4B.observation import Observation

from adapters.http.context import touched
from adapters.http.fhir_codes import codeable
from adapters.http.fhir_json import DecimalFhirResponse, operation_outcome
from adapters.http.fhir_observation_filters import OBSERVATION_FILTERS, observation_filter
from adapters.http.fhir_output import checked, instant
from adapters.http.fhir_patient import patient_resource
from adapters.http.fhir_search import (
    Page,
    include_patients,
    patient_search,
    search_page,
    searchset,
    sort_by,
)
from adapters.http.ucum import UCUM_SYSTEM, is_ucum
from projections.merges import merged_group, survivor_of
from projections.observations.view import (
    ObservationRow,
    ObservationView,
    observation_resource_id,
)
from projections.patients.view import PatientView

__all__ = ["observation_resource", "observation_router", "observations_of_patient"]

INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# Every OBX carelog keeps comes from a lab report (ORU R01, engine/domain/report.py).
LABORATORY = {"coding": [{"system": CATEGORY, "code": "laboratory", "display": "Laboratory"}]}
OBSERVATION_SORTS = {"date": "effectiveDateTime"}

# OBX-11 (HL7 table 0085) -> FHIR ObservationStatus (after the IG concept map; see README).
STATUS = {
    "C": "corrected",
    "D": "entered-in-error",
    "F": "final",
    "I": "registered",
    "N": "cancelled",
    "O": "registered",
    "P": "preliminary",
    "R": "preliminary",
    "S": "preliminary",
    "U": "final",
    "W": "entered-in-error",
    "X": "cancelled",
}
_COMPARATORS = {"<", "<=", ">=", ">"}
_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*$")


def _quantity(value: Decimal, units: str) -> dict[str, Any]:
    """A Quantity; a UCUM unit also as ``system`` and ``code`` (what FHIR clients compare)."""
    out: dict[str, Any] = {"value": value}
    if units:
        out["unit"] = units
        if is_ucum(units):
            out["system"] = UCUM_SYSTEM
            out["code"] = units.strip()
    return out


def _structured(row: ObservationRow) -> dict[str, Any]:
    """An SN value (comparator ^ num1 ^ separator ^ num2) as value[x]."""
    n1, separator, n2 = row.sn_num1, row.sn_separator, row.sn_num2
    if n1 is not None and n2 is not None and separator in (":", "/"):
        return {"valueRatio": {"numerator": {"value": n1}, "denominator": {"value": n2}}}
    if n1 is not None and n2 is not None and separator == "-":
        return {"valueRange": {"low": _quantity(n1, row.units), "high": _quantity(n2, row.units)}}
    if n1 is not None and not separator:
        quantity = _quantity(n1, row.units)
        if row.comparator in _COMPARATORS:
            quantity["comparator"] = row.comparator
        return {"valueQuantity": quantity}
    return {"valueString": row.values[0]} if row.values and row.values[0] else {}


def _value(row: ObservationRow) -> dict[str, Any]:
    kind = row.value_type.upper()
    if kind == "NM":
        if row.numeric is None:
            return {}
        return {"valueQuantity": _quantity(row.numeric, row.units)}
    if kind == "SN":
        return _structured(row)
    if kind in ("CWE", "CE", "CNE", "CF"):
        return {"valueCodeableConcept": codeable(row.coded)} if row.coded else {}
    text = "\n".join(v for v in row.values)
    return {"valueString": text} if text else {}


def _reference_range(row: ObservationRow) -> list[dict[str, Any]]:
    if not row.reference_range:
        return []
    out: dict[str, Any] = {"text": row.reference_range}
    if m := _RANGE.match(row.reference_range):
        out["low"] = _quantity(Decimal(m.group(1)), row.units)
        out["high"] = _quantity(Decimal(m.group(2)), row.units)
    return [out]


def observation_id(row: ObservationRow) -> str:
    """A stable FHIR id per OBX: the report and what corrections replace by."""
    return observation_resource_id(row.report.report_id, row.key)


def observation_resource(row: ObservationRow, patient_id: str) -> dict[str, Any]:
    """The FHIR Observation for ``row``, subject ``patient_id`` (checked in tests: fhir_output)."""
    data: dict[str, Any] = {
        "resourceType": "Observation",
        "id": observation_id(row),
        "meta": {
            "lastUpdated": instant(row.updated_at),
            "source": f"urn:uuid:{row.source_message_id}",
        },
        "identifier": [
            {
                "system": "urn:carelog:order",
                "value": f"{row.report.order_number}/{row.set_id}/{row.code.code}",
            }
        ],
        "status": STATUS.get(row.status.upper(), "unknown"),
        "category": [LABORATORY],
        "code": codeable(row.code),
        "subject": {"reference": f"Patient/{patient_id}"},
        "issued": instant(row.updated_at),
        **_value(row),
    }
    if row.report.encounter_id:
        data["encounter"] = {"reference": f"Encounter/{row.report.encounter_id}"}
    if row.observed_at is not None:
        data["effectiveDateTime"] = instant(row.observed_at)
    if row.abnormal_flags:
        data["interpretation"] = [
            {"coding": [{"system": INTERPRETATION, "code": f}]} for f in row.abnormal_flags
        ]
    if ranges := _reference_range(row):
        data["referenceRange"] = ranges
    checked(Observation, data, same=False)  # valueQuantity: exact decimals
    return data


def observations_of_patient(view: ObservationView, patient_id: str) -> list[dict[str, Any]]:
    """Every Observation of ``patient_id`` and of patients merged into it, subject the survivor."""
    merges = view.merges()
    subject = survivor_of(patient_id, merges)
    return [
        observation_resource(r, subject)
        for r in view.observations_of(merged_group(patient_id, merges))
    ]


def observation_router(views: Mapping[str, Any]) -> APIRouter:
    """``GET /fhir/Observation?patient=``: results from the ``observations`` view."""
    router = APIRouter()
    view: ObservationView = views["observations"]
    patients: PatientView = views["patients"]

    @router.get("/fhir/Observation")
    def search_observations(request: Request) -> JSONResponse:
        patient_id, error = patient_search(
            request, frozenset({*OBSERVATION_FILTERS, "_sort", "_include"})
        )
        if error is not None:
            return error
        sort = sort_by(request, OBSERVATION_SORTS)
        if not isinstance(sort, tuple):
            return sort
        include = include_patients(request, "Observation")
        if not isinstance(include, bool):
            return include
        try:
            wanted = observation_filter(request.query_params)
        except ValueError as e:
            return operation_outcome(400, "not-supported", str(e))
        merges = view.merges()
        subject = survivor_of(patient_id, merges)
        group = merged_group(patient_id, merges)
        rows = view.observations_of(group)
        touched(request, *sorted(group))
        resources = [o for o in (observation_resource(r, subject) for r in rows) if wanted(o)]
        page = search_page(request, resources, *sort)
        if not isinstance(page, Page):
            return page
        included = []
        if include and page.resources and (record := patients.get_patient(subject)) is not None:
            included.append(patient_resource(record))
        return DecimalFhirResponse(searchset(request, "Observation", page, included))

    return router

"""The search part of ``GET /fhir/metadata``: exactly the parameters each search route accepts.

Built from the same tables the routes check their query against, so the
CapabilityStatement cannot list a parameter a route refuses, nor miss one it
serves (tests/integration/fhir/test_capability_searches.py sends each one).
``with_searches`` replaces each type's ``searchParam``, ``searchInclude`` and
``searchRevInclude`` and adds the types served only here (DiagnosticReport).
"""

from __future__ import annotations

import copy
from typing import Any

from adapters.http.fhir_appointment import APPOINTMENT_SEARCH_PARAMETERS
from adapters.http.fhir_billing_search import (
    ACCOUNT_SEARCH_PARAMETERS,
    CHARGE_ITEM_SEARCH_PARAMETERS,
)
from adapters.http.fhir_diagnostic_report import REPORT_INCLUDES, REPORT_SEARCH_PARAMETERS
from adapters.http.fhir_encounter_filters import ENCOUNTER_SEARCH_PARAMETERS, ENCOUNTER_SORTS
from adapters.http.fhir_observation import OBSERVATION_SORTS
from adapters.http.fhir_observation_filters import OBSERVATION_FILTERS
from adapters.http.fhir_patient_search import PATIENT_REVINCLUDES, PATIENT_SEARCH_PARAMETERS
from projections.patients.search import SORT_COLUMNS

__all__ = ["SEARCHES", "with_searches"]

_SUBJECT = {"patient": "reference", "subject": "reference"}


def _sort(names: object) -> dict[str, str]:
    return {"_sort": "special"} if names else {}


# type -> (parameters and their types, _include values, _revinclude values)
SEARCHES: dict[str, tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]] = {
    "Patient": (
        {**PATIENT_SEARCH_PARAMETERS, **_sort(SORT_COLUMNS)},
        (),
        PATIENT_REVINCLUDES,
    ),
    "Encounter": (
        {**ENCOUNTER_SEARCH_PARAMETERS, **_sort(ENCOUNTER_SORTS)},
        ("Encounter:patient", "Encounter:subject"),
        (),
    ),
    "Observation": (
        {**_SUBJECT, **OBSERVATION_FILTERS, **_sort(OBSERVATION_SORTS)},
        ("Observation:patient", "Observation:subject"),
        (),
    ),
    "DiagnosticReport": ({**REPORT_SEARCH_PARAMETERS, "_sort": "special"}, REPORT_INCLUDES, ()),
    "ChargeItem": (dict(CHARGE_ITEM_SEARCH_PARAMETERS), (), ()),
    "Account": (dict(ACCOUNT_SEARCH_PARAMETERS), (), ()),
    "Appointment": (dict(APPOINTMENT_SEARCH_PARAMETERS), (), ()),
}


def with_searches(statement: dict[str, Any], served: set[str]) -> dict[str, Any]:
    """``statement`` with each type in ``served`` listing exactly its search parameters."""
    out = copy.deepcopy(statement)
    rest = out["rest"][0]
    by_type = {r["type"]: r for r in rest["resource"]}
    for kind, (params, includes, revincludes) in SEARCHES.items():
        if kind not in served:
            continue
        resource = by_type.get(kind)
        if resource is None:
            resource = {"type": kind, "interaction": []}
            rest["resource"].append(resource)
        codes = [i["code"] for i in resource["interaction"]]
        resource["interaction"] = [
            *resource["interaction"],
            *({"code": c} for c in ("read", "search-type") if c not in codes),
        ]
        resource["searchParam"] = [{"name": n, "type": t} for n, t in params.items()]
        for key, values in (("searchInclude", includes), ("searchRevInclude", revincludes)):
            resource.pop(key, None)
            if values:
                resource[key] = list(values)
    return out

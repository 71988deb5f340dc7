"""Served FHIR resources: plain data in fhir.resources' form, checked against its models in tests.

Every resource carelog serves is built from read model rows as JSON-ready
data. Validating it with fhir.resources' pydantic model and rendering it back
costs about 0.3 ms a resource: a page of 50 Patients spent more time there
than in its query. So resources are built directly in the form the model
renders (instants in UTC with ``Z``, no empty arrays, no nulls) and served as
built.

The test suite keeps that honest twice over: HAPI's reference validator
checks every body it receives (tests/fhir_validation.py), and with ``CHECK``
on (tests/conftest.py) each resource is validated as it is built and, where
``same`` says so, must equal its model's rendering, so a builder and the
model cannot drift apart unnoticed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["CHECK", "checked", "instant"]

CHECK = False
"""Validate (and compare) every resource as it is built: on in tests, off when serving."""


def instant(moment: datetime) -> str:
    """``moment`` as fhir.resources renders an aware datetime: UTC as ``Z``."""
    text = moment.isoformat()
    return f"{text[:-6]}Z" if text.endswith("+00:00") else text


def checked(model: Any, data: dict[str, Any], *, same: bool = True) -> dict[str, Any]:
    """``data``, validated by ``model`` when ``CHECK`` is on.

    ``same``: the model's JSON rendering must then equal ``data`` too (not for
    resources with decimals, which the model renders as floats and carelog
    as their exact text).

    Raises:
        pydantic.ValidationError: with ``CHECK``, ``data`` is not a valid resource.
        AssertionError: with ``CHECK`` and ``same``, the model renders it otherwise.
    """
    if CHECK:
        rendered = model.model_validate(data).model_dump(
            mode="json", exclude_none=True, by_alias=True
        )
        if same and rendered != data:
            raise AssertionError(
                f"{data.get('resourceType')} {data.get('id')} is built otherwise than "
                f"fhir.resources renders it: built {data!r}, rendered {rendered!r}"
            )
    return data

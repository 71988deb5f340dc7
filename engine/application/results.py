"""Observation results (ORU^R01) as decisions on LabReport aggregates.

Each OBR opens a group that runs to the next OBR; its OBX segments are the
observations. A report is keyed by the order number (OBR-3 filler, else OBR-2
placer), so later results for the same order update it (preliminary to final,
corrections) rather than duplicating it.
"""

from __future__ import annotations

from typing import Any

from engine.application.adt import (
    Loader,
    MessageContext,
    missing_field,
    patient_command,
    visit_id,
)
from engine.application.commands import LabResult, ReportResults
from engine.application.decisions import record_results
from engine.domain.values import ObservationValue
from engine.errors import ValidationError
from engine.hl7.datatypes import read_cwe, read_datetime, read_decimal
from engine.hl7.message import Message, component_of
from engine.ports import Fault

__all__ = ["report_results"]


def _groups(msg: Message) -> list[tuple[int, list[str], list[tuple[int, list[str]]]]]:
    """(OBR position, OBR fields, [(OBX position, OBX fields)...]) in message order."""
    groups: list[tuple[int, list[str], list[tuple[int, list[str]]]]] = []
    for position, seg in enumerate(msg.segments, 1):
        if seg[0] == "OBR":
            groups.append((position, seg, []))
        elif seg[0] == "OBX" and groups:
            groups[-1][2].append((position, seg))
    return groups


def _field(seg: list[str], n: int) -> str:
    return seg[n] if n < len(seg) else ""


def _observation(
    msg: Message, position: int, obx: list[str], ctx: MessageContext
) -> ObservationValue:
    seps = msg.separators
    value_type = component_of(_field(obx, 2), seps)
    raw_values = _field(obx, 5).split(seps.repetition) if _field(obx, 5) else []
    values = tuple(seps.unescape(v) for v in raw_values)
    numeric = None
    comparator = ""
    try:
        if value_type == "NM" and values:
            numeric = read_decimal(values[0])
        elif value_type == "SN" and raw_values:
            comparator = component_of(raw_values[0], seps, 1)
            if not component_of(raw_values[0], seps, 3):  # a plain number, not a range or ratio
                numeric = read_decimal(component_of(raw_values[0], seps, 2))
    except ValueError as e:
        text = f"OBX-5 {e} but OBX-2 says {value_type}"
        fault = Fault(102, "DATA_TYPE", text, "OBX", position, 5, 1, 1)
        raise ValidationError(text, [fault]) from e
    return ObservationValue(
        set_id=component_of(_field(obx, 1), seps),
        value_type=value_type,
        code=read_cwe(_field(obx, 3), seps),
        values=values,
        numeric=numeric,
        comparator=comparator,
        units=component_of(_field(obx, 6), seps),
        reference_range=component_of(_field(obx, 7), seps),
        abnormal_flags=tuple(seps.unescape(f) for f in _field(obx, 8).split(seps.repetition) if f),
        status=component_of(_field(obx, 11), seps),
        observed_at=read_datetime(component_of(_field(obx, 14), seps), ctx.site_timezone),
    )


def report_results(msg: Message, ctx: MessageContext, load: Loader) -> list[Any]:
    """ORU^R01: a LabReport per OBR, created or updated; the PID patient as for ADT."""
    groups = _groups(msg)
    if not groups:
        raise missing_field(msg, "OBR", 0, "an ORU^R01 needs at least one OBR segment")
    seps = msg.separators
    results = []
    for position, obr, obxs in groups:
        order = component_of(_field(obr, 3), seps) or component_of(_field(obr, 2), seps)
        if not order:
            text = "OBR-3 filler or OBR-2 placer order number is required"
            raise ValidationError(
                text, [Fault(101, "REQUIRED_FIELD_MISSING", text, "OBR", position, 3, 0, 1)]
            )
        results.append(
            LabResult(
                order_number=order,
                service=read_cwe(_field(obr, 4), seps),
                status=component_of(_field(obr, 25), seps),
                observed_at=read_datetime(component_of(_field(obr, 7), seps), ctx.site_timezone),
                observations=tuple(_observation(msg, p, obx, ctx) for p, obx in obxs),
            )
        )
    command = ReportResults(
        patient=patient_command(msg, ctx.site_timezone),
        encounter_id=visit_id(msg) if msg.has("PV1") else None,
        results=tuple(results),
    )
    return record_results(command, ctx, load)

"""A refused FHIR write: its HTTP status, issue type and the element that caused it."""

from __future__ import annotations

from typing import Any

__all__ = ["FhirError", "outcome"]


class FhirError(Exception):
    """Refuses a write (or one batch entry); nothing it would have changed is saved.

    ``expression`` is the FHIRPath of the faulty element
    (``Bundle.entry[2].resource.birthDate``), empty when no element is at fault.
    """

    def __init__(self, status: int, code: str, text: str, expression: str = "") -> None:
        super().__init__(text)
        self.status = status
        self.code = code
        self.text = text
        self.expression = expression

    def at(self, prefix: str) -> FhirError:
        """The same error located under ``prefix`` (``Bundle.entry[2].resource``)."""
        if not prefix:
            return self
        rest = self.expression.split(".", 1)[1] if "." in self.expression else ""
        where = f"{prefix}.{rest}" if rest else prefix
        return FhirError(self.status, self.code, self.text, where)


def outcome(errors: list[FhirError] | FhirError, severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome resource with one issue per error."""
    items = errors if isinstance(errors, list) else [errors]
    issues = []
    for e in items:
        issue: dict[str, Any] = {"severity": severity, "code": e.code, "diagnostics": e.text}
        if e.expression:
            issue["expression"] = [e.expression]
        issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}

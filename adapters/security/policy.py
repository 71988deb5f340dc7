"""THE policy table: what each route of the HTTP app needs, and the decision made with it.

Every route is listed by (method, path template). A route missing from the
table is refused (deny by default), and tests/unit/test_access_policy.py
fails when a route of the app has no row. ``authorize`` is the one decision
for FHIR interactions, also for handlers that decide per item (the entries
of a transaction or batch Bundle).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.security.principal import Principal
from adapters.security.scopes import Reach, fhir_reach, may_write_somewhere

__all__ = ["POLICY", "PUBLIC", "AccessRefused", "Rule", "authorize", "rule_for"]

FROM_PATH = "{resource_type}"
"""A rule's resource type taken from the route's ``resource_type`` path parameter."""


@dataclass(frozen=True, slots=True)
class Rule:
    """What one route needs.

    ``kind``: ``public`` (no token), ``fhir`` (a SMART scope for
    ``resource_type`` and ``interaction``), ``scope`` (the carelog scope
    ``scope``), ``bundle`` (a ``user/`` or ``system/`` scope that creates or
    updates something; the handler authorizes each entry with ``authorize``),
    ``token`` (any valid token). ``phi``: the route reads or writes patient
    data, so every use is written to the access log.
    """

    kind: str
    resource_type: str = ""
    interaction: str = ""
    scope: str = ""
    phi: bool = True


PUBLIC = Rule("public", phi=False)


def _fhir(resource_type: str, interaction: str) -> Rule:
    return Rule("fhir", resource_type, interaction)


def _scope(scope: str, resource_type: str = "", *, phi: bool = True) -> Rule:
    return Rule("scope", resource_type, "read", scope, phi)


def _operator(resource_type: str, interaction: str = "read", *, phi: bool = True) -> Rule:
    return Rule("scope", resource_type, interaction, "carelog/operator", phi)


POLICY: dict[tuple[str, str], Rule] = {
    # public: liveness, the capability statement, how to get a token, the embedded keys
    ("GET", "/health"): PUBLIC,
    ("GET", "/fhir/metadata"): PUBLIC,
    ("GET", "/.well-known/smart-configuration"): PUBLIC,
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    # any valid token
    ("GET", "/openapi.json"): Rule("token", phi=False),
    # operators
    ("GET", "/metrics"): _scope("carelog/operator", phi=False),
    # FHIR reads (SMART scopes; patient/ scopes limited to the token's patient)
    ("GET", "/fhir/Patient/{patient_id}"): _fhir("Patient", "read"),
    ("GET", "/fhir/Patient"): _fhir("Patient", "search"),
    ("GET", "/fhir/Encounter/{encounter_id}"): _fhir("Encounter", "read"),
    ("GET", "/fhir/Encounter"): _fhir("Encounter", "search"),
    ("GET", "/fhir/Observation"): _fhir("Observation", "search"),
    ("GET", "/fhir/ChargeItem"): _fhir("ChargeItem", "search"),
    ("GET", "/fhir/Observation/{observation_id}"): _fhir("Observation", "read"),
    ("GET", "/fhir/ChargeItem/{item_id}"): _fhir("ChargeItem", "read"),
    ("GET", "/fhir/Account/{account_id}"): _fhir("Account", "read"),
    ("GET", "/fhir/Account"): _fhir("Account", "search"),
    ("GET", "/fhir/DiagnosticReport/{report_id}"): _fhir("DiagnosticReport", "read"),
    ("GET", "/fhir/DiagnosticReport"): _fhir("DiagnosticReport", "search"),
    ("GET", "/fhir/Appointment/{appointment_id}"): _fhir("Appointment", "read"),
    ("GET", "/fhir/Appointment"): _fhir("Appointment", "search"),
    # $everything: Patient read here; the handler checks the other types' scopes
    ("GET", "/fhir/Patient/{patient_id}/$everything"): _fhir("Patient", "read"),
    # vread and instance _history: reads of earlier versions (SMART "r")
    ("GET", "/fhir/Patient/{patient_id}/_history"): _fhir("Patient", "read"),
    ("GET", "/fhir/Patient/{patient_id}/_history/{version_id}"): _fhir("Patient", "read"),
    ("GET", "/fhir/Encounter/{encounter_id}/_history"): _fhir("Encounter", "read"),
    ("GET", "/fhir/Encounter/{encounter_id}/_history/{version_id}"): _fhir("Encounter", "read"),
    # FHIR writes (the fhir branch): create = c, update = u, Bundles per entry
    ("POST", "/fhir"): Rule("bundle", interaction="transaction"),
    ("POST", "/fhir/{resource_type}"): _fhir(FROM_PATH, "create"),
    ("PUT", "/fhir/{resource_type}"): _fhir(FROM_PATH, "update"),  # conditional update
    ("PUT", "/fhir/{resource_type}/{resource_id}"): _fhir(FROM_PATH, "update"),
    **{("POST", f"/fhir/{t}"): _fhir(t, "create") for t in ("Patient", "Encounter", "Observation")},
    **{("PUT", f"/fhir/{t}"): _fhir(t, "update") for t in ("Patient", "Encounter", "Observation")},
    **{
        ("PUT", f"/fhir/{t}/{{resource_id}}"): _fhir(t, "update")
        for t in ("Patient", "Encounter", "Observation")
    },
    # carelog's own API
    ("GET", "/api/queue/{location}"): _scope("carelog/queue.read", "Queue"),
    ("GET", "/api/queue/{location}/stats"): _scope("carelog/queue.read", "QueueStats", phi=False),
    ("GET", "/api/queue/{location}/expected"): _scope("carelog/queue.read", "Appointment"),
    ("GET", "/api/billing/accounts/{account}"): _scope("carelog/billing.read", "Account"),
    ("GET", "/api/patients/{patient_id}/history"): _scope("carelog/audit.read", "History"),
    ("GET", "/api/audit"): _scope("carelog/audit.read", "AuditEvent"),
    ("GET", "/fhir/AuditEvent"): _scope("carelog/audit.read", "AuditEvent"),
    # the operator console (adapters/console): a session cookie or a bearer token
    ("GET", "/console/signin"): PUBLIC,  # checks its one-time code itself
    ("GET", "/console"): _operator("Console", phi=False),
    ("GET", "/console/static/{name}"): _operator("Console", phi=False),
    ("GET", "/console/messages"): _operator("MessageLog"),
    ("GET", "/console/messages/{entry_id}"): _operator("MessageLog"),
    ("POST", "/console/messages/{entry_id}/reprocess"): _operator("MessageLog", "reprocess"),
    ("GET", "/console/errors"): _operator("MessageLog"),
    ("POST", "/console/errors/reprocess"): _operator("MessageLog", "reprocess"),
    ("GET", "/console/board/{location}"): _operator("Queue"),
    ("GET", "/console/board/{location}/events"): _operator("Queue"),
    # console sign-in with the external issuer (adapters/console/oidc.py) and sign-out
    ("GET", "/console/oidc/start"): PUBLIC,  # sends the browser to the issuer
    ("GET", "/console/oidc/callback"): PUBLIC,  # checks state, PKCE, id_token and nonce itself
    ("POST", "/console/signout"): _operator("Console", "signout", phi=False),
    # saved filters (adapters/console/filters.py): they may name an MRN or a visit number
    ("GET", "/console/filters"): _operator("SavedFilter"),
    ("POST", "/console/filters"): _operator("SavedFilter", "save"),
    ("POST", "/console/filters/delete"): _operator("SavedFilter", "delete"),
    # calling a waiting patient (adapters/http/calls.py, adapters/console/calls.py)
    ("POST", "/api/queue/{location}/call"): _operator("Queue", "call"),
    ("POST", "/console/board/{location}/call"): _operator("Queue", "call"),
    ("GET", "/console/dashboard"): _operator("Console", phi=False),  # figures, no patient data
}


def rule_for(method: str, path_template: str) -> Rule | None:
    """The row for a route (HEAD as GET); None when the table has none (refuse)."""
    method = "GET" if method == "HEAD" else method
    return POLICY.get((method, path_template))


class AccessRefused(Exception):
    """The principal may not do this: answered 403 (or 401 with ``status=401``)."""

    def __init__(self, detail: str, *, status: int = 403, scope: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.scope = scope  # the scope that would have been enough, for WWW-Authenticate


def authorize(
    principal: Principal | None,
    resource_type: str,
    interaction: str,
    patient_id: str | None = None,
) -> Reach:
    """Checks one FHIR interaction; returns how far it reaches, or raises AccessRefused.

    ``patient_id`` is the patient the interaction touches when known: a
    ``patient/`` scope covers it only if it is the token's patient.
    Handlers of Bundles call this for each entry before applying any.
    """
    if principal is None:
        raise AccessRefused("a bearer token is required", status=401)
    reach = fhir_reach(principal, resource_type, interaction)
    if reach is Reach.NONE:
        raise AccessRefused(
            f"no scope grants {interaction} on {resource_type}",
            scope=f"user/{resource_type}.{'rs' if interaction in ('read', 'search') else 'cu'}",
        )
    if reach is Reach.COMPARTMENT and patient_id is not None and patient_id != principal.patient:
        raise AccessRefused(f"{resource_type}: outside the token's patient compartment")
    return reach


def allows_route(principal: Principal, rule: Rule, resource_type: str) -> Reach:
    """How far ``rule`` lets ``principal`` go on this route (Reach.NONE: refuse)."""
    if rule.kind in ("public", "token"):
        return Reach.ALL
    if rule.kind == "scope":
        return Reach.ALL if rule.scope in principal.scopes else Reach.NONE
    if rule.kind == "bundle":
        return Reach.ALL if may_write_somewhere(principal) else Reach.NONE
    if rule.kind == "fhir":
        return fhir_reach(principal, resource_type, rule.interaction)
    return Reach.NONE

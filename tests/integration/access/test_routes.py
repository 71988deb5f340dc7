"""Every route of the app behind the access layer: the policy table covers them all, each
non-public one refuses a missing or forged token (401), scopes decide 200 against 403, token
attacks are refused, and a patient/ token reads nothing of another patient."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from adapters.http.access import route_table
from adapters.security.issuer import EmbeddedIssuer
from adapters.security.policy import POLICY, rule_for
from tests import tokens
from tests.asgi import get, request
from tests.integration.access.conftest import World

PUBLIC = {
    ("GET", "/health"),
    ("GET", "/fhir/metadata"),
    ("GET", "/.well-known/smart-configuration"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/console/signin"),  # checks its one-time sign-in code itself (adapters/console)
    ("GET", "/console/oidc/start"),  # OpenID Connect sign-in (adapters/console/oidc.py)
    ("GET", "/console/oidc/callback"),  # checks state, PKCE, id_token and nonce itself
}
OIDC_ONLY = {"/console/oidc/start", "/console/oidc/callback"}


def endpoints(world: World) -> list[tuple[str, str]]:
    """(method, template) of every route the app serves (HEAD aside)."""
    return sorted(
        (method, path)
        for path, methods in route_table(world.app.router)
        for method in methods
        if method != "HEAD"
    )


def concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", template)


def test_every_route_of_the_app_has_a_row_in_the_policy_table(world: World) -> None:
    served = endpoints(world)
    assert len(served) >= 17
    assert [e for e in served if rule_for(*e) is None] == []
    public = {key for key, rule in POLICY.items() if rule.kind == "public"}
    assert public == PUBLIC  # the contract's three, and the embedded issuer's public keys


def test_the_public_routes_answer_without_a_token(world: World) -> None:
    for _, path in PUBLIC:
        answer = get(world.app, path, auth=False)
        if path in OIDC_ONLY:  # not served without an external issuer (test_console_oidc.py)
            assert answer.status_code == 401
            continue
        if path == "/console/signin":  # no code: refused (tests/e2e/test_console_serve.py)
            assert answer.status_code == 401
            continue
        assert answer.status_code == 200, path
    smart = get(world.app, "/.well-known/smart-configuration", auth=False).json()
    assert "permission-v2" in smart["capabilities"] and smart["jwks_uri"].endswith("jwks.json")
    keys = get(world.app, "/.well-known/jwks.json", auth=False).json()["keys"]
    assert [k["kid"] for k in keys] == [tokens.ISSUER.kid] and "d" not in keys[0]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any], alg: str = "none") -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": tokens.ISSUER.kid}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": tokens.ISSUER.issuer,
        "aud": "carelog",
        "sub": "mallory",
        "scope": tokens.ALL_SCOPES,
        "iat": now,
        "exp": now + 600,
        "jti": "t-1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(payload: dict[str, Any], kid: str | None = None) -> str:
    """Signed with the real embedded key (so only the claims or the kid are wrong)."""
    key = serialization.load_pem_private_key(tokens.ISSUER.key_path.read_bytes(), None)
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid or tokens.ISSUER.kid})  # type: ignore[arg-type]  # an EC private key


def hs256_with_public_key(payload: dict[str, Any]) -> str:
    """The classic confusion attack: a MAC keyed with the verifier's public key."""
    public = tokens.ISSUER.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": tokens.ISSUER.kid}).encode())
    body = _b64(json.dumps(payload).encode())
    mac = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(mac)}"


def forged_by_another_key(tmp_key: EmbeddedIssuer) -> str:
    """A well-formed token signed by a key that is not the issuer's, under the issuer's kid."""
    key = serialization.load_pem_private_key(tmp_key.key_path.read_bytes(), None)
    return jwt.encode(claims(), key, algorithm="ES256", headers={"kid": tokens.ISSUER.kid})  # type: ignore[arg-type]  # an EC private key


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedIssuer:
    return EmbeddedIssuer(tmp_path_factory.mktemp("other") / "key.pem", "carelog")


def test_every_non_public_route_answers_401_without_a_token_and_with_a_forged_one(
    world: World, other_key: EmbeddedIssuer
) -> None:
    forged = {
        "none": None,
        "garbage": {"Authorization": "Bearer not.a.token"},
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
        "other key": {"Authorization": f"Bearer {forged_by_another_key(other_key)}"},
        "alg none": {"Authorization": f"Bearer {unsigned(claims())}"},
    }
    checked = 0
    for method, template in endpoints(world):
        if (method, template) in PUBLIC:
            continue
        path = concrete(template)
        for name, headers in forged.items():
            r = request(world.app, method, path, auth=False, headers=headers or {})
            assert r.status_code == 401, (method, path, name, r.status_code)
            assert r.headers["www-authenticate"].startswith('Bearer realm="carelog"')
            assert "error_description=" in r.headers["www-authenticate"]
            if path.startswith("/fhir"):
                assert r.json()["resourceType"] == "OperationOutcome"
            elif path.startswith("/api"):
                assert r.headers["content-type"] == "application/problem+json"
            checked += 1
    assert checked >= 13 * len(forged)


def test_unknown_paths_and_methods_need_a_token_too(world: World) -> None:
    assert get(world.app, "/nowhere", auth=False).status_code == 401
    assert request(world.app, "DELETE", "/fhir/Patient/x", auth=False).status_code == 401
    assert get(world.app, "/nowhere").status_code == 404
    assert request(world.app, "DELETE", f"/fhir/Patient/{world.a}").status_code == 405


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("alg none", lambda: unsigned(claims())),
        ("alg none, no kid", lambda: unsigned(claims()).replace("kid", "kix")),
        ("HS256 keyed with the public key", lambda: hs256_with_public_key(claims())),
        ("wrong audience", lambda: signed(claims(aud="another-service"))),
        ("wrong issuer", lambda: signed(claims(iss="https://idp.evil.example"))),
        ("expired", lambda: signed(claims(exp=int(time.time()) - 120))),
        ("not yet valid", lambda: signed(claims(nbf=int(time.time()) + 600))),
        ("no exp", lambda: signed(claims(exp=None))),
        ("no aud", lambda: signed(claims(aud=None))),
        ("no sub", lambda: signed(claims(sub=None))),
        ("unknown kid", lambda: signed(claims(), kid="some-other-key")),
        ("tampered claims", lambda: _tampered()),
    ],
)
def test_token_attacks_are_refused(world: World, name: str, token: Any) -> None:
    r = get(world.app, f"/fhir/Patient/{world.a}", headers={"Authorization": f"Bearer {token()}"})
    assert r.status_code == 401, name
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def _tampered() -> str:
    header, _body, signature = signed(claims(scope="user/Patient.r")).split(".")
    wider = _b64(json.dumps(claims(scope=tokens.ALL_SCOPES)).encode())
    return f"{header}.{wider}.{signature}"


def test_a_token_within_the_clock_skew_is_accepted(world: World) -> None:
    token = signed(claims(exp=int(time.time()) - 5))
    r = get(world.app, f"/fhir/Patient/{world.a}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200


ROUTES = {
    "patient.read": "/fhir/Patient/{a}",
    "patient.search": "/fhir/Patient?identifier=HOSP|MRNA",
    "encounter.read": "/fhir/Encounter/{ea}",
    "encounter.search": "/fhir/Encounter?patient={a}",
    "observation.search": "/fhir/Observation?patient={a}",
    "chargeitem.search": "/fhir/ChargeItem?patient=Patient/{a}",
    "diagnosticreport.search": "/fhir/DiagnosticReport?patient={a}",
    "diagnosticreport.read": "/fhir/DiagnosticReport/{ra}",
    "account.search": "/fhir/Account?patient={a}",
    "queue": "/api/queue/ED",
    "queue.stats": "/api/queue/ED/stats",
    "account": "/api/billing/accounts/ACCA",
    "history": "/api/patients/{a}/history",
    "audit": "/api/audit?limit=5",
    "auditevent": "/fhir/AuditEvent?_count=5",
    "metrics": "/metrics",
    "openapi": "/openapi.json",
}
FHIR_READS = {k for k in ROUTES if k.split(".")[0] in ("patient", "encounter")} | {
    "observation.search",
    "chargeitem.search",
    "diagnosticreport.search",
    "diagnosticreport.read",
    "account.search",
}
# (scopes, patient claim) -> the routes it opens; every other route must answer 403.
GRANTS: list[tuple[str, str | None, set[str]]] = [
    ("system/*.rs", None, FHIR_READS | {"openapi"}),
    ("user/*.cruds", None, FHIR_READS | {"openapi"}),
    ("user/*.read", None, FHIR_READS | {"openapi"}),  # v1
    ("user/*.*", None, FHIR_READS | {"openapi"}),  # v1
    ("user/*.write", None, {"openapi"}),  # v1: cud, no read
    ("user/*.cud", None, {"openapi"}),
    ("user/Patient.rs", None, {"patient.read", "patient.search", "openapi"}),
    ("user/Patient.r", None, {"patient.read", "openapi"}),
    ("user/Patient.s", None, {"patient.search", "openapi"}),
    ("user/Observation.rs user/Encounter.s", None,
     {"observation.search", "encounter.search", "openapi"}),
    ("user/ChargeItem.read", None, {"chargeitem.search", "openapi"}),
    ("system/Observation.rs?category=laboratory", None, {"openapi"}),  # granular: not evaluated
    ("patient/*.rs", "A", FHIR_READS | {"openapi"}),
    ("patient/*.rs", None, {"openapi"}),  # no patient claim: no compartment to read
    ("patient/Observation.rs", "A", {"observation.search", "openapi"}),
    ("carelog/queue.read", None, {"queue", "queue.stats", "openapi"}),
    ("carelog/billing.read", None, {"account", "openapi"}),
    ("carelog/audit.read", None, {"history", "audit", "auditevent", "openapi"}),
    ("carelog/operator", None, {"metrics", "openapi"}),
    ("openid profile", None, {"openapi"}),
]  # fmt: skip


@pytest.mark.parametrize(("scopes", "patient", "opened"), GRANTS)
def test_scopes_decide_each_route_and_interaction(
    world: World, scopes: str, patient: str | None, opened: set[str]
) -> None:
    claim = {"A": world.a, None: None}[patient]
    headers = tokens.bearer(scopes, patient=claim)
    for name, template in ROUTES.items():
        path = template.format(a=world.a, ea=world.encounter_a, ra=_report(world, world.a))
        r = get(world.app, path, headers=headers)
        expected = 200 if name in opened else 403
        assert r.status_code == expected, (scopes, name, r.status_code, r.text[:200])
        if expected == 403:
            assert 'error="insufficient_scope"' in r.headers["www-authenticate"]


def test_a_token_for_patient_a_reads_nothing_of_patient_b(world: World) -> None:
    a_only = tokens.bearer("patient/*.rs", patient=world.a)
    of_b = [
        f"/fhir/Patient/{world.b}",
        "/fhir/Patient?identifier=HOSP|MRNB",
        "/fhir/Patient?identifier=MRNB",
        f"/fhir/Encounter/{world.encounter_b}",
        f"/fhir/Encounter?patient={world.b}",
        f"/fhir/Encounter?subject=Patient/{world.b}",
        f"/fhir/Observation?patient={world.b}",
        f"/fhir/Observation?patient=Patient/{world.b}",
        f"/fhir/ChargeItem?patient={world.b}",
        f"/fhir/Observation?patient={world.a}&patient={world.b}",
        f"/fhir/Observation?subject=Patient/{world.b}",
        f"/fhir/DiagnosticReport?patient={world.b}",
        f"/fhir/DiagnosticReport/{_report(world, world.b)}",
        f"/fhir/Account?patient={world.b}",
        "/fhir/Account?identifier=ACCB",
        "/fhir/Encounter?identifier=VB",
        "/fhir/Patient?identifier=MRNB&_revinclude=Observation:patient",
        f"/fhir/ChargeItem?subject={world.b}&status=billable",
    ]
    for path in of_b:
        r = get(world.app, path, headers=a_only)
        assert r.status_code == 403, (path, r.status_code)
        assert world.b not in r.text and "MRNB" not in r.text.replace(path, "")
    own = get(world.app, f"/fhir/Observation?patient={world.a}", headers=a_only)
    assert own.status_code == 200 and own.json()["total"] == 1
    assert get(world.app, "/fhir/Patient?identifier=HOSP|MRNA", headers=a_only).json()["total"] == 1


def _report(world: World, patient_id: str) -> str:
    """The id of the patient's one lab report (a DiagnosticReport)."""
    (report,) = world.engine.views["observations"].reports_of([patient_id])
    return str(report.report_id)


def test_included_and_revincluded_types_need_their_own_scope(world: World) -> None:
    revinclude = "/fhir/Patient?identifier=HOSP|MRNA&_revinclude=Observation:patient"
    include = f"/fhir/DiagnosticReport?patient={world.a}&_include=DiagnosticReport:result"
    for path, narrow, wide in (
        (revinclude, "user/Patient.rs", "user/Patient.rs user/Observation.s"),
        (include, "user/DiagnosticReport.rs", "user/DiagnosticReport.rs user/Observation.s"),
    ):
        refused = get(world.app, path, headers=tokens.bearer(narrow))
        assert refused.status_code == 403, (path, refused.text[:200])
        assert "Observation" in refused.text and "MRNA" not in refused.text
        served = get(world.app, path, headers=tokens.bearer(wide))
        assert served.status_code == 200, path
        kinds = {e["resource"]["resourceType"] for e in served.json()["entry"]}
        assert "Observation" in kinds
    own = tokens.bearer("patient/*.rs", patient=world.a)
    assert get(world.app, revinclude, headers=own).status_code == 200
    assert get(world.app, include, headers=own).status_code == 200


def test_a_bundle_handler_can_authorize_each_entry() -> None:
    from adapters.security.policy import AccessRefused, authorize
    from adapters.security.principal import Principal
    from adapters.security.scopes import Reach

    writer = Principal(
        "w", scopes=frozenset({"user/Patient.cu", "patient/Observation.c"}), patient="A"
    )
    assert authorize(writer, "Patient", "create") is Reach.ALL
    assert authorize(writer, "Patient", "update", "B") is Reach.ALL
    assert authorize(writer, "Observation", "create", "A") is Reach.COMPARTMENT
    for args in (
        ("Observation", "create", "B"),
        ("Encounter", "create", None),
        ("Patient", "read"),
    ):
        with pytest.raises(AccessRefused) as refused:
            authorize(writer, *args)
        assert refused.value.status == 403
    with pytest.raises(AccessRefused) as anonymous:
        authorize(None, "Patient", "read")
    assert anonymous.value.status == 401

"""The small parts of the access layer: scope parsing, durations, settings, the key file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.security.issuer import EmbeddedIssuer, parse_duration
from adapters.security.principal import Principal
from adapters.security.scopes import Reach, fhir_reach, parse_scope
from engine.config import Settings
from engine.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user/Patient.rs", ("user", "Patient", "rs")),
        ("system/*.cruds", ("system", "*", "cruds")),
        ("patient/Observation.read", ("patient", "Observation", "rs")),
        ("user/*.write", ("user", "*", "cud")),
        ("user/*.*", ("user", "*", "cruds")),
        ("user/Patient.rr", None),
        ("user/Patient.x", None),
        ("user/Observation.rs?category=laboratory", None),
        ("admin/Patient.rs", None),
        ("carelog/operator", None),
        ("openid", None),
    ],
)
def test_smart_scopes_parse_v2_and_map_v1(text: str, expected: tuple[str, str, str] | None) -> None:
    scope = parse_scope(text)
    if expected is None:
        assert scope is None
    else:
        assert scope is not None
        assert (scope.context, scope.resource_type, scope.letters) == (
            expected[0], expected[1], frozenset(expected[2])
        )  # fmt: skip


def test_reach_user_beats_patient_and_patient_needs_a_claim() -> None:
    both = Principal("s", scopes=frozenset({"patient/*.rs", "user/Patient.r"}), patient="A")
    assert fhir_reach(both, "Patient", "read") is Reach.ALL
    assert fhir_reach(both, "Observation", "search") is Reach.COMPARTMENT
    assert fhir_reach(both, "Observation", "create") is Reach.NONE
    no_claim = Principal("s", scopes=frozenset({"patient/*.rs"}))
    assert fhir_reach(no_claim, "Patient", "read") is Reach.NONE
    assert fhir_reach(both, "Patient", "vread") is Reach.NONE  # unknown interaction


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("8h", 28800),
                                               ("7d", 604800), ("120", 120)])  # fmt: skip
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "31d", "1w", "-5m", "soon", ""])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--ttl"):
        parse_duration(text)


def test_auth_settings_and_their_errors(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "CARELOG_STORE": f"sqlite:///{tmp_path}/x/carelog.db",
            "CARELOG_AUTH_ISSUER": "https://idp.example/realm/",
            "CARELOG_AUTH_LEEWAY": "10",
            "CARELOG_AUTH_EMBEDDED_ANY_ADDRESS": "1",
        }
    )
    assert s.auth_issuer == "https://idp.example/realm" and s.auth_leeway_s == 10
    assert s.auth_embedded_any_address and s.issuer_key_path() == tmp_path / "x/carelog-issuer.pem"
    for key, value in [
        ("CARELOG_AUTH_ISSUER", "idp.example"),
        ("CARELOG_AUTH_JWKS_URL", "file:///etc/passwd"),
        ("CARELOG_AUTH_LEEWAY", "3600"),
        ("CARELOG_AUTH_EMBEDDED_ANY_ADDRESS", "yes"),
        ("CARELOG_AUTH_JWKS_REFRESH", "nan"),
        ("CARELOG_ACCESS_LOG_FLUSH", "0"),
    ]:
        with pytest.raises(ConfigError, match=key):
            Settings.from_env({key: value})


def test_the_key_file_is_created_private_reused_and_refused_when_others_can_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys" / "issuer.pem"
    first = EmbeddedIssuer(path, "carelog")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert EmbeddedIssuer(path, "carelog").kid == first.kid  # the same key, not a new one
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        EmbeddedIssuer(path, "carelog")
    path.write_bytes(b"not a key")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="no PEM private key"):
        EmbeddedIssuer(path, "carelog")


def test_a_bundle_needs_a_user_or_system_write_scope_before_its_entries_are_checked() -> None:
    from adapters.security.policy import allows_route, rule_for

    bundle = rule_for("POST", "/fhir")
    assert bundle is not None and bundle.kind == "bundle"
    for scopes, patient, reach in [
        ({"user/Patient.cu"}, None, Reach.ALL),
        ({"system/*.c"}, None, Reach.ALL),
        ({"user/*.rs"}, None, Reach.NONE),
        ({"patient/*.cruds"}, "A", Reach.NONE),
        ({"carelog/operator"}, None, Reach.NONE),
    ]:
        who = Principal("s", scopes=frozenset(scopes), patient=patient)
        assert allows_route(who, bundle, "") is reach, scopes

"""Transport settings: TLS files in pairs, opt-ins, limits, PostgreSQL URL parameters, Kafka."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from adapters.kafka.topics import kafka_tls
from adapters.mllp.tls import SenderBindings, SenderRefusals, peer_identities, sending_pair
from adapters.transport import check_plaintext, is_loopback, kafka_ssl_context, mllp_options
from engine.config import POSTGRES_PARAMS_KEY, Settings, postgres_url_params
from engine.errors import ConfigError


def test_defaults_are_plain_on_loopback_with_limits_on() -> None:
    s = Settings.from_env({})
    assert not s.mllp_tls_cert and not s.http_tls_cert
    assert s.http_rate_limit != "off" and s.mllp_max_connections_per_peer > 0
    check_plaintext(s)  # loopback: no opt-in needed


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"CARELOG_MLLP_TLS_CERT": "c.pem"}, "CARELOG_MLLP_TLS_KEY"),
        ({"CARELOG_HTTP_TLS_KEY": "k.pem"}, "CARELOG_HTTP_TLS_CERT"),
        ({"CARELOG_KAFKA_TLS_CERT": "c", "CARELOG_KAFKA_TLS_KEY": "k"}, "CARELOG_KAFKA_TLS_CA"),
        ({"CARELOG_MLLP_TLS_CA": "ca.pem"}, "CARELOG_MLLP_TLS_CA"),
        ({"CARELOG_MLLP_SENDERS": "s.toml"}, "CARELOG_MLLP_SENDERS"),
        ({"CARELOG_HTTP_RATE_LIMIT": "lots"}, "CARELOG_HTTP_RATE_LIMIT"),
        ({"CARELOG_MLLP_ALLOW_PLAINTEXT": "maybe"}, "CARELOG_MLLP_ALLOW_PLAINTEXT"),
        ({"CARELOG_MLLP_MAX_CONNECTIONS_PER_PEER": "0"}, "CARELOG_MLLP_MAX_CONNECTIONS_PER_PEER"),
        ({"CARELOG_TLS_HANDSHAKE_TIMEOUT": "-1"}, "CARELOG_TLS_HANDSHAKE_TIMEOUT"),
    ],
)
def test_incomplete_or_malformed_transport_settings_name_their_key(
    env: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigError, match=key):
        Settings.from_env(env)


def test_transport_settings_are_read() -> None:
    s = Settings.from_env(
        {
            "CARELOG_MLLP_TLS_CERT": "s.pem",
            "CARELOG_MLLP_TLS_KEY": "s.key",
            "CARELOG_MLLP_TLS_CA": "ca.pem",
            "CARELOG_MLLP_SENDERS": "senders.toml",
            "CARELOG_HTTP_RATE_LIMIT": "50/Second",
            "CARELOG_HTTP_ALLOW_PLAINTEXT": "true",
            "CARELOG_MLLP_MAX_CONNECTIONS_PER_PEER": "3",
            "CARELOG_TLS_HANDSHAKE_TIMEOUT": "2.5",
        }
    )
    assert (s.mllp_tls_ca, s.mllp_senders, s.http_rate_limit) == (
        "ca.pem",
        "senders.toml",
        "50/second",
    )
    assert s.http_allow_plaintext and not s.mllp_allow_plaintext
    assert (s.mllp_max_connections_per_peer, s.tls_handshake_timeout_s) == (3, 2.5)


@pytest.mark.parametrize("listener", ["MLLP", "HTTP"])
def test_a_plain_listener_off_loopback_needs_its_opt_in(listener: str) -> None:
    env = {f"CARELOG_{listener}": "0.0.0.0:9999"}
    with pytest.raises(ConfigError, match=f"CARELOG_{listener}_ALLOW_PLAINTEXT"):
        check_plaintext(Settings.from_env(env))
    check_plaintext(Settings.from_env({**env, f"CARELOG_{listener}_ALLOW_PLAINTEXT": "yes"}))
    tls = {f"CARELOG_{listener}_TLS_CERT": "c.pem", f"CARELOG_{listener}_TLS_KEY": "k.pem"}
    check_plaintext(Settings.from_env({**env, **tls}))


def test_loopback_addresses() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "", "::", "10.0.0.5", "carelog.example.org"]))


def test_the_postgresql_url_keeps_its_query_parameters() -> None:
    url = (
        "postgresql://u:p%40ss@db.example.org:6432/carelog"
        "?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=carelog-a"
    )
    s = Settings.from_env({"CARELOG_STORE": url})
    env = s.eventsourcing_env()
    assert env["POSTGRES_PASSWORD"] == "p@ss" and env["POSTGRES_DBNAME"] == "carelog"
    assert s.postgres_params() == {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ca.pem",
        "application_name": "carelog-a",
    }
    # Parameters the URL's other parts own cannot be overridden through the query.
    assert postgres_url_params({POSTGRES_PARAMS_KEY: "host=evil&sslmode=require"}) == {
        "sslmode": "require"
    }
    assert Settings.from_env({}).postgres_params() == {}


def test_kafka_tls_context_verifies_the_broker(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client = ca.issue_cert("relay.carelog")
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    client.cert_chain_pems[0].write_to_path(str(cert))
    client.private_key_pem.write_to_path(str(key))
    assert kafka_ssl_context(Settings()) is None and kafka_tls(None) == {}
    s = Settings.from_env(
        {
            "CARELOG_KAFKA_TLS_CA": str(ca_file),
            "CARELOG_KAFKA_TLS_CERT": str(cert),
            "CARELOG_KAFKA_TLS_KEY": str(key),
        }
    )
    context = kafka_ssl_context(s)
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert kafka_tls(context) == {"security_protocol": "SSL", "ssl_context": context}


def test_unreadable_tls_files_fail_at_start_naming_the_setting(tmp_path: Path) -> None:
    s = Settings.from_env(
        {"CARELOG_MLLP_TLS_CERT": str(tmp_path / "no.pem"), "CARELOG_MLLP_TLS_KEY": "no.key"}
    )
    with pytest.raises(ConfigError, match="CARELOG_MLLP_TLS_CERT"):
        mllp_options(s, SenderRefusals())


def test_sender_bindings_file_forms(tmp_path: Path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text('[senders]\n"lab" = [{ msh3 = "LAB", msh4 = "HOSP" }]\n')
    json_file = tmp_path / "s.json"
    json_file.write_text('{"senders": {"lab": [{"msh3": "LAB", "msh4": "*"}]}}')
    by_toml, by_json = SenderBindings.load(str(toml)), SenderBindings.load(str(json_file))
    assert by_toml.permits(["lab"], ("LAB", "HOSP"))
    assert not by_toml.permits(["lab"], ("LAB", "OTHER"))
    assert not by_toml.permits(["other"], ("LAB", "HOSP"))  # unknown identity: nothing
    assert not by_toml.permits(["lab"], None)
    assert by_json.permits(["x", "lab"], ("LAB^1.2^ISO", "ANY"))
    bad = tmp_path / "bad.toml"
    bad.write_text('[senders]\n"lab" = ["LAB|HOSP"]\n')
    with pytest.raises(ConfigError, match="CARELOG_MLLP_SENDERS"):
        SenderBindings.load(str(bad))


def test_header_and_certificate_names() -> None:
    assert sending_pair(b"MSH|^~\\&|LAB|HOSP|CARELOG|HOSP|2024\rPID|1") == ("LAB", "HOSP")
    assert sending_pair(b"\nMSH#^~\\&#A^1#B#\r") == ("A^1", "B")
    assert sending_pair(b"PID|1|") is None
    cert = {
        "subject": ((("countryName", "US"),), (("commonName", "lab.example.org"),)),
        "subjectAltName": (("DNS", "lab.example.org"), ("URI", "urn:oid:1.2.3")),
    }
    assert peer_identities(cert) == ("lab.example.org", "urn:oid:1.2.3")
    assert peer_identities(None) == ()

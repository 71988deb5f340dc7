"""Settings: every knob carelog reads, from one mapping (the environment by default).

Nothing else reads ``os.environ``. ``from_env`` is a pure function of a mapping,
so tests pass a dict, and every bad value raises a ConfigError naming its key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.errors import ConfigError

__all__ = [
    "AT_REST_ENV_KEY",
    "POSTGRES_PARAMS_KEY",
    "Settings",
    "parse_host_port",
    "postgres_url_params",
]

DEFAULT_STORE = "sqlite:///var/carelog.db"
AT_REST_ENV_KEY = "AT_REST_MAPPER_TOPIC"  # in eventsourcing_env (not a setting): the mapper factory
POSTGRES_PARAMS_KEY = "POSTGRES_URL_QUERY"  # in eventsourcing_env (not a setting): the URL's query
_RATE = re.compile(r"(off|\d+\s*/\s*(second|minute|hour|day))")
_TRUE = ("1", "true", "yes", "on")


def parse_host_port(value: str, key: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``:PORT``) as a pair.

    Raises:
        ConfigError: naming ``key`` when the value is not of that form.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{key}: expected HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


@dataclass(frozen=True, slots=True)
class Settings:
    """carelog's configuration. Defaults are the embedded, single-process setup."""

    store: str = DEFAULT_STORE
    mllp_host: str = "127.0.0.1"
    mllp_port: int = 2575
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    kafka: str = ""
    kafka_topic: str = "carelog.events"
    kafka_partitions: int = 8
    kafka_group: str = "carelog-projections"
    worker_heartbeat: str = ""  # a file `carelog worker` touches while it runs (health checks)
    log_format: str = "json"
    log_level: str = "info"
    max_frame_bytes: int = 1 << 20
    fhir_max_bytes: int = 16 << 20  # a FHIR write request's body; larger ones are answered 413
    # The validator's segment and field limits (bytes); 0 = the frame limit, so an
    # embedded document (OBX-5 ED, base64) fits whatever CARELOG_MAX_FRAME_BYTES allows.
    max_segment_bytes: int = 0
    max_field_bytes: int = 0
    idle_timeout_s: float = 300.0
    processing_ids: frozenset[str] = frozenset({"P"})
    timezone: str = "UTC"
    schemas: str = ""  # directory of the HL7 v2 message profiles; "" = the checkout's schemas/hl7v2
    validation: str = "tolerant"  # the validator's level: tolerant or strict (schemas/README.md)
    seal_key: str = field(default="", repr=False)  # CARELOG_SEAL_KEY: HMAC key of the seals
    # Transport security (docs/tls.md): certificate and key files, PEM.
    mllp_tls_cert: str = ""
    mllp_tls_key: str = ""
    mllp_tls_ca: str = ""  # set: every MLLP client must present a certificate from this CA
    mllp_senders: str = ""  # file binding certificate identities to MSH-3/MSH-4 pairs
    mllp_allow_plaintext: bool = False  # plain MLLP on a non-loopback address: opt-in
    mllp_max_connections_per_peer: int = 64
    tls_handshake_timeout_s: float = 10.0
    http_tls_cert: str = ""
    http_tls_key: str = ""
    http_allow_plaintext: bool = False  # plain HTTP on a non-loopback address: opt-in
    http_rate_limit: str = "1200/minute"  # per client; "off" disables
    kafka_tls_ca: str = ""
    kafka_tls_cert: str = ""
    kafka_tls_key: str = ""
    # Access (docs/access-control.md): "" issuer = the embedded issuer and its key file.
    auth_issuer: str = ""
    auth_jwks_url: str = ""
    auth_audience: str = "carelog"
    auth_key_file: str = ""  # "" = carelog-issuer.pem in the data directory
    auth_embedded_any_address: bool = False  # opt-in: embedded issuer on a non-loopback address
    auth_leeway_s: int = 30
    auth_jwks_refresh_s: float = 10.0  # least time between JWKS fetches for unknown kids
    access_log_flush_s: float = 0.2
    # Data at rest (docs/data-at-rest.md): stored event state encrypted per patient.
    encryption: bool = True  # CARELOG_ENCRYPTION=off: plain stored state, for tests only
    keys_dir: str = ""  # CARELOG_KEYS_DIR; "" = a `keys` directory beside the SQLite file
    master_key: str = field(default="", repr=False)  # CARELOG_MASTER_KEY (base64), else a file
    # The console's message log (docs/console.md): refused messages kept as RejectedMessage.
    message_log: bool = True
    message_log_retention_days: int = 0  # 0 = keep the log's index rows forever
    # Console sign-in through the external issuer (OpenID Connect, code + PKCE):
    # docs/access-control.md. "" client id = no OIDC sign-in.
    console_oidc_client_id: str = ""
    console_oidc_client_secret_file: str = ""  # "" = a public client (PKCE only)
    console_oidc_redirect_url: str = ""  # https://HOST/console/oidc/callback, as registered
    console_oidc_scopes: str = "openid carelog/operator"
    # Queues (docs/console.md): which patient classes (PV1-2) and points of care queue.
    queue_classes: frozenset[str] = frozenset({"E", "O"})
    queue_locations: tuple[str, ...] = ()  # shell patterns of PV1-3.1; () = every location
    # Health (docs/operators.md, "Health"): how long the relay's (or a worker's) broker may
    # be unreachable before /health says 503, and where `carelog worker` answers /health.
    health_relay_grace_s: float = 30.0
    worker_health: str = ""  # HOST:PORT (or PORT: 127.0.0.1); "" = no endpoint

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from ``CARELOG_*`` keys; absent keys keep their defaults.

        Raises:
            ConfigError: a key is present but its value is malformed.
        """
        s = cls()
        get = environ.get
        changes: dict[str, Any] = {}
        if v := get("CARELOG_STORE"):
            changes["store"] = v
        if v := get("CARELOG_MLLP"):
            changes["mllp_host"], changes["mllp_port"] = parse_host_port(v, "CARELOG_MLLP")
        if v := get("CARELOG_HTTP"):
            changes["http_host"], changes["http_port"] = parse_host_port(v, "CARELOG_HTTP")
        if v := get("CARELOG_KAFKA"):
            changes["kafka"] = v
        if v := get("CARELOG_KAFKA_TOPIC"):
            if not re.fullmatch(r"[A-Za-z0-9._-]{1,249}", v) or v in (".", ".."):
                raise ConfigError(f"CARELOG_KAFKA_TOPIC: not a Kafka topic name: {v!r}")
            changes["kafka_topic"] = v
        if v := get("CARELOG_KAFKA_PARTITIONS"):
            changes["kafka_partitions"] = _positive_int(v, "CARELOG_KAFKA_PARTITIONS")
        if v := get("CARELOG_KAFKA_GROUP"):
            changes["kafka_group"] = v
        if v := get("CARELOG_WORKER_HEARTBEAT"):
            changes["worker_heartbeat"] = v
        if v := get("CARELOG_LOG_FORMAT"):
            if v not in ("json", "console"):
                raise ConfigError(f"CARELOG_LOG_FORMAT: expected json or console, got {v!r}")
            changes["log_format"] = v
        if v := get("CARELOG_LOG_LEVEL"):
            changes["log_level"] = v.lower()
        if v := get("CARELOG_MAX_FRAME_BYTES"):
            changes["max_frame_bytes"] = _positive_int(v, "CARELOG_MAX_FRAME_BYTES")
        if v := get("CARELOG_FHIR_MAX_BYTES"):
            changes["fhir_max_bytes"] = _positive_int(v, "CARELOG_FHIR_MAX_BYTES")
        for key, name in (
            ("CARELOG_MAX_SEGMENT_BYTES", "max_segment_bytes"),
            ("CARELOG_MAX_FIELD_BYTES", "max_field_bytes"),
        ):
            if v := get(key):
                changes[name] = _positive_int(v, key)
        if v := get("CARELOG_IDLE_TIMEOUT"):
            changes["idle_timeout_s"] = _positive_float(v, "CARELOG_IDLE_TIMEOUT")
        if v := get("CARELOG_PROCESSING_IDS"):
            ids = frozenset(p.strip() for p in v.split(",") if p.strip())
            if not ids or not ids <= {"P", "D", "T"}:
                raise ConfigError(f"CARELOG_PROCESSING_IDS: expected some of P,D,T, got {v!r}")
            changes["processing_ids"] = ids
        if v := get("CARELOG_TIMEZONE"):
            changes["timezone"] = v
        if v := get("CARELOG_SCHEMAS"):
            changes["schemas"] = v
        if v := get("CARELOG_VALIDATION"):
            if v not in ("tolerant", "strict"):
                raise ConfigError(f"CARELOG_VALIDATION: expected tolerant or strict, got {v!r}")
            changes["validation"] = v
        if v := get("CARELOG_SEAL_KEY"):
            changes["seal_key"] = v
        if v := get("CARELOG_ENCRYPTION"):
            if v not in ("on", "off"):
                raise ConfigError(f"CARELOG_ENCRYPTION: expected on or off, got {v!r}")
            changes["encryption"] = v == "on"
        if v := get("CARELOG_KEYS_DIR"):
            changes["keys_dir"] = v
        if v := get("CARELOG_MASTER_KEY"):
            changes["master_key"] = v
        changes.update(_transport_settings(environ))
        changes.update(_auth_changes(environ))
        changes.update(_console_oidc_changes(environ))
        changes.update(_queue_changes(environ))
        changes.update(_health_changes(environ))
        settings = replace(s, **changes)
        settings.tzinfo()  # fail early on an unknown zone
        settings.eventsourcing_env()  # and on a malformed store URL
        settings.check_tls_pairs()
        return settings

    def check_tls_pairs(self) -> None:
        """A certificate needs its key (and the reverse); a client CA needs TLS.

        Raises:
            ConfigError: naming the key that is missing.
        """
        for part in ("mllp", "http", "kafka"):
            cert, key = getattr(self, f"{part}_tls_cert"), getattr(self, f"{part}_tls_key")
            if bool(cert) != bool(key):
                have, missing = ("CERT", "KEY") if cert else ("KEY", "CERT")
                prefix = f"CARELOG_{part.upper()}_TLS_"
                raise ConfigError(f"{prefix}{missing}: required with {prefix}{have}")
        if self.mllp_tls_ca and not self.mllp_tls_cert:
            raise ConfigError("CARELOG_MLLP_TLS_CA: needs CARELOG_MLLP_TLS_CERT and _KEY")
        if self.mllp_senders and not self.mllp_tls_ca:
            raise ConfigError(
                "CARELOG_MLLP_SENDERS: binds client certificates: needs CARELOG_MLLP_TLS_CA"
            )
        if self.kafka_tls_cert and not self.kafka_tls_ca:
            raise ConfigError("CARELOG_KAFKA_TLS_CERT: needs CARELOG_KAFKA_TLS_CA")

    def postgres_params(self) -> dict[str, str]:
        """The query parameters of a ``postgresql://`` store URL (sslmode, ...), for libpq."""
        return postgres_url_params(self.eventsourcing_env())

    def validator_limits(self) -> dict[str, int]:
        """The validator's size limits (NativeMessageValidator keywords), in bytes.

        A message may be as long as a frame; a segment or field, by default, too:
        an ORU's OBX-5 may carry a whole PDF (ED, base64).
        """
        frame = self.max_frame_bytes
        return {
            "max_message_len": frame,
            "max_segment_len": self.max_segment_bytes or frame,
            "max_field_len": self.max_field_bytes or frame,
        }

    def tzinfo(self) -> ZoneInfo:
        """The site's time zone, applied to HL7 times sent without an offset.

        Raises:
            ConfigError: the zone name is unknown.
        """
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ConfigError(f"CARELOG_TIMEZONE: unknown time zone {self.timezone!r}") from e

    @property
    def backend(self) -> str:
        """``sqlite``, ``postgres`` or ``memory``, from the store URL's scheme."""
        scheme = self.store.split(":", 1)[0]
        return {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres"}.get(
            scheme, "memory" if scheme == "memory" else scheme
        )

    def data_dir(self) -> Path:
        """Where carelog keeps its files: the SQLite store's directory, else ``var``."""
        return self.sqlite_path().parent if self.backend == "sqlite" else Path("var")

    def issuer_key_path(self) -> Path:
        """The embedded issuer's signing key (created on first use, mode 0600)."""
        if self.auth_key_file:
            return Path(self.auth_key_file)
        return self.data_dir() / "carelog-issuer.pem"

    def sqlite_path(self) -> Path:
        """The SQLite database file of a ``sqlite:///PATH`` store (relative to the cwd)."""
        return Path(self.store[len("sqlite:///") :])

    def key_path(self) -> Path:
        """Where the master key, keyring and seal key live: apart from the store's file."""
        if self.keys_dir:
            return Path(self.keys_dir)
        if self.store.startswith("sqlite:///"):
            return self.sqlite_path().parent / "keys"
        return Path("var/keys")

    def eventsourcing_env(self) -> dict[str, str]:
        """The eventsourcing library's own keys for this store, and the at-rest encryption's.

        ``PERSISTENCE_MODULE`` is always set: the library's default keeps
        everything in memory and would lose it on restart.

        Raises:
            ConfigError: CARELOG_STORE is not a URL carelog understands.
        """
        env = self._store_env()
        if self.encryption and env["PERSISTENCE_MODULE"] != "eventsourcing.popo":
            # engine.application.ingestion.AT_REST_KEY: the mapper factory, by topic
            env[AT_REST_ENV_KEY] = "adapters.crypto.mapper:at_rest"
            env["CARELOG_KEYS_DIR"] = str(self.key_path())
            if self.master_key:
                env["CARELOG_MASTER_KEY"] = self.master_key
        return env

    def _store_env(self) -> dict[str, str]:
        if self.store.startswith("sqlite:///"):
            path = self.sqlite_path()
            if not path.name:
                raise ConfigError(f"CARELOG_STORE: no file in {self.store!r}")
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        if self.store in ("memory:", "memory://"):
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        if self.store.startswith(("postgresql://", "postgres://")):
            url = urlsplit(self.store)
            if not url.path.strip("/"):
                raise ConfigError(f"CARELOG_STORE: no database name in {_redact(self.store)!r}")
            return {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": unquote(url.path.strip("/")),
                "POSTGRES_HOST": url.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(url.port or 5432),
                "POSTGRES_USER": unquote(url.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(url.password or ""),
                "POSTGRES_POOL_SIZE": "10",
                # libpq parameters of the URL (sslmode, sslrootcert, application_name,
                # ...): eventsourcing has no key for them; adapters.postgres_store
                # hands them to every connection it opens.
                POSTGRES_PARAMS_KEY: url.query,
            }
        raise ConfigError(
            f"CARELOG_STORE: expected sqlite:///PATH, postgresql://... or memory:, "
            f"got {_redact(self.store)!r}"
        )


# Owned by carelog (the pool, the row factory) or by the URL's other parts.
_RESERVED_PG_PARAMS = frozenset({"dbname", "host", "port", "user", "password", "row_factory"})


def postgres_url_params(env: Mapping[str, str]) -> dict[str, str]:
    """The libpq parameters of the store URL's query (``sslmode``, ``sslrootcert``,
    ``application_name``, ``target_session_attrs``...), as ``eventsourcing_env`` carries
    them; every PostgreSQL connection carelog opens passes them on."""
    query = env.get(POSTGRES_PARAMS_KEY) or ""
    return {
        k: v for k, v in parse_qsl(query, keep_blank_values=True) if k not in _RESERVED_PG_PARAMS
    }


def _transport_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The TLS, opt-in and abuse-limit keys (docs/tls.md); files are checked at serve time."""
    get = environ.get
    changes: dict[str, Any] = {}
    files = {
        "CARELOG_MLLP_TLS_CERT": "mllp_tls_cert",
        "CARELOG_MLLP_TLS_KEY": "mllp_tls_key",
        "CARELOG_MLLP_TLS_CA": "mllp_tls_ca",
        "CARELOG_MLLP_SENDERS": "mllp_senders",
        "CARELOG_HTTP_TLS_CERT": "http_tls_cert",
        "CARELOG_HTTP_TLS_KEY": "http_tls_key",
        "CARELOG_KAFKA_TLS_CA": "kafka_tls_ca",
        "CARELOG_KAFKA_TLS_CERT": "kafka_tls_cert",
        "CARELOG_KAFKA_TLS_KEY": "kafka_tls_key",
    }
    for key, name in files.items():
        if v := get(key):
            changes[name] = v
    for key, name in (
        ("CARELOG_MLLP_ALLOW_PLAINTEXT", "mllp_allow_plaintext"),
        ("CARELOG_HTTP_ALLOW_PLAINTEXT", "http_allow_plaintext"),
        ("CARELOG_MESSAGE_LOG", "message_log"),
    ):
        if v := get(key):
            if v.lower() not in (*_TRUE, "0", "false", "no", "off"):
                raise ConfigError(f"{key}: expected true or false, got {v!r}")
            changes[name] = v.lower() in _TRUE
    if v := get("CARELOG_MESSAGE_LOG_RETENTION_DAYS"):
        changes["message_log_retention_days"] = _positive_int(
            v, "CARELOG_MESSAGE_LOG_RETENTION_DAYS"
        )
    if v := get("CARELOG_MLLP_MAX_CONNECTIONS_PER_PEER"):
        changes["mllp_max_connections_per_peer"] = _positive_int(
            v, "CARELOG_MLLP_MAX_CONNECTIONS_PER_PEER"
        )
    if v := get("CARELOG_TLS_HANDSHAKE_TIMEOUT"):
        changes["tls_handshake_timeout_s"] = _positive_float(v, "CARELOG_TLS_HANDSHAKE_TIMEOUT")
    if v := get("CARELOG_HTTP_RATE_LIMIT"):
        if not _RATE.fullmatch(v.strip().lower()):
            raise ConfigError(
                f"CARELOG_HTTP_RATE_LIMIT: expected N/second|minute|hour|day or off, got {v!r}"
            )
        changes["http_rate_limit"] = v.strip().lower()
    return changes


def _queue_changes(environ: Mapping[str, str]) -> dict[str, Any]:
    """``CARELOG_QUEUE_CLASSES`` (PV1-2 codes, ``*`` any, ``-`` none sent) and
    ``CARELOG_QUEUE_LOCATIONS`` (comma-separated shell patterns of PV1-3.1)."""
    changes: dict[str, Any] = {}
    if (v := environ.get("CARELOG_QUEUE_CLASSES")) is not None:
        codes = frozenset(c.strip().upper() for c in v.split(",") if c.strip())
        if not codes or not all(re.fullmatch(r"[A-Z0-9]{1,5}|\*|-", c) for c in codes):
            raise ConfigError(
                f"CARELOG_QUEUE_CLASSES: expected patient class codes like E,O (or *), got {v!r}"
            )
        changes["queue_classes"] = codes
    if v := environ.get("CARELOG_QUEUE_LOCATIONS"):
        patterns = tuple(p.strip() for p in v.split(",") if p.strip())
        if not patterns or any(ch < " " for p in patterns for ch in p):
            raise ConfigError(
                f"CARELOG_QUEUE_LOCATIONS: expected patterns like ED*,CLINIC-?, got {v!r}"
            )
        changes["queue_locations"] = patterns
    return changes


def _health_changes(environ: Mapping[str, str]) -> dict[str, Any]:
    """The health keys: the broker grace and the worker's health endpoint."""
    changes: dict[str, Any] = {}
    if v := environ.get("CARELOG_HEALTH_RELAY_GRACE"):
        changes["health_relay_grace_s"] = _positive_float(v, "CARELOG_HEALTH_RELAY_GRACE")
    if v := environ.get("CARELOG_WORKER_HEALTH"):
        changes["worker_health"] = worker_health_address(v, "CARELOG_WORKER_HEALTH")
    return changes


def worker_health_address(value: str, key: str) -> str:
    """``HOST:PORT`` of the worker's health endpoint; a bare port listens on 127.0.0.1.

    Raises:
        ConfigError: not a port or a HOST:PORT.
    """
    value = value.strip()
    if value.isdigit():
        value = f"127.0.0.1:{value}"
    host, port = parse_host_port(value, key)
    return f"{host}:{port}"


def _auth_changes(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``CARELOG_AUTH_*`` keys (and the access log's flush interval)."""
    get = environ.get
    changes: dict[str, Any] = {}
    if v := get("CARELOG_AUTH_ISSUER"):
        if not v.startswith(("https://", "http://")):
            raise ConfigError(f"CARELOG_AUTH_ISSUER: expected an http(s) URL, got {v!r}")
        changes["auth_issuer"] = v.rstrip("/")
    if v := get("CARELOG_AUTH_JWKS_URL"):
        if not v.startswith(("https://", "http://")):
            raise ConfigError(f"CARELOG_AUTH_JWKS_URL: expected an http(s) URL, got {v!r}")
        changes["auth_jwks_url"] = v
    if v := get("CARELOG_AUTH_AUDIENCE"):
        changes["auth_audience"] = v
    if v := get("CARELOG_AUTH_KEY_FILE"):
        changes["auth_key_file"] = v
    if v := get("CARELOG_AUTH_EMBEDDED_ANY_ADDRESS"):
        if v not in ("0", "1"):
            raise ConfigError(f"CARELOG_AUTH_EMBEDDED_ANY_ADDRESS: expected 0 or 1, got {v!r}")
        changes["auth_embedded_any_address"] = v == "1"
    if v := get("CARELOG_AUTH_LEEWAY"):
        if not v.isdigit() or int(v) > 300:
            raise ConfigError(f"CARELOG_AUTH_LEEWAY: expected 0 to 300 seconds, got {v!r}")
        changes["auth_leeway_s"] = int(v)
    if v := get("CARELOG_AUTH_JWKS_REFRESH"):
        try:
            changes["auth_jwks_refresh_s"] = float(v)
        except ValueError:
            changes["auth_jwks_refresh_s"] = -1.0
        if not 0 <= changes["auth_jwks_refresh_s"] <= 3600:
            raise ConfigError(f"CARELOG_AUTH_JWKS_REFRESH: expected 0 to 3600 seconds, got {v!r}")
    if v := get("CARELOG_ACCESS_LOG_FLUSH"):
        changes["access_log_flush_s"] = _positive_float(v, "CARELOG_ACCESS_LOG_FLUSH")
    return changes


def _console_oidc_changes(environ: Mapping[str, str]) -> dict[str, Any]:
    """The ``CARELOG_CONSOLE_OIDC_*`` keys: the console's OpenID Connect client."""
    get = environ.get
    changes: dict[str, Any] = {}
    if v := get("CARELOG_CONSOLE_OIDC_CLIENT_ID"):
        if not get("CARELOG_AUTH_ISSUER"):
            raise ConfigError("CARELOG_CONSOLE_OIDC_CLIENT_ID: needs CARELOG_AUTH_ISSUER")
        redirect = get("CARELOG_CONSOLE_OIDC_REDIRECT_URL", "")
        if not redirect.startswith(("https://", "http://")) or not redirect.endswith(
            "/console/oidc/callback"
        ):
            raise ConfigError(
                "CARELOG_CONSOLE_OIDC_REDIRECT_URL: required with a client id, "
                f"http(s)://HOST[:PORT]/console/oidc/callback; got {redirect!r}"
            )
        changes["console_oidc_client_id"] = v
        changes["console_oidc_redirect_url"] = redirect
    if v := get("CARELOG_CONSOLE_OIDC_CLIENT_SECRET_FILE"):
        changes["console_oidc_client_secret_file"] = v
    if v := get("CARELOG_CONSOLE_OIDC_SCOPES"):
        if "openid" not in v.split():
            raise ConfigError(f"CARELOG_CONSOLE_OIDC_SCOPES: must include openid, got {v!r}")
        changes["console_oidc_scopes"] = " ".join(v.split())
    return changes


def _redact(url: str) -> str:
    """The URL without its password, fit for an error message."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def _positive_int(value: str, key: str) -> int:
    if not value.isdigit() or int(value) <= 0:
        raise ConfigError(f"{key}: expected a positive integer, got {value!r}")
    return int(value)


def _positive_float(value: str, key: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise ConfigError(f"{key}: expected a positive number of seconds, got {value!r}")
    return number

"""schemathesis against the app's own OpenAPI document, in-process: generated requests, with
and without a token, never get a 5xx, and without a token nothing but the public routes
answers anything other than 401. The budget is bounded (a few examples per operation)."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

from adapters.bootstrap import build
from adapters.http.app import create_app
from adapters.security.access_log import AccessLog, to_records
from engine.config import Settings
from tests import tokens
from tests.asgi import request
from tests.fakes import FakeMessageValidator
from tests.integration.access.conftest import MESSAGES

PUBLIC = {"/health", "/fhir/metadata", "/.well-known/smart-configuration", "/.well-known/jwks.json"}

_ENGINE = build(Settings(store="memory:"), validator=FakeMessageValidator())
for _raw in MESSAGES:
    _ENGINE.ingestion.ingest(_raw, "test")
_ENGINE.runner.catch_up()
_LOG = AccessLog(lambda entries: _ENGINE.ingestion.record_access(to_records(entries)))
APP = create_app(_ENGINE.http_views(), health=lambda: {"ready": True}, access=tokens.access(_LOG))
SCHEMA = schemathesis.openapi.from_dict(APP.openapi())
BUDGET = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _send(case: Any, headers: dict[str, str]) -> Any:
    kwargs = case.as_transport_kwargs(base_url="http://carelog.test", headers=headers)
    method = kwargs.pop("method")
    url = kwargs.pop("url")
    sent = {k: v for k, v in kwargs.items() if k in ("headers", "params", "json", "content")}
    if "data" in kwargs:
        sent["content"] = kwargs["data"]
    return request(APP, method, url.removeprefix("http://carelog.test"), auth=False, **sent)


@SCHEMA.parametrize()
@BUDGET
def test_fuzzed_requests_with_a_token_never_fail_the_server(case: Any) -> None:
    response = _send(case, tokens.FULL_ACCESS)
    assert response.status_code < 500, (case.path, response.status_code, response.text[:300])
    _LOG.flush()


@SCHEMA.parametrize()
@BUDGET
def test_fuzzed_requests_without_a_token_get_nothing_but_401(case: Any) -> None:
    response = _send(case, {})
    assert response.status_code < 500, (case.path, response.status_code)
    if case.path not in PUBLIC:
        assert response.status_code == 401, (case.path, response.status_code)
        assert response.headers["www-authenticate"].startswith("Bearer")
    _LOG.flush()

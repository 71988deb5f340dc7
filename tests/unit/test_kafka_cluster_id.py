"""The test services' Kafka cluster id: kafka-storage refuses one that starts with "-"."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path
from typing import Any

import pytest

_NETUTIL = Path(__file__).resolve().parents[2] / ".ci" / "services" / "netutil.py"


def _netutil() -> Any:
    spec = importlib.util.spec_from_file_location("netutil", _NETUTIL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_id_that_would_start_with_a_dash_is_drawn_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    netutil = _netutil()
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(netutil.uuid, "uuid4", lambda: next(draws))
    assert netutil.kafka_cluster_id() == "AQEBAQEBAQEBAQEBAQEBAQ"


def test_ids_are_22_base64url_characters_never_starting_with_a_dash() -> None:
    netutil = _netutil()
    ids = {netutil.kafka_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)

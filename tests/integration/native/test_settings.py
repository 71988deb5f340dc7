"""The validator's level and profiles come from Settings (CARELOG_VALIDATION, CARELOG_SCHEMAS)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adapters.bootstrap import build
from engine.config import Settings
from engine.errors import ConfigError
from native.profiles import DEFAULT_SCHEMAS
from tests.messages import adt

pytestmark = pytest.mark.native


def test_defaults_are_tolerant_with_the_checkout_profiles() -> None:
    settings = Settings.from_env({"CARELOG_STORE": "memory:"})
    assert (settings.validation, settings.schemas) == ("tolerant", "")
    validator = build(settings).ingestion.validator
    assert not validator.strict  # type: ignore[attr-defined]
    assert validator.profiles.source == DEFAULT_SCHEMAS  # type: ignore[attr-defined]


def test_strict_level_and_another_profile_directory(tmp_path: Path) -> None:
    # A copy of the profiles without ADT_A01: A01 is then an unsupported event (201).
    schemas = tmp_path / "hl7v2"
    shutil.copytree(DEFAULT_SCHEMAS, schemas)
    (schemas / "messages" / "ADT_A01.json").unlink()
    env = {
        "CARELOG_STORE": "memory:",
        "CARELOG_VALIDATION": "strict",
        "CARELOG_SCHEMAS": str(schemas),
    }
    engine = build(Settings.from_env(env))
    assert engine.ingestion.validator.strict  # type: ignore[attr-defined]
    outcome = engine.ingestion.ingest(adt("A01", "1"))
    assert (outcome.ack_code, [f.code for f in outcome.faults]) == ("AR", [201])


def test_bad_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="CARELOG_VALIDATION"):
        Settings.from_env({"CARELOG_VALIDATION": "lenient"})

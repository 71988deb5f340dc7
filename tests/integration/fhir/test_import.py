"""`carelog import`: Bundles and NDJSON through the write path, counts, refusals, re-runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.server import carelog_command
from tests.integration.fhir import resources as r


def carelog(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*carelog_command(), *args],
        env={**os.environ, "CARELOG_STORE": f"sqlite:///{store}", "CARELOG_LOG_LEVEL": "warning"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=store.parent,
    )


def _ndjson(path: Path, resources: list[dict[str, Any]], bad_line: str = "") -> Path:
    lines = [json.dumps(x) for x in resources]
    if bad_line:
        lines.insert(1, bad_line)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ndjson_and_bundles_load_and_load_again_unchanged(tmp_path: Path) -> None:
    store = tmp_path / "carelog.db"
    patients = _ndjson(tmp_path / "Patient.ndjson", [r.patient(f"MRN{i}") for i in range(5)])
    tx = tmp_path / "visit.json"
    tx.write_text(
        json.dumps(
            r.bundle(
                r.entry(r.encounter("V1", subject=f"Patient?identifier={r.HOSP}|MRN1")),
                r.entry(r.observation(subject=f"Patient?identifier={r.HOSP}|MRN1")),
            )
        )
    )
    first = carelog("import", str(patients), str(tx), store=store)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith("7 created, 0 updated, 0 unchanged, 0 refused")
    again = carelog("import", str(patients), str(tx), store=store)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith("0 created, 0 updated, 7 unchanged, 0 refused")
    changed = _ndjson(tmp_path / "changed.ndjson", [r.patient("MRN1", family="SMITH")])
    update = carelog("import", str(changed), store=store)
    assert update.stdout.strip().endswith("0 created, 1 updated, 0 unchanged, 0 refused")
    verify = carelog("verify", store=store)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_each_refused_resource_is_named_with_its_line_and_reason(tmp_path: Path) -> None:
    store = tmp_path / "carelog.db"
    path = _ndjson(
        tmp_path / "mixed.ndjson",
        [r.patient("MRN1"), r.patient("MRN2", birthDate="1980-99-99"), r.patient("MRN3")],
    )
    result = carelog("import", str(path), store=store)
    assert result.returncode == 1
    assert result.stdout.strip().endswith("2 created, 0 updated, 0 unchanged, 1 refused")
    assert f"refused {path}:2: 400" in result.stderr
    assert "Bundle.entry[1].resource.birthDate" in result.stderr
    collection = tmp_path / "collection.json"
    collection.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r.patient("M9")}],
            }
        )
    )
    loaded = carelog("import", str(collection), store=store)
    assert loaded.returncode == 0 and "1 created" in loaded.stdout

"""The layering rules of docs/architecture.md (imports point down only), checked on the imports."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imports_of(package: str) -> dict[str, set[str]]:
    """Module path -> every module it imports (absolute names)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(package: str, allowed: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for module, names in imports_of(package).items():
        for name in names:
            top = name.split(".")[0]
            if name.startswith(forbidden) or (
                allowed and top not in _STDLIB and not name.startswith(allowed)
            ):
                bad.append(f"{module} imports {name}")
    return sorted(bad)


_STDLIB = sys.stdlib_module_names


@pytest.mark.parametrize(
    ("package", "allowed", "forbidden"),
    [
        # eventsourcing.utils: the topic helpers eventsourcing.domain itself uses (get_topic).
        (
            "engine/domain",
            ("eventsourcing.domain", "eventsourcing.utils", "engine.domain", "engine.errors"),
            (),
        ),
        ("engine", (), ("adapters", "projections", "native", "psycopg", "sqlite3")),
        ("projections", (), ("adapters", "native")),
        ("native", ("native", "engine.ports", "engine.errors", "_cffi_backend", "cffi"), ()),
    ],
)
def test_imports_point_down_only(
    package: str, allowed: tuple[str, ...], forbidden: tuple[str, ...]
) -> None:
    assert offenders(package, allowed, forbidden) == []

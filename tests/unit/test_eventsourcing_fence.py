"""The eventsourcing fence: carelog touches the library's private names in FENCE only.

carelog pins eventsourcing exactly, and a few hot paths use what the library
does not publish (attributes and methods whose names start with ``_``, and
its own dunders such as ``__base_init__``). Each concern keeps those uses in
one module, which says why the public API was not enough; an upgrade of the
library is then ported there, and tests/contract checks the result against
the library's public paths. This test walks every module's AST and fails when
a private name of the library appears anywhere else.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import eventsourcing

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "adapters", "projections", "native")

FENCE = {
    "engine/domain/lean.py": "creating, replaying and copying aggregates",
    "projections/memory_tracking.py": "in-memory views under the POPO recorder's lock",
    "adapters/sqlite_store.py": "SQLite recorder: one executemany insert, pools of its own",
    "adapters/postgres_store.py": "PostgreSQL recorder: the insert in one pipeline",
    "projections/decoding.py": "decoding stored events without the generic object hook",
}

# Dunders every Python class or dataclass has: not the library's own.
_STANDARD_DUNDERS = (
    set(dir(object))
    | set(dir(type))
    | {
        "__post_init__",
        "__set_name__",
        "__class_getitem__",
        "__init_subclass__",
        "__dataclass_fields__",
        "__get__",
        "__set__",
        "__call__",
        "__enter__",
        "__exit__",
        "__iter__",
        "__next__",
        "__len__",
        "__getitem__",
        "__contains__",
        "__all__",
        "__version__",
        "__slots__",
        "__dict__",
        "__annotations__",
        "__wrapped__",
    }
)


def _is_private(name: str) -> bool:
    if name.startswith("__") and name.endswith("__"):
        return name not in _STANDARD_DUNDERS
    return name.startswith("_")


def _defined_names(tree: ast.AST) -> set[str]:
    """Functions, classes and attributes (``x.name = ...``, class-level) a module defines."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


@cache
def library_private_names() -> frozenset[str]:
    """Every private name the installed eventsourcing defines."""
    found: set[str] = set()
    for path in Path(eventsourcing.__file__).parent.rglob("*.py"):
        if "tests" in path.parts:
            continue
        found |= {n for n in _defined_names(ast.parse(path.read_text())) if _is_private(n)}
    return frozenset(found)


def _modules() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT)): ast.parse(path.read_text(), str(path))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _library_classes(tree: ast.Module) -> set[str]:
    """Names a module imports from eventsourcing."""
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("eventsourcing")
        for alias in node.names
    }


def _own_private_names(modules: dict[str, ast.Module]) -> set[str]:
    """Private names carelog defines in classes of its own (not subclasses of the library's)."""
    own: set[str] = set()
    for tree in modules.values():
        library = _library_classes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                bases |= {
                    b.value.id
                    for b in node.bases
                    if isinstance(b, ast.Attribute) and isinstance(b.value, ast.Name)
                }
                if bases & library:
                    continue
                own |= _defined_names(node)
    return own


def private_uses() -> dict[str, set[str]]:
    """Module -> the library's private names it uses (reads, writes, overrides, imports)."""
    modules = _modules()
    library_names = library_private_names()
    suspect = library_names - _own_private_names(modules)
    uses: dict[str, set[str]] = {}
    for module, tree in modules.items():
        library = _library_classes(tree)
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in suspect:
                found.add(node.attr)
            elif isinstance(node, ast.Constant) and node.value in suspect:
                found.add(str(node.value))  # getattr(obj, "_name"), "_name" in ...
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "eventsourcing"
            ):
                found |= {a.name for a in node.names if _is_private(a.name)}
            elif isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b).split(".")[0] for b in node.bases}
                if bases & library:  # a subclass of the library's: its overrides count
                    found |= {
                        n.name
                        for n in node.body
                        if isinstance(n, ast.FunctionDef) and n.name in library_names
                    }
        if found:
            uses[module] = found
    return uses


def test_private_names_of_eventsourcing_are_used_in_the_fence_only() -> None:
    outside = {m: sorted(n) for m, n in private_uses().items() if m not in FENCE}
    assert outside == {}, "move these into a fence module (see FENCE) or use the public API"


def test_the_walk_sees_the_known_uses() -> None:
    """The test above can fail: the private uses the fence exists for are found."""
    uses = private_uses()
    assert {"_id", "_version", "_pending_events"} <= uses["engine/domain/lean.py"]
    assert "_decode_obj" in uses["projections/decoding.py"]
    assert "_insert_events" in uses["adapters/sqlite_store.py"]


def test_each_fence_module_says_why_the_public_api_was_not_enough() -> None:
    for module in FENCE:
        text = (ROOT / module).read_text()
        assert "eventsourcing fence" in text.lower(), module
        assert "public API" in text, module

"""Message profiles: read ``schemas/hl7v2`` (JSON) and compile it to the blob the C code reads.

Why compile: the C validator must not parse JSON nor keep global state, so the
profiles are turned once, here, into a compact read-only table of fixed-size
records (layout in ``native/src/internal.h``) that every call receives as a
(pointer, length) pair. Version differences are resolved at compile time: for
each message and segment the versions 2.3 to 2.8.2 with the same resolved
rules share one record, so the C code only compares a version number.

``tests/reference_validator.py`` reads the same JSON independently, so a
compiler bug shows up as a disagreement in the equivalence tests.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

__all__ = [
    "DEFAULT_SCHEMAS",
    "VERSIONS",
    "CompiledProfiles",
    "compile_profiles",
    "resolve",
    "version_code",
    "write_blob",
]


def _default_schemas() -> Path:
    """The profiles shipped with carelog: inside the installed package, else the checkout's.

    A wheel carries a copy of ``schemas/hl7v2`` as ``native/schemas/hl7v2`` (setup.py
    copies it at build time), because an installed package has no checkout beside it;
    a checkout or an editable install reads the top-level ``schemas/hl7v2`` itself.
    """
    here = Path(__file__).resolve().parent
    packaged = here / "schemas" / "hl7v2"
    return packaged if packaged.is_dir() else here.parent / "schemas" / "hl7v2"


#: Where the profiles live (data only, see schemas/README.md); CARELOG_SCHEMAS overrides it.
DEFAULT_SCHEMAS = _default_schemas()

VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2")

_FORMAT = 2
_GROUP = 1
_DOMAIN = 2  # a segment the domain reads: it must be placed unambiguously
_TYPES = {
    "": 0, "DT": 1, "DTM": 2, "TM": 3, "NM": 4, "SI": 5, "ID": 6, "IS": 7, "VARIES": 8,
    "CP": 9, "MO": 10, "CQ": 11, "SN": 12,
}  # fmt: skip
_NO_TABLE = 0xFFFF
_MAX_FIELD = 63  # CARELOG_I_CAPTURED - 1


def version_code(version: str) -> int:
    """``"2.5.1"`` -> 251, ``"2.3"`` -> 230: the number the C code compares."""
    parts = [int(p) for p in version.split(".")] + [0, 0]
    return parts[0] * 100 + parts[1] * 10 + parts[2]


def resolve(value: Any, version: str) -> Any:
    """A per-version value: ``{"2.3": a, "2.7": b}`` is a before 2.7 and b from 2.7; else value."""
    if not isinstance(value, dict):
        return value
    code = version_code(version)
    chosen = None
    for since, v in sorted(value.items(), key=lambda kv: version_code(kv[0])):
        if version_code(since) <= code:
            chosen = v
    return chosen


def _applies(obj: dict[str, Any], version: str) -> bool:
    code = version_code(version)
    since = version_code(obj.get("since", "2.3"))
    until = version_code(obj.get("until", "2.8.2"))
    return since <= code <= until


def _element(item: str | dict[str, Any]) -> dict[str, Any]:
    """``"PID"``, ``"[PD1]"``, ``"{NK1}"``, ``"[{ROL}]"`` or an object, as an object."""
    if isinstance(item, dict):
        return item
    optional = item.startswith("[")
    core = item.strip("[]")
    repeating = core.startswith("{")
    return {
        "segment": core.strip("{}"),
        "min": 0 if optional else 1,
        "max": "*" if repeating else 1,
    }


def _tree(items: list[Any], version: str, domain: frozenset[str]) -> tuple[Any, ...]:
    """The structure at one version: (id, flags, min, max, children) tuples.

    flags: _GROUP for a group, _DOMAIN for a leaf the message's ``domain`` list
    (plus MSH) names: the tolerant level needs only those in their place.
    """
    nodes = []
    for raw in items:
        e = _element(raw)
        if not _applies(e, version):
            continue
        low = int(e.get("min", 1))
        high = 0 if e.get("max", 1) == "*" else int(e["max"])
        if "group" in e:
            children = _tree(e["segments"], version, domain)
            nodes.append((_representative(children), _GROUP, low, high, children))
        else:
            flags = _DOMAIN if e["segment"] in domain else 0
            nodes.append((e["segment"], flags, low, high, ()))
    return tuple(nodes)


def _representative(children: tuple[Any, ...]) -> str:
    """How a missing group is named: its first required segment, else its first one."""
    for seg, flags, low, _high, sub in children:
        if low > 0:
            return _representative(sub) if flags & _GROUP else seg
    seg, flags, _low, _high, sub = children[0]
    return _representative(sub) if flags & _GROUP else seg


def leads(node: tuple[Any, ...]) -> list[str]:
    """The segments a node can start with (a group's first set)."""
    seg, flags, _low, _high, children = node
    if not flags & _GROUP:
        return [seg]
    out: list[str] = []
    for child in children:
        for s in leads(child):
            if s not in out:
                out.append(s)
        if child[2] > 0:
            break
    return out


def _alphabet(nodes: tuple[Any, ...], out: list[str]) -> list[str]:
    for seg, flags, _low, _high, children in nodes:
        if flags & _GROUP:
            _alphabet(children, out)
        elif seg not in out:
            out.append(seg)
    return out


def _ranges(values: list[Any]) -> list[tuple[int, int, Any]]:
    """Consecutive versions with equal values, as (since code, until code, value)."""
    out: list[tuple[int, int, Any]] = []
    for version, value in zip(VERSIONS, values, strict=True):
        code = version_code(version)
        if out and out[-1][2] == value:
            out[-1] = (out[-1][0], code, value)
        else:
            out.append((code, code, value))
    return out


@dataclass(frozen=True)
class CompiledProfiles:
    """The blob for the C validator plus what the wrapper needs for fault texts."""

    blob: bytes
    tables: dict[int, str]  # HL7 table number -> name
    source: Path


def _id3(text: str, where: str) -> bytes:
    raw = text.encode("ascii")
    if len(raw) != 3:
        raise ConfigError(f"{where}: {text!r} is not a three-character id")
    return raw


def write_blob(path: str, directory: Path = DEFAULT_SCHEMAS) -> None:
    """Write the compiled blob to path: the input of the C tests and the fuzzer."""
    Path(path).write_bytes(compile_profiles(directory).blob)


def compile_profiles(directory: Path = DEFAULT_SCHEMAS) -> CompiledProfiles:
    """Read ``messages/*.json``, ``segments.json`` and ``tables.json`` under directory.

    Raises:
        ConfigError: a file is missing or malformed (the message names it).
    """
    try:
        tables_doc = json.loads((directory / "tables.json").read_text("utf-8"))
        segments_doc = json.loads((directory / "segments.json").read_text("utf-8"))
        message_docs = [
            (p, json.loads(p.read_text("utf-8")))
            for p in sorted((directory / "messages").glob("*.json"))
        ]
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read the message profiles under {directory}: {e}") from e
    if not message_docs:
        raise ConfigError(f"no message profiles under {directory / 'messages'}")

    table_names = sorted(k for k in tables_doc if not k.startswith("_"))
    table_index = {name: i for i, name in enumerate(table_names)}
    tables = b""
    values = b""
    n_values = 0
    for name in table_names:
        entries = tables_doc[name]["values"]
        tables += struct.pack("<HHH", int(name), n_values, len(entries))
        for v in entries:
            raw = v.encode("ascii")
            if not 1 <= len(raw) <= 7:
                raise ConfigError(f"tables.json: value {v!r} of table {name} is not 1-7 bytes")
            values += struct.pack("<B7s", len(raw), raw)
            n_values += 1

    nodes: list[bytes] = []
    ids: list[bytes] = []
    msgs = b""
    n_msgs = 0
    trees: dict[tuple[Any, ...], tuple[int, int, int, int]] = {}

    def emit_ids(names: list[str]) -> tuple[int, int]:
        first = len(ids)
        ids.extend(_id3(n, "messages") for n in names)
        return first, len(names)

    def emit_tree(tree: tuple[Any, ...]) -> tuple[int, int]:
        # Siblings are contiguous; children come after their parent (C checks it).
        first = len(nodes)
        nodes.extend(b"" for _ in tree)
        for k, node in enumerate(tree):
            seg, flags, low, high, children = node
            group = flags & _GROUP
            child_first, child_count = emit_tree(children) if group else (0, 0)
            lead_first, lead_count = emit_ids(leads(node)) if group else (0, 0)
            nodes[first + k] = struct.pack(
                "<3sBBBHHHH",
                _id3(seg, "messages"),
                flags,
                min(low, 255),
                min(high, 255),
                child_first,
                child_count,
                lead_first,
                lead_count,
            )
        return first, len(tree)

    for path, doc in message_docs:
        domain = frozenset(["MSH", *doc.get("domain", [])])
        per_version = [_tree(doc["segments"], v, domain) for v in VERSIONS]
        for since, until, tree in _ranges(per_version):
            if tree not in trees:
                root_first, root_count = emit_tree(tree)
                alpha_first, alpha_count = emit_ids(_alphabet(tree, []))
                trees[tree] = (root_first, root_count, alpha_first, alpha_count)
            root_first, root_count, alpha_first, alpha_count = trees[tree]
            for trigger in doc["triggers"]:
                msgs += struct.pack(
                    "<3s3sHHHHHH",
                    _id3(doc["message_type"], path.name),
                    _id3(trigger, path.name),
                    since,
                    until,
                    root_first,
                    root_count,
                    alpha_first,
                    alpha_count,
                )
                n_msgs += 1

    segdefs = b""
    rules = b""
    n_segdefs = n_rules = 0
    for seg in sorted(k for k in segments_doc if not k.startswith("_")):
        spec = segments_doc[seg]
        per_version = []
        for v in VERSIONS:
            resolved = []
            for r in spec.get("fields", []):
                if not _applies(r, v):
                    continue
                field = int(r["field"])
                if not 1 <= field <= _MAX_FIELD:
                    raise ConfigError(f"segments.json: {seg}-{field} is outside 1-{_MAX_FIELD}")
                table = r.get("table")
                kind = r.get("type", "")
                if kind not in _TYPES or ((kind in ("ID", "IS")) != (table is not None)):
                    raise ConfigError(f"segments.json: {seg}-{field} type {kind!r} / table")
                resolved.append(
                    (
                        field,
                        int(r.get("component", 0)),
                        1 if resolve(r.get("required", False), v) else 0,
                        _TYPES[kind],
                        int(r.get("by_field", 0)),
                        _NO_TABLE if table is None else table_index[table],
                        int(resolve(r.get("max_length", 0), v) or 0),
                    )
                )
            resolved.sort(key=lambda t: t[0])  # stable: JSON order within a field
            per_version.append((int(resolve(spec.get("max_fields", 0), v) or 0), tuple(resolved)))
        for since, until, (max_fields, resolved) in _ranges(per_version):
            segdefs += struct.pack(
                "<3sxHHHHH",
                _id3(seg, "segments.json"),
                since,
                until,
                max_fields,
                n_rules,
                len(resolved),
            )
            n_segdefs += 1
            for rule in resolved:
                rules += struct.pack("<HBBBBHH", *rule)
                n_rules += 1

    body = msgs + b"".join(nodes) + b"".join(ids) + segdefs + rules + tables + values
    counts = (n_msgs, len(nodes), len(ids), n_segdefs, n_rules, len(table_names), n_values)
    if max(counts) > 0xFFFF:
        raise ConfigError("the message profiles are too large for the blob format")
    total = 32 + len(body)
    header = struct.pack("<4sH7HI8x", b"CLPF", _FORMAT, *counts, total)
    names = {int(n): tables_doc[n]["name"] for n in table_names}
    return CompiledProfiles(header + body, names, directory)

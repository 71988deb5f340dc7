"""Whether an OBX-6 unit is a UCUM (case-sensitive) code, so a Quantity can carry it as such.

FHIR wants ``system: http://unitsofmeasure.org`` and ``code`` on a Quantity
whose unit is UCUM; carelog keeps only OBX-6's text, so it parses the text:
UCUM's syntax (terms joined by ``.`` and ``/``, exponents, ``10*n`` and
``10^n`` factors, ``{annotations}``, parentheses) over the atoms clinical
feeds use, each with the metric prefixes UCUM allows on metric atoms. An
atom outside this table gives no code (the unit stays text only): claiming
UCUM for a unit that is not would be worse than leaving the code out.
"""

from __future__ import annotations

import re

__all__ = ["UCUM_SYSTEM", "is_ucum"]

UCUM_SYSTEM = "http://unitsofmeasure.org"

_PREFIXES = ("Y", "Z", "E", "P", "T", "G", "M", "k", "h", "da", "d", "c", "m", "u", "n", "p",
             "f", "a", "z", "y")  # fmt: skip
_METRIC = {"m", "g", "s", "L", "l", "mol", "K", "Cel", "Pa", "Hz", "N", "J", "W", "V", "A",
           "eq", "U", "kat", "cal", "bar", "osm", "Gy", "Sv", "Bq", "Ci", "[IU]", "[iU]",
           "m[Hg]", "m[H2O]", "B", "dB"}  # fmt: skip
_PLAIN = {"%", "min", "h", "d", "wk", "mo", "a", "[degF]", "[in_i]", "[ft_i]", "[lb_av]",
          "[oz_av]", "[pH]", "[ppm]", "[ppb]", "[HPF]", "[LPF]", "[drp]", "[arb'U]",
          "deg", "1"}  # fmt: skip
_ATOM = re.compile(r"(\[[^\]]+\]|[A-Za-z%]+(?:\[[^\]]+\])?)(-?\d+)?$")
_FACTOR = re.compile(r"10[*^]-?\d+$|\d+$")


def _atom(text: str) -> bool:
    m = _ATOM.match(text)
    if m is None:
        return False
    atom = m.group(1)
    if atom in _PLAIN or atom in _METRIC:
        return True
    return any(atom.startswith(p) and atom[len(p) :] in _METRIC for p in _PREFIXES)


def _term(text: str) -> bool:
    """One UCUM term: components joined by ``.`` and ``/`` (a leading ``/`` allowed)."""
    text = re.sub(r"(?<![^./(])\{[^{}]*\}", "1", text)  # a standalone annotation is 1
    text = re.sub(r"\{[^{}]*\}", "", text)  # one after an atom only annotates it
    if not text:
        return False
    while "(" in text:  # innermost group first
        inner = re.search(r"\(([^()]*)\)", text)
        if inner is None or not _term(inner.group(1)):
            return False
        text = text[: inner.start()] + "1" + text[inner.end() :]
    parts = re.split(r"[./]", text.removeprefix("/"))
    return all(p and (_FACTOR.match(p) is not None or _atom(p)) for p in parts)


def is_ucum(unit: str) -> bool:
    """Whether ``unit`` reads as a case-sensitive UCUM expression over known atoms."""
    unit = unit.strip()
    return bool(unit) and " " not in unit and _term(unit)

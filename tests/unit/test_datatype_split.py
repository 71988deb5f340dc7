"""The one-split readers (CX, XPN, PL, CWE) read what component_of reads, value by value.

They split a field once and pick components from the parts; component_of
splits again for each value. Any text made of delimiters, escapes and letters
must give the same values both ways, in the default and in odd delimiters.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.domain.values import Coded, Identifier, Location, PersonName
from engine.hl7.datatypes import read_cwe, read_cx, read_pl, read_xpn
from engine.hl7.message import Separators, component_of, parse_message

ODD = Separators("#", "$", "*", "!", "@")
SEPARATORS = st.sampled_from([Separators(), ODD])


def _texts(seps: Separators) -> st.SearchStrategy[str]:
    alphabet = [seps.component, seps.repetition, seps.subcomponent, seps.escape, "A", "1", "F"]
    return st.text(alphabet=st.sampled_from(alphabet), max_size=14)


@st.composite
def fields(draw: st.DrawFn) -> tuple[str, Separators]:
    seps = draw(SEPARATORS)
    return draw(_texts(seps)), seps


@settings(max_examples=400, deadline=None)
@given(fields())
def test_one_split_readers_agree_with_component_of(case: tuple[str, Separators]) -> None:
    text, seps = case
    read_cx.cache_clear()

    def c(component: int, subcomponent: int = 1) -> str:
        return component_of(text, seps, component, subcomponent)

    assert read_cx(text, seps) == Identifier(c(1), c(4, 1), c(5), c(4, 2), c(4, 3))
    assert read_xpn(text, seps) == PersonName(c(1, 1), c(2), c(3), c(4), c(5), c(7))
    assert read_pl(text, seps) == Location(c(1), c(2), c(3), c(4, 1))
    assert read_cwe(text, seps) == Coded(c(1), c(2), c(3))


def test_a_realistic_identifier_and_name() -> None:
    seps = Separators()
    cx = read_cx("100001^^^GENHOSP&1.2.3&ISO^MR~900^^^SSA^SS", seps)
    assert cx == Identifier("100001", "GENHOSP", "MR", "1.2.3", "ISO")
    name = read_xpn("O\\T\\BRIEN&VAN^PAT^Q^JR^DR^^L", seps)
    assert name == PersonName("O&BRIEN", "PAT", "Q", "JR", "DR", "L")


@settings(max_examples=300, deadline=None)
@given(fields(), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2))
def test_get_reads_what_component_of_reads(
    case: tuple[str, Separators], component: int, subcomponent: int, repetition: int
) -> None:
    """Message.get's shortcut for plain values gives component_of's answer for any text."""
    text, seps = case
    if seps.field in text:
        return
    f = seps.field
    raw = f"MSH{f}{seps.encoding_characters}{f}A{f}B\rZZZ{f}{text}{f}x\r"
    msg = parse_message(raw)
    assert msg.get("ZZZ", 1) == component_of(text, seps)
    expected = component_of(text, seps, component, subcomponent, repetition)
    assert msg.get("ZZZ", 1, component, subcomponent, repetition) == expected
    assert msg.get("ZZZ", 1, occurrence=2) == ""
    assert msg.get("ZZZ", 9) == ""

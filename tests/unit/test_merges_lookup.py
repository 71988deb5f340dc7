"""Which patient ids a per-patient query covers once patients have been merged."""

from __future__ import annotations

from projections.merges import merged_group, survivor_of


def test_chains_of_merges_resolve_to_the_last_survivor() -> None:
    merges = {"a": "b", "b": "c", "x": "c", "q": "r"}
    assert survivor_of("a", merges) == "c"
    assert survivor_of("c", merges) == "c"
    assert survivor_of("unknown", merges) == "unknown"
    assert merged_group("c", merges) == {"a", "b", "c", "x"}
    assert merged_group("a", merges) == merged_group("c", merges)
    assert merged_group("q", merges) == {"q", "r"}
    assert merged_group("alone", {}) == {"alone"}


def test_a_cycle_does_not_hang() -> None:
    merges = {"a": "b", "b": "a"}
    assert survivor_of("a", merges) in {"a", "b"}
    assert "a" in merged_group("a", merges)

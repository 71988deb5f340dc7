"""`make bench`'s report: medians with their spread, ratios per round, the machine."""

from __future__ import annotations

from bench.report import PARTS, _ratio, machine, render, replace_section, spread


def test_spread_is_the_median_with_min_and_max() -> None:
    assert spread([3.0, 1.0, 2.0]) == "2 (1-3)"
    assert spread([1200.0, 1000.0, 5000.0, 1100.0]) == "1,150 (1,000-5,000)"
    assert spread([2.5], "{:.1f}") == "2.5"


def test_ratios_are_taken_round_by_round() -> None:
    # Round 1: 100 vs 50 (2x); round 2: 300 vs 100 (3x); round 3: 100 vs 100 (1x).
    assert _ratio([100.0, 300.0, 100.0], [50.0, 100.0, 100.0]) == "2.00x"


def test_the_report_names_the_machine_and_every_part() -> None:
    facts = machine()
    assert {"CPU", "cores", "memory", "Python", "libraries"} <= set(facts)
    assert "eventsourcing" in facts["libraries"]
    sections = [[f"rows of {title}"] for title, _part in PARTS]
    text = render("make bench", facts, ("1.00 / 1.00 / 1.00", "2.00 / 1.50 / 1.00"), sections)
    assert text.startswith("# Benchmarks\n")
    assert "| load average at the end | 2.00 / 1.50 / 1.00 |" in text
    for title, _part in PARTS:
        assert f"## {title}\n\nrows of {title}\n" in text


def test_one_part_replaces_only_its_own_section() -> None:
    text = "# Benchmarks\n\n## A\n\nold a\n\n## B\n\nold b\n\n## C\n\nold c\n"
    out = replace_section(text, "B", ["new b", "", "more"])
    assert out == "# Benchmarks\n\n## A\n\nold a\n\n## B\n\nnew b\n\nmore\n\n## C\n\nold c\n"
    last = replace_section(text, "C", ["new c"])
    assert last.endswith("## B\n\nold b\n\n## C\n\nnew c\n")
    added = replace_section(text, "D", ["d"])
    assert added.startswith(text.rstrip("\n")) and added.endswith("\n\n## D\n\nd\n")

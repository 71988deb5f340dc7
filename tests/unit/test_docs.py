"""The user docs hold together: links resolve, commands shown in README exist, settings match.

README.md and docs/*.md (and tests/README.md) are read as a user reads them:
every relative link must name a file of the repository and, with ``#anchor``,
a heading of that file (GitHub's anchors); every ``make`` target shown must be a
target of the Makefile; every ``carelog`` command line shown must parse with
carelog's own parser; every URL path shown must be a route of the HTTP app.
The settings carelog reads (engine/config.py) and the configuration table of
docs/operators.md must name the same keys.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from adapters.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, ROOT / "tests" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```.*?^```", re.M | re.S)
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code (links there are not links)."""
    return re.sub(r"`[^`\n]*`", "", _FENCE.sub("", text))


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    found = set()
    for line in _FENCE.sub("", path.read_text()).splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if heading:
            text = heading.group(1).strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return found


def links(path: Path) -> list[str]:
    return [
        target
        for target in _LINK.findall(_prose(path.read_text()))
        if not urlsplit(target).scheme  # http(s), mailto: not ours to check
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        file_part, _, anchor = target.partition("#")
        resolved = (page.parent / file_part).resolve() if file_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (resolved.suffix != ".md" or anchor not in anchors(resolved)):
            broken.append(f"{target}: no heading #{anchor}")
    assert broken == []


def test_the_link_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n[a](#title) [b](#nothing) [c](missing.md) `[d](x.md)`\n")
    assert links(page) == ["#title", "#nothing", "missing.md"]
    assert anchors(page) == {"title"}
    assert "billing-billing_v1" in anchors(ROOT / "docs" / "analysts.md")


def _shell_lines() -> list[str]:
    """Command lines of README's shell blocks, without their output or comments.

    In a block with ``$ `` prompts only the prompted lines are commands (the rest
    is what they print); in a block without, every line not indented is one.
    """
    lines = []
    for block in re.findall(r"^```sh\n(.*?)^```", README.read_text(), re.M | re.S):
        rows = block.splitlines()
        prompted = any(row.startswith("$ ") for row in rows)
        i = 0
        while i < len(rows):
            row = rows[i]
            i += 1
            if prompted and not row.startswith("$ "):
                continue
            if row.startswith(" "):
                continue
            command = row.removeprefix("$ ")
            if command.lstrip().startswith("#"):
                continue
            while True:  # a command goes on past a trailing backslash or an open quote
                if command.endswith("\\") and i < len(rows):
                    command = command[:-1] + " " + rows[i].strip()
                    i += 1
                    continue
                try:
                    words = shlex.split(command, comments=True)
                except ValueError:
                    if i == len(rows):
                        raise
                    command += "\n" + rows[i]
                    i += 1
                    continue
                break
            if words:
                lines.append(shlex.join(words))
    return lines


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, re.M))


def test_readme_shows_commands() -> None:
    programs = {shlex.split(line)[0].rsplit("/", 1)[-1] for line in _shell_lines()}
    assert {"make", "carelog", "curl", "printf"} <= programs


def test_every_make_target_in_readme_exists() -> None:
    shown = {shlex.split(line)[1] for line in _shell_lines() if line.startswith("make ")}
    shown |= set(re.findall(r"`make ([\w-]+)", README.read_text()))
    assert {"run", "test"} <= shown
    assert shown <= _makefile_targets(), sorted(shown - _makefile_targets())


def test_every_carelog_command_in_readme_parses() -> None:
    parser = _parser()
    shown = [shlex.split(line) for line in _shell_lines() if "carelog " in line]
    assert shown
    for words in shown:
        at = next(i for i, w in enumerate(words) if w.rsplit("/", 1)[-1] == "carelog")
        parser.parse_args(words[at + 1 :])  # exits (SystemExit) on anything it does not know
    inline = set(re.findall(r"`carelog ([a-z][a-z-]*)", README.read_text()))
    assert inline <= set(SUBCOMMANDS), sorted(inline - set(SUBCOMMANDS))


def _subcommands() -> list[str]:
    """carelog's subcommands, as its usage line lists them (``{serve,worker,...}``)."""
    usage = re.search(r"\{([a-z,-]+)\}", _parser().format_usage())
    assert usage is not None
    return usage.group(1).split(",")


SUBCOMMANDS = _subcommands()


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args([command, "--help"])
    assert exit_.value.code == 0 and f"carelog {command}" in capsys.readouterr().out


async def _never_called(fn: object) -> object:
    raise AssertionError("the README route test sends no request")


def test_every_url_in_readme_is_a_route() -> None:
    from adapters.bootstrap import build
    from adapters.fhir.routes import FhirWrites
    from adapters.http.access import route_table
    from adapters.http.app import create_app
    from engine.config import Settings

    engine = build(Settings(store="memory:"))
    try:
        writes = FhirWrites(engine.ingestion, _never_called, max_bytes=1)  # for its routes
        app = create_app(engine.views, health=lambda: {"ready": True}, fhir_writes=writes)
        patterns = [  # included routers flattened, as the access layer sees them
            re.compile(re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
            for path, _ in route_table(app.router)
        ]
        urls = re.findall(r"https?://127\.0\.0\.1:8080(/[^'\s\"]*)", README.read_text())
        assert urls
        for url in urls:
            path = urlsplit(url).path.replace("<id%20from%20above>", "x").replace("<id", "x")
            assert any(p.match(path) for p in patterns), url
    finally:
        engine.close()


@pytest.mark.native
def test_the_first_message_of_readme_is_valid(tmp_path: Path) -> None:
    from adapters.cli import main

    (printf,) = re.findall(r"^\$ (printf .*)$", README.read_text(), re.M)
    subprocess.run(["bash", "-c", printf], cwd=tmp_path, check=True, timeout=30)
    assert main(["validate", str(tmp_path / "a01.hl7")]) == 0


def settings_read() -> set[str]:
    """Every CARELOG_* key engine/config.py names (it reads them all, and only it does)."""
    return set(
        re.findall(r"\bCARELOG_[A-Z0-9_]*[A-Z0-9]\b", (ROOT / "engine" / "config.py").read_text())
    )


def settings_documented() -> set[str]:
    """The keys of the configuration table in docs/operators.md (first column)."""
    text = (ROOT / "docs" / "operators.md").read_text()
    section = text[text.index("## Configuration") :]
    section = section[: section.index("\n## ", 1)]
    return set(re.findall(r"^\| `(CARELOG_[A-Z0-9_]+)` \|", section, re.M))


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    read, documented = settings_read(), settings_documented()
    assert "CARELOG_LOG_LEVEL" in read and "CARELOG_STORE" in documented  # the parsers see keys
    assert read - documented == set(), "settings missing from docs/operators.md"
    assert documented - read == set(), "docs/operators.md documents settings carelog never reads"


def test_the_documented_defaults_are_the_defaults() -> None:
    from engine.config import Settings

    text = (ROOT / "docs" / "operators.md").read_text()
    rows = dict(re.findall(r"^\| `(CARELOG_[A-Z0-9_]+)` \|[^|]*\|([^|]*)\|", text, re.M))
    defaults = Settings()
    assert f"`{defaults.store}`" in rows["CARELOG_STORE"]
    assert f"`{defaults.mllp_host}:{defaults.mllp_port}`" in rows["CARELOG_MLLP"]
    assert f"`{defaults.http_host}:{defaults.http_port}`" in rows["CARELOG_HTTP"]
    assert f"`{defaults.log_level}`" in rows["CARELOG_LOG_LEVEL"]
    assert f"`{defaults.log_format}`" in rows["CARELOG_LOG_FORMAT"]
    assert f"`{defaults.timezone}`" in rows["CARELOG_TIMEZONE"]
    assert f"`{defaults.validation}`" in rows["CARELOG_VALIDATION"]
    assert f"`{defaults.max_frame_bytes}`" in rows["CARELOG_MAX_FRAME_BYTES"]
    assert f"`{defaults.idle_timeout_s:g}`" in rows["CARELOG_IDLE_TIMEOUT"]
    assert f"`{defaults.kafka_topic}`" in rows["CARELOG_KAFKA_TOPIC"]
    assert f"`{defaults.kafka_partitions}`" in rows["CARELOG_KAFKA_PARTITIONS"]
    assert f"`{defaults.kafka_group}`" in rows["CARELOG_KAFKA_GROUP"]
    assert f"`{','.join(sorted(defaults.processing_ids))}`" in rows["CARELOG_PROCESSING_IDS"]

"""The documentation's examples, run as written (as Datasette tests its documentation).

Every ``console`` block of ``README.md`` and ``docs/*.md`` is a session step: lines starting
with ``$ `` are commands (a trailing ``\\`` continues one), run by bash one document at a
time, starting in a fresh project (``scoreline init``), and the lines after a command are
its output as the reader sees it. The
output must have the same shape: each shown line appears, in order, once ids, times,
numbers, durations, tokens and absolute paths are set aside and table borders removed; ``...``
stands for lines left out. A command succeeds unless its shown output is an error or a
failed execution. Every ``python`` block of ``docs/python.md`` runs, in order, in one
interpreter in the folder that document's session made.

A block that cannot run here says why in a ``<!-- not run: ... -->`` line just above it; a
block of commands with neither is an error, so no example goes untested by oversight.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
NOT_RUN = re.compile(r"^<!-- not run: (?P<reason>.+) -->$")
FENCE = re.compile(r"^```(?P<lang>\w*)\s*$")
PWD_MARK = "__scoreline_docs_pwd__="
NORMALISE = [
    (re.compile(r"[│┃┏┓┗┛━─┡┩╇┳┻╋└┘┌┐┬┴├┤┼═╭╮╰╯]"), " "),
    (re.compile(r"(?<![\w/.])/[^\s'\",)]+"), "<PATH>"),
    (re.compile(r"\bsl_[\w-]{20,}"), "<TOKEN>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<ID>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?"), "<TIME>"),
    (re.compile(r"\b\d+(\.\d+)?(ms|s)\b"), "<DURATION>"),
    (re.compile(r"-?\b\d[\d,]*(\.\d+)?(e-?\d+)?\b"), "<N>"),
    (re.compile(r"\s+"), " "),
]


@dataclass
class Block:
    document: Path
    line: int
    lang: str
    text: str
    not_run: str | None


@dataclass
class Command:
    line: int
    text: str
    shown: list[str] = field(default_factory=list)


def blocks(document: Path) -> list[Block]:
    found: list[Block] = []
    lines = document.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        start = index
        index += 1
        while index < len(lines) and lines[index] != "```":
            index += 1
        marker = NOT_RUN.match(lines[start - 1]) if start else None
        found.append(
            Block(
                document,
                start + 1,
                fence["lang"],
                "\n".join(lines[start + 1 : index]),
                marker["reason"] if marker else None,
            )
        )
        index += 1
    return found


def commands(block: Block) -> list[Command]:
    found: list[Command] = []
    continued = False
    for offset, line in enumerate(block.text.splitlines(), start=block.line + 1):
        if continued:
            found[-1].text += "\n" + line
        elif line.startswith("$ "):
            found.append(Command(offset, line[2:]))
        elif found:
            found[-1].shown.append(line)
        continued = line.endswith("\\")
    return found


def normalise(line: str) -> str:
    for pattern, replacement in NORMALISE:
        line = pattern.sub(replacement, line)
    return line.strip()


def same_shape(shown: list[str], output: str) -> str | None:
    """None when every shown line appears in the output in order, else what is missing."""
    actual = [normalise(line) for line in output.splitlines()]
    position = 0
    for line in shown:
        wanted = normalise(line)
        if not wanted or wanted == "...":
            continue
        while position < len(actual) and wanted not in actual[position]:
            position += 1
        if position == len(actual):
            return line
        position += 1
    return None


def expected_exit(command: Command) -> int | None:
    """The exit status a command must have: the one its comment names (``# exit 2``), any
    but 0 when its shown output is an error or a failed execution (None), else 0."""
    named = re.search(r"# exit (\d+)", command.text)
    if named:
        return int(named[1])
    failed = any(
        line.startswith("error:") or re.search(r": Failed\b", line) for line in command.shown
    )
    return None if failed else 0


class Session:
    """Commands of one document, run by bash one after another in a fresh folder."""

    def __init__(self, folder: Path) -> None:
        self.cwd = folder
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            key: value for key, value in os.environ.items() if not key.startswith("SCORELINE_")
        }
        self.env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", COLUMNS="250", NO_COLOR="1")
        self.run(Command(0, "scoreline init project && cd project"), "a fresh project")

    def run(self, command: Command, where: str) -> None:
        script = f'{command.text}\n__rc=$?\nprintf "\\n{PWD_MARK}%s\\n" "$PWD"\nexit $__rc\n'
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        output, _, pwd = result.stdout.rpartition(f"\n{PWD_MARK}")
        if pwd.strip():
            self.cwd = Path(pwd.strip())
        output += result.stderr
        assert "Traceback" not in output, f"{where}: {command.text}\n{output}"
        wanted = expected_exit(command)
        if wanted is None:
            assert result.returncode != 0, f"{where}: {command.text} was to fail\n{output}"
        else:
            assert result.returncode == wanted, (
                f"{where}: {command.text} exited {result.returncode}, not {wanted}\n{output}"
            )
        missing = same_shape(command.shown, output)
        assert missing is None, (
            f"{where}: {command.text}\nthe documentation shows\n  {missing}\n"
            f"which the output does not have:\n{output}"
        )


def test_every_example_with_commands_runs_or_says_why_not() -> None:
    unmarked = [
        f"{b.document.relative_to(REPO)}:{b.line}"
        for document in DOCUMENTS
        for b in blocks(document)
        if b.lang not in ("console", "python")
        and b.not_run is None
        and re.search(r"^(\$ )?scoreline ", b.text, re.MULTILINE)
    ]
    assert unmarked == [], "blocks of commands that are neither console blocks nor marked"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_the_documented_commands_do_what_the_documentation_shows(
    document: Path, tmp_path: Path
) -> None:
    session = Session(tmp_path)
    steps = [b for b in blocks(document) if b.lang == "console" and b.not_run is None]
    if not steps:
        pytest.skip(f"{document.name} shows no commands")
    for block in steps:
        for command in commands(block):
            session.run(command, f"{document.relative_to(REPO)}:{command.line}")
    examples = [b for b in blocks(document) if b.lang == "python" and b.not_run is None]
    if examples:
        program = "\n\n".join(textwrap.dedent(b.text) for b in examples)
        result = subprocess.run(
            [sys.executable, "-c", program],
            cwd=session.cwd,
            env=session.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, f"{document.name}'s Python examples:\n{result.stderr}"

"""The shell blocks of README.md, as the README tests read them.

Every fenced ```bash or ```sh block is a command a reader may copy. It is run by a test unless the line just
before its fence says why not, in this exact form (the README says so in "Testing"):

    <!-- not run by tests: starts the shared stack -->

Named blocks sit between `<!-- NAME: begin -->` and `<!-- NAME: end -->` (e.g. `rest-examples`), for tests that
run one block against a stand-in backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE_RE = re.compile(r"^```(bash|sh)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
NOT_RUN_RE = re.compile(r"<!-- not run by tests: (.+?) -->\n\Z")


@dataclass(frozen=True, slots=True)
class Block:
    """One shell block: its first line number in README.md, its code, and why it is not run ("" = it is run)."""

    line: int
    code: str
    not_run: str


def shell_blocks(text: str | None = None) -> list[Block]:
    """Every bash/sh block of the README, in order."""
    text = README.read_text() if text is None else text
    blocks = []
    for match in FENCE_RE.finditer(text):
        before = text[: match.start()]
        reason = NOT_RUN_RE.search(before)
        blocks.append(Block(before.count("\n") + 1, match.group(2), reason.group(1) if reason else ""))
    return blocks


def named_block(name: str, text: str | None = None) -> str:
    """The code of the bash block between `<!-- {name}: begin -->` and `<!-- {name}: end -->`."""
    text = README.read_text() if text is None else text
    block = text.split(f"<!-- {name}: begin -->\n", 1)[1].split(f"<!-- {name}: end -->", 1)[0]
    assert block.startswith("```bash\n"), block
    assert block.rstrip().endswith("```"), block
    return block.removeprefix("```bash\n").rstrip().removesuffix("```")

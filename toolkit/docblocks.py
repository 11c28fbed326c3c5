"""`{% docs name %} ... {% enddocs %}` blocks in features/docs/**/*.md, as dbt writes them.

A description too long for a config() call lives in a docs block, and a step says
`config(description=doc("orders"), columns={"status": doc("order_status")})`. The
blocks are read once per compile (a malformed or duplicate block is an error even
if no step uses it); the text is the block's, stripped. Outside config() a doc() value is a string like a var() one:
in SQL it is a literal, never SQL text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from toolkit.config import read_text
from toolkit.errors import ProjectError

DOCS_DIR = "features/docs"
_OPEN = re.compile(r"{%-?\s*docs\s+([A-Za-z_][A-Za-z0-9_]*)\s*-?%}")
_ANY_OPEN = re.compile(r"{%-?\s*docs\b[^%]*%}")
_CLOSE = re.compile(r"{%-?\s*enddocs\s*-?%}")


@dataclass(frozen=True)
class DocBlock:
    name: str
    text: str
    file: str
    line: int


def load(root: Path) -> dict[str, DocBlock]:
    blocks: dict[str, DocBlock] = {}
    folder = root / DOCS_DIR
    for path in sorted(folder.glob("**/*.md")) if folder.is_dir() else []:
        relative = path.relative_to(root).as_posix()
        for block in parse(read_text(path, root), relative):
            if block.name in blocks:
                other = blocks[block.name]
                raise ProjectError(f"docs block '{block.name}' is defined twice (also {other.file}:{other.line})",
                                   relative, block.line, hint="give one of them another name")
            blocks[block.name] = block
    return blocks


def parse(text: str, file: str) -> list[DocBlock]:
    """The docs blocks of one file's text (import-dbt reads a dbt project's with it too)."""
    found, at = [], 0
    while (opening := _ANY_OPEN.search(text, at)) is not None:
        line = text.count("\n", 0, opening.start()) + 1
        named = _OPEN.fullmatch(opening.group(0))
        if named is None:
            raise ProjectError(f"malformed docs block '{opening.group(0)}'", file, line,
                               hint="write {% docs name %} ... {% enddocs %}, name a plain identifier")
        closing = _CLOSE.search(text, opening.end())
        nested = _ANY_OPEN.search(text, opening.end())
        if closing is None or (nested is not None and nested.start() < closing.start()):
            raise ProjectError(f"docs block '{named.group(1)}' has no {{% enddocs %}}", file, line)
        found.append(DocBlock(named.group(1), text[opening.end():closing.start()].strip(), file, line))
        at = closing.end()
    return found

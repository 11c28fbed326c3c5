"""A small TOML writer for what import-dbt emits: tables of scalars, lists and inline tables.

Values are written as TOML literals built here (strings JSON-escaped, which TOML
reads the same), never pasted from the dbt project as text.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, time
from typing import Any

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def key(name: str) -> str:
    """A TOML key: bare when it may be, else quoted."""
    return name if _BARE.match(name) else json.dumps(name)


def value(item: Any) -> str:
    """One TOML value on one line (inline tables and arrays included)."""
    if item is None:
        raise ValueError("TOML has no null")
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        return "nan" if math.isnan(item) else ("inf" if item > 0 else "-inf") if math.isinf(item) else repr(item)
    if isinstance(item, (datetime, date, time)):
        return item.isoformat()
    if isinstance(item, str):
        return json.dumps(item, ensure_ascii=False)
    if isinstance(item, dict):
        inner = ", ".join(f"{key(str(k))} = {value(v)}" for k, v in item.items() if v is not None)
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(item, (list, tuple)):
        return "[" + ", ".join(value(v) for v in item) + "]"
    return json.dumps(str(item))


def table(header: str, entries: dict[str, Any], comments: dict[str, str] | None = None) -> str:
    """`[header]` and its `key = value` lines (None values left out); a comment may follow a line."""
    lines = [f"[{header}]"] if header else []
    for name, item in entries.items():
        if item is None:
            continue
        note = (comments or {}).get(name)
        lines.append(f"{key(name)} = {value(item)}" + (f"  # {one_line(note)}" if note else ""))
    return "\n".join(lines) + "\n"


def one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

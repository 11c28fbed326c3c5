"""Compare a step's output with the expected rows; describe a mismatch row by row.

Values compare by value: integers (and DECIMALs against integers) exactly, other
numbers within math.isclose(rel_tol=REL_TOL, abs_tol=ABS_TOL), NaN equal to NaN;
a DATE equals a TIMESTAMP at its midnight; a date, time or timestamp equals its
ISO text; booleans only booleans. Rows compare as a multiset unless the order
matters.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

REL_TOL = 1e-9
ABS_TOL = 1e-12
MAX_DIFF_ROWS = 20


def diff_rows(columns: list[str], expected: list[tuple], got: list[tuple], order_matters: bool) -> str:
    """'' when `got` matches `expected` (both projected to `columns`), else a readable diff.

    >>> print(diff_rows(["id", "n"], [(1, 2), (2, 0)], [(2, 0), (1, 3)], order_matters=False))
    expected 2 rows, got 2 rows
    - expected, missing from the output (1); + in the output, not expected (1)
         id  n
      -  1   2
      +  1   3
    """
    unmatched = list(range(len(got)))
    lost = []
    for row in expected:
        match = next((i for i in unmatched if same_row(row, got[i])), None)
        if match is None:
            lost.append(row)
        else:
            unmatched.remove(match)
    extra = [got[i] for i in unmatched]
    first = next((i for i, (e, g) in enumerate(zip(expected, got)) if not same_row(e, g)), None)
    if not lost and not extra and not (order_matters and first is not None):
        return ""
    lines = [f"expected {_count(len(expected))}, got {_count(len(got))}"]
    if lost or extra:
        lines.append(f"- expected, missing from the output ({len(lost)}); + in the output, not expected ({len(extra)})")
        lines.extend(_table(columns, [("-", r) for r in lost[:MAX_DIFF_ROWS]] + [("+", r) for r in extra[:MAX_DIFF_ROWS]]))
        if max(len(lost), len(extra)) > MAX_DIFF_ROWS:
            lines.append(f"  ... (the first {MAX_DIFF_ROWS} of each shown)")
    if order_matters and first is not None:
        lines.append(f"order matters: first difference at row {first + 1}")
        lines.extend(_table(columns, [("expected", expected[first]), ("got", got[first])]))
    return "\n".join(lines)


def same_row(expected: tuple, got: tuple) -> bool:
    return all(same(e, g) for e, g in zip(expected, got))


def same(expected: Any, got: Any) -> bool:
    """Whether an expected TOML value equals a value DuckDB returned (see the module docstring)."""
    if expected is None or got is None:
        return expected is None and got is None
    if isinstance(expected, bool) or isinstance(got, bool):
        return isinstance(expected, bool) and isinstance(got, bool) and expected == got
    if isinstance(expected, (int, float)) and isinstance(got, (int, float, Decimal)):
        if isinstance(expected, int) and isinstance(got, (int, Decimal)):
            return got == expected
        a, b = float(expected), float(got)
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(got, (date, time)) and isinstance(expected, str):
        try:
            expected = type(got).fromisoformat(expected)
        except ValueError:
            return False
    if isinstance(got, date) and isinstance(expected, date):
        return _as_datetime(expected) == _as_datetime(got)
    if isinstance(expected, list) and isinstance(got, (list, tuple)):
        return len(expected) == len(got) and all(same(e, g) for e, g in zip(expected, got))
    if isinstance(expected, str) and not isinstance(got, (str, int, float, Decimal)):
        return str(got) == expected  # e.g. a UUID written as text
    return type(expected) is type(got) and expected == got


def _as_datetime(value: date) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time())


def _count(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _table(columns: list[str], rows: list[tuple[str, tuple]]) -> list[str]:
    cells = [["", *columns]] + [[mark, *(show(v) for v in row)] for mark, row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in cells]


def show(value: Any) -> str:
    """A value as an analyst reads it: NULL, 'text', true, 2025-01-01, 1.5."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)

"""Which incremental steps a promote gives the destination a table of that does not carry
its history: the source environment rebuilt them from scratch (its code changed, or
--full-refresh) instead of starting from the destination's rows, so rows the destination
accumulated that its sources no longer hold (a rolling window) are gone once promoted.

A run in another environment starts an incremental step whose code is prod's from prod's
table (copied on write: incremental.py); only such a table, or prod's own, keeps prod's
history. `toolkit promote` says which steps lose it (cli.promote), before it promotes.
"""

from __future__ import annotations

import re

from sqlglot import exp

from toolkit.actions import Action
from toolkit.state import Published, table

_RUN = re.compile(r"__r(\d+)$")


def history_replaced(state, source: dict[str, Published], destination: dict[str, Published]) -> list[str]:
    """The incremental steps of `source` whose table, promoted, replaces the destination's
    incremental table with one rebuilt from scratch (sorted names)."""
    found = []
    for name, row in source.items():
        theirs = destination.get(name)
        if (row.materialized != "incremental" or theirs is None or theirs.materialized != "incremental"
                or theirs.physical_name == row.physical_name):
            continue
        if _built_from_scratch(state, name, row, theirs):
            found.append(name)
    return sorted(found)


def _built_from_scratch(state, step: str, row: Published, theirs: Published) -> bool:
    """Whether the run that made `row`'s table built it (a copy on write is made by an
    update); a table of unknown origin is taken as rebuilt when its code differs."""
    made = _RUN.search(row.physical_name)
    action = _action(state, step, int(made.group(1))) if made else None
    if action is None:
        return row.definition != theirs.definition
    return action in (Action.BUILD.value, Action.REBUILD.value)


def _action(state, step: str, run_id: int) -> str | None:
    query = exp.select("action").from_(table("step_runs")).where(exp.and_(
        exp.column("run_id").eq(exp.Literal.number(run_id)), exp.column("step").eq(exp.Literal.string(step))))
    rows = state.engine.fetch_rows(query)
    return rows[0][0] if rows else None

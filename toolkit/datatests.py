"""Blocking data tests declared in config(tests={...}), built as syntax trees.

They run on the step's unpublished physical table; a failure stops the publish.
`tests={"customer_id": ["not_null", "unique"], "status": [{"accepted_values": ["a", "b"]}]}`
"""

from __future__ import annotations

from sqlglot import exp

from toolkit.errors import did_you_mean

BUILT_IN = ("not_null", "unique", "accepted_values")


def check_spec(tests: dict) -> str | None:
    """A message for the first malformed test, or None."""
    for column, specs in tests.items():
        if not isinstance(specs, list):
            return f"tests for column '{column}' must be a list, e.g. [\"not_null\"]"
        for spec in specs:
            name = next(iter(spec)) if isinstance(spec, dict) and len(spec) == 1 else spec
            if not isinstance(name, str) or name not in BUILT_IN:
                hint = did_you_mean(str(name), BUILT_IN) or f"built-in tests: {', '.join(BUILT_IN)}"
                return f"unknown test {spec!r} on column '{column}' ({hint})"
            if name == "accepted_values" and not isinstance(spec, dict):
                return "accepted_values needs its values: {\"accepted_values\": [\"a\", \"b\"]}"
    return None


def failing_rows_query(table: exp.Table, column: str, spec) -> exp.Select:
    """SELECT count(*) of rows violating one test."""
    col = exp.column(column)
    if spec == "not_null":
        return exp.select("count(*)").from_(table).where(col.is_(exp.null()))
    if spec == "unique":
        duplicates = exp.select(col).from_(table).where(col.is_(exp.null()).not_()).group_by(col).having("count(*) > 1")
        return exp.select("count(*)").from_(duplicates.subquery("duplicates"))
    values = [exp.Literal.string(v) if isinstance(v, str) else exp.convert(v) for v in spec["accepted_values"]]
    return exp.select("count(*)").from_(table).where(exp.and_(col.is_(exp.null()).not_(), col.isin(*values).not_()))


def run_tests(engine, table: exp.Table, tests: dict) -> list[str]:
    """Descriptions of failing tests; empty when all pass."""
    failures = []
    for column, specs in tests.items():
        for spec in specs:
            count = engine.fetch_rows(failing_rows_query(table, column, spec))[0][0]
            if count:
                name = spec if isinstance(spec, str) else next(iter(spec))
                failures.append(f"{name}({column}): {count} failing row{'s' if count != 1 else ''}")
    return failures

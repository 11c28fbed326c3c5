"""SQL unit tests: fixture rows in, expected rows out, on an in-memory DuckDB.

Tests live beside the steps in `features/**/*.unit.toml`:

    [[test]]
    name = "an order after the snapshot does not count"
    step = "customer_rfm"        # optional when the file is named customer_rfm.unit.toml
    order_matters = false        # the default: rows compare as a multiset
    [test.given.customer_snapshots]             # a step or seed the step reads...
    rows = [ { customer_id = 1, snapshot_date = 2025-03-01, tenure_days = 90 } ]
    [test.given."shop.orders"]                  # ...or a declared source, quoted
    rows = []                                   # every input the step reads needs rows
    [test.expect]
    rows = [ { customer_id = 1, orders_lifetime = 0 } ]

Each test builds every input of the step as a table under its canonical name (the
compiled tree already reads those names) in a fresh in-memory DuckDB, runs the
step's SQL transpiled from the project's dialect, and compares the output with
the expected rows: only the columns the expected rows name, by value (see
compare.py for the float tolerance), column names case-insensitively. A column
left out of a given or expected row is NULL. Input columns keep their declared
(sources), seeded or computed (steps) types, so a value may be written as a TOML
date, number or string and is cast to the column's type. Expected values are cast to
the type of the output column too (`order_id = 1` matches a VARCHAR '1'), except
numbers against numeric columns, which compare by value (1.5 never rounds to 2).
TOML has no null: write `{ null = true }` for a NULL (a column left out of a row is
NULL as well). A relationships test's parent needs no rows unless the SQL reads it.

    spec.py      the file format: read, check, point at the line
    fixtures.py  input tables as syntax trees; the inputs' schemas
    compare.py   value equality and the row-level diff
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass

from toolkit import sql
from toolkit.compiler import CompiledProject
from toolkit.unittests.compare import ABS_TOL, REL_TOL, diff_rows
from toolkit.unittests.fixtures import Schemas, cast_expected, connect, load_given, postgres_meanings
from toolkit.unittests.spec import UnitTest, check_columns, column_order, load_tests

__all__ = ["ABS_TOL", "REL_TOL", "UnitResult", "format_results", "run_unit_tests"]


@dataclass
class UnitResult:
    step: str
    test: str
    file: str
    line: int | None
    passed: bool
    diff: str = ""  # empty when passed
    seconds: float = 0.0


def run_unit_tests(compiled: CompiledProject, select: set[str] | None = None) -> list[UnitResult]:
    """Run the unit tests of the selected steps (every step when `select` is None).

    A mistake in a test file raises ProjectError before any test runs; a step
    whose output differs, or whose SQL fails on DuckDB, is a failed result.
    """
    tests = [t for t in load_tests(compiled) if select is None or t.step in select]
    if not tests:
        return []
    schemas = Schemas(compiled, {t.step for t in tests})
    for test in tests:
        check_columns(test, schemas.columns)
    return [_run(compiled, test, schemas) for test in tests]


def _run(compiled: CompiledProject, test: UnitTest, schemas: Schemas) -> UnitResult:
    import duckdb

    started = clock.perf_counter()
    result = UnitResult(test.step, test.name, test.file, test.line, passed=False)
    con = connect(compiled.project.config.time_zone)
    try:
        for given in test.given.values():
            load_given(con, compiled.dialect, given, schemas.columns(given.key), test)
        try:
            tree = postgres_meanings(con, compiled.steps[test.step].tree, compiled.dialect)
            query = sql.to_target(tree, compiled.dialect, "duckdb")
            output = con.sql(query).to_arrow_table()
            types = {row[0].lower(): row[1] for row in con.execute(f"DESCRIBE {query}").fetchall()}
        except (duckdb.Error, sql.SqlError) as error:
            result.diff = f"the step failed on DuckDB: {str(error).strip()}"
        else:
            try:
                expected = cast_expected(con, test.expect, types)
            except duckdb.Error as error:
                result.diff = f"an expected value does not fit its output column: {str(error).strip()}"
            else:
                result.diff = _compare(test, output, expected)
                result.passed = not result.diff
    finally:
        con.close()
        result.seconds = clock.perf_counter() - started
    return result


def _compare(test: UnitTest, output, expected_rows: list[dict]) -> str:
    """Arrow output (not DuckDB's Python rows: TIMESTAMPTZ would need pytz) against the expected rows."""
    names = [name.lower() for name in output.column_names]
    columns = column_order(test.expect)
    missing = [c for c in columns if c not in names]
    if missing:
        return f"the output has no column {', '.join(missing)}; it has {', '.join(names)}"
    values = [output.column(names.index(c)).to_pylist() for c in columns]
    got = list(zip(*values)) if columns else [()] * output.num_rows
    expected = [tuple(row.get(c) for c in columns) for row in expected_rows]
    return diff_rows(columns, expected, got, test.order_matters)


def format_results(results: list[UnitResult]) -> str:
    """One line per test, the diff under each failure, and a summary line."""
    if not results:
        return "no unit tests selected (write them in features/**/*.unit.toml)"
    lines = []
    for r in results:
        where = "" if r.passed else f"  [{r.file}:{r.line}]"
        lines.append(f"{'PASS' if r.passed else 'FAIL'} {r.step}: {r.test} ({r.seconds:.2f}s){where}")
        lines.extend("    " + line for line in r.diff.splitlines())
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed in {sum(r.seconds for r in results):.2f}s")
    return "\n".join(lines)

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
the expected rows: only the columns the expected rows name, by value, case-
insensitively by column name. A column left out of a given or expected row is
NULL. Input columns take their declared (sources), seeded or computed (steps)
types, so values may be written as TOML dates, numbers or strings to be cast.
"""

from __future__ import annotations

import math
import re
import time as clock
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlglot import exp

from toolkit import sql
from toolkit.compiler import CompiledProject
from toolkit.config import read_toml
from toolkit.errors import ProjectError, did_you_mean

SUFFIX = ".unit.toml"
# Two numbers are equal when math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL);
# integers (and DECIMALs against integers) compare exactly; NaN equals NaN.
REL_TOL = 1e-9
ABS_TOL = 1e-12
TEST_KEYS = ("name", "step", "description", "order_matters", "given", "expect")
MAX_DIFF_ROWS = 20


@dataclass
class UnitResult:
    step: str
    test: str
    file: str
    line: int | None
    passed: bool
    diff: str = ""
    seconds: float = 0.0


@dataclass
class _Given:
    key: str  # step/seed name or source key "name.table"
    relation: exp.Table  # canonical name the step's tree reads
    rows: list[dict[str, Any]]
    line: int


@dataclass
class _Test:
    name: str
    step: str
    file: str
    line: int
    end: int  # last line of the test's section
    text: str
    order_matters: bool = False
    given: dict[str, _Given] = field(default_factory=dict)
    expect: list[dict[str, Any]] = field(default_factory=list)
    expect_line: int = 0

    def fail(self, message: str, line: int | None = None, hint: str | None = None) -> ProjectError:
        return ProjectError(f"unit test '{self.name}': {message}", self.file, line or self.line, hint=hint)

    def key_line(self, key: str, start: int | None = None) -> int:
        """The first line of this test, at or after `start`, that sets or names `key`."""
        pattern = re.compile(rf"""(^|[\s{{,.\[])["']?{re.escape(key)}["']?\s*(=|\]|\.)""", re.IGNORECASE)
        lines = self.text.splitlines()
        for number in range(start or self.line, min(self.end, len(lines)) + 1):
            if pattern.search(lines[number - 1]):
                return number
        return start or self.line


# -- loading ----------------------------------------------------------------------


def discover(root: Path) -> list[Path]:
    folder = root / "features"
    return sorted(folder.glob(f"**/*{SUFFIX}")) if folder.is_dir() else []


def load_tests(compiled: CompiledProject) -> list[_Test]:
    """Every unit test of the project, its file checked for shape and names."""
    tests: list[_Test] = []
    for path in discover(compiled.project.root):
        tests.extend(_load_file(compiled, path))
    return tests


def _load_file(compiled: CompiledProject, path: Path) -> list[_Test]:
    root = compiled.project.root
    relative = path.relative_to(root).as_posix()
    try:
        data, text = read_toml(path, root)
    except ProjectError as error:
        line = path.read_text(encoding="utf-8").splitlines()[error.line - 1] if error.line else ""
        if line.count("{") > line.count("}"):
            error.hint = "TOML needs each inline table { ... } on one line: write one row per line"
        raise
    for key in data:
        if key != "test":
            raise ProjectError(
                f"unknown key '{key}'", relative, _top_line(text, key),
                hint=did_you_mean(key, ["test"]) or "a unit-test file holds [[test]] tables",
            )
    entries = data.get("test", [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ProjectError("'test' must be a list of tables: write each test under [[test]]", relative, _top_line(text, "test"))
    headers = [n for n, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*test\s*\]\]", line)]
    if len(headers) != len(entries):
        headers = [_top_line(text, "test")] * len(entries)
    ends = headers[1:] + [len(text.splitlines()) + 1]
    tests, seen = [], set()
    for entry, start, end in zip(entries, headers, ends):
        test = _load_test(compiled, entry, path, relative, text, start, end - 1)
        if (test.step, test.name) in seen:
            raise test.fail(f"a second test of {test.step} has this name", hint="test names must be unique per step")
        seen.add((test.step, test.name))
        tests.append(test)
    return tests


def _load_test(compiled: CompiledProject, entry: dict, path: Path, relative: str, text: str, start: int, end: int) -> _Test:
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ProjectError("every [[test]] needs a name = \"...\" saying what it checks", relative, start)
    default_step = path.name[: -len(SUFFIX)]
    test = _Test(name, entry.get("step", default_step), relative, start, end, text)
    for key in entry:
        if key not in TEST_KEYS:
            raise test.fail(f"unknown key '{key}'", test.key_line(key), did_you_mean(key, TEST_KEYS) or f"keys: {', '.join(TEST_KEYS)}")
    if not isinstance(test.step, str) or test.step not in compiled.steps:
        line = test.key_line("step") if "step" in entry else test.line
        if "step" not in entry:
            raise test.fail(f"the file is not named after a step, so the test must say which: step = \"...\"", line)
        raise test.fail(f"unknown step '{test.step}'", line, did_you_mean(str(test.step), compiled.steps))
    if compiled.steps[test.step].tree is None:
        raise test.fail(f"'{test.step}' is a seed; unit tests test feature steps", test.key_line("step"))
    test.order_matters = entry.get("order_matters", False)
    if not isinstance(test.order_matters, bool):
        raise test.fail("order_matters must be true or false", test.key_line("order_matters"))
    given = entry.get("given", {})
    if not isinstance(given, dict):
        raise test.fail("given must be a table: [test.given.NAME] with rows = [...]", test.key_line("given"))
    for given_name, spec in _flatten_given(given):
        item = _load_given(compiled, test, given_name, spec)
        if item.key in test.given:
            raise test.fail(f"'{given_name}' is given twice", item.line)
        test.given[item.key] = item
    step = compiled.steps[test.step]
    for key in step.upstream + step.sources:
        if key not in test.given:
            raise test.fail(
                f"no rows given for '{key}', which {test.step} reads",
                hint=f'add [test.given."{key}"] with rows = [...]; rows = [] for an empty input',
            )
    expect = entry.get("expect")
    if not isinstance(expect, dict) or set(expect) != {"rows"}:
        line = test.key_line("expect") if "expect" in entry else test.line
        raise test.fail("expect must be a table holding only rows = [...]: the expected output rows", line, "rows = [] expects no rows")
    test.expect_line = test.key_line("expect")
    test.expect = _rows(test, expect["rows"], test.expect_line)
    return test


def _flatten_given(given: dict) -> list[tuple[str, Any]]:
    """[test.given.shop.orders] (unquoted) reads as given.shop.orders: accept it as "shop.orders"."""
    items = []
    for name, spec in given.items():
        if isinstance(spec, dict) and "rows" not in spec and spec and all(isinstance(v, dict) for v in spec.values()):
            items.extend((f"{name}.{table}", inner) for table, inner in spec.items())
        else:
            items.append((name, spec))
    return items


def _load_given(compiled: CompiledProject, test: _Test, name: str, spec: Any) -> _Given:
    line = test.key_line(name.split(".")[-1], test.key_line("given"))
    key = _input_key(compiled, name)
    step = compiled.steps[test.step]
    reads = step.upstream + step.sources
    if key is None:
        candidates = list(compiled.steps) + list(compiled.project.sources)
        raise test.fail(f"unknown input '{name}': not a step, seed or declared source", line, did_you_mean(name, candidates))
    if key not in reads:
        raise test.fail(f"{test.step} does not read '{name}'", line, f"it reads: {', '.join(reads) or 'nothing'}")
    if not isinstance(spec, dict) or set(spec) != {"rows"}:
        raise test.fail(f"given '{name}' must be a table holding only rows = [...]", line, "rows = [] for an empty input")
    if key in compiled.steps:
        relation = compiled.steps[key].relation
    else:
        source = compiled.project.sources[key]
        relation = exp.table_(exp.to_identifier(source.table), db=exp.to_identifier(source.schema))
    return _Given(key, relation, _rows(test, spec["rows"], line), line)


def _input_key(compiled: CompiledProject, name: str) -> str | None:
    if name in compiled.steps or name in compiled.project.sources:
        return name
    parts = name.split(".")
    if len(parts) > 2:
        return None
    found = compiled.names.lookup(exp.table_(parts[-1], db=parts[0] if len(parts) == 2 else None))
    return found[1] if found else None


def _rows(test: _Test, rows: Any, line: int) -> list[dict[str, Any]]:
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise test.fail("rows must be a list of tables, e.g. rows = [ { id = 1 }, { id = 2 } ]", line)
    lowered = []
    for row in rows:
        for column, value in row.items():
            if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
                raise test.fail(f"column '{column}': nested tables are not supported as values", test.key_line(column, line))
        lowered.append({column.lower(): value for column, value in row.items()})
    return lowered


def _top_line(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*(\[+\s*)?{re.escape(key)}\b", line):
            return number
    return 1


# -- running ----------------------------------------------------------------------


def run_unit_tests(compiled: CompiledProject, select: set[str] | None = None) -> list[UnitResult]:
    """Run the unit tests of the selected steps (all steps when `select` is None)."""
    tests = [t for t in load_tests(compiled) if select is None or t.step in select]
    if not tests:
        return []
    schemas = _Schemas(compiled, {t.step for t in tests})
    for test in tests:  # every file mistake is reported before anything runs
        _check_columns(compiled, test, schemas)
    return [_run(compiled, test, schemas) for test in tests]


def _check_columns(compiled: CompiledProject, test: _Test, schemas: "_Schemas") -> None:
    for given in test.given.values():
        known = schemas.columns(given.key)
        for column in _column_order(given.rows):
            if known is not None and column not in known:
                raise test.fail(
                    f"'{given.key}' has no column '{column}'", test.key_line(column, given.line),
                    did_you_mean(column, known) or f"its columns: {', '.join(known)}",
                )
    output = schemas.columns(test.step)
    for column in _column_order(test.expect):
        if output is not None and column not in output:
            raise test.fail(
                f"expected column '{column}' is not an output column of {test.step}", test.key_line(column, test.expect_line),
                did_you_mean(column, output) or f"its columns: {', '.join(output)}",
            )


def _run(compiled: CompiledProject, test: _Test, schemas: "_Schemas") -> UnitResult:
    import duckdb

    started = clock.perf_counter()
    result = UnitResult(test.step, test.name, test.file, test.line, passed=False)
    con = duckdb.connect()
    try:
        con.execute("set python_enable_replacements = false")
        for given in test.given.values():
            _create_fixture(con, compiled.dialect, given, schemas.columns(given.key), test)
        try:
            cursor = con.execute(sql.to_target(compiled.steps[test.step].tree, compiled.dialect, "duckdb"))
            names = [d[0].lower() for d in cursor.description]
            got = cursor.fetchall()
        except (duckdb.Error, sql.SqlError) as error:
            result.diff = f"the step failed on DuckDB: {str(error).strip()}"
        else:
            result.diff = _compare(test, names, got)
            result.passed = not result.diff
    finally:
        con.close()
        result.seconds = clock.perf_counter() - started
    return result


def _create_fixture(con, dialect: str, given: _Given, known: dict[str, exp.DataType | None] | None, test: _Test) -> None:
    import duckdb

    columns = dict(known or {})
    columns.update({c: None for c in _column_order(given.rows) if c not in columns})
    for column, kind in columns.items():
        if kind is None:
            columns[column] = _infer_type(test, given, column)
    statements = [exp.Create(this=exp.Table(db=given.relation.args["db"].copy()), kind="SCHEMA", exists=True)]
    definitions = [exp.ColumnDef(this=exp.to_identifier(c), kind=t.copy()) for c, t in columns.items()]
    statements.append(exp.Create(this=exp.Schema(this=given.relation.copy(), expressions=definitions), kind="TABLE"))
    if given.rows:
        values = [
            exp.Tuple(expressions=[_literal(row.get(c), columns[c]) for c in columns]) for row in given.rows
        ]
        statements.append(exp.insert(exp.Values(expressions=values), given.relation.copy(), columns=list(columns)))
    for statement in statements:
        try:
            con.execute(sql.to_target(statement, dialect, "duckdb"))
        except duckdb.Error as error:
            raise test.fail(f"cannot load the rows given for '{given.key}': {str(error).strip()}", given.line) from None


def _literal(value: Any, kind: exp.DataType) -> exp.Expression:
    """A typed SQL literal for a TOML value: built as a tree, never as text."""
    if value is None:
        return exp.Null()
    return exp.Cast(this=_plain_literal(value), to=kind.copy())


def _plain_literal(value: Any) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        return exp.Literal.number(repr(value)) if math.isfinite(value) else exp.Literal.string(str(value))
    if isinstance(value, datetime):
        return exp.Literal.string(value.isoformat(sep=" "))
    if isinstance(value, (date, time)):
        return exp.Literal.string(value.isoformat())
    if isinstance(value, list):
        return exp.Array(expressions=[_plain_literal(v) if v is not None else exp.Null() for v in value])
    return exp.Literal.string(str(value))


_TYPES = ((bool, "BOOLEAN"), (int, "BIGINT"), (float, "DOUBLE"), (str, "VARCHAR"), (datetime, "TIMESTAMP"), (date, "DATE"), (time, "TIME"))


def _infer_type(test: _Test, given: _Given, column: str) -> exp.DataType:
    """The type of a column whose input type is unknown, from its values."""
    kinds = set()
    for row in given.rows:
        value = row.get(column)
        if value is not None:
            kinds.add(_type_name(value))
    if kinds == {"BIGINT", "DOUBLE"}:
        kinds = {"DOUBLE"}
    if len(kinds) > 1:
        raise test.fail(f"column '{column}' of '{given.key}' mixes {' and '.join(sorted(kinds))} values", test.key_line(column, given.line))
    return exp.DataType.build(kinds.pop() if kinds else "VARCHAR", dialect="duckdb")


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        inner = {_type_name(v) for v in value if v is not None}
        return f"{inner.pop() if len(inner) == 1 else 'VARCHAR'}[]"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return "TIMESTAMPTZ"
    return next(name for kind, name in _TYPES if isinstance(value, kind))


def _column_order(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(column for row in rows for column in row))


class _Schemas:
    """Column names and DuckDB types of the relations tested steps read and write.

    Found by building sources and seeds as empty tables (declared types) and the
    steps as views over them in a scratch in-memory DuckDB. A relation that cannot
    be built there falls back to the compiled column names with unknown types.
    """

    def __init__(self, compiled: CompiledProject, steps: set[str]):
        import duckdb

        self.found: dict[str, dict[str, exp.DataType | None]] = {}
        needed = set(steps).union(*(compiled.dag.ancestors(s) for s in steps))
        project = compiled.project
        for key, source in project.sources.items():
            self.found[key] = {c: _parse_type(t, compiled.dialect) for c, t in source.columns.items()}
        con = duckdb.connect()
        try:
            con.execute("set python_enable_replacements = false")
            for key, source in project.sources.items():
                relation = exp.table_(exp.to_identifier(source.table), db=exp.to_identifier(source.schema))
                self._build(con, compiled.dialect, key, relation, self.found[key])
            for name in [n for n in compiled.dag.order() if n in needed]:
                self._build_step(con, compiled, name)
        finally:
            con.close()

    def columns(self, key: str) -> dict[str, exp.DataType | None] | None:
        return self.found.get(key)

    def _build(self, con, dialect: str, key: str, relation: exp.Table, columns: dict) -> None:
        if any(t is None for t in columns.values()):
            return
        schema = exp.Create(this=exp.Table(db=relation.args["db"].copy()), kind="SCHEMA", exists=True)
        definitions = [exp.ColumnDef(this=exp.to_identifier(c), kind=t.copy()) for c, t in columns.items()]
        table = exp.Create(this=exp.Schema(this=relation.copy(), expressions=definitions), kind="TABLE")
        self._try(con, dialect, key, schema, table)

    def _build_step(self, con, compiled: CompiledProject, name: str) -> None:
        step = compiled.steps[name]
        if step.kind == "seed":
            from toolkit.seeds import read_seed

            seed = compiled.project.seeds[name]
            con.register("__toolkit_seed", read_seed(seed, compiled.project.root).slice(0, 0))
            types = {row[0].lower(): _parse_type(row[1], "duckdb") for row in con.execute("describe __toolkit_seed").fetchall()}
            con.unregister("__toolkit_seed")
            self.found[name] = types
            self._build(con, compiled.dialect, name, step.relation, types)
            return
        schema = exp.Create(this=exp.Table(db=step.relation.args["db"].copy()), kind="SCHEMA", exists=True)
        view = exp.Create(this=step.relation.copy(), kind="VIEW", expression=step.tree.copy())
        if not self._try(con, compiled.dialect, name, schema, view):
            self.found[name] = {c: None for c in step.columns} if step.columns is not None else None

    def _try(self, con, dialect: str, key: str, *statements: exp.Expression) -> bool:
        import duckdb

        try:
            for statement in statements:
                con.execute(sql.to_target(statement, dialect, "duckdb"))
            relation = statements[-1].this
            relation = relation.this if isinstance(relation, exp.Schema) else relation
            describe = exp.Describe(this=relation.copy())
            rows = con.execute(sql.to_target(describe, dialect, "duckdb")).fetchall()
        except (duckdb.Error, sql.SqlError):
            return False
        self.found[key] = {row[0].lower(): _parse_type(row[1], "duckdb") for row in rows}
        return True


def _parse_type(text: str, dialect: str) -> exp.DataType | None:
    for read in dict.fromkeys((dialect, "duckdb")):
        try:
            return exp.DataType.build(text, dialect=read)
        except Exception:  # sqlglot raises ParseError or ValueError for a type it cannot read
            continue
    return None


# -- comparing --------------------------------------------------------------------


def _compare(test: _Test, names: list[str], got_rows: list[tuple]) -> str:
    """'' when the output matches the expected rows, else a readable row-level diff."""
    columns = _column_order(test.expect)
    missing = [c for c in columns if c not in names]
    if missing:
        return f"the output has no column {', '.join(missing)}; it has {', '.join(names)}"
    positions = [names.index(c) for c in columns]
    got = [tuple(row[p] for p in positions) for row in got_rows]
    expected = [tuple(row.get(c) for c in columns) for row in test.expect]
    unmatched = list(range(len(got)))
    lost = []
    for row in expected:
        match = next((i for i in unmatched if _same_row(row, got[i])), None)
        if match is None:
            lost.append(row)
        else:
            unmatched.remove(match)
    extra = [got[i] for i in unmatched]
    first = next((i for i, (e, g) in enumerate(zip(expected, got)) if not _same_row(e, g)), None)
    if not lost and not extra and not (test.order_matters and first is not None):
        return ""
    lines = [f"expected {_count(len(expected))}, got {_count(len(got))}"]
    if lost or extra:
        lines.append(f"- expected, missing from the output ({len(lost)}); + in the output, not expected ({len(extra)})")
        lines.extend(_table(columns, [("-", r) for r in lost[:MAX_DIFF_ROWS]] + [("+", r) for r in extra[:MAX_DIFF_ROWS]]))
        if max(len(lost), len(extra)) > MAX_DIFF_ROWS:
            lines.append(f"  ... (first {MAX_DIFF_ROWS} of each shown)")
    if test.order_matters and first is not None:
        lines.append(f"order matters: first difference at row {first + 1}")
        lines.extend(_table(columns, [("expected", expected[first]), ("got", got[first])]))
    return "\n".join(lines)


def _count(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _same_row(expected: tuple, got: tuple) -> bool:
    return all(_same(e, g) for e, g in zip(expected, got))


def _same(expected: Any, got: Any) -> bool:
    """Value equality with the documented float tolerance; dates compare with
    midnight timestamps and ISO strings."""
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
    if isinstance(got, date) and isinstance(expected, date) and isinstance(got, datetime) != isinstance(expected, datetime):
        as_datetime = lambda d: d if isinstance(d, datetime) else datetime.combine(d, time())  # noqa: E731
        return as_datetime(expected) == as_datetime(got)
    if isinstance(expected, list) and isinstance(got, (list, tuple)):
        return len(expected) == len(got) and all(_same(e, g) for e, g in zip(expected, got))
    if isinstance(expected, str) and not isinstance(got, (str, int, float, Decimal)):
        return str(got) == expected  # e.g. a UUID or an INTERVAL, written as text
    return type(expected) is type(got) and expected == got


def _table(columns: list[str], rows: list[tuple[str, tuple]]) -> list[str]:
    cells = [["", *columns]] + [[mark, *(_show(v) for v in row)] for mark, row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in cells]


def _show(value: Any) -> str:
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
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def format_results(results: list[UnitResult]) -> str:
    """One line per test, the diff under each failure, and a summary line."""
    lines = []
    for r in results:
        status = "PASS" if r.passed else "FAIL"
        lines.append(f"{status} {r.step}: {r.test} ({r.seconds:.2f}s)" + ("" if r.passed else f"  [{r.file}:{r.line}]"))
        lines.extend("    " + line for line in r.diff.splitlines())
    failed = sum(not r.passed for r in results)
    total = sum(r.seconds for r in results)
    if not results:
        return "no unit tests selected (write them in features/**/*.unit.toml)"
    lines.append(f"{len(results) - failed} passed, {failed} failed in {total:.2f}s")
    return "\n".join(lines)

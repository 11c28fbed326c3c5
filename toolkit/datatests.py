"""Data tests, built as syntax trees and run inside the warehouse.

Declared in a step's config (or on a source in warehouse/sources.toml):

    tests={"customer_id": ["not_null", "unique"],
           "status": [{"accepted_values": ["new", "done"]}],
           "amount": [{"between": {"min": 0, "max": 10000, "severity": "warn"}}],
           "customer_id": [{"relationships": {"to": "customers", "field": "customer_id"}}]}
    table_tests=[{"unique": ["customer_id", "snapshot_date"]},
                 {"expression": "spend_90d >= spend_30d"},
                 {"row_count": {"min": 1}},
                 {"freshness": {"column": "ordered_at", "max_age": "3 days"}}]

Every test is a query for the rows that violate it; only their count and a small
sample come back. Severity "error" (default) blocks publishing, "warn" is recorded.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import sqlglot
from sqlglot import exp

from toolkit import clock, sqlguard
from toolkit.errors import StepFailed, ToolkitError, did_you_mean, engine_message, line_of
from toolkit.sql import quiet_parse

COLUMN_TESTS = ("not_null", "unique", "accepted_values", "relationships", "between")
TABLE_TESTS = ("unique", "expression", "row_count", "freshness")
SAMPLE_ROWS = 5
_AGE = re.compile(r"^\s*(\d+)\s*(second|minute|hour|day|week|month|year)s?\s*$", re.I)


class TestSpecError(ValueError):
    """A malformed test declaration; the caller adds file and line."""


class TestNotRun(StepFailed):
    """A data test the warehouse could not run (an expression test dividing by zero, say):
    named, so that it does not read as the step's own SQL failing. It fails its step whatever
    its severity: severity says whether failing rows block, and a test that cannot run found
    no rows, nor proved there are none. `outcomes`: the tests that ran before it."""

    def __init__(self, test: "DataTest", cause: str, outcomes: list, consequence: str = ""):
        self.test, self.cause, self.outcomes = test, cause, outcomes
        severity = f" of severity {test.severity}" if test.severity != "error" else ""
        super().__init__(f"data test {test.label}{severity} could not run{consequence}: {cause}")


@dataclass(frozen=True)
class DataTest:
    name: str
    column: str | None
    args: dict[str, Any] = field(default_factory=dict)
    severity: str = "error"
    # file:line of a test declared apart from the step it runs with (a custom test's own
    # file): its failure points there. Not part of the tests' fingerprint.
    where: str | None = field(default=None, compare=False)
    # What tells it apart from a test of the same name on the same column (two relationships
    # toward different parents): "to a". Empty for the common single test, whose label (kept
    # in toolkit.test_results) stays as it was. Set by parse_tests; not part of the fingerprint.
    qualifier: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        if self.name == "custom":
            return f"custom({self.args['name']})"
        if self.column:
            return f"{self.name}({self.column}{' ' + self.qualifier if self.qualifier else ''})"
        detail = self.args.get("columns") or self.args.get("expression") or self.args.get("column")
        if detail is None:
            detail = ", ".join(f"{key}={value}" for key, value in self.args.items())
        return f"{self.name}({', '.join(detail) if isinstance(detail, list) else detail})"

    def columns(self) -> list[str]:
        """Columns of the tested table that the test reads (checked at compile time)."""
        if self.column:
            return [self.column]
        if self.name == "unique":
            return list(self.args["columns"])
        if self.name == "freshness":
            return [self.args["column"]]
        return list(self.args.get("reads", []))  # an expression's columns, found when it is parsed


@dataclass
class Outcome:
    test: DataTest
    failing: int
    sample: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.failing:
            return "pass"
        return "fail" if self.test.severity == "error" else "warn"

    def describe(self, located: bool = True) -> str:
        """`located`: also say where a test declared apart from its step is (unless the message starts there)."""
        rows = "; ".join(", ".join(f"{k}={v}" for k, v in row.items()) for row in self.sample[:3])
        at = f" ({self.test.where})" if self.test.where and located else ""
        return f"{self.test.label}{at}: {self.failing} failing row{'s' if self.failing != 1 else ''}" + (f" (e.g. {rows})" if rows else "")


# -- declarations -> DataTest -----------------------------------------------------------


def parse_tests(column_tests: Any, table_tests: Any) -> list[DataTest]:
    """Normalize both declaration forms; raises TestSpecError naming what is wrong."""
    if not isinstance(column_tests, dict):
        raise TestSpecError('tests must map column -> list of tests, e.g. tests={"id": ["not_null"]}')
    if not isinstance(table_tests, list):
        raise TestSpecError('table_tests must be a list, e.g. table_tests=[{"row_count": {"min": 1}}]')
    tests = []
    for column, specs in column_tests.items():
        if not isinstance(specs, list):
            raise TestSpecError(f"tests for column '{column}' must be a list, e.g. [\"not_null\"]")
        tests += [_one(spec, column.lower(), COLUMN_TESTS) for spec in specs]
    return _qualified(tests) + [_one(spec, None, TABLE_TESTS) for spec in table_tests]


def _qualified(tests: list[DataTest]) -> list[DataTest]:
    """Relationships tests sharing a column, labelled with their parent ("relationships(id to a)"),
    and its field too where that is shared as well: one label for two tests made their results
    and failures (and the publishes they hold) impossible to tell apart."""
    shared: dict[str, list[DataTest]] = {}
    for test in tests:
        if test.name == "relationships":
            shared.setdefault(test.column, []).append(test)
    named = {}
    for group in (group for group in shared.values() if len(group) > 1):
        parents = [str(test.args["to"]) for test in group]
        for test in group:
            parent = str(test.args["to"])
            named[id(test)] = f"to {parent}" if parents.count(parent) == 1 else f"to {parent}.{str(test.args['field']).lower()}"
    return [replace(test, qualifier=named[id(test)]) if id(test) in named else test for test in tests]


def _one(spec: Any, column: str | None, known: tuple[str, ...]) -> DataTest:
    if isinstance(spec, str):
        name, args = spec, {}
    elif isinstance(spec, dict) and len(spec) == 1:
        name, args = next(iter(spec.items()))
    else:
        raise TestSpecError(f"a test is a name or a one-key table, got {spec!r}")
    where = f"on column '{column}'" if column else "in table_tests"
    if name not in known:
        hint = did_you_mean(str(name), known) or f"built-in: {', '.join(known)}"
        raise TestSpecError(f"unknown test '{name}' {where} ({hint})")
    args = _arguments(name, args, column)
    severity = args.pop("severity", "error")
    if severity not in ("error", "warn"):
        raise TestSpecError(f"{name}: severity must be 'error' or 'warn', got {severity!r}")
    return DataTest(name, column, args, severity)


ARGUMENTS = {
    "not_null": set(), "unique": {"columns"}, "accepted_values": {"values"}, "relationships": {"to", "field"},
    "between": {"min", "max", "bounds"}, "expression": {"expression"}, "row_count": {"min", "max"},
    "freshness": {"column", "max_age"},
}


def _arguments(name: str, args: Any, column: str | None) -> dict:
    """Shorthands to one dict form: accepted_values [..] -> {values}, unique [..] -> {columns}."""
    shorthand = {"accepted_values": "values", "unique": "columns", "between": "bounds", "expression": "expression"}
    if not isinstance(args, dict):
        if name not in shorthand:
            raise TestSpecError(f"{name} takes a table of arguments ({', '.join(sorted(ARGUMENTS[name])) or 'severity'}), got {args!r}")
        args = {shorthand[name]: args}
    args = dict(args)
    allowed = ARGUMENTS[name] | {"severity"}
    for key in args:
        if key not in allowed:
            raise TestSpecError(f"{name}: unknown argument '{key}'" + (f" ({did_you_mean(key, allowed)})" if did_you_mean(key, allowed) else f" (takes {', '.join(sorted(allowed))})"))
    required = {
        "accepted_values": ["values"],
        "relationships": ["to", "field"],
        "expression": ["expression"],
        "freshness": ["column", "max_age"],
    }.get(name, [])
    if name == "unique" and column is None:
        required = ["columns"]
    missing = [key for key in required if key not in args]
    if missing:
        raise TestSpecError(f"{name} needs {', '.join(missing)}")
    if name == "between":
        bounds = args.pop("bounds", None)
        if isinstance(bounds, list) and len(bounds) == 2:
            args["min"], args["max"] = bounds
        if args.get("min") is None and args.get("max") is None:  # {"min": None} too: it failed at run time, unpacking no bounds
            raise TestSpecError("between needs min and/or max, e.g. {\"between\": [0, 100]}")
    if name == "row_count" and args.get("min") is None and args.get("max") is None:
        raise TestSpecError("row_count needs min and/or max, e.g. {\"row_count\": {\"min\": 1}}")
    if name in ("between", "row_count"):
        _check_bounds(name, args)
    if name == "accepted_values" and (not isinstance(args["values"], list) or not args["values"]):
        raise TestSpecError("accepted_values needs a non-empty list of values")
    if name == "freshness" and not _AGE.match(str(args["max_age"])):
        raise TestSpecError(f"freshness max_age '{args['max_age']}' is not an interval like '3 days'")
    if name == "unique" and column is None:
        columns = [args["columns"]] if isinstance(args["columns"], str) else args["columns"]
        if not isinstance(columns, list) or not columns:
            raise TestSpecError("unique needs at least one column, e.g. {\"unique\": [\"id\", \"day\"]}")
        args["columns"] = [c.lower() for c in columns]
    return args


def _check_bounds(name: str, args: dict) -> None:
    """min/max are numbers (a between may also bound a date column with a date): else the
    run failed in the warehouse, converting the bound to the column's type."""
    for key in ("min", "max"):
        value = args.get(key)
        if value is None or _is_number(value) or (name == "between" and _is_date(value)):
            continue
        also = " (or a date, e.g. '2024-01-31')" if name == "between" else ""
        raise TestSpecError(f"{name}: {key} needs a number{also}, got {value!r}")
    low, high = _comparable(args.get("min")), _comparable(args.get("max"))
    try:
        reversed_bounds = low is not None and high is not None and low > high
    except TypeError:  # a number and a date, or dates with and without a time zone: the run judges them
        reversed_bounds = False
    if reversed_bounds:  # no value passes: every run failed the test
        raise TestSpecError(f"{name}: min {args['min']!s} is greater than max {args['max']!s}: no value can pass")


def _comparable(bound: Any) -> Any:
    """A bound as a number or a datetime, to compare min with max."""
    if isinstance(bound, str):
        return datetime.datetime.fromisoformat(bound)
    if isinstance(bound, datetime.date) and not isinstance(bound, datetime.datetime):
        return datetime.datetime.combine(bound, datetime.time())
    return bound


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_date(value: Any) -> bool:
    """A date or timestamp: a TOML date, or ISO text ('2024-01-31', '2024-01-31 12:00:00')."""
    if isinstance(value, (datetime.date, datetime.datetime)):
        return True
    if not isinstance(value, str):
        return False
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


# -- DataTest -> failing-rows query ----------------------------------------------------------


def failing_rows(test: DataTest, table: exp.Expression, dialect: str, relation_of: Callable[[str], exp.Table]) -> exp.Select:
    """SELECT the rows (or groups) that violate `test`."""
    if test.name == "custom":
        return _custom_query(test, relation_of)
    source = table.copy().as_("t")
    col = exp.column(test.column, table="t") if test.column else None
    if test.name == "not_null":
        return exp.select("t.*").from_(source).where(col.is_(exp.null()))
    if test.name == "unique":
        keys = [col] if col else [exp.column(c, table="t") for c in test.args["columns"]]
        present = exp.and_(*[k.is_(exp.null()).not_() for k in keys])
        return (
            exp.select(*keys, exp.Count(this=exp.Star()).as_("occurrences"))
            .from_(source)
            .where(present)
            .group_by(*keys)
            .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
        )
    if test.name == "accepted_values":
        return exp.select("t.*").from_(source).where(exp.and_(col.is_(exp.null()).not_(), _not_listed(col, test.args["values"])))
    if test.name == "relationships":
        parent = _parent(test, relation_of)
        key = exp.column(test.args["field"].lower(), table="parent")  # toolkit's lower-case names (sources.source_relation)
        return (
            exp.select("t.*")
            .from_(source)
            .join(parent, on=exp.EQ(this=col, expression=key), join_type="left")
            .where(exp.and_(col.copy().is_(exp.null()).not_(), key.copy().is_(exp.null())))
        )
    if test.name == "between":
        outside = []
        if test.args.get("min") is not None:
            outside.append(exp.LT(this=col.copy(), expression=exp.convert(test.args["min"])))
        if test.args.get("max") is not None:
            outside.append(exp.GT(this=col.copy(), expression=exp.convert(test.args["max"])))
        return exp.select("t.*").from_(source).where(exp.or_(*outside))
    if test.name == "expression":
        condition = parse_condition(test.args["expression"], dialect)
        return exp.select("t.*").from_(source).where(exp.Coalesce(this=condition, expressions=[exp.false()]).not_())
    if test.name == "row_count":
        count = exp.Count(this=exp.Star())
        inside = []
        if test.args.get("min") is not None:
            inside.append(exp.GTE(this=count.copy(), expression=exp.convert(test.args["min"])))
        if test.args.get("max") is not None:
            inside.append(exp.LTE(this=count.copy(), expression=exp.convert(test.args["max"])))
        return exp.select(count.as_("row_count")).from_(source).having(exp.and_(*inside).not_())
    return _stale(test, source)


def _not_listed(col: exp.Column, values: list) -> exp.Expression:
    """`col` is none of the listed values. A None (NULL) in the list only says NULL rows are
    accepted (as they are anyway): kept in the IN list it made NOT IN NULL for every other
    value, so every row passed."""
    listed = [exp.convert(value) for value in values if value is not None]
    return col.isin(*listed).not_() if listed else exp.true()


def _stale(test: DataTest, source: exp.Expression) -> exp.Select:
    """Freshness: the newest value is older than max_age before toolkit's now (clock.now,
    so TOOLKIT_NOW replays hold), or there is none. Both sides are compared as instants:
    now as the UTC instant it is, the newest value cast to TIMESTAMPTZ, which keeps a
    timestamptz's instant and reads a timestamp (or date) as a wall time of the session's
    zone, the project's time_zone (engines set it) - like with like either way, where a
    timestamptz cast to a wall time and compared with UTC looked an offset fresher. The
    interval is subtracted in that zone's calendar ("1 day" across a DST change). A column
    holding toolkit's own clock (a model's scored_at, toolkit's tables: mark_clock) is a
    UTC wall time: compared with now's UTC wall time, both as TIMESTAMP."""
    amount, unit = _AGE.match(str(test.args["max_age"])).groups()
    latest = exp.Max(this=exp.column(test.args["column"], table="t"))
    age = exp.Interval(this=exp.Literal.string(amount), unit=exp.Var(this=unit.upper()))

    def older(kind: str, now: str) -> exp.Expression:
        return exp.LT(this=exp.cast(latest.copy(), kind), expression=exp.Sub(this=exp.cast(exp.Literal.string(now), kind), expression=age))

    utc = older("timestamp", clock.now().isoformat(sep=" "))  # UTC wall times, as now is: no zone on either side
    wall = older("timestamptz", f"{clock.now().isoformat(sep=' ')}+00:00")
    how = test.args.get(CLOCK)
    stale = utc if how is True else exp.or_(utc, wall) if how == MIXED_CLOCK else wall
    return exp.select(latest.as_("latest")).from_(source).having(exp.or_(latest.is_(exp.null()), stale))


CLOCK = "utc_clock"  # a freshness arg set at compile time: the column holds toolkit's clock (compiling/clockcolumns.py)
MIXED_CLOCK = "mixed"  # ... made from toolkit's clock and something else: stale when either reading says so


def mark_clock(test: DataTest, holds_clock: bool | str) -> None:
    """Record whether a freshness test's column holds toolkit's own clock (naive UTC): its
    values are then read as UTC, not as wall times of the project's time_zone (MIXED_CLOCK:
    partly: both ways). Set only when so, so other tests' fingerprints stay as they were."""
    if holds_clock:
        test.args[CLOCK] = holds_clock
    else:
        test.args.pop(CLOCK, None)


# A relationships test's parent that is an ephemeral step (it has no relation): its query, its
# own ephemeral reads inlined, set at compile time (steptests._inline_ephemeral_reads) with
# "relations", the steps that query reads. The test reads the parent's rows as its readers do.
PARENT_QUERY = "parent_query"


def _parent(test: DataTest, relation_of: Callable[[str], exp.Table]) -> exp.Expression:
    inlined = test.args.get(PARENT_QUERY)
    if inlined is None:
        return relation_of(test.args["to"]).as_("parent")
    return _reading(inlined, test.args["relations"], relation_of).subquery("parent")


def _custom_query(test: DataTest, relation_of: Callable[[str], exp.Table]) -> exp.Select:
    """The custom test's SELECT, reading each step it names where relation_of says."""
    return exp.select("*").from_(_reading(test.args["query"], test.args["relations"], relation_of).subquery("custom"))


def _reading(query: exp.Query, relations: dict, relation_of: Callable[[str], exp.Table]) -> exp.Query:
    """`query` reading each step of `relations` ((schema, name) as written -> step) where relation_of says."""
    from toolkit.sql import replace_tables

    def rename(table: exp.Table) -> exp.Table | None:
        name = relations.get((table.db, table.name))
        return relation_of(name) if name else None

    return replace_tables(query, rename)


def parse_expressions(tests: list[DataTest], dialect: str) -> None:
    """Parse each expression test once (a TestSpecError if it is not a row condition)
    and record the columns it reads, so they are checked like any test's columns."""
    for test in tests:
        if test.name == "expression":
            condition = parse_condition(test.args["expression"], dialect)
            test.args["reads"] = sorted({column.name.lower() for column in condition.find_all(exp.Column)})


def parse_condition(text: str, dialect: str) -> exp.Expression:
    """A row condition written in the project's dialect; never a statement."""
    try:
        with quiet_parse():  # a statement is refused below
            parsed = [e for e in sqlglot.parse(text, read=dialect) if e is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as error:
        detail = error.errors[0]["description"] if getattr(error, "errors", None) else str(error)
        raise TestSpecError(f"expression '{text}' is not valid SQL: {detail}") from None
    # Only a condition (a predicate, function, column, ...) - never a statement or a subquery.
    if len(parsed) != 1 or not isinstance(parsed[0], exp.Condition) or parsed[0].find(exp.Query):
        raise TestSpecError(f"expression '{text}' must be a row condition, not a query or statement")
    summary = parsed[0].find(exp.AggFunc, exp.Window)
    if summary is not None:  # the engine refused it at run time: no aggregate (window) in WHERE
        what = "a window function" if isinstance(summary, exp.Window) else f"the aggregate {summary.sql_name().lower()}()"
        raise TestSpecError(f"expression '{text}' uses {what}, but an expression test checks each row on its own "
                            "(a condition on the whole table is a custom test, features/tests/*.sql, or row_count)")
    refused = sqlguard.reads(parsed[0], ())  # a test reads the step's rows, like the step reads refs
    if refused is not None:
        raise TestSpecError(f"expression '{text}': {refused.message}")
    return parsed[0]


# -- running ------------------------------------------------------------------------------


def run_tests(engine, table: exp.Expression, tests: list[DataTest], dialect: str, relation_of: Callable[[str], exp.Table]) -> list[Outcome]:
    """Run each test inside the warehouse: a count, and a small sample when it fails."""
    outcomes: list[Outcome] = []
    for test in tests:
        try:
            outcomes.append(_run_one(engine, table, test, dialect, relation_of))
        except ToolkitError:
            raise
        except Exception as error:  # the engine's error, raised by this test's query: say which test
            from toolkit import interrupts

            if interrupts.explains(error):  # Ctrl-C stopped the query: the command ends "aborted"
                raise
            raise TestNotRun(test, engine_message(error), outcomes) from error
    return outcomes


def _run_one(engine, table: exp.Expression, test: DataTest, dialect: str, relation_of: Callable[[str], exp.Table]) -> Outcome:
    failing = failing_rows(test, table, dialect, relation_of).subquery("failing")
    count = engine.fetch_rows(exp.select(exp.Count(this=exp.Star())).from_(failing))[0][0]
    sample: list[dict] = []
    if count:
        rows = engine.fetch_arrow(exp.select("*").from_(failing.copy()).limit(SAMPLE_ROWS))
        sample = [{k: _plain(v) for k, v in row.items()} for row in rows.to_pylist()]
    return Outcome(test, int(count), sample)


def mismatched_bound(engine, table: exp.Expression, tests: list[DataTest]) -> tuple[DataTest, str] | None:
    """A between bound or an accepted value of another kind than its column, and what is
    wrong (the column's type is known only once the step is built): a date bound on a
    number column, a number bound on a date column failed in the warehouse with its
    conversion error. A date written as text also bounds a text column (compared as text);
    a column of no type is left alone. A text column takes only text values: a number
    made DuckDB cast the column ('01' and ' 1' passed as 1) and PostgreSQL refuse it."""
    checked = [test for test in tests if test.name in ("between", "accepted_values")]
    if not checked or _text_against_text(engine, table, checked):
        return None
    import pyarrow as pa  # here: a run whose sources have no such test never pays for pyarrow (~0.1 s)

    columns = sorted({test.column for test in checked})
    types = dict(zip(columns, engine.fetch_arrow(exp.select(*[exp.column(c) for c in columns]).from_(table.copy().as_("t")).limit(0)).schema.types))
    for test in checked:
        kind = types[test.column]
        if pa.types.is_null(kind):
            continue
        problem = _bound_mismatch(test, kind, engine.ISO_DATES_ONLY) if test.name == "between" else _value_mismatch(test, kind, engine.ISO_DATES_ONLY)
        if problem:
            return test, problem
    return None


_TEXT_TYPE = re.compile(r"varchar|text|string|character varying|character|char|bpchar|(varchar|character varying|char)\s*\(\d+\)", re.IGNORECASE)


def _text_against_text(engine, table: exp.Expression, checked: list[DataTest]) -> bool:
    """Text values on columns the catalog says are text: nothing can mismatch. Asked of
    the catalog so that the common case (a source's accepted_values, checked on every run)
    does not import pyarrow and numpy (~0.1-0.2 s of a no-op) for the column types."""
    if not isinstance(table, exp.Table) or any(t.name != "accepted_values" or not all(isinstance(v, str) or v is None
                                                                                  for v in t.args["values"]) for t in checked):
        return False
    found = {name.lower(): kind for name, kind in (engine.columns(table) or {}).items()}
    return all(_TEXT_TYPE.fullmatch(found.get(t.column.lower(), "").strip()) for t in checked)


def _bound_mismatch(test: DataTest, kind, iso_only: bool) -> str | None:
    import pyarrow as pa

    number = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
    dated = pa.types.is_date(kind) or pa.types.is_timestamp(kind)
    text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
    for key in ("min", "max"):
        bound = test.args.get(key)
        if bound is None:
            continue
        if _is_number(bound) and not number:
            return f"between({test.column}): {key} {bound!r} is a number, but column '{test.column}' is {kind}, not a number"
        if not _is_number(bound) and not (dated or (text and isinstance(bound, str))):
            return f"between({test.column}): {key} {str(bound)!r} is a date, but column '{test.column}' is {kind}, not a date or timestamp"
        if dated and isinstance(bound, str) and not _reads_as_date(bound, iso_only):
            return f"between({test.column}): {key} {bound!r} is not a date the warehouse reads, but column '{test.column}' is {kind}"
    return None


def _value_mismatch(test: DataTest, kind, iso_only: bool) -> str | None:
    """A value that is not text (nor None) in accepted_values on a text column; text that
    is no number on a number column, or no date on a date or timestamp column (the
    warehouse's conversion error, exit 1, named no test: dbt's quoted null, 'None', on an
    integer column did)."""
    import pyarrow as pa

    if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
        odd = next((value for value in test.args["values"] if _is_number(value) or isinstance(value, str) and not _reads_as_date(value, iso_only)), None)
        if odd is None:
            return None
        what = "a number, not a date" if _is_number(odd) else "not a date the warehouse reads"
        return f"accepted_values({test.column}): {odd!r} is {what}, but column '{test.column}' is {kind}"

    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        whole = pa.types.is_integer(kind)
        odd = next((value for value in test.args["values"] if isinstance(value, str) and not _reads_as_number(value, whole)), None)
        if odd is None:
            return None
        return (f"accepted_values({test.column}): {odd!r} is not {'a whole number' if whole else 'a number'}, but column "
                f"'{test.column}' is {kind}")
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    odd = next((value for value in test.args["values"] if value is not None and not isinstance(value, str)), None)
    if odd is None:
        return None
    return (f"accepted_values({test.column}): {odd!r} is not text, but column '{test.column}' is {kind}: "
            f"write the values as text (e.g. \"{odd}\"), which the column is compared with as written")


# ISO 8601 as every engine reads it: a date, then maybe a time and a zone ('Z', '+05:30', ' UTC', ...)
_ISO_DATE = re.compile(r"\s*[+-]?(\d{4,})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:\s*\S.*)?)?\s*", re.DOTALL)
_ISO_DATE_WORDS = frozenset({"infinity", "-infinity", "epoch"})  # DuckDB's and PostgreSQL's
_DATE_WORDS = _ISO_DATE_WORDS | {"+infinity", "today", "tomorrow", "yesterday", "now", "allballs"}  # PostgreSQL's too


def _reads_as_date(text: str, iso_only: bool) -> bool:
    """Whether the warehouse converts `text` to a date or timestamp. ISO text with real
    fields ('2024-02-30' is none) is read everywhere; an engine that reads ISO only
    (`Engine.ISO_DATES_ONLY`, DuckDB) reads nothing else but its words. Another engine's
    other styles (PostgreSQL: '20240131', 'Jan 31 2024') are left to it, so only text with
    no digit at all ('soon', 'None', 'n/a') that is none of its words is refused there."""
    word = text.strip().lower()
    if word in (_ISO_DATE_WORDS if iso_only else _DATE_WORDS):
        return True
    match = _ISO_DATE.fullmatch(text)
    if match is None:
        return not iso_only and any(c.isdigit() for c in text)
    year, month, day, hour, minute, second = (int(g) if g is not None else 0 for g in match.groups())
    try:
        datetime.date(min(year, 9999), month, day)  # a later year is the engine's to judge
    except ValueError:
        return False
    return hour <= 24 and minute < 60 and second <= 60  # 24:00 and a leap second: PostgreSQL reads both


def _reads_as_number(text: str, whole: bool) -> bool:
    """Whether the warehouse converts `text` to the column's number type (both engines
    accept surrounding spaces; a fraction is no integer)."""
    if whole:
        return re.fullmatch(r"\s*[+-]?\d+\s*", text) is not None
    try:
        float(text)
    except ValueError:
        return False
    return True


# A column's list of tests and a test's name, as written where tests are declared: a step's
# config (a Python dict: "amount": [...], "between": ...) or sources.toml (amount = [...], between = ...).
_COLUMN_KEY = {"python": r"""(["']){name}\1\s*:\s*\[""", "toml": r"""(?:^|(?<=[\s{{,.]))(?:{name}|"{name}"|'{name}')\s*=\s*\["""}
_TEST_KEY = {"python": r"""(["']){name}\1\s*:""", "toml": r"""(?:^|(?<=[\s{{,]))(?:{name}|"{name}"|'{name}')\s*="""}


def declared_line(text: str, test: DataTest, tests: list[DataTest], syntax: str = "python",
                  section: tuple[int, int | None] = (1, None), fallback: int | None = None) -> int | None:
    """The line declaring column test `test` (one of `tests`) in `text` (lines `section`):
    its name after its column's key, before the next tested column's key. Where that is
    not certain (the key written twice with such a test after it, or not found; several
    such tests on other lines than the declarations tell apart), `fallback`: a line that
    is not the test's is never given."""
    first, last = section
    body = "".join(text.splitlines(keepends=True)[first - 1:last])
    keys = sorted((match.start(), match.end(), column) for column in {t.column for t in tests if t.column}
                  for match in re.finditer(_COLUMN_KEY[syntax].format(name=re.escape(column)), body, re.I | re.M))
    found = []
    for index, (_, end, column) in enumerate(keys):
        if column == test.column:
            stop = keys[index + 1][0] if index + 1 < len(keys) else len(body)
            at = [end + m.start() for m in re.finditer(_TEST_KEY[syntax].format(name=re.escape(test.name)), body[end:stop], re.M)]
            found += [at] if at else []
    if len(found) != 1:
        return fallback
    same = [t for t in tests if t.column == test.column and t.name == test.name]
    lines = {body.count("\n", 0, at) for at in found[0]}
    if len(found[0]) == len(same):  # one declaration per test, in order
        return first + body.count("\n", 0, found[0][next(i for i, t in enumerate(same) if t is test)])
    return first + lines.pop() if len(lines) == 1 else fallback


def config_line(template: str) -> int | None:
    """The line of a step's config: its config() call, or a Python step's decorator."""
    return line_of(template, "config(") or line_of(template, "@feature") or None


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


def result_row(name: str, kind: str, outcome: Outcome) -> dict:
    """A toolkit.test_results row (without run_id and time) for one outcome."""
    return {
        "step": name, "kind": kind, "test": outcome.test.label, "severity": outcome.test.severity,
        "status": outcome.status, "failing_rows": outcome.failing, "sample": json.dumps(outcome.sample, default=str),
    }

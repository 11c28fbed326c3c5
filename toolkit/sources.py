"""Sources a run reads: that they exist with their declared columns, and their data tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlglot import exp

from toolkit import filesources, materialize, sourcecolumns
from toolkit.compiler import CompiledProject
from toolkit.datatests import TestNotRun, declared_line, mismatched_bound, result_row, run_tests
from toolkit.errors import ProjectError, StepFailed, line_of
from toolkit.sql import type_family

if TYPE_CHECKING:  # execute imports this module
    from toolkit.execute import StepResult


def _sources_read(compiled: CompiledProject, selected: set[str]) -> list[str]:
    return sorted({key for name in selected for key in compiled.steps[name].sources})


def source_table(compiled: CompiledProject, key: str) -> exp.Table:
    source = compiled.project.sources[key]
    return exp.table_(exp.to_identifier(source.table), db=exp.to_identifier(source.schema))


def source_relation(compiled: CompiledProject, key: str) -> exp.Expression:
    """The source as toolkit's generated SQL reads it (data tests, relationships): its
    table, or where the catalog stores names that are not lower case ("UserId" on
    PostgreSQL), a SELECT that gives them their lower-case names."""
    source = compiled.project.sources[key]
    if not source.stored_names:
        return source_table(compiled, key)
    columns = [exp.column(source.stored_name(c), quoted=True).as_(c, quoted=True) for c in source.columns]
    return exp.select(*columns).from_(source_table(compiled, key)).subquery()


def tested_sources(compiled: CompiledProject, selected: set[str]) -> list[str]:
    """The sources a run of `selected` tests before any step reads them: what `plan` shows."""
    return _with_tests(compiled, _sources_read(compiled, selected))


def _with_tests(compiled: CompiledProject, keys: list[str]) -> list[str]:
    return [key for key in keys if compiled.source_tests.get(key)]


def run_source_tests(engine, compiled: CompiledProject, keys: list[str], not_run: dict[str, SourceBlocked] | None = None) -> dict[str, list]:
    """Data tests declared on sources (incl. freshness), run before any step reads them. A
    test the warehouse cannot run raises TestNotRun naming the source (`toolkit test`); given
    `not_run` (a run), it is kept there instead, and the source's other tests still run."""
    context = materialize.TestContext(compiled.dialect, lambda name: published_relation(compiled, name))
    tested = _with_tests(compiled, keys)
    for key in tested:  # all declarations first: none of the tests runs if one cannot
        _check_bounds(engine, compiled, key)
    return {key: _source_outcomes(engine, compiled, key, context, not_run) for key in tested}


def _source_outcomes(engine, compiled: CompiledProject, key: str, context: materialize.TestContext,
                     not_run: dict[str, SourceBlocked] | None) -> list:
    """The source's test outcomes; one its warehouse cannot run names the source and the line it was declared at."""
    outcomes, tests, source = [], compiled.source_tests[key], compiled.project.sources[key]
    while tests:
        try:
            return outcomes + run_tests(engine, source_relation(compiled, key), tests, context.dialect, context.relation_of)
        except TestNotRun as error:
            where = f"{source.file}:{_test_line(source, error.test, compiled) or 1}"
            if not_run is None:
                raise TestNotRun(error.test, error.cause, error.outcomes, f" on source {key} ({where}: a test that cannot run "
                                 "proves nothing, whatever its severity)") from error.__cause__
            # Like a failing blocking test: its readers do not run (nothing was proved of its rows), the other steps do.
            unrun = TestNotRun(error.test, error.cause, [], f" on source {key} (the steps reading it do not run: a test that "
                               "cannot run proves nothing, whatever its severity)")
            if key not in not_run:  # the first such test is the message
                not_run[key] = SourceBlocked(str(unrun), where)
            outcomes += error.outcomes
            tests = tests[len(error.outcomes) + 1:]  # those after it (error.outcomes: those before)
    return outcomes


def _check_bounds(engine, compiled: CompiledProject, key: str) -> None:
    """A between bound of another kind than the source's column (a date on a number, a
    number on a date) is the declaration's mistake, not the data's: exit 2 at its line in
    sources.toml (it was the engine's conversion error, exit 1). Known once the table is."""
    mismatched = mismatched_bound(engine, source_relation(compiled, key), compiled.source_tests[key])
    if mismatched:
        test, message = mismatched
        source = compiled.project.sources[key]
        raise ProjectError(f"source {key}: tests: {message}", source.file, _test_line(source, test, compiled),
                           hint="give bounds and values of the column's kind in warehouse/sources.toml")


_TABLE_TESTS = "table_tests"  # the key table tests are declared under, looked for like a column's
_HEADER = re.compile(r"^\s*\[\[?\s*([^\[\],=]+?)\s*\]\]?\s*(#.*)?$")


def _test_line(source, test, compiled: CompiledProject) -> int | None:
    """The line of `test` in the source's table of sources.toml (its sub-tables too: a
    [..tests] table), else the table's header line."""
    try:
        lines = (compiled.project.root / source.file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return source.line
    first = source.line or 1
    own = next((h.group(1) for h in map(_HEADER.match, lines[first - 1:]) if h), "")
    ends = (n for n in range(first + 1, len(lines) + 1) if _HEADER.match(lines[n - 1])
            and not _HEADER.match(lines[n - 1]).group(1).startswith(f"{own}."))
    section = (first, next(ends, len(lines) + 1) - 1)
    tests = compiled.source_tests[source.key]
    if test.column is None:  # a table test: its name after the table_tests key, as a column test's after its column's
        tests = [replace(t, column=_TABLE_TESTS) if t.column is None else t for t in tests]
        test = next((tests[i] for i, t in enumerate(compiled.source_tests[source.key]) if t is test), None)
        if test is None:
            return source.line
    return declared_line("\n".join(lines), test, tests, "toml", section, source.line)


def published_relation(compiled: CompiledProject, name: str) -> exp.Table:
    if name in compiled.steps:
        return compiled.steps[name].relation.copy()
    return source_relation(compiled, name)


@dataclass(frozen=True)
class SourceBlocked:
    """Why the steps reading a source do not run; `where`: the file:line its message starts at
    (a test's declaration in sources.toml), else the reading step's file."""

    message: str
    where: str | None = None

    def error(self) -> StepFailed:
        error = StepFailed(self.message)  # a new one for each reader: they fail on threads of their own
        error.where = self.where
        return error


def failed_sources(outcomes: dict[str, list]) -> dict[str, SourceBlocked]:
    """source key -> why steps reading it must not run (a blocking test failed)."""
    return {
        key: SourceBlocked(f"source {key} failed its tests: " + "; ".join(o.describe() for o in results if o.status == "fail"))
        for key, results in outcomes.items()
        if any(o.status == "fail" for o in results)
    }


def test_rows(results: list[StepResult], source_outcomes: dict[str, list]) -> list[dict]:
    """Rows for toolkit.test_results."""
    rows = [result_row(r.step, "step", o) for r in results for o in r.tests]
    return rows + [result_row(key, "source", o) for key, outcomes in source_outcomes.items() for o in outcomes]


def data_fingerprint(engine, compiled: CompiledProject, key: str) -> str:
    """What decides that a source's data changed: the files' stats for a file source,
    row count and max(watermark) where one is declared, else the engine's full-table hash."""
    source = compiled.project.sources[key]
    if source.path:
        return filesources.fingerprint(source, compiled.project.root)
    if source.watermark:
        watermark = exp.column(source.stored_name(source.watermark), quoted=True)
        rows, top = engine.fetch_rows(exp.select(exp.func("count", exp.Star()), exp.func("max", watermark))
                                      .from_(source_table(compiled, key)))[0]
        return f"watermark:{rows}:{top}"
    return engine.table_fingerprint(source_table(compiled, key))


def check_sources(engine, compiled: CompiledProject, selected: set[str]) -> CompiledProject:
    """Every source a selected step reads exists with its declared columns. Table sources
    that declare none have their catalog columns remembered (sourcecolumns.py); when those
    differ from what the project was compiled with, the project is compiled again."""
    project = compiled.project
    needed = sorted({key for name in selected for key in compiled.steps[name].sources})
    seen = {}
    for key in needed:
        source = project.sources[key]
        if source.path:  # its files were read and checked when the project compiled
            continue
        catalog = catalog_columns(engine, source)
        if source.inferred or not source.columns:
            seen[key] = catalog
            continue
        if any(name != name.lower() for name in catalog):  # remembered for their spelling (sourcecolumns.py)
            seen[key] = catalog
        stored = {name.lower(): kind for name, kind in catalog.items()}  # declared names are lower-cased by project.py
        missing = [c for c in source.columns if c not in stored]
        if missing:
            raise ProjectError(
                f"source {key}: declared column(s) {', '.join(missing)} not in {source.schema}.{source.table}",
                source.file,
                source.line,
            )
        _check_types(source, stored, engine.dialect, project.root)
    target = engine.target.name  # the catalog read is this target's (sourcecolumns.py)
    if not seen or not sourcecolumns.remember(project.root, seen, target):
        return compiled
    from toolkit.compiler import compile_project
    from toolkit.project import load_project

    return compile_project(project.root, project=load_project(project.root, config=project.config), target=target)


def catalog_columns(engine, source) -> dict[str, str]:
    actual = engine.columns(exp.table_(exp.to_identifier(source.table), db=exp.to_identifier(source.schema)))
    if actual is None:
        raise ProjectError(
            f"source {source.key} is declared but table {source.schema}.{source.table} does not exist in the target",
            source.file,
            source.line,
            hint="create it, or fix schema/table in warehouse/sources.toml",
        )
    return actual


def _check_types(source, stored: dict[str, str], dialect: str, root) -> None:
    """A declared type and the warehouse's must be of one family (bigint vs integer is
    fine, integer vs varchar is not): a column retyped upstream stops the run here,
    before any step reads it. Types sqlglot cannot read are not judged."""
    for column, declared in source.columns.items():
        want, have = type_family(declared), type_family(stored[column], dialect)
        if want and have and want != have:
            raise ProjectError(
                f"source {source.key}: column {column} is declared {declared} but is {stored[column]} in "
                f"{source.schema}.{source.table} ({have}, not {want})",
                source.file, _column_line(source, column, root), hint="fix the declaration in warehouse/sources.toml, or the table",
            )


def _column_line(source, column: str, root) -> int | None:
    """The line declaring `column` in the source's table, else the table's header line."""
    try:
        text = (root / source.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return source.line
    return line_of(text, f"{column} =", source.line or 1) or line_of(text, f"{column}=", source.line or 1) or source.line

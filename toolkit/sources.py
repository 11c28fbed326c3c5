"""Sources a run reads: that they exist with their declared columns, and their data tests."""

from __future__ import annotations

from sqlglot import exp

from toolkit import materialize
from toolkit.compiler import CompiledProject
from toolkit.datatests import result_row, run_tests
from toolkit.errors import ProjectError


def _sources_read(compiled: CompiledProject, selected: set[str]) -> list[str]:
    return sorted({key for name in selected for key in compiled.steps[name].sources})


def source_table(compiled: CompiledProject, key: str) -> exp.Table:
    source = compiled.project.sources[key]
    return exp.table_(exp.to_identifier(source.table), db=exp.to_identifier(source.schema))


def run_source_tests(engine, compiled: CompiledProject, keys: list[str]) -> dict[str, list]:
    """Data tests declared on sources (incl. freshness), run before any step reads them."""
    context = materialize.TestContext(compiled.dialect, lambda name: published_relation(compiled, name))
    return {
        key: run_tests(engine, source_table(compiled, key), compiled.source_tests[key], context.dialect, context.relation_of)
        for key in keys
        if compiled.source_tests.get(key)
    }


def published_relation(compiled: CompiledProject, name: str) -> exp.Table:
    if name in compiled.steps:
        return compiled.steps[name].relation.copy()
    return source_table(compiled, name)


def failed_sources(outcomes: dict[str, list]) -> dict[str, str]:
    """source key -> why steps reading it must not run (a blocking test failed)."""
    return {
        key: "; ".join(o.describe() for o in results if o.status == "fail")
        for key, results in outcomes.items()
        if any(o.status == "fail" for o in results)
    }


def test_rows(results: list[StepResult], source_outcomes: dict[str, list]) -> list[dict]:
    """Rows for toolkit.test_results."""
    rows = [result_row(r.step, "step", o) for r in results for o in r.tests]
    return rows + [result_row(key, "source", o) for key, outcomes in source_outcomes.items() for o in outcomes]


def check_sources(engine, compiled: CompiledProject, selected: set[str]) -> None:
    """Every source a selected step reads exists with its declared columns."""
    project = compiled.project
    needed = sorted({key for name in selected for key in compiled.steps[name].sources})
    for key in needed:
        source = project.sources[key]
        actual = engine.columns(exp.table_(exp.to_identifier(source.table), db=exp.to_identifier(source.schema)))
        if actual is None:
            raise ProjectError(
                f"source {key} is declared but table {source.schema}.{source.table} does not exist in the target",
                source.file,
                source.line,
                hint="create it, or fix schema/table in warehouse/sources.toml",
            )
        stored = {name.lower(): kind for name, kind in actual.items()}  # declared names are lower-cased by project.py
        missing = [c for c in source.columns if c not in stored]
        if missing:
            raise ProjectError(
                f"source {key}: declared column(s) {', '.join(missing)} not in {source.schema}.{source.table}",
                source.file,
                source.line,
            )
        _check_types(source, stored, engine.dialect)


def _check_types(source, stored: dict[str, str], dialect: str) -> None:
    """A declared type and the warehouse's must be of one family (bigint vs integer is
    fine, integer vs varchar is not): a column retyped upstream stops the run here,
    before any step reads it. Types sqlglot cannot read are not judged."""
    for column, declared in source.columns.items():
        want, have = type_family(declared), type_family(stored[column], dialect)
        if want and have and want != have:
            raise ProjectError(
                f"source {source.key}: column {column} is declared {declared} but is {stored[column]} in "
                f"{source.schema}.{source.table} ({have}, not {want})",
                source.file, source.line, hint="fix the declaration in warehouse/sources.toml, or the table",
            )


_FAMILIES = (
    ("number", exp.DataType.NUMERIC_TYPES),
    ("text", exp.DataType.TEXT_TYPES),
    ("time", exp.DataType.TEMPORAL_TYPES),
    ("boolean", {exp.DataType.Type.BOOLEAN}),
    ("binary", {exp.DataType.Type.VARBINARY, exp.DataType.Type.BINARY}),
)


def type_family(kind: str, dialect: str | None = None) -> str | None:
    """number | text | time | boolean | binary | the type's own name; None if unreadable."""
    for reader in dict.fromkeys([dialect, None, "duckdb", "postgres"]):
        try:
            built = exp.DataType.build(kind, dialect=reader)
            break
        except Exception:  # sqlglot raises ParseError or ValueError for a type it cannot read
            continue
    else:
        return None
    if built.this == exp.DataType.Type.USERDEFINED:
        return None
    return next((name for name, types in _FAMILIES if built.this in types), built.this.value.lower())

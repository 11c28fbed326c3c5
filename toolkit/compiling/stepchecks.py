"""Checks of what compiled, exit 2 at the file and line that is wrong: a step's
unique_key, time_column (a date or timestamp, where its type is known), described
columns and data tests name its output columns
(run once its columns are known: sqlsteps.py), the DAG has no cycle and no two steps
(or a step and a source) are published under one name (compiler.compile_project).
"""

from __future__ import annotations

import re

from toolkit.compiling.clockcolumns import is_clock_column
from toolkit.compiling.compiledstep import CompiledStep
from toolkit.compiling.steptypes import not_dated, output_types
from toolkit.dag import Dag
from toolkit.datatests import DataTest, config_line, declared_line, mark_clock
from toolkit.errors import ProjectError, did_you_mean, line_of
from toolkit.project import Project


def _check_tests_and_key(step: CompiledStep, steps: dict[str, CompiledStep], project: Project) -> None:
    """The unique key, the columns its data tests read and those config(columns=...)
    describes are output columns."""
    _check_key_columns(step)
    _check_described_columns(step)
    for test in step.data_tests if step.columns is not None else ():
        for column in test.columns():
            if column.lower() not in step.columns:
                raise ProjectError(
                    f"tests: {test.label} reads '{column}', which is not an output column of {step.name}",
                    step.file,
                    line_of(step.template, column),
                    hint=did_you_mean(column, step.columns),
                )
        if test.name == "relationships":
            _check_parent_field(step, test, steps, project)
    _check_freshness_types(step, steps, project)
    _check_time_column_type(step, steps, project)


def _check_time_column_type(step: CompiledStep, steps: dict[str, CompiledStep], project: Project) -> None:
    """An incremental step's time_column is a date or timestamp where its type is known:
    text passed the first build, then every update failed on `max(ts) - interval` with
    the engine's Binder Error (exit 1, no line). Unknown types are checked at run time
    (incremental.check_time_column)."""
    column = step.config.get("time_column")
    if (step.materialized != "incremental" or not isinstance(column, str) or step.columns is None
            or step.tree is None or step.kind != "feature"):
        return
    kind = output_types(step, steps, project).get(column.lower())
    if not_dated(kind, project.config.dialect):
        raise ProjectError(f"config time_column='{column}' is {kind.lower()}, not a date or timestamp: the lookback "
                           f"window and --start/--end intervals are times", step.file,
                           line_of(step.template, "time_column") or config_line(step.template),
                           hint="cast the column to a timestamp in the step, or name a date or timestamp column")


def _check_freshness_types(step: CompiledStep, steps: dict[str, CompiledStep], project: Project) -> None:
    """A freshness test's column is a date or timestamp where its type is known (inferred
    from declared sources and seeds): on text or a number the test failed at every run,
    casting the column's newest value to a timestamp. Each test also records whether its
    column holds toolkit's own clock (UTC: compiling/clockcolumns.py)."""
    fresh = [test for test in step.data_tests if test.name == "freshness"]
    if not fresh or step.tree is None or step.kind != "feature":
        return
    for test in fresh:  # also where the columns are unknown (a step reading a model's predictions)
        mark_clock(test, is_clock_column(step, test.args["column"], steps, project))
    if step.columns is None:
        return
    types = output_types(step, steps, project)
    for test in fresh:
        kind = types.get(test.args["column"].lower())
        if not_dated(kind, project.config.dialect):
            raise ProjectError(f"tests: {test.label}: column '{test.args['column']}' is {kind.lower()}, not a date or timestamp",
                               step.file, declared_line(step.template, test, step.data_tests, fallback=config_line(step.template)),
                               hint="point freshness at a date or timestamp column, or cast the column in the step")


def _check_key_columns(step: CompiledStep) -> None:
    """unique_key / time_column name output columns: a typo would pass the first build
    (nothing to merge yet) and fail, or merge wrongly, on the next. An incremental step
    with neither, no is_incremental() filter and no explicit strategy would append every
    row again on every run."""
    config = step.config
    if (step.materialized == "incremental" and not config.get("unique_key") and not config.get("time_column")
            and not config.get("incremental_strategy") and "is_incremental" not in step.template):
        raise ProjectError(
            f"incremental step {step.name} would append all of its rows again on every run",
            step.file, line_of(step.template, "incremental"),
            hint="give it unique_key=... (merge) or time_column=... (intervals), filter with {% if is_incremental() %}, "
                 "or say incremental_strategy='append'",
        )
    if step.columns is None:
        return
    for key in ("unique_key", "time_column"):
        value = step.config.get(key)
        for column in [value] if isinstance(value, str) else (value or []):
            if isinstance(column, str) and column.lower() not in step.columns:
                raise ProjectError(
                    f"config {key}='{column}' is not an output column of {step.name}",
                    step.file, line_of(step.template, column) or line_of(step.template, key),
                    hint=did_you_mean(column, step.columns) or f"its columns: {', '.join(step.columns)}",
                )


def _check_described_columns(step: CompiledStep) -> None:
    """config(columns={"x": "..."}) names output columns: a description of a column the
    step does not produce documents nothing. Unknown columns (a select * over a source
    with undeclared columns, before a run has seen them) are left to `toolkit docs`."""
    described = step.config.get("columns")
    if step.columns is None or not isinstance(described, dict):
        return
    for name in described:
        if name.lower() not in step.columns:
            raise ProjectError(
                f"config columns: '{name}' is not an output column of {step.name}",
                step.file, _quoted_line(step.template, name) or line_of(step.template, "columns"),
                hint=did_you_mean(name.lower(), step.columns) or f"its columns: {', '.join(step.columns)}",
            )


def _quoted_line(template: str, name: str) -> int | None:
    """The line where `name` is written as a string ("name" or 'name'), as a config key is."""
    return line_of(template, f'"{name}"') or line_of(template, f"'{name}'")


def _check_parent_field(step: CompiledStep, test: DataTest, steps: dict[str, CompiledStep], project: Project) -> None:
    parent, field_name = test.args["to"], test.args["field"].lower()
    source = project.sources.get(parent)
    columns = steps[parent].columns if parent in steps else (list(source.columns) if source.columns_known else None)
    if columns is not None and field_name not in columns:
        raise ProjectError(
            f"tests: {test.label}: {parent} has no column '{test.args['field']}'",
            step.file, line_of(step.template, "relationships"), hint=did_you_mean(field_name, columns),
        )


def _check_cycles(dag: Dag, steps: dict[str, CompiledStep]) -> None:
    cycle = dag.find_cycle()
    if cycle:
        first = steps[cycle[0]]
        hint = "a step cannot read itself; an incremental step reads {{ this }}" if len(cycle) == 2 else None
        raise ProjectError(
            f"dependency cycle: {' -> '.join(cycle)}", first.file, _reference_line(first.template, cycle[1]), hint=hint
        )


def _reference_line(template: str, name: str) -> int | None:
    """The template line that reads `name`: its ref('name'), else the first whole-word mention."""
    for pattern in (rf"ref\(\s*['\"]{re.escape(name)}['\"]", rf"\b{re.escape(name)}\b"):
        for number, text in enumerate(template.splitlines(), start=1):
            if re.search(pattern, text, re.IGNORECASE):
                return number
    return None


def _check_published_names(steps: dict[str, CompiledStep], project: Project) -> None:
    """Two steps published under one name (an alias, or a schema + alias, equal to another
    step's name) would replace each other's data, and one published over a declared source
    would replace the source: exit 2 naming both. Compared without case, as the engines do."""
    seen: dict[tuple[str, str], CompiledStep] = {}
    sources = {(s.schema.casefold(), s.table.casefold()): s for s in project.sources.values()}
    for step in steps.values():
        source = sources.get((step.published.db.casefold(), step.published.name.casefold()))
        if source is not None and step.kind == "seed":  # a seed has no config(): its file name is its table's
            raise ProjectError(f"seed {step.name} would be published as {source.schema}.{source.table}, the source "
                               f"{source.key} declared at {source.file}:{source.line}", step.file,
                               hint=f"rename the seed's file, or the source's table (seeds are published in schema {step.published.db})")
        if source is not None:
            raise ProjectError(f"{step.name} would be published as {source.schema}.{source.table}, the source {source.key}",
                               step.file, line_of(step.template or "", "alias") or line_of(step.template or "", "schema"),
                               hint="give config(alias=...)/config(schema=...) a name no source has")
        published = step.published
        for name in [published.name + suffix for suffix in step.strategy.published_suffixes]:
            key = (published.db.casefold(), name.casefold())
            other = seen.get(key)
            if other is not None:
                raise ProjectError(
                    f"{published.db}.{name} would be published by both {other.name} ({other.file}) and {step.name}",
                    step.file, line_of(step.template or "", "alias") or line_of(step.template or "", "schema"),
                    hint="config(alias=...) and config(schema=...) must give every step a name of its own",
                )
            seen[key] = step

"""Column types inferred through the DAG (sqlglot's annotate_types over the declared
types of sources and seeds): what an ibis step's inputs are typed as (pythonsteps.py)
and what a step's integer casts cast (cast_types, for sql.to_target and portability).
Read from compiled steps only; nothing here changes them.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from sqlglot import exp

from toolkit import sql
from toolkit.compiling.compiledstep import CompiledStep
from toolkit.project import Project

if TYPE_CHECKING:
    from toolkit.compiling.compiledproject import CompiledProject


def cast_types(compiled: CompiledProject):
    """step -> what its integer casts cast (meanings.cast_types, for sql.to_target), typed from
    the declared sources and seeds and the steps' inferred output types: `toolkit compile`
    shows the rounding a target adds (Spark) only where a run adds it too."""
    from toolkit import argminmax, meanings, pgmeanings

    if compiled.cast_typer is not None:
        return compiled.cast_typer
    known: dict[str, dict[str, str | None]] = {}
    position = {name: index for index, name in enumerate(compiled.dag.order())}

    def type_upstream(step: CompiledStep) -> None:
        """Infer the output types of the feature steps `step` reads, directly or not, in DAG
        order: a step's types are inferred from its inputs' only. Not every step before it
        (that typed, and parsed from the compile cache, steps nothing asked about: each of
        500 steps walked the DAG order up to itself)."""
        ancestors, stack = set(), list(step.upstream)
        while stack:
            name = stack.pop()
            if name not in ancestors and name not in known and name in compiled.steps:
                ancestors.add(name)
                stack.extend(compiled.steps[name].upstream)
        for name in sorted(ancestors, key=position.__getitem__):
            other = compiled.steps[name]
            if other.kind == "feature" and other.tree is not None and other.columns is not None:
                known[name] = _output_types(other, compiled.steps, compiled.project, known)

    def types(step: CompiledStep, write: str | None = None):
        """`write`: the dialect written; for postgres, what orders text is typed too
        (pgmeanings.TEXT_ORDERED: collated "C" there), never for another (the cost of typing)."""
        if step.tree is None:
            return None
        orders = write == "postgres"
        if not any(meanings.typed(node) or orders and (isinstance(node, pgmeanings.TEXT_ORDERED) or argminmax.ordering_key(node))
                   for node in step.tree.find_all(exp.Expression)):
            return None
        type_upstream(step)
        schema = _typed_inputs(step, compiled.steps, compiled.project, known)
        typer = meanings.cast_types(step.tree, schema, compiled.dialect, orders=orders)
        if typer is not None:
            meanings.keep_step_families(step.tree, typer)
        return typer

    compiled.cast_typer = types
    return types


def _output_types(step: CompiledStep, steps: dict[str, CompiledStep], project: Project, known: dict,
                  metadata: dict | None = None) -> dict[str, str | None]:
    """{column: type in the project dialect, or None} of a checked SQL step, as far as
    sqlglot can infer them from the types of what it reads (with `metadata`'s rules, if given)."""
    from sqlglot.optimizer.annotate_types import annotate_types

    dialect = project.config.dialect
    schema = _typed_inputs(step, steps, project, known)
    try:
        selects = annotate_types(step.tree.copy(), schema=schema, dialect=dialect,
                                 expression_metadata=metadata or _expression_metadata(dialect)).selects
    except Exception:  # inference is a help, not a check: unknown types are cast in the ibis step
        return {c: None for c in step.columns}
    unknown = (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL)
    return {s.alias_or_name: None if s.type is None or s.type.this in unknown else s.type.sql(dialect) for s in selects}


@functools.cache
def _expression_metadata(dialect: str) -> dict:
    """sqlglot's typing rules for `dialect`, with what it gets wrong about the engines
    toolkit runs on corrected: a timestamp minus a timestamp is an INTERVAL (not a
    TIMESTAMP: an ibis step would call timestamp methods that fail at run time), a date
    minus a date a number of days, median() and first()/last()/arg_max() typed from
    their argument as DuckDB and PostgreSQL type them (not UNKNOWN), DuckDB's sum of integers
    a HUGEINT (a // of it divides integers, as DuckDB's does: not a decimal's double one)."""
    from sqlglot.dialects.dialect import Dialect

    metadata = dict(Dialect.get_or_raise(dialect).EXPRESSION_METADATA)
    subtract = metadata.get(exp.Sub, {}).get("annotator")
    days = {"duckdb": exp.DType.BIGINT, "postgres": exp.DType.INT}.get(dialect)

    def annotate_sub(annotator, expression):
        subtract(annotator, expression) if subtract else annotator._annotate_binary(expression)
        left, right = expression.left, expression.right
        if left.is_type(*_TIMESTAMPS) and right.is_type(*_TIMESTAMPS):
            annotator._set_type(expression, exp.DType.INTERVAL)
        elif days is not None and left.is_type(exp.DType.DATE) and right.is_type(exp.DType.DATE):
            annotator._set_type(expression, days)
        return expression

    def annotate_median(annotator, expression):
        this = expression.this
        if this.is_type(*exp.DataType.INTEGER_TYPES, *exp.DataType.REAL_TYPES - {exp.DType.DECIMAL}):
            return annotator._set_type(expression, exp.DType.DOUBLE)
        if this.is_type(exp.DType.DATE):
            return annotator._set_type(expression, exp.DType.TIMESTAMP)
        return annotator._annotate_by_args(expression, "this")

    def annotate_sum(annotator, expression):
        if dialect == "duckdb" and expression.this.is_type(*exp.DataType.INTEGER_TYPES):
            return annotator._set_type(expression, exp.DType.INT128)  # DuckDB sums integers as a HUGEINT
        return summed(annotator, expression) if summed else annotator._annotate_by_args(expression, "this")

    summed = metadata.get(exp.Sum, {}).get("annotator")
    metadata[exp.Sum] = {"annotator": annotate_sum}
    metadata[exp.Sub] = {"annotator": annotate_sub}
    metadata[exp.Median] = {"annotator": annotate_median}
    for kind in (exp.First, exp.Last, exp.ArgMax, exp.ArgMin):  # the value of one of the rows
        metadata[kind] = {"annotator": lambda annotator, expression: annotator._annotate_by_args(expression, "this")}
    return metadata


_TIMESTAMPS = {exp.DType.TIMESTAMP, exp.DType.TIMESTAMPTZ, exp.DType.TIMESTAMPLTZ, exp.DType.TIMESTAMPNTZ,
               exp.DType.TIMESTAMP_S, exp.DType.TIMESTAMP_MS, exp.DType.TIMESTAMP_NS}


def _typed_inputs(step: CompiledStep, steps: dict[str, CompiledStep], project: Project, known: dict) -> dict:
    """db -> table -> column -> type (or "unknown") of what `step` reads."""
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for name in step.upstream:
        parent = steps[name]
        if parent.kind == "seed":
            seed = project.seeds[name]
            types = {c: seed.column_types.get(c) for c in parent.columns or ()}
        else:
            types = known.get(name) or {c: None for c in parent.columns or ()}
        schema.setdefault(parent.relation.db, {})[parent.relation.name] = {c: t or "unknown" for c, t in types.items()}
    for key in step.sources:
        source = project.sources[key]
        schema.setdefault(source.schema.lower(), {})[source.table.lower()] = {c: t or "unknown" for c, t in source.columns.items()}
    return schema


def typed_inputs(compiled: CompiledProject, step: CompiledStep, metadata: dict | None = None) -> dict:
    """db -> table -> column -> type (or "unknown") of what `step` reads, the feature steps
    it reads (directly or not) typed parents first with `metadata` (sqlglot's typing rules;
    None: _expression_metadata's of the project's dialect)."""
    ancestors, stack = set(), list(step.upstream)
    while stack:
        name = stack.pop()
        if name not in ancestors and name in compiled.steps:
            ancestors.add(name)
            stack.extend(compiled.steps[name].upstream)
    position = {name: index for index, name in enumerate(compiled.dag.order())}
    known: dict[str, dict[str, str | None]] = {}
    for name in sorted(ancestors, key=position.__getitem__):
        other = compiled.steps[name]
        if other.kind == "feature" and other.tree is not None and other.columns is not None:
            known[name] = _output_types(other, compiled.steps, compiled.project, known, metadata)
    return _typed_inputs(step, compiled.steps, compiled.project, known)


def output_types(step: CompiledStep, steps: dict[str, CompiledStep], project: Project) -> dict[str, str | None]:
    """{column: inferred type, or None} of a checked SQL step, the feature steps it reads
    (directly or not) typed first, parents before children."""
    known: dict[str, dict[str, str | None]] = {}
    pending = [(step.name, False)]
    while pending:  # depth first, a step after its parents (no recursion: chains of steps may be long)
        name, parents_done = pending.pop()
        other = steps.get(name)
        if name in known or other is None or other.kind != "feature" or other.tree is None or other.columns is None:
            continue
        if parents_done:
            known[name] = _output_types(other, steps, project, known)
        else:
            pending.append((name, True))
            pending.extend((parent, False) for parent in other.upstream if parent not in known)
    return known.get(step.name) or {c: None for c in step.columns or ()}


_DATED = exp.DataType.TEMPORAL_TYPES - {exp.DataType.Type.TIME, exp.DataType.Type.TIMETZ}


def not_dated(kind: str | None, dialect: str) -> bool:
    """A known type that is not a date or timestamp (a freshness test's column must be one)."""
    built = sql.data_type(kind, dialect) if kind else None
    unknown = (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL, exp.DataType.Type.USERDEFINED)
    return built is not None and built.this not in unknown and built.this not in _DATED

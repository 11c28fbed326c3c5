"""Columns that hold toolkit's own clock: UTC wall times.

toolkit stamps what it writes with clock.now(), a naive UTC time (a TIMESTAMP without
zone, as it always has: published types stay as they are): a model's `scored_at` (its
predictions and <model>_history) and the times in toolkit's own tables (runs, step_runs,
test_results, model_versions, monitoring, ...; not `intervals`, whose bounds are wall
times of the project's time_zone). A freshness test read every TIMESTAMP as a wall time
of the project's time_zone, so such a column looked an offset older east of UTC and
younger west of it (stale predictions passed in America/Los_Angeles). Here compile
time finds the freshness columns that hold toolkit's clock, so the test reads them as
UTC (datatests._stale): a source that is one of those tables, or a step column carried
from one - as it is, cast to a timestamp or date, truncated, or its max/min - per column lineage.
"""

from __future__ import annotations

from sqlglot import exp

from toolkit.compiling.compiledstep import CompiledStep
from toolkit.project import Project, Source

# What keeps a clock value a UTC wall time (a column carried, truncated or aggregated);
# anything else (arithmetic, AT TIME ZONE, another column mixed in) is not toolkit's clock.
_CARRYING = (exp.Alias, exp.Column, exp.Identifier, exp.Paren, exp.Max, exp.Min, exp.AnyValue, exp.Cast, exp.TryCast,
             exp.DataType, exp.DataTypeParam, exp.TimestampTrunc, exp.DateTrunc, exp.DatetimeTrunc, exp.Var, exp.Literal,
             exp.Table, exp.TableAlias)
_WALL_TYPES = {exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ, exp.DataType.Type.DATETIME,
               exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP_S, exp.DataType.Type.TIMESTAMP_MS,
               exp.DataType.Type.TIMESTAMP_NS}
_INTERVAL_TABLES = {"intervals"}  # bounds are wall times of the project's time_zone, not toolkit's clock


def state_clock_columns() -> dict[str, set[str]]:
    """toolkit table -> its TIMESTAMP columns stamped with clock.now()."""
    from toolkit import stateschema

    found = {}
    for table in stateschema.TABLES:
        if table.name in _INTERVAL_TABLES:
            continue
        columns = {d.name.lower() for d in table._create.this.expressions
                   if isinstance(d, exp.ColumnDef) and d.args.get("kind") is not None and d.args["kind"].this in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ)}
        if columns:
            found[table.name] = columns
    return found


def source_clock_columns(source: Source, project: Project) -> set[str]:
    """The columns of a source that is a toolkit table (or a model's predictions, or their
    history) holding toolkit's clock."""
    from toolkit.project import PREDICTIONS_SCHEMA
    from toolkit.stateschema import SCHEMA

    schema, table = source.schema.lower(), source.table.lower()
    if schema == SCHEMA:
        return state_clock_columns().get(table, set())
    models = {name.lower() for name in project.models}
    if schema == PREDICTIONS_SCHEMA and (table in models or table.removesuffix("_history") in models):
        return {"scored_at"}
    return set()


MIXED = "mixed"  # toolkit's clock and something else: read both ways, the older reading decides


def is_clock_column(step: CompiledStep, column: str, steps: dict[str, CompiledStep], project: Project) -> bool | str:
    """Whether `column` of feature step `step` is carried (per _CARRYING) from toolkit clock
    columns only (True); MIXED when it is made from one in some other way (coalesce with a
    literal, a FILTER, a CASE, another column): a UTC and a wall time cannot be told apart
    there, and reading it as a wall time alone passed stale predictions west of UTC."""
    return _clock(step, column.lower(), steps, project, {})


def _clock(step: CompiledStep, column: str, steps: dict, project: Project, memo: dict) -> bool | str:
    key = (step.name, column)
    if key not in memo:
        memo[key] = False  # a cycle is refused elsewhere; never loop here
        memo[key] = _carried_from_clock(step, column, steps, project, memo)
    return memo[key]


def _carried_from_clock(step: CompiledStep, column: str, steps: dict, project: Project, memo: dict) -> bool | str:
    from toolkit.lineage import _column_name
    if step.kind == "model":
        return column == "scored_at"
    if step.kind != "feature" or step.tree is None or not step.strategy.from_template:
        return False
    node = _lineage_node(step, column, steps, project)
    if node is None:
        return False
    carried, leaves = True, []
    for child in node.walk():
        if not all(isinstance(part, _CARRYING) and _keeps_wall_time(part) for part in child.expression.walk()):
            carried = False
        if isinstance(child.source, exp.Table) and child.source.name and not child.downstream:
            leaves.append((f"{child.source.db}.{child.source.name}".lower(), _column_name(child.name, project.config.dialect)))
    kinds = [_leaf_is_clock(relation, name, steps, project, memo) for relation, name in leaves]
    if kinds and carried and all(kind is True for kind in kinds):
        return True
    return MIXED if any(kinds) else False


def _keeps_wall_time(node: exp.Expression) -> bool:
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return node.to.this in _WALL_TYPES
    return True


def _leaf_is_clock(relation: str, column: str, steps: dict, project: Project, memo: dict) -> bool | str:
    for step in steps.values():
        if f"{step.relation.db}.{step.relation.name}".lower() == relation:
            return _clock(step, column, steps, project, memo)
    for source in project.sources.values():
        if f"{source.schema}.{source.table}".lower() == relation:
            return column in source_clock_columns(source, project)
    return False


def _lineage_node(step: CompiledStep, column: str, steps: dict, project: Project):
    """sqlglot's lineage node of one output column (None where it cannot follow it)."""
    from sqlglot.errors import SqlglotError
    from sqlglot.lineage import lineage as sqlglot_lineage

    from toolkit.lineage import SCORE_COLUMNS, _in_catalog_names, schema_of

    schema = schema_of(steps, project.sources)
    for other in steps.values():  # a model's published columns include what toolkit writes
        if other.kind == "model":
            table = schema.setdefault(other.relation.db, {}).setdefault(other.relation.name, {})
            table.update({c: "text" for c in SCORE_COLUMNS if c not in table})
    try:
        return sqlglot_lineage(column, _in_catalog_names(step.tree), schema=schema, dialect=project.config.dialect)
    except (SqlglotError, KeyError, ValueError):
        return None

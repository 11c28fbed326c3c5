"""How each materialization builds into its physical relation and is published.

build     table | view | seed: create a new physical relation no reader sees
update    incremental with an unchanged definition: merge or append new rows into
          the existing physical table, tested and committed in one transaction
publish   point the published name at the physical relation, in one transaction
          with the state row that records it
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlglot import exp

from toolkit.compiler import CompiledStep
from toolkit.stepconfig import lookback_interval
from toolkit.datatests import Outcome, run_tests
from toolkit.errors import StepFailed


@dataclass(frozen=True)
class TestContext:
    """What data tests need besides the table: the SQL dialect of their expressions
    and where a relationships test finds its parent."""

    dialect: str
    relation_of: Callable[[str], exp.Table]

    def reading(self, name: str, table: exp.Table) -> "TestContext":
        """The same, except that `name` is read from `table` (the step under test)."""
        return TestContext(self.dialect, lambda other: table.copy() if other == name else self.relation_of(other))


def create(kind: str, physical: exp.Table, query: exp.Expression) -> exp.Create:
    return exp.Create(this=physical, kind=kind, expression=query)


def build(engine, step: CompiledStep, physical: exp.Table, query: exp.Expression | None, read_seed) -> int | None:
    """Create the physical relation; rows written (None for views)."""
    if step.materialized == "seed":
        data = read_seed()
        engine.create_table_from_arrow(physical, data)
        return data.num_rows
    if step.materialized == "view":
        engine.execute(create("VIEW", physical, query))
        # Creating a view only binds it; reading every column of every row is what
        # proves it runs (a bad cast fails only then), so do that before publishing.
        return engine.read_fully(physical)
    return engine.create_table_as(physical, query)


class TestsFailed(StepFailed):
    """A blocking data test failed; `outcomes` holds every test's result."""

    def __init__(self, outcomes: list[Outcome]):
        self.outcomes = outcomes
        failed = [o.describe() for o in outcomes if o.status == "fail"]
        super().__init__("data tests failed, not published: " + "; ".join(failed))


def check(engine, step: CompiledStep, physical: exp.Table, tests: TestContext) -> list[Outcome]:
    """Run the step's data tests on its unpublished relation; raise if a blocking one fails."""
    tests = tests.reading(step.name, physical)
    outcomes = run_tests(engine, physical, step.data_tests, tests.dialect, tests.relation_of)
    if any(o.status == "fail" for o in outcomes):
        raise TestsFailed(outcomes)
    return outcomes


def update_incremental(engine, step: CompiledStep, physical: exp.Table, query: exp.Expression, staging: exp.Table, tests: TestContext) -> tuple[int, list[Outcome]]:
    """Bring new rows into the existing physical table; (rows inserted, test outcomes).

    merge (unique_key): rows whose key arrives again are replaced.
    append (time_column): the query's rows at or after max(time_column) - lookback
    replace the table's rows from the earliest new time on (late data inside the
    window is picked up, nothing the query did not return again is lost).
    append (neither): the query's rows are added, as in dbt, where the template
    filters with `{% if is_incremental() %}`.
    The new rows are computed into a staging table first (the query may read the
    table it updates), then deleted-and-inserted, tested and committed together.
    """
    window = exp.table_(staging.name + "_window", db=staging.db)
    for leftover in (staging, window):  # a killed run may have left them behind
        engine.drop(leftover)
    try:
        stale = _stage_new_rows(engine, step, physical, query, staging, window)
        with engine.transaction():
            columns = list(engine.columns(physical) or {})
            if stale is not None:
                engine.execute(exp.delete(physical, where=stale))
            engine.execute(exp.insert(exp.select(*columns).from_(staging), physical, columns=columns))
            outcomes = check(engine, step, physical, tests)
        return engine.count_rows(staging), outcomes
    finally:
        engine.drop(staging)
        engine.drop(window)


def _stage_new_rows(engine, step, physical, query, staging, window) -> exp.Expression | None:
    """Fill `staging` with the rows to bring in; the condition for rows they replace."""
    if step.key_columns and step.config.get("incremental_strategy") != "append":
        engine.execute(create("TABLE", staging, query))
        keys = exp.Tuple(expressions=[exp.column(k) for k in step.key_columns])
        return keys.isin(query=exp.select(*[exp.column(k) for k in step.key_columns]).from_(staging).subquery())
    if "time_column" not in step.config:  # plain append: the query's own filter picks new rows
        engine.execute(create("TABLE", staging, query))
        return None
    time_column = exp.column(step.config["time_column"])
    since = exp.Sub(this=exp.Max(this=time_column), expression=lookback_interval(step.config.get("lookback")))
    engine.execute(create("TABLE", window, exp.select(since.as_("since")).from_(physical)))
    start = exp.select("since").from_(window).subquery()
    in_window = exp.or_(start.is_(exp.null()), exp.GTE(this=time_column.copy(), expression=start))
    engine.execute(create("TABLE", staging, exp.select("*").from_(query.subquery("new_rows")).where(in_window)))
    earliest_new = exp.select(exp.Min(this=time_column.copy())).from_(staging).subquery()
    return exp.GTE(this=time_column.copy(), expression=earliest_new)


def _append_history(engine, relation: exp.Table, physical: exp.Table) -> None:
    """Keep every run's predictions queryable: <schema>.<model>_history."""
    history = exp.table_(f"{relation.name}_history", db=relation.db)
    empty = exp.select("*").from_(physical).where(exp.false())
    create_history = create("TABLE", history, empty)
    create_history.set("exists", True)
    engine.execute(create_history)
    engine.execute(exp.insert(exp.select("*").from_(physical), history))


def publish(engine, state, steps: list[tuple], run_id: int, env: str = "prod") -> None:
    """Point each step's published name at its physical relation, all in one transaction.

    steps: (compiled step, physical table, its planning.Planned, physical names a view reads)

    Several finished steps are published together (group commit): a commit costs
    about as much as building a small table, and no reader can tell the difference.
    The published name is the environment's (planned.relation: features.x in prod,
    features__dev.x in dev).
    """
    with engine.transaction():
        for step, physical, planned, _ in steps:
            relation = planned.relation if planned.relation is not None else step.relation
            point(engine, relation, physical)
            if step.kind == "model":
                _append_history(engine, relation, physical)
        state.record_published(
            [
                (step.name, (planned.relation if planned.relation is not None else step.relation).sql(), physical.name,
                 planned.fingerprint, planned.definition, step.materialized, reads, planned.extra())
                for step, physical, planned, reads in steps
            ],
            run_id,
            env,
        )


def point(engine, relation: exp.Table, physical: exp.Table) -> None:
    """Point the view `relation` at `physical` (the engine knows how: PostgreSQL cannot
    CREATE OR REPLACE a view whose columns change)."""
    engine.replace_view(relation, exp.select("*").from_(physical))


def time_span(engine, physical: exp.Table, time_column: str):
    """[min, max + 1 microsecond) of the time column, or None for an empty table."""
    column = exp.column(time_column)
    low, high = engine.fetch_rows(exp.select(exp.Min(this=column), exp.Max(this=column.copy())).from_(physical))[0]
    if low is None or not hasattr(low, "year"):
        return None
    from datetime import datetime, time, timedelta

    as_time = lambda v: v if isinstance(v, datetime) else datetime.combine(v, time())  # noqa: E731
    return as_time(low), as_time(high) + timedelta(microseconds=1)


def interval_tree(compiled, step: CompiledStep, start, end) -> exp.Query:
    """The step's query rendered with `start`/`end` set (a backfill); `this` reads the step itself."""
    from toolkit import sql
    from toolkit.compiler import _parse, resolve_references

    path = compiled.project.root / step.file
    bounds = [value.isoformat(sep=" ") for value in (start, end)]
    rendered, _, bindings = compiled.renderer.render(path, step.name, this=step.relation.sql(), start=bounds[0], end=bounds[1])
    variant = CompiledStep(step.name, step.kind, step.file, step.materialized, step.relation, template=step.template, rendered=rendered)
    tree = _parse(rendered, compiled.project.steps[step.name], step.file, compiled.dialect, bindings)
    return sql.normalize(resolve_references(variant, tree, compiled.names, compiled.dialect, allow_self=True), compiled.dialect)


def backfill(engine, step: CompiledStep, physical: exp.Table, query: exp.Expression, staging: exp.Table, tests: TestContext, start, end) -> tuple[int, list[Outcome]]:
    """Replace the rows of [start, end) (by time_column) with the query's rows of that interval,
    tested and committed in one transaction."""
    column = exp.column(step.config["time_column"])

    def within() -> exp.Expression:
        low = exp.cast(exp.Literal.string(start.isoformat(sep=" ")), "timestamp")
        high = exp.cast(exp.Literal.string(end.isoformat(sep=" ")), "timestamp")
        return exp.and_(exp.GTE(this=column.copy(), expression=low), exp.LT(this=column.copy(), expression=high))

    engine.drop(staging)
    try:
        engine.execute(create("TABLE", staging, exp.select("*").from_(query.subquery("new_rows")).where(within())))
        with engine.transaction():
            columns = list(engine.columns(physical) or {})
            engine.execute(exp.delete(physical, where=within()))
            engine.execute(exp.insert(exp.select(*columns).from_(staging), physical, columns=columns))
            outcomes = check(engine, step, physical, tests)
        return engine.count_rows(staging), outcomes
    finally:
        engine.drop(staging)

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


def _append_history(engine, step: CompiledStep, physical: exp.Table) -> None:
    """Keep every run's predictions queryable: <schema>.<model>_history."""
    history = exp.table_(f"{step.relation.name}_history", db=step.relation.db)
    empty = exp.select("*").from_(physical).where(exp.false())
    create_history = create("TABLE", history, empty)
    create_history.set("exists", True)
    engine.execute(create_history)
    engine.execute(exp.insert(exp.select("*").from_(physical), history))


def publish(engine, state, steps: list[tuple], run_id: int) -> None:
    """Point each step's published name at its physical relation, all in one transaction.

    steps: (compiled step, physical table, its execute.Planned, physical names a view reads)

    Several finished steps are published together (group commit): a commit costs
    about as much as building a small table, and no reader can tell the difference.
    """
    with engine.transaction():
        for step, physical, _, _ in steps:
            engine.replace_view(step.relation, exp.select("*").from_(physical))
            if step.kind == "model":
                _append_history(engine, step, physical)
        state.record_published(
            [
                (step.name, step.relation.sql(), physical.name, planned.fingerprint, planned.definition, step.materialized, reads)
                for step, physical, planned, reads in steps
            ],
            run_id,
        )

"""What every materialization shares: data tests on an unpublished relation, and the
publish step. How each kind builds is its strategy's (toolkit/materializations/).

check     run a step's data tests on its unpublished relation; raise if a blocking one fails
publish   point the published names of a batch of built steps at their physical
          relations, run their post_hooks (toolkit/hooks.py) and record them in the
          state (Engine.publish: one transaction where the engine has transactional DDL)
realign   where it has not, point views back at what the state records after a
          publish that failed or died half-way
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial
from typing import Callable

from sqlglot import exp

from toolkit import hooks
from toolkit.datatests import DataTest, Outcome, TestNotRun, config_line, declared_line, mismatched_bound, run_tests
from toolkit.engines.base import Swap
from toolkit.errors import ProjectError, StepFailed
from toolkit.state import PHYSICAL_SCHEMA, Published


@dataclass(frozen=True)
class TestContext:
    """What data tests need besides the table: the SQL dialect of their expressions
    and where a relationships test finds its parent."""

    dialect: str
    relation_of: Callable[[str], exp.Table]

    def reading(self, name: str, table: exp.Table) -> "TestContext":
        """The same, except that `name` is read from `table` (the step under test)."""
        return TestContext(self.dialect, lambda other: table.copy() if other == name else self.relation_of(other))


@dataclass(frozen=True)
class Publication:
    """One built step on its way to being published: where, from what, and its state row."""

    relation: exp.Table  # the environment's published name
    physical: exp.Table
    row: Published
    strategy: object  # materializations.Materialization: publish extras
    replaces: exp.Table | None = None  # the step's earlier published name in this env (alias/schema changed)
    hooks: tuple = ()  # hooks.Hook: the step's post_hooks, run right after its name is pointed
    after_publish: object = None  # a model's modelrun.Promotion: the runner settles it once publishing succeeded or failed


# The longest suffix a physical name gets (an incremental update's window table).
STAGING_SUFFIX = "__staging_window"


def physical_table(step: str, fingerprint: str, run_id: int, limit: int | None = None) -> exp.Table:
    """toolkit_physical.<step>__<fingerprint12>__r<run>, fitting the engine's identifier
    limit (in bytes) with room for the staging suffixes: a step name too long for it is
    cut and followed by a hash of the whole name, so two names never meet."""
    tail = f"__{fingerprint[:12]}__r{run_id}"
    name = step + tail
    if limit is not None and len(name.encode()) + len(STAGING_SUFFIX) > limit:
        digest = "_" + hashlib.sha256(step.encode()).hexdigest()[:8]
        budget = limit - len(STAGING_SUFFIX) - len(tail) - len(digest)
        name = step.encode()[:max(budget, 1)].decode(errors="ignore") + digest + tail
    return exp.table_(name, db=PHYSICAL_SCHEMA)


def create(kind: str, physical: exp.Table, query: exp.Expression) -> exp.Create:
    return exp.Create(this=physical, kind=kind, expression=query)


class TestsFailed(StepFailed):
    """A blocking data test failed; `outcomes` holds every test's result."""

    def __init__(self, outcomes: list[Outcome], published: bool = False, step: str | None = None, live: str | None = None):
        self.outcomes = outcomes
        failed = [o for o in outcomes if o.status == "fail"]
        # Failures all in one test file of their own (a custom test) point there, not at the step's file.
        places = {o.test.where for o in failed}
        self.where = places.pop() if len(places) == 1 and None not in places else None
        # A re-test of the published table (only its tests changed) unpublishes nothing.
        what = "on the published table (it stays as it is)" if published else "not published"
        if live:  # a view published before reads its sources as they are now: it is not "as it was"
            what = f"not re-published; {live}"
        of = f" on {step}" if step and self.where else ""  # the message starts at the test's file: name the step it tested
        super().__init__(f"data tests failed{of}, {what}: " + "; ".join(o.describe(located=self.where is None) for o in failed))


def check(engine, step, physical: exp.Table, tests: TestContext, published: bool = False,
          only: Callable[[DataTest], bool] | None = None) -> list[Outcome]:
    """Run the step's data tests (those `only` keeps) on its unpublished relation (or,
    `published`, on the one readers already see); raise if a blocking one fails."""
    tests = tests.reading(step.name, physical)
    chosen = [test for test in step.data_tests if only is None or only(test)]
    refuse_mismatched(engine, step, physical, chosen)
    try:
        outcomes = run_tests(engine, physical, chosen, tests.dialect, tests.relation_of)
    except TestNotRun as error:
        raise _located(error, step, published) from error.__cause__
    if any(o.status == "fail" for o in outcomes):
        raise TestsFailed(outcomes, published, step.name)
    return outcomes


def _located(error: TestNotRun, step, published: bool) -> TestNotRun:
    """The test that could not run, where it is declared (the runner starts the message there)
    and what that means for the step: like a blocking failure, whatever the test's severity."""
    template = step.template or ""
    test = error.test
    where = test.where or f"{step.file}:{declared_line(template, test, step.data_tests, fallback=config_line(template)) or 1}"
    what = "the published table stays as it is" if published else f"{step.name} is not published"
    located = TestNotRun(test, error.cause, error.outcomes, f" on {step.name} ({what}: a test that cannot run proves nothing, "
                                                             "whatever its severity)")
    located.where = where
    return located


def refuse_mismatched(engine, step, relation: exp.Expression, tests: list[DataTest]) -> None:
    """A bound or accepted value of another kind than its column is the step's mistake, not
    its data: exit 2 at the test, before the engine's conversion error (exit 1)."""
    mismatched = mismatched_bound(engine, relation, tests)
    if mismatched:
        test, message = mismatched
        template = step.template or ""
        line = declared_line(template, test, step.data_tests, fallback=config_line(template))
        raise ProjectError(f"tests: {message}", step.file, line,
                           hint="give bounds and values of the column's kind, or cast the column in the step")


def publish(engine, state, batch: list[Publication], run_id: int, env: str = "prod") -> None:
    """Point each step's published name at its physical relation and record it.

    Several finished steps are published together (group commit): a commit costs
    about as much as building a small table, and no reader can tell the difference.
    The published name is the environment's (features.x in prod, features__dev.x in dev).
    """
    swaps = [Swap(item.relation, item.physical, partial(_after_point, item)) for item in batch]
    moved = [item.replaces for item in batch if item.replaces is not None]  # dropped in the same commit
    commit(engine, state, swaps, moved, record=lambda: state.record_published([item.row for item in batch], run_id, env))


def _after_point(item: Publication, engine) -> None:
    """Inside the publishing transaction: the strategy's extras, then the step's hooks
    (publishing re-created the view, so its comments and grants are applied again)."""
    item.strategy.after_point(engine, relation=item.relation, physical=item.physical)
    hooks.run(engine, item.hooks, item.relation, item.physical)


def unpublish(engine, state, relations: dict[str, str], env: str, gone=frozenset(), run_id: int | None = None) -> None:
    """Drop the published names of deleted steps and forget them (their physical
    relations are then unreferenced, and dropped at the end of the run); `env`'s deleted
    steps become `gone` (the project's steps some environment publishes: promote's)."""
    drops = [exp.to_table(relation) for relation in relations.values() if relation]

    def record() -> None:
        if relations:
            state.forget_published(env, list(relations))
        state.replace_deleted(env, set(gone) | set(relations), run_id)

    commit(engine, state, [], drops, record=record)


def commit(engine, state, swaps: list[Swap], drops: list[exp.Table] = (), record=None) -> None:
    """Change published views and the state rows that record them, through the engine's
    publish (engines/base.py says what it guarantees on each kind of engine). A state
    store of its own commits after the warehouse: the state is the point of truth."""
    together = state.engine is engine
    try:
        engine.publish(swaps, drops, record if together else None)
    except BaseException:
        if not (together or engine.SUPPORTS_TRANSACTIONAL_DDL):
            # The drops and the swaps before the failing one were applied and will never be
            # recorded: the swapped-to tables are unreferenced and dropped at the end of the
            # run. Point those views back where the state says (a dropped one the state
            # still records comes back) before anything drops them.
            realign(engine, state, {_key(swap.relation) for swap in swaps} | {_key(view) for view in drops})
        raise
    if record is not None and not together:
        record()


def realign(engine, state, relations: set[tuple[str, str]] | None = None) -> list[str]:
    """Point published views (all, or those in `relations` as (schema, name)) at the
    physical relations the state records; a view in `relations` the state does not
    record is dropped. Needed only where publishing is not one transaction with the
    state: a run that died or failed between its swaps and its state commit left views
    on tables the state does not know, which the next run would drop from under them.
    Returns the views changed."""
    existing = engine.relations(PHYSICAL_SCHEMA)
    swaps, recorded = [], set()
    for env in state.environments():
        for row in state.published(env).values():
            relation = exp.to_table(row.relation)
            recorded.add(_key(relation))
            if (relations is None or _key(relation) in relations) and row.physical_name in existing:
                swaps.append(Swap(relation, exp.table_(row.physical_name, db=PHYSICAL_SCHEMA)))
    drops = [exp.table_(name, db=db) for db, name in sorted((relations or set()) - recorded)]
    engine.publish(swaps, drops)
    return sorted(swap.relation.sql() for swap in swaps) + [drop.sql() for drop in drops]


def _key(relation: exp.Table) -> tuple[str, str]:
    return relation.db, relation.name

"""The plan: what each selected step will do in a run, and why. Read-only.

    fingerprints (column-aware, fingerprint.py) vs. what the environment publishes
    -> per step an actions.Action (build | rebuild | reuse | incremental | inline)
       with an actions.Reason (new, sql_changed + a short semantic diff,
       config_changed, upstream_changed, source_changed, schedule_due / not_due,
       forced, physical_missing, published_missing ...)

Each step's materialization strategy decides (toolkit/materializations/); this
module gathers what they decide from. The plan and its items are frozen values:
`toolkit plan` renders them (explain.py) and `toolkit run` executes exactly them.
Planning reads the warehouse (published state, source fingerprints, which
physical and published relations exist) and never writes; it works before the
state schema exists.

Environments: prod is the default. Another environment (`--env dev`) starts from
prod's published state: a step whose fingerprint equals prod's reuses prod's
physical table (and is published into the environment's own schemas,
`features__dev.x`), only what differs is built.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property

from sqlglot import exp

from toolkit import publishguard, schedule, sourceprints, sql, viewsources
from toolkit.actions import Action, Decision, Reason, ReasonKind
from toolkit.compiler import CompiledProject, CompiledStep, relation_index
from toolkit.errors import ProjectError, line_of
from toolkit.fingerprint import ALL, PARTIAL, Fingerprint, step_fingerprint, tests_fingerprint
from toolkit.fingerprint import read_by_tests_only as _read_by_tests_only, test_reads as _test_reads
from toolkit.materializations.incremental import check_start
from toolkit.project import TESTS_DIR
from toolkit.planoptions import Options, check_env  # noqa: F401 (part of this module's interface)
from toolkit.sources import source_table, tested_sources
from toolkit.sqldiff import sql_diff
from toolkit.state import PHYSICAL_SCHEMA, PROD, Published


@dataclass(frozen=True)
class Planned:
    step: CompiledStep
    action: Action
    reason: Reason
    prints: Fingerprint  # what it will publish (or keeps publishing)
    relation: exp.Table  # where the environment publishes it
    base_fingerprint: str = ""  # a model's data fingerprint before the production version is mixed in
    upstream_prints: dict[str, str] = field(default_factory=dict)  # upstream -> data fingerprint
    publish: bool = False  # a reuse that still publishes (into another environment, or a dropped published view)
    current: Published | None = None  # what it reuses or updates
    backfill: tuple[tuple[datetime, datetime], ...] = ()  # missing intervals to fill
    dialect: str = ""  # the project's, for the canonical SQL recorded when published
    tests: str = ""  # fingerprint of its data tests (metadata: recorded when they pass)
    # A re-pointed view edited since it was published: the published SQL it is re-created
    # from (its file's edits are not selected, see _repoint); None: built from its file.
    kept_tree: exp.Expression | None = None
    keeps_schedule: bool = False  # a view re-pointed: its data's build time (schedule) stays as recorded

    @property
    def fingerprint(self) -> str:
        return self.prints.data

    @property
    def definition(self) -> str:
        return self.prints.definition

    @property
    def builds(self) -> bool:
        return self.action.builds

    def published_prints(self, version: int | None) -> Fingerprint:
        """What is published: a model's predictions also depend on the version they were
        scored with (known after the run), so an unchanged next run is a reuse even when
        this run promoted a new version."""
        if version is None:
            return self.prints
        data = with_version(self.base_fingerprint, version)
        return Fingerprint(self.prints.definition, data, {ALL: (self.prints.definition, data)}, self.prints.inputs)

    def row(self, physical_name: str, run_id: int, env: str, reads: tuple[str, ...] = (), prints: Fingerprint | None = None,
            read_columns: dict | None = None) -> Published:
        """The `toolkit.published` row that publishing it writes (`read_columns`: what the step
        reads of each upstream, fingerprint.columns_read)."""
        prints = prints or self.prints
        reuse = self.action in (Action.REUSE, Action.TEST) and self.current is not None
        tested = self.action is not Action.REUSE or self.current is None
        # A view re-created from its published SQL records that SQL (and content): the next
        # plan still tells its file's edits apart and publishes them once it selects the view.
        kept = self.kept_tree is not None and self.current is not None
        return Published(
            step=self.step.name, physical_name=physical_name, fingerprint=prints.data, definition=prints.definition,
            materialized=self.step.materialized, run_id=run_id, reads=tuple(reads), relation=self.relation.sql(), env=env,
            content=self.current.content if kept else self.step.content_hash,
            sql=self.current.sql if reuse or kept else canonical_text(self.step, self.dialect),
            inputs=dict(prints.inputs), columns={c: list(v) for c, v in prints.column_prints().items()},
            built_at=self.current.built_at if reuse or self._keeps_schedule(env) else None, tests=self.tests if tested else self.current.tests,
            read_columns=read_columns,
        )

    def _keeps_schedule(self, env: str) -> bool:
        """A view re-pointed keeps its schedule's clock: re-pointing computed nothing (restarted, a
        step reading a source beside it waited for the next fire to see that source's new rows)."""
        return self.keeps_schedule and self.current is not None and self.current.env == env


@dataclass(frozen=True)
class Hold:
    """A data test that reads a step this run writes anew but runs with a later step
    (`owner`): a custom test (features/tests/*.sql, run with the last step it reads) or a
    relationships test (run with its step, after its parent). The step's publish waits for it."""

    test: str  # a custom test's name (its file's stem); else the test's label, relationships(id)
    where: str  # file:line of a custom test's query; else the owner's file
    owner: str  # the step it runs with
    custom: bool = True

    @property
    def file(self) -> str:
        return self.where.rsplit(":", 1)[0]

    def matches(self, test) -> bool:
        """Whether `test` (a DataTest of the owner's) is the one holding."""
        if self.custom:
            return test.name == "custom" and test.args.get("name") == self.test
        return test.name != "custom" and test.label == self.test

    def text(self) -> str:
        return f"custom test {self.file} (run with {self.owner})" if self.custom else f"test {self.test} of {self.owner}"

    def by(self) -> str:
        """The test, as a held step's failure names it."""
        return f"custom test {self.test}, run with {self.owner}" if self.custom else f"test {self.test} of {self.owner}"


@dataclass(frozen=True)
class Plan:
    env: str
    steps: dict[str, Planned]
    current: dict[str, Published]  # step -> what the environment reads now (falling back to prod)
    deleted: dict[str, str] = field(default_factory=dict)  # published step whose file is gone -> its relation
    source_prints: dict[str, str] = field(default_factory=dict)  # source read -> its data fingerprint
    # Steps some environment publishes that this project lacks: recorded as deleted in this
    # environment by a successful run, so that promoting it removes them (environments.py).
    gone: frozenset[str] = frozenset()
    # Prod's steps this project lacks (another environment's plan): `promote env prod` after
    # this run removes them from prod -> prod's relation of each.
    promote_removes: dict[str, str] = field(default_factory=dict)
    # Sources the run tests before any step reads them (sources.tested_sources) -> their tests:
    # a blocking failure there skips their readers, whatever the steps' own actions.
    source_tests: dict[str, list] = field(default_factory=dict)
    # Model step it builds -> modelplan.ModelIntent: train, or re-score with which version (execute.plan adds it).
    models: dict = field(default_factory=dict)
    # Published views --exclude left out (and views over them) that go on reading the old
    # table of a step this run rebuilds -> that step (a warning: their readers see old rows).
    left_stale: dict[str, str] = field(default_factory=dict)
    # Step -> the custom tests of other steps its publish waits for (held_publishes): a
    # failure there leaves its previous version published.
    holds: dict[str, tuple[Hold, ...]] = field(default_factory=dict)
    # Custom tests that read steps the run writes but run with a step it does not test
    # (--select left it out): file -> (that step, the steps it reads that are written untested)
    untested: dict[str, tuple[str, tuple[str, ...], bool]] = field(default_factory=dict)
    # Step -> the planned steps it reads through view sources (viewsources.py): it starts only
    # once they are published (the view reads their published relation), and not when they fail.
    view_reads: dict[str, frozenset[str]] = field(default_factory=dict)
    # Step -> the viewsources.HeldRead of each step it reads through a view source whose publish
    # waits for a test run with it or after it: it is not built (it would read the old rows).
    held_view_reads: dict[str, tuple] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.steps.values():
            counts[p.action.value] = counts.get(p.action.value, 0) + 1
        if self.deleted:
            counts[Action.UNPUBLISH.value] = len(self.deleted)
        return counts


def env_relation(relation: exp.Table, env: str) -> exp.Table:
    """features.x in prod; features__dev.x in dev. In prod the step's own relation, not a
    copy (one per step and plan): a plan's relation is only read (its name, its text).
    Whoever puts it into a statement's tree copies it first (execute._Runner._finished:
    a tree takes the node as its child), so that the step's relation never joins one."""
    if env == PROD:
        return relation
    return exp.table_(relation.name, db=f"{relation.db}__{env}")


def make_plan(compiled: CompiledProject, engine, state, selected: set[str], options: Options, relations=None,
              excluded: frozenset[str] = frozenset(), unpublish: frozenset[str] | None = None) -> Plan:
    """`relations`: schema -> its relations (session.Session.relations, a read the run's
    closing drop of unreferenced tables shares), else engine.relations. `excluded`: the
    steps --exclude named, which are left as they are even when a view (see pulled_in_views).
    `unpublish`: the published steps gone from the project that the plan unpublishes (None: all
    of them; a --select run: only those it names)."""
    env = check_env(options.env)
    check_start(options.start, options.end, compiled.project.config.time_zone)  # here the project's time_zone is known
    at = options.now or schedule.now()
    prod = state.published(PROD)
    own = prod if env == PROD else state.published(env)
    current = {**prod, **own} if env != PROD else dict(prod)
    repointable = pulled_in_views(compiled, selected, excluded)
    read = [key for key in compiled.project.sources if any(key in compiled.steps[n].sources for n in selected | repointable)]
    views = sourceprints.views_of(engine, compiled)  # read once, if at all, for both
    source_prints = sourceprints.fingerprints(engine, compiled, read, views)
    by_source = viewsources.steps_read(compiled, views, source_prints, lambda step: env_relation(step.published, env))
    through = viewsources.upstream_through_views(compiled, by_source.steps)  # step -> steps it reads through a view source
    check_names(compiled, engine, env)
    catalog = _Catalog(engine, relations)
    productions = _production_versions(compiled, state.engine, selected, env)  # the registry lives with the state
    prints: dict[str, Fingerprint] = {}
    steps: dict[str, Planned] = {}
    for name in viewsources.order(compiled, through):
        step = compiled.steps[name]
        recorded = current.get(name)
        moved = _rebuilt_upstream(compiled, name, steps) if name in repointable and recorded is not None else None
        read_prints = viewsources.with_view_reads(source_prints, step, by_source, through[name], prints) if name in through else source_prints
        if name not in selected and moved is None:
            # Downstream of an unselected step reads what is published, so that is its fingerprint.
            prints[name] = _recorded(recorded) if recorded else step_fingerprint(compiled, step, prints, read_prints, engine.semantics)
            continue
        fp = step_fingerprint(compiled, step, prints, read_prints, engine.semantics)
        base = fp.data
        if name in productions:
            data = with_version(fp.data, productions[name])
            fp = Fingerprint(fp.definition, data, {ALL: (fp.definition, data)}, fp.inputs)
        relation = env_relation(step.published, env)

        def decide(row: Published | None) -> tuple[_Context, Decision]:
            context = _Context(compiled, step, fp, row, options, at, state, env, steps, catalog, relation)
            context.production, context.published = productions.get(name), current
            context.fingerprint_with = lambda replaced: step_fingerprint(compiled, step, {**prints, **replaced}, read_prints, engine.semantics)
            return context, step.strategy.plan(context)

        context, decision = decide(recorded)
        kept = None
        if moved is not None:
            # Not selected, but a view over the table this run builds for `moved`: left alone, it would
            # serve that step's old table. Re-created (nothing to compute), with the SQL it was published with.
            decision, kept = _repoint(compiled, step, context, moved)
            if kept is not None:
                fp = _kept_print(recorded, fp)
        elif _prod_holds_it(env, recorded, prod.get(name), fp, relation):
            theirs = decide(prod[name])
            if not theirs[1].action.writes_data:  # reused (or re-tested) as prod's table: published into env
                (context, decision), recorded = theirs, prod[name]
                current[name] = recorded
        chosen = _recorded(recorded) if decision.keeps_recorded else _unchanged(fp, recorded, decision.action)
        if recorded is not None and (decision.action is Action.INCREMENTAL or _retested_incremental(step, decision)):
            chosen = _accumulated(chosen, recorded, decision.backfill)
            if decision.action is Action.TEST:
                chosen = _same_rows(chosen, recorded)
        if decision.reason.kind is ReasonKind.VOLATILE:
            chosen = _volatile(chosen, recorded)
        other_env = env != PROD and recorded is not None and recorded.env != env
        republish = decision.reason.kind is ReasonKind.PUBLISHED_MISSING
        reason = viewsources.named(decision.reason, by_source.steps, through[name]) if name in through else decision.reason
        planned = steps[name] = Planned(
            step, decision.action, reason, chosen, relation, base_fingerprint=base,
            upstream_prints={u: prints[u].data for u in step.upstream},
            publish=decision.action is Action.REUSE and (other_env or republish),
            current=recorded, backfill=decision.backfill, dialect=compiled.dialect, tests=context.tests, kept_tree=kept,
            keeps_schedule=decision.keeps_schedule and decision.action is Action.REBUILD,
        )
        prints[name] = chosen
        runs_sql = planned.action.writes_data or planned.action is Action.INLINE  # an inlined step runs in its readers
        if runs_sql and engine.dialect != compiled.dialect and step.tree is not None:
            _check_translatable(compiled, engine, step)  # within one dialect there is nothing to translate
        elif runs_sql and step.tree is not None:
            _check_calls(compiled, engine, step)
    retest_for_written_reads(steps)  # before the guard: a re-tested step publishes (its name, again)
    for name in steps:
        _check_readable(compiled, name, steps, current)
    publishguard.check(compiled, engine, state, steps, env, catalog.published)  # never publish over a relation toolkit did not make
    deleted = {name: row.relation for name, row in own.items() if name not in compiled.steps and (unpublish is None or name in unpublish)}
    gone = frozenset(name for name in state.published_steps() if name not in compiled.steps)
    # What the run records as deleted (`gone`) and prod publishes: a promote removes it there.
    promote_removes = {name: prod[name].relation for name in sorted(gone) if name in prod} if env != PROD else {}
    source_tests = {key: compiled.source_tests[key] for key in tested_sources(compiled, selected | repointable)}
    left_stale = _left_stale(compiled, steps, own) if excluded else {}
    holds = held_publishes(compiled, steps)
    view_reads = {name: frozenset(reads & set(steps)) for name, reads in through.items() if name in steps and reads & set(steps)}
    return Plan(env, steps, current, deleted, source_prints, gone, promote_removes, source_tests, left_stale=left_stale,
                holds=holds, untested=untested_reads(compiled, steps), view_reads=viewsources.unheld(view_reads, holds, compiled),
                held_view_reads=viewsources.held_by_own_tests(view_reads, holds, compiled, by_source.steps))


def _retested_incremental(step: CompiledStep, decision: Decision) -> bool:
    """An incremental step re-tested as it is (only what its tests read changed): its rows are
    its updates', not a build's from the inputs, so it records what follows from them."""
    return decision.action is Action.TEST and step.strategy.name == "incremental"


def held_publishes(compiled: CompiledProject, steps: dict[str, Planned]) -> dict[str, tuple[Hold, ...]]:
    """Step -> the data tests its publish waits for. A custom test of severity error runs
    with the last step it reads, a relationships test with its step, after its parent (one
    that holds: _holding_tests): every
    other step such a test reads that the run writes anew was built (and would be published)
    before it ran: such a step, and every step the run builds from it before the test's
    step, waits for that test and is published only if it passes. Descendants off the path
    wait too: they were built from the new rows (a view keeps reading them). Only where the
    test's step runs its tests in this run."""
    holds: dict[str, list[Hold]] = {}
    for owner, planned in steps.items():
        if not _runs_tests(planned):
            continue
        for test in _holding_tests(planned):
            read = {name for name in _test_reads(test) if name != owner and _writes(steps, name)}
            after = compiled.dag.descendants(owner) | {owner}  # built once the test passed
            built_from = read.union(*(compiled.dag.descendants(name) for name in read)) - after
            for name in sorted(built_from):
                if _writes(steps, name):
                    holds.setdefault(name, []).append(_hold(test, planned.step))
    return {name: tuple(found) for name, found in holds.items()}


def _hold(test, owner: CompiledStep) -> Hold:
    if test.name == "custom":
        return Hold(test.args["name"], test.where, owner.name)
    return Hold(test.label, test.where or owner.file, owner.name, custom=False)


def retest_for_written_reads(steps: dict[str, Planned]) -> None:
    """A step the run keeps as it is (not due on its cron, unchanged) whose custom test or
    relationships test reads a step the run writes: it re-runs that test on its published
    table (Action.TEST), the written steps' new tables beside it, so that held_publishes holds
    them for it (a test of severity error; one of severity warn holds nothing, and warns).
    Without it the test ran with no step at all: the written steps were published untested,
    or its warning was missing."""
    for name, planned in steps.items():
        if not _retestable(planned):
            continue
        tests = reads_written(planned.step, steps)
        if tests:
            why = Reason(ReasonKind.TEST_READS_WRITTEN, "; ".join(
                f"{_test_named(test)} reads {', '.join(_written_reads(test, name, steps))}" for test in tests))
            steps[name] = replace(planned, action=Action.TEST, reason=why.and_then(planned.reason))


def _test_named(test) -> str:
    """A custom test by its file; a relationships test by its label."""
    return f"custom test {test.where.rsplit(':', 1)[0]}" if test.name == "custom" else f"test {test.label}"


def _retestable(planned: Planned) -> bool:
    """Kept as published, and its custom tests not run otherwise: reused, or re-tested for freshness alone."""
    if planned.current is None or not planned.step.strategy.testable:
        return False
    return planned.action is Action.REUSE or (planned.action is Action.TEST and planned.reason.kind is ReasonKind.CLOCK)


def reads_written(step: CompiledStep, steps: dict[str, Planned]) -> list:
    """The step's custom tests (features/tests/*.sql) and relationships tests, of either
    severity, that read another step the run writes (a re-test runs these)."""
    return [test for test in _reading_tests(step) if _written_reads(test, step.name, steps)]


def _written_reads(test, owner: str, steps: dict[str, Planned]) -> list[str]:
    return sorted(name for name in _test_reads(test) - {owner} if _writes(steps, name))


def untested_reads(compiled: CompiledProject, steps: dict[str, Planned]) -> dict[str, tuple[str, tuple[str, ...], bool]]:
    """Custom tests and relationships tests, of either severity, whose step the run does not
    test, reading steps it writes: those are published without them (`plan` and `run` warn,
    as a re-test reading them would hold them or warn). Test -> (its step, the steps it reads
    that the run writes, whether selecting its step holds them: a test of severity error)."""
    found = {}
    for owner, step in compiled.steps.items():
        if owner in steps and _runs_tests(steps[owner]):
            continue
        for test in _reading_tests(step):
            written = tuple(_written_reads(test, owner, steps))
            if written:
                named = test.where.rsplit(":", 1)[0] if test.name == "custom" else f"{test.label} in {step.file}"
                found[named] = (owner, written, test.severity == "error")  # see _holding_tests
    return found


def _runs_tests(planned: Planned) -> bool:
    """Whether the run runs the step's custom tests: it builds it, or re-tests it (all its tests, or
    those reading steps it writes; not freshness alone)."""
    return planned.action.writes_data or (planned.action is Action.TEST and planned.reason.kind is not ReasonKind.CLOCK)


def _blocking_custom_tests(step: CompiledStep) -> list:
    """The features/tests/*.sql tests of severity error that run with `step`."""
    return [test for test in _custom_tests(step) if test.severity == "error"]


def _custom_tests(step: CompiledStep) -> list:
    """The features/tests/*.sql tests that run with `step`."""
    return [test for test in step.data_tests if test.name == "custom" and (test.where or "").startswith(TESTS_DIR + "/")]


def _reading_tests(step: CompiledStep) -> list:
    """The tests that run with `step` and read other steps: its custom tests (features/tests/*.sql)
    and its relationships tests (their parent)."""
    return _custom_tests(step) + [test for test in step.data_tests if test.name == "relationships"]


def _holding_tests(planned: Planned) -> list:
    """The tests of severity error whose failure holds the steps they read: custom tests and
    relationships tests, whether their step is re-tested or built (DESIGN decision 3). Built
    too, the step's own rows may be at fault, but the test cannot tell whose: a parent
    published without it would put its new rows beside the child's previous ones, a pair no
    test passed. On a first run the held parent stays unpublished."""
    return [test for test in _reading_tests(planned.step) if test.severity == "error"]


def _writes(steps: dict[str, Planned], name: str) -> bool:
    return name in steps and steps[name].action.writes_data


def pulled_in_views(compiled: CompiledProject, selected: set[str], excluded: frozenset[str]) -> set[str]:
    """Unselected views reachable from a selected step through views and ephemeral steps: a
    view reads its upstream's physical table, so one over a step the run rebuilds is
    re-pointed at the new table (_rebuilt_upstream says whether it does). A table keeps its
    data unless selected; a view --exclude names is left as it is (its file may not be ready)."""
    found: set[str] = set()
    pending = list(selected)
    while pending:
        for child in compiled.dag.downstream[pending.pop()]:
            strategy = compiled.steps[child].strategy
            if child in selected or child in excluded or child in found or not (strategy.keeps_reading or strategy.inlined):
                continue
            found.add(child)
            pending.append(child)
    return {name for name in found if compiled.steps[name].strategy.keeps_reading}


def _repoint(compiled: CompiledProject, step: CompiledStep, context: "_Context", moved: str) -> tuple[Decision, exp.Expression | None]:
    """A view pulled in to read `moved`'s new table, and the tree it is re-created from. Its
    file's SQL edits since it was published are not what the user selected: it keeps its
    published SQL over the new table, the edits left (and said to be left) for a run that
    selects it. Other changes of its own (config), or published SQL that cannot be kept,
    are published with it, and the plan says so (then: the change)."""
    repoint = Reason(ReasonKind.REPOINT, moved)
    own = context.own
    kept = _published_tree(compiled, step, context.current) if own is not None and own.kind is ReasonKind.SQL_CHANGED else None
    if kept is None:  # keeps its schedule when nothing of its own changed
        return Decision(Action.REBUILD, repoint.and_then(own), keeps_schedule=own is None), None
    return Decision(Action.REBUILD, repoint.and_then(Reason(ReasonKind.UNPUBLISHED_EDITS, own.detail)), keeps_schedule=True), kept


def _published_tree(compiled: CompiledProject, step: CompiledStep, current: Published) -> exp.Expression | None:
    """The SQL `step` was published with, as a tree, when it reads only steps the step still
    reads (the run waits for those; a step it read before may be gone or built after it)."""
    tree = sql.reparse(current.sql, compiled.dialect) if current.sql else None
    if tree is None:
        return None
    by_relation = relation_index(compiled)
    sources = {(t.db.casefold(), t.name.casefold()) for t in (source_table(compiled, key) for key in step.sources)}
    tables = [(t.db.casefold(), t.name.casefold()) for t in tree.find_all(exp.Table) if t.db]  # a CTE's has none
    if any(table not in by_relation and table not in sources for table in tables):
        return None  # it reads a step since deleted (dropped by this run), or a source its file no longer reads
    reads = {by_relation[table] for table in tables if table in by_relation}
    return tree if reads <= set(step.upstream) else None


def _kept_print(recorded: Published, fp: Fingerprint) -> Fingerprint:
    """The fingerprint of a view re-created from its published SQL over new inputs: neither
    the one recorded (other inputs) nor its file's (other SQL), so that the next run that
    selects it publishes the file's edits. Whole-step only: its columns are the old SQL's."""
    definition = hashlib.sha256(f"published sql|{recorded.definition}|{fp.definition}".encode()).hexdigest()
    data = hashlib.sha256(f"{definition}|{fp.data}".encode()).hexdigest()
    return Fingerprint(definition, data, {ALL: (definition, data)}, fp.inputs)


def _left_stale(compiled: CompiledProject, steps: dict[str, Planned], own: dict[str, Published]) -> dict[str, str]:
    """Views the environment publishes that the plan leaves out (--exclude named them: not
    re-pointed, see pulled_in_views) over a step it writes anew, or over such a view -> the step
    whose old table they go on reading."""
    stale: dict[str, str] = {}
    for name in compiled.dag.order():
        if name in steps or name not in own or not compiled.steps[name].strategy.keeps_reading:
            continue
        upstream = _rebuilt_upstream(compiled, name, steps, stale)
        if upstream is not None:
            stale[name] = stale.get(upstream, upstream)
    return stale


def _rebuilt_upstream(compiled: CompiledProject, name: str, steps: dict[str, Planned], stale=()) -> str | None:
    """The first upstream step (through ephemeral ones) the plan so far writes anew (or in
    `stale`: left reading the old table of one), if any; not one only its tests read (it reads no table of it)."""
    pending = list(compiled.steps[name].rows_read)
    while pending:
        upstream = pending.pop(0)
        planned = steps.get(upstream)
        if (planned is not None and planned.action.writes_data) or upstream in stale:
            return upstream
        if compiled.steps[upstream].strategy.inlined:
            pending += compiled.steps[upstream].upstream
    return None


def _prod_holds_it(env: str, own: Published | None, prod: Published | None, fp: Fingerprint, relation: exp.Table) -> bool:
    """Whether prod publishes the data an environment's step would now hold while the
    environment's own row is of other data: prod ran on new source rows since, and rebuilt
    the step into what this step would build. Reusing prod's table spares the copy (an
    incremental step still keeps its own: its strategy does not reuse another's table).
    Not for a step published under another name now: its build drops the old name."""
    if env == PROD or own is None or prod is None or own.env != env or own.relation != relation.sql():
        return False
    return own.fingerprint != fp.data and (prod.fingerprint, prod.definition) == (fp.data, fp.definition)


def check_names(compiled: CompiledProject, engine, env: str) -> None:
    """Every published name fits the engine's identifier limit (PostgreSQL would cut it,
    and two long names sharing a prefix would publish one step's data under the other's)."""
    limit = engine.MAX_IDENTIFIER_LENGTH
    if limit is None:
        return
    for step in compiled.steps.values():
        relation = env_relation(step.published, env)
        for name in [relation.db] + [relation.name + suffix for suffix in step.strategy.published_suffixes]:
            if len(name.encode()) > limit:
                raise ProjectError(
                    f"'{name}' is {len(name.encode())} bytes; {engine.name} keeps names up to {limit} bytes",
                    step.file, hint="rename the step (its file) to a shorter name",
                )
        _check_column_names(step, limit, engine.name)


def _check_column_names(step, limit: int, engine_name: str) -> None:
    """Output columns stay apart once cut to the engine's limit: two sharing their first
    `limit` bytes are one column there (PostgreSQL would fail the build, mid-run)."""
    seen: dict[bytes, str] = {}
    for column in step.columns or ():
        cut = column.encode()[:limit]
        if seen.get(cut, column) != column:
            raise ProjectError(
                f"output columns '{seen[cut]}' and '{column}' are one name on {engine_name}, which keeps names up to {limit} bytes",
                step.file, line_of(step.template, column), hint="shorten one of them",
            )
        seen[cut] = column


def _check_readable(compiled: CompiledProject, name: str, steps: dict, current: dict) -> None:
    """Every step `name` reads is planned or published (an ephemeral one: what it reads)."""
    pending = list(compiled.steps[name].upstream)
    while pending:
        upstream = pending.pop()
        if compiled.steps[upstream].strategy.inlined:
            pending += compiled.steps[upstream].upstream
        elif upstream not in steps and upstream not in current:
            raise ProjectError(
                f"{name} reads {upstream}, which is not selected and has never been built",
                compiled.steps[name].file,
                hint=f"select it too: --select +{name}",
            )


class _Catalog:
    """Which physical and published relations exist, read once per schema. A published
    schema is read with Engine.definitions (kinds and views' SQL: publishguard tells a
    reused step's name the user replaced since from toolkit's view, without another
    query); names are matched as the engine matches them (as spelt on PostgreSQL)."""

    def __init__(self, engine, relations=None):
        self.engine = engine
        self._relations = relations or engine.relations  # the session's read, shared with drop_unreferenced
        self.published = publishguard.Catalog(engine)
        self._physical: set[str] | None = None
        self._generator = None

    def text(self, relation: exp.Table) -> str:
        """relation.sql(), through one generator for the whole plan: sqlglot makes a dialect
        and a generator per call otherwise (half of the 9 ms 500 steps took)."""
        if self._generator is None:
            from sqlglot.dialects.dialect import Dialect

            self._generator = Dialect.get_or_raise(None).generator()
        return self._generator.generate(relation, copy=False)  # a bare table: generating it changes nothing

    def has(self, schema: str, name: str) -> bool:
        if schema != PHYSICAL_SCHEMA:
            return self.published.at(schema, name) is not None
        if self._physical is None:  # many tables, no views' SQL wanted: the kinds alone
            self._physical = {self.published.fold(n) for n in self._relations(schema)}
        return self.published.fold(name) in self._physical


class _Context:
    """What a materialization strategy decides from, for one step (see materializations/base.py)."""

    def __init__(self, compiled, step, fp, current, options, at, state, env, planned, catalog, relation):
        self.compiled, self.step, self.fp, self.current, self.options = compiled, step, fp, current, options
        self.at, self.state, self.env, self.planned, self.catalog, self.relation = at, state, env, planned, catalog, relation

    @property
    def engine(self):
        """The target's engine (what the catalog reads), for a look at a physical table's columns."""
        return self.catalog.engine

    @property
    def physical_missing(self) -> bool:
        return not self.catalog.has(PHYSICAL_SCHEMA, self.current.physical_name)

    @property
    def published_missing(self) -> bool:
        """The environment's own published relation moved (a new alias or schema, if only
        in case) or was dropped (by hand): publish it again."""
        if self.current.env != self.env:
            return False
        return self.current.relation != self.relation_text or not self.catalog.has(self.relation.db, self.relation.name)

    @cached_property
    def tests(self) -> str:
        return tests_fingerprint(self.step, self.compiled.dialect)

    @property
    def tests_changed(self) -> bool:
        return bool(self.step.data_tests) and self.current.tests != self.tests

    @property
    def relation_text(self) -> str:
        return self.catalog.text(self.relation)

    @cached_property
    def own(self) -> Reason | None:
        return _own_change(self.compiled, self.step, self.current)

    production: int | None = None  # a model's production version (its data fingerprint holds it)

    @cached_property
    def inputs(self) -> Reason:
        reason = _input_reason(self.current, self.fp, _read_by_tests_only(self.step))
        if reason.kind is ReasonKind.DEFINITION_CHANGED and self.production is not None:
            # nothing it reads changed, nor its code: the version it scores with did
            return Reason(ReasonKind.PRODUCTION_CHANGED, str(self.production))
        return reason

    fingerprint_with = None  # {upstream: Fingerprint} -> the step's fingerprint with those upstream prints instead (make_plan)

    @property
    def only_tests_inputs_changed(self) -> bool:
        """With the steps only its tests read as published before this run, its fingerprint is
        the one recorded: nothing its rows are made from changed (its code, what it reads, the
        engine's semantics), only what its tests read. False when that is not known (one of
        those steps unpublished, or published anew since the step was built without it)."""
        fp = self.without_tests_inputs
        return fp is not None and (fp.data, fp.definition) == (self.current.fingerprint, self.current.definition)

    @property
    def without_tests_inputs(self) -> Fingerprint | None:
        """Its fingerprint with the steps only its tests read as published now (before this
        run); None when it has none, or one is not published."""
        before = {}
        for name in _read_by_tests_only(self.step):
            row = self.published.get(name)
            if row is None or self.fingerprint_with is None:
                return None
            before[name] = _recorded(row)
        return self.fingerprint_with(before) if before else None

    @cached_property
    def not_due(self) -> Reason | None:
        cron = self.step.config.get("cron")
        if cron and not self.options.ignore_schedule and not schedule.due(cron, self.current.built_at, self.at):
            return Reason(ReasonKind.NOT_DUE, f"{schedule.next_fire(cron, self.at):%Y-%m-%d %H:%M}")
        return None

    @property
    def due(self) -> Reason | None:
        return Reason(ReasonKind.SCHEDULE_DUE) if self.step.config.get("cron") else None

    @property
    def unchanged(self) -> Reason:
        return Reason(ReasonKind.UNCHANGED, "prod's table" if self.env != PROD and self.current.env == PROD else "")

    published: dict = {}  # step -> what the environment reads now (make_plan's `current`): for unselected upstream steps

    @property
    def upstream_moved(self) -> list[str]:
        """Upstream steps this run keeps (through ephemeral ones) whose physical table is not
        the one the step recorded reading: a run published them anew and never got to this
        view (killed, or run without selecting it), which still reads the old table."""
        reads, found, pending = set(self.current.reads), [], list(self.step.rows_read)  # not what only its tests read
        while reads and pending:  # a row recorded without its reads says nothing
            name = pending.pop(0)
            if self.compiled.steps[name].strategy.inlined:
                pending += self.compiled.steps[name].upstream
                continue
            planned = self.planned.get(name)
            row = planned.current if planned is not None else self.published.get(name)
            if row is not None and row.physical_name not in reads and name not in found:
                found.append(name)
        return found

    @property
    def upstream_rebuilt(self) -> list[str]:
        """Upstream steps this run builds anew (through ephemeral ones, which are inlined) that its
        query reads (a view reads their tables; those only its tests read it does not)."""
        found, pending = [], list(self.step.rows_read)
        while pending:
            name = pending.pop(0)
            planned = self.planned.get(name)
            if planned is not None and planned.action is Action.INLINE:
                pending += planned.step.upstream
            elif planned is not None and planned.action.writes_data and name not in found:
                found.append(name)
        return found


def _recorded(published: Published) -> Fingerprint:
    columns = {c: tuple(v) for c, v in published.columns.items()}
    return Fingerprint(published.definition, published.fingerprint, columns, dict(published.inputs))


def _unchanged(fp: Fingerprint, recorded: Published | None, action: Action) -> Fingerprint:
    """A step that keeps its data, with the data fingerprint it was recorded with, keeps the
    column prints recorded with it: the same inputs made them (none are computed again)."""
    if action.writes_data or recorded is None:
        return fp
    if action is Action.TEST:
        return _same_rows(fp, recorded)
    if not recorded.columns:
        return fp
    if (recorded.fingerprint, recorded.definition) != (fp.data, fp.definition):
        return fp
    return Fingerprint(fp.definition, fp.data, {c: tuple(v) for c, v in recorded.columns.items()}, fp.inputs)


def _same_rows(fp: Fingerprint, recorded: Published) -> Fingerprint:
    """A step re-tested on its published table (Action.TEST): it records its new data
    fingerprint (what its tests read changed: a relationships test's parent), so that the
    next plan does not test it again, but its rows are the ones published, and so are the
    column prints its readers read: they are not rebuilt for a step the run does not write."""
    return Fingerprint(fp.definition, fp.data, _recorded(recorded).column_prints(), fp.inputs)


def _accumulated(fp: Fingerprint, recorded: Published, backfill: tuple) -> Fingerprint:
    """What an incremental update leaves: the rows the table held plus those it brings, so
    its data fingerprint follows from the one recorded, not from the inputs alone. Built
    afresh from the same inputs (a full refresh, a changed SQL, another environment's own
    copy) or after a backfill, the table holds other rows (late ones a window missed, the
    intervals filled in), and its readers kept their old rows as "unchanged". An update
    from the same inputs as recorded brings the same rows again: it keeps its fingerprint."""
    if not backfill and recorded.definition == fp.definition and dict(recorded.inputs) == dict(fp.inputs):
        return _recorded(recorded)
    spans = ",".join(f"{start.isoformat()}/{end.isoformat()}" for start, end in backfill)
    data = hashlib.sha256(f"{recorded.fingerprint}|{fp.data}|{spans}".encode()).hexdigest()
    # A backfill read its intervals only, not the window. Its inputs are today's (what it read:
    # a promote compares them with the other environment's), marked PARTIAL when they differ
    # from the last update's: without the mark the next run found them unchanged and reused the
    # step ("no new input data"), and rows newer than the window never came in; with the old
    # inputs kept instead, a promote took the backfilled table for one built from older data.
    inputs = fp.inputs
    if backfill and {k: v for k, v in recorded.inputs.items() if k != PARTIAL} != dict(fp.inputs):
        inputs = {**fp.inputs, PARTIAL: "window not read since"}
    return Fingerprint(fp.definition, data, _moved_columns(recorded, data, spans), inputs)


def _volatile(fp: Fingerprint, recorded: Published) -> Fingerprint:
    """What a step that reads the clock (now(), random()) makes when run again from the same
    code and inputs: other values, so a data fingerprint moved on from the one recorded (no
    clock in it: TOOLKIT_NOW may fix the plan's time). Its readers see it changed, as after
    any rebuild, and follow their own schedules."""
    data = hashlib.sha256(f"{recorded.fingerprint}|{fp.data}|volatile".encode()).hexdigest()
    return Fingerprint(fp.definition, data, _moved_columns(recorded, data), fp.inputs)


def _moved_columns(recorded: Published, data: str, filled: str = "") -> dict:
    """The column prints of a step whose rows moved on (to `data`) without a build: every
    column's data moves with them (a reader that is a table is rebuilt), its definition is the
    one recorded (by the build, or the last update: "*" where its columns were not known
    apart). Made anew (one "*" after a build's columns apart, or back), they changed the
    definition of every incremental step reading it, which was then rebuilt from scratch and
    lost the rows its inputs no longer hold. A backfill (`filled`: the intervals it filled)
    changes the definitions too: its rows are older than any reader's watermark, and README
    says the steps reading it are rebuilt, incremental ones included."""
    def moved(definition: str) -> str:
        return hashlib.sha256(f"{definition}|backfill {filled}".encode()).hexdigest() if filled else definition

    return {column: (moved(definition), hashlib.sha256(f"{datum}|{data}".encode()).hexdigest())
            for column, (definition, datum) in _recorded(recorded).column_prints().items()}


def _production_versions(compiled: CompiledProject, engine, selected: set[str], env: str) -> dict[str, int]:
    """A model's predictions also depend on which version `env` scores with (prod's
    production, or the version another environment chose), so that a `toolkit models
    promote` or `rollback` makes the next run score again, and an unchanged dev run reuses."""
    models = [name for name in selected if name in compiled.project.models]
    if not models:
        return {}
    from toolkit.registry import Registry

    registry = Registry(engine)
    if not registry.exists():  # nothing registered yet (and planning never creates tables)
        return {name: 0 for name in models}
    versions = {}
    for name in models:
        scoring_with = registry.chosen(name, env) or registry.production(name)  # modelrun.current, without its imports
        versions[name] = scoring_with.version if scoring_with else 0
    return versions


def with_version(data_fingerprint: str, version: int) -> str:
    return hashlib.sha256(f"{data_fingerprint}|production={version}".encode()).hexdigest()


def _own_change(compiled, step: CompiledStep, current: Published) -> Reason | None:
    """sql_changed (with a diff) | config_changed | file/code changed | None (the step itself is as it was)."""
    if current.content is None or current.content == step.content_hash:
        return None
    text = canonical_text(step, compiled.dialect)
    if text is None:
        return Reason(ReasonKind.CODE_CHANGED if step.name in compiled.project.models else ReasonKind.FILE_CHANGED)
    if current.sql is not None and current.sql != text:
        return Reason(ReasonKind.SQL_CHANGED, sql_diff(current.sql, text, compiled.dialect))
    return Reason(ReasonKind.CONFIG_CHANGED)


def canonical_text(step: CompiledStep, dialect: str) -> str | None:
    """The step's canonical SQL; a step loaded from the compile cache has it without a tree."""
    known = getattr(step, "canonical", None)
    if known is not None:
        return known
    made = step.__dict__.get("_canonical_of")  # what the compiler hashed, if the tree is still that one
    if made is not None and made[0] is step.tree:
        return made[1]
    return sql.canonical_text(step.tree, dialect) if step.tree is not None else None


def _input_reason(current: Published, fp: Fingerprint, tests_only: frozenset[str] = frozenset()) -> Reason:
    """Which inputs changed; upstream steps only its tests read (`tests_only`) named apart."""
    before = current.inputs or {}
    changed = sorted(k for k, v in fp.inputs.items() if before.get(k) != v)
    sources = [k.split(":", 1)[1] for k in changed if k.startswith("source:")]
    upstream = [k for k in changed if not k.startswith("source:") and k not in tests_only]
    tested = [k for k in changed if k in tests_only]
    if not before:
        return Reason(ReasonKind.UPSTREAM_CHANGED)
    source_reason = Reason(ReasonKind.SOURCE_CHANGED, ", ".join(sources)) if sources else None
    tests_reason = Reason(ReasonKind.TESTS_INPUT_CHANGED, _named(tested)) if tested else None
    if upstream:
        return Reason(ReasonKind.UPSTREAM_CHANGED, _named(upstream), source_reason).and_then(tests_reason)
    if source_reason is not None:
        return source_reason.and_then(tests_reason)
    return tests_reason or Reason(ReasonKind.DEFINITION_CHANGED)


def _named(steps: list[str]) -> str:
    return ", ".join(steps[:3]) + (" ..." if len(steps) > 3 else "")


def tests_reading_changed(planned: Planned) -> list:
    """The step's data tests that read an upstream step only its tests read whose data
    changed since it was published (what a re-test for ReasonKind.TESTS_INPUT_CHANGED runs)."""
    if planned.current is None:
        return []
    before, now = planned.current.inputs or {}, planned.prints.inputs
    changed = {name for name in _read_by_tests_only(planned.step) if before.get(name) != now.get(name)}
    return [test for test in planned.step.data_tests if _test_reads(test) & changed]


def _check_calls(compiled: CompiledProject, engine, step: CompiledStep) -> None:
    from toolkit.portability import check_calls

    check_calls(compiled, engine, step)


def _check_translatable(compiled: CompiledProject, engine, step: CompiledStep) -> None:
    from toolkit.portability import check_step

    check_step(compiled, engine, step)

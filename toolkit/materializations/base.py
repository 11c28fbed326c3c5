"""The materialization contract: one strategy object per kind, chosen once per step.

A strategy owns everything that differs between materializations (SQLMesh's
evaluation strategies are the model):

    compile   from_template: a SQL step (columns checked, column lineage, compile cache);
              testable: data tests may be declared on it
    plan      plan(ctx) -> actions.Decision; the common rules (new, forced, physical
              missing) then decide(ctx), which a kind overrides where it differs; a
              reuse whose published relation is gone republishes it, one whose data
              tests changed re-runs them on the published table
    build     build(ctx, planned) -> Built: a new physical relation no reader sees,
              with its blocking data tests run on it (dropped if one fails)
    update    update(ctx, planned) -> Built: incremental only, into the published table
    publish   after_point(engine, relation, physical): extras inside the publishing
              transaction (a model appends the run's predictions to its history);
              the step's post_hooks run after them (materialize.publish) and are
              rehearsed on the unpublished relation with its data tests (check)

Adding a materialization is a module in this package with a subclass, plus its
line in `REGISTRY` (toolkit/materializations/__init__.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from sqlglot import exp

from toolkit import hooks, sql
from toolkit.actions import Action, Decision, Reason, ReasonKind
from toolkit.errors import StepFailed, ToolkitError
from toolkit.materialize import TestContext, check


@dataclass(frozen=True)
class Built:
    """What building (or updating) a step produced: the runner records and publishes it."""

    physical: exp.Table
    rows: int | None
    tests: list = field(default_factory=list)
    reads: tuple[str, ...] = ()  # physical relations it keeps reading (a view's)
    version: int | None = None  # a model: the version its predictions were scored with (production once published)
    action: str | None = None  # a model: train | score (recorded instead of the plan's action)
    reason: str | None = None
    details: str | None = None  # a model: JSON of what it did
    alerts: list = field(default_factory=list)  # a model: monitoring breaches, printed with the step
    fails_run: bool = False  # a breach of severity error: published, but the run exits 1
    rows_trained: int | None = None  # a model that trained: the labeled rows it read (rows is what it scored)
    after_publish: object = None  # a model: modelrun.Promotion of the version that scored, settled by the runner after publishing


class BuildContext(Protocol):
    """What a strategy may use while building: the runner implements it."""

    engine: object
    state: object
    env: str
    run_id: int
    compiled: object
    tests: TestContext
    engine_lock: object  # held while an incremental update commits
    registry: object  # model versions (registry.Registry), trusting the project's types

    def query(self, tree: exp.Expression | None) -> tuple[exp.Expression | None, tuple[str, ...]]:
        """The tree reading physical relations (ephemeral steps inlined); the physical names it reads."""

    def physical_of(self, name: str) -> exp.Table: ...
    def new_physical(self, step, fingerprint: str) -> exp.Table: ...
    def read_seed(self, name: str): ...
    def progress(self, step: str, phase: str) -> None:
        """Tell the console what a long step is doing now (a model: reading, fitting, scoring)."""

    def held(self, step: str) -> bool:
        """Whether the step's publish waits for a later step's custom test (planning.Hold):
        an incremental update then copies on write instead of changing the published table."""

    def acting(self, step: str, action: str) -> None:
        """A model says whether it trains or only scores once it knows, so that a failure
        is recorded as what it was doing, not as the plan's rebuild."""


class Materialization:
    name: ClassVar[str]
    relation_kind: ClassVar[str] = "TABLE"  # of the physical relation (how it is dropped)
    from_template: ClassVar[bool] = True
    user_facing: ClassVar[bool] = True  # may be named in config(materialized=...)
    testable: ClassVar[bool] = True
    uses_registry: ClassVar[bool] = False  # registers model versions: the run makes sure the registry exists
    keeps_reading: ClassVar[bool] = False  # reads its upstream relations after it is built
    readable_by_models: ClassVar[bool] = True
    inlined: ClassVar[bool] = False  # never built: read as a CTE by its readers
    # Its build is statements on the worker's session and nothing else (no registry, no
    # other connection, no transaction of its own): it may commit with other steps' builds
    # where the engine batches them (Engine.BATCHES_BUILDS, toolkit/batches.py).
    commits_with_others: ClassVar[bool] = False
    published_suffixes: ClassVar[tuple[str, ...]] = ("",)  # the names it publishes: <name><suffix>

    # -- plan ---------------------------------------------------------------------------

    def plan(self, ctx) -> Decision:
        """ctx: planning's view of one step (current row, fingerprints, options, reasons)."""
        if ctx.step.config.get("post_hook"):  # a hook the target cannot run is exit 2 before anything runs
            hooks.check_target(ctx.step, ctx.catalog.engine, ctx.compiled.dialect)
        if ctx.current is None:
            return Decision(Action.BUILD, Reason(ReasonKind.NEW))
        if ctx.options.full_refresh:
            return Decision(Action.REBUILD, Reason(ReasonKind.FORCED))
        if ctx.physical_missing:
            return Decision(Action.REBUILD, Reason(ReasonKind.PHYSICAL_MISSING))
        decision = self.decide(ctx)
        if decision.action is Action.REUSE and ctx.published_missing:
            return Decision(Action.REUSE, Reason(ReasonKind.PUBLISHED_MISSING, ctx.relation_text), keeps_recorded=decision.keeps_recorded)
        if decision.action is Action.REUSE and ctx.tests_changed:  # tests are metadata: the data stays
            return Decision(Action.TEST, Reason(ReasonKind.TESTS_CHANGED), keeps_recorded=decision.keeps_recorded)
        if decision.action is Action.REUSE and any(t.name == "freshness" for t in ctx.step.data_tests):
            # the same rows grow stale as time passes: checked every run, as a source's freshness is
            return Decision(Action.TEST, Reason(ReasonKind.CLOCK), keeps_recorded=decision.keeps_recorded)
        return decision

    def decide(self, ctx) -> Decision:
        """Reuse when the data fingerprint is unchanged; else rebuild (when due)."""
        if ctx.current.fingerprint == ctx.fp.data:
            return Decision(Action.REUSE, ctx.unchanged)
        if ctx.own is not None:
            return Decision(Action.REBUILD, ctx.own)
        retest = self.retest_for_tests_inputs(ctx)
        if retest is not None:
            return retest
        if ctx.not_due is not None:
            return Decision(Action.REUSE, ctx.inputs.and_then(ctx.not_due), keeps_recorded=True)
        return Decision(Action.REBUILD, ctx.inputs.and_then(ctx.due))

    def retest_for_tests_inputs(self, ctx) -> Decision | None:
        """Only steps its data tests read changed (a custom test's other steps, a relationships
        test's parent), none its rows are made from: its published rows are what a build would
        make again, only those tests' answer can change. It re-runs them on its published table
        (Action.TEST, whatever its schedule: no data is computed), and holds what they read as
        a build would (planning.held_publishes). Not for a step that reads the clock
        (volatile: it is built again each run) nor one whose data tests changed too (then all
        of them run: TESTS_CHANGED); nor when anything else its fingerprint holds changed
        (only_tests_inputs_changed): then it is built."""
        reason = ctx.inputs
        if reason.kind is not ReasonKind.TESTS_INPUT_CHANGED or not self.testable or volatile_calls(ctx.compiled, ctx.step):
            return None
        if not self.only_tests_inputs_changed(ctx):
            return None
        if ctx.tests_changed:
            reason = reason.and_then(Reason(ReasonKind.TESTS_CHANGED))
        if any(t.name == "freshness" for t in ctx.step.data_tests):
            reason = reason.and_then(Reason(ReasonKind.CLOCK))
        return Decision(Action.TEST, reason)

    def only_tests_inputs_changed(self, ctx) -> bool:
        return ctx.only_tests_inputs_changed

    def rerun_volatile(self, ctx, action: Action, calls: list[str]) -> Decision:
        """A step whose SQL calls now(), current_date, random() (`calls`, found at compile),
        with its code and inputs as recorded: reused, it kept values that moved since. It
        runs again (`action`) on every run, unless its cron schedule is not due; it then
        keeps the fingerprint recorded (planning._volatile moved it with each run)."""
        if ctx.not_due is not None:
            return Decision(Action.REUSE, ctx.unchanged.and_then(ctx.not_due), keeps_recorded=True)
        return Decision(action, Reason(ReasonKind.VOLATILE, ", ".join(calls)).and_then(ctx.due))

    # -- build --------------------------------------------------------------------------

    def create(self, ctx: BuildContext, step, physical: exp.Table, query: exp.Expression | None) -> int | None:
        """Create the physical relation from the query; rows written."""
        return ctx.engine.create_table_as(physical, query)

    def build(self, ctx: BuildContext, planned) -> Built:
        step = planned.step
        physical = ctx.new_physical(step, planned.fingerprint)
        kept = getattr(planned, "kept_tree", None)  # a re-pointed view's published SQL (planning._repoint)
        query, reads = ctx.query(step.tree if kept is None else kept)
        self.check_repeated_names(ctx, step, query)
        rows = self.create(ctx, step, physical, query)
        if kept is None:  # the columns compiled are the file's, not those of the SQL kept
            self.check_expansion(ctx, step, physical)
        tests = self.check(ctx, step, physical)
        self.after_build(ctx, step, physical)
        return Built(physical, rows, tests, reads if self.keeps_reading else ())

    def check_repeated_names(self, ctx: BuildContext, step, query: exp.Expression | None) -> None:
        """A query sqlglot could not qualify (a PIVOT, say) may still repeat an output name
        through a star (`select * from a, b`), in its SELECT or in a CTE or derived table
        it reads (an inlined ephemeral step is one), which the compile cannot see and
        DuckDB would publish renamed (`id`, `id_1`). Only such steps pay for the look, and
        only a part whose star may repeat a name is planned (a LIMIT 0 read, nothing read)."""
        if step.columns is not None or not isinstance(query, exp.Query) or not ctx.engine.RENAMES_REPEATED_COLUMNS:
            return
        for where, part in sql.row_sources(query):
            names = sql.written_names(part)
            if names is None and sql.star_may_repeat(part):
                names = [name.lower() for name in ctx.engine.output_names(sql.standalone(part, query)) or ()]
            names = names or []
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                named = f"columns {', '.join(repeated)} appear" if len(repeated) > 1 else f"column {repeated[0]} appears"
                raise StepFailed(f"output {named} more than once in {f'its {where}' if where else 'what the query makes'} "
                                 f"({', '.join(names)}), "
                                 f"and {ctx.engine.name} would rename the repeats: list the columns and rename one with AS "
                                 f"(column names are case-insensitive)")

    def check_expansion(self, ctx: BuildContext, step, physical: exp.Table) -> None:
        """A top-level UNNEST of a STRUCT becomes one column per field, whatever the item's
        alias, and nothing at compile time knows an upstream column's type: the columns
        toolkit recorded would not be the table's. Only such steps pay for the look."""
        if step.columns is None or not sql.unnests_at_top(step.tree):
            return
        made = list(ctx.engine.columns(physical) or ())
        if [name.lower() for name in made] != step.columns:
            ctx.engine.drop(physical, self.relation_kind)
            raise StepFailed(f"its SELECT list names {', '.join(step.columns)} but the query made "
                             f"{', '.join(made)}: an UNNEST of a STRUCT makes one column per field; select the "
                             f"fields by name (s.a AS a) or unnest a list")

    def check(self, ctx: BuildContext, step, physical: exp.Table) -> list:
        """Blocking data tests, then a rehearsal of the post_hooks (rolled back), on the
        unpublished relation; a failure drops it."""
        try:
            outcomes = check(ctx.engine, step, physical, ctx.tests)
            hooks.rehearse(ctx.engine, hooks.for_step(step, ctx.compiled.dialect), physical, self.relation_kind)
            return outcomes
        except ToolkitError:
            ctx.engine.drop(physical, self.relation_kind)
            raise

    def after_build(self, ctx: BuildContext, step, physical: exp.Table) -> None: ...

    def update(self, ctx: BuildContext, planned) -> Built:
        raise NotImplementedError(f"{self.name} steps are not updated in place")

    # -- publish ------------------------------------------------------------------------

    def after_point(self, engine, relation: exp.Table, physical: exp.Table) -> None:
        """Inside the publishing transaction, after `relation` points at `physical`."""


def volatile_calls(compiled, step, attribute: str = "volatile") -> list[str]:
    """The volatile calls (CompiledStep.volatile) the step's query runs: its own and those of
    the ephemeral steps inlined into it."""
    found, pending, seen = set(getattr(step, attribute, ())), list(step.upstream), set()
    while pending:
        name = pending.pop()
        upstream = compiled.steps.get(name)
        if name in seen or upstream is None or not upstream.strategy.inlined:
            continue
        seen.add(name)
        found.update(upstream.volatile)
        pending += upstream.upstream
    return sorted(found)


def same_code_and_inputs(ctx) -> bool:
    """The step's definition and every input's fingerprint as recorded."""
    current = ctx.current
    return current.definition == ctx.fp.definition and dict(current.inputs or {}) == dict(ctx.fp.inputs)

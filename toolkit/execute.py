"""Run a compiled project against a target.

    connect (lock) -> check sources -> plan (fingerprints vs published state)
    -> build / test / publish in dependency order, independent steps in parallel
    -> drop physical relations nothing published reads -> record the run

A step that fails skips its downstream; independent branches finish. Nothing is
published until its relation is complete and its tests pass.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from sqlglot import exp

from toolkit import materialize, sql
from toolkit.compiler import CompiledProject, CompiledStep, incremental_tree
from toolkit.console import Console
from toolkit.engines import connect
from toolkit.fingerprint import Fingerprint, fingerprint_steps
from toolkit.datatests import result_row, run_tests
from toolkit.errors import ProjectError, StepFailed, ToolkitError
from toolkit.seeds import read_seed
from toolkit.state import PHYSICAL_SCHEMA, Published, State, now


@dataclass
class Planned:
    step: CompiledStep
    fingerprint: str
    action: str  # build | reuse | incremental
    reason: str
    definition: str
    upstream_prints: dict[str, str] = field(default_factory=dict)  # upstream -> data fingerprint
    base_fingerprint: str = ""  # a model's data fingerprint before the production version is mixed in


@dataclass
class StepResult:
    step: str
    kind: str
    materialized: str
    action: str
    reason: str
    status: str = "pending"  # built (not yet published) -> success | reused | failed | skipped
    fingerprint: str | None = None
    physical_name: str | None = None
    started_at: object = None
    finished_at: object = None
    rows_written: int | None = None
    error: str | None = None
    seconds: float = 0.0
    tests: list = field(default_factory=list)  # datatests.Outcome of each data test
    details: str | None = None  # JSON: what a model step did (version, metrics, NULL and unseen counts)


@dataclass
class RunSummary:
    run_id: int
    target: str
    results: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.status in ("success", "reused") for r in self.results)


def run(
    compiled: CompiledProject,
    target_name: str | None = None,
    select: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    threads: int = 4,
    lock_timeout: float = 10.0,
    full_refresh: bool = False,
    console: Console | None = None,
    command: str = "run",
) -> RunSummary:
    console = console or Console()
    config = compiled.project.config
    target = config.target(target_name)
    selected = compiled.dag.select(select, exclude)
    started = time.perf_counter()
    engine = connect(target, config.root, lock_timeout)
    try:
        check_sources(engine, compiled, selected)
        source_outcomes = run_source_tests(engine, compiled, _sources_read(compiled, selected))
        state = State(engine)
        state.ensure()
        if any(compiled.steps[name].kind == "model" for name in selected):
            from toolkit.registry import Registry

            Registry(engine).ensure()
        published = state.published()
        plan = make_plan(compiled, engine, selected, published, full_refresh)
        for schema in sorted({p.step.relation.db for p in plan.values()}):
            engine.create_schema(schema)
        run_id = state.start_run(config.name, target.name, command)
        console.run_started(run_id, f"{target.name} ({engine.describe()})", len(plan))
        runner = _Runner(compiled, engine, state, run_id, plan, published, console, failed_sources(source_outcomes))
        results = runner.run(threads)
        drop_unreferenced(engine, state)
        engine.optimize_storage()
        state.record_steps(run_id, results)
        state.record_tests(run_id, test_rows(results, source_outcomes))
        summary = RunSummary(run_id, target.name, results, time.perf_counter() - started)
        state.finish_run(run_id, "success" if summary.ok else "failed")
    finally:
        engine.close()
    console.run_finished(summary)
    return summary


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
        missing = [c for c in source.columns if c not in actual]
        if missing:
            raise ProjectError(
                f"source {key}: declared column(s) {', '.join(missing)} not in {source.schema}.{source.table}",
                source.file,
                source.line,
            )


def make_plan(compiled: CompiledProject, engine, selected: set[str], published: dict[str, Published], full_refresh: bool) -> dict[str, Planned]:
    """Fingerprint every step in dependency order and decide what the selected ones do."""
    source_prints = {
        key: engine.table_fingerprint(exp.table_(exp.to_identifier(s.table), db=exp.to_identifier(s.schema)))
        for key, s in compiled.project.sources.items()
        if any(key in compiled.steps[n].sources for n in selected)
    }
    # Downstream of an unselected step reads what is published, so that is its fingerprint.
    fixed = {n: Fingerprint(p.definition, p.fingerprint) for n, p in published.items() if n not in selected}
    prints = fingerprint_steps(compiled, compiled.dag.order(), fixed, source_prints, engine.dialect)
    base = dict(prints)
    _with_production_versions(compiled, engine, selected, prints)
    existing = set(engine.relations(PHYSICAL_SCHEMA))
    plan: dict[str, Planned] = {}
    for name in compiled.dag.order():
        if name not in selected:
            continue
        step = compiled.steps[name]
        plan[name] = _decide(step, prints[name], published.get(name), existing, full_refresh)
        plan[name].upstream_prints = {u: prints[u].data for u in step.upstream}
        plan[name].base_fingerprint = base[name].data
        if plan[name].action != "reuse" and step.tree is not None and engine.dialect != compiled.dialect:
            _check_translatable(compiled, engine, step)  # within one dialect there is nothing to translate
    for name in plan:
        missing = [u for u in compiled.steps[name].upstream if u not in plan and u not in published]
        if missing:
            raise ProjectError(
                f"{name} reads {missing[0]}, which is not selected and has never been built",
                compiled.steps[name].file,
                hint=f"select it too: --select +{name}",
            )
    return plan


def _with_production_versions(compiled: CompiledProject, engine, selected: set[str], prints: dict) -> None:
    """A model's predictions also depend on which version is in production, so that a
    `toolkit models promote` or `rollback` makes the next run score again."""
    models = [name for name in selected if compiled.steps[name].kind == "model"]
    if not models:
        return
    from toolkit.registry import Registry

    registry = Registry(engine)
    for name in models:
        production = registry.production(name)
        current = prints[name]
        prints[name] = Fingerprint(current.definition, with_version(current.data, production.version if production else 0))


def with_version(data_fingerprint: str, version: int) -> str:
    return hashlib.sha256(f"{data_fingerprint}|production={version}".encode()).hexdigest()


def _decide(step: CompiledStep, prints: Fingerprint, current: Published | None, existing: set[str], full_refresh: bool) -> Planned:
    def planned(action: str, reason: str) -> Planned:
        return Planned(step, prints.data, action, reason, prints.definition)

    if current is None:
        return planned("build", "new")
    if full_refresh:
        return planned("build", "forced (--full-refresh)")
    if current.physical_name not in existing:
        return planned("build", "physical table missing")
    if step.materialized == "incremental":
        if current.definition == prints.definition:
            return planned("incremental", "new rows")
        return planned("build", "definition changed")
    if current.fingerprint == prints.data:
        return planned("reuse", "unchanged")
    if current.definition == prints.definition:
        return planned("build", "upstream data changed")
    return planned("build", "changed")


def _check_translatable(compiled: CompiledProject, engine, step: CompiledStep) -> None:
    from toolkit.portability import check_step

    check_step(compiled, engine, step)


def physical_table(step: str, fingerprint: str, run_id: int) -> exp.Table:
    return exp.table_(f"{step}__{fingerprint[:12]}__r{run_id}", db=PHYSICAL_SCHEMA)


class _Runner:
    """Schedules planned steps on a thread pool as their upstream completes.

    Workers build and test; the scheduling thread publishes finished steps in
    batches (at most every PUBLISH_INTERVAL seconds, and at the end). A step's
    downstream starts as soon as its physical relation exists, not when published.
    """

    PUBLISH_INTERVAL = 0.5

    def __init__(self, compiled, engine, state, run_id, plan, published, console, failed_sources=None):
        self.compiled, self.engine, self.state, self.run_id = compiled, engine, state, run_id
        self.plan, self.console = plan, console
        self.physical = {name: p.physical_name for name, p in published.items()}
        self.by_relation = {(s.relation.db, s.relation.name): name for name, s in compiled.steps.items()}
        self.to_publish: dict[str, tuple] = {}  # written by workers, one key each
        self.pending: list[tuple[StepResult, tuple]] = []  # only the scheduling thread touches this
        self.engine_lock = threading.Lock()  # incremental updates commit one at a time
        self.failed_sources = failed_sources or {}
        self.tests = materialize.TestContext(compiled.dialect, self._relation_of)

    def _relation_of(self, name: str) -> exp.Table:
        """Where a relationships test finds `name` now: this run's build, else the source."""
        if name in self.physical:
            return exp.table_(self.physical[name], db=PHYSICAL_SCHEMA)
        return source_table(self.compiled, name)

    def run(self, threads: int) -> list[StepResult]:
        results = {
            name: StepResult(name, p.step.kind, p.step.materialized, p.action, p.reason, fingerprint=p.fingerprint)
            for name, p in self.plan.items()
        }
        waiting = {name: {u for u in p.step.upstream if u in self.plan} for name, p in self.plan.items()}
        running: dict[Future, str] = {}
        publishing: Future | None = None  # at most one batch in flight, on a worker
        last_publish = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            while waiting or running or self.pending or publishing:
                for name in sorted(n for n, deps in waiting.items() if not deps):
                    del waiting[name]
                    self.console.step_started(name)
                    running[pool.submit(self._execute, self.plan[name], results[name])] = name
                busy = list(running) + ([publishing] if publishing else [])
                done, _ = wait(busy, timeout=self.PUBLISH_INTERVAL, return_when=FIRST_COMPLETED)
                if publishing in done:
                    for result in publishing.result():
                        self.console.step_finished(result)
                    publishing = None
                for future in done & set(running):
                    self._collect(running.pop(future), results, waiting)
                due = not running or time.perf_counter() - last_publish >= self.PUBLISH_INTERVAL
                if self.pending and publishing is None and due:
                    batch, self.pending = self.pending, []
                    publishing = pool.submit(self._publish, batch)
                    last_publish = time.perf_counter()
        order = {name: i for i, name in enumerate(self.compiled.dag.order())}
        return sorted(results.values(), key=lambda r: order[r.step])

    def _collect(self, name: str, results: dict, waiting: dict) -> None:
        """A step's worker finished: release its downstream, or skip it on failure."""
        result = results[name]
        if result.status == "failed":
            self.console.step_finished(result)
            self._skip_downstream(name, waiting, results)
            return
        for deps in waiting.values():
            deps.discard(name)
        if result.status == "reused":
            self.console.step_finished(result)
        else:
            self.pending.append((result, self.to_publish.pop(name)))

    def _publish(self, batch: list) -> list[StepResult]:
        try:
            materialize.publish(self.engine, self.state, [item for _, item in batch], self.run_id)
            status, error = "success", None
        except Exception as failure:  # nothing in the batch became visible
            status, error = "failed", f"publish failed: {engine_message(failure)}"
        for result, _ in batch:
            result.status, result.error = status, error
        return [result for result, _ in batch]

    def _skip_downstream(self, failed: str, waiting: dict, results: dict) -> None:
        for name in self.compiled.dag.descendants(failed):
            if name in waiting:
                del waiting[name]
                result = results[name]
                result.status, result.error = "skipped", f"upstream {failed} failed"
                self.console.step_finished(result)

    def _execute(self, planned: Planned, result: StepResult) -> None:
        step = planned.step
        result.started_at, began = now(), time.perf_counter()
        try:
            blocked = [key for key in step.sources if key in self.failed_sources]
            if blocked:
                raise StepFailed(f"source {blocked[0]} failed its tests: {self.failed_sources[blocked[0]]}")
            if planned.action == "reuse":
                result.status, result.physical_name = "reused", self.physical[step.name]
            elif planned.action == "incremental":
                self._incremental(planned, result)
            elif step.kind == "model":
                self._model(planned, result)
            else:
                self._build(planned, result)
        except ToolkitError as error:
            result.status, result.error = "failed", f"{step.file}: {error}"
        except Exception as error:  # an engine error fails this step, not the run
            result.status, result.error = "failed", f"{step.file}: {engine_message(error)}"
        result.finished_at, result.seconds = now(), time.perf_counter() - began

    def _query(self, tree: exp.Expression) -> exp.Expression:
        """The step's query with upstream names swapped for the physical relations it reads."""

        def rename(table: exp.Table) -> exp.Table | None:
            name = self.by_relation.get((table.db, table.name))
            return exp.table_(self.physical[name], db=PHYSICAL_SCHEMA) if name in self.physical else None

        return sql.replace_tables(tree, rename)  # compiled trees are already normalized

    def _build(self, planned: Planned, result: StepResult) -> None:
        step = planned.step
        physical = physical_table(step.name, planned.fingerprint, self.run_id)
        query = self._query(step.tree) if step.tree is not None else None
        # Only a view keeps reading its upstream relations after it is built.
        reads = [self.physical[u] for u in step.upstream] if step.materialized == "view" else []
        root = self.compiled.project.root
        seed = self.compiled.project.seeds.get(step.name)
        result.rows_written = materialize.build(self.engine, step, physical, query, lambda: read_seed(seed, root))
        try:
            result.tests = materialize.check(self.engine, step, physical, self.tests)
        except ToolkitError as failure:
            result.tests = getattr(failure, "outcomes", [])
            self.engine.drop(physical, "VIEW" if step.materialized == "view" else "TABLE")
            raise
        self.physical[step.name] = physical.name
        result.status, result.physical_name = "built", physical.name
        self.to_publish[step.name] = (step, physical, planned, reads)

    def _incremental(self, planned: Planned, result: StepResult) -> None:
        step = planned.step
        physical = exp.table_(self.physical[step.name], db=PHYSICAL_SCHEMA)
        query = self._query(incremental_tree(self.compiled, step))
        staging = exp.table_(f"{physical.name}__staging", db=PHYSICAL_SCHEMA)
        with self.engine_lock:
            try:
                result.rows_written, result.tests = materialize.update_incremental(self.engine, step, physical, query, staging, self.tests)
            except materialize.TestsFailed as failure:
                result.tests = failure.outcomes
                raise
        result.status, result.physical_name = "built", physical.name
        self.to_publish[step.name] = (step, physical, planned, [])


    def _model(self, planned: Planned, result: StepResult) -> None:
        from toolkit.modelrun import model_fingerprint, train_and_score
        from toolkit.registry import Registry

        step, spec = planned.step, self.compiled.project.models[planned.step.name]
        physical = physical_table(step.name, planned.fingerprint, self.run_id)
        fingerprint = model_fingerprint(step.content_hash, planned.upstream_prints[spec.training])
        outcome = train_and_score(
            self.engine, Registry(self.engine, self.compiled.project.config.trusted_types), spec, fingerprint,
            exp.table_(self.physical[spec.training], db=PHYSICAL_SCHEMA),
            exp.table_(self.physical[spec.scoring_table], db=PHYSICAL_SCHEMA),
            physical, self.run_id,
        )
        result.action, result.reason = ("train" if outcome.trained else "score"), outcome.reason
        result.details = json.dumps({
            "version": outcome.version, "scored_with": outcome.scored_with, "trained": outcome.trained,
            "scored_in": outcome.scored_in, "scoring_note": outcome.scoring_note,
            "metrics": outcome.metrics, "candidates": outcome.candidates,
            "null_counts": outcome.null_counts, "unseen_counts": outcome.unseen_counts,
        }, default=str)
        # What is published was scored with this version: record that, so an unchanged
        # next run is a reuse even when this run promoted a new version.
        planned.fingerprint = result.fingerprint = with_version(planned.base_fingerprint, outcome.scored_with)
        result.rows_written = outcome.rows
        self.physical[step.name] = physical.name
        result.status, result.physical_name = "built", physical.name
        self.to_publish[step.name] = (step, physical, planned, [])


def engine_message(error: Exception) -> str:
    """The engine's own first line (its SQL excerpt names physical tables, not the user's)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def drop_unreferenced(engine, state: State) -> list[str]:
    """Drop physical relations that no published name reads, directly or through views
    (also views that are no longer published themselves but still read by one)."""
    reads = state.relation_reads()
    live: set[str] = set()
    stack = [p.physical_name for p in state.published().values()]
    while stack:
        name = stack.pop()
        if name not in live:
            live.add(name)
            stack.extend(reads.get(name, ()))
    dropped = []
    relations = engine.relations(PHYSICAL_SCHEMA)
    for name, kind in sorted(relations.items(), key=lambda item: item[1] != "view"):
        if name not in live:
            engine.drop(exp.table_(name, db=PHYSICAL_SCHEMA), kind.upper())
            dropped.append(name)
    state.forget_relations(sorted(set(reads) - live))
    return dropped

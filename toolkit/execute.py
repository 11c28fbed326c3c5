"""Run a compiled project against a target.

    lock the target -> check sources -> plan (planning.py: fingerprints vs the
    environment's published state) -> build / test / publish in dependency order,
    independent steps in parallel -> drop physical relations no environment (or
    saved state) reads -> record the run

A step that fails skips its downstream; independent branches finish. Nothing is
published until its relation is complete and its tests pass.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from sqlglot import exp

from toolkit import locking, materialize, sql
from toolkit.compiler import CompiledProject, incremental_tree
from toolkit.console import Console
from toolkit.engines import connect
from toolkit.errors import StepFailed, TargetBusy, ToolkitError
from toolkit.planning import Options, Plan, Planned, make_plan, with_version
from toolkit.seeds import read_seed
from toolkit.sources import (  # noqa: F401 (published_relation, run_source_tests: used by audit)
    _sources_read, check_sources, failed_sources, published_relation, run_source_tests, source_table, test_rows,
)
from toolkit.state import PHYSICAL_SCHEMA, PROD, State, now


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
    env: str = PROD

    @property
    def ok(self) -> bool:
        return all(r.status in ("success", "reused") for r in self.results)


def open_target(target, root, lock_timeout: float, console: Console):
    """Connect, holding the target's lock; while waiting, say once who holds it."""
    side = locking.sidecar(target, root)
    connected = threading.Event()

    def watch():
        while not connected.wait(0.1):
            holder = locking.read(side)
            if holder:
                console.waiting(holder.describe())
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        engine = connect(target, root, lock_timeout, on_wait=console.waiting)
    except TargetBusy:
        holder = locking.read(side)
        if holder is None:
            raise
        raise TargetBusy(
            f"target {target.name} is busy: {holder.describe()} holds it; waited {lock_timeout:g}s (--lock-timeout); safe to retry"
        ) from None
    finally:
        connected.set()
    locking.write(side)  # we hold the lock: any sidecar left was stale
    return engine, side


def plan(compiled: CompiledProject, target_name=None, select=(), exclude=(), lock_timeout: float = 10.0,
         options: Options | None = None, console: Console | None = None) -> Plan:
    """What `run` would do, read-only."""
    console = console or Console()
    target = compiled.project.config.target(target_name)
    selected = compiled.dag.select(select, exclude)
    engine, side = open_target(target, compiled.project.config.root, lock_timeout, console)
    try:
        check_sources(engine, compiled, selected)
        return make_plan(compiled, engine, State(engine), selected, options or Options())
    finally:
        engine.close()
        locking.remove(side)


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
    options: Options | None = None,
) -> RunSummary:
    console = console or Console()
    options = options or Options(full_refresh=full_refresh)
    config = compiled.project.config
    target = config.target(target_name)
    selected = compiled.dag.select(select, exclude)
    started = time.perf_counter()
    engine, side = open_target(target, config.root, lock_timeout, console)
    try:
        check_sources(engine, compiled, selected)
        source_outcomes = run_source_tests(engine, compiled, _sources_read(compiled, selected))
        state = State(engine)
        state.ensure()
        if any(compiled.steps[name].kind == "model" for name in selected):
            from toolkit.registry import Registry

            Registry(engine).ensure()
        planned = make_plan(compiled, engine, state, selected, options)
        for schema in sorted({p.relation.db for p in planned.steps.values()}):
            engine.create_schema(schema)
        run_id = state.start_run(config.name, target.name, command)
        locking.write(side, run_id)
        engine.announce_run(run_id)
        console.run_started(run_id, f"{target.name} ({engine.describe()})" + (f", env {planned.env}" if planned.env != PROD else ""), len(planned.steps))
        runner = _Runner(compiled, engine, state, run_id, planned, console, failed_sources(source_outcomes))
        results = runner.run(threads)
        from toolkit.environments import drop_unreferenced

        dropped = drop_unreferenced(engine, state)
        if dropped or any(r.status not in ("reused", "skipped") for r in results):
            engine.optimize_storage()  # a no-op run has nothing to reclaim
        state.record_steps(run_id, results)
        state.record_tests(run_id, test_rows(results, source_outcomes))
        summary = RunSummary(run_id, target.name, results, time.perf_counter() - started, planned.env)
        state.finish_run(run_id, "success" if summary.ok else "failed")
    finally:
        engine.close()
        locking.remove(side)
    console.run_finished(summary)
    return summary


def physical_table(step: str, fingerprint: str, run_id: int) -> exp.Table:
    return exp.table_(f"{step}__{fingerprint[:12]}__r{run_id}", db=PHYSICAL_SCHEMA)


class _Runner:
    """Schedules planned steps on a thread pool as their upstream completes.

    Workers build and test; the scheduling thread publishes finished steps in
    batches (at most every PUBLISH_INTERVAL seconds, and at the end). A step's
    downstream starts as soon as its physical relation exists, not when published.
    """

    PUBLISH_INTERVAL = 0.5

    def __init__(self, compiled, engine, state, run_id, plan: Plan, console, failed_sources=None):
        self.compiled, self.engine, self.state, self.run_id = compiled, engine, state, run_id
        self.plan, self.console, self.env = plan.steps, console, plan.env
        self.physical = {name: p.physical_name for name, p in plan.current.items()}
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
        self.readers: dict[str, list[str]] = {}  # step -> planned steps waiting for it
        for name, deps in waiting.items():
            for upstream in deps:
                self.readers.setdefault(upstream, []).append(name)
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
        for reader in self.readers.get(name, ()):
            if reader in waiting:
                waiting[reader].discard(name)
        if result.status == "reused":
            self.console.step_finished(result)
        else:
            self.pending.append((result, self.to_publish.pop(name)))

    def _publish(self, batch: list) -> list[StepResult]:
        try:
            materialize.publish(self.engine, self.state, [item for _, item in batch], self.run_id, self.env)
            status, error = "success", None
        except Exception as failure:  # nothing in the batch became visible
            status, error = "failed", f"publish failed: {engine_message(failure)}"
        for result, _ in batch:
            reused = status == "success" and result.action == "reuse"
            result.status, result.error = ("reused" if reused else status), error
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
            if planned.action == "reuse" and planned.publish:  # prod's table, published into this env
                current = planned.current
                result.status, result.physical_name = "built", current.physical_name
                self.to_publish[step.name] = (step, exp.table_(current.physical_name, db=PHYSICAL_SCHEMA), planned, list(current.reads))
            elif planned.action == "reuse":
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
        if step.materialized == "incremental":
            self._record_interval(step, physical)
        self.physical[step.name] = physical.name
        result.status, result.physical_name = "built", physical.name
        self.to_publish[step.name] = (step, physical, planned, reads)

    def _incremental(self, planned: Planned, result: StepResult) -> None:
        step = planned.step
        physical = exp.table_(self.physical[step.name], db=PHYSICAL_SCHEMA)
        staging = exp.table_(f"{physical.name}__staging", db=PHYSICAL_SCHEMA)
        with self.engine_lock:
            try:
                if planned.backfill:
                    result.rows_written, result.tests = 0, []
                    for start, end in planned.backfill:
                        query = self._query(materialize.interval_tree(self.compiled, step, start, end))
                        rows, result.tests = materialize.backfill(self.engine, step, physical, query, staging, self.tests, start, end)
                        result.rows_written += rows
                        self.state.record_intervals(self.env, step.name, physical.name, [(start, end)], self.run_id)
                else:
                    query = self._query(incremental_tree(self.compiled, step))
                    result.rows_written, result.tests = materialize.update_incremental(self.engine, step, physical, query, staging, self.tests)
                    self._record_interval(step, physical)
            except materialize.TestsFailed as failure:
                result.tests = failure.outcomes
                raise
        result.status, result.physical_name = "built", physical.name
        self.to_publish[step.name] = (step, physical, planned, [])


    def _record_interval(self, step, physical: exp.Table) -> None:
        """What an incremental step with a time_column holds after a build or update."""
        if "time_column" not in step.config:
            return
        span = materialize.time_span(self.engine, physical, step.config["time_column"])
        if span:
            self.state.record_intervals(self.env, step.name, physical.name, [span], self.run_id)

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
        if planned.prints is not None:
            prints = planned.prints
            planned.prints = type(prints)(prints.definition, planned.fingerprint, {"*": (prints.definition, planned.fingerprint)}, prints.inputs)
        result.rows_written = outcome.rows
        self.physical[step.name] = physical.name
        result.status, result.physical_name = "built", physical.name
        self.to_publish[step.name] = (step, physical, planned, [])


def engine_message(error: Exception) -> str:
    """The engine's own first line (its SQL excerpt names physical tables, not the user's)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__

"""Run a compiled project against a target.

    lock the target -> check sources -> plan (planning.py: fingerprints vs the
    environment's published state) -> build / test / publish in dependency order,
    independent steps in parallel -> drop physical relations no environment (or
    saved state) reads -> record the run

A step that fails skips its downstream; independent branches finish. Nothing is
published until its relation is complete and its tests pass, nor until the custom tests
of later steps that read it (planning.held_publishes) have passed.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import ContextManager

from sqlglot import exp

from toolkit import batches, explain, filesources, heap, hooks, interrupts, materialize, publishguard, sourceprints
from toolkit.dag import named_absent
from toolkit.compilecache import write_pending
from toolkit.compiler import CompiledProject, inline_ephemeral, relation_index
from toolkit.console import Console
from toolkit.datatests import run_tests
from toolkit.errors import ProjectError, ToolkitError, engine_message
from toolkit.actions import Action, Reason, ReasonKind
from toolkit.explain import reason_text
from toolkit.fingerprint import columns_read
from toolkit.materialize import physical_table  # noqa: F401 (part of this module's interface)
from toolkit.materializations import Built
from toolkit.planning import Options, Plan, Planned, make_plan, pulled_in_views, reads_written, tests_reading_changed
from toolkit.seeds import read_seed
from toolkit.sources import (  # noqa: F401 (published_relation, run_source_tests: used by audit)
    _sources_read, check_sources, failed_sources, published_relation, run_source_tests, source_relation, source_table, test_rows,
)
from toolkit.session import Access, Session, open_session
from toolkit.state import PHYSICAL_SCHEMA, PROD, now

log = logging.getLogger(__name__)


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
    traceback: str | None = None  # of a failure: the toolkit logger shows it with --debug
    alerts: list = field(default_factory=list)  # monitoring breaches of a model step
    fails_run: bool = False  # a breach of severity error: the step published, the run exits 1
    rows_trained: int | None = None  # a model that trained: labeled rows read (rows_written: rows scored)
    user_error: bool = False  # failed on a mistake in the project (ProjectError): the run exits 2


@dataclass
class RunSummary:
    run_id: int
    target: str
    results: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0
    env: str = PROD

    @property
    def ok(self) -> bool:
        return all(r.status in ("success", "reused", "inlined") for r in self.results)

    @property
    def alerted(self) -> bool:
        """A monitoring breach of severity error: everything published, but a scheduler must hear of it."""
        return any(r.fails_run for r in self.results)

    @property
    def exit_code(self) -> int:
        """0; 2 when a step failed on a mistake in the project; else 1 for a failure or a breach."""
        if self.ok and not self.alerted:
            return 0
        return 2 if any(r.status == "failed" and r.user_error for r in self.results) else 1


def plan(compiled: CompiledProject, target_name=None, select=(), exclude=(), lock_timeout: float = 10.0,
         options: Options | None = None, console: Console | None = None, opened: ContextManager[Session] | None = None) -> Plan:
    """What `run` would do, read-only. `opened`: the session to plan in (session.SessionAhead's), else one of its own."""
    selected = compiled.dag.select(select, exclude, compiled.disabled)
    opened = opened or open_session(compiled.project.config, target_name, access=Access.READ, lock_timeout=lock_timeout, console=console)
    with opened as session:
        compiled = check_sources(session.engine, compiled, selected)
        made = make_plan(compiled, session.engine, session.state, selected, options or Options(), excluded=_excluded(compiled, exclude),
                         unpublish=_unpublishing(compiled, select))
        return with_model_intents(made, compiled, session)


def _unpublishing(compiled: CompiledProject, select) -> frozenset[str] | None:
    """Which steps gone from the project (deleted, enabled=false) the run unpublishes: all
    (None) without --select; with it only the disabled ones it names. A step not selected
    keeps what it published: a disabled incremental's history survived only a run that left it alone."""
    if not any(value.split() for value in select):
        return None
    return frozenset(named_absent(select, compiled.disabled))


def _excluded(compiled: CompiledProject, exclude) -> frozenset[str]:
    """The steps --exclude names (the plan leaves a view among them as it is)."""
    return frozenset(compiled.dag.select(exclude)) if exclude else frozenset()


def with_model_intents(made: Plan, compiled: CompiledProject, session) -> Plan:
    """The plan, saying of each model step it builds whether it trains or re-scores (modelplan.py;
    a plan that builds no model asks the registry nothing)."""
    if not any(name in compiled.project.models and p.builds for name, p in made.steps.items()):
        return made
    from toolkit import modelplan

    return dataclasses.replace(made, models=modelplan.intents(compiled, session.registry, made))


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
    opened: ContextManager[Session] | None = None,
) -> RunSummary:
    """`opened`: the session to run in (session.SessionAhead's), else one of its own."""
    console = console or Console()
    options = options or Options(full_refresh=full_refresh)
    selected = compiled.dag.select(select, exclude, compiled.disabled)
    started = time.perf_counter()
    opened = opened or open_session(compiled.project.config, target_name, lock_timeout=lock_timeout, console=console)
    with heap.kept(), opened as session:  # the compiled project lives as long as the run: see heap.py
        engine, state = session.engine, session.state
        # The views the run re-points read their sources anew too: checked, synced and tested alike.
        reading = selected | pulled_in_views(compiled, selected, _excluded(compiled, exclude))
        compiled = check_sources(engine, compiled, reading)
        reads = {key: compiled.project.sources[key] for key in _sources_read(compiled, reading)}
        filesources.sync(engine, state, reads, compiled.project.root)
        not_run: dict = {}  # a source test that could not run fails the source's readers, like a failing one
        source_outcomes = run_source_tests(engine, compiled, list(reads), not_run)
        state.ensure()
        if any(compiled.steps[name].strategy.uses_registry for name in selected):
            session.registry.ensure()
        planned = make_plan(compiled, engine, state, selected, options, relations=session.relations, excluded=_excluded(compiled, exclude),
                            unpublish=_unpublishing(compiled, select))
        compiled.prepare_variants(_variants(planned))
        for schema in sorted({PHYSICAL_SCHEMA} | {p.relation.db for p in planned.steps.values()}):
            engine.create_schema(schema)  # the physical schema too: a state store of its own has the state's
        died = session.separate_state and state.has_unfinished_runs()
        run_id = session.start_run(command, planned.env)
        if died:  # its publish may have stopped between the views and the state
            materialize.realign(engine, state)
            session.catalog_changed()
        console.run_started(run_id, session.describe() + (f", env {planned.env}" if planned.env != PROD else ""), len(planned.steps))
        for name, upstream, text in explain.stale_warnings(planned):
            console.show(text, [{"event": "warning", "step": name, "stale_upstream": upstream, "message": text}])
        for name, diff, text in explain.kept_sql_warnings(planned):
            console.show(text, [{"event": "warning", "step": name, "unpublished_edits": diff, "message": text}])
        for where, owner, text in explain.untested_warnings(planned):
            console.show(text, [{"event": "warning", "test": where, "step": owner, "message": text}])
        for name, why, text in explain.history_warnings(planned):
            console.show(text, [{"event": "warning", "step": name, "history_rebuilt": why, "message": text}])
        runner = _Runner(compiled, session, run_id, planned, {**failed_sources(source_outcomes), **not_run})
        try:
            results = runner.run(threads)
        except KeyboardInterrupt as interrupt:
            # LeftRunning: a worker still runs Python code (a fit), which holds no statement: the run
            # is recorded all the same, with what it published. Not while a publish is stuck in a
            # statement: the connection is its until that ends; the next run marks this one abandoned.
            if "publishing" not in getattr(interrupt, "steps", ()):
                try:
                    runner.publish_updated_in_place()
                except Exception:  # noqa: BLE001 - the engine refused after the interrupt: recorded as not published
                    pass
                try:
                    runner.withhold_unsettled("interrupted (Ctrl-C) before its predictions were published")
                    _record_interrupted(state, run_id, runner.results, runner.interrupted_at)
                except Exception:  # noqa: BLE001 - the engine refused after the interrupt: the next run marks it abandoned
                    pass
            raise
        # The compile cache's file (cli.run) is written now, on a thread of its own, beside the engine's closing
        # work (drops, CHECKPOINT, close): not before the builds, nor among them (500 short statements wait for the GIL).
        write_pending()
        if not runner.settled_only:  # it built, tested, published or unpublished: relations came or went
            session.catalog_changed()
        from toolkit.environments import drop_unreferenced

        dropped, blocked = drop_unreferenced(engine, state, session.relations(PHYSICAL_SCHEMA))
        session.catalog_changed()
        for name, why in blocked.items():
            console.show(f"kept {PHYSICAL_SCHEMA}.{name}: something outside toolkit reads it ({why}); toolkit gc drops it once free",
                         [{"event": "kept", "relation": f"{PHYSICAL_SCHEMA}.{name}", "reason": why}])
        if dropped or any(r.status not in ("reused", "skipped") for r in results):
            engine.optimize_storage()  # a no-op run has nothing to reclaim
        with state.engine.transaction():  # one commit (one log flush) for the run's closing rows, not three
            state.record_steps(run_id, results)
            state.record_tests(run_id, test_rows(results, source_outcomes))
            summary = RunSummary(run_id, session.target.name, results, time.perf_counter() - started, planned.env)
            state.finish_run(run_id, "success" if summary.ok else "failed")
    sourceprints.remember(session.engine, compiled, planned.source_prints)  # closed: nothing more of ours is written
    console.run_finished(summary)
    return summary


def _record_interrupted(state, run_id: int, results: dict, interrupted_at) -> None:
    """Ctrl-C, every worker stopped: what the run published before it (and what it did
    not get to) is recorded, and the run is 'interrupted' rather than left 'running'
    for the next run to call abandoned. A second Ctrl-C here leaves it to that run."""
    for result in results.values():
        stopped = result.status == "failed" and interrupted_at is not None and result.finished_at >= interrupted_at
        if result.status not in ("success", "reused", "inlined", "failed", "skipped") or stopped:
            result.status = "interrupted"  # pending, built but never published, or its statement cancelled
            result.error = result.error or "interrupted (Ctrl-C) before it was published"
    state.record_steps(run_id, list(results.values()))
    state.finish_run(run_id, "interrupted")


def _variants(planned: Plan) -> list[tuple]:
    """(step, render values) of every incremental update the plan makes."""
    from toolkit.materializations.incremental import variant_values, windowed

    wanted = []
    for p in planned.steps.values():
        # a backfill, like a time_column window, reads the step's whole query: no variant
        if p.action is Action.INCREMENTAL and not p.backfill and not windowed(p.step):
            wanted.append((p.step, variant_values()))
    return wanted


class _Runner:
    """Schedules planned steps on a thread pool as their upstream completes.

    Workers build and test (each step through its materialization strategy, which
    returns what it built); the scheduling thread publishes finished steps in
    batches (at most every PUBLISH_INTERVAL seconds, and at the end). A step's
    downstream starts as soon as its physical relation exists, not when published. A
    step a later step's custom test reads waits `on_hold` until that test has run.
    The runner is the strategies' BuildContext (materializations/base.py).
    """

    PUBLISH_INTERVAL = 0.5
    # Ctrl-C: seconds a worker may take to stop once interrupted. Cancelled statements end
    # in well under one (0.1 s on DuckDB and PostgreSQL, 0.8 s on embedded Spark).
    STOP_GRACE = 5.0

    def __init__(self, compiled, session, run_id, plan: Plan, failed_sources=None):
        self.compiled, self.engine, self.state, self.run_id = compiled, session.engine, session.state, run_id
        self.session, self.console = session, session.console
        self.plan, self.env, self.deleted, self.gone = plan.steps, plan.env, plan.deleted, plan.gone
        # not a name still published, nor one the user replaced since (left alone: `foreign`)
        self.droppable, self.foreign = publishguard.droppable(plan.deleted, plan.steps, plan.env, plan.current, self.engine)
        self.replaced = publishguard.moved_away(plan.steps, plan.env, self.engine)  # an old name the user took: not dropped
        self.left: dict[str, str] = {}  # those of them a step moved away from in this run -> kind
        self.physical = {name: p.physical_name for name, p in plan.current.items()}
        # Matched without case: a reference this misses would read the published version of
        # a step this run rebuilds. Names differing only in case are refused (project.py).
        self.by_relation = relation_index(compiled)
        self.to_publish: dict[str, materialize.Publication] = {}  # written by workers, one key each
        self.pending: list[tuple[StepResult, materialize.Publication]] = []  # only the scheduling thread touches this
        self.promotions: list = []  # every built model version waiting for its publish (modelrun.Promotion)
        self.ctrl_c_before = interrupts.requested.is_set()  # an earlier command's in this process (the API): not this run's
        self.engine_lock = _UpdateLock(self._ctrl_c)  # incremental updates commit one at a time; none starts after Ctrl-C
        self.failed_sources = failed_sources or {}
        self.tests = materialize.TestContext(compiled.dialect, self._relation_of)
        self.began: dict[str, float] = {}  # step -> when its build started (progress shows elapsed time)
        self.actions: dict[str, str] = {}  # step -> what a model said it is doing (train | score)
        self.prepared: dict[int, _Prepared] = {}  # id(step tree) -> its query, rewritten ahead (_prepare)
        self.threads = 1
        self.collected: set[str] = set()  # steps _collect has seen finish: their readers no longer wait for them
        self.announced: set[str] = set()  # steps whose step_started was shown
        self.results: dict[str, StepResult] = {}  # filled by run()
        self.interrupted_at = None  # when Ctrl-C reached the run (_ctrl_c) or stopped the workers (_cancel)
        # step -> the upstream whose publish failed: built from a table that never went live,
        # so it must not go live either (its readers had started before that publish failed)
        self.unpublishable: dict[str, str] = {}
        # step -> the custom tests of later steps its publish waits for (planning.held_publishes);
        # built, such a step waits `on_hold` until each has run; verdicts: (owner, test) -> why not, or None once passed
        self.holds = plan.holds
        # step -> the planned steps it reads through a view source (planning.Plan.view_reads): it
        # starts once they are published, not built (the view reads the published relation)
        self.view_reads = plan.view_reads
        self.held_view_reads = plan.held_view_reads
        self.view_readers: dict[str, set[str]] = {}
        for reader, reads in plan.view_reads.items():
            for name in reads:
                self.view_readers.setdefault(name, set()).add(reader)
        self.on_hold: dict[str, tuple[StepResult, materialize.Publication]] = {}  # only the scheduling thread touches this
        self.verdicts: dict[tuple[str, str], str | None] = {}
        # The same verdicts, written by the test's worker as soon as its tests ran (one key per
        # owner): a held step's worker reads them before building, so that a step whose test
        # already failed is not built (the scheduling thread learns of it only later).
        self.early_verdicts: dict[tuple[str, str], str | None] = {}
        self.owned_holds: dict[str, list] = {}  # owner -> the holds of its custom tests
        for hold in sorted({hold for holds in plan.holds.values() for hold in holds}, key=lambda h: (h.owner, h.test)):
            self.owned_holds.setdefault(hold.owner, []).append(hold)
        # Table builds committed together where the engine allows it (batches.py); not the
        # steps whose build waits on this thread: held, holding, reading views.
        scheduled_apart = self.holds.keys() | self.owned_holds.keys() | self.view_reads.keys() | self.held_view_reads.keys()
        self.batching = batches.Batches(self.engine, self.plan, compiled.dag, scheduled_apart, self.failed_sources)

    def _planned_upstream(self, step) -> set[str]:
        """The planned steps `step` reads, also through ephemeral steps the plan lacks (not
        selected, yet inlined all the same): it must wait for what they read to be built."""
        found, pending = set(), list(step.upstream)
        while pending:
            name = pending.pop()
            if name in self.plan:
                found.add(name)
            elif self.compiled.steps[name].strategy.inlined:
                pending += self.compiled.steps[name].upstream
        return found

    def _relation_of(self, name: str) -> exp.Expression:
        """Where a relationships test finds `name` now: this run's build, else the source."""
        if name in self.physical:
            return exp.table_(self.physical[name], db=PHYSICAL_SCHEMA)
        return source_relation(self.compiled, name)

    def run(self, threads: int) -> list[StepResult]:
        results = self.results = {  # also read after Ctrl-C (execute._record_interrupted)
            name: StepResult(name, p.step.kind, p.step.materialized, p.action.value, reason_text(p.reason), fingerprint=p.fingerprint)
            for name, p in self.plan.items()
        }
        waiting = {name: self._planned_upstream(p.step) for name, p in self.plan.items()}
        self.readers: dict[str, list[str]] = {}  # step -> planned steps waiting for it
        for name, deps in waiting.items():
            for upstream in deps:
                self.readers.setdefault(upstream, []).append(name)
        for name, reads in self.view_reads.items():
            waiting[name] |= reads
        stop_preparing = threading.Event()  # queries are rewritten ahead on their own thread (_prepare)
        preparer = threading.Thread(target=self._prepare, args=(stop_preparing,), name="toolkit-prepare", daemon=True)
        preparer.start()
        # Publishing has its own thread: a commit waits on no build slot, and builds
        # (the engine works with the GIL released) go on while a batch commits.
        self.threads = max(1, threads)
        pool, publisher = ThreadPoolExecutor(max_workers=self.threads), ThreadPoolExecutor(max_workers=1)
        abandoned = False  # Ctrl-C, and a worker still in Python code: leave without joining it
        try:
            self._schedule(pool, publisher, results, waiting)
        except interrupts.LeftRunning:
            abandoned = True
            raise
        finally:
            stop_preparing.set()
            for executor in (pool, publisher):
                executor.shutdown(wait=not abandoned, cancel_futures=True)
        preparer.join()
        order = {name: i for i, name in enumerate(self.compiled.dag.order())}
        finished = sorted(results.values(), key=lambda r: order[r.step])
        return finished + self._unpublish(ok=all(r.status in ("success", "reused", "inlined") for r in finished))

    def _schedule(self, pool, publisher, results: dict, waiting: dict) -> None:
        """Start each step once its upstream is done; publish finished ones in batches."""
        running: dict[Future, tuple[str, ...]] = {}  # a build, or a batch of them (_execute_batch)
        publishing: list[Future] = []  # at most one batch in flight, on the publisher
        last_publish = time.perf_counter()
        try:
            while waiting or running or self.pending or publishing or self.on_hold:
                ready = sorted(n for n, deps in waiting.items() if not deps)
                while ready:
                    batchable = []
                    for name in ready:
                        del waiting[name]
                        self._announce(name)
                        if self._settled(self.plan[name]):  # nothing to build: no round trip through a worker
                            self._execute(self.plan[name], results[name])
                            self._collect(name, results, waiting)
                        elif self.batching.batchable(self.plan[name]):
                            batchable.append(name)
                        else:
                            running[pool.submit(self._execute, self.plan[name], results[name])] = (name,)
                    for names in self.batching.form(batchable, waiting, self.threads):
                        task = (self._execute_batch, names) if len(names) > 1 else (self._execute, self.plan[names[0]], results[names[0]])
                        running[pool.submit(*task)] = names
                    ready = sorted(n for n, deps in waiting.items() if not deps)
                if not (running or self.pending or publishing):
                    self._judge_holds(set(), results, waiting)  # a test's step decided here (skipped, settled)
                    if not self.pending and self.on_hold:
                        # Held steps waiting for each other's decision (a step held by a test of a step
                        # it holds: a seed parent's re-tested child and what is built from the seed):
                        # nothing in flight can decide them, so their tests judge their new rows.
                        self._judge_holds(set(), results, waiting, patient=False)
                    if self.pending:
                        continue
                    if waiting or self.on_hold:  # nothing in flight can release them: a scheduling bug, not a hang
                        raise RuntimeError(f"steps left waiting on nothing: {', '.join(sorted(set(waiting) | set(self.on_hold)))}")
                    break  # every step left was settled here
                done, _ = wait(list(running) + publishing, timeout=self.PUBLISH_INTERVAL, return_when=FIRST_COMPLETED)
                if publishing and publishing[0] in done:
                    for result in publishing.pop().result():
                        self.console.step_finished(result)
                        if result.status in ("failed", "skipped"):
                            self._withhold_downstream(result.step, waiting, results)
                        else:
                            self._release_view_readers(result.step, waiting)
                for future in done & set(running):
                    names = running.pop(future)
                    if future.exception() is not None:  # _execute itself broke: its step fails, not the run (as a KeyError)
                        for name in names:
                            self._broke(results[name], future.exception())
                            self._collect(name, results, waiting)
                    elif len(names) > 1:
                        self._batch_done(future.result(), results, waiting)
                    else:
                        self._collect(names[0], results, waiting)
                self._judge_holds({name for names in running.values() for name in names}, results, waiting)
                due = not running or time.perf_counter() - last_publish >= self.PUBLISH_INTERVAL
                if self.pending and not publishing and due:
                    batch, self.pending = self.pending, []
                    publishing.append(publisher.submit(self._publish, batch))
                    last_publish = time.perf_counter()
        except KeyboardInterrupt:
            self._cancel(running, publishing)
            raise

    def _cancel(self, running: dict[Future, tuple[str, ...]], publishing: list[Future]) -> None:
        """Ctrl-C: stop what the workers run, or leaving the pools waits for every build in
        flight to finish. Interrupted until all have stopped: a statement that began just
        after one interrupt (a worker between its build and its tests) is caught by the
        next. A batch being published fails whole and rolls back (on Spark, whose DDL is
        no job, it ends whole). A worker still running after STOP_GRACE seconds of that
        runs Python code no interrupt reaches (a model's fit): LeftRunning, at once on a
        second Ctrl-C."""
        self.interrupted_at = self.interrupted_at or now()  # a step failing from here on failed because it was interrupted
        futures = list(running) + publishing
        for future in futures:
            future.cancel()  # not started yet: never starts
        deadline = time.monotonic() + self.STOP_GRACE
        try:
            while not all(future.done() for future in futures):
                if time.monotonic() >= deadline:
                    break
                self.engine.interrupt()
                wait(futures, timeout=0.2)
            else:
                return
        except KeyboardInterrupt:  # Ctrl-C again: the user will not wait either
            pass
        stuck = sorted(name for future, names in running.items() if not future.done() for name in names)
        raise interrupts.LeftRunning(stuck + ["publishing"] * any(not future.done() for future in publishing))

    def _ctrl_c(self) -> bool:
        """Whether Ctrl-C reached this run, as soon as the watcher saw it (toolkit/interrupts.py),
        before the scheduling thread does (_cancel); the first to tell sets interrupted_at."""
        if self.interrupted_at is None and interrupts.requested.is_set() and not self.ctrl_c_before:
            self.interrupted_at = now()
        return self.interrupted_at is not None

    def publish_updated_in_place(self) -> None:
        """Ctrl-C after incremental updates committed in place, before their publish: their new rows
        are in the published table already, so they are published (state rows only: the view
        is the same), and the state says what readers see. Recorded as not published, the state
        kept naming the previous run, and the next run brought the same rows in again."""
        queued = self.pending + [(self.results[name], item) for name, item in list(self.to_publish.items())]
        updated = [(result, item) for result, item in queued if result.status == "built" and self._updated_in_place(result.step, item)]
        if not updated:
            return
        order = {name: i for i, name in enumerate(self.compiled.dag.order())}
        for result in self._publish(sorted(updated, key=lambda pair: order[pair[0].step])):
            self.console.step_finished(result)

    def _updated_in_place(self, name: str, item: materialize.Publication) -> bool:
        planned = self.plan[name]
        return planned.action is Action.INCREMENTAL and planned.current is not None and item.physical.name == planned.current.physical_name

    @cached_property
    def claimed(self) -> dict[str, str]:
        """published name -> the step publishing there in this run: a step moving away from a
        name another step now takes (two aliases swapped) must not drop it. Names as the
        engine tells them apart: "Orders" is not orders on PostgreSQL."""
        fold = publishguard.fold_for(self.engine)
        return {fold(p.relation.sql()): name for name, p in self.plan.items()}

    @property
    def settled_only(self) -> bool:
        """Whether the run only settled steps (reused or inlined as they are, nothing
        published or unpublished): it created and dropped nothing in the warehouse."""
        return all(self._settled(p) for p in self.plan.values()) and not self.deleted and not self.gone

    @staticmethod
    def _settled(planned: Planned) -> bool:
        """A step this run neither builds, tests nor publishes: reused or inlined as it is."""
        return planned.action is Action.INLINE or (planned.action is Action.REUSE and not planned.publish)

    def _unpublish(self, ok: bool) -> list[StepResult]:
        """Steps whose file is gone leave the environment, once the rest of the run succeeded."""
        results = []
        for name, relation in sorted(self.deleted.items()):
            result = StepResult(name, "deleted", "", Action.UNPUBLISH.value, reason_text(Reason(ReasonKind.DELETED, relation)))
            result.started_at = result.finished_at = now()
            result.status, result.error = ("skipped", "the run failed; unpublished by the next successful run") if not ok else ("success", None)
            results.append(result)
        # The deleted steps are recorded too when this environment published none of them
        # (deleted before its first run): promoting it removes them from the destination.
        # A failed run records no new deletion, but forgets those whose file is back.
        recorded = self.state.deleted_steps(self.env, recorded=True)
        gone = self.gone if ok else recorded & self.gone
        if (ok and self.deleted) or gone != recorded:
            try:
                materialize.unpublish(self.engine, self.state, self.droppable if ok else {}, self.env, gone, self.run_id)
            except Exception as failure:
                for result in results:
                    result.status, result.error = "failed", f"unpublish failed: {engine_message(failure)}"
                if not results:
                    self.console.show(f"warning: the steps deleted from the project were not recorded: {engine_message(failure)}",
                                      [{"event": "warning", "message": engine_message(failure)}])
        for relation, kind in sorted({**self.left, **(self.foreign if ok else {})}.items()):
            text = f"warning: {relation} was left as it is: a {kind} toolkit did not make (replaced since toolkit published it)"
            self.console.show(text, [{"event": "warning", "message": text}])
        for result in results:
            self.console.step_finished(result)
        return results

    def _collect(self, name: str, results: dict, waiting: dict) -> None:
        """A step's worker finished: release its downstream, or skip it on failure."""
        result = results[name]
        self.collected.add(name)
        refusals = self._refusals(name)
        if refusals and result.status != "failed":  # built while its test failed: failed by the test, like those on hold
            self._refuse(result, refusals, self.to_publish.pop(name, None))
        elif name in self.unpublishable and result.status != "failed":
            dropped = self.to_publish.pop(name, None)
            result.status, result.error = "skipped", f"upstream {self.unpublishable[name]} was not published"
            if dropped is not None:
                self._settle(result, dropped)
        if result.status in ("failed", "skipped"):
            self._decide_owned(name, result)
            result.error = (result.error or "") + self._held_with(name, result)
            self.console.step_finished(result)
            self._skip_downstream(name, waiting, results)
            return
        for reader in self.readers.get(name, ()):
            if reader in waiting and name not in self.view_reads.get(reader, ()):
                waiting[reader].discard(name)
        if result.status in ("reused", "inlined"):
            self.console.step_finished(result)
            self._release_view_readers(name, waiting)
        elif name in self.holds:  # released (or withheld) by _judge_holds, at once if its tests have run
            self.on_hold[name] = (result, self.to_publish.pop(name))
        else:
            self.pending.append((result, self.to_publish.pop(name)))

    # -- publishes held for the custom tests of later steps (planning.held_publishes) ----

    def _waiting_for_tests(self, name: str) -> bool:
        return any((hold.owner, hold.test) not in self.verdicts for hold in self.holds.get(name, ()))

    def _held_with(self, owner: str, result: StepResult) -> str:
        """What a failed step's message adds: the steps its custom or relationships tests held, now not published."""
        kept = sorted({name for name, holds in self.holds.items() for hold in holds
                       if hold.owner == owner and self.verdicts.get((owner, hold.test), self._verdict(hold, result)) is not None})
        # A step this environment never published (nor prod, which it falls back to) has no previous version to keep.
        staying = [name for name in kept if self.plan[name].current is not None]
        new = [name for name in kept if name not in staying]
        return ((f"; held back with it, not published (their previous versions stay): {', '.join(staying)}" if staying else "")
                + (f"; held back with it, never published (no previous version): {', '.join(new)}" if new else ""))

    def held(self, step: str) -> bool:
        return step in self.holds

    def _judge_holds(self, running: set[str], results: dict, waiting: dict, patient: bool = True) -> None:
        """Each custom test that holds publishes, once the step it runs with is done (not waiting,
        not running): passed, what it held is published with the next batch; failed (or never
        run), none of it is, and what was built from it is not either. `patient=False`: also the
        tests of steps still on hold, judged on their new rows (nothing left can decide them)."""
        # Until nothing changes: a held step refused or released decides whether the tests it
        # owns judge its new rows or its previous ones (_kept_rows_verdict), down a chain.
        while self._judge_holds_once(running, results, waiting, patient):
            pass

    def _judge_holds_once(self, running: set[str], results: dict, waiting: dict, patient: bool = True) -> bool:
        """One pass of _judge_holds; whether it decided, released or withheld anything."""
        decided = {(hold.owner, hold.test): hold for holds in self.holds.values() for hold in holds
                   if (hold.owner, hold.test) not in self.verdicts and hold.owner not in waiting and hold.owner not in running
                   and results[hold.owner].status != "pending" and not (patient and self._owner_undecided(hold))}
        for key, hold in sorted(decided.items()):
            self.verdicts[key] = self._judged(hold, results[hold.owner])
        released, withheld = [], []
        for name in sorted(self.on_hold):
            refusals = self._refusals(name)
            if refusals:
                result, item = self.on_hold.pop(name)
                self._refuse(result, refusals, item)
                self._decide_owned(name, result)  # its previous rows stay: they decide for its own parents
                result.error += self._held_with(name, result)
                self.console.step_finished(result)
                withheld.append(name)
            elif not self._waiting_for_tests(name):
                released.append(self.on_hold.pop(name))
        for name in withheld:  # what was built from them, held or not, is not published either
            self._withhold_downstream(name, waiting, results)
        if released:  # a step after those it reads: _publish_each relies on it
            order = {name: i for i, name in enumerate(self.compiled.dag.order())}
            self.pending = sorted(self.pending + released, key=lambda pair: order[pair[0].step])
        return bool(decided or released or withheld)

    def _decide_owned(self, owner: str, result: StepResult) -> None:
        """The verdicts of `owner`'s tests that hold other steps, once it is known not to publish
        its new rows (failed, held, skipped): its message then names the steps they hold."""
        for hold in self.owned_holds.get(owner, ()):
            if (owner, hold.test) not in self.verdicts:
                self.verdicts[(owner, hold.test)] = self._judged(hold, result)

    def _owner_undecided(self, hold) -> bool:
        """A relationships test's step itself on hold: whether it publishes its new rows or keeps
        its previous ones (which the test then judges, _kept_rows_verdict) is not known yet."""
        return not hold.custom and hold.owner in self.on_hold

    def _judged(self, hold, owner: StepResult) -> str | None:
        """None when the steps `hold` holds may be published; else why not (_verdict). A
        relationships test that failed holds them; one whose step does not publish its new rows
        (another test failed, a later test held it, its build failed) and that passed on them or
        never ran judges the rows the step keeps instead (_kept_rows_verdict)."""
        why = self._verdict(hold, owner)
        if hold.custom or owner.status not in ("failed", "skipped"):
            return why
        outcome = next((o for o in owner.tests if hold.matches(o.test)), None)
        if outcome is not None and outcome.status == "fail":  # whose rows are at fault it cannot tell: held
            return why
        return self._kept_rows_verdict(hold, owner, ran=outcome is not None)

    def _kept_rows_verdict(self, hold, owner: StepResult, ran: bool) -> str | None:
        """The step keeps its previous rows: they stay published, so the parent's new build is
        published only if they pass the test against it. None when nothing of the step is
        published (its first run), or when the test passed on those very rows (a re-test)."""
        planned = self.plan[hold.owner]
        if planned.current is None or (ran and planned.action is Action.TEST):
            return None
        test = next(test for test in planned.step.data_tests if hold.matches(test))
        kept = exp.table_(planned.current.physical_name, db=PHYSICAL_SCHEMA)
        parent = test.args["to"]
        on_new = (f"it passed on {hold.owner}'s new rows" if ran else
                  f"it did not run on {hold.owner}'s new rows ({owner.status}{': ' + owner.error if owner.error else ''})")
        why = f"{on_new}, but {hold.owner} keeps its previous rows (its new rows were not published)"
        try:
            outcome = run_tests(self.engine, kept, [test], self.tests.dialect, self.tests.reading(hold.owner, kept).relation_of)[0]
        except Exception as failure:  # not known to pass: held
            return f"{why}, which could not be checked against {parent}'s new rows: {engine_message(failure)}"
        if outcome.status != "fail":
            return None
        return f"{why}, which fail it against {parent}'s new rows: {outcome.describe(located=False)}"

    @staticmethod
    def _verdict(hold, owner: StepResult) -> str | None:
        """None when the test passed; else why the steps it holds are not published."""
        outcome = next((o for o in owner.tests if hold.matches(o.test)), None)
        if outcome is not None and outcome.status != "fail":
            return None
        if outcome is None:
            return f"it did not run ({hold.owner} {owner.status}{': ' + owner.error if owner.error else ''})"
        return f"it failed: {outcome.describe(located=False)}"

    def _refusals(self, name: str) -> list:
        """(hold, why) of each custom test holding `name` that failed or never ran, as far as
        known: the scheduling thread's verdicts, else what the test's worker found (early_verdicts)."""
        found = []
        for hold in self.holds.get(name, ()):
            key = (hold.owner, hold.test)
            why = self.verdicts[key] if key in self.verdicts else self.early_verdicts.get(key)
            if why:
                found.append((hold, why))
        return found

    def _refuse(self, result: StepResult, refusals: list, item: materialize.Publication | None = None, built: bool = True) -> None:
        """A held step one of whose tests failed or never ran: failed, naming the test, and not
        published (its previous version stays); not built at all when the test failed before it
        started. The test's step names it too (_held_with)."""
        hold, why = refusals[0]
        result.status = "failed"
        result.error = (f"{hold.file}: {'not published' if built else 'not built'} ({self._kept_instead(result.step)}): held back by "
                        f"{hold.by()}, and {why}")
        owner = self.results[hold.owner]
        # toolkit.test_results: the test that held it, under its name too; not where the held step
        # has a test of that label itself (a sibling child's relationships test to the same parent)
        own = {o.test.label for o in result.tests}
        result.tests = result.tests + [o for o in owner.tests if hold.matches(o.test) and o.test.label not in own]
        if item is not None:
            self._settle(result, item)

    def _kept_instead(self, name: str) -> str:
        """What readers keep seeing of a held step: its previous version, or nothing on its first
        run (a held parent stays unpublished rather than published beside a child that failed)."""
        planned = self.plan.get(name)
        return "its previous version stays" if planned is not None and planned.current is not None else "it was never published: it stays unpublished"

    def _publish(self, batch: list) -> list[StepResult]:
        """Publish the batch at once; if it fails (nothing in it became visible), each step
        on its own, so that one blocked view (an analyst's view on it, say) fails its step
        and what reads it, not every step that happened to share its commit."""
        try:
            materialize.publish(self.engine, self.state, [item for _, item in batch], self.run_id, self.env)
        except Exception as failure:
            if len(batch) == 1:
                self._mark(batch[0][0], "failed", f"publish failed: {engine_message(failure)}")
                self._settle(*batch[0])
                return [batch[0][0]]
            return self._publish_each(batch)
        for result, item in batch:
            self._mark(result, "success")
            self._settle(result, item)
        return [result for result, _ in batch]

    def _publish_each(self, batch: list) -> list[StepResult]:
        """The batch in its order (a step after those it reads), one commit each; a step
        whose upstream in it failed is not published (it was built from that table)."""
        failed: set[str] = set()
        for result, item in batch:
            blocked = next((u for u in sorted(failed) if u in self.compiled.dag.ancestors(result.step)), None)
            if blocked is not None:
                self._mark(result, "skipped", f"upstream {blocked} was not published")
                self._settle(result, item)
                failed.add(result.step)
                continue
            try:
                materialize.publish(self.engine, self.state, [item], self.run_id, self.env)
            except Exception as failure:
                self._mark(result, "failed", f"publish failed: {engine_message(failure)}")
                failed.add(result.step)
            else:
                self._mark(result, "success")
            self._settle(result, item)
        return [result for result, _ in batch]

    def withhold_unsettled(self, why: str) -> None:
        """The run stops (Ctrl-C) with model versions built but not settled by a publish:
        each stays a candidate with a 'hold' row saying why, so that the next run scores
        with it again and says so (modelrun._restore_if_reverted). Settled ones are left."""
        for promotion in self.promotions:
            if promotion.outcome.promotion is not None:
                promotion.withheld(why)

    @staticmethod
    def _settle(result: StepResult, item: materialize.Publication) -> None:
        """A model's version chosen for promotion (modelrun.Promotion) becomes production
        once its predictions are published, and only then; when they are not, it stays a
        candidate and its history says why."""
        promotion = item.after_publish
        if promotion is None:
            return
        try:
            if result.status == "success":
                result.reason = promotion.published()
            else:
                result.reason = promotion.withheld(result.error or "its predictions were not published")
        except Exception as failure:
            if result.status == "success":  # published, but the registry still names the earlier version: say so
                result.status = "failed"
                result.error = (f"predictions published with version {promotion.outcome.version}, but promoting it failed: "
                                f"{engine_message(failure)} (the next run promotes it again)")

    def _broke(self, result: StepResult, error: BaseException) -> None:
        """A worker's _execute raised past its own handlers (a failure while reporting a
        failure): the step failed, nothing of it is published (_collect found no table to
        publish: KeyError), and a version it chose stays a candidate."""
        item = self.to_publish.pop(result.step, None)
        result.status, result.finished_at = "failed", result.finished_at or now()
        result.error = result.error or f"internal error: {type(error).__name__}: {error}"
        result.traceback = "".join(traceback.format_exception(error))
        log.debug("step %s failed\n%s", result.step, result.traceback)
        if item is not None:
            self._settle(result, item)

    @staticmethod
    def _mark(result: StepResult, status: str, error: str | None = None) -> None:
        reused = status == "success" and result.action == Action.REUSE.value
        result.status, result.error = ("reused" if reused else status), error

    def _release_view_readers(self, name: str, waiting: dict) -> None:
        """`name` is published (or kept as published): the steps reading it through a view source may start."""
        for reader in self.view_readers.get(name, ()):
            if reader in waiting:
                waiting[reader].discard(name)

    def _downstream(self, name: str) -> set[str]:
        """The steps built from `name`: its descendants, and those reading it through a view
        source (with their descendants)."""
        if not self.view_readers:
            return self.compiled.dag.descendants(name)
        found: set[str] = set()
        stack = [name]
        while stack:
            at = stack.pop()
            for reader in self.compiled.dag.downstream[at] | self.view_readers.get(at, set()):
                if reader not in found:
                    found.add(reader)
                    stack.append(reader)
        return found

    def _withhold_downstream(self, failed: str, waiting: dict, results: dict) -> None:
        """`failed`'s publish failed after readers of its new table had started: those
        waiting are skipped, those queued are taken out of the queue, those running are
        skipped when they finish (_collect). All keep what they published before."""
        for name in self._downstream(failed):
            self.unpublishable.setdefault(name, failed)
        queued = [(r, item) for r, item in self.pending if r.step in self.unpublishable]
        queued += [self.on_hold.pop(name) for name in sorted(self.on_hold) if name in self.unpublishable]
        self.pending = [(r, item) for r, item in self.pending if r.step not in self.unpublishable]
        for result, item in queued:
            refusals = self._refusals(result.step)
            if refusals:
                self._refuse(result, refusals, item)
            else:
                result.status, result.error = "skipped", f"upstream {self.unpublishable[result.step]} was not published"
                self._settle(result, item)
            self.console.step_finished(result)
        self._skip_downstream(failed, waiting, results)

    def _skip_downstream(self, failed: str, waiting: dict, results: dict) -> None:
        for name in self._downstream(failed):
            if name in waiting:
                del waiting[name]
                result = results[name]
                refusals = self._refusals(name)
                if refusals:  # held, its test failed before it started: failed by the test, and never built
                    self._refuse(result, refusals, built=False)
                else:
                    result.status, result.error = "skipped", f"upstream {failed} failed"
                self.console.step_finished(result)

    def _execute(self, planned: Planned, result: StepResult) -> None:
        step = planned.step
        result.started_at, began = now(), time.perf_counter()
        self.began[step.name] = began
        refusals = self._refusals(step.name)
        if refusals:  # held, and its test failed while it waited for a worker: not built (_collect reports it)
            self._refuse(result, refusals, built=False)
            result.finished_at = now()
            self._tested(step.name, result)
            return
        try:
            blocked = [key for key in step.sources if key in self.failed_sources]
            if blocked:
                raise self.failed_sources[blocked[0]].error()
            held_reads = self.held_view_reads.get(step.name)
            if held_reads and planned.builds:  # it would read old rows through a view: see viewsources.HeldRead
                raise held_reads[0].error(step.name)
            if planned.action is Action.INLINE:
                result.status = "inlined"
            elif planned.action is Action.REUSE and planned.publish:  # a published table, published (again) under this name
                current = planned.current
                physical = exp.table_(current.physical_name, db=PHYSICAL_SCHEMA)
                self._finished(planned, result, Built(physical, None, reads=tuple(current.reads)))
            elif planned.action is Action.REUSE:
                result.status, result.physical_name = "reused", self.physical[step.name]
            elif planned.action is Action.TEST:  # the published data, tested again (a failure unpublishes nothing)
                physical = exp.table_(planned.current.physical_name, db=PHYSICAL_SCHEMA)
                tests = materialize.check(self.engine, step, physical, self.tests, published=True, only=self._retested(planned))
                self._finished(planned, result, Built(physical, None, tests, reads=tuple(planned.current.reads)))
            elif planned.action is Action.INCREMENTAL:
                self._finished(planned, result, step.strategy.update(self, planned))
            else:
                self._finished(planned, result, step.strategy.build(self, planned))
        except ToolkitError as error:
            result.tests = getattr(error, "outcomes", result.tests)
            result.details = getattr(error, "details", result.details)  # a model's NULL and unseen counts, kept when it fails
            if isinstance(getattr(error, "reason", None), str):  # a model: the version it trained, not promoted (modelrun.held_back)
                result.reason = error.reason
            # A failing custom test names its own file (where the failing SQL is), not the step's.
            result.status, result.error = "failed", f"{getattr(error, 'where', None) or step.file}: {error}"
            if isinstance(error, ProjectError):  # a mistake in the project found only now (a model function's return)
                result.error, result.user_error = (str(error) if error.file else result.error), True
            result.action = self.actions.get(step.name, result.action)
            result.traceback = traceback.format_exc()
            log.debug("step %s failed\n%s", step.name, result.traceback)
        except Exception as error:  # an engine error fails this step, not the run
            if isinstance(getattr(error, "details", None), str) and isinstance(getattr(error, "reason", None), str):
                result.details, result.reason = error.details, error.reason  # a model's version, set by modelrun.held_back
            result.status, result.error = "failed", f"{step.file}: {engine_message(error)}"
            result.action = self.actions.get(step.name, result.action)
            result.traceback = traceback.format_exc()
            log.debug("step %s failed\n%s", step.name, result.traceback)
        except BaseException as error:
            # Raised on a worker thread, SystemExit, KeyboardInterrupt or any other BaseException
            # is neither the user's Ctrl-C nor toolkit's exit (Python delivers signals to the main
            # thread): project code (an estimator's fit) ended itself. The step fails; left
            # pending, it would crash the run (_collect).
            if threading.current_thread() is threading.main_thread():
                raise
            what = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            result.status, result.error = "failed", f"{step.file}: {what} raised while the step ran (project code must not end the run)"
            result.action = self.actions.get(step.name, result.action)
            result.traceback = traceback.format_exc()
            log.debug("step %s failed\n%s", step.name, result.traceback)
        result.finished_at, result.seconds = now(), time.perf_counter() - began
        self._tested(step.name, result)

    # -- table builds committed together (Engine.BATCHES_BUILDS) -------------------------

    def _announce(self, name: str) -> None:
        if name not in self.announced:
            self.announced.add(name)
            self.console.step_started(name)

    def _execute_batch(self, names: tuple[str, ...]) -> batches.Batch:
        """On a worker: build `names` in one transaction and commit them together
        (batches.Batches.build_together); a step of an undone batch is as before it ran (_undo)."""
        physical = {name: self.physical.get(name) for name in names}
        return self.batching.build_together(names, self._build_in_batch, lambda name: self._undo(name, physical[name]),
                                            lambda: self.interrupted_at is not None)

    def _build_in_batch(self, name: str) -> bool:
        """Build `name` as any step; False when it did not build (the batch is undone)."""
        self._execute(self.plan[name], self.results[name])
        return self.results[name].status == "built"

    def _undo(self, name: str, physical: str | None) -> None:
        """A step of a rolled-back batch, as before it ran: its table is gone, nothing of it published."""
        self.to_publish.pop(name, None)
        self.actions.pop(name, None)
        if physical is None:
            self.physical.pop(name, None)
        else:
            self.physical[name] = physical
        planned, result = self.plan[name], self.results[name]
        fresh = StepResult(name, planned.step.kind, planned.step.materialized, planned.action.value, reason_text(planned.reason),
                           fingerprint=planned.fingerprint)
        for kept in dataclasses.fields(StepResult):
            setattr(result, kept.name, getattr(fresh, kept.name))

    def _batch_done(self, batch: batches.Batch, results: dict, waiting: dict) -> None:
        """On the scheduling thread: a batch committed its `built` steps; those it did not
        start, or undid, wait again for what they read (an undone one is built on its own)."""
        for name in batch.built:
            self._announce(name)
            self._collect(name, results, waiting)
        for name in batch.returned:
            if name in self.unpublishable:  # an upstream's publish failed meanwhile (_withhold_downstream): as if it had waited
                results[name].status, results[name].error = "skipped", f"upstream {self.unpublishable[name]} failed"
                self.console.step_finished(results[name])
                continue
            if batch.undone:
                self.batching.build_alone(name)
            waiting[name] = self._planned_upstream(self.plan[name].step) - self.collected

    def _tested(self, name: str, result: StepResult) -> None:
        """On the worker, once `name` is done: the verdicts of its custom tests that hold other
        steps, for those not started yet (early_verdicts). A relationships test's only when it
        failed: one that did not run may yet let them go (_judged, which reads the database)."""
        for hold in self.owned_holds.get(name, ()):
            outcome = next((o for o in result.tests if hold.matches(o.test)), None)
            if hold.custom or (outcome is not None and outcome.status == "fail"):
                self.early_verdicts[(hold.owner, hold.test)] = self._verdict(hold, result)

    def _retested(self, planned: Planned):
        """Which tests a re-test (Action.TEST) runs: all when they changed; else freshness (the clock
        moved), the custom tests reading steps this run writes (planning.retest_for_written_reads), and,
        when only steps its tests read changed (Materialization.retest_for_tests_inputs), the tests
        reading those. The rest saw these rows already."""
        kinds = planned.reason.kinds()
        if ReasonKind.TESTS_CHANGED in kinds:
            return None
        reading = {id(test) for test in reads_written(planned.step, self.plan)} if ReasonKind.TEST_READS_WRITTEN in kinds else set()
        if planned.reason.kind is ReasonKind.TESTS_INPUT_CHANGED:  # only steps its tests read changed: those tests
            # (and those reading steps this run writes, which hold them: planning.held_publishes)
            reading |= {id(test) for test in tests_reading_changed(planned) + reads_written(planned.step, self.plan)}
        clock = ReasonKind.CLOCK in kinds
        return lambda test: id(test) in reading or (clock and test.name == "freshness")

    def _finished(self, planned: Planned, result: StepResult, built: Built) -> None:
        """Record what the strategy built and queue it for publishing."""
        prints = planned.published_prints(built.version)
        result.fingerprint = prints.data
        result.rows_written, result.tests = built.rows, list(built.tests)
        if built.action is not None:  # a model says whether it trained or only scored
            result.action, result.reason, result.details = built.action, built.reason, built.details
        result.alerts, result.fails_run, result.rows_trained = list(built.alerts), built.fails_run, built.rows_trained
        self.physical[planned.step.name] = built.physical.name
        result.status, result.physical_name = "built", built.physical.name
        row = planned.row(built.physical.name, self.run_id, self.env, built.reads, prints,
                          columns_read(self.compiled, planned.step))
        current = planned.current
        moved = (current is not None and current.env == self.env and current.relation and current.relation != planned.relation.sql()
                 and self.claimed.get(publishguard.fold_for(self.engine)(current.relation), planned.step.name) == planned.step.name)
        if moved and current.relation in self.replaced:
            moved, self.left[current.relation] = False, self.replaced[current.relation]
        if built.after_publish is not None:
            self.promotions.append(built.after_publish)
        # A copy of the plan's relation (the step's own, planning.env_relation): the publish makes it a node of its CREATE VIEW.
        self.to_publish[planned.step.name] = materialize.Publication(
            planned.relation.copy(), built.physical, row, planned.step.strategy, exp.to_table(current.relation) if moved else None,
            hooks.for_step(planned.step, self.compiled.dialect), built.after_publish)

    # -- the strategies' BuildContext ---------------------------------------------------

    @property
    def registry(self):
        return self.session.registry

    def query(self, tree: exp.Expression | None) -> tuple[exp.Expression | None, tuple[str, ...]]:
        """The step's query with upstream names swapped for the physical relations it reads,
        ephemeral upstream steps inlined as CTEs; and the physical names it reads."""
        if tree is None:
            return None, ()
        prepared = self.prepared.pop(id(tree), None)
        if prepared is not None and prepared.tree is tree and all(self.physical.get(n) == p for n, p in prepared.names.items()):
            return prepared.query, prepared.reads
        return self._rewrite(tree, self.physical.get, {})

    def _rewrite(self, tree: exp.Expression, physical_of, names: dict) -> tuple[exp.Expression, tuple[str, ...]]:
        """query() with physical names from `physical_of`; `names` collects the ones looked up."""

        def physical(name: str) -> exp.Table | None:
            found = names[name] = physical_of(name)
            return exp.table_(found, db=PHYSICAL_SCHEMA) if found is not None else None

        query = inline_ephemeral(self.compiled, tree, physical, self.by_relation)
        reads = tuple(sorted({t.name for t in query.find_all(exp.Table) if t.db == PHYSICAL_SCHEMA}))
        return query, reads

    def _prepare(self, stop: threading.Event) -> None:
        """Rewrite the queries of the steps this run builds ahead of their turn, on its own
        thread: the engine runs with the GIL released, so this Python work overlaps the
        builds instead of adding to them. Each rewrite assumes every upstream built this run
        gets the physical name planned for it; query() uses it only if that held."""
        expected = dict(self.physical)
        try:
            for name in self.compiled.dag.order():
                planned = self.plan.get(name)
                if stop.is_set():
                    return
                if planned is None or not planned.builds or planned.step.tree is None or planned.step.strategy.inlined:
                    continue
                expected[name] = self.new_physical(planned.step, planned.fingerprint).name
                names: dict[str, str | None] = {}
                query, reads = self._rewrite(planned.step.tree, expected.get, names)
                self.prepared[id(planned.step.tree)] = _Prepared(planned.step.tree, names, query, reads)
        except Exception:  # only a head start: the build rewrites the query itself and reports what fails
            log.debug("preparing queries ahead stopped", exc_info=True)

    def acting(self, step: str, action: str) -> None:
        self.actions[step] = action

    def progress(self, step: str, phase: str) -> None:
        self.console.step_progress(step, phase, time.perf_counter() - self.began.get(step, time.perf_counter()))

    def physical_of(self, name: str) -> exp.Table:
        return exp.table_(self.physical[name], db=PHYSICAL_SCHEMA)

    def new_physical(self, step, fingerprint: str) -> exp.Table:
        return physical_table(step.name, fingerprint, self.run_id, self.engine.MAX_IDENTIFIER_LENGTH)

    def read_seed(self, name: str):
        return read_seed(self.compiled.project.seeds[name], self.compiled.project.root)


class _UpdateLock:
    """The runner's engine_lock: incremental updates commit one at a time, and none starts
    once Ctrl-C came (`stopped`). In place, an update commits before its publish: one queued
    behind an interrupted update took the lock that one let go of and committed its new
    rows into the published table, while the run recorded it "interrupted before it was
    published"."""

    def __init__(self, stopped):
        self._lock, self._stopped = threading.Lock(), stopped

    def __enter__(self) -> None:
        self._lock.acquire()
        if self._stopped():
            self._lock.release()
            raise StepFailed("interrupted (Ctrl-C) before its update started")

    def __exit__(self, *raised) -> None:
        self._lock.release()


@dataclass(frozen=True)
class _Prepared:
    """A step's query rewritten ahead of its build, and the physical names it assumed."""

    tree: exp.Expression
    names: dict
    query: exp.Expression
    reads: tuple[str, ...]

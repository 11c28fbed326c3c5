"""Table builds committed together, where the engine allows it (Engine.BATCHES_BUILDS: DuckDB).

A batch is a group of table builds that one worker runs, in dependency order, inside one
transaction on its session, and commits once. It takes table builds that are ready
together, plus the waiting table builds that read nothing unfinished but what that group
builds (they run after it in the same transaction and see its uncommitted tables).

Why: on DuckDB a COMMIT costs its fsync (~1.2 ms each on a quiet host, more under I/O
load), so 500 builds committed one by one spend a good part of the run syncing the log.
tests/bench/README.md, section "committing a layer's builds together", has the figures.

Rules:
- At most BATCH_STEPS (50) steps a batch: 50 per transaction keeps ~90% of what a single
  transaction for all saves, and a wider batch delays publishing and progress for little more.
- No step starts in a batch after BATCH_SECONDS (1 s) of it: its readers on other workers,
  and its publish, wait for its commit. The steps not started go back to the scheduler.
- A step that fails, or any failed statement, undoes the whole batch (DuckDB has no
  savepoints, and its COMMIT of an aborted transaction rolls back without a word:
  transaction_intact() probes before it). Each step of an undone batch is then built
  again on its own, exactly as without batches, so a user sees the same results and errors.
- Nothing of a batch is published before its commit: a kill before it loses only its
  tables, which no state row names yet.
- Not batched (see Batches.batchable): builds of non-table materializations, steps with
  post_hooks (their rehearsal rolls back a transaction of its own), steps with relationships or
  custom tests (another worker's batch may hold what they read), held publishes and the
  owners of the tests holding them, view-source readers, steps reading a failed source,
  and steps of a batch that was undone.

The runner (execute._Runner) owns the scheduling: it asks this module which ready steps
may share a commit and how to group them, runs a group on a worker with build_together,
and collects what it committed. PostgreSQL and Spark build as before: one commit each.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Collection

from toolkit import hooks
from toolkit.planning import Planned

log = logging.getLogger(__name__)

BATCH_STEPS = 50
BATCH_SECONDS = 1.0
READING_TESTS = ("relationships", "custom")  # data tests that read other steps (planning._test_reads)


class BatchUndone(Exception):
    """A step of a batch failed (or a statement did): the batch is rolled back."""


@dataclass(frozen=True)
class Batch:
    """What a batch of builds committed, and the steps it gives back to the scheduler."""

    built: tuple[str, ...]
    returned: tuple[str, ...]
    undone: bool = False


class Batches:
    """Which of a run's steps may share a commit, and how ready ones are grouped.

    `scheduled_apart`: the steps whose build waits on the runner's scheduling thread (held
    publishes, the owners of the tests holding them, view-source readers); `failed_sources`:
    the sources whose tests failed (a step reading one fails at once)."""

    def __init__(self, engine, plan: dict[str, Planned], dag, scheduled_apart: Collection[str], failed_sources: dict):
        self.engine, self.plan, self.dag = engine, plan, dag
        self.scheduled_apart, self.failed_sources = scheduled_apart, failed_sources
        self.unbatched: set[str] = set()  # steps of a batch that failed: built again one by one, as without batches

    def batchable(self, planned: Planned) -> bool:
        """A table build that may commit with others: its build is statements on the worker's
        session only (no post_hooks to rehearse in a transaction of their own), and nothing about it
        waits on the scheduling thread (publishes held for tests, views read, failed sources)."""
        step = planned.step
        return (self.engine.BATCHES_BUILDS and planned.builds and step.strategy.commits_with_others
                and step.name not in self.unbatched and step.name not in self.scheduled_apart
                and not any(key in self.failed_sources for key in step.sources)
                and not any(test.name in READING_TESTS for test in step.data_tests)  # another worker's batch may hold what they read
                and not hooks.hook_texts(step))  # a rehearsal (hooks.rehearse) rolls back a transaction of its own

    def build_alone(self, name: str) -> None:
        """A step of an undone batch: from now on it is built on its own."""
        self.unbatched.add(name)

    def form(self, ready: list[str], waiting: dict, workers: int) -> list[tuple[str, ...]]:
        """The ready table builds shared among the workers, each share with the waiting table
        builds that read nothing unfinished but what it builds (they run after it, in the same
        transaction, and see its tables), at most BATCH_STEPS a batch. Those taken leave `waiting`."""
        if not ready:
            return []
        count = max(min(workers, len(ready)), -(-len(ready) // BATCH_STEPS))
        batches = [ready[i::count] for i in range(count)]
        home = {name: i for i, names in enumerate(batches) for name in names}
        for name in self._order:
            deps = waiting.get(name)
            if not deps or not self.batchable(self.plan[name]):
                continue
            homes = {home.get(dep) for dep in deps}
            if len(homes) == 1 and None not in homes and len(batches[next(iter(homes))]) < BATCH_STEPS:
                home[name] = next(iter(homes))
                batches[home[name]].append(name)
                del waiting[name]
        return [tuple(names) for names in batches]

    @cached_property
    def _order(self) -> list[str]:
        return [name for name in self.dag.order() if name in self.plan]

    def build_together(self, names: tuple[str, ...], build: Callable[[str], bool], undo: Callable[[str], None],
                       interrupted: Callable[[], bool]) -> Batch:
        """On a worker: `build` each of `names` (in dependency order; True: built) in one
        transaction on its session, and commit them together. A step that fails, or any
        failed statement, undoes the batch: `undo` puts each step it started back as before
        it ran, and all go back to be built on their own. Ctrl-C (`interrupted`) is raised."""
        began, done = time.perf_counter(), []
        try:
            with self.engine.transaction():
                for name in names:
                    if done and time.perf_counter() - began >= BATCH_SECONDS:
                        break
                    done.append(name)
                    if not build(name):
                        raise BatchUndone
                if not self.engine.transaction_intact():  # its COMMIT would roll back without a word
                    raise BatchUndone
        except BaseException as failure:
            self._roll_back()
            for name in done:
                undo(name)
            if not isinstance(failure, (BatchUndone, Exception)) or interrupted():
                raise  # Ctrl-C: nothing of the batch was built (recorded as interrupted)
            log.debug("a batch of %d builds was undone; they are built again one by one", len(names), exc_info=True)
            return Batch((), names, undone=True)
        return Batch(tuple(done), names[len(done):])

    def _roll_back(self) -> None:
        """The transaction of a batch whose COMMIT itself failed is ended too."""
        try:
            self.engine.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - none left open: transaction() rolled it back
            pass

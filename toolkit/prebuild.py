"""Building ahead: while `toolkit run` still compiles and plans, the tables of steps no run
has built yet are built from their compiled queries on a thread of their own; the run's
build of such a step then takes the table instead of running the same statement again.

Why: a first build runs nothing until the whole project is compiled and planned (about
1.1 s of Python for 500 steps, tests/bench/README.md), and the engine sits idle meanwhile.
DuckDB releases the GIL while it works, so its statements overlap the compile.

Nothing here is visible until the run says so. Built ahead means built into the physical
schema under a name of its own; only the run's build of the step (materializations/table.py
through _Runner.adopt) turns it into the step's physical table, and then tests and
publishes it as any build. What is not taken is dropped when the run ends, refused or not
(and a killed run's by the next run's drop_unreferenced: the names are no environment's).

Taken only when the run would have built the very same table:
- DuckDB only (Engine.BUILDS_AHEAD): the run's process holds the file, so nothing else
  writes the sources in between;
- a run of the whole project (no --select/--exclude), so every step is planned;
- a step no environment has published: the run builds it (unless it is refused, or the
  step skipped); a step that may be reused is never built ahead;
- a table step without hooks or volatile calls (now(), random()), not a model's training
  table, reading only steps built ahead and sources that are base tables of the file
  declared without files (a file source is synced by the run, a view may read a step the
  run publishes);
- its statement, with the tables built ahead in place of the ones the run made of them, is
  the statement the run would run, text for text. Anything that changed the query since
  (a source check recompiling, a repair that reads the catalog) makes the run build it as
  always.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Iterator

from sqlglot import exp

from toolkit.compiling.compiledproject import inline_ephemeral
from toolkit.state import PHYSICAL_SCHEMA

log = logging.getLogger(__name__)

# Built ahead in groups that commit together (one fsync each, as the run's batches): a
# statement that fails loses its group only, and finish() waits for one group's commit.
GROUP_STEPS = 50
GROUP_SECONDS = 1.0
PREFIX = "_toolkit_ahead_"


@dataclass(frozen=True)
class _Built:
    table: str  # its name in the physical schema
    text: str  # the query it was built from, as the engine generated it
    rows: int


class Ahead:
    """Builds ahead on one thread; `offer` each compiled step (the compile's thread), then
    `finish` before the run's builds, `adopt` from them, `discard` at the end."""

    def __init__(self, ahead_session, selected_all: bool, full_refresh: bool = False):
        self._ahead_session = ahead_session
        self._full_refresh = full_refresh  # every table step is built again: published ones too
        self._offered: deque = deque()
        self._wake = threading.Condition()
        self._stop = False
        self._done = False
        self._lock = threading.Lock()  # built and adopted: read and written by the run's workers
        self._built: dict[str, _Built] = {}
        self._adopted: dict[str, str] = {}  # physical name the run gave -> the table built ahead it was
        self._engine = None
        self._thread = threading.Thread(target=self._work, name="toolkit-ahead", daemon=True) if selected_all else None
        if self._thread is not None:
            self._thread.start()

    # -- the compile's side --------------------------------------------------------------

    def offer(self, step, steps: dict, project) -> None:
        """A step compiled (its upstream before it, as the compile orders them)."""
        if self._thread is None:
            return
        with self._wake:
            self._offered.append((step, steps, project))
            self._wake.notify()

    def compiled(self) -> None:
        """Nothing more will be offered."""
        with self._wake:
            self._done = True
            self._wake.notify()

    # -- the run's side --------------------------------------------------------------------

    def finish(self) -> None:
        """Stop building ahead (the statement running ends first) and commit what was built."""
        if self._thread is None:
            return
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join()

    def adopt(self, engine, name: str, physical: exp.Table, query: exp.Expression) -> int | None:
        """The rows of `physical`, made the table built ahead for step `name` if its query is
        `query` (what the run would build); None: the run builds it."""
        with self._lock:
            built = self._built.get(name)
            if built is None:
                return None
            mapped = dict(self._adopted)
        # The upstream tables this run took from building ahead, read under the names they were
        # built under: the same text then means the same statement over the same data.
        text = engine.generate(_renamed(query, mapped))
        if text != built.text:
            log.debug("built ahead but not taken: %s (its query changed since)\n%s\n%s", name, text, built.text)
            return None
        engine.execute(exp.Alter(this=exp.table_(built.table, db=PHYSICAL_SCHEMA), kind="TABLE",
                                 actions=[exp.AlterRename(this=exp.to_table(physical.name))]))
        # A failed batch rolls this rename back: the step, built again on its own, takes the
        # table again under the same name (or fails), so what its readers map stays true.
        with self._lock:
            self._adopted[physical.name] = built.table
        return built.rows

    def discard(self) -> None:
        """Drop what was built ahead and not taken (the run refused, or a step skipped)."""
        if self._thread is None or self._thread.is_alive():
            return
        with self._lock:
            taken = set(self._adopted.values())
            left = [b.table for b in self._built.values() if b.table not in taken]
            self._built.clear()
        if not left:
            return
        try:
            with self._engine.transaction():
                for table in left:
                    self._engine.drop(exp.table_(table, db=PHYSICAL_SCHEMA), "TABLE")
        except Exception:  # noqa: BLE001 - the next run's drop_unreferenced drops them
            log.debug("could not drop what was built ahead", exc_info=True)

    # -- the building thread ---------------------------------------------------------------

    def _work(self) -> None:
        try:
            session = self._ahead_session.wait()
        except BaseException:  # noqa: BLE001 - the command reports the open's error itself
            return
        engine = session.engine
        if not engine.BUILDS_AHEAD:
            return
        self._engine = engine
        try:
            published = set() if self._full_refresh else _published(session.state)
            tables = _base_tables(engine)
            engine.create_schema(PHYSICAL_SCHEMA)
            self._build_offered(engine, published, tables)
        except Exception:  # noqa: BLE001 - only a head start: the run builds what this did not
            log.debug("building ahead stopped", exc_info=True)

    def _next(self):
        with self._wake:
            while not self._offered and not self._stop and not self._done:
                self._wake.wait()
            if self._stop or not self._offered:
                return None
            return self._offered.popleft()

    def _build_offered(self, engine, published: set[str], tables: set[tuple[str, str]]) -> None:
        names: dict[str, str] = {}  # step -> its table built ahead (committed, or in the group)
        token = f"{PREFIX}{os.getpid()}_{time.time_ns() % 10**9}_"
        more = True
        while more:
            group: dict[str, _Built] = {}
            try:
                with engine.transaction():
                    more = self._build_group(engine, published, tables, names, token, group)
                    if not engine.transaction_intact():  # its COMMIT would roll back without a word
                        raise _Failed
            except Exception:  # noqa: BLE001 - rolled back; the run builds these and reports what fails
                log.debug("building ahead stopped", exc_info=True)
                return
            with self._lock:
                self._built.update(group)

    def _build_group(self, engine, published, tables, names: dict[str, str], token: str, group: dict) -> bool:
        """Build offered steps into `group` until it is full; False once nothing more comes."""
        started = time.monotonic()
        while len(group) < GROUP_STEPS and time.monotonic() - started < GROUP_SECONDS:
            offered = self._next()
            if offered is None:
                return False
            step, steps, project = offered
            if step.name in published or not _eligible(step, project):
                continue
            query = _query_ahead(step, steps, project, names, tables)
            if query is None:
                continue
            table = f"{token}{len(names)}"
            text = engine.generate(query)
            rows = engine.create_table_as(exp.table_(table, db=PHYSICAL_SCHEMA), query)
            names[step.name] = table
            group[step.name] = _Built(table, text, rows)
        return True


class _Failed(Exception):
    """A statement of the group failed: DuckDB aborted its transaction."""


def _published(state) -> set[str]:
    """Every step some environment publishes (a run may reuse its table: not built ahead)."""
    published: set[str] = set()
    for env in state.environments() or ["prod"]:
        published |= set(state.published(env))
    return published


def _base_tables(engine) -> set[tuple[str, str]]:
    """(schema, table) of the base tables of the file, case-folded."""
    query = (exp.select("schema_name", "table_name").from_(exp.Table(this=exp.Anonymous(this="duckdb_tables")))
             .where(exp.column("database_name").eq(exp.func("current_database"))))
    return {(schema.casefold(), name.casefold()) for schema, name in engine.fetch_rows(query)}


def _eligible(step, project) -> bool:
    from toolkit import hooks

    if step.materialized != "table" or step.tree is None or step.volatile:
        return False
    if hooks.for_step(step, project.config.dialect):
        return False
    return not any(spec.training == step.name for spec in project.models.values())


def _query_ahead(step, steps: dict, project, names: dict[str, str], tables: set[tuple[str, str]]) -> exp.Expression | None:
    """The step's query reading the tables built ahead of its upstream, or None when it reads
    anything else than those and base-table sources (its inlined ephemeral steps too)."""
    missing = []

    def relation_of(name: str) -> exp.Table | None:
        if name not in names:
            missing.append(name)
            return None
        return exp.table_(names[name], db=PHYSICAL_SCHEMA)

    if not _sources_are_tables(step, steps, project, tables, set()):
        return None
    query = inline_ephemeral(SimpleNamespace(steps=steps), step.tree, relation_of)
    return None if missing else query


def _sources_are_tables(step, steps: dict, project, tables: set[tuple[str, str]], seen: set[str]) -> bool:
    for key in step.sources:
        source = project.sources.get(key)
        if source is None or source.path is not None or (source.schema.casefold(), source.table.casefold()) not in tables:
            return False
    for name in step.upstream:
        upstream = steps.get(name)
        if upstream is None:
            return False
        if upstream.strategy.inlined and name not in seen:
            seen.add(name)
            if not _sources_are_tables(upstream, steps, project, tables, seen):
                return False
    return True


def _renamed(query: exp.Expression, ahead_of: dict[str, str]) -> exp.Expression:
    if not ahead_of:
        return query

    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.db == PHYSICAL_SCHEMA and node.name in ahead_of:
            node = node.copy()  # its alias and the rest kept
            node.set("this", exp.to_identifier(ahead_of[node.name]))
        return node

    return query.transform(rename)


@contextmanager
def finished(ahead: Ahead | None) -> Iterator[None]:
    """execute.run's: building ahead ends before the run's builds and the session's close."""
    try:
        yield
    finally:
        if ahead is not None:
            ahead.finish()
            ahead.discard()


@contextmanager
def building_ahead(ahead_session, selected_all: bool, full_refresh: bool = False) -> Iterator[Ahead]:
    """An Ahead for the command's compile and run; stopped, and what it built and the run did
    not take dropped, when the block ends (before the session closes)."""
    ahead = Ahead(ahead_session, selected_all, full_refresh)
    try:
        yield ahead
    finally:
        ahead.compiled()
        ahead.finish()
        ahead.discard()

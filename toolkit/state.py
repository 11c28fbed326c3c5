"""The reserved schemas in the warehouse: run history and what is published.

`toolkit`           runs, step_runs, test_results, published, relations  (analysts query these)
`toolkit_physical`  the physical tables and views that published names point at

Rows are few and small, so they go through the engine's `insert_rows`: literals
built by sqlglot, never text spliced into SQL. Arrow or DuckDB's bound parameters
would cost more than the writes themselves: both import pandas on first use to
convert Python values, about half a second per process.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime

from sqlglot import exp

from toolkit import __version__, stateschema
from toolkit.clock import now

SCHEMA = "toolkit"
PHYSICAL_SCHEMA = "toolkit_physical"

# The tables' definitions, versions and migrations live in stateschema.py.
TABLES = {t.name: t.columns for t in stateschema.TABLES}


def actor() -> str:
    """Who acts: TOOLKIT_ACTOR (a scheduler or CI names itself), else the OS user."""
    import getpass

    try:
        return os.environ.get("TOOLKIT_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (some containers)
        return f"uid {os.getuid()}"


def audit(engine, action: str, subject: str, detail: str = "", run_id: int | None = None) -> None:
    """One row of toolkit.audit_log in the state store `engine` (at the current state
    schema version: the caller ensured it), in the transaction of the change it records
    where there is one."""
    engine.insert_rows(table("audit_log"), [
        {"logged_at": now(), "actor": actor(), "action": action, "subject": subject, "detail": detail, "run_id": run_id},
    ])


def table(name: str, schema: str = SCHEMA) -> exp.Table:
    return exp.table_(name, db=schema)




PROD = "prod"
_PUBLISHED_COLUMNS = ("step", "relation", "physical_name", "fingerprint", "definition", "materialized", "run_id",
                      "published_at", "reads", "content", "sql", "inputs", "columns", "built_at", "tests", "read_columns")


@dataclass(frozen=True)
class Published:
    step: str
    physical_name: str
    fingerprint: str  # data fingerprint
    definition: str
    materialized: str
    run_id: int
    reads: tuple[str, ...]
    relation: str = ""
    env: str = PROD
    content: str | None = None  # the step's content hash (normalized SQL + data config)
    sql: str | None = None  # canonical SQL it was built from (for the plan's diff)
    inputs: dict = field(default_factory=dict)  # input -> fingerprint it was built from
    columns: dict = field(default_factory=dict)  # output column -> [definition, data] fingerprint
    built_at: datetime | None = None  # when its data was last computed (schedules)
    published_at: datetime | None = None
    tests: str | None = None  # fingerprint of the data tests that passed on it (tests are metadata)
    # upstream step -> the columns of it the step read (None: all), what each `inputs` print of
    # an upstream was made of; None: not recorded (a row of a toolkit before state version 9)
    read_columns: dict | None = None


def _published(row: tuple, env: str) -> Published:
    (step, relation, physical, fingerprint, definition, materialized, run_id, published_at, reads,
     content, sql, inputs, columns, built_at, tests, read_columns) = row
    return Published(
        step, physical, fingerprint, definition, materialized, run_id, tuple(json.loads(reads or "[]")), relation or "", env,
        content, sql, json.loads(inputs or "{}"), json.loads(columns or "{}"), built_at or published_at, published_at, tests,
        json.loads(read_columns) if read_columns else None,
    )


def _meta_of_step(view_meta: dict[str, str | None]) -> exp.Expression:
    """CASE step WHEN ... THEN its JSON END: the saved rows' view_meta, in the one INSERT."""
    known = [(step, meta) for step, meta in sorted(view_meta.items()) if meta is not None]
    if not known:
        return exp.cast(exp.null(), "varchar")
    case = exp.Case(this=exp.column("step"))
    for step, meta in known:
        case = case.when(exp.Literal.string(step), exp.Literal.string(meta))
    return case


def _published_values(p: Published, env: str, run_id: int, published_at: datetime) -> dict:
    """The `published` table's row for `p` (the one write path of the row type)."""
    return {
        "step": p.step, "relation": p.relation, "physical_name": p.physical_name, "fingerprint": p.fingerprint,
        "definition": p.definition, "materialized": p.materialized, "run_id": run_id, "published_at": published_at,
        "reads": json.dumps(list(p.reads)), "env": env, "content": p.content, "sql": p.sql,
        "inputs": json.dumps(p.inputs, sort_keys=True), "columns": json.dumps(p.columns, sort_keys=True),
        "built_at": p.built_at or published_at, "tests": p.tests,
        "read_columns": None if p.read_columns is None else json.dumps(p.read_columns, sort_keys=True),
    }


_TIMESTAMP = exp.DataType.build("timestamp")


def _literal(value) -> exp.Expression:
    """A value as a SQL literal (the few types state rows hold)."""
    if value is None:
        return exp.Null()  # not exp.null(): that builder costs ~30 µs a call
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        return exp.Cast(this=exp.Literal.string(value.isoformat(sep=" ")), to=_TIMESTAMP.copy())
    return exp.convert(value)


def _insert_literal(value) -> exp.Expression:
    """_literal for INSERT ... VALUES: a timestamp is a plain string literal, which the
    engine converts to the column's type (DuckDB and PostgreSQL both do); generating a
    CAST costs sqlglot a parse per value (a 500-step run writes 1,000 of them)."""
    if isinstance(value, datetime):
        return exp.Literal.string(value.isoformat(sep=" "))
    return _literal(value)


def _saved_before(before: datetime) -> exp.Expression:
    return exp.column("saved_at") < exp.cast(exp.Literal.string(before.isoformat(sep=" ")), "timestamp")


def _env_literal(env: str) -> exp.Literal:
    return exp.Literal.string(env)


class State:
    def __init__(self, engine):
        self.engine = engine
        self._tables: dict[str, set[str]] | None = None  # table -> its columns, read once (catalog queries are slow)

    def _catalog(self) -> dict[str, set[str]]:
        if self._tables is None:
            self._tables = {name: {c.lower() for c in cols} for name, cols in self.engine.catalog(SCHEMA).items()}
        return self._tables

    def catalog(self) -> dict[str, set[str]]:
        """table -> its columns (lowercase) in schema `toolkit`, as read once (or by ensure)."""
        return self._catalog()

    def _columns(self, name: str) -> set[str]:
        return self._catalog().get(name, set())

    def exists(self) -> bool:
        return "runs" in self._catalog()

    def ensure(self) -> None:
        """The state tables exist at the current schema version (stateschema.py migrates
        an older state, refuses a newer one)."""
        for schema in (SCHEMA, PHYSICAL_SCHEMA):
            self.engine.create_schema(schema)
        catalog = stateschema.ensure(self.engine)
        self._tables = {name: {c.lower() for c in cols} for name, cols in catalog.items()}

    def _insert(self, target: exp.Table, rows: list[dict]) -> None:
        """INSERT rows as bound values where the engine is faster so (DuckDB), else as
        literal rows built by sqlglot, assembled and generated without the deep copies of
        sqlglot's builders (they cost more than the insert itself for 500 rows)."""
        if not rows:
            return
        from sqlglot.errors import ErrorLevel

        columns = list(rows[0])
        if self.engine.insert_bound(target, columns, [tuple(row[c] for c in columns) for row in rows]):
            return
        values = exp.Values(expressions=[exp.Tuple(expressions=[_insert_literal(row[c]) for c in columns]) for row in rows])
        schema = exp.Schema(this=target.copy(), expressions=[exp.to_identifier(c) for c in columns])
        statement = exp.Insert(this=schema, expression=values)
        self.engine.execute(statement.sql(dialect=self.engine.dialect, identify=True, copy=False, unsupported_level=ErrorLevel.RAISE))

    def start_run(self, project: str, target: str, command: str, abandon_others: bool = True, env: str | None = None) -> int:
        """A new run id, strictly above every earlier one. A session holding the run lock
        (abandon_others) also marks earlier unfinished runs abandoned: their process died."""
        runs = table("runs")
        with self.engine.serialized():
            if abandon_others:
                running = exp.column("status").eq(exp.Literal.string("running"))
                self.engine.execute(exp.update(runs, {"status": exp.Literal.string("abandoned")}, where=running))
            last = self.engine.fetch_rows(exp.select("max(run_id)").from_(runs))[0][0]
            run_id = int(last or 0) + 1
            row = {
                "run_id": run_id, "project": project, "target": target, "command": command, "status": "running",
                "started_at": now(), "host": socket.gethostname(), "pid": os.getpid(), "toolkit_version": __version__,
                "env": env,
            }
            self._insert(runs, [row])
        return run_id

    def has_unfinished_runs(self) -> bool:
        """Whether a run is recorded as running (under the run lock: its process died)."""
        running = exp.column("status").eq(exp.Literal.string("running"))
        return bool(self.engine.fetch_rows(exp.select("count(*)").from_(table("runs")).where(running))[0][0])

    def last_run(self, env: str) -> tuple[int, str] | None:
        """(run id, status) of the newest `toolkit run` that built `env`; None when none is
        recorded (runs of a toolkit before state version 7 have no environment)."""
        runs = table("runs")
        newest = (exp.select("run_id", "status").from_(runs).where(exp.column("env").eq(_env_literal(env)))
                  .order_by(exp.column("run_id").desc()).limit(1))
        rows = self.engine.fetch_rows(newest) if self.exists() else []
        return (int(rows[0][0]), rows[0][1]) if rows else None

    def owner(self) -> tuple[str, int] | None:
        """(project, run id) of the newest run recorded here that names its project: the
        project whose state this is (None: no such run yet)."""
        if not self.exists():
            return None
        named = exp.column("project").is_(exp.null()).not_()  # a row written by hand, or by an old tool, names none
        newest = exp.select("project", "run_id").from_(table("runs")).where(named).order_by(exp.column("run_id").desc()).limit(1)
        rows = self.engine.fetch_rows(newest)
        return (rows[0][0], int(rows[0][1])) if rows else None

    def finish_run(self, run_id: int, status: str) -> None:
        self.engine.execute(
            exp.update(
                table("runs"),
                {"status": exp.Literal.string(status), "finished_at": exp.cast(exp.Literal.string(now().isoformat(sep=" ")), "timestamp")},
                where=exp.column("run_id").eq(exp.Literal.number(run_id)),
            )
        )

    def _has(self, name: str) -> bool:
        return name in self._catalog()

    def published(self, env: str = PROD) -> dict[str, Published]:
        """step -> what `env` publishes now (empty when nothing was ever run)."""
        if not self.exists():
            return {}
        existing = self._columns("published")
        # An older toolkit's state lacks later columns until a run adds them (plan is read-only).
        columns = [c if c in existing else exp.null().as_(c) for c in _PUBLISHED_COLUMNS]
        if "env" not in existing:
            rows = self.engine.fetch_rows(exp.select(*columns).from_(table("published"))) if env == PROD else []
        else:
            rows = self.engine.fetch_rows(
                exp.select(*columns).from_(table("published")).where(exp.column("env").eq(_env_literal(env)))
            )
        return {row[0]: _published(row, env) for row in rows}

    def environments(self) -> list[str]:
        if not self.exists() or "env" not in self._columns("published"):
            return [PROD] if self.exists() else []
        return sorted(r[0] for r in self.engine.fetch_rows(exp.select("env").distinct().from_(table("published"))))

    def record_published(self, rows: list[Published], run_id: int, env: str = PROD) -> None:
        """Replace the published rows of these steps in `env`; call inside the publishing transaction.
        A row without built_at keeps this publish time as its data's build time."""
        steps = [exp.Literal.string(row.step) for row in rows]
        self.engine.execute(
            exp.delete(table("published"), where=exp.and_(exp.column("step").isin(*steps), exp.column("env").eq(_env_literal(env))))
        )
        published_at = now()
        self._insert(table("published"), [_published_values(row, env, run_id, published_at) for row in rows])
        physical_names = [exp.Literal.string(row.physical_name) for row in rows]
        known = {r[0] for r in self.engine.fetch_rows(
            exp.select("physical_name").from_(table("relations")).where(exp.column("physical_name").isin(*physical_names))
        )}
        # A relation keeps its first record (created_at is what gc's retention counts from).
        self._insert(
            table("relations"),
            [
                {"physical_name": row.physical_name, "step": row.step, "materialized": row.materialized, "reads": json.dumps(list(row.reads)),
                 "run_id": run_id, "created_at": published_at}
                for row in rows
                if row.physical_name not in known
            ],
        )

    def forget_published(self, env: str, steps: list[str]) -> None:
        """Delete these steps' published rows in `env` (a deleted step); inside the caller's transaction."""
        names = [exp.Literal.string(step) for step in steps]
        self.engine.execute(exp.delete(table("published"), where=exp.and_(exp.column("step").isin(*names), exp.column("env").eq(_env_literal(env)))))

    def published_steps(self) -> set[str]:
        """The steps any environment publishes."""
        if not self.exists():
            return set()
        return {r[0] for r in self.engine.fetch_rows(exp.select("step").distinct().from_(table("published")))}

    def deleted_steps(self, env: str, recorded: bool = False) -> set[str]:
        """The steps `env`'s project no longer has (recorded by its last successful run, or
        by a promote into it) and that it does not publish again since (`recorded`: all rows)."""
        if not self._has("deleted_steps"):
            return set()
        rows = self.engine.fetch_rows(exp.select("step").from_(table("deleted_steps")).where(exp.column("env").eq(_env_literal(env))))
        return {r[0] for r in rows} - (set() if recorded else set(self.published(env)))

    def replace_deleted(self, env: str, steps: set[str], run_id: int | None = None) -> None:
        """`env`'s deleted steps become exactly `steps` (inside the caller's transaction)."""
        self.engine.execute(exp.delete(table("deleted_steps"), where=exp.column("env").eq(_env_literal(env))))
        at = now()
        self._insert(table("deleted_steps"), [{"env": env, "step": step, "run_id": run_id, "deleted_at": at} for step in sorted(steps)])

    # -- environments: history for rollback ---------------------------------------------

    def save_history(self, env: str, reason: str, view_meta: dict[str, str | None] | None = None) -> int:
        """Copy `env`'s published rows into published_history as a new version; the version.
        `view_meta`: step -> its view's comments and grants (viewmeta.snapshot), for rollback."""
        history = table("published_history")
        last = self.engine.fetch_rows(
            exp.select("max(version)").from_(history).where(exp.column("env").eq(_env_literal(env)))
        )[0][0]
        version = int(last or 0) + 1
        columns = [c for c in _PUBLISHED_COLUMNS]
        query = exp.select(
            _env_literal(env).as_("env"), exp.Literal.number(version).as_("version"),
            exp.cast(exp.Literal.string(now().isoformat(sep=" ")), "timestamp").as_("saved_at"),
            exp.Literal.string(reason).as_("reason"), *columns, _meta_of_step(view_meta or {}).as_("view_meta"),
        ).from_(table("published")).where(exp.column("env").eq(_env_literal(env)))
        self.engine.execute(exp.insert(query, history, columns=["env", "version", "saved_at", "reason", *columns, "view_meta"]))
        if not self.published(env):  # saved empty (a promote into a new environment): a row with no step says so
            self._insert(history, [{"env": env, "version": version, "saved_at": now(), "reason": reason}])
        return version

    def history(self, env: str) -> list[tuple[int, datetime, str]]:
        """(version, saved_at, reason) of `env`'s saved states, newest first."""
        if not self._has("published_history"):
            return []
        rows = self.engine.fetch_rows(
            exp.select("version", "max(saved_at)", "max(reason)").from_(table("published_history"))
            .where(exp.column("env").eq(_env_literal(env))).group_by("version").order_by(exp.column("version").desc())
        )
        return [(int(v), saved, reason) for v, saved, reason in rows]

    def history_rows(self, env: str, version: int) -> dict[str, Published]:
        existing = self._columns("published_history")  # an older toolkit's lacks later columns
        columns = [c if c in existing else exp.null().as_(c) for c in _PUBLISHED_COLUMNS]
        rows = self.engine.fetch_rows(
            exp.select(*columns).from_(table("published_history")).where(
                exp.and_(exp.column("env").eq(_env_literal(env)), exp.column("version").eq(exp.Literal.number(version)),
                         exp.column("step").is_(exp.null()).not_())
            )
        )
        return {row[0]: _published(row, env) for row in rows}

    def history_meta(self, env: str, version: int) -> dict[str, dict | None]:
        """step -> its view's comments and grants when the state was saved (viewmeta.py); None
        where none was recorded (an older toolkit's save, an engine that cannot read them)."""
        if "view_meta" not in self._columns("published_history"):
            return {}
        rows = self.engine.fetch_rows(
            exp.select("step", "view_meta").from_(table("published_history")).where(
                exp.and_(exp.column("env").eq(_env_literal(env)), exp.column("version").eq(exp.Literal.number(version)),
                         exp.column("step").is_(exp.null()).not_())))
        return {step: json.loads(meta) if meta else None for step, meta in rows}

    def replace_published(self, env: str, rows: dict[str, Published]) -> None:
        """`env`'s published rows become exactly `rows` (inside the caller's transaction)."""
        self.engine.execute(exp.delete(table("published"), where=exp.column("env").eq(_env_literal(env))))
        self._insert(table("published"), [_published_values(p, env, p.run_id, p.published_at or now()) for p in rows.values()])

    def drop_history(self, env: str, version: int) -> None:
        self.engine.execute(exp.delete(table("published_history"), where=exp.and_(
            exp.column("env").eq(_env_literal(env)), exp.column("version").eq(exp.Literal.number(version)))))

    def expire_history(self, before: datetime, dry_run: bool = False) -> int:
        """Forget saved states older than `before` (a dry run only counts them); how many versions."""
        if not self._has("published_history"):
            return 0
        old = _saved_before(before)
        count = self.engine.fetch_rows(exp.select("count(distinct env || '/' || cast(version as varchar))").from_(table("published_history")).where(old))[0][0]
        if not dry_run:
            self.engine.execute(exp.delete(table("published_history"), where=old))
        return int(count or 0)

    def forget_run_details(self, before: datetime, dry_run: bool = False) -> int:
        """Delete the per-step records (step_runs, test_results) of runs started before
        `before`, but each step's latest: a step that has not run since keeps what its
        last run did. The runs themselves (a row each) stay. How many step_runs rows."""
        old_runs = exp.select("run_id").from_(table("runs")).where(
            exp.column("started_at") < exp.cast(exp.Literal.string(before.isoformat(sep=" ")), "timestamp"))
        count = 0
        for name in ("step_runs", "test_results"):
            if not self._has(name):
                continue
            latest = exp.select("step", exp.Max(this=exp.column("run_id"))).from_(table(name)).group_by("step")
            doomed = exp.and_(exp.column("run_id").isin(query=old_runs.copy()),
                              exp.not_(exp.Tuple(expressions=[exp.column("step"), exp.column("run_id")]).isin(query=latest.subquery())))
            if name == "step_runs":
                count = int(self.engine.fetch_rows(exp.select(exp.Count(this=exp.Star())).from_(table(name)).where(doomed))[0][0])
            if not dry_run:
                self.engine.execute(exp.delete(table(name), where=doomed))
        return count

    def live_physical(self, expiring_before: datetime | None = None) -> set[str]:
        """Physical names any environment publishes or any saved state still needs (one
        saved before `expiring_before` does not: gc --dry-run, which forgets none, asks)."""
        names = {r[0] for r in self.engine.fetch_rows(exp.select("physical_name").from_(table("published")))}
        if self._has("published_history"):
            saved = exp.select("physical_name").from_(table("published_history")).where(exp.column("physical_name").is_(exp.null()).not_())
            if expiring_before is not None:
                saved = saved.where(exp.not_(_saved_before(expiring_before)))
            names |= {r[0] for r in self.engine.fetch_rows(saved)}
        return names

    def shared_elsewhere(self, env: str, physical: str) -> bool:
        """Whether another environment publishes `physical` (after a promote both point at
        one table) or a saved state needs it (rollback restores it): updating it in place
        would change what they read."""
        name = exp.column("physical_name").eq(exp.Literal.string(physical))
        others = exp.select("env").from_(table("published")).where(
            exp.and_(name, exp.column("env").neq(_env_literal(env)))).limit(1)
        if self.engine.fetch_rows(others):
            return True
        return self._has("published_history") and bool(
            self.engine.fetch_rows(exp.select("env").from_(table("published_history")).where(name).limit(1)))

    # -- intervals of incremental steps --------------------------------------------------

    def intervals(self, step: str, physical: str) -> list[tuple[datetime, datetime]]:
        """The intervals physical table `physical` holds, whichever environment recorded them:
        a physical name is one table's (its run id is in it), and a table another environment
        reads is copied, not updated. By env, prod knew none of a table promoted from dev, and
        a backfill read again what it held."""
        if not self._has("intervals"):
            return []
        rows = self.engine.fetch_rows(
            exp.select("start_at", "end_at").from_(table("intervals")).where(exp.and_(
                exp.column("step").eq(exp.Literal.string(step)), exp.column("physical_name").eq(exp.Literal.string(physical)),
            )).order_by("start_at")
        )
        return [(start, end) for start, end in rows]

    def record_intervals(self, env: str, step: str, physical: str, spans: list[tuple[datetime, datetime]], run_id: int) -> None:
        self._insert(table("intervals"), [
            {"env": env, "step": step, "physical_name": physical, "start_at": start, "end_at": end, "run_id": run_id}
            for start, end in spans
        ])

    def forget_intervals(self, existing: set[str], dry_run: bool = False) -> int:
        """Delete the interval rows of physical tables not in `existing` (gc dropped them, now or
        before; a step removed from the project loses its tables so): no table holds those
        intervals any more, and a physical name is never made again. How many rows."""
        if not self._has("intervals"):
            return 0
        rows = self.engine.fetch_rows(exp.select("physical_name", exp.Count(this=exp.Star())).from_(table("intervals")).group_by("physical_name"))
        doomed = sorted(name for name, _ in rows if name not in existing)
        if doomed and not dry_run:
            literals = [exp.Literal.string(name) for name in doomed]
            self.engine.execute(exp.delete(table("intervals"), where=exp.column("physical_name").isin(*literals)))
        return sum(int(count) for name, count in rows if name not in existing)

    # -- file sources loaded into the warehouse (filesources.py) ------------------------

    def loaded_source(self, key: str) -> str | None:
        """The fingerprint of the files last loaded for source `key`, if any."""
        if not self._has("loaded_sources"):
            return None
        rows = self.engine.fetch_rows(exp.select("fingerprint").from_(table("loaded_sources"))
                                      .where(exp.column("source").eq(exp.Literal.string(key))))
        return rows[0][0] if rows else None

    def record_loaded_source(self, key: str, fingerprint: str, rows: int, run_id: int | None = None) -> None:
        with self.engine.transaction():
            self.engine.execute(exp.delete(table("loaded_sources"), where=exp.column("source").eq(exp.Literal.string(key))))
            self._insert(table("loaded_sources"), [
                {"source": key, "fingerprint": fingerprint, "rows_loaded": rows, "run_id": run_id, "loaded_at": now()}])

    def run_started_at(self) -> dict[int, datetime]:
        return {int(r): s for r, s in self.engine.fetch_rows(exp.select("run_id", "started_at").from_(table("runs")))}

    def relation_created(self) -> dict[str, datetime]:
        return {n: c for n, c in self.engine.fetch_rows(exp.select("physical_name", "created_at").from_(table("relations")))}

    def relation_reads(self) -> dict[str, tuple[str, ...]]:
        """physical name -> the physical names it reads, for every recorded relation."""
        rows = self.engine.fetch_rows(exp.select("physical_name", "reads").from_(table("relations")))
        return {name: tuple(json.loads(reads or "[]")) for name, reads in rows}

    def forget_relations(self, names: list[str]) -> None:
        if names:
            literals = [exp.Literal.string(name) for name in names]
            self.engine.execute(exp.delete(table("relations"), where=exp.column("physical_name").isin(*literals)))

    def record_steps(self, run_id: int, results: list) -> None:
        columns = ["step", "kind", "materialized", "action", "reason", "status", "fingerprint", "physical_name", "started_at", "finished_at", "rows_written", "error", "details"]
        rows = [{"run_id": run_id, **{name: getattr(result, name) for name in columns}} for result in results]
        if rows:
            self._insert(table("step_runs"), rows)

    def record_tests(self, run_id: int, rows: list[dict]) -> None:
        """One row per data test run: status pass | warn | fail, failing count, a JSON sample."""
        checked_at = now()
        self._insert(table("test_results"), [{"run_id": run_id, **row, "checked_at": checked_at} for row in rows])

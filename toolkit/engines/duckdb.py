"""DuckDB: the embedded default and the local test engine.

DuckDB never waits on its file lock (a second process, even read-only, fails at
once), so `open` retries until the lock timeout and names the holder: the run that
holds the file says who it is in a sidecar file (sidecar.py). One process at a time
holds the file, readers included (CONCURRENT_READERS is False).
Arrow moves through DuckDB's native zero-copy path rather than ibis.
"""

from __future__ import annotations

import os
import re
import threading
import time
import weakref
from pathlib import Path

from sqlglot import exp

from toolkit.engines import sidecar
from toolkit.engines.base import Engine
from toolkit.engines.viewreads import kept_by_views, reads_of
from toolkit.errors import ProjectError, TargetBusy

CATALOG = "toolkit_target"
_HOLDER = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")
_HEADERS = 3 * 4096  # a DuckDB file's main header and its two database headers, before the first block
# Calls whose answer changes while the file does not (the clock, randomness, sequences,
# files and settings outside it); a view naming one is hashed on every run. A word match on
# the view's text: a name inside a string literal errs toward hashing again.
_VOLATILE = re.compile(r"\b(now|today|current_\w+|get_current_\w+|transaction_timestamp|localtime\w*|random|setseed|"
                       r"uuid\w*|gen_random_uuid|nextval|currval|getenv|read_\w+|\w+_scan|glob|sniff_csv)\b", re.IGNORECASE)
_BUSY = re.compile(r"Could not set lock on file|Conflicting lock is held|is already attached")


def engine_first_line(error: Exception) -> str:
    return next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)


class DuckDBEngine(Engine):
    name = "duckdb"
    dialect = "duckdb"
    SUPPORTS_TRANSACTIONAL_DDL = True
    CONCURRENT_READERS = False
    HOOKS = frozenset({"analyze", "comment"})  # DuckDB has no roles, so no GRANT or REVOKE
    RENAMES_REPEATED_COLUMNS = True
    ISO_DATES_ONLY = True  # 'Jan 31 2024' or '20240131' as a DATE: "Conversion Error"
    BATCHES_BUILDS = True  # each commit syncs the log: a batch of builds pays one (base.Engine.BATCHES_BUILDS)
    IEEE_FLOATS = True  # 1e308 * 10 is inf, exp(-1000) is 0: no guard needed in compiled scoring

    def generate(self, statement, copy: bool = True) -> str:
        """A project written in another dialect (postgres) has its calls spelled as DuckDB
        binds them (sql.duckdb_spelling: lpad's BIGINT length), and PostgreSQL's integer
        division and rounding kept (pgdialectmeanings.py, typed from the catalog)."""
        from toolkit import intervals

        if isinstance(statement, exp.Expression) and intervals.rewrites_dates(statement, self.source_dialect):
            # a date plus days of another dialect stays a DATE; date_add(d, -interval ...) is written
            statement = statement.copy() if copy else statement
            statement, copy = intervals.keep_dates(statement, self.source_dialect, self._date_kinds(statement)), False
        if isinstance(statement, exp.Expression) and self.source_dialect != "duckdb":
            from toolkit import pgdialectmeanings
            from toolkit.sql import duckdb_spelling

            statement, copy = duckdb_spelling(statement), False  # a copy
            if self.source_dialect == "postgres":
                statement = pgdialectmeanings.repair(statement, self.columns)
        return super().generate(statement, copy=copy)

    def _date_kinds(self, statement: exp.Expression):
        """intervals.keep_dates' kind_of for `statement` (tagged in place: a copy), the dates
        no cast states typed from the catalog's column types (read only then)."""
        from toolkit import intervals, meanings

        types = None
        if intervals.needs_types(statement, self.source_dialect):
            types = meanings.cast_types(statement, self.schema_of(statement), self.source_dialect, texts=False)
        return lambda node: meanings.time_kind(node, types or (lambda _: None))

    def __init__(self, target, root: Path):
        super().__init__(target, root)
        path = target.settings.get("path", ":memory:")
        self.path = path if path == ":memory:" else str((root / path).resolve())
        self._connection = None
        self._sidecar = None if path == ":memory:" else sidecar.path_for(self.path)
        self._holds_file = False
        self._cursors = weakref.WeakSet()  # every thread's session and open reader: what interrupt() stops
        self._cursors_lock = threading.Lock()

    def describe(self) -> str:
        return f"duckdb {self.path}"

    def may_hold_tables(self) -> bool:
        return self.path != ":memory:" and os.path.exists(self.path)

    def open(self, lock_timeout: float, exclusive: bool = True) -> None:
        import duckdb

        config = {k: str(v) for k, v in self.target.settings.items() if k in ("threads", "memory_limit")}
        self._connection = duckdb.connect(":memory:", config=config)
        self._set_time_zone()
        if self.path == ":memory:":
            return
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self.close()
            raise ProjectError(f"target {self.target.name}: cannot create the folder of {self.path}: {error.strerror}") from None
        # Attached under a fixed name: DuckDB names a database after its file, and a
        # file shop.duckdb holding a schema shop makes every `shop.x` ambiguous.
        attach = f"ATTACH {exp.Literal.string(self.path).sql(dialect='duckdb')} AS {CATALOG}"
        deadline = time.monotonic() + lock_timeout
        delay = 0.05
        told = False
        while True:
            try:
                before = self.change_token()
                self._connection.execute(attach)
                # Unchanged across the attach: nobody wrote between the stat and our lock
                # (attaching a checkpointed file writes nothing; replaying a log does).
                self.token_at_open = before if self.change_token() == before else None
                self._connection.execute(f"USE {CATALOG}")
                self._check_length()
                sidecar.write(self._sidecar)  # we hold the file: a sidecar left behind was stale
                self._holds_file = True
                return
            except (duckdb.IOException, duckdb.BinderException, duckdb.ResourceInUseException) as error:
                # Busy only on DuckDB's own lock conflict (another process) or a second
                # attach in this process; any other IO error (a corrupt or unreadable file,
                # "could not read block ...") is not worth retrying: exit 2, not 3.
                if not _BUSY.search(str(error)):
                    self.close()
                    raise ProjectError(f"cannot open {self.path}: {engine_first_line(error)}") from None
                holder = sidecar.read(self._sidecar)
                if holder is not None and not told and self.on_wait is not None:
                    self.on_wait(holder.describe())
                    told = True
                if time.monotonic() >= deadline:
                    self.close()
                    raise TargetBusy(self._busy_message(str(error), lock_timeout, holder)) from None
                self._pause(max(0.0, min(delay, deadline - time.monotonic())))  # never past the deadline
                delay = min(delay * 2, 0.5)

    def _set_time_zone(self) -> None:
        """Not the machine's zone: the project's (config.Config.time_zone), for every cursor.
        A SET: the ICU extension that knows zones is linked in but not loaded while connect()
        reads its config."""
        import duckdb

        zone = self.target.time_zone
        try:
            self._connection.execute(f"SET GLOBAL TimeZone = {exp.Literal.string(zone).sql(dialect='duckdb')}")
        except duckdb.Error as error:  # a zone Python's database has and DuckDB's (ICU's) lacks
            if zone == "UTC" and "icu" in str(error).lower():
                return  # a DuckDB built without ICU knows no zone but UTC
            self.close()
            raise ProjectError(f"time_zone '{zone}': {engine_first_line(error)}") from None

    def change_token(self) -> str | None:
        """The file's and its write-ahead log's device, inode, size, mtime and ctime. Every
        commit writes the log and every checkpoint the file, and no tool can set a ctime
        back: the same token means nobody wrote. None for an in-memory database."""
        if self.path == ":memory:":
            return None
        parts = []
        for path in (self.path, self.path + ".wal"):
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                parts.append("-")
                continue
            parts.append(f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}")
        return "|".join(parts)

    def _checkpointed_token(self) -> str | None:
        """The change token with everything of ours in the file, read while we still hold
        it: closing after a checkpoint writes nothing more, so a token read after the
        close that differs means another process wrote in between. None where the
        checkpoint cannot run now (another cursor's open transaction, a broken session)."""
        import duckdb

        try:
            self._connection.execute("CHECKPOINT")
        except duckdb.Error:
            return None
        return self.change_token()

    def _check_length(self) -> None:
        """DuckDB 2 attaches a truncated file and fails at the first block past its end,
        mid-run. The file must at least hold every block in use (free blocks at its end may
        be cut off legitimately), so compare that before anything runs."""
        block_size, blocks = self._connection.execute(
            f"select block_size, used_blocks from pragma_database_size() where database_name = '{CATALOG}'").fetchone()
        expected, actual = _HEADERS + block_size * blocks, Path(self.path).stat().st_size
        if actual < expected:
            self.close()
            raise ProjectError(f"cannot open {self.path}: the file is truncated ({actual} bytes; its blocks in use need {expected})")

    def _busy_message(self, error: str, lock_timeout: float, holder: sidecar.Holder | None) -> str:
        if holder is not None:
            return f"target {self.target.name} is busy: {holder.describe()} holds it; waited {lock_timeout:g}s (--lock-timeout); safe to retry"
        holder = _HOLDER.search(error)
        who = f"process {holder.group(2)} ({Path(holder.group(1)).name})" if holder else "another connection in this process" if "already attached" in error else "another process"
        return (
            f"target {self.target.name} is busy: {self.path} is held by {who}; "
            f"waited {lock_timeout:g}s (--lock-timeout)"
        )

    def announce_run(self, run_id: int) -> None:
        sidecar.write(self._sidecar, run_id)

    def restrict_to_warehouse(self, readable: list[str] = ()) -> None:
        """No file system access for any statement from now on (read_text, read_csv, COPY,
        ATTACH, installing extensions) outside the folders of file sources, and the setting
        locked so that nothing turns it back on. Sessions opened later inherit both."""
        if readable:
            folders = exp.Array(expressions=[exp.Literal.string(folder) for folder in readable])
            self._connection.execute(f"SET allowed_directories = {folders.sql(dialect='duckdb')}")
        self._connection.execute("SET enable_external_access = false")
        probe = self._connection.cursor()
        quiet = probe.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0] is False
        probe.close()
        if quiet:  # a locked configuration refuses even the SET that silences DuckDB's progress bar
            self._connection.execute("SET lock_configuration = true")
            self._locked = True

    def close(self) -> None:
        if self._connection is not None:
            if self._holds_file:
                self.token_at_close = self._checkpointed_token()
            self._connection.close()
            self._connection = None
        if self._holds_file:
            sidecar.remove(self._sidecar)
            self._holds_file = False

    @property
    def _session(self):
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._connection.cursor()
            self._quiet(session)
            if self.path != ":memory:":
                session.execute(f"USE {CATALOG}")
            self._local.session = session
            self._track(session)
        return session

    def _track(self, cursor) -> None:
        with self._cursors_lock:
            self._cursors.add(cursor)

    def interrupt(self) -> None:
        import duckdb

        with self._cursors_lock:
            cursors = list(self._cursors)
        for cursor in cursors:
            try:
                cursor.interrupt()  # an idle cursor runs its next statement as usual
            except duckdb.Error:  # closed meanwhile
                pass

    def _quiet(self, session) -> None:
        """Our console shows progress, not DuckDB's bar (already off where the configuration is locked)."""
        if not getattr(self, "_locked", False):
            session.execute("SET enable_progress_bar = false")

    def _run(self, sql: str):
        return self._session.execute(sql)

    def transaction_intact(self) -> bool:
        """A failed statement leaves DuckDB's transaction aborted: it refuses every statement
        after it, and its COMMIT rolls back without a word. A probe tells."""
        import duckdb

        try:
            self._run("SELECT 1").fetchall()
        except duckdb.Error:
            return False
        return True

    def fetch_arrow(self, statement):
        return self._session.sql(self.generate(statement)).to_arrow_table()

    def output_names(self, query: exp.Query) -> list[str] | None:
        import duckdb

        try:  # execute's description: a relation (sql()) has already renamed the repeats
            described = self._session.execute(self.generate(query.copy().limit(0))).description
        except duckdb.InterruptException:
            raise
        except duckdb.Error:
            return None
        return [column[0] for column in described]

    def insert_bound(self, table: exp.Table, columns: list[str], rows: list[tuple]) -> bool:
        # One list parameter per column, unnested side by side: DuckDB takes 500 state rows
        # so in about 5 ms, where parsing and binding them as a 500-row VALUES costs 50.
        select = exp.select(*(exp.Unnest(expressions=[exp.Placeholder()]) for _ in columns))
        insert = exp.Insert(this=exp.Schema(this=table.copy(), expressions=[exp.to_identifier(c) for c in columns]), expression=select)
        self._session.execute(self.generate(insert), [list(values) for values in zip(*rows)])
        return True

    def fetch_rows(self, statement) -> list[tuple]:
        return self._session.execute(self.generate(statement)).fetchall()

    # -- catalog: duckdb_columns() itself, not information_schema.columns (a view over it
    # that costs ~3x as much a query; a no-op run asks about a dozen times) --

    def catalog(self, schema: str) -> dict[str, dict[str, str]]:
        tables: dict[str, dict[str, str]] = {}
        for name, column, kind in self.fetch_rows(_columns_query(schema, "table_name", "column_name", "data_type").order_by("table_name", "column_index")):
            tables.setdefault(name, {})[column] = kind
        return tables

    def view_meta(self, schema: str, name: str | None = None) -> dict[str, dict]:
        """Comments from duckdb_views() and duckdb_columns(); DuckDB has no grants."""
        def of(function: str, *columns: str) -> exp.Select:
            query = (exp.select(*columns).from_(exp.Table(this=exp.Anonymous(this=function)))
                     .where(exp.column("schema_name").eq(exp.Literal.string(schema)))
                     .where(exp.column("database_name").eq(exp.func("current_database"))))
            return query if name is None else query.where(exp.column(columns[0]).eq(exp.Literal.string(name)))
        found = {view: {"comment": comment, "columns": {}, "grants": []}
                 for view, comment in self.fetch_rows(of("duckdb_views", "view_name", "comment").where(exp.not_(exp.column("internal"))))}
        for view, column, comment in self.fetch_rows(of("duckdb_columns", "table_name", "column_name", "comment")):
            if view in found and comment is not None:
                found[view]["columns"][column] = comment
        return found

    def definitions(self, schema: str) -> dict[str, tuple[str, str | None]]:
        """duckdb_views() and duckdb_tables() (a third of information_schema's cost); a view's
        SQL is its CREATE VIEW statement."""
        def of(function: str, name: str, kind: str, sql: exp.Expression) -> exp.Select:
            return (exp.select(name, exp.Literal.string(kind), sql).from_(exp.Table(this=exp.Anonymous(this=function)))
                    .where(exp.column("schema_name").eq(exp.Literal.string(schema)))
                    .where(exp.column("database_name").eq(exp.func("current_database"))))
        views = of("duckdb_views", "view_name", "view", exp.column("sql")).where(exp.not_(exp.column("internal")))
        tables = of("duckdb_tables", "table_name", "table", exp.cast(exp.null(), "varchar"))
        return {name: (kind, sql) for name, kind, sql in self.fetch_rows(exp.union(views, tables, distinct=False))}

    def views_reading(self, schema: str, names: list[str]) -> dict[str, str]:
        """{name: why} of the relations of `schema` about to be dropped (`names`) that a view
        staying behind reads, directly or through another of them: DuckDB tracks no
        dependencies and drops a table under a view that reads it (PostgreSQL refuses: the
        drop is kept, environments.drop_physical). One query over duckdb_views(); a view is
        parsed only when its text names one of them, and one about to be dropped only when
        a view staying behind reads it (a full refresh drops hundreds of toolkit's own)."""
        views = self.fetch_rows(exp.select("schema_name", "view_name", "sql").from_(exp.Table(this=exp.Anonymous(this="duckdb_views")))
                                .where(exp.column("database_name").eq(exp.func("current_database")))
                                .where(exp.not_(exp.column("internal"))))
        texts = {(view_schema.casefold(), view.casefold()): (f"{view_schema}.{view}", text or "") for view_schema, view, text in views}
        return kept_by_views(texts, schema, names, "duckdb")

    def view_search_path(self, view_schema: str) -> tuple[str, ...]:
        """DuckDB binds a view's text when the view is read: an unqualified name is looked for
        in the view's own schema, then along the reading session's search_path, which for
        toolkit's session (USE toolkit_target, no search_path set) is the catalog's main."""
        return (view_schema, "main") if view_schema != "main" else (view_schema,)

    def stable_views(self) -> dict[tuple[str, str], str] | None:
        """One query over duckdb_views(): every view's text when none names a volatile call
        (_VOLATILE); every view at once, as a view may read another."""
        texts = self.view_texts()
        if any(_VOLATILE.search(text) for text in texts.values()):
            return None
        return texts

    def view_texts(self) -> dict[tuple[str, str], str]:
        views = self.fetch_rows(exp.select("schema_name", "view_name", "sql").from_(exp.Table(this=exp.Anonymous(this="duckdb_views")))
                                .where(exp.column("database_name").eq(exp.func("current_database")))
                                .where(exp.not_(exp.column("internal"))))
        return {(schema.casefold(), view.casefold()): text or "" for schema, view, text in views}

    def columns(self, table: exp.Table) -> dict[str, str] | None:
        query = _columns_query(table.db, "column_name", "data_type").where(exp.column("table_name").eq(exp.Literal.string(table.name)))
        rows = self.fetch_rows(query.order_by("column_index"))
        return dict(rows) if rows else None  # names exactly as stored: callers quote them

    def shapes(self, tables: list[exp.Table]) -> dict[tuple[str, str], tuple[str, list[tuple[str, str]]]]:
        """One query over duckdb_columns(); a relation among duckdb_views() is a view."""
        if not tables:
            return {}
        schemas = [exp.Literal.string(s) for s in sorted({t.db for t in tables})]
        names = [exp.Literal.string(n) for n in sorted({t.name for t in tables})]
        views = (exp.select("view_oid").from_(exp.Table(this=exp.Anonymous(this="duckdb_views")))
                 .where(exp.column("database_name").eq(exp.func("current_database")))
                 .where(exp.column("schema_name").isin(*schemas)))
        is_view = exp.In(this=exp.column("table_oid"), query=views.subquery())
        query = (exp.select("schema_name", "table_name", "column_name", "data_type", is_view)
                 .from_(exp.Table(this=exp.Anonymous(this="duckdb_columns")))
                 .where(exp.column("database_name").eq(exp.func("current_database")))
                 .where(exp.column("schema_name").isin(*schemas))
                 .where(exp.column("table_name").isin(*names))
                 .order_by("schema_name", "table_name", "column_index"))
        wanted = {(t.db, t.name) for t in tables}
        found: dict[tuple[str, str], tuple[str, list[tuple[str, str]]]] = {}
        for schema, name, column, kind, view in self.fetch_rows(query):
            if (schema, name) in wanted:
                found.setdefault((schema, name), ("view" if view else "table", []))[1].append((column, kind))
        return found

    def create_table_as(self, table: exp.Table, query: exp.Expression) -> int:
        # DuckDB answers CREATE TABLE AS with the number of rows written; not when the query
        # holds a PIVOT whose columns come from the data (it runs as several statements).
        written = self._run(self.generate(exp.Create(this=table, kind="TABLE", expression=query), copy=False)).fetchall()
        if not written:
            written = self._run(self.generate(exp.select(exp.Count(this=exp.Star())).from_(table.copy()))).fetchall()
        return int(written[0][0])

    def create_table_from_arrow(self, table: exp.Table, data) -> None:
        self._with_arrow(data, lambda view: exp.Create(this=table, kind="TABLE", expression=exp.select("*").from_(view)))

    def read_batches(self, statement, batch_rows: int = 100_000):
        import pyarrow as pa

        cursor = self._connection.cursor()
        self._quiet(cursor)
        if self.path != ":memory:":
            cursor.execute(f"USE {CATALOG}")
        self._track(cursor)
        reader = cursor.sql(self.generate(statement)).to_arrow_reader(batch_rows)

        def batches():  # holds the cursor open until the last batch is read
            with cursor:
                yield from reader

        return pa.RecordBatchReader.from_batches(reader.schema, batches())

    def insert_arrow(self, table: exp.Table, data) -> None:
        columns = data.schema.names  # a Table or a RecordBatchReader (streamed)
        self._with_arrow(data, lambda view: exp.insert(exp.select(*columns).from_(view), table, columns=columns))

    def _with_arrow(self, data, statement) -> None:
        view = f"_toolkit_arrow_{id(data)}"
        self._session.register(view, data)
        try:
            self.execute(statement(view))
        finally:
            self._session.unregister(view)

    def table_fingerprint(self, table: exp.Table) -> str:
        alias = "t"
        query = exp.select("count(*)", "cast(sum(hash(t)) as varchar)").from_(table.copy().as_(alias))
        count, digest = self.fetch_rows(query)[0]
        return f"{count}:{digest}"

    def functions(self) -> set[str]:
        if getattr(self, "_functions", None) is None:
            self._functions = {name.lower() for (name,) in self.fetch_rows("SELECT DISTINCT function_name FROM duckdb_functions()")}
        return self._functions

    def optimize_storage(self) -> None:
        import duckdb

        try:
            self._run("CHECKPOINT")
        except duckdb.TransactionException:
            # duckdb 2 refuses while another session of this process has a transaction open
            # (a worker's idle cursor after a file read); reclaiming space is an optimization,
            # and DuckDB checkpoints again when the file is closed.
            pass


def _columns_query(schema: str, *names: str) -> exp.Select:
    """SELECT names FROM duckdb_columns() of `schema` in the database in use (as information_schema.columns)."""
    return (exp.select(*names).from_(exp.Table(this=exp.Anonymous(this="duckdb_columns")))
            .where(exp.column("schema_name").eq(exp.Literal.string(schema)))
            .where(exp.column("database_name").eq(exp.func("current_database"))))


def _reads_of(text: str, schema: str, names: dict[str, str]) -> set[str]:
    """The `names` (casefolded) of `schema` a CREATE VIEW statement reads (viewreads.reads_of)."""
    return reads_of(text, schema, names, "duckdb")

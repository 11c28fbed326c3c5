"""PostgreSQL: a real warehouse server, through ADBC (adbc-driver-postgresql).

Arrow moves in and out as PostgreSQL's binary COPY through ADBC, not row by row:
measured here on 2M rows, ADBC reads in about 0.5 s where a row-based client takes
16 s, and ingests about 25x faster per row.

- One connection per thread (libpq connections are not thread-safe), all in
  autocommit mode; `transaction()` wraps statements in BEGIN/COMMIT on the calling
  thread's connection. DDL is transactional, so publishing is atomic.
- The run lock is a session-level advisory lock on a connection of its own: the
  server releases it when that connection ends, also when the process is killed.
  While it waits, `open` reports who holds it from pg_stat_activity (our sessions
  carry their host and pid in application_name).
- NUMERIC arrives from ADBC as text (an opaque Arrow extension type); it is read
  as float64, like DuckDB decimals become float64 for scikit-learn.
- The URL's password never appears in a message: `describe` masks it and errors
  raised while connecting are scrubbed.
"""

from __future__ import annotations

import os
import re
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import sqlglot
from sqlglot import exp

from toolkit.engines.base import REPLACED_ASIDE, Engine
from toolkit.errors import ProjectError, TargetBusy, engine_message

# pg_advisory_lock takes a bigint; this one spells "toolkit" in ASCII.
LOCK_KEY = 0x746F6F6C6B6974
SERIAL_KEY = LOCK_KEY + 1  # held for a moment by whoever allocates a run id
_ROW = "_toolkit_row"
# What a view's text (pg_get_viewdef) names when it answers other rows over the same data:
# the clock, randomness, sequences, the session, files (stable_views).
_VOLATILE = re.compile(r"\b(now|current_\w+|localtime\w*|transaction_timestamp|statement_timestamp|clock_timestamp|timeofday|"
                       r"random|setseed|gen_random_uuid|uuid_generate_\w+|nextval|currval|lastval|txid_\w+|pg_current_\w+|"
                       r"pg_read_\w+|lo_\w+|session_user)\b", re.IGNORECASE)
_CATALOGS = ("information_schema", "pg_catalog")  # typed by no catalog read (_typed_operands)


class PostgresEngine(Engine):
    name = "postgres"
    dialect = "postgres"
    SUPPORTS_TRANSACTIONAL_DDL = True
    CONCURRENT_READERS = True  # MVCC: plan, test and models list read while a run holds the advisory lock
    INLINES_CTES = True
    MAX_IDENTIFIER_LENGTH = 63  # NAMEDATALEN - 1: longer names are cut silently
    GROUPING_FENCE = True  # monitoring's grouping sets hash instead of sorting (monitoring/profiles.py)
    NAMES_FOLD_CASE = False  # quoted identifiers: "Orders" and orders are two relations

    def __init__(self, target, root: Path):
        super().__init__(target, root)
        url = target.settings.get("url")
        if not url:
            raise ProjectError(f"target {target.name}: engine postgres needs url = \"postgresql://user@host:port/database\"")
        self.url = url
        self._lock_connection = None
        self._connections: list = []
        self._functions: set[str] | None = None

    # -- connection ----------------------------------------------------------------------

    def describe(self) -> str:
        return f"postgres {mask_password(self.url)}"

    def _connect(self):
        import adbc_driver_postgresql.dbapi as adbc

        try:
            connection = adbc.connect(self.url, autocommit=True)
        except Exception as error:
            raise ProjectError(f"cannot connect to {mask_password(self.url)}: {self._scrub(error)}") from None
        with connection.cursor() as cursor:
            cursor.execute(_set_application_name())  # so that a waiting run can say who holds the lock
            # JIT-optimizing generated SQL (a compiled 100-tree forest) costs more than it
            # saves: 45 s -> 23 s on 1M rows measured here. Compiling stays on.
            cursor.execute("SET jit_optimize_above_cost = -1")
            # an interval's text is rewritten from this style's (pgmeanings.duckdb_interval_text):
            # the server's default, which its administrator may have changed
            cursor.execute("SET IntervalStyle = postgres")
            # not the server's zone: the project's, as on every engine (config.Config.time_zone)
            try:
                cursor.execute(f"SET TIME ZONE {exp.Literal.string(self.target.time_zone).sql(dialect='postgres')}")
            except Exception as error:  # a zone Python's database has and the server's lacks
                connection.close()
                raise ProjectError(f"time_zone '{self.target.time_zone}': {self._scrub(error)}") from None
        self._connections.append(connection)
        return connection

    def open(self, lock_timeout: float, exclusive: bool = True) -> None:
        self._lock_connection = self._connect()
        if not exclusive:
            return
        deadline = time.monotonic() + lock_timeout
        delay = 0.05
        told = False
        while not self._try_lock():
            if not told and self.on_wait is not None:
                self.on_wait(self._holder())
                told = True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                message = self._busy_message(lock_timeout)
                self.close()
                raise TargetBusy(message)
            self._pause(min(delay, remaining))
            delay = min(delay * 2, 0.5)

    def bucket(self, x: exp.Expression, edges: list[exp.Expression]) -> exp.Expression:
        """width_bucket(x, thresholds): how many edges are <= x, by binary search
        (numpy.searchsorted side="right"); a CASE over 9 edges per feature costs more
        (15 numeric features over 1M rows: 8.5 s -> 5.2 s measured here)."""
        thresholds = exp.cast(exp.Array(expressions=edges), exp.DataType.build("DOUBLE PRECISION[]", dialect="postgres"))
        return exp.Anonymous(this="WIDTH_BUCKET", expressions=[x, thresholds])

    @contextmanager
    def serialized(self):
        with self.transaction():
            self._run(f"SELECT pg_advisory_xact_lock({SERIAL_KEY})")  # released at commit
            yield

    def announce_run(self, run_id: int) -> None:
        with self._lock_connection.cursor() as cursor:
            cursor.execute(_set_application_name(run_id))

    def _try_lock(self) -> bool:
        with self._lock_connection.cursor() as cursor:
            cursor.execute(f"SELECT pg_try_advisory_lock({LOCK_KEY})")
            return bool(cursor.fetchone()[0])

    def _busy_message(self, lock_timeout: float) -> str:
        return f"target {self.target.name} is busy: {mask_password(self.url)} is locked by {self._holder()}; waited {lock_timeout:g}s (--lock-timeout); safe to retry"

    def _holder(self) -> str:
        """Who holds the advisory lock: our sessions name their run, host and pid."""
        query = (
            "SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start::text "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            f"WHERE l.locktype = 'advisory' AND l.granted AND l.objid = {LOCK_KEY & 0xFFFFFFFF} "
            f"AND l.classid = {LOCK_KEY >> 32} AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        with self._lock_connection.cursor() as cursor:
            cursor.execute(query)
            row = cursor.fetchone()
        if row is None:
            return "another session"
        pid, application, client, started = row
        return f"{application or 'a session'} (server pid {pid}, from {client or 'local socket'}, connected {started[:19]})"

    def interrupt(self) -> None:
        for connection in list(self._connections):
            if connection is self._lock_connection:
                continue  # it runs nothing but the lock's statements
            try:
                connection.adbc_cancel()  # the server cancels the running statement; idle: nothing
            except Exception:  # closed meanwhile, or the server is gone: nothing left to stop
                pass

    def close(self) -> None:
        for connection in self._connections:
            try:
                connection.close()  # closing the lock's connection releases the advisory lock
            except Exception:
                pass
        self._connections = []
        self._lock_connection = None
        self._local.__dict__.clear()

    def _scrub(self, error: Exception) -> str:
        text = " ".join(str(error).split())
        password = _password(self.url)
        return text.replace(password, "***") if password else text

    @property
    def _session(self):
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._connect()
        return connection

    # -- statements and Arrow ------------------------------------------------------------

    def _run(self, sql: str):
        cursor = self._session.cursor()
        cursor.execute(sql)
        return cursor

    def fetch_arrow(self, statement):
        with self._session.cursor() as cursor:
            cursor.execute(self.generate(statement))
            return numeric_as_double(cursor.fetch_arrow_table())

    def fetch_rows(self, statement) -> list[tuple]:
        with self._session.cursor() as cursor:
            cursor.execute(self.generate(statement))
            return cursor.fetchall()

    def read_batches(self, statement, batch_rows: int = 100_000):
        import pyarrow as pa

        connection = self._connect()  # its own session: other statements may run while it is read
        cursor = connection.cursor()
        # ADBC cuts batches by bytes (16 MB by default); ask for about batch_rows of
        # narrow rows, and slice anything longer (zero-copy) to at most batch_rows.
        cursor.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(max(batch_rows * 16, 1 << 20))})
        cursor.execute(self.generate(statement))
        reader = cursor.fetch_record_batch()
        schema = numeric_as_double_schema(reader.schema)

        def batches():
            try:
                for batch in reader:
                    for start in range(0, batch.num_rows, batch_rows):
                        yield numeric_as_double(batch.slice(start, batch_rows))
            finally:
                cursor.close()
                connection.close()
                if connection in self._connections:
                    self._connections.remove(connection)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def create_table_from_arrow(self, table: exp.Table, data) -> None:
        """ADBC creates an Arrow decimal as a plain `numeric` (any precision and scale): the
        table is created empty, its decimals given their precision and scale (a CSV seed's
        integer past BIGINT numeric(38,0), as DuckDB's DECIMAL(38,0)), then filled."""
        import pyarrow as pa

        data = _unsigned_as_decimal(data)
        decimals = [field for field in data.schema if pa.types.is_decimal(field.type)]
        if not decimals:
            self._ingest(table, data, "create")
            return
        self._ingest(table, data.schema.empty_table(), "create")
        self.execute(exp.Alter(this=table.copy(), kind="TABLE", actions=[
            exp.AlterColumn(this=exp.to_identifier(field.name, quoted=True),
                            dtype=exp.DataType.build(f"decimal({field.type.precision},{field.type.scale})"))
            for field in decimals]))
        self._ingest(table, data, "append")

    def insert_arrow(self, table: exp.Table, data) -> None:
        self._ingest(table, _unsigned_as_decimal(data), "append")

    def _ingest(self, table: exp.Table, data, mode: str) -> None:
        with self._session.cursor() as cursor:
            cursor.adbc_ingest(table.name, data, mode=mode, db_schema_name=table.db or None)

    def create_table_as(self, table: exp.Table, query: exp.Expression) -> int:
        cursor = self._run(self.generate(exp.Create(this=table, kind="TABLE", expression=query), copy=False))
        try:
            return int(cursor.rowcount)  # PostgreSQL reports the rows of CREATE TABLE AS
        finally:
            cursor.close()

    def execute(self, statement) -> None:
        self._run(self.generate(statement)).close()

    # -- engine-specific SQL -----------------------------------------------------------

    def generate(self, statement, copy: bool = True) -> str:
        from toolkit.sql import repair_for

        if isinstance(statement, exp.Expression):  # one copy (or none)
            statement = statement.copy() if copy else statement
            statement = repair_for(statement, self.dialect, self.source_dialect, self._typed_operands(statement))
            # after the repair: a double's ROUND(x, n) is rewritten there (pgmeanings.py) from its type
            statement = statement.transform(_portable_round, copy=False)
        return super().generate(statement, copy=False)

    def _typed_operands(self, statement: exp.Expression):
        """meanings.repair's type lookup for the calls PostgreSQL rewrites by their operand's
        type (round of a double, date_trunc of a date: pgmeanings.TYPED; what orders text:
        pgmeanings.TEXT_ORDERED, collated "C"), typed from the
        catalog's column types (read only when there is such a call)."""
        from toolkit import argminmax, meanings, pgmeanings

        # date_trunc: sqlglot reads DuckDB's and Snowflake's as a TimestampTrunc (of a date: a TIMESTAMP there)
        if not any(isinstance(node, pgmeanings.TYPED + (exp.TimestampTrunc,)) or _as_text(node)
                   or isinstance(node, pgmeanings.TEXT_ORDERED) or argminmax.ordering_key(node)
                   or pgmeanings.real_sided(node) for node in statement.find_all(exp.Expression)):
            return None
        schema: dict = {}
        for table in statement.find_all(exp.Table):
            # not the catalog's own (columns() reads information_schema: typing its query looped)
            if table.db and table.name and not isinstance(table.parent, exp.Create) and table.db not in _CATALOGS:
                columns = self.columns(table)
                if columns:
                    schema.setdefault(table.db, {})[table.name] = columns
        found = meanings.cast_types(statement, schema, self.dialect, orders=True)
        # the step's own SQL types a HUGEINT as one (the catalog: a NUMERIC(38, 0), a decimal's type)
        return found and (lambda node: _interval_only(node, found(node)) if _as_text(node) or isinstance(node, exp.Cast)
                          and node.to.this not in meanings.INTEGERS else meanings.step_family(node, found(node)))

    def replace_view(self, view: exp.Table, query: exp.Expression) -> None:
        """CREATE OR REPLACE VIEW first: it keeps the views others built on this one (an
        analyst's report), which a DROP refuses; it cannot drop or retype columns, so then
        drop and create, in the same transaction (a savepoint undoes the failed attempt).
        Either way the view keeps the options a DBA set (ALTER VIEW ... SET (security_barrier),
        which CREATE OR REPLACE without WITH resets), and its owner, when another role, may
        read what it now reads (PostgreSQL reads a view's tables with its owner's privileges)."""
        options, unreadable = self._view_settings(view, query)
        properties = self._kept_options(view, options)
        savepoint = getattr(self._local, "in_transaction", False)
        if savepoint:
            self._run("SAVEPOINT toolkit_replace_view")
        try:
            self.execute(exp.Create(this=view, kind="VIEW", expression=query.copy(), replace=True, properties=properties))
        except Exception:  # noqa: BLE001 (columns dropped, retyped or reordered: PostgreSQL says which)
            if savepoint:
                self._run("ROLLBACK TO SAVEPOINT toolkit_replace_view")
        else:
            if savepoint:
                self._run("RELEASE SAVEPOINT toolkit_replace_view")
            self._let_owner_read(view, unreadable)
            return
        kept, lost = self._view_meta_of(view), self._lost_by_drop(view)
        self.drop(view, "VIEW")
        self.execute(exp.Create(this=view, kind="VIEW", expression=query, properties=properties and properties.copy()))
        said: list[str] = []  # the owner's notes: no later restore (a rollback's) supersedes them
        notes = self._restore_view_meta(view, kept, said) if kept else []
        said += [f"{view.sql()}: its {what} was dropped with it, not made again (make it again by hand)" for what in lost]
        held = getattr(self._local, "held_notes", None)
        if held is not None:  # inside publish: said after it, unless a rollback's restore of the grants supersedes them
            held[self._view_key(view)] = notes
        else:
            said = notes + said
        for note in said:
            self.warn(f"view re-created for its new column types, not all as it was: {note}")
        self._let_owner_read(view, unreadable)

    def publish(self, swaps, drops=(), record=None) -> None:
        """Engine.publish; what replace_view could not give back of a retyped view's comments and
        grants is said after it, unless the swap's extras made them a saved state's again (a
        rollback: viewmeta.restore, which says its own): not the same grants said twice."""
        self._local.held_notes = {}
        try:
            super().publish(swaps, drops, record)
            held = self._local.held_notes
        finally:
            self._local.held_notes = None
        for notes in held.values():
            for note in notes:
                self.warn(f"view re-created for its new column types, not all as it was: {note}")

    def grants_restored(self, view: exp.Table) -> None:
        held = getattr(self._local, "held_notes", None)
        if held:
            held.pop(self._view_key(view), None)

    def _view_key(self, view: exp.Table) -> tuple[str, str]:
        from toolkit import viewmeta

        return view.db, viewmeta.catalog_name(self, view)

    def _view_settings(self, view: exp.Table, query: exp.Expression) -> tuple[list[str], tuple[str, list[exp.Table]] | None]:
        """The view's options (pg_class.reloptions, as name=value) and, where its owner may not
        SELECT from a table `query` reads, (owner, those tables); one catalog query, before the
        view is re-pointed. Nothing of a view that is not there yet."""
        from toolkit import viewmeta

        tables = [table for table in query.find_all(exp.Table) if table.db and table.name]
        readable = [exp.func("has_table_privilege", exp.column("relowner", table="c"), exp.Literal.string(self.generate(table)),
                             exp.Literal.string("SELECT")) for table in tables]
        found = self.fetch_rows(
            exp.select(exp.func("array_to_string", exp.column("reloptions", table="c"), exp.Literal.string("\x1f")),
                       exp.func("pg_get_userbyid", exp.column("relowner", table="c")), *readable)
            .from_(exp.to_table("pg_class").as_("c"))
            .join(exp.to_table("pg_namespace").as_("n"), on=exp.column("oid", table="n").eq(exp.column("relnamespace", table="c")))
            .where(exp.column("nspname", table="n").eq(exp.Literal.string(view.db)))
            .where(exp.column("relname", table="c").eq(exp.Literal.string(viewmeta.catalog_name(self, view))))
            .where(exp.column("relkind", table="c").eq(exp.Literal.string("v"))))
        if not found:
            return [], None
        options, owner, *can_read = found[0]
        unreadable = [table for table, readable in zip(tables, can_read) if not readable]
        return (options.split("\x1f") if options else []), ((owner, unreadable) if unreadable else None)

    def _kept_options(self, view: exp.Table, options: list[str]) -> exp.Properties | None:
        """The view's options as WITH (...) for its CREATE: only those toolkit knows, with a
        value it knows (they become SQL); any other is said (a warning) and not kept."""
        from toolkit import viewmeta

        properties, notes = viewmeta.view_options(view, options)
        for note in notes:
            self.warn(note)
        return exp.Properties(expressions=properties) if properties else None

    def _let_owner_read(self, view: exp.Table, unreadable: tuple[str, list[exp.Table]] | None) -> None:
        """GRANT SELECT on what the re-pointed view reads to its owner, another role (an
        analyst's ALTER VIEW ... OWNER TO) that may not read it: else every reader of the view
        gets "permission denied for table ...". A refusal is said, the transaction kept."""
        if unreadable is None:
            return
        owner, tables = unreadable
        for table in tables:
            grant = exp.Grant(privileges=[exp.GrantPrivilege(this=exp.Var(this="SELECT"))], kind="TABLE", securable=table.copy(),
                              principals=[exp.GrantPrincipal(this=exp.to_identifier(owner, quoted=True))])
            refused = self._with_savepoint("toolkit_owner_reads", grant)
            if refused:
                self.warn(f"{view.sql()}: its owner {owner} may not read {table.sql()} (GRANT SELECT refused: {refused}): "
                          f"reading the view fails with permission denied")

    def _with_savepoint(self, name: str, statement: exp.Expression) -> str | None:
        """Run `statement`; PostgreSQL's refusal as text, inside a transaction undone alone (a savepoint)."""
        savepoint = getattr(self._local, "in_transaction", False)
        if savepoint:
            self._run(f"SAVEPOINT {name}")
        try:
            self.execute(statement)
        except Exception as error:  # noqa: BLE001 (a permission PostgreSQL checks: said by the caller)
            if savepoint:
                self._run(f"ROLLBACK TO SAVEPOINT {name}")
            return engine_message(error)
        if savepoint:
            self._run(f"RELEASE SAVEPOINT {name}")
        return None

    def _view_meta_of(self, view: exp.Table) -> dict | None:
        """The view's owner, comments and grants (an analyst's ALTER VIEW ... OWNER TO or GRANT,
        a post_hook's COMMENT), which a DROP loses: re-created with other column types, the
        view gets them back."""
        from toolkit import viewmeta

        return viewmeta.snapshot_one(self, view)

    def _lost_by_drop(self, view: exp.Table) -> list[str]:
        """What else CREATE OR REPLACE VIEW keeps and a DROP takes with the view: an INSTEAD OF
        trigger, a rule, a column's default (ALTER VIEW ... SET DEFAULT), a security label.
        Said, not re-created: each exists only as the catalog's SQL text, which may name a
        column the new view retyped. (Options set by ALTER VIEW ... SET (security_barrier, ...)
        replace_view gives again, read from pg_class.reloptions.)"""
        from toolkit import viewmeta

        oid = (exp.select(exp.column("oid", table="c")).from_(exp.to_table("pg_class").as_("c"))
               .join(exp.to_table("pg_namespace").as_("n"), on=exp.column("oid", table="n").eq(exp.column("relnamespace", table="c")))
               .where(exp.column("nspname", table="n").eq(exp.Literal.string(view.db)))
               .where(exp.column("relname", table="c").eq(exp.Literal.string(viewmeta.catalog_name(self, view))))
               .where(exp.column("relkind", table="c").eq(exp.Literal.string("v"))))
        parts = [
            ("SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal", "tgrelid"),
            ("SELECT 'rule ' || rulename FROM pg_rewrite WHERE rulename <> '_RETURN'", "ev_class"),
            ("SELECT 'default of column ' || a.attname FROM pg_attrdef AS d "
             "JOIN pg_attribute AS a ON a.attrelid = d.adrelid AND a.attnum = d.adnum", "d.adrelid"),
            ("SELECT 'security label of ' || provider FROM pg_seclabel WHERE classoid = CAST('pg_class' AS REGCLASS)", "objoid"),
        ]
        queries = [sqlglot.parse_one(text, read="postgres").where(exp.column(*reversed(on.split("."))).eq(exp.Subquery(this=oid.copy())))
                   for text, on in parts]
        return sorted(row[0] for row in self.fetch_rows(exp.union(*queries, distinct=False)))

    def _restore_view_meta(self, view: exp.Table, kept: dict, owner_notes: list[str]) -> list[str]:
        """Give the re-created view `kept`'s owner, comments and grants; comments of columns
        it no longer has are left behind (a grant is given again by toolkit's user, then
        passes to the owner with the view). What could not be given back, as sentences."""
        from toolkit import viewmeta

        shape = self.shapes([view]).get((view.db, view.name))
        columns = {column for column, _ in shape[1]} if shape else set()
        kept = {**kept, "columns": {name: text for name, text in (kept.get("columns") or {}).items() if name in columns},
                "column_grants": [grant for grant in kept.get("column_grants") or [] if grant[0] in columns]}
        return viewmeta.restore(self, view, kept, since="it was dropped and re-created", owner_notes=owner_notes)

    def set_view_owner(self, view: exp.Table, owner: str) -> str | None:
        """ALTER VIEW ... OWNER TO `owner` (a role that exists); PostgreSQL's refusal (toolkit's
        user cannot act as that role, or the role may not create in the schema) as a
        sentence, the transaction kept (a savepoint undoes the failed statement)."""
        statement = exp.Command(this="ALTER", expression=f"VIEW {self.generate(view)} OWNER TO {self.generate(exp.to_identifier(owner, quoted=True))}")
        refused = self._with_savepoint("toolkit_view_owner", statement)
        return f"owner {owner} not given back ({refused})" if refused else None

    def view_meta(self, schema: str, name: str | None = None) -> dict[str, dict]:
        """Comments from pg_description, grants from information_schema.table_privileges (those
        a role gave another: not the owner's own), the owner from pg_class."""
        views = sqlglot.parse_one(
            "SELECT c.relname, obj_description(c.oid, 'pg_class'), pg_get_userbyid(c.relowner) FROM pg_class AS c "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.relkind = 'v'", read="postgres")
        comments = sqlglot.parse_one(
            "SELECT c.relname, a.attname, d.description FROM pg_description AS d JOIN pg_class AS c ON c.oid = d.objoid "
            "JOIN pg_namespace AS n ON n.oid = c.relnamespace JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = d.objsubid "
            "WHERE c.relkind = 'v' AND d.objsubid > 0 AND d.classoid = CAST('pg_class' AS REGCLASS)", read="postgres")
        grants = sqlglot.parse_one(
            "SELECT p.table_name, p.grantee, p.privilege_type, p.is_grantable, p.grantor FROM information_schema.table_privileges AS p "
            "WHERE p.grantee <> p.grantor", read="postgres")
        # pg_attribute.attacl holds a column's own grants only (column_privileges shows the
        # table's grants on every column too); grantee 0 is PUBLIC
        column_grants = sqlglot.parse_one(
            "SELECT c.relname, a.attname, CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END, "
            "x.privilege_type, x.is_grantable, pg_get_userbyid(x.grantor) FROM pg_attribute AS a "
            "JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "CROSS JOIN LATERAL aclexplode(a.attacl) AS x WHERE c.relkind = 'v' AND a.attnum > 0 AND NOT a.attisdropped "
            "AND x.grantee <> x.grantor", read="postgres")
        where = [exp.column("nspname", table="n"), exp.column("relname", table="c")]
        views, comments, column_grants = (query.where(where[0].eq(exp.Literal.string(schema))) for query in (views, comments, column_grants))
        grants = grants.where(exp.column("table_schema", table="p").eq(exp.Literal.string(schema)))
        if name is not None:
            views, comments, column_grants = (query.where(where[1].eq(exp.Literal.string(name))) for query in (views, comments, column_grants))
            grants = grants.where(exp.column("table_name", table="p").eq(exp.Literal.string(name)))
        found = {view: {"comment": comment, "columns": {}, "grants": [], "column_grants": [], "owner": owner}
                 for view, comment, owner in self.fetch_rows(views)}
        for view, column, comment in self.fetch_rows(comments):
            found[view]["columns"][column] = comment
        for view, grantee, privilege, grantable, grantor in self.fetch_rows(grants):
            if view in found:
                found[view]["grants"].append([grantee, privilege, grantable == "YES", grantor])
        for view, column, grantee, privilege, grantable, grantor in self.fetch_rows(column_grants):
            if view in found:
                found[view]["column_grants"].append([column, grantee, privilege, bool(grantable), grantor])
        for meta in found.values():
            meta["grants"].sort()
            meta["column_grants"].sort()
        return found

    def missing_roles(self, names: list[str]) -> set[str]:
        """Of `names`, those pg_roles has not (a role dropped or renamed since its grant was recorded)."""
        if not names:
            return set()
        query = exp.select("rolname").from_("pg_roles").where(exp.column("rolname").isin(*(exp.Literal.string(n) for n in names)))
        return set(names) - {row[0] for row in self.fetch_rows(query)}

    def definitions(self, schema: str) -> dict[str, tuple[str, str | None]]:
        """From pg_class: pg_get_viewdef shows any view's SQL (information_schema.views only
        the owner's views)."""
        query = sqlglot.parse_one(
            "SELECT c.relname, CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'table' END, "
            "CASE WHEN c.relkind = 'v' THEN pg_get_viewdef(c.oid) END "
            "FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')", read="postgres")
        query = query.where(exp.column("nspname", table="n").eq(exp.Literal.string(schema)))
        return {name: (kind, sql) for name, kind, sql in self.fetch_rows(query)}

    def shapes(self, tables: list[exp.Table]) -> dict[tuple[str, str], tuple[str, list[tuple[str, str]]]]:
        """One query over pg_attribute: format_type gives the full type (numeric(12, 2),
        an enum's name), which information_schema's data_type does not."""
        if not tables:
            return {}
        query = sqlglot.parse_one(
            "SELECT n.nspname, c.relname, CASE WHEN c.relkind IN ('r', 'p') THEN 'table' ELSE 'view' END, a.attname, "
            "format_type(a.atttypid, a.atttypmod) "
            "FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace "
            "WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p', 'f') "
            "ORDER BY n.nspname, c.relname, a.attnum", read="postgres")
        query = (query.where(exp.column("nspname", table="n").isin(*(exp.Literal.string(s) for s in sorted({t.db for t in tables}))))
                 .where(exp.column("relname", table="c").isin(*(exp.Literal.string(n) for n in sorted({t.name for t in tables})))))
        wanted = {(t.db, t.name) for t in tables}
        found: dict[tuple[str, str], tuple[str, list[tuple[str, str]]]] = {}
        for schema, name, relation_kind, column, column_type in self.fetch_rows(query):
            if (schema, name) in wanted:
                found.setdefault((schema, name), (relation_kind, []))[1].append((column, column_type))
        return found

    def replace_loaded(self, target: exp.Table, loaded: exp.Table) -> None:
        """A PostgreSQL view is bound to the table it read, not to its name, and DROP refuses
        while one reads it (a view step over a file source: every run after the file changed
        failed). With a view reading `target`: the same columns get the new rows in place (the
        view sees them in the same commit); other columns leave the old table renamed aside
        (its views read it until their steps, due as their source changed, are rebuilt over
        the new one; filesources drops it once nothing reads it)."""
        if not self.views_reading(target.db, [target.name]):
            return super().replace_loaded(target, loaded)
        with self.transaction():
            if list(self.columns(target).items()) == list(self.columns(loaded).items()):
                self.execute(exp.delete(target.copy()))
                self.execute(exp.insert(exp.select("*").from_(loaded.copy()), target.copy()))
                self.drop(loaded)
                return
            aside = f"{target.name}{REPLACED_ASIDE}{uuid.uuid4().hex[:8]}"
            self.execute(exp.Alter(this=target.copy(), kind="TABLE", actions=[exp.AlterRename(this=exp.to_table(aside))]))
            self.execute(exp.Alter(this=loaded.copy(), kind="TABLE", actions=[exp.AlterRename(this=exp.to_table(target.name))]))

    def stable_views(self) -> dict[tuple[str, str], str] | None:
        """Every view's text (view_texts) when none can answer other rows over the same data:
        no text names the clock, randomness or a sequence (_VOLATILE, PostgreSQL's own functions,
        of which pg_depend records nothing), and no view calls a function of the database's
        that is not immutable (a function reading a table is at most stable: what it reads
        is no relation of the view's). Without this a view source reading only steps was
        printed by its rows, hashed before the run rebuilt them: its readers rebuilt twice."""
        texts = self.view_texts()
        if any(_VOLATILE.search(text) for text in texts.values()) or self._views_call_unstable_functions():
            return None
        return texts

    def _views_call_unstable_functions(self) -> bool:
        query = sqlglot.parse_one(
            "SELECT 1 FROM pg_depend AS d JOIN pg_rewrite AS r ON r.oid = d.objid AND d.classid = r.tableoid "
            "JOIN pg_class AS v ON v.oid = r.ev_class JOIN pg_namespace AS vn ON vn.oid = v.relnamespace "
            "JOIN pg_proc AS p ON p.oid = d.refobjid AND d.refclassid = p.tableoid "
            "WHERE v.relkind = 'v' AND p.provolatile <> 'i' AND vn.nspname NOT IN ('pg_catalog', 'information_schema') LIMIT 1",
            read="postgres")
        return bool(self.fetch_rows(query))

    def view_texts(self) -> dict[tuple[str, str], str]:
        """Every view's definition from pg_views (pg_get_viewdef: a relation outside the
        search path named with its schema), for the steps a view source reads (viewsources.py)."""
        query = sqlglot.parse_one("SELECT schemaname, viewname, definition FROM pg_views "
                                  "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')", read="postgres")
        return {(schema.casefold(), view.casefold()): text or "" for schema, view, text in self.fetch_rows(query)}

    def view_reads(self) -> dict[tuple[str, str], set[tuple[str, str]]]:
        """From pg_depend, one query: a view's rewrite rule depends on each relation it reads,
        as its name was resolved (through the search_path then) when the view was made. Its
        text (pg_get_viewdef) names a relation the search_path finds now without its schema."""
        query = sqlglot.parse_one(
            "SELECT DISTINCT vn.nspname, v.relname, tn.nspname, t.relname FROM pg_depend AS d "
            "JOIN pg_rewrite AS r ON r.oid = d.objid AND d.classid = r.tableoid "
            "JOIN pg_class AS v ON v.oid = r.ev_class JOIN pg_namespace AS vn ON vn.oid = v.relnamespace "
            "JOIN pg_class AS t ON t.oid = d.refobjid AND d.refclassid = t.tableoid "
            "JOIN pg_namespace AS tn ON tn.oid = t.relnamespace "
            "WHERE v.oid <> t.oid AND v.relkind = 'v' AND vn.nspname NOT IN ('pg_catalog', 'information_schema')", read="postgres")
        found: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for view_schema, view, schema, name in self.fetch_rows(query):
            found.setdefault((view_schema.casefold(), view.casefold()), set()).add((schema.casefold(), name.casefold()))
        return found

    def views_reading(self, schema: str, names: list[str]) -> dict[str, str]:
        """{name: why} of the relations of `schema` about to be dropped (`names`) that a view
        staying behind reads, directly or through another of them: PostgreSQL would refuse
        their DROP. Asked beforehand so that `toolkit gc --dry-run` says what a real gc keeps.
        From pg_depend: a view's rewrite rule depends on each relation it reads."""
        query = sqlglot.parse_one(
            "SELECT vn.nspname, v.relname, t.relname FROM pg_depend AS d "
            "JOIN pg_rewrite AS r ON r.oid = d.objid AND d.classid = r.tableoid "
            "JOIN pg_class AS v ON v.oid = r.ev_class JOIN pg_namespace AS vn ON vn.oid = v.relnamespace "
            "JOIN pg_class AS t ON t.oid = d.refobjid AND d.refclassid = t.tableoid "
            "JOIN pg_namespace AS tn ON tn.oid = t.relnamespace WHERE v.oid <> t.oid", read="postgres")
        query = query.where(exp.column("nspname", table="tn").eq(exp.Literal.string(schema)))
        doomed = set(names)
        readers: dict[str, list[tuple[str, str]]] = {}  # view -> what it reads, for kept views of `schema`
        stack: list[tuple[str, str]] = []
        for view_schema, view, read in self.fetch_rows(query):
            if read not in doomed:
                continue
            if view_schema == schema and view in doomed:
                readers.setdefault(view, []).append((read, f"view {view_schema}.{view} reads it, kept"))
            else:
                stack.append((read, f"view {view_schema}.{view} reads it"))
        kept: dict[str, str] = {}
        while stack:  # a kept view of `schema` keeps what it reads too
            name, why = stack.pop()
            if name not in kept:
                kept[name] = why
                stack.extend(readers.get(name, ()))
        return kept

    def table_fingerprint(self, table: exp.Table) -> str:
        """count and the sum of each row's md5 (first 60 bits), order-independent."""
        digest = sqlglot.parse_one(
            f"SUM(('x' || SUBSTR(MD5(CAST({_ROW} AS TEXT)), 1, 15))::BIT(60)::BIGINT::NUMERIC)", read="postgres"
        )
        query = exp.select("count(*)", exp.cast(digest, "text")).from_(table.copy().as_(_ROW))
        count, total = self.fetch_rows(query)[0]
        return f"{count}:{total}"

    def key_hash(self, columns: list[str]) -> exp.Expression:
        """A non-negative 63-bit hash of the key columns (for sampling in the warehouse)."""
        text = exp.func("concat_ws", exp.Literal.string("\x1f"), *(exp.cast(exp.column(c), "text") for c in columns))
        hashed = exp.func("hashtextextended", text, exp.Literal.number(0))
        return exp.func("abs", exp.paren(exp.Mod(this=hashed, expression=exp.Literal.number(2**62))))

    def binary_literal(self, data: bytes) -> exp.Expression:
        return exp.func("decode", exp.Literal.string(data.hex()), exp.Literal.string("hex"))

    def functions(self) -> set[str]:
        """Names of the functions this server knows (lower case), for checking transpiled SQL."""
        if self._functions is None:
            self._functions = {row[0] for row in self.fetch_rows("SELECT DISTINCT proname FROM pg_proc")}
        return self._functions

    def optimize_storage(self) -> None:
        """Autovacuum reclaims space on PostgreSQL; nothing to do after a run."""


def _portable_round(node: exp.Expression) -> exp.Expression:
    """ROUND(x, n) exists in PostgreSQL only for NUMERIC x (DuckDB rounds doubles too):
    round the value as NUMERIC. Already-NUMERIC arguments are unchanged by the cast."""
    if isinstance(node, exp.Round) and node.args.get("decimals") is not None:
        value = node.this
        if not (isinstance(value, exp.Cast) and value.to.is_type("decimal")):
            node = node.copy()
            node.set("this", exp.cast(value, exp.DataType.build("DECIMAL")))
    return node


# libpq's keyword form: host=h user=u password=secret (the value may be quoted)
_KEYWORD_PASSWORD = re.compile(r"""(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)""")


def mask_password(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db (also in query
    parameters); `host=h password=secret` (libpq's keyword form) -> `password=***`."""
    if "://" not in url:
        return _KEYWORD_PASSWORD.sub(r"\1***", url)
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _password(url: str) -> str | None:
    """The password a URL (in its user part or ?password=) or a keyword string carries."""
    if "://" in url:
        parts = urlsplit(url)
        found = re.search(r"(?i)(?:^|&)password=([^&]*)", parts.query)
        return parts.password or (found.group(1) if found else None)
    found = _KEYWORD_PASSWORD.search(url)
    return found.group(2).strip("'") if found else None


def _set_application_name(run_id: int | None = None) -> str:
    run = f" run {run_id}" if run_id else ""
    name = f"toolkit{run} host={socket.gethostname()} pid={os.getpid()}"[:63]
    return f"SET application_name = {exp.Literal.string(name).sql(dialect='postgres')}"


def _is_numeric(field) -> bool:
    """ADBC's NUMERIC: an arrow.opaque extension type named "numeric" over text."""
    return getattr(field.type, "extension_name", "") == "arrow.opaque" and getattr(field.type, "type_name", "") == "numeric"


def numeric_as_double_schema(schema):
    import pyarrow as pa

    return pa.schema([pa.field(f.name, pa.float64()) if _is_numeric(f) else f.remove_metadata() for f in schema])


def numeric_as_double(data):
    """NUMERIC columns (ADBC hands them over as text) as float64; PostgreSQL field metadata dropped."""
    import pyarrow as pa

    schema = numeric_as_double_schema(data.schema)
    columns = []
    for field, column in zip(data.schema, data.columns):
        if _is_numeric(field):
            storage = column.storage if isinstance(column, pa.ExtensionArray) else pa.chunked_array(
                [chunk.storage for chunk in column.chunks], column.type.storage_type
            )
            column = storage.cast(pa.float64())
        columns.append(column)
    kind = pa.Table if isinstance(data, pa.Table) else pa.RecordBatch
    return kind.from_arrays(columns, schema=schema)


def _unsigned_as_decimal(data):
    """An unsigned 64-bit Arrow column (a Parquet file's UINT64) as numeric(20,0), which holds
    every value of it: ADBC ingests it as bigint, bit for bit, and 2**63+5 was stored
    -9223372036854775803. Narrower unsigned columns fit the next wider integer, as ADBC
    creates them. A table, a batch or a stream of batches (converted as it is read)."""
    import pyarrow as pa

    unsigned = [i for i, field in enumerate(data.schema) if pa.types.is_uint64(field.type)]
    if not unsigned:
        return data
    wide = pa.decimal128(20, 0)
    schema = data.schema
    for index in unsigned:
        schema = schema.set(index, schema.field(index).with_type(wide))

    def convert(part):
        return pa.RecordBatch.from_arrays([column.cast(wide) if i in unsigned else column for i, column in enumerate(part.columns)],
                                          schema=schema) if isinstance(part, pa.RecordBatch) else \
            pa.Table.from_arrays([column.cast(wide) if i in unsigned else column for i, column in enumerate(part.columns)], schema=schema)

    if isinstance(data, pa.RecordBatchReader):
        return pa.RecordBatchReader.from_batches(schema, (convert(batch) for batch in data))
    return convert(data)


def _as_text(node: exp.Expression) -> bool:
    """A cast to text, a concat or ||: what writes an interval as text (pgmeanings.duckdb_interval_text)."""
    return isinstance(node, (exp.Concat, exp.DPipe)) or isinstance(node, exp.Cast) and node.to.this in exp.DataType.TEXT_TYPES


def _interval_only(node: exp.Expression, family):
    """A run's family of a cast other than to an integer, or of a concatenation's operands:
    "interval" (its text written as DuckDB's) or None. A double written as text is refused at
    compile, in the user's step, never in toolkit's own statements (monitoring casts bins to text)."""
    if isinstance(family, tuple) and isinstance(node, (exp.Concat, exp.DPipe)):
        return tuple(kind if kind == "interval" else None for kind in family)
    return family if family == "interval" and _as_text(node) else None

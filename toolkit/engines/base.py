"""The engine adapter contract. Everything engine-specific lives in a subclass.

An adapter is declared mostly as data (dialect, capability flags) like sqlglot's
dialects; the methods below build SQL as sqlglot expressions and generate it in
the engine's dialect, so identifiers are always quoted by the generator.
Statements run on a per-thread session, so independent steps build in parallel.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator

from sqlglot import exp
from toolkit.generation import generate


class OpenCancelled(Exception):
    """open() gave up waiting for the lock because its session was no longer wanted
    (session.SessionAhead: the command failed before it needed the warehouse)."""


@dataclass(frozen=True)
class Swap:
    """One published name pointed at its physical relation; `extras(engine)` runs right
    after, in the same transaction (a model appends to its _history table)."""

    relation: exp.Table
    physical: exp.Table
    extras: Callable[["Engine"], None] | None = None


# A loaded file source's old table renamed aside while a view still reads it (PostgreSQL
# binds views to tables): <table>__toolkit_replaced_<8 hex>, dropped once nothing reads it.
REPLACED_ASIDE = "__toolkit_replaced_"

class Engine(ABC):
    name: ClassVar[str]
    dialect: ClassVar[str]
    # DDL inside a transaction is atomic and invisible until commit. publish() and
    # transaction() consult it: without it, a batch is published in order and the
    # state commit that follows is the point of truth (see publish()).
    SUPPORTS_TRANSACTIONAL_DDL: ClassVar[bool] = True
    # Sessions that only read (plan, test, models list) may connect while a run holds
    # the run lock; open(exclusive=False) then takes no lock. False: every session
    # waits for the lock (DuckDB: one process holds the file).
    CONCURRENT_READERS: ClassVar[bool] = False
    # An incremental update deletes and inserts rows of the published table inside one
    # transaction. False: it is copied on write into a new table, then re-pointed.
    UPDATES_IN_PLACE: ClassVar[bool] = True
    # Several steps' builds may share one transaction on a worker's session and commit
    # together (toolkit/batches.py): worth it where each commit costs a sync of
    # the log (DuckDB: ~1.2 ms each, more under I/O load). Needs transactional DDL and a
    # session that reads its own uncommitted tables; transaction_intact() must tell whether
    # a statement failed inside the transaction (the whole batch is then undone and built
    # again one step at a time). PostgreSQL and Spark build as before: one commit each.
    BATCHES_BUILDS: ClassVar[bool] = False
    # Run records, the registry and the run lock can live in this engine (UPDATE,
    # DELETE, transactions). False: the target needs a state store of its own, and
    # `default_state(settings)` in the adapter's module names the default one.
    HOLDS_STATE: ClassVar[bool] = True
    # The planner inlines CTEs and recomputes their columns at every use (PostgreSQL
    # 12+): generated SQL fences them (OFFSET 0) so each is computed once.
    INLINES_CTES: ClassVar[bool] = False
    # Float arithmetic is IEEE's and never raises: an overflow is inf, an underflow 0.
    # False: compiled scoring SQL guards every float step (PostgreSQL raises "value out
    # of range"; toolkit/modelsql/mathsql.py), which costs DuckDB half its scoring time.
    IEEE_FLOATS: ClassVar[bool] = False
    # Text converted to a DATE or TIMESTAMP is ISO 8601 only ('2024-01-31[ 12:00[:00]]',
    # infinity, epoch: DuckDB). False: other styles too (PostgreSQL: '20240131', 'Jan 31
    # 2024', today), so a data test's date text is refused at compile only when it is no date at all.
    ISO_DATES_ONLY: ClassVar[bool] = False
    # Longest identifier in bytes the engine keeps whole (None: no limit); physical
    # names are made to fit, published names that do not are a project error.
    MAX_IDENTIFIER_LENGTH: ClassVar[int | None] = None
    # Longest column name the engine keeps whole: an engine's MAX_IDENTIFIER_LENGTH unless it
    # says otherwise (__init_subclass__). Spark's 128 is its metastore's for table names only.
    MAX_COLUMN_LENGTH: ClassVar[int | None] = None
    # bucket(x, edges) -> the bin of x among sorted edges, with the engine's own function
    # (a binary search); None: monitoring tests the edges one by one in a CASE.
    bucket: ClassVar[Callable | None] = None
    # quantiles(x, array of fractions) -> the list of x's interpolated quantiles, where
    # the engine's percentile_cont takes one fraction (Spark); None: percentile_cont.
    quantiles: ClassVar[Callable | None] = None
    # The collation that orders text byte by byte (ties among top categories).
    BYTE_ORDER_COLLATION: ClassVar[str] = "C"
    # Monitoring's GROUPING SETS keys behind OFFSET 0, where the planner would otherwise
    # misjudge their groups from the columns inside them (PostgreSQL).
    GROUPING_FENCE: ClassVar[bool] = False
    # The post_hook statement kinds the engine runs (toolkit/hooks.py); a hook of another
    # kind is exit 2 at plan time.
    HOOKS: ClassVar[frozenset[str]] = frozenset({"analyze", "comment", "grant", "revoke"})
    # read_batches streams, and a plain scan usually returns a table's rows in the order
    # they are stored: a training read first tries it and keeps it when every key is
    # greater than the one before (training.read_training). False: the read is one
    # ORDER BY (Spark: read_batches collects the whole result, so a scan abandoned at
    # its first out-of-order row would cost a full read).
    STREAMS_STORED_ORDER: ClassVar[bool] = True
    # A CREATE TABLE AS whose query repeats an output name renames the repeat (DuckDB:
    # `id`, `id_1`) instead of refusing it as PostgreSQL and Spark do.
    RENAMES_REPEATED_COLUMNS: ClassVar[bool] = False
    # Relation names that differ only in case are one relation (DuckDB, Spark). False:
    # toolkit's quoted names are distinct there (PostgreSQL: "Orders" beside orders).
    NAMES_FOLD_CASE: ClassVar[bool] = True
    # The project's dialect, whose meanings generate() keeps (meanings.py); session._connect
    # sets it per engine. A class default: an engine made without __init__ has it too.
    source_dialect: str = "duckdb"
    # Called with a warning's text (session._connect: the console shows it); a class default likewise.
    on_warning: Callable[[str], None] | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "MAX_COLUMN_LENGTH" not in vars(cls) and "MAX_IDENTIFIER_LENGTH" in vars(cls):
            cls.MAX_COLUMN_LENGTH = cls.MAX_IDENTIFIER_LENGTH  # a column name is an identifier like any other

    def __init__(self, target, root: Path):
        self.target = target
        self.root = root
        self._local = threading.local()
        self.on_wait = None  # called once with the holder's description when open() has to wait
        self.stop_waiting = None  # a threading.Event: once set, open() stops waiting for the lock

    @property
    def semantics(self) -> str:
        """What decides a step's rows besides its SQL and inputs, for fingerprints: the
        dialect and, unless UTC (the default, so fingerprints made before the setting
        existed still hold), the session time zone: changing it rebuilds every step."""
        zone = getattr(self.target, "time_zone", "UTC")
        return self.dialect if zone == "UTC" else f"{self.dialect} time_zone={zone}"

    def warn(self, text: str) -> None:
        """Tell the user what the engine did not do as asked but went on without (a view
        re-created without an owner or a grant it had: PostgresEngine.replace_view). Without
        a session's console (library use) the warning goes to the "toolkit" logger."""
        if self.on_warning is not None:
            self.on_warning(text)
        else:
            logging.getLogger("toolkit").warning("warning: %s", text)

    def _pause(self, seconds: float) -> None:
        """Sleep between attempts at the lock. Once `stop_waiting` is set (the session is no
        longer wanted), close what open() has opened so far and raise OpenCancelled."""
        if self.stop_waiting is None:
            time.sleep(seconds)
        elif self.stop_waiting.wait(seconds):
            self.close()
            raise OpenCancelled(self.target.name)

    def restrict_to_warehouse(self, readable: list[str] = ()) -> None:
        """From now on statements may read and write only the warehouse: no files, no other
        databases (steps read refs, sources and seeds), except the folders in `readable`
        (those of file sources an engine reads in place). Engines that can, enforce it here."""

    def announce_run(self, run_id: int) -> None:
        """Tell other clients which run holds the lock (engines whose lock others can inspect)."""

    def interrupt(self) -> None:
        """Stop the statements this engine's threads are running (Ctrl-C during a run): each
        fails in its own thread and its transaction rolls back, so the run ends now, not when
        its longest build would have. Called from another thread than theirs. Engines that
        cannot cancel let their statements finish."""

    # -- connection (engine-specific) -------------------------------------------------

    @abstractmethod
    def open(self, lock_timeout: float, exclusive: bool = True) -> None:
        """Connect. exclusive: hold the target's run lock until close(), waiting up to
        `lock_timeout` seconds (then TargetBusy naming the holder; `on_wait(holder)` is
        called once if it has to wait). Not exclusive: only where CONCURRENT_READERS."""
        ...

    @abstractmethod
    def close(self) -> None:
        ...

    @abstractmethod
    def describe(self) -> str:
        """Where this target points, safe to print (no secrets)."""
        ...

    def may_hold_tables(self) -> bool:
        """False where opening would create the database (an embedded file not there yet):
        a command that only reads (lineage's catalog) then leaves it alone."""
        return True

    @abstractmethod
    def _run(self, sql: str) -> Any:
        """Execute one statement on this thread's session; return a cursor-like object."""
        ...

    @abstractmethod
    def fetch_arrow(self, statement: exp.Expression | str):
        ...

    def output_names(self, query: exp.Query) -> list[str] | None:
        """The names of the query's output columns as the query makes them, repeats
        included; planned, nothing read. An engine may answer None where it cannot plan
        the query alone (DuckDB: a derived table reading its outer query's columns)."""
        return self.fetch_arrow(query.copy().limit(0)).schema.names

    @abstractmethod
    def create_table_from_arrow(self, table: exp.Table, data) -> None:
        """CREATE TABLE from a pyarrow Table or RecordBatchReader (streamed, not row by row)."""
        ...

    @abstractmethod
    def read_batches(self, statement: exp.Expression | str, batch_rows: int = 100_000):
        """A pyarrow RecordBatchReader streaming the query's result in bounded batches.
        It runs on a session of its own, so other statements may run while it is read."""
        ...

    @abstractmethod
    def insert_arrow(self, table: exp.Table, data) -> None:
        ...

    @abstractmethod
    def table_fingerprint(self, table: exp.Table) -> str:
        """An order-independent fingerprint of a table's content: "<rows>:<digest>"."""
        ...

    # What change_token() said just before this process opened the warehouse, and as it
    # closed it, with all of its writes in (None: unknown).
    token_at_open: str | None = None
    token_at_close: str | None = None

    def change_token(self) -> str | None:
        """A value that changes whenever anything writes the warehouse, read without
        opening it (a file's identity, size and times); None: the engine has none, and
        source fingerprints are computed on every run (sourceprints.py)."""
        return None

    def views_are_stable(self) -> bool:
        """Whether every view of the warehouse returns the same rows for as long as
        change_token() stays the same (none reads the clock, a random number, a sequence or
        a file): then a view source's remembered print holds like a table's. False: views
        are hashed on every run."""
        return self.stable_views() is not None

    def stable_views(self) -> dict[tuple[str, str], str] | None:
        """views_are_stable() with what it read: every view's SQL text keyed by (schema,
        name) casefolded, which relations a view source reads (sourceprints.py); None: not
        stable, or the engine cannot tell."""
        return None

    def view_texts(self) -> dict[tuple[str, str], str] | None:
        """Every view's SQL text keyed by (schema, name) casefolded, stable or not: which
        steps a view source reads, so that its readers are built after them (viewsources.py).
        None: the engine cannot tell (its view sources' readers follow one run later)."""
        return None

    def view_reads(self) -> dict[tuple[str, str], set[tuple[str, str]]] | None:
        """What each view reads as the engine resolved it when the view was made, keyed and
        valued by (schema, name) casefolded (a view reading nothing is absent). None: the
        engine keeps no such record, and a view's text is parsed instead (sourceprints._Views),
        an unqualified name looked for as view_search_path says."""
        return None

    def view_search_path(self, view_schema: str) -> tuple[str, ...]:
        """The schemas (casefolded) where a name a view's text leaves without a schema is found
        when toolkit reads the view, in order: the first holding a relation of that name. Here
        the view's own schema alone."""
        return (view_schema,)

    def read_fully(self, table: exp.Table) -> int:
        """Evaluate every column of every row (a view's runtime errors surface only
        then, e.g. a failing cast); the number of rows."""
        return int(self.table_fingerprint(table).split(":", 1)[0])

    def optimize_storage(self) -> None:
        """Reclaim space after tables were dropped (e.g. a DuckDB checkpoint)."""

    def binary_literal(self, data: bytes) -> exp.Expression:
        """A BLOB/BYTEA value as an expression built from a hex literal."""
        return exp.Unhex(this=exp.Literal.string(data.hex()))

    def key_hash(self, columns: list[str]) -> exp.Expression:
        """A deterministic non-negative integer hash of the key columns (warehouse sampling)."""
        return exp.func("hash", *(exp.column(c) for c in columns))

    def analyze(self, table: exp.Table) -> exp.Expression:
        """The statement that refreshes a table's planner statistics (a post_hook ANALYZE)."""
        return exp.Analyze(tables=[table])

    def functions(self) -> set[str] | None:
        """Function names the engine knows (lower case), to check transpiled SQL against;
        None when the engine cannot list them (then only sqlglot's own checks apply)."""
        return None

    # -- SQL generation and execution (shared) ----------------------------------------

    def generate(self, statement: exp.Expression | str, copy: bool = True) -> str:
        """SQL text for this engine; copy=False lets the generator rewrite a tree nobody reads again."""
        if isinstance(statement, str):
            return statement
        # toolkit wrote or translated the tree for this engine (a step of another dialect was
        # checked when planned: portability.check_step): it means what the engine means
        return generate(statement, self.dialect, same_meaning=True, copy=copy, identify=True)

    def execute(self, statement: exp.Expression | str) -> None:
        self._run(self.generate(statement))

    def fetch_rows(self, statement: exp.Expression | str) -> list[tuple]:
        table = self.fetch_arrow(statement)
        columns = [column.to_pylist() for column in table.columns]
        return list(zip(*columns)) if columns else []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Statements inside commit together or not at all. Without transactional DDL
        this only groups them: each statement stands on its own. One inside another (on the
        same thread) joins it: all of them commit at the outer one's end, or none does."""
        if not self.SUPPORTS_TRANSACTIONAL_DDL:
            yield
            return
        if getattr(self._local, "in_transaction", False):  # inside another: commits with it, or not
            yield
            return
        self._run("BEGIN")
        self._local.in_transaction = True
        try:
            yield
        except BaseException:
            self._local.in_transaction = False
            self._run("ROLLBACK")
            raise
        self._local.in_transaction = False
        self._run("COMMIT")

    def transaction_intact(self) -> bool:
        """Inside transaction(): whether its statements all took effect (no failed statement
        aborted it), so that committing it commits them. Engines with BATCHES_BUILDS say."""
        return True

    @contextmanager
    def serialized(self) -> Iterator[None]:
        """A transaction no other session's serialized() runs beside (allocating run
        ids while readers that hold no run lock write theirs). Base: transaction(),
        enough where every session holds the lock; engines with concurrent readers
        add a lock of their own."""
        with self.transaction():
            yield

    def publish(self, swaps: list[Swap], drops: list[exp.Table] = (), record: Callable[[], None] | None = None) -> None:
        """Drop the published views in `drops` (unpublished steps, names a step moved away
        from), point each published view at its physical relation, then `record` the state
        rows. Drops come first: a name dropped after the swaps could be one a swap just
        made (another step now published there, or the same view on an engine that
        matches names without case: features."Orders" is features.orders on DuckDB).

        The guarantee every engine gives: a reader of a published name sees a complete,
        tested physical relation, never a half-built one, and the state never names a
        relation that is not visible. With transactional DDL the batch and `record` (when
        the state lives in this engine) commit as one: readers see all of it or none.
        Without it, swaps apply in order and `record` runs after the last: the state is
        the point of truth, so a run killed in between leaves views on complete tables
        the state does not know yet, which the next run rebuilds and re-points.
        """
        with self.transaction():
            for view in drops:
                self.drop(view, "VIEW")
            for swap in swaps:
                self.replace_view(swap.relation, exp.select("*").from_(swap.physical))
                if swap.extras is not None:
                    swap.extras(self)
            if record is not None and self.SUPPORTS_TRANSACTIONAL_DDL:
                record()
        if record is not None and not self.SUPPORTS_TRANSACTIONAL_DDL:
            record()

    # -- catalog ------------------------------------------------------------------------

    def catalog(self, schema: str) -> dict[str, dict[str, str]]:
        """table or view -> {column: type} for every relation in `schema`, in one query."""
        query = (
            exp.select("table_name", "column_name", "data_type")
            .from_("information_schema.columns")
            .where(exp.column("table_schema").eq(exp.Literal.string(schema)))
            .where(exp.column("table_catalog").eq(exp.func("current_database")))
            .order_by("table_name", "ordinal_position")
        )
        tables: dict[str, dict[str, str]] = {}
        for name, column, kind in self.fetch_rows(query):
            tables.setdefault(name, {})[column] = kind
        return tables

    def create_schema(self, schema: str) -> None:
        self.execute(exp.Create(this=exp.Table(db=exp.to_identifier(schema)), kind="SCHEMA", exists=True))

    def replace_view(self, view: exp.Table, query: exp.Expression) -> None:
        """Point `view` at `query`, whatever columns it had before (call inside a transaction)."""
        self.execute(exp.Create(this=view, kind="VIEW", expression=query, replace=True))

    def drop(self, table: exp.Table, kind: str = "TABLE") -> None:
        self.execute(exp.Drop(tables=[table], kind=kind, exists=True))

    def replace_loaded(self, target: exp.Table, loaded: exp.Table) -> None:
        """`target` becomes the table `loaded` (a file source loaded aside), in one
        transaction: dropped and replaced by the renamed one (its readers find it by name)."""
        with self.transaction():
            self.drop(target)
            self.execute(exp.Alter(this=loaded, kind="TABLE", actions=[exp.AlterRename(this=exp.to_table(target.name))]))

    def relations(self, schema: str) -> dict[str, str]:
        """name -> 'table' | 'view' for every relation in `schema`."""
        query = (
            exp.select("table_name", "table_type")
            .from_("information_schema.tables")
            .where(exp.column("table_schema").eq(exp.Literal.string(schema)))
            .where(exp.column("table_catalog").eq(exp.func("current_database")))
        )
        return {name: "view" if "VIEW" in kind.upper() else "table" for name, kind in self.fetch_rows(query)}

    def definitions(self, schema: str) -> dict[str, tuple[str, str | None]]:
        """name -> ('table' | 'view', the view's SQL) for every relation in `schema`, in one
        query; the SQL is None where the engine does not tell (publishguard then goes by
        the state alone)."""
        return {name: (kind, None) for name, kind in self.relations(schema).items()}

    def view_meta(self, schema: str, name: str | None = None) -> dict[str, dict] | None:
        """view -> what post_hooks set on it (toolkit/viewmeta.py): {"comment", "columns": {column:
        comment}, "grants": [[grantee, privilege, grantable, grantor], ...]} and, where views have
        owners, "owner", of the views of `schema` (or of `name` alone); None where the engine
        cannot read them (rollback then says it could not put them back)."""
        return None

    def set_view_owner(self, view: exp.Table, owner: str) -> str | None:
        """Make `owner` (a role that exists) the view's owner; why not, as a sentence, or None.
        Only an engine whose view_meta names owners is asked (viewmeta.restore)."""
        return f"owner {owner} not given back (the {self.name} engine sets no owners)"

    def grants_restored(self, view: exp.Table) -> None:
        """viewmeta.restore is making `view`'s comments and grants a saved state's (a rollback's,
        right after the view was re-pointed): what the engine held back to say of those it
        gave back itself (PostgresEngine.replace_view) is superseded. Base: nothing held."""

    def missing_roles(self, names: list[str]) -> set[str]:
        """Of `names` (grantees view_meta recorded), the roles that no longer exist: rollback
        skips their grants (viewmeta.restore). None missing where the engine has no roles."""
        return set()

    def schema_of(self, statement: exp.Expression) -> dict:
        """The catalog's column types of the tables `statement` reads ({db: {table: columns}}),
        for typing it (meanings.cast_types); a table it creates is not read."""
        schema: dict = {}
        for table in statement.find_all(exp.Table):
            if table.db and table.name and not isinstance(table.parent, exp.Create):
                columns = self.columns(table)
                if columns:
                    schema.setdefault(table.db, {})[table.name] = columns
        return schema

    def columns(self, table: exp.Table) -> dict[str, str] | None:
        """column -> type of an existing table or view, or None when it does not exist."""
        query = (
            exp.select("column_name", "data_type")
            .from_("information_schema.columns")
            .where(exp.column("table_schema").eq(exp.Literal.string(table.db)))
            .where(exp.column("table_name").eq(exp.Literal.string(table.name)))
            .where(exp.column("table_catalog").eq(exp.func("current_database")))
            .order_by("ordinal_position")
        )
        rows = self.fetch_rows(query)
        # Names exactly as stored: callers quote them, so `Age` must stay `Age`.
        return dict(rows) if rows else None

    def shapes(self, tables: list[exp.Table]) -> dict[tuple[str, str], tuple[str, list[tuple[str, str]]]]:
        """(schema, name) -> ('table' | 'view', [(column, type), ...] in column order) of each
        of `tables` that exists: what a source's fingerprint covers besides its rows
        (sourceprints.py). Here one catalog read per table; engines with a catalog to query
        answer for all of them in one query."""
        kinds = {schema: self.relations(schema) for schema in {table.db for table in tables}}
        found = {}
        for table in tables:
            columns = self.columns(table)
            if columns is not None:
                found[(table.db, table.name)] = (kinds[table.db].get(table.name, "table"), list(columns.items()))
        return found

    def create_table_as(self, table: exp.Table, query: exp.Expression) -> int:
        """CREATE TABLE ... AS query; rows written. The query is the caller's to give away:
        engines may generate it without a copy (the generator may rewrite it)."""
        self.execute(exp.Create(this=table, kind="TABLE", expression=query))
        return self.count_rows(table)

    def insert_rows(self, table: exp.Table, rows: list[dict]) -> None:
        """INSERT a few rows given as dicts (same keys); every value a literal built by sqlglot."""
        if not rows:
            return
        columns = list(rows[0])
        values = exp.values([tuple(exp.convert(row[c]) for c in columns) for row in rows])
        self.execute(exp.insert(values, table, columns=columns))

    def insert_bound(self, table: exp.Table, columns: list[str], rows: list[tuple]) -> bool:
        """INSERT `rows` (tuples in `columns` order) as bound parameters, where the engine
        takes that faster than literal SQL; False when it does not (the caller then sends
        literals built by sqlglot)."""
        return False

    def count_rows(self, table: exp.Table) -> int:
        return int(self.fetch_rows(exp.select("count(*)").from_(table))[0][0])

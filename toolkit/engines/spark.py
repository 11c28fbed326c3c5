"""Apache Spark: a distributed warehouse without transactional DDL, through PySpark.

Target settings:
    master = "local[2]"           embedded Spark in this process (the default)
    remote = "sc://host:15002"    Spark Connect to a cluster instead of master
    conf = {...}                  passed to the session builder as they are (but
                                  spark.sql.ansi.enabled = false: refused, exit 2)
    warehouse = "warehouse/spark" tables (Parquet) and, embedded, the Hive metastore
    state = "..."                 the state store (DuckDB file or postgresql:// URL)

What lives where, and why:
- Tables and views live in Spark's catalog (Hive-compatible; embedded: a Derby
  metastore under `warehouse`, so they persist between runs).
- Run records, the registry and the run lock live in a state store of their own
  (`state`, by default `<warehouse>/state.duckdb`): Spark's tables take no UPDATE,
  DELETE or transaction, which state needs. A PostgreSQL state store lets several
  machines share one cluster: its advisory lock is the run lock (exit 3, holder named).
- Publishing (engines/base.py Engine.publish) without transactional DDL: every swap
  is one `ALTER VIEW ... AS` (a single metastore update; Spark's CREATE OR REPLACE VIEW
  is a drop and a create) or, for a new name, one CREATE VIEW, over a table
  that was complete and tested before it; the state commit that follows is the
  point of truth. A reader sees each published name on its old or its new table,
  never a half-written one; during a publish of several steps, some names may
  already show the new build while others still show the old. A kill -9 leaves
  tables the state does not know (the next run drops them) and, between a swap and
  the state commit, a view on such a table (the next run points it back first:
  materialize.realign).
- Incremental steps are copied on write (UPDATES_IN_PLACE is False): the kept rows
  and the new ones go into a new table, tested, and the view is re-pointed.
- ANSI mode, always (spark.sql.ansi.enabled, set on each session, as the time zone is):
  without it an integer overflow wraps (2147483647 + 1 is -2147483648), a sum past 2^63
  wraps and a bad cast is NULL, published with exit 0 where DuckDB fails the step.
- Arrow in and out: `DataFrame.toArrow()` and `createDataFrame(pyarrow.Table)`,
  columnar, never row by row.

One SparkSession per process, reused by every target that points at the same place
(a JVM takes seconds to start); it is stopped only when the process ends.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
import warnings
from pathlib import Path

from sqlglot import exp

from toolkit.engines.base import Engine
from toolkit.engines.viewreads import kept_by_views
from toolkit.errors import ProjectError

DEFAULT_MASTER = "local[2]"
DEFAULT_WAREHOUSE = "warehouse/spark"
_LOG_CONFIG = Path(__file__).with_name("spark_log4j2.properties")
_SESSIONS: dict[tuple, object] = {}  # (master or remote, warehouse) -> the process's SparkSession
_STARTING = threading.Lock()
_ANSI = "spark.sql.ansi.enabled"


def default_state(settings: dict) -> str:
    """The state store a Spark target uses unless it names one."""
    return f"{settings.get('warehouse', DEFAULT_WAREHOUSE).rstrip('/')}/state.duckdb"


class SparkEngine(Engine):
    name = "spark"
    dialect = "spark"
    SUPPORTS_TRANSACTIONAL_DDL = False
    # Spark takes no lock of its own: the state store's lock is the run lock.
    CONCURRENT_READERS = True
    UPDATES_IN_PLACE = False
    HOLDS_STATE = False
    MAX_IDENTIFIER_LENGTH = 128  # the Hive metastore's limit for table names
    MAX_COLUMN_LENGTH = None  # none for columns: local Spark 4 with Hive support kept a 4000-character one
    BYTE_ORDER_COLLATION = "UTF8_BINARY"
    # post_hook: ANALYZE only. Published names are views, which COMMENT ON TABLE does not
    # take, and GRANT needs a catalog with access control (Unity, Ranger).
    HOOKS = frozenset({"analyze"})
    STREAMS_STORED_ORDER = False

    def __init__(self, target, root: Path):
        super().__init__(target, root)
        settings = target.settings
        self.remote = settings.get("remote")
        self.master = settings.get("master", DEFAULT_MASTER)
        self.conf = settings.get("conf", {})
        if not isinstance(self.conf, dict):
            raise ProjectError(f"target {target.name}: conf must be a table of Spark settings, got {self.conf!r}")
        if str(self.conf.get(_ANSI, "true")).strip().lower() != "true":
            raise ProjectError(f"target {target.name}: conf {_ANSI} = {self.conf[_ANSI]!r}: toolkit runs Spark in ANSI mode "
                               "(without it an integer overflow wraps and a bad cast is NULL, published where DuckDB "
                               "fails the step); remove the setting")
        self.warehouse = (root / settings.get("warehouse", DEFAULT_WAREHOUSE)).resolve()
        self._spark = None
        self._functions: set[str] | None = None

    def describe(self) -> str:
        where = self.remote or self.master
        return f"spark {where}" + ("" if self.remote else f" (warehouse {self.warehouse})")

    # -- connection ----------------------------------------------------------------------

    def open(self, lock_timeout: float, exclusive: bool = True) -> None:
        key = (self.remote or self.master, str(self.warehouse))
        with _STARTING:
            session = _SESSIONS.get(key)
            if session is None:
                for other in list(_SESSIONS):  # one embedded JVM session per process
                    _SESSIONS.pop(other).stop()
                session = _SESSIONS[key] = self._start()
        # the session outlives its first target: each runs in its own project's zone (a
        # runtime setting), or wall-time literals and casts would read another project's
        session.conf.set("spark.sql.session.timeZone", self.target.time_zone)
        session.conf.set(_ANSI, "true")  # a cluster's default may be false (Spark 3): see the module's docstring
        self._spark = session

    def _start(self):
        try:
            with warnings.catch_warnings():  # pyspark warns that it does not support pandas 3 fully; toolkit uses Arrow
                warnings.simplefilter("ignore", FutureWarning)
                from pyspark.sql import SparkSession
        except ImportError:
            raise ProjectError(f"target {self.target.name}: engine spark needs pyspark: pip install 'toolkit[spark]'") from None
        builder = SparkSession.builder.appName("toolkit")
        if self.remote:
            builder = builder.remote(self.remote)
            if self.remote.startswith("local"):  # pyspark starts a Connect server here: keep it quiet
                builder = _quiet(builder, f"-Dlog4j2.configurationFile=file:{_LOG_CONFIG}")
        else:
            self.warehouse.mkdir(parents=True, exist_ok=True)
            metastore = self.warehouse / "metastore_db"
            java = f"-Dlog4j2.configurationFile=file:{_LOG_CONFIG} -Dderby.system.home={self.warehouse}"
            builder = (
                _quiet(builder.master(self.master), java)
                .config("spark.sql.warehouse.dir", str(self.warehouse))
                .config("spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={metastore};create=true")
                .enableHiveSupport()
            )
        # TIMESTAMP means what it means in DuckDB and PostgreSQL: without a time zone.
        builder = (builder.config("spark.sql.session.timeZone", self.target.time_zone)
                   .config("spark.sql.timestampType", "TIMESTAMP_NTZ"))
        builder = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        for key, value in self.conf.items():
            builder = builder.config(str(key), str(value))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                # a Connect client re-sends the server's launch options and is told that
                # static ones cannot change: they took effect at launch
                warnings.filterwarnings("ignore", "Failed to set spark", UserWarning)
                session = builder.getOrCreate()
        except Exception as error:
            raise ProjectError(f"target {self.target.name}: cannot start Spark ({self.describe()}): {_first_line(error)}") from None
        if not self.remote:
            session.sparkContext.setLogLevel("OFF")
        # pyspark logs each failed query's JVM stack as JSON on stderr; the error itself
        # reaches the user as the step's failure.
        logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
        logging.getLogger().addFilter(_no_interrupt_traceback)
        return session

    def interrupt(self) -> None:
        session = self._spark
        if session is None:
            return
        try:
            if self.remote:
                session.interruptAll()  # Spark Connect: the server stops this session's operations
            else:
                session.sparkContext.cancelAllJobs()
        except Exception:  # the session is stopping: nothing left to stop
            pass

    def close(self) -> None:
        self._spark = None  # the session stays up for the process: restarting a JVM costs seconds

    # -- statements and Arrow ------------------------------------------------------------

    def generate(self, statement, copy: bool = True) -> str:
        from toolkit.sql import repair_for

        if isinstance(statement, exp.Expression):
            statement = repair_for(statement, self.dialect, self.source_dialect, self._cast_operands(statement))
        return super().generate(statement, copy=copy)

    def _cast_operands(self, statement: exp.Expression):
        """meanings.repair's type lookup for the integer casts and the typed calls (AT TIME ZONE,
        epoch, date_trunc, ceil, avg: sparkmeanings.py) in `statement`, typed from the
        catalog's column types (read only when there is such a node)."""
        from toolkit import meanings

        if not any(meanings.typed(node) for node in statement.find_all(exp.Expression)):
            return None
        # text casts are typed too (a timestamptz's text has its offset), but a double written
        # as text is refused at compile, in the user's step, never in toolkit's own statements
        # (monitoring casts bins to text)
        return meanings.unrefused(meanings.cast_types(statement, self.schema_of(statement), self.dialect))

    def _run(self, sql: str):
        with _engine_errors():
            return self._spark.sql(sql)

    def fetch_arrow(self, statement):
        with _engine_errors():
            return _instants_in(self._spark.sql(self.generate(statement)).toArrow(), self.target.time_zone)

    def read_batches(self, statement, batch_rows: int = 100_000):
        import pyarrow as pa

        table = self.fetch_arrow(statement)
        return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=batch_rows))

    def create_table_from_arrow(self, table: exp.Table, data) -> None:
        self._frame(data).write.saveAsTable(self._name(table))

    def insert_arrow(self, table: exp.Table, data) -> None:
        self._frame(data).write.insertInto(self._name(table))

    def _frame(self, data):
        import pyarrow as pa

        if isinstance(data, pa.RecordBatchReader):
            data = data.read_all()
        return self._spark.createDataFrame(data)

    def _name(self, table: exp.Table) -> str:
        return exp.table_(table.name, db=table.db or None, quoted=True).sql(dialect="spark")

    def table_fingerprint(self, table: exp.Table) -> str:
        """count and the sum of each row's xxhash64 (as a decimal: no overflow), order-independent."""
        digest = exp.cast(
            exp.Sum(this=exp.cast(exp.func("xxhash64", exp.Star()), exp.DataType.build("DECIMAL(38, 0)"))), "string"
        )
        count, total = self.fetch_rows(exp.select("count(*)", digest).from_(table))[0]
        return f"{count}:{total or 0}"

    def key_hash(self, columns: list[str]) -> exp.Expression:
        hashed = exp.func("xxhash64", *(exp.column(c) for c in columns))
        return exp.func("pmod", hashed, exp.Literal.number(2**62))

    def analyze(self, table: exp.Table) -> exp.Expression:
        return exp.Analyze(kind="TABLE", tables=[table], expression=exp.AnalyzeStatistics(kind="COMPUTE"))

    def quantiles(self, x: exp.Expression, fractions: exp.Array) -> exp.Expression:
        """Spark's percentile(x, array(...)): exact, linear interpolation (percentile_cont
        takes one fraction there)."""
        return exp.Anonymous(this="percentile", expressions=[x, fractions])

    def functions(self) -> set[str]:
        if self._functions is None:
            self._functions = {row[0].rsplit(".", 1)[-1].lower() for row in self.fetch_rows("SHOW FUNCTIONS")}
        return self._functions

    # -- catalog (Spark has no information_schema) ---------------------------------------

    # SHOW and DESCRIBE, not spark.catalog.listTables/listColumns: those load every
    # table's metadata one by one (0.33 s against 0.08 s for 9 relations, measured).

    def _show(self, what: str, schema: str) -> list:
        with _engine_errors():
            return self._spark.sql(f"SHOW {what} IN {_identifier(schema)}").collect()

    def relations(self, schema: str) -> dict[str, str]:
        if not self._spark.catalog.databaseExists(schema):
            return {}
        found = {row.tableName: "table" for row in self._show("TABLES", schema) if not row.isTemporary}
        for row in self._show("VIEWS", schema):
            if row.viewName in found:
                found[row.viewName] = "view"
        return found

    def views_reading(self, schema: str, names: list[str]) -> dict[str, str]:
        """{name: why} of the relations of `schema` about to be dropped (`names`) that a view
        staying behind reads, directly or through another of them. Spark's catalog tracks no
        dependencies: DROP TABLE under a view succeeds, and the view then fails when read
        (a user's view over a table toolkit no longer needs lost it at the run's drop).
        Every database's views, each one's text from DESCRIBE TABLE EXTENDED (its
        `View Text`), parsed as Spark SQL (viewreads); asked only when something is to be dropped."""
        texts = {}
        with _engine_errors():
            databases = [row[0] for row in self._spark.sql("SHOW DATABASES").collect()]
        for database in databases:
            for row in self._show("VIEWS", database):
                if not row.isTemporary:
                    texts[(database.casefold(), row.viewName.casefold())] = (f"{database}.{row.viewName}", self._view_text(database, row.viewName))
        return kept_by_views(texts, schema, names, "spark")

    def _view_text(self, schema: str, name: str) -> str:
        """A view's SQL as the catalog keeps it ('' when it says none)."""
        try:
            rows = self._spark.sql(f"DESCRIBE TABLE EXTENDED {self._name(exp.table_(name, db=schema))}").collect()
        except Exception:  # noqa: BLE001 - dropped meanwhile, or unreadable: it tells of nothing it reads
            return ""
        return next((row.data_type or "" for row in rows if row.col_name == "View Text"), "")

    def catalog(self, schema: str) -> dict[str, dict[str, str]]:
        return {name: self._columns(schema, name) for name in self.relations(schema)}

    def columns(self, table: exp.Table) -> dict[str, str] | None:
        if not self._spark.catalog.tableExists(f"{table.db}.{table.name}"):
            return None
        return self._columns(table.db, table.name)

    def _columns(self, schema: str, name: str) -> dict[str, str]:
        with _engine_errors():
            rows = self._spark.sql(f"DESCRIBE TABLE {self._name(exp.table_(name, db=schema))}").collect()
        columns = {}
        for row in rows:  # the columns, then partition and detail sections after a blank or '#' row
            if not row.col_name or row.col_name.startswith("#"):
                break
            columns[row.col_name] = row.data_type
        return columns

    def create_table_as(self, table: exp.Table, query: exp.Expression) -> int:
        try:
            self.execute(exp.Create(this=table, kind="TABLE", expression=query))
        except BaseException:
            self._remove_unregistered_folder(table)
            raise
        return self.count_rows(table)

    def _remove_unregistered_folder(self, table: exp.Table) -> None:
        """A CREATE TABLE AS that failed (or was interrupted) leaves its folder under the
        schema's location, with whatever files it wrote, but no table: nothing dropped it
        until the next run's or gc's sweep, and a retry under the same name found the
        location taken. Embedded Spark only (a cluster's files are not this machine's)."""
        import shutil
        from urllib.parse import unquote, urlparse

        if self.remote or not table.db or not table.name:
            return
        try:
            if self._spark.catalog.tableExists(f"{table.db}.{table.name}"):
                return
            rows = self._spark.sql(f"DESCRIBE DATABASE {_identifier(table.db)}").collect()
        except Exception:  # noqa: BLE001 (the session is stopping: the next run's sweep drops it)
            return
        location = next((row.info_value for row in rows if row.info_name == "Location"), "")
        if not location.startswith("file:"):
            return
        folder = Path(unquote(urlparse(location).path)) / table.name.lower()
        if folder.parent.is_dir() and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)

    def replace_view(self, view: exp.Table, query: exp.Expression) -> None:
        # Spark runs CREATE OR REPLACE VIEW on an existing view as a drop, then a create:
        # two metastore calls, and a kill -9 between them lost the published name
        # (tests/test_spark_kill.py). ALTER VIEW ... AS is one alterTable call.
        if self._spark.catalog.tableExists(f"{view.db}.{view.name}"):
            self.execute(exp.Alter(this=view.copy(), kind="VIEW", actions=[query]))
        else:
            self.execute(exp.Create(this=view, kind="VIEW", expression=query))


def _identifier(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="spark")


def _quiet(builder, java_options: str):
    """No web UI, no progress bars, and logs through toolkit's log4j2 file (errors reach
    the user as the step's failure)."""
    return (
        builder.config("spark.driver.extraJavaOptions", java_options)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.log.structuredLogging.enabled", "false")
    )


def _instants_in(table, zone: str):
    """TIMESTAMP (TIMESTAMP_LTZ) columns as instants shown in the session's zone, as DuckDB's
    and PostgreSQL's timestamptz arrive. They were made naive, keeping their UTC clock values
    (Arrow carries instants in UTC): once the session ran in the project's zone rather than
    UTC, an incremental step's span was recorded hours off its wall times and a backfill
    skipped late rows as held. TIMESTAMP_NTZ columns are wall times and stay naive."""
    import pyarrow as pa

    fields = [f.with_type(pa.timestamp(f.type.unit, tz=zone)) if pa.types.is_timestamp(f.type) and f.type.tz else f
              for f in table.schema]
    schema = pa.schema(fields, metadata=table.schema.metadata)
    return table if schema == table.schema else table.cast(schema)


def _no_interrupt_traceback(record: logging.LogRecord) -> bool:
    """Ctrl-C landing in a py4j call makes py4j log its traceback on the root logger; the
    command says `aborted` and exits 130 like any other interrupted one."""
    return not (record.exc_info and record.exc_info[0] is KeyboardInterrupt and "py4j" in record.pathname)


class SparkError(RuntimeError):
    """A statement Spark refused, with the JVM's message rather than py4j's wrapper."""


@contextmanager
def _engine_errors():
    try:
        yield
    except Exception as error:
        java = getattr(error, "java_exception", None)
        if java is None or type(error).__name__ != "Py4JJavaError":
            raise  # pyspark's own exceptions already carry Spark's message
        message = str(java.getMessage() or java.toString())
        raise SparkError(_first_line(message)) from None


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__

"""The state schema: every table toolkit keeps in schema `toolkit`, its version and its
migrations.

    toolkit.schema_version   one row per migration applied: version, description,
                             toolkit version, when. The state's version is the highest.

A state store is brought to CURRENT_VERSION on first use (`ensure`, called by every
command that writes state):

    no toolkit tables        create the current layout, stamp CURRENT_VERSION
    tables, no version       written by a toolkit from before versioning (version 0):
                             migration 1 adds what that toolkit lacked
    version < current        the numbered migrations above it, in order, each with its
                             stamp in one transaction where DDL is transactional
    version > current        refused (StateTooNew, exit 2): a newer toolkit wrote it

and then reconciled with the current layout (a table or column that is missing, say
dropped by hand, is added back). Tables are declared once, in DuckDB's dialect, with
the version that introduced them; sqlglot writes the DDL for every engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import sqlglot
from sqlglot import exp

from toolkit import __version__
from toolkit.clock import now
from toolkit.errors import ProjectError

SCHEMA = "toolkit"
VERSION_TABLE = "schema_version"


@dataclass(frozen=True)
class Table:
    name: str
    columns: str  # DuckDB column definitions
    since: int  # the schema version that introduced it

    def create(self) -> exp.Create:
        return self._create.copy()

    def column_definitions(self) -> list[exp.ColumnDef]:
        return [column.copy() for column in self._create.this.expressions]

    @cached_property
    def column_count(self) -> int:
        """Top-level commas of the definitions, plus one: every run checks the layout, and
        tokenizing is a hundredth of parsing (the no-op run parses no other SQL)."""
        from sqlglot.tokens import TokenType

        depth, commas = 0, 0
        for token in sqlglot.Dialect.get_or_raise("duckdb").tokenize(self.columns):
            depth += (token.token_type == TokenType.L_PAREN) - (token.token_type == TokenType.R_PAREN)
            commas += depth == 0 and token.token_type == TokenType.COMMA
        return commas + 1

    @cached_property
    def _create(self) -> exp.Create:  # parsed once per process: every run checks the layout
        return sqlglot.parse_one(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{self.name} ({self.columns})", read="duckdb")


TABLES = [
    # env: the environment a run built (version 7; NULL before, and for commands that build none).
    Table("runs", "run_id BIGINT, project VARCHAR, target VARCHAR, command VARCHAR, status VARCHAR, "
          "started_at TIMESTAMP, finished_at TIMESTAMP, host VARCHAR, pid BIGINT, toolkit_version VARCHAR, env VARCHAR", 1),
    Table("step_runs", "run_id BIGINT, step VARCHAR, kind VARCHAR, materialized VARCHAR, action VARCHAR, "
          "reason VARCHAR, status VARCHAR, fingerprint VARCHAR, physical_name VARCHAR, started_at TIMESTAMP, "
          "finished_at TIMESTAMP, rows_written BIGINT, error VARCHAR, details VARCHAR", 1),
    # One row per (env, step). `env` was added later: rows of an older toolkit are prod's.
    # content/sql/inputs/columns say what the table was built from, so a plan can say why
    # it changes (SQL diff, config, which input) and which columns downstream steps read.
    # read_columns (version 9; NULL before): upstream step -> the columns of it the step read
    # (null: all), what its `inputs` print of that upstream was made of (promote compares).
    Table("published", "step VARCHAR, relation VARCHAR, physical_name VARCHAR, fingerprint VARCHAR, definition VARCHAR, "
          "materialized VARCHAR, run_id BIGINT, published_at TIMESTAMP, reads VARCHAR, env VARCHAR DEFAULT 'prod', "
          "content VARCHAR, sql VARCHAR, inputs VARCHAR, columns VARCHAR, built_at TIMESTAMP, tests VARCHAR, read_columns VARCHAR", 1),
    # Earlier states of an environment (saved by promote), newest version first: rollback's material.
    Table("published_history", "env VARCHAR, version BIGINT, saved_at TIMESTAMP, reason VARCHAR, step VARCHAR, relation VARCHAR, "
          "physical_name VARCHAR, fingerprint VARCHAR, definition VARCHAR, materialized VARCHAR, run_id BIGINT, "
          "published_at TIMESTAMP, reads VARCHAR, content VARCHAR, sql VARCHAR, inputs VARCHAR, columns VARCHAR, "
          "built_at TIMESTAMP, tests VARCHAR, read_columns VARCHAR, view_meta VARCHAR", 1),
    # Time intervals [start, end) an incremental step with a time_column holds, per environment.
    Table("intervals", "env VARCHAR, step VARCHAR, physical_name VARCHAR, start_at TIMESTAMP, end_at TIMESTAMP, run_id BIGINT", 1),
    Table("test_results", "run_id BIGINT, step VARCHAR, kind VARCHAR, test VARCHAR, severity VARCHAR, status VARCHAR, "
          "failing_rows BIGINT, sample VARCHAR, checked_at TIMESTAMP", 1),
    # Every physical relation a run published, and the physical relations it reads
    # (views keep reading theirs): what decides which relations are still in use.
    Table("relations", "physical_name VARCHAR, step VARCHAR, materialized VARCHAR, reads VARCHAR, run_id BIGINT, "
          "created_at TIMESTAMP", 1),
    # The model registry (registry.py). status: candidate | production | archived.
    Table("model_versions", "model VARCHAR, version INTEGER, status VARCHAR, fingerprint VARCHAR, candidate VARCHAR, "
          "metrics JSON, params JSON, features JSON, training_table VARCHAR, run_id BIGINT, created_at TIMESTAMP, "
          "python_version VARCHAR, sklearn_version VARCHAR, numpy_version VARCHAR, skops_version VARCHAR, "
          "artifact BLOB, artifact_sha256 VARCHAR, artifact_size BIGINT, scoring_sql VARCHAR, segments JSON, evaluation JSON", 1),
    # action: register | promote | approve | rollback; seq orders the changes of one model;
    # actor is who (TOOLKIT_ACTOR, else the OS user), added in version 3; env is the
    # environment whose run or command made the change (version 7; NULL before: prod).
    Table("model_status_history", "model VARCHAR, version INTEGER, status VARCHAR, action VARCHAR, changed_at TIMESTAMP, "
          "run_id BIGINT, reason VARCHAR, seq BIGINT, actor VARCHAR, env VARCHAR", 1),
    # Monitoring (monitoring/watch.py): baselines per version and kind, a row per metric and run.
    Table("model_baselines", "model VARCHAR, version BIGINT, kind VARCHAR, profile VARCHAR, source VARCHAR, run_id BIGINT, "
          "created_at TIMESTAMP", 2),
    # env (version 7; NULL before: prod) is the environment whose run scored.
    Table("monitoring", "model VARCHAR, version BIGINT, run_id BIGINT, scored_at TIMESTAMP, feature VARCHAR, metric VARCHAR, "
          "value DOUBLE, threshold DOUBLE, status VARCHAR, env VARCHAR", 2),
    # Governance (version 3): every decision a person or a policy takes about what is
    # live - model promote/approve/rollback, environment promote/rollback, gc - who and when.
    Table("audit_log", "logged_at TIMESTAMP, actor VARCHAR, action VARCHAR, subject VARCHAR, detail VARCHAR, run_id BIGINT", 3),
    # File sources loaded into an engine that cannot read them in place (filesources.py):
    # what was loaded, so that unchanged files are not loaded again (version 4).
    Table("loaded_sources", "source VARCHAR, fingerprint VARCHAR, rows_loaded BIGINT, run_id BIGINT, loaded_at TIMESTAMP", 4),
    # Steps an environment's project no longer has while some environment still publishes
    # them (version 6): `promote` removes them from the destination (rollback restores them).
    Table("deleted_steps", "env VARCHAR, step VARCHAR, run_id BIGINT, deleted_at TIMESTAMP", 6),
    Table(VERSION_TABLE, "version INTEGER, description VARCHAR, toolkit_version VARCHAR, migrated_at TIMESTAMP", 1),
]
BY_NAME = {t.name: t for t in TABLES}


def columns(name: str) -> str:
    """The DuckDB column definitions of one table (older code and tests read them)."""
    return BY_NAME[name].columns


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[object, dict], None]  # (engine, catalog: table -> {column: type})


def _add_missing(engine, catalog: dict, tables: list[Table]) -> None:
    """Create the tables that do not exist and add the columns a table lacks (a DEFAULT,
    such as published.env = 'prod', fills the rows it already has)."""
    for table in tables:
        present = {c.lower() for c in catalog.get(table.name, {})}
        if table.name not in catalog:
            engine.execute(table.create())
            continue
        for column in table.column_definitions():
            if column.name.lower() not in present:
                engine.execute(exp.Alter(this=exp.table_(table.name, db=SCHEMA), kind="TABLE", actions=[column.copy()]))


MIGRATIONS = [
    # Version 0 is any layout written before versioning (toolkit 0.1 up to this change):
    # its tables are a subset of version 1's, each column added at some point since.
    Migration(1, "versioned state: the run, publish and registry tables of toolkit 0.1, completed",
              lambda engine, catalog: _add_missing(engine, catalog, [t for t in TABLES if t.since <= 1])),
    Migration(2, "monitoring: toolkit.model_baselines and toolkit.monitoring",
              lambda engine, catalog: _add_missing(engine, catalog, [t for t in TABLES if t.since == 2])),
    Migration(3, "governance: toolkit.audit_log, who changed a model's status (model_status_history.actor), "
                 "metrics per segment (model_versions.segments)",
              lambda engine, catalog: _add_missing(engine, catalog, [BY_NAME[name] for name in ("model_versions", "model_status_history", "audit_log")])),
    Migration(4, "file sources: toolkit.loaded_sources",
              lambda engine, catalog: _add_missing(engine, catalog, [BY_NAME["loaded_sources"]])),
    # evaluation: the held-out split, curves and confusion matrix of each version (evaluation.py)
    Migration(5, "model evaluation kept with each version: model_versions.evaluation",
              lambda engine, catalog: _add_missing(engine, catalog, [BY_NAME["model_versions"]])),
    Migration(6, "steps deleted in an environment, for promote: toolkit.deleted_steps",
              lambda engine, catalog: _add_missing(engine, catalog, [BY_NAME["deleted_steps"]])),
    Migration(7, "environments in runs, the registry and monitoring: runs.env, model_status_history.env, monitoring.env",
              lambda engine, catalog: _add_missing(engine, catalog, [BY_NAME[name] for name in ("runs", "model_status_history", "monitoring")])),
    Migration(8, "intervals recorded on PostgreSQL or Spark as UTC clock values narrowed to the wall times both readings hold",
              lambda engine, catalog: _intervals_as_wall_times(engine, catalog)),
    Migration(9, "the upstream columns each published step read: published.read_columns, published_history.read_columns",
              lambda engine, catalog: _add_missing(engine, catalog, [BY_NAME[name] for name in ("published", "published_history")])),
    # view_meta: the view's comments and grants when the state was saved (viewmeta.py): rollback puts them back
    Migration(10, "comments and grants of the saved views, for rollback: published_history.view_meta",
              lambda engine, catalog: _add_missing(engine, catalog, [BY_NAME["published_history"]])),
]
CURRENT_VERSION = MIGRATIONS[-1].version


def _intervals_as_wall_times(engine, catalog: dict) -> None:
    """Before version 8, an incremental step with a timestamptz time_column on PostgreSQL
    (a TIMESTAMP_LTZ one on Spark: engines/spark.py made it naive in UTC) recorded its built
    spans as UTC clock values, its backfills as wall times of the project's time zone (the
    convention). Which row is which is not recorded: each interval keeps only what it holds
    read either way, so a backfill reads the rest again (at most the zone's offset at each
    edge) and loses no row. Spark's state is a store of its own (session.state_target), in
    the project's zone and naming the warehouse's engine as `serves`."""
    from toolkit.clock import wall_time

    target = getattr(engine, "target", None)
    zone = getattr(target, "time_zone", "UTC")
    warehouse = (getattr(target, "settings", None) or {}).get("serves", engine.name)
    if warehouse not in ("postgres", "spark") or zone == "UTC" or "intervals" not in catalog:
        return
    intervals = exp.table_("intervals", db=SCHEMA)
    names = ["env", "step", "physical_name", "start_at", "end_at", "run_id"]
    narrowed = []
    for env, step, physical, start, end, run_id in engine.fetch_rows(exp.select(*names).from_(intervals)):
        start, end = max(start, wall_time(start, zone, "up")), min(end, wall_time(end, zone, "down"))
        if start < end:
            narrowed.append(dict(zip(names, (env, step, physical, start, end, run_id))))
    engine.execute(exp.delete(intervals))
    engine.insert_rows(intervals, narrowed)


class StateTooNew(ProjectError):
    """The state was written by a newer toolkit: refuse rather than misread it."""


def version(engine, catalog: dict | None = None) -> int | None:
    """The state's schema version; 0 for tables from before versioning; None: no state."""
    catalog = engine.catalog(SCHEMA) if catalog is None else catalog
    if VERSION_TABLE in catalog:
        found = engine.fetch_rows(exp.select(exp.func("max", exp.column("version"))).from_(exp.table_(VERSION_TABLE, db=SCHEMA)))
        if found and found[0][0] is not None:
            return int(found[0][0])
    return 0 if catalog else None


def refuse_newer(engine, where: str, catalog: dict | None = None) -> int | None:
    found = version(engine, catalog)
    if found is not None and found > CURRENT_VERSION:
        raise StateTooNew(
            f"the toolkit state in {where} is schema version {found}, newer than this toolkit "
            f"({__version__}) understands (version {CURRENT_VERSION}); nothing was changed",
            hint="upgrade toolkit (pip install -U toolkit), or point this target at another state store",
        )
    return found


def ensure(engine, migrations: list[Migration] = MIGRATIONS) -> dict[str, dict[str, str]]:
    """Bring the state in `engine` to the newest version of `migrations` (see the module
    docstring); the catalog of schema `toolkit` afterwards (one catalog query when
    nothing needs doing)."""
    latest = migrations[-1].version
    catalog = engine.catalog(SCHEMA)
    found = refuse_newer(engine, engine.describe(), catalog) if latest == CURRENT_VERSION else version(engine, catalog)
    engine.create_schema(SCHEMA)
    if found is None:  # a new state store: the current layout at once
        with engine.transaction():
            _add_missing(engine, {}, [t for t in TABLES if t.since <= latest])
            _stamp(engine, latest, "created")
    else:
        for migration in [m for m in migrations if m.version > found]:
            with engine.transaction():
                if VERSION_TABLE not in catalog:
                    engine.execute(BY_NAME[VERSION_TABLE].create())
                migration.apply(engine, catalog)
                _stamp(engine, migration.version, migration.description)
            catalog = engine.catalog(SCHEMA)
    if found is None:
        catalog = engine.catalog(SCHEMA)
    expected = [t for t in TABLES if t.since <= latest]
    if any(t.name not in catalog or len(catalog[t.name]) < t.column_count for t in expected):
        _add_missing(engine, catalog, expected)  # repaired: something was dropped by hand
        catalog = engine.catalog(SCHEMA)
    return catalog


def _stamp(engine, number: int, description: str) -> None:
    engine.insert_rows(exp.table_(VERSION_TABLE, db=SCHEMA), [
        {"version": number, "description": description, "toolkit_version": __version__, "migrated_at": now()},
    ])

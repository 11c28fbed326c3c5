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
from dataclasses import dataclass
from datetime import datetime, timezone

import sqlglot
from sqlglot import exp

from toolkit import __version__

SCHEMA = "toolkit"
PHYSICAL_SCHEMA = "toolkit_physical"

# Written once in DuckDB's dialect; sqlglot transpiles the DDL for other engines.
TABLES = {
    "runs": "run_id BIGINT, project VARCHAR, target VARCHAR, command VARCHAR, status VARCHAR, "
    "started_at TIMESTAMP, finished_at TIMESTAMP, host VARCHAR, pid BIGINT, toolkit_version VARCHAR",
    "step_runs": "run_id BIGINT, step VARCHAR, kind VARCHAR, materialized VARCHAR, action VARCHAR, "
    "reason VARCHAR, status VARCHAR, fingerprint VARCHAR, physical_name VARCHAR, started_at TIMESTAMP, "
    "finished_at TIMESTAMP, rows_written BIGINT, error VARCHAR, details VARCHAR",
    "published": "step VARCHAR, relation VARCHAR, physical_name VARCHAR, fingerprint VARCHAR, definition VARCHAR, "
    "materialized VARCHAR, run_id BIGINT, published_at TIMESTAMP, reads VARCHAR",
    # Every physical relation a run published, and the physical relations it reads
    # (views keep reading theirs): what decides which relations are still in use.
    "test_results": "run_id BIGINT, step VARCHAR, kind VARCHAR, test VARCHAR, severity VARCHAR, status VARCHAR, "
    "failing_rows BIGINT, sample VARCHAR, checked_at TIMESTAMP",
    "relations": "physical_name VARCHAR, step VARCHAR, materialized VARCHAR, reads VARCHAR, run_id BIGINT, "
    "created_at TIMESTAMP",
}


def table(name: str, schema: str = SCHEMA) -> exp.Table:
    return exp.table_(name, db=schema)


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class Published:
    step: str
    physical_name: str
    fingerprint: str  # data fingerprint
    definition: str
    materialized: str
    run_id: int
    reads: tuple[str, ...]


class State:
    def __init__(self, engine):
        self.engine = engine

    def exists(self) -> bool:
        return "runs" in self.engine.relations(SCHEMA)

    def ensure(self) -> None:
        present = self.engine.relations(SCHEMA)
        for schema in (SCHEMA, PHYSICAL_SCHEMA):
            self.engine.create_schema(schema)
        for name, columns in TABLES.items():
            ddl = sqlglot.parse_one(f"CREATE TABLE {SCHEMA}.{name} ({columns})", read="duckdb")
            if name not in present:
                self.engine.execute(ddl)
                continue
            # An older toolkit made this table: add the columns it lacks.
            existing = self.engine.columns(table(name)) or {}
            for column in ddl.this.expressions:
                if column.name.lower() not in existing:
                    self.engine.execute(exp.Alter(this=table(name), kind="TABLE", actions=[column.copy()]))

    def start_run(self, project: str, target: str, command: str) -> int:
        """A new run id, strictly above every earlier one; earlier unfinished runs are marked abandoned."""
        runs = table("runs")
        self.engine.execute(
            exp.update(runs, {"status": exp.Literal.string("abandoned")}, where=exp.column("status").eq(exp.Literal.string("running")))
        )
        last = self.engine.fetch_rows(exp.select("max(run_id)").from_(runs))[0][0]
        run_id = int(last or 0) + 1
        row = {
            "run_id": run_id, "project": project, "target": target, "command": command, "status": "running",
            "started_at": now(), "host": socket.gethostname(), "pid": os.getpid(), "toolkit_version": __version__,
        }
        self.engine.insert_rows(runs, [row])
        return run_id

    def finish_run(self, run_id: int, status: str) -> None:
        self.engine.execute(
            exp.update(
                table("runs"),
                {"status": exp.Literal.string(status), "finished_at": exp.cast(exp.Literal.string(now().isoformat(sep=" ")), "timestamp")},
                where=exp.column("run_id").eq(exp.Literal.number(run_id)),
            )
        )

    def published(self) -> dict[str, Published]:
        if not self.exists():
            return {}
        rows = self.engine.fetch_rows(
            exp.select("step", "physical_name", "fingerprint", "definition", "materialized", "run_id", "reads").from_(table("published"))
        )
        return {
            step: Published(step, physical, fingerprint, definition, materialized, run_id, tuple(json.loads(reads or "[]")))
            for step, physical, fingerprint, definition, materialized, run_id, reads in rows
        }

    def record_published(self, rows: list[tuple], run_id: int) -> None:
        """Replace the published rows of these steps; call inside the publishing transaction.

        rows: (step, relation, physical_name, fingerprint, definition, materialized, reads)
        """
        steps = [exp.Literal.string(row[0]) for row in rows]
        self.engine.execute(exp.delete(table("published"), where=exp.column("step").isin(*steps)))
        published_at = now()
        values = [
            {
                "step": step, "relation": relation, "physical_name": physical, "fingerprint": fingerprint,
                "definition": definition, "materialized": materialized, "run_id": run_id, "published_at": published_at, "reads": json.dumps(reads),
            }
            for step, relation, physical, fingerprint, definition, materialized, reads in rows
        ]
        self.engine.insert_rows(table("published"), values)
        physical_names = [exp.Literal.string(row[2]) for row in rows]
        self.engine.execute(exp.delete(table("relations"), where=exp.column("physical_name").isin(*physical_names)))
        self.engine.insert_rows(
            table("relations"),
            [
                {"physical_name": physical, "step": step, "materialized": materialized, "reads": json.dumps(reads), "run_id": run_id, "created_at": published_at}
                for step, _, physical, _, _, materialized, reads in rows
            ],
        )

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
            self.engine.insert_rows(table("step_runs"), rows)

    def record_tests(self, run_id: int, rows: list[dict]) -> None:
        """One row per data test run: status pass | warn | fail, failing count, a JSON sample."""
        checked_at = now()
        self.engine.insert_rows(table("test_results"), [{"run_id": run_id, **row, "checked_at": checked_at} for row in rows])

"""A DuckDB table source is hashed only when something may have written the warehouse
since the last run (sourceprints.py): nothing did -> the remembered fingerprint; any
commit by another process, even one killed before its checkpoint, a damaged record,
or a source in a schema toolkit writes -> a full scan, and a change is rebuilt."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _projects import db_path, execute, make_project, run_in_process, scalar, statuses
from toolkit.engines.duckdb import DuckDBEngine

SOURCES = """
[app]
schema = "app"

[app.tables.events]
columns = { id = "bigint", amount = "bigint" }
"""

FILES = {
    "warehouse/sources.toml": SOURCES,
    "features/totals.sql": 'select count(*) as n, sum(amount) as total from {{ source("app", "events") }}',
}

SETUP = "create schema app; create table app.events as select range as id, range * 2 as amount from range(1000)"


@pytest.fixture
def scans(monkeypatch):
    """The tables whose full-table fingerprint was computed, in order (the real one)."""
    seen = []
    original = DuckDBEngine.table_fingerprint

    def recording(self, table):
        seen.append(f"{table.db}.{table.name}")
        return original(self, table)

    monkeypatch.setattr(DuckDBEngine, "table_fingerprint", recording)
    return seen


def total(root):
    return scalar(root, "select total from features.totals")


def test_an_untouched_warehouse_is_not_scanned_again(tmp_path, scans):
    root = make_project(tmp_path / "p", FILES, SETUP)
    assert run_in_process(root).ok
    assert scans == ["app.events"]
    assert run_in_process(root).ok
    assert run_in_process(root).ok
    assert scans == ["app.events"]  # the second and third run took the remembered print
    assert statuses(root) == {"totals": "reused"}


@pytest.mark.parametrize(
    "change",
    [
        "insert into app.events values (5000, 7)",
        "update app.events set amount = amount + 1 where id = 3",  # same row count
        "delete from app.events where id = 3; insert into app.events values (3, 99)",
        "create or replace table app.events as select range as id, range * 3 as amount from range(1000)",
    ],
)
def test_a_write_by_anyone_else_is_seen(tmp_path, scans, change):
    root = make_project(tmp_path / "p", FILES, SETUP)
    assert run_in_process(root).ok
    before = total(root)
    execute(root, change)
    assert run_in_process(root).ok
    assert scans == ["app.events", "app.events"]
    assert statuses(root) == {"totals": "success"}
    assert total(root) != before


def test_a_writer_killed_before_its_checkpoint_is_seen(tmp_path, scans):
    # the commit is only in the write-ahead log: the database file itself is untouched
    root = make_project(tmp_path / "p", FILES, SETUP)
    assert run_in_process(root).ok
    writer = (
        "import duckdb, os, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('insert into app.events values (7000, 5)')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", writer, db_path(root)], check=True)
    assert run_in_process(root).ok
    assert scans == ["app.events", "app.events"]
    assert statuses(root) == {"totals": "success"}
    assert scalar(root, "select n from features.totals") == 1001


def test_reading_the_warehouse_alone_changes_nothing(tmp_path, scans):
    root = make_project(tmp_path / "p", FILES, SETUP)
    assert run_in_process(root).ok
    with __import__("duckdb").connect(db_path(root), read_only=True) as con:
        con.execute("select count(*) from app.events").fetchall()
    assert run_in_process(root).ok
    assert scans == ["app.events"]


def test_a_damaged_or_foreign_record_means_a_scan(tmp_path, scans):
    root = make_project(tmp_path / "p", FILES, SETUP)
    assert run_in_process(root).ok
    record = root / ".toolkit" / "cache" / "source_prints.json"
    saved = json.loads(record.read_text())
    record.write_text("{not json")
    assert run_in_process(root).ok
    assert len(scans) == 2
    record.write_text(json.dumps({**saved, "toolkit": "0.0.0"}))
    assert run_in_process(root).ok
    assert len(scans) == 3
    saved = json.loads(record.read_text())
    record.write_text(json.dumps({**saved, "prints": {"app.events": 5}}))  # our token, a malformed entry
    assert run_in_process(root).ok
    assert len(scans) == 4
    assert statuses(root) == {"totals": "reused"}


def test_a_source_in_a_schema_toolkit_writes_is_always_scanned(tmp_path, scans):
    # the run that remembered it may have written that schema after planning
    files = {
        "warehouse/sources.toml": SOURCES + '\n[kept]\nschema = "features"\n\n[kept.tables.manual]\ncolumns = { n = "bigint" }\n',
        "features/totals.sql": FILES["features/totals.sql"],
        "features/again.sql": 'select n from {{ source("kept", "manual") }}',
    }
    root = make_project(tmp_path / "p", files, SETUP + "; create schema features; create table features.manual as select 1 as n")
    assert run_in_process(root).ok
    assert run_in_process(root).ok
    assert sorted(scans) == ["app.events", "features.manual", "features.manual"]


def test_a_source_moved_to_another_table_is_scanned(tmp_path, scans):
    setup = SETUP + "; create schema app2; create table app2.events as select range as id, range as amount from range(1000)"
    root = make_project(tmp_path / "p", FILES, setup)
    assert run_in_process(root).ok
    (root / "warehouse" / "sources.toml").write_text(SOURCES.replace('schema = "app"', 'schema = "app2"'))
    assert run_in_process(root).ok  # nothing wrote the file, but app.events is now app2.events
    assert scans == ["app.events", "app2.events"]
    assert total(root) == sum(range(1000))


def test_a_writer_between_our_close_and_the_record_is_not_taken_for_us(tmp_path, scans, monkeypatch):
    """A loader waiting for the file gets it the moment the run closes it; what it writes
    before the run records its token must not look like the run's own state."""
    root = make_project(tmp_path / "p", FILES, SETUP)
    assert run_in_process(root).ok
    original = DuckDBEngine.close

    def close_then_someone_writes(self):
        original(self)
        execute(root, "insert into app.events values (9000, 1)")

    monkeypatch.setattr(DuckDBEngine, "close", close_then_someone_writes)
    assert run_in_process(root).ok  # remembered nothing: the token moved after our close
    monkeypatch.setattr(DuckDBEngine, "close", original)
    assert run_in_process(root).ok
    assert scans == ["app.events", "app.events"]  # the first run, and the third: the second reused, then was written after
    assert statuses(root) == {"totals": "success"}
    assert scalar(root, "select n from features.totals") == 1001


def test_a_cache_folder_that_cannot_be_written_means_a_scan_and_a_clean_run(tmp_path, scans, capfd):
    """A read-only project or a full disk: the record cannot be kept, the runs still
    succeed and say nothing about it, and each one scans the source."""
    root = make_project(tmp_path / "p", FILES, SETUP)
    (root / ".toolkit").mkdir(exist_ok=True)
    (root / ".toolkit" / "cache").write_text("a file where the cache folder goes")  # mkdir fails, whoever runs
    first = run_in_process(root)
    assert first.ok
    assert run_in_process(root).ok
    assert scans == ["app.events", "app.events"]
    assert "cache" not in capfd.readouterr().err
    assert (root / ".toolkit" / "cache").is_file()
    assert statuses(root) == {"totals": "reused"}
    assert total(root) == sum(2 * i for i in range(1000))

"""What toolkit remembers of its table sources between runs stays true (sourceprints.py,
sourcecolumns.py):

- a DuckDB view source reading a table toolkit publishes (directly or through another
  view) is hashed on every run, never remembered from the run that rebuilt that table
  after hashing it: its readers rebuild, not stay stale for good (and in the same run,
  viewsources.py: tests/test_view_source_deps.py);
- a column the source gained since its columns were remembered is read, not refused
  as unknown on every run (SQL and Python steps); a column it lacks is still exit 2;
- the remembered columns are per target: a PostgreSQL target is not refused a column
  its table has because a DuckDB target's lacks it.
"""

from __future__ import annotations

import json

from _projects import execute, make_project, rows, run, run_in_process, statuses, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from toolkit.engines.duckdb import DuckDBEngine

COLUMNS_CACHE = ".toolkit/cache/source_columns.json"


# -- 1. a view source over a table toolkit writes ------------------------------------

def view_project(tmp_path, view_sql: str):
    sources = '[app]\nschema = "app"\n[app.tables.orders]\n[app.tables.v]\n'
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": sources,
                                         "features/o.sql": 'select id from {{ source("app", "orders") }}'},
                        "create schema app; create table app.orders as select 1 as id")
    assert run_in_process(root).ok
    execute(root, view_sql)  # a DBA's view over published data
    write(root, {"features/k2.sql": 'select n from {{ source("app", "v") }}'})
    assert run_in_process(root).ok
    return root


def test_duckdb_view_over_a_published_table_is_not_stale_for_good(tmp_path):
    root = view_project(tmp_path, "create view app.v as select count(*) as n from features.o")
    execute(root, "insert into app.orders values (2)")
    assert run_in_process(root).ok  # rebuilds o, then k2 once o is published (viewsources.py)
    assert rows(root, "features.k2") == [(2,)]
    assert statuses(root) == {"k2": "success", "o": "success"}
    assert run_in_process(root).ok  # and then settles
    assert statuses(root) == {"k2": "reused", "o": "reused"}


def test_duckdb_view_reading_a_published_table_through_another_view(tmp_path):
    execute_first = ("create schema other; create view other.w as select count(*) as n from features.o; "
                     "create view app.v as select n from other.w")
    root = view_project(tmp_path, execute_first)
    execute(root, "insert into app.orders values (2), (3)")
    assert run_in_process(root).ok and run_in_process(root).ok
    assert rows(root, "features.k2") == [(3,)]


def test_duckdb_view_reading_only_sources_is_still_remembered(tmp_path, monkeypatch):
    """The no-op's cut stays: a stable view reading no toolkit table is hashed once while
    the file is unchanged, even where another view names a toolkit schema."""
    root = view_project(tmp_path, "create view app.v as select count(*) as n from app.orders; "
                                  "create view app.u as select count(*) as n from features.o")
    seen = []
    original = DuckDBEngine.table_fingerprint

    def recording(self, table):
        seen.append(f"{table.db}.{table.name}")
        return original(self, table)

    monkeypatch.setattr(DuckDBEngine, "table_fingerprint", recording)
    assert run_in_process(root).ok and run_in_process(root).ok
    assert "app.v" not in seen
    assert statuses(root) == {"k2": "reused", "o": "reused"}


# -- 2. a column the source gained ---------------------------------------------------

def columns_project(tmp_path, step_file: str = "features/o.sql", step: str = 'select id from {{ source("app", "orders") }}'):
    sources = '[app]\nschema = "app"\n[app.tables.orders]\n'
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": sources, step_file: step},
                        "create schema app; create table app.orders as select 1 as id")
    result = run(root)
    assert result.code == 0, result
    assert "app.orders" in json.loads((root / COLUMNS_CACHE).read_text())["targets"]["dev"]
    return root


def test_a_column_added_to_the_source_is_read_not_unknown(tmp_path):
    root = columns_project(tmp_path)
    execute(root, "alter table app.orders add column amount int default 7")
    write(root, {"features/o.sql": 'select id, amount from {{ source("app", "orders") }}'})
    result = run(root)
    assert result.code == 0, result
    assert rows(root, "features.o") == [(1, 7)]
    result = run(root)  # the no-op after it
    assert result.code == 0, result
    assert statuses(root) == {"o": "reused"}


def test_a_column_dropped_and_added_again_is_read(tmp_path):
    root = columns_project(tmp_path, step='select * from {{ source("app", "orders") }}')
    execute(root, "alter table app.orders add column amount int default 7")
    assert run(root).code == 0
    execute(root, "alter table app.orders drop column amount")
    assert run(root).code == 0
    execute(root, "alter table app.orders add column amount int default 8")
    write(root, {"features/o.sql": 'select id, amount from {{ source("app", "orders") }}'})
    result = run(root)
    assert result.code == 0, result
    assert rows(root, "features.o") == [(1, 8)]


def test_a_column_the_source_lacks_is_still_refused(tmp_path):
    root = columns_project(tmp_path)
    write(root, {"features/o.sql": 'select id, nope from {{ source("app", "orders") }}'})
    for _ in range(2):
        result = run(root)
        assert result.code == 2, result
        assert "features/o.sql:1:12: unknown column 'nope'" in result.err
        assert "Traceback" not in result.err


def test_a_python_step_reads_a_column_the_source_gained(tmp_path):
    step = ("from toolkit import feature\n\n\n@feature()\ndef o(source):\n"
            "    orders = source('app', 'orders')\n    return orders.select(orders.id)\n")
    root = columns_project(tmp_path, "features/o.py", step)
    execute(root, "alter table app.orders add column amount int default 7")
    write(root, {"features/o.py": step.replace("orders.select(orders.id)", "orders.select(orders.id, orders.amount)")})
    result = run(root)
    assert result.code == 0, result
    assert rows(root, "features.o") == [(1, 7)]
    write(root, {"features/o.py": step.replace("orders.select(orders.id)", "orders.select(orders.id, orders.nope)")})
    result = run(root)
    assert result.code == 2, result
    assert "features/o.py" in result.err and "nope" in result.err and "Traceback" not in result.err


# -- 3. per target ---------------------------------------------------------------------

def test_remembered_columns_are_per_target(tmp_path, pg_url):  # noqa: F811
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.orders as select 1 as id, 5 as extra")
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.orders]\n',
                                         "features/o.sql": 'select id from {{ source("app", "orders") }}'},
                        "create schema app; create table app.orders as select 1 as id")
    config = (root / "toolkit.toml").read_text()
    (root / "toolkit.toml").write_text(config + f'\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n')
    for target in ("pg", "dev"):
        result = run(root, "--target", target)
        assert result.code == 0, result
    write(root, {"features/o.sql": 'select id, extra from {{ source("app", "orders") }}'})
    result = run(root, "--target", "pg")
    assert result.code == 0, result
    assert pg_query(pg_url, "select id, extra from features.o") == [(1, 5)]
    result = run(root, "--target", "dev")  # DuckDB's table lacks it
    assert result.code == 2 and "unknown column 'extra'" in result.err, result
    remembered = json.loads((root / COLUMNS_CACHE).read_text())["targets"]
    assert list(remembered["pg"]["app.orders"]) == ["id", "extra"]
    assert list(remembered["dev"]["app.orders"]) == ["id"]

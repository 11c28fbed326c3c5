"""Issue 18: nothing lost, nothing leaked (names, dropped relations, deleted steps,
tests as metadata, what a failed run guarantees). Each test failed before its fix."""

from __future__ import annotations

from _projects import cli, make_project, published, query, rows, run, statuses, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

PG_CONFIG = """\
name = "proj"
dialect = "duckdb"
target = "pg"

[targets.pg]
engine = "postgres"
url = "{url}"
"""

SOURCES = """
[app]
schema = "app"

[app.tables.orders]
columns = { order_id = "bigint", customer_id = "bigint", amount = "double" }
"""

SETUP = """
create schema app;
create table app.orders as select * from (values (1, 10, 5.0), (2, 10, 7.0), (3, 11, 20.0)) t(order_id, customer_id, amount);
"""


def _pg_project(tmp_path, url, files):
    pg_query(url, "create schema app")
    pg_query(url, "create table app.orders (order_id bigint, customer_id bigint, amount double precision)")
    pg_query(url, "insert into app.orders values (1, 10, 5.0), (2, 10, 7.0), (3, 11, 20.0)")
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": SOURCES, **files})
    write(root, {"toolkit.toml": PG_CONFIG.format(url=url)})
    return root


# -- item 2: identifiers fit the engine's limit ----------------------------------------

LONG = "customer_lifetime_value_by_acquisition_channel_v20"  # 50 characters


def test_a_50_character_step_name_runs_again_and_again_on_postgres(tmp_path, pg_url):
    assert len(LONG) == 50
    root = _pg_project(tmp_path, pg_url, {
        f"features/{LONG}.sql": "select customer_id, sum(amount) as revenue from {{ source('app', 'orders') }} group by 1",
        "features/reader.sql": f"select customer_id from {{{{ ref('{LONG}') }}}} where revenue > 10",
    })
    for factor in ("1", "2", "3"):  # every run rebuilds it and drops the previous physical table
        write(root, {f"features/{LONG}.sql": f"select customer_id, sum(amount) * {factor} as revenue from {{{{ source('app', 'orders') }}}} group by 1"})
        result = run(root)
        assert result.code == 0, result
    assert pg_query(pg_url, f"select customer_id, revenue from features.{LONG} order by 1") == [(10, 36.0), (11, 60.0)]
    physical = pg_query(pg_url, f"select physical_name from toolkit.published where step = '{LONG}'")[0][0]
    assert len(physical.encode()) <= 63
    assert pg_query(pg_url, f"select count(*) from information_schema.tables where table_schema = 'toolkit_physical' and table_name = '{physical}'") == [(1,)]


def test_two_names_sharing_a_63_byte_prefix_are_exit_2_naming_the_file(tmp_path, pg_url):
    prefix = "x" * 63
    root = _pg_project(tmp_path, pg_url, {
        f"features/{prefix}_a.sql": "select 1 as a",
        f"features/{prefix}_b.sql": "select 2 as a",
    })
    result = run(root)
    assert result.code == 2, result
    assert f"features/{prefix}_" in result.err and "63 bytes" in result.err and "Traceback" not in result.err, result
    assert pg_query(pg_url, "select count(*) from information_schema.schemata where schema_name = 'features'") == [(0,)]

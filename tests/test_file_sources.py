"""Sources as users have them: Parquet globs and CSV files read in place (DuckDB) or
loaded through Arrow (PostgreSQL, Spark), columns optional (from the files or the
warehouse catalog), declared columns checked, and fingerprints without a scan."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from _projects import cli_tuple, make_project, query, run_in_process
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from spark_support import SKIP_REASON as SPARK_SKIP

SOURCES = """
[shop.tables.orders]
path = "data/orders/*.parquet"
tests = { order_id = ["unique", "not_null"] }

[shop.tables.customers]
path = "data/customers.csv"
"""

TOTALS = """
{{ config(materialized="table") }}
select c.name, count(*) as orders, sum(o.amount) as total
from {{ source('shop', 'orders') }} as o
join {{ source('shop', 'customers') }} as c on c.customer_id = o.customer_id
group by c.name
"""

PG_CONFIG = """
[targets.pg]
engine = "postgres"
url = "{url}"
"""


def write_orders(root: Path, part: int, rows: int = 100) -> None:
    folder = root / "data" / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as connection:
        connection.execute(
            f"copy (select range + {part * 1000} as order_id, range % 5 as customer_id, (range * 1.5)::double as amount "
            f"from range({rows})) to '{folder / f'part{part}.parquet'}'"
        )


def file_project(tmp_path: Path, sources: str = SOURCES, steps: dict | None = None, extra_config: str = "") -> Path:
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": sources, **(steps or {"features/totals.sql": TOTALS})})
    if extra_config:
        with open(root / "toolkit.toml", "a") as config:
            config.write(extra_config)
    write_orders(root, 0)
    write_orders(root, 1)
    (root / "data" / "customers.csv").write_text("customer_id,name\n" + "".join(f"{i},c{i}\n" for i in range(5)))
    return root


EXPECTED = [(f"c{i}", 40, sum(r * 1.5 for r in range(100) if r % 5 == i) * 2) for i in range(5)]


def test_parquet_glob_and_csv_read_in_place_on_duckdb(tmp_path):
    root = file_project(tmp_path)
    assert run_in_process(root).ok
    assert query(root, "select * from features.totals order by name") == EXPECTED
    # read in place: the source is a view over the files, not a copy
    kinds = dict(query(root, "select table_name, table_type from information_schema.tables where table_schema = 'shop'"))
    assert kinds == {"orders": "VIEW", "customers": "VIEW"}
    # columns came from the files (none declared), types included
    assert query(root, "select column_name, data_type from information_schema.columns "
                       "where table_schema = 'features' and table_name = 'totals' order by ordinal_position") == [
        ("name", "VARCHAR"), ("orders", "BIGINT"), ("total", "DOUBLE")]


def test_unchanged_files_reuse_and_a_new_file_rebuilds(tmp_path):
    root = file_project(tmp_path)
    assert run_in_process(root).ok
    assert [r.status for r in run_in_process(root).results] == ["reused"]
    write_orders(root, 2, rows=10)
    result = run_in_process(root).results[0]
    assert result.status == "success" and "source" in result.reason, result.reason
    assert query(root, "select sum(orders) from features.totals") == [(210,)]


def test_fingerprint_reads_no_rows(tmp_path):
    """The data fingerprint of a file source is the files' stats: a file whose bytes are
    unreadable but whose stats are unchanged fingerprints the same (no scan)."""
    from toolkit import filesources
    from toolkit.project import discover_sources

    root = file_project(tmp_path)
    source = discover_sources(root)["shop.orders"]
    before = filesources.fingerprint(source, root)
    part = root / "data" / "orders" / "part0.parquet"
    stat = part.stat()
    part.write_bytes(b"x" * stat.st_size)
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert filesources.fingerprint(source, root) == before
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert filesources.fingerprint(source, root) != before


def test_declared_columns_are_checked_against_the_files(tmp_path):
    sources = SOURCES.replace('path = "data/orders/*.parquet"', 'path = "data/orders/*.parquet"\ncolumns = { order_id = "varchar" }')
    root = file_project(tmp_path, sources)
    code, _, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 2 and "Traceback" not in err
    assert "warehouse/sources.toml:1" in err and "shop.orders" in err and "order_id is declared varchar but is BIGINT" in err


def test_a_csv_is_read_with_its_declared_types(tmp_path):
    """Like a seed: a zip code declared text keeps its leading zero; undeclared columns are inferred."""
    sources = '[geo.tables.zips]\npath = "data/zips.csv"\ncolumns = { zip = "varchar" }\n'
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": sources, "features/z.sql": "select * from {{ source('geo', 'zips') }}"})
    (root / "data").mkdir()
    (root / "data" / "zips.csv").write_text("zip,people\n01234,5\n90210,7\n")
    assert run_in_process(root).ok
    assert query(root, "select * from features.z order by 1") == [("01234", 5), ("90210", 7)]


def test_a_csv_value_that_is_not_its_declared_type_names_the_file_line_and_column(tmp_path):
    """DuckDB's first line said only "CSV Error on Line: 4"; the file and column came later."""
    sources = '[geo.tables.zips]\npath = "data/zips.csv"\ncolumns = { people = "bigint" }\n'
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": sources, "features/z.sql": "select * from {{ source('geo', 'zips') }}"})
    (root / "data").mkdir()
    (root / "data" / "zips.csv").write_text("zip,people\n01234,5\n90210,7\n10001,many\n")
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 1 and "Traceback" not in err, out + err
    assert f"features/z.sql: {root / 'data' / 'zips.csv'}:4: Error when converting column \"people\"" in out + err


@pytest.mark.parametrize(("setting", "message"), [
    ('columns = { nope = "bigint" }', "declared column nope is not in the files"),
    ('format = "json"', "format 'json' is not parquet or csv"),
    ('colums = { id = "bigint" }', "unknown key 'colums'"),
    ("columns = {}", "columns must name at least one column"),
])
def test_bad_file_source_declarations(tmp_path, setting, message):
    sources = SOURCES.replace('path = "data/customers.csv"', f'path = "data/customers.csv"\n{setting}')
    root = file_project(tmp_path, sources)
    code, _, err = cli_tuple("compile", "-p", str(root), cwd=root)
    assert code == 2 and "Traceback" not in err and "warehouse/sources.toml:" in err and message in err, err


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_columns_differing_only_in_case_are_exit_2(tmp_path, kind):
    """DuckDB's reader would name the second `id_1`, and a step reading id would read Id."""
    sources = f'[raw.tables.twice]\npath = "data/twice.{kind}"\n'
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": sources,
                                            "features/t.sql": "select id from {{ source('raw', 'twice') }}"})
    (root / "data").mkdir()
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"Id": [1], "id": [2]}), root / "data" / "twice.parquet")
    else:
        (root / "data" / "twice.csv").write_text("Id,id\n1,2\n")
    code, _, err = cli_tuple("compile", "-p", str(root), cwd=root)
    assert code == 2 and "Traceback" not in err, err
    assert "warehouse/sources.toml:1: source raw.twice: the files have columns 'Id' and 'id'" in err


def csv_source(tmp_path, text: str, suffix: str = "csv") -> Path:
    sources = f'[raw.tables.f]\npath = "data/f.{suffix}"\n'
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": sources,
                                            "features/t.sql": "select * from {{ source('raw', 'f') }}"})
    (root / "data").mkdir()
    (root / "data" / f"f.{suffix}").write_text(text)
    return root


@pytest.mark.parametrize(("text", "message"), [
    ("id,,x\n1,2,3\n", "f.csv: column 2 of the header has no name (DuckDB would call it 'column1')"),
    ("id,x,\n1,2,3\n", "f.csv: column 3 of the header has no name"),
    # DuckDB takes a short header for none: the header line is dropped, the columns are column0...
    ("id,x\n1,2,3\n4,5,6\n", "f.csv: the header line names 2 column(s) but DuckDB reads the rows as 3 column(s) "
                             "(column0, column1, column2)"),
    # no delimiter splits every line alike: one column named like the whole header line
    ("id,x,y\n1,2\n4,5\n", "f.csv: DuckDB reads the file as one column named 'id,x,y'"),
    ("id,x,id\n1,2,3\n", "the files name column 'id' twice"),
    ("1,2,3\n4,5,6\n", "f.csv: DuckDB's reader does not take the first line for a header (it would read columns "
                      "column0, column1, column2)"),
], ids=["nameless", "trailing comma", "short header", "long header", "repeated", "no header"])
def test_a_csv_header_that_does_not_name_each_column_is_exit_2(tmp_path, text, message):
    # Before, each of these compiled and published what DuckDB's sniffer guessed.
    root = csv_source(tmp_path, text)
    code, _, err = cli_tuple("compile", "-p", str(root), cwd=root)
    assert code == 2 and "Traceback" not in err, err
    assert f"warehouse/sources.toml:1: source raw.f: {message}" in err, err


@pytest.mark.parametrize(("text", "suffix", "columns"), [
    ("name,city\nann,paris\n", "csv", ["name", "city"]),  # all text: still a header
    ('"a,b",c\n1,2\n', "csv", ["a,b", "c"]),  # a quoted delimiter in a name
    ("id,x\n", "csv", ["id", "x"]),  # a header and no rows
    ("id;x\n1;2\n", "csv", ["id", "x"]),
    ("id\tx\n1\t2\n", "tsv", ["id", "x"]),
    ("only\n1\n2\n", "csv", ["only"]),
    ("\ufeffid,x\n1,2\n", "csv", ["id", "x"]),  # a byte-order mark is not part of the first name
    ("id,x\r\n1,2\r\n", "csv", ["id", "x"]),
])
def test_csv_headers_that_name_each_column_compile(tmp_path, text, suffix, columns):
    # the header check refuses none of these
    from toolkit.compiler import compile_project

    assert compile_project(csv_source(tmp_path, text, suffix)).steps["t"].columns == columns


def test_a_column_named_like_a_renamed_repeat_is_read(tmp_path):
    """`id` and `id_1` written so in the file are two columns, not a repeat DuckDB renamed."""
    sources = '[raw.tables.pair]\npath = "data/pair.csv"\n'
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": sources,
                                            "features/p.sql": "select id, id_1 from {{ source('raw', 'pair') }}"})
    (root / "data").mkdir()
    (root / "data" / "pair.csv").write_text("id,id_1\n1,2\n")
    assert run_in_process(root).ok
    assert query(root, "select * from features.p") == [(1, 2)]


def test_a_path_matching_nothing_is_exit_2(tmp_path):
    root = file_project(tmp_path, SOURCES.replace("data/customers.csv", "data/custmers.csv"))
    code, _, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 2 and "Traceback" not in err
    assert "warehouse/sources.toml:5: source shop.customers: path 'data/custmers.csv' matches no file" in err


def test_steps_still_cannot_read_other_files(tmp_path):
    """The files' folders are readable for the source views; nothing else is."""
    steps = {"features/totals.sql": TOTALS, "features/peek.sql": "select * from read_csv('/etc/hostname')"}
    root = file_project(tmp_path, steps=steps)
    code, _, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 2 and "read_csv" in err


def test_toolkit_test_before_any_run_skips_file_sources_it_has_not_read(tmp_path):
    root = file_project(tmp_path)
    code, out, err = cli_tuple("test", "-p", str(root), cwd=root)
    assert code == 0 and "internal error" not in out + err, out + err
    assert "skip  source shop.orders: not published yet" in out
    assert run_in_process(root).ok
    code, out, err = cli_tuple("test", "-p", str(root), cwd=root)
    assert code == 0 and "pass  source shop.orders: unique(order_id)" in out, out + err


def test_a_table_of_the_same_name_is_never_replaced(tmp_path):
    """A file source whose name a real table holds: exit 2, the table untouched."""
    root = file_project(tmp_path)
    from _projects import execute

    execute(root, "create schema shop; create table shop.orders as select 42 as precious")
    code, _, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 2 and "Traceback" not in err
    assert "source shop.orders names files, but a table shop.orders that toolkit did not make from them exists" in err
    assert query(root, "select * from shop.orders") == [(42,)]


def test_table_source_without_columns_reads_the_catalog(tmp_path):
    """Columns of a table source that declares none come from the warehouse; a column
    added there reaches `select *` steps at the next run."""
    sources = '[crm.tables.segments]\ndescription = "columns from the warehouse"\n'
    steps = {"features/segments.sql": "select s.*, s.customer_id * 10 as key10 from {{ source('crm', 'segments') }} as s"}
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": sources, **steps},
                        setup_sql="create schema crm; create table crm.segments as select range as customer_id, 'gold' as tier from range(3)")
    assert run_in_process(root).ok
    assert query(root, "select * from features.segments order by 1") == [(0, "gold", 0), (1, "gold", 10), (2, "gold", 20)]
    assert [r.status for r in run_in_process(root).results] == ["reused"]
    from _projects import execute

    execute(root, "alter table crm.segments add column region varchar default 'eu'")
    assert run_in_process(root).ok
    assert query(root, "select * from features.segments order by 1")[0] == (0, "gold", "eu", 0)


def test_watermark_fingerprints_without_hashing_rows(tmp_path):
    sources = '[crm.tables.events]\nwatermark = "ts"\n'
    steps = {"features/daily.sql": "select count(*) as n, max(ts) as last from {{ source('crm', 'events') }}"}
    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": sources, **steps},
                        setup_sql="create schema crm; create table crm.events as select range as id, timestamp '2024-01-01' + to_days(range::int) as ts from range(5)")
    assert run_in_process(root).ok
    assert [r.status for r in run_in_process(root).results] == ["reused"]
    from _projects import execute

    execute(root, "insert into crm.events values (99, timestamp '2024-02-01')")
    assert [r.status for r in run_in_process(root).results] == ["success"]
    assert query(root, "select n from features.daily") == [(6,)]


def test_file_sources_load_into_postgres_once(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = file_project(tmp_path, extra_config=PG_CONFIG.format(url=pg_url))
    code, out, err = cli_tuple("run", "-p", str(root), "--target", "pg", cwd=root)
    assert code == 0, err
    assert pg_query(pg_url, "select name, orders, total from features.totals order by name") == EXPECTED
    loaded = pg_query(pg_url, "select source, rows_loaded, loaded_at from toolkit.loaded_sources order by source")
    assert [(s, n) for s, n, _ in loaded] == [("shop.customers", 5), ("shop.orders", 200)]
    code, out, err = cli_tuple("run", "-p", str(root), "--target", "pg", cwd=root)
    assert code == 0, err
    assert pg_query(pg_url, "select source, rows_loaded, loaded_at from toolkit.loaded_sources order by source") == loaded
    write_orders(root, 2, rows=10)
    code, out, err = cli_tuple("run", "-p", str(root), "--target", "pg", cwd=root)
    assert code == 0, err
    assert pg_query(pg_url, "select rows_loaded from toolkit.loaded_sources where source = 'shop.orders'") == [(210,)]
    assert pg_query(pg_url, "select sum(orders)::bigint from features.totals") == [(210,)]


def test_a_csv_header_in_mixed_case_loads_in_lower_case_into_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    # loaded as written, "CustomerId" was case-sensitive: every step reading customerid failed
    root = file_project(tmp_path, extra_config=PG_CONFIG.format(url=pg_url))
    (root / "data" / "customers.csv").write_text("Customer_Id,Name\n" + "".join(f"{i},c{i}\n" for i in range(5)))
    code, out, err = cli_tuple("run", "-p", str(root), "--target", "pg", cwd=root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select name, orders, total from features.totals order by name") == EXPECTED
    columns = "select column_name from information_schema.columns where table_schema = 'shop' and table_name = 'customers'"
    assert sorted(pg_query(pg_url, columns)) == [("customer_id",), ("name",)]
    # a table loaded by an earlier toolkit under the header's names is loaded again, once
    pg_query(pg_url, 'alter table shop.customers rename column name to "Name"')
    pg_query(pg_url, "update toolkit.loaded_sources set fingerprint = replace(fingerprint, '|columns:lower', '')")
    code, out, err = cli_tuple("run", "-p", str(root), "--target", "pg", "--full-refresh", cwd=root)
    assert code == 0, out + err
    assert sorted(pg_query(pg_url, columns)) == [("customer_id",), ("name",)]
    assert pg_query(pg_url, "select name, orders, total from features.totals order by name") == EXPECTED


def test_a_postgres_table_of_the_same_name_is_never_replaced(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = file_project(tmp_path, extra_config=PG_CONFIG.format(url=pg_url))
    for statement in ("create schema shop", "create table shop.customers (precious int)", "insert into shop.customers values (42)"):
        pg_query(pg_url, statement)
    code, _, err = cli_tuple("run", "-p", str(root), "--target", "pg", cwd=root)
    assert code == 2 and "a table shop.customers that toolkit did not make from them exists" in err, err
    assert pg_query(pg_url, "select * from shop.customers") == [(42,)]


def test_batches_are_bounded_and_replace_the_table(tmp_path, pg_url, monkeypatch):  # noqa: F811 (fixture)
    """Loaded in batches of BATCH_ROWS; the loaded table replaces the old one whole."""
    from toolkit import filesources
    from toolkit.config import Target
    from toolkit.engines import connect
    from toolkit.project import discover_sources

    root = file_project(tmp_path)
    monkeypatch.setattr(filesources, "BATCH_ROWS", 7)
    engine = connect(Target("pg", "postgres", {"url": pg_url}), root, 5.0)
    try:
        source = discover_sources(root)["shop.orders"]
        engine.create_schema("shop")
        assert filesources._load(engine, source, root) == 200
        write_orders(root, 1, rows=3)
        assert filesources._load(engine, source, root) == 103
        assert engine.fetch_rows("select count(*), count(distinct order_id) from shop.orders") == [(103, 103)]
        assert engine.columns(filesources.relation(source)) is not None
        assert "orders__toolkit_load" not in engine.relations("shop")
    finally:
        engine.close()


@pytest.mark.skipif(SPARK_SKIP is not None, reason=SPARK_SKIP or "")
def test_file_source_loads_into_spark(tmp_path):
    from spark_support import shared_engine

    from toolkit import filesources
    from toolkit.project import discover_sources

    root = file_project(tmp_path)
    engine = shared_engine()
    try:
        source = discover_sources(root)["shop.customers"]
        engine.create_schema("shop")
        assert filesources._load(engine, source, root) == 5
        (root / "data" / "customers.csv").write_text("customer_id,name\n7,c7\n")
        assert filesources._load(engine, source, root) == 1
        assert engine.fetch_rows("select customer_id, name from shop.customers") == [(7, "c7")]
    finally:
        engine.close()


def test_a_csv_file_not_in_utf8_is_exit_2_naming_it(tmp_path):
    root = csv_source(tmp_path, "")
    (root / "data" / "f.csv").write_bytes("id,café\n1,2\n".encode("latin-1"))
    code, _, err = cli_tuple("compile", "-p", str(root), cwd=root)
    assert code == 2 and "Traceback" not in err and "warehouse/sources.toml:1: source raw.f: cannot read 'data/f.csv'" in err, err

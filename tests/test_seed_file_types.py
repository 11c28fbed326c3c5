"""Declared column types of seeds (warehouse/seeds.toml) and file sources (sources.toml)
mean what they mean in the project's dialect, on every target: `float` is PostgreSQL's
double precision in a postgres-dialect project (it loaded as REAL: 16777217 became
16777216), DuckDB's REAL in a duckdb one. A file source's declared types are part of its
fingerprint (retyped, its readers are rebuilt and PostgreSQL reloads it); a file source
that does not load is exit 2 naming sources.toml and the file; a Parquet UINT64 keeps its
values on PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from _projects import cli_tuple, make_project, query, run_in_process
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)

DUCKDB_TARGET = """name = "proj"
dialect = "{dialect}"
target = "dev"

[targets.dev]
engine = "duckdb"
path = "warehouse/proj.duckdb"
"""

PG_TARGET = """
[targets.pg]
engine = "postgres"
url = "{url}"
"""

FLOATS = "id,price\n1,16777217\n2,1234567.891\n"


def project(tmp_path: Path, dialect: str, files: dict[str, str], url: str | None = None) -> Path:
    root = make_project(tmp_path / "proj", files)
    (root / "toolkit.toml").write_text(DUCKDB_TARGET.format(dialect=dialect) + (PG_TARGET.format(url=url) if url else ""))
    return root


def pg_run(root: Path, *args: str) -> tuple[int, str, str]:
    return cli_tuple("run", "-p", str(root), "--target", "pg", *args, cwd=root)


# -- what a declared name means -----------------------------------------------------

@pytest.mark.parametrize(("dialect", "declared", "expected"), [
    ("postgres", "float", "double"), ("postgres", "real", "float"), ("postgres", "float8", "double"),
    ("postgres", "int", "int32"), ("postgres", "integer", "int32"), ("postgres", "text", "string"),
    ("postgres", "timestamp", "timestamp[us]"), ("postgres", "timestamptz", "timestamp[us, tz=UTC]"),
    ("snowflake", "float", "double"), ("snowflake", "numeric", "decimal128(38, 0)"),
    ("bigquery", "float64", "double"), ("bigquery", "numeric", "decimal128(38, 9)"), ("bigquery", "string", "string"),
    ("bigquery", "timestamp", "timestamp[us, tz=UTC]"), ("spark", "decimal", "decimal128(10, 0)"),
    # a DuckDB project's names keep DuckDB's meaning
    ("duckdb", "float", "float"), ("duckdb", "real", "float"), ("duckdb", "numeric", "decimal128(18, 3)"),
    ("duckdb", "string", "string"), ("duckdb", "timestamp", "timestamp[us]"),
])
def test_a_declared_seed_type_is_read_in_the_project_dialect(dialect, declared, expected):
    from toolkit.seeds import arrow_type

    in_dialect = {} if dialect == "duckdb" else {"dialect": dialect}  # the default: DuckDB's, as before
    assert str(arrow_type(declared, "warehouse/seeds.toml", **in_dialect)) == expected


# -- seeds -----------------------------------------------------------------------------

def test_a_postgres_project_seed_declared_float_is_a_double_on_duckdb(tmp_path):
    root = project(tmp_path, "postgres", {"warehouse/seeds/fl.csv": FLOATS, "warehouse/seeds.toml": '[fl]\ncolumns = { price = "float" }\n'})
    assert run_in_process(root).ok
    assert query(root, "select id, price, typeof(price) from raw.fl order by id") == [
        (1, 16777217.0, "DOUBLE"), (2, 1234567.891, "DOUBLE")]


def test_a_duckdb_project_seed_declared_float_stays_real(tmp_path):
    root = project(tmp_path, "duckdb", {"warehouse/seeds/fl.csv": FLOATS, "warehouse/seeds.toml": '[fl]\ncolumns = { price = "float" }\n'})
    assert run_in_process(root).ok
    assert query(root, "select typeof(price) from raw.fl limit 1") == [("FLOAT",)]


def test_a_seed_whose_types_mean_the_same_keeps_its_hash(tmp_path):
    """Only seeds whose declared types mean something else in the project's dialect are built
    again after the upgrade: bigint and varchar mean the same everywhere."""
    from toolkit.project import discover_seeds
    from toolkit.seeds import content_hash, seed_header

    root = make_project(tmp_path / "proj", {"warehouse/seeds/s.csv": "id,name,price\n1,a,2.5\n",
                                            "warehouse/seeds.toml": '[s]\ncolumns = { id = "bigint", name = "varchar" }\n'})

    def hashed(dialect: str) -> str:
        seed = discover_seeds(root, dialect)["s"]
        return content_hash(seed, seed_header(seed, root))

    assert hashed("postgres") == hashed("duckdb") == hashed("snowflake")
    (root / "warehouse" / "seeds.toml").write_text('[s]\ncolumns = { id = "bigint", price = "float" }\n')
    assert hashed("postgres") != hashed("duckdb")


def test_postgres_numeric_without_precision_keeps_the_values_scale(tmp_path):
    # PostgreSQL's numeric holds any number: DuckDB's DECIMAL(18,3) refused 1.23456
    root = project(tmp_path, "postgres", {"warehouse/seeds/n.csv": "id,amount\n1,1.23456\n2,12345678901234567890.5\n3,\n",
                                          "warehouse/seeds.toml": '[n]\ncolumns = { amount = "numeric" }\n'})
    assert run_in_process(root).ok
    assert query(root, "select amount, typeof(amount) from raw.n order by id") == [
        (Decimal("1.23456"), "DECIMAL(38,5)"), (Decimal("12345678901234567890.50000"), "DECIMAL(38,5)"), (None, "DECIMAL(38,5)")]


# -- file sources on DuckDB --------------------------------------------------------------

CODES = '[files]\n[files.tables.codes]\npath = "codes.csv"\ncolumns = { code = "varchar", label = "varchar" }\n'
TOP = 'select max(code) as top from {{ source("files","codes") }}'


def test_retyping_a_file_source_rebuilds_its_readers_on_duckdb(tmp_path):
    root = project(tmp_path, "duckdb", {"codes.csv": "code,label\n9,a\n10,b\n", "warehouse/sources.toml": CODES, "features/top.sql": TOP})
    assert run_in_process(root).ok
    assert query(root, "select * from features.top") == [("9",)]
    assert [r.status for r in run_in_process(root).results] == ["reused"]  # undeclared change: none
    (root / "warehouse" / "sources.toml").write_text(CODES.replace('code = "varchar"', 'code = "bigint"'))
    code, out, err = cli_tuple("plan", "-p", str(root), cwd=root)
    assert code == 0 and "source data changed (files.codes)" in out, out + err
    result = run_in_process(root).results[0]
    assert result.status == "success", result.reason
    assert query(root, "select * from features.top") == [(10,)]


def test_a_postgres_project_file_source_declared_float_is_a_double_on_duckdb(tmp_path):
    root = project(tmp_path, "postgres", {
        "p.csv": "id,price\n1,16777217\n",
        "warehouse/sources.toml": '[files]\n[files.tables.p]\npath = "p.csv"\ncolumns = { id = "bigint", price = "float" }\n',
        "features/p.sql": 'select id, price from {{ source("files","p") }}'})
    assert run_in_process(root).ok
    assert query(root, "select price, typeof(price) from features.p") == [(16777217.0, "DOUBLE")]


def test_postgres_numeric_without_precision_in_a_csv_file_source_is_refused(tmp_path):
    # DuckDB's reader rounded it to DECIMAL(18,3): 1.23456 read 1.235
    root = project(tmp_path, "postgres", {
        "n.csv": "id,amount\n1,1.23456\n",
        "warehouse/sources.toml": '[files]\n[files.tables.n]\npath = "n.csv"\n[files.tables.n.columns]\nid = "bigint"\namount = "numeric"\n',
        "features/n.sql": 'select amount from {{ source("files","n") }}'})
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 2, out + err
    assert "warehouse/sources.toml:6" in err and "amount" in err and "numeric(" in err and "Traceback" not in err, err


# -- file sources and seeds on PostgreSQL -------------------------------------------------

def test_a_postgres_project_seed_and_file_source_declared_float_are_double_precision(tmp_path, pg_url):  # noqa: F811
    root = project(tmp_path, "postgres", {
        "warehouse/seeds/fl.csv": FLOATS, "warehouse/seeds.toml": '[fl]\ncolumns = { price = "float" }\n',
        "p.csv": "id,price\n1,16777217\n",
        "warehouse/sources.toml": '[files]\n[files.tables.p]\npath = "p.csv"\ncolumns = { id = "bigint", price = "float" }\n',
        "features/p.sql": 'select id, price from {{ source("files","p") }}'}, pg_url)
    code, out, err = pg_run(root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select id, price, pg_typeof(price)::text from raw.fl order by id") == [
        (1, 16777217.0, "double precision"), (2, 1234567.891, "double precision")]
    assert pg_query(pg_url, "select price, pg_typeof(price)::text from features.p") == [(16777217.0, "double precision")]


def test_retyping_a_file_source_reloads_it_into_postgres(tmp_path, pg_url):  # noqa: F811
    root = project(tmp_path, "postgres", {"codes.csv": "code,label\n9,a\n10,b\n", "warehouse/sources.toml": CODES,
                                          "features/top.sql": TOP}, pg_url)
    code, out, err = pg_run(root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select * from features.top") == [("9",)]
    (root / "warehouse" / "sources.toml").write_text(CODES.replace('code = "varchar"', 'code = "bigint"'))
    code, out, err = pg_run(root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select data_type from information_schema.columns where table_schema = 'files' "
                            "and table_name = 'codes' and column_name = 'code'") == [("bigint",)]
    assert pg_query(pg_url, "select * from features.top") == [(10,)]


def test_file_source_load_errors_on_postgres_are_exit_2(tmp_path, pg_url):  # noqa: F811
    root = project(tmp_path, "duckdb", {"data/a.csv": "id,amount\n1,100\n",
                                        "warehouse/sources.toml": '[files]\n[files.tables.ev]\npath = "data/*.csv"\n',
                                        "features/e.sql": 'select id, amount from {{ source("files","ev") }}'}, pg_url)
    code, out, err = pg_run(root)
    assert code == 0, out + err
    (root / "data" / "d.csv").write_text("id\n5\n")  # a file of the glob without a column of the first
    code, out, err = pg_run(root)
    assert code == 2, out + err
    assert "warehouse/sources.toml:2" in err and "data/d.csv" in err and "amount" in err and "internal error" not in err, err
    (root / "data" / "d.csv").unlink()
    (root / "warehouse" / "sources.toml").write_text(
        '[files]\n[files.tables.ev]\npath = "data/*.csv"\n[files.tables.ev.columns]\nid = "bigint"\namount = "bigint"\n')
    (root / "data" / "a.csv").write_text("id,amount\n1,100\nX,5\n")  # line 3 does not convert
    code, out, err = pg_run(root)
    assert code == 2, out + err
    assert "warehouse/sources.toml:5" in err and "data/a.csv line 3" in err and "internal error" not in err, err
    (root / "data" / "a.csv").write_text("id,amount\n1,100\n7,5\n")  # fixed: loads
    code, out, err = pg_run(root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select sum(amount)::bigint from features.e") == [(105,)]


def test_parquet_uint64_keeps_its_values_on_postgres(tmp_path, pg_url):  # noqa: F811
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = project(tmp_path, "postgres", {
        "warehouse/sources.toml": '[files]\n[files.tables.u]\npath = "data/u.parquet"\n',
        "features/fu.sql": 'select id, big from {{ source("files","u") }}'}, pg_url)
    table = pa.table({"id": [1, 2], "big": pa.array([2**63 + 5, 1], pa.uint64())})
    (root / "warehouse" / "seeds").mkdir()
    (root / "data").mkdir()
    pq.write_table(table, root / "warehouse" / "seeds" / "u.parquet")
    pq.write_table(table, root / "data" / "u.parquet")
    code, out, err = pg_run(root)
    assert code == 0, out + err
    expected = [(1, str(2**63 + 5), "numeric"), (2, "1", "numeric")]
    assert pg_query(pg_url, "select id, big::text, pg_typeof(big)::text from raw.u order by id") == expected
    assert pg_query(pg_url, "select id, big::text, pg_typeof(big)::text from features.fu order by id") == expected


def test_postgres_numeric_seed_loads_exactly_into_postgres(tmp_path, pg_url):  # noqa: F811
    root = project(tmp_path, "postgres", {"warehouse/seeds/n.csv": "id,amount\n1,1.23456\n2,7\n",
                                          "warehouse/seeds.toml": '[n]\ncolumns = { amount = "numeric" }\n'}, pg_url)
    code, out, err = pg_run(root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select amount::text from raw.n order by id") == [("1.23456",), ("7.00000",)]

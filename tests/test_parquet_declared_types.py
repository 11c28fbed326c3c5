"""A Parquet file source's declared column types are the ones its readers read, like a
CSV file source's and a seed's: `amount = "decimal(10,2)"` over a file's doubles reads
decimals (it read the doubles: sums in floating point, the declaration ignored), on
DuckDB (a view casting them) and on PostgreSQL (loaded cast). A declared type of another
family than the file's stays exit 2; PostgreSQL's unbounded numeric keeps the file's
own exact type. Retyping the declaration rebuilds the readers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from _projects import cli_tuple, make_project, query, run_in_process
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)

TOML = """name = "proj"
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

SOURCES = '[files]\n[files.tables.p]\npath = "data/p.parquet"\n[files.tables.p.columns]\nid = "bigint"\namount = "{kind}"\n'
TOTAL = 'select sum(amount) as total, count(*) as n from {{ source("files","p") }}'


def project(tmp_path: Path, kind: str, dialect: str = "duckdb", url: str | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = make_project(tmp_path / "proj", {"warehouse/sources.toml": SOURCES.format(kind=kind), "features/total.sql": TOTAL,
                                            "features/rows.sql": 'select id, amount from {{ source("files","p") }}'})
    (root / "toolkit.toml").write_text(TOML.format(dialect=dialect) + (PG_TARGET.format(url=url) if url else ""))
    (root / "data").mkdir()
    # 0.1 + 0.2 as doubles is 0.30000000000000004: as decimal(10,2) the sum is exactly 0.30
    pq.write_table(pa.table({"Id": pa.array([1, 2], pa.int64()), "amount": [0.1, 0.2]}), root / "data" / "p.parquet")
    return root


def test_declared_decimal_over_parquet_doubles_reads_decimals_on_duckdb(tmp_path):
    root = project(tmp_path, "decimal(10,2)")
    assert run_in_process(root).ok
    assert query(root, "select total, typeof(total) from features.total") == [(Decimal("0.30"), "DECIMAL(38,2)")]
    assert query(root, "select typeof(amount), typeof(id) from features.rows limit 1") == [("DECIMAL(10,2)", "BIGINT")]


def test_declared_integer_narrower_than_the_files_is_what_readers_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = project(tmp_path, "decimal(10,2)")
    (root / "warehouse" / "sources.toml").write_text(SOURCES.format(kind="double").replace('id = "bigint"', 'id = "integer"'))
    pq.write_table(pa.table({"id": pa.array([1, 2], pa.int64()), "amount": [0.1, 0.2]}), root / "data" / "p.parquet")
    assert run_in_process(root).ok
    assert query(root, "select typeof(id), typeof(amount) from features.rows limit 1") == [("INTEGER", "DOUBLE")]


def test_retyping_a_parquet_declaration_rebuilds_its_readers(tmp_path):
    root = project(tmp_path, "double")
    assert run_in_process(root).ok
    assert query(root, "select typeof(total) from features.total") == [("DOUBLE",)]
    (root / "warehouse" / "sources.toml").write_text(SOURCES.format(kind="decimal(10,2)"))
    assert run_in_process(root).ok
    assert query(root, "select total, typeof(total) from features.total") == [(Decimal("0.30"), "DECIMAL(38,2)")]


def test_a_declared_type_of_another_family_is_still_exit_2(tmp_path):
    root = project(tmp_path, "varchar")
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 2, out + err
    assert "warehouse/sources.toml" in err and "amount" in err and "Traceback" not in err, err


def test_declared_decimal_over_parquet_doubles_on_postgres(tmp_path, pg_url):  # noqa: F811
    root = project(tmp_path, "decimal(10,2)", url=pg_url)
    code, out, err = cli_tuple("run", "-p", str(root), "--target", "pg", cwd=root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select total::text, pg_typeof(total)::text from features.total") == [("0.30", "numeric")]
    assert pg_query(pg_url, "select format_type(atttypid, atttypmod) from pg_attribute "
                            "where attrelid = 'files.p'::regclass and attname = 'amount'") == [("numeric(10,2)",)]


@pytest.mark.parametrize("dialect", ["postgres", "duckdb"])
def test_unbounded_numeric_keeps_the_files_own_type(tmp_path, dialect):
    """PostgreSQL's numeric holds any number: no fixed cast; the file's doubles stay (a
    CSV file is refused instead: it has no type of its own)."""
    root = project(tmp_path, "numeric", dialect=dialect)
    assert run_in_process(root).ok
    expected = "DOUBLE" if dialect == "postgres" else "DECIMAL(18,3)"  # DuckDB's numeric is 18,3
    assert query(root, "select typeof(amount) from features.rows limit 1") == [(expected,)]

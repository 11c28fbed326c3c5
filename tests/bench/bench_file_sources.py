"""File sources against the floor: the same aggregate run straight over the files.

    python tests/bench/bench_file_sources.py [--rows 10000000] [--files 10] [--postgres URL]

A Parquet glob of --rows rows in --files files (order_id, customer_id, amount,
ordered_at) is one source; one feature step aggregates it per customer.

  floor (duckdb)     one duckdb.connect() runs CREATE TABLE AS the aggregate over
                     read_parquet('<glob>') into a fresh file
  run (file source)  toolkit run, in this process, on a fresh project: the source is a
                     view over the files (read in place), the step built and published
  no-op              toolkit run again: the fingerprint is the files' stats
  no-op, table src   the same rows loaded as a table source (declared columns): the
                     no-op fingerprints it by hashing every row (what a file source avoids)
  load (postgres)    with --postgres: the glob loaded through Arrow batches into a fresh
                     PostgreSQL database, vs the same Arrow table ingested by one ADBC call

Nothing is asserted; figures are medians of --repeat runs, ratios against the floor
measured in the same run.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

AGGREGATE = "select customer_id, count(*) as orders, sum(amount) as total, max(ordered_at) as last_at from {src} group by customer_id"


def write_files(folder: Path, rows: int, files: int) -> None:
    folder.mkdir(parents=True)
    per_file = rows // files
    with duckdb.connect() as connection:
        for part in range(files):
            connection.execute(
                f"copy (select range + {part * per_file} as order_id, (range * 7919) % 100000 as customer_id, "
                f"(range % 1000) * 0.25 as amount, timestamp '2024-01-01' + to_seconds(range) as ordered_at "
                f"from range({per_file})) to '{folder / f'part{part:03}.parquet'}'"
            )


def project(root: Path, data: Path, table_source: bool = False) -> Path:
    root.mkdir(parents=True)
    (root / "toolkit.toml").write_text('name = "bench"\ntarget = "dev"\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/w.duckdb"\n')
    (root / "warehouse").mkdir()
    (root / "features").mkdir()
    if table_source:
        (root / "warehouse" / "sources.toml").write_text(
            '[shop.tables.orders]\ncolumns = { order_id = "bigint", customer_id = "bigint", amount = "double", ordered_at = "timestamp" }\n')
        with duckdb.connect(str(root / "warehouse" / "w.duckdb")) as connection:
            connection.execute("create schema shop")
            connection.execute(f"create table shop.orders as select * from read_parquet('{data}/*.parquet')")
    else:
        (root / "warehouse" / "sources.toml").write_text(f'[shop.tables.orders]\npath = "{data}/*.parquet"\n')
    (root / "features" / "per_customer.sql").write_text(
        "{{ config(materialized='table') }}\n" + AGGREGATE.format(src="{{ source('shop', 'orders') }}"))
    return root


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def toolkit_run(root: Path) -> None:
    from toolkit.compiler import compile_project
    from toolkit.console import PlainConsole
    from toolkit.execute import run

    summary = run(compile_project(root), console=PlainConsole(io.StringIO()))
    assert summary.ok, summary


def floor(workdir: Path, data: Path) -> None:
    database = workdir / f"floor{time.perf_counter_ns()}.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create table per_customer as " + AGGREGATE.format(src=f"read_parquet('{data}/*.parquet')"))


def postgres_load(url: str, data: Path, workdir: Path) -> tuple[float, float, int]:
    import adbc_driver_postgresql.dbapi as adbc

    from toolkit import filesources
    from toolkit.config import Target
    from toolkit.engines import connect
    from toolkit.project import Source

    source = Source("shop", "orders", "shop", {}, Path("sources.toml"), 1, path=f"{data}/*.parquet")
    engine = connect(Target("pg", "postgres", {"url": url}), workdir, 5.0)
    try:
        engine.create_schema("shop")
        started = time.perf_counter()
        rows = filesources._load(engine, source, workdir)
        toolkit_seconds = time.perf_counter() - started
    finally:
        engine.close()
    with duckdb.connect() as connection:
        table = connection.sql(f"select * from read_parquet('{data}/*.parquet')").to_arrow_table()
    with adbc.connect(url) as connection, connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.adbc_ingest("orders_direct", table, mode="replace", db_schema_name="shop")
        connection.commit()
        direct_seconds = time.perf_counter() - started
    return toolkit_seconds, direct_seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", help="a PostgreSQL URL to measure loading into")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        data = workdir / "orders"
        write_files(data, args.rows, args.files)
        results: dict[str, float] = {}
        results["floor (duckdb over the files)"] = statistics.median(timed(lambda: floor(workdir, data)) for _ in range(args.repeat))
        fulls, noops = [], []
        for attempt in range(args.repeat):
            root = project(workdir / f"file{attempt}", data)
            fulls.append(timed(lambda: toolkit_run(root)))
            noops.append(timed(lambda: toolkit_run(root)))
        results["run, file source"] = statistics.median(fulls)
        results["no-op, file source (stats)"] = statistics.median(noops)
        table_noops = []
        for attempt in range(args.repeat):
            root = project(workdir / f"table{attempt}", data, table_source=True)
            toolkit_run(root)
            table_noops.append(timed(lambda: toolkit_run(root)))
        results["no-op, table source (row hash)"] = statistics.median(table_noops)
        base = results["floor (duckdb over the files)"]
        print(f"\nfile sources: {args.rows:,} rows in {args.files} Parquet files\n")
        print(f"{'what':36} {'seconds':>9} {'x floor':>8}")
        for what, seconds in results.items():
            print(f"{what:36} {seconds:9.3f} {seconds / base:8.2f}")
        if args.postgres:
            toolkit_seconds, direct_seconds, rows = postgres_load(args.postgres, data, workdir)
            print(f"\npostgres load of {rows:,} rows: toolkit (Arrow batches of {100_000:,}) {toolkit_seconds:.2f} s, "
                  f"one ADBC ingest of the whole table {direct_seconds:.2f} s: {toolkit_seconds / direct_seconds:.2f}x")


if __name__ == "__main__":
    main()

"""PostgreSQL benchmark: toolkit's adapter against raw ADBC, and the demo on both engines.

    python tests/bench/bench_postgres.py [--url postgresql://postgres@127.0.0.1:5432/postgres] [--rows 2000000]

(a) Arrow out of and into PostgreSQL, `rows` rows of (bigint, double, text,
    timestamp): toolkit's PostgresEngine.fetch_arrow / read_batches /
    create_table_from_arrow against the same calls on a raw ADBC cursor
    (fetch_arrow_table, adbc_ingest), in the same run. Goal: ratio <= 1.2x.
(b) The demo project's full `toolkit run` (scale given by --scale) on embedded DuckDB
    and on PostgreSQL, in fresh databases, as wall time of the CLI.

Each figure is the median of --repeat runs. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]


def timed(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def admin(url: str, statement: str) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(statement)


def fresh_database(url: str) -> str:
    name = f"toolkit_bench_{uuid.uuid4().hex[:8]}"
    admin(url, f'CREATE DATABASE "{name}"')
    return name


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def sample(rows: int):
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pa.array(range(rows), pa.int64())
    return pa.table({
        "id": ids,
        "value": pc.divide(pc.cast(ids, pa.float64()), 7.0),
        "label": pc.cast(pc.bit_wise_and(ids, pa.scalar(1023, pa.int64())), pa.string()),
        "at": pc.cast(pc.multiply(ids, pa.scalar(1_000_000, pa.int64())), pa.timestamp("us")),
    })


def arrow_io(url: str, rows: int, repeat: int) -> list[tuple[str, float, float]]:
    import adbc_driver_postgresql.dbapi as adbc
    from sqlglot import exp

    from toolkit.config import Target
    from toolkit.engines import connect

    data = sample(rows)
    raw = adbc.connect(url, autocommit=True)
    engine = connect(Target("bench", "postgres", {"url": url}), REPO, 10)
    cursor = raw.cursor()
    cursor.execute("CREATE SCHEMA IF NOT EXISTS bench")

    def raw_write():
        cursor.execute("DROP TABLE IF EXISTS bench.raw_t")
        cursor.adbc_ingest("raw_t", data, mode="create", db_schema_name="bench")

    def toolkit_write():
        engine.drop(exp.table_("t", db="bench"))
        engine.create_table_from_arrow(exp.table_("t", db="bench"), data)

    def raw_read():
        cursor.execute("SELECT * FROM bench.t")
        assert cursor.fetch_arrow_table().num_rows == rows

    def toolkit_read():
        assert engine.fetch_arrow(exp.select("*").from_(exp.table_("t", db="bench"))).num_rows == rows

    def toolkit_stream():
        reader = engine.read_batches(exp.select("*").from_(exp.table_("t", db="bench")), 100_000)
        assert sum(batch.num_rows for batch in reader) == rows

    results = [
        ("write (create_table_from_arrow vs adbc_ingest)", timed(raw_write, repeat), timed(toolkit_write, repeat)),
        ("read (fetch_arrow vs fetch_arrow_table)", timed(raw_read, repeat), timed(toolkit_read, repeat)),
        ("read streamed (read_batches 100k vs fetch_arrow_table)", timed(raw_read, repeat), timed(toolkit_stream, repeat)),
    ]
    engine.close()
    cursor.close()
    raw.close()
    return results


def demo_runs(url: str, scale: str, repeat: int) -> list[tuple[str, float]]:
    toolkit = str(Path(sys.executable).with_name("toolkit"))
    results = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "shop"
        for relative in ("pyproject.toml", "features", "models", "warehouse/sources.toml", "warehouse/seeds", "warehouse/seeds.toml", "warehouse/generate.py"):
            source = REPO / relative
            if source.is_dir():
                shutil.copytree(source, root / relative, ignore=shutil.ignore_patterns("*.duckdb*", "__pycache__"))
            elif source.exists():
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, root / relative)
        for engine in ("duckdb", "postgres"):
            times = []
            for _ in range(repeat):
                env = dict(os.environ)
                database = None
                if engine == "postgres":
                    database = fresh_database(url)
                    env["TOOLKIT_PG_URL"] = with_database(url, database)
                    subprocess.run([sys.executable, "warehouse/generate.py", "--scale", scale, "--url", env["TOOLKIT_PG_URL"]], cwd=root, check=True, capture_output=True)
                else:
                    for leftover in (root / "warehouse").glob("shop.duckdb*"):
                        leftover.unlink()
                    subprocess.run([sys.executable, "warehouse/generate.py", "--scale", scale], cwd=root, check=True, capture_output=True)
                command = [toolkit, "run"] + (["--target", "pg"] if engine == "postgres" else [])
                started = time.perf_counter()
                done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
                times.append(time.perf_counter() - started)
                if done.returncode != 0:
                    print(done.stdout, done.stderr)
                if database:
                    admin(url, f'DROP DATABASE "{database}" WITH (FORCE)')
            results.append((engine, statistics.median(times)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("TOOLKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--scale", default="small", help="demo warehouse scale (generate.py --scale)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    print(f"load average {os.getloadavg()[0]:.2f}; {args.rows:,} rows; repeat {args.repeat} (median)")
    database = fresh_database(args.url)
    try:
        rows = arrow_io(with_database(args.url, database), args.rows, args.repeat)
    finally:
        admin(args.url, f'DROP DATABASE "{database}" WITH (FORCE)')
    print(f"\n{'Arrow I/O, PostgreSQL':58} {'raw ADBC s':>11} {'toolkit s':>10} {'ratio':>6}")
    for name, raw, ours in rows:
        print(f"{name:58} {raw:11.3f} {ours:10.3f} {ours / raw:5.2f}x")

    runs = demo_runs(args.url, args.scale, args.repeat)
    floor = runs[0][1]
    print(f"\n{'demo project, full toolkit run (scale ' + args.scale + ')':58} {'wall s':>11} {'vs DuckDB':>10}")
    for engine, seconds in runs:
        print(f"{engine:58} {seconds:11.2f} {seconds / floor:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

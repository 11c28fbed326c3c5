"""Apache Spark benchmark (issue 12): toolkit's SparkEngine against the same SparkSession used directly, and the demo on three engines.

    python tests/bench/bench_spark.py [--rows 2000000] [--repeat 3] [--skip-demo]
        [--url postgresql://postgres@127.0.0.1:5432/postgres] [--scale small] [--demo-repeat 1]

(a) Arrow into and out of embedded Spark (local[2], Hive metastore), `rows` rows of
    (bigint, double, text, timestamp): SparkEngine.create_table_from_arrow /
    fetch_arrow / read_batches against createDataFrame(arrow).write.saveAsTable and
    spark.table(...).toArrow() on the engine's own session, in the same run.
(b) toolkit's overhead: `toolkit run --target spark` in this process (so on the JVM of
    (a): SparkEngine keeps one session per (master, warehouse)) of a project of five
    feature steps over the table of (a), against the statements `toolkit compile`
    prints, run as DROP TABLE + CREATE TABLE ... AS through spark.sql() one after
    another. Full run (--full-refresh; toolkit builds up to 4 steps at once) and
    no-op run (nothing changed), both against the direct full run.
(c) The repository's demo (pyproject.toml [tool.toolkit], --scale) on DuckDB,
    PostgreSQL (a fresh database; skipped with the reason if unreachable) and Spark:
    full run, no-op run, and a run after one feature's constant changed, as wall time
    of the `toolkit` CLI in subprocesses on a fresh copy of the demo. Every Spark run
    is a new process that starts a JVM: that is what a user waits for.

Each figure is the median of --repeat runs ((c): --demo-repeat). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sqlglot import exp

REPO = Path(__file__).resolve().parents[2]
TOOLKIT = str(Path(sys.executable).with_name("toolkit"))

SOURCES = """\
[bench]
[bench.tables.t]
columns = { id = "bigint", value = "double", label = "varchar", at = "timestamp" }
"""

# Aggregations, a join that writes every row, a window, a join of two steps.
FEATURES = {
    "label_stats": """select label, count(*) as n, sum(value) as total, max(at) as last_at
from {{ source("bench", "t") }} group by label""",
    "daily": """select cast(at as date) as day, count(*) as n, avg(value) as mean_value
from {{ source("bench", "t") }} group by cast(at as date)""",
    "shares": """select t.id, t.label, t.value / s.total as share
from {{ source("bench", "t") }} as t join {{ ref("label_stats") }} as s on s.label = t.label""",
    "top_labels": """select label, n, total, rank() over (order by total desc) as position
from {{ ref("label_stats") }}""",
    "label_summary": """select l.label, l.position, count(*) as n, max(s.share) as max_share
from {{ ref("shares") }} as s join {{ ref("top_labels") }} as l on l.label = s.label
group by l.label, l.position""",
}

# One feature of the demo changed in a way its downstream steps and models see.
CHANGE = ("features/customer_engagement.sql", "(windows | max) + 1", "(windows | max) + 2")


def timed(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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


def table(rows: list[tuple[str, float, float]], title: str, baseline: str, ours: str) -> None:
    print(f"\n| {title} | {baseline} | {ours} | ratio |\n|---|---:|---:|---:|")
    for name, base, measured in rows:
        print(f"| {name} | {base:.2f} | {measured:.2f} | {measured / base:.2f}x |")


# -- (a) Arrow I/O ----------------------------------------------------------------------


def arrow_io(engine, rows: int, repeat: int) -> list[tuple[str, float, float]]:
    spark, data = engine._spark, sample(rows)
    ours, select = exp.table_("t", db="bench"), exp.select("*").from_(exp.table_("t", db="bench"))

    def direct_write():
        spark.sql("DROP TABLE IF EXISTS bench.direct_t")
        spark.createDataFrame(data).write.saveAsTable("bench.direct_t")

    def toolkit_write():
        engine.drop(ours)
        engine.create_table_from_arrow(ours, data)

    def direct_read():
        assert spark.table("bench.t").toArrow().num_rows == rows

    def toolkit_read():
        assert engine.fetch_arrow(select).num_rows == rows

    def toolkit_stream():
        assert sum(batch.num_rows for batch in engine.read_batches(select, 100_000)) == rows

    # A fresh JVM compiles its hot paths on first use: keep that out of both columns.
    for function in (direct_write, toolkit_write, direct_read, toolkit_read, toolkit_stream):
        function()
    return [
        ("write (create_table_from_arrow vs createDataFrame + saveAsTable)", timed(direct_write, repeat), timed(toolkit_write, repeat)),
        ("read (fetch_arrow vs spark.table().toArrow())", timed(direct_read, repeat), timed(toolkit_read, repeat)),
        ("read streamed (read_batches 100k vs toArrow())", timed(direct_read, repeat), timed(toolkit_stream, repeat)),
    ]


# -- (b) toolkit run against the same SQL on the same session ---------------------------


def run_here(root: Path, *args: str) -> str:
    """toolkit in this process (its Spark session is this process's); its output."""
    from toolkit.cli import main

    output, cwd, argv = io.StringIO(), os.getcwd(), sys.argv
    os.chdir(root)
    sys.argv = ["toolkit", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            main()
    except SystemExit as done:
        code = done.code or 0
    finally:
        os.chdir(cwd)
        sys.argv = argv
    if code != 0:
        raise SystemExit(f"toolkit {' '.join(args)} exited {code}:\n{output.getvalue()}")
    return output.getvalue()


def write_project(root: Path, warehouse: Path) -> None:
    (root / "features").mkdir(parents=True)
    (root / "warehouse").mkdir()
    (root / "toolkit.toml").write_text(
        f'name = "sparkbench"\ndialect = "duckdb"\ntarget = "spark"\n\n'
        f'[targets.spark]\nengine = "spark"\nmaster = "local[2]"\nwarehouse = "{warehouse}"\n'
    )
    (root / "warehouse" / "sources.toml").write_text(SOURCES)
    for name, sql in FEATURES.items():
        (root / "features" / f"{name}.sql").write_text(f'{{{{ config(materialized="table") }}}}\n{sql}\n')


def direct_statements(root: Path) -> list[str]:
    """`toolkit compile` of every step (dependency order) as CREATE TABLE direct.x AS, reading direct.*."""
    compiled = run_here(root, "compile", "--dialect", "spark")
    parts = re.split(r"^-- features/(\w+)\.sql$", compiled, flags=re.MULTILINE)[1:]
    statements = []
    for name, sql in zip(parts[::2], parts[1::2]):
        query = exp.maybe_parse(sql.strip().rstrip(";"), dialect="spark")
        for relation in query.find_all(exp.Table):
            if relation.db == "features":
                relation.set("db", exp.to_identifier("direct"))
        statements.append(f"DROP TABLE IF EXISTS direct.{name}")
        statements.append(exp.Create(this=exp.table_(name, db="direct"), kind="TABLE", expression=query).sql("spark"))
    return statements


def overhead(spark, warehouse: Path, repeat: int) -> list[tuple[str, float, float]]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        write_project(root, warehouse)
        statements = direct_statements(root)
        spark.sql("CREATE SCHEMA IF NOT EXISTS direct")

        def direct_run():
            for statement in statements:
                spark.sql(statement)

        # Untimed first rounds: the JVM's warm-up, and toolkit's one-time state setup.
        direct_run()
        run_here(root, "run", "--target", "spark")
        direct = timed(direct_run, repeat)
        full = timed(lambda: run_here(root, "run", "--target", "spark", "--full-refresh"), repeat)
        noop = timed(lambda: run_here(root, "run", "--target", "spark"), repeat)
    steps = len(FEATURES)
    return [(f"full run, {steps} steps (toolkit run --full-refresh vs spark.sql CTAS)", direct, full),
            ("no-op run (toolkit run, nothing changed) vs direct full run", direct, noop)]


# -- (c) the demo on DuckDB, PostgreSQL and Spark ----------------------------------------


def admin(url: str, statement: str) -> None:
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(statement)


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def copy_demo(root: Path) -> None:
    skip = shutil.ignore_patterns("*.duckdb*", "spark", "__pycache__")
    root.mkdir()
    for relative in ("pyproject.toml", "features", "models", "warehouse"):
        source = REPO / relative
        if source.is_dir():
            shutil.copytree(source, root / relative, ignore=skip)
        else:
            shutil.copy(source, root / relative)


def change_one_feature(root: Path) -> None:
    path, old, new = CHANGE
    text = (root / path).read_text()
    if old not in text:
        raise SystemExit(f"{path} no longer contains {old!r}: update CHANGE in {Path(__file__).name}")
    (root / path).write_text(text.replace(old, new, 1))


def cli(root: Path, env: dict, *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([TOOLKIT, *args], cwd=root, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"toolkit {' '.join(args)} exited {done.returncode} in {root}:\n{done.stdout}{done.stderr}")
    return seconds


def demo_once(engine: str, url: str, scale: str) -> tuple[float, float, float]:
    """Seconds of the full, the no-op and the one-change run on a fresh copy of the demo."""
    env, database = dict(os.environ), None
    generate = {"duckdb": [], "pg": ["--url", url], "spark": ["--spark", "warehouse/spark"]}[engine]
    if engine == "pg":
        database = f"toolkit_bench_{uuid.uuid4().hex[:8]}"
        admin(url, f'CREATE DATABASE "{database}"')
        env["TOOLKIT_PG_URL"] = generate[1] = with_database(url, database)
    target = [] if engine == "duckdb" else ["--target", engine]
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder) / "shop"
            copy_demo(root)
            subprocess.run([sys.executable, "warehouse/generate.py", "--scale", scale, *generate], cwd=root, check=True, capture_output=True)
            full, noop = cli(root, env, "run", *target), cli(root, env, "run", *target)
            change_one_feature(root)
            return full, noop, cli(root, env, "run", *target)
    finally:
        if database:
            admin(url, f'DROP DATABASE "{database}" WITH (FORCE)')


def demo_runs(url: str, scale: str, repeat: int) -> dict[str, tuple[float, float, float]]:
    engines = ["duckdb", "pg", "spark"]
    try:
        admin(url, "SELECT 1")
    except Exception as error:  # noqa: BLE001 - no driver, refused, bad URL: each means no PostgreSQL to compare
        print(f"\nPostgreSQL skipped: {url} unreachable ({str(error).splitlines()[0]})")
        engines.remove("pg")
    results = {}
    for engine in engines:
        runs = [demo_once(engine, url, scale) for _ in range(repeat)]
        results[engine] = tuple(statistics.median(column) for column in zip(*runs))
    return results


def print_demo(results: dict[str, tuple[float, float, float]], scale: str) -> None:
    floor = results["duckdb"]
    print(f"\n| demo, CLI wall s (scale {scale}) | full run | vs DuckDB | no-op run | vs DuckDB | one change | vs DuckDB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for engine, seconds in results.items():
        cells = " | ".join(f"{s:.2f} | {s / f:.2f}x" for s, f in zip(seconds, floor))
        print(f"| {engine} | {cells} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure of (a) and (b), median")
    parser.add_argument("--url", default=os.environ.get("TOOLKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--scale", default="small", help="demo warehouse scale (generate.py --scale)")
    parser.add_argument("--demo-repeat", type=int, default=1, help="runs per figure of (c), median")
    parser.add_argument("--skip-demo", action="store_true", help="skip (c)")
    args = parser.parse_args()

    from toolkit.config import Target
    from toolkit.engines import connect

    print(f"load average {os.getloadavg()[0]:.2f}; {args.rows:,} rows; repeat {args.repeat} (median)")
    with tempfile.TemporaryDirectory() as folder:
        warehouse = Path(folder) / "spark"
        engine = connect(Target("bench", "spark", {"warehouse": str(warehouse)}), Path(folder))
        engine.create_schema("bench")
        spark = engine._spark
        table(arrow_io(engine, args.rows, args.repeat), f"Arrow I/O, Spark local[2], {args.rows:,} rows", "direct s", "toolkit s")
        table(overhead(spark, warehouse, args.repeat), f"toolkit run vs spark.sql, {args.rows:,} source rows", "direct s", "toolkit s")
        engine.close()
        spark.stop()  # before its warehouse goes, and to leave (c)'s JVMs the machine
    if not args.skip_demo:
        print_demo(demo_runs(args.url, args.scale, args.demo_repeat), args.scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())

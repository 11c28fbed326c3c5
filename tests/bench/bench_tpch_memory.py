"""Peak memory and database file size of a TPC-H SF1 project: `toolkit run` against the
same statements run by one DuckDB script, each on a copy of the same source-only file.

    python tests/bench/bench_tpch_memory.py --data /tmp/tpch_sf1 [--threads 1,4] [--repeat 2]

--data holds the eight TPC-H tables as Parquet (customer.parquet ... supplier.parquet) and
queries.json (the 22 queries as [[number, text], ...]). DuckDB 2's Python wheel cannot
download the tpch extension here, so make them once with duckdb 1.5 and the extension
from PyPI (any scale factor; --data's name is only a label):

    python3 -m venv /tmp/venv-tpch && /tmp/venv-tpch/bin/pip install duckdb==1.5.5 duckdb-extension-tpch==1.5.5
    /tmp/venv-tpch/bin/python - <<'EOF'
    import duckdb, glob, json, os
    c = duckdb.connect(); c.sql(f"load '{glob.glob('/tmp/venv-tpch/lib/*/site-packages/duckdb_extension_tpch/extensions/*/bench.duckdb_extension')[0]}'")
    c.sql("call dbgen(sf=1)"); os.makedirs("/tmp/tpch_sf1", exist_ok=True)
    for (t,) in c.sql("show tables").fetchall(): c.sql(f"copy {t} to '/tmp/tpch_sf1/{t}.parquet' (format parquet)")
    json.dump(c.sql("select query_nr, query from tpch_queries()").fetchall(), open("/tmp/tpch_sf1/queries.json", "w"))
    EOF

The project: the eight tables are table sources in schema tpch of the DuckDB file (loaded
from the Parquet files once; every run starts from a copy of that file), 22 steps
`q01..q22` (each query as a table; table names become source() calls, rewritten by
sqlglot) and one wide step `lineitem_wide` (lineitem joined to orders, customer and
nation: every row of lineitem, 20 columns), what a feature-preparation step looks like.
The direct script runs `CREATE TABLE features.<step> AS <the same query>` for each in one
connection, then closes it (checkpoint). Both run as subprocesses under /usr/bin/time:
peak RSS is the child's maximum resident set (-f %M); file size is the DuckDB file plus
its write-ahead log after the process ended. toolkit's state tables and views are in its
file too. Nothing is asserted; a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TABLES = ["customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"]
WIDE = """
select l.*, o.o_orderdate, o.o_orderpriority, o.o_totalprice, c.c_custkey, c.c_mktsegment, c.c_acctbal, n.n_name
from lineitem as l
join orders as o on l.l_orderkey = o.o_orderkey
join customer as c on o.o_custkey = c.c_custkey
join nation as n on c.c_nationkey = n.n_nationkey
"""

DIRECT = """
import sys, json, duckdb
database, statements = sys.argv[1], json.load(open(sys.argv[2]))
connection = duckdb.connect(database)
connection.execute("create schema if not exists features")
for statement in statements:
    connection.execute(statement)
connection.close()
"""


def steps(data: Path) -> dict[str, str]:
    """step name -> query text (plain table names)."""
    queries = {f"q{number:02d}": text.strip().rstrip(";") for number, text in json.loads((data / "queries.json").read_text())}
    return {**queries, "lineitem_wide": WIDE.strip()}


def with_tables(query: str, render) -> str:
    """The query with every TPC-H table (not a CTE of the same name) replaced by render(name)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(query, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        if table.name in TABLES and table.name not in ctes and not table.db:
            replacement = exp.to_table(render(table.name))
            replacement.set("alias", table.args.get("alias"))
            table.replace(replacement)
    return tree.sql(dialect="duckdb", pretty=True)


def make_source_file(data: Path, path: Path) -> None:
    import duckdb

    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema tpch")
        for table in TABLES:
            parquet = str(data / f"{table}.parquet").replace("'", "''")
            connection.execute(f"create table tpch.{table} as select * from read_parquet('{parquet}')")


def write_project(root: Path, source_file: Path, queries: dict[str, str]) -> None:
    (root / "features").mkdir(parents=True)
    (root / "warehouse").mkdir()
    shutil.copy(source_file, root / "warehouse" / "bench.duckdb")
    (root / "toolkit.toml").write_text(
        'name = "tpch"\ndialect = "duckdb"\ntarget = "local"\n\n[targets.local]\nengine = "duckdb"\npath = "warehouse/bench.duckdb"\n'
    )
    (root / "warehouse" / "sources.toml").write_text('[tpch]\nschema = "tpch"\n' + "".join(f"\n[tpch.tables.{t}]\n" for t in TABLES))
    for name, query in queries.items():
        placeholder = "__toolkit_bench_source_{}__"
        text = with_tables(query, placeholder.format)
        for table in TABLES:
            text = text.replace(placeholder.format(table), '{{ source("tpch", "%s") }}' % table)
        (root / "features" / f"{name}.sql").write_text(text + "\n")


def timed(command: list[str], cwd: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS in MB) of a child process, from /usr/bin/time."""
    report = cwd / "time.txt"
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-o", str(report), "-f", "%M", *command], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{command[0]} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds, int(report.read_text().split()[-1]) // 1024


def file_mb(path: Path) -> float:
    wal = Path(str(path) + ".wal")
    return (path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) / 2**20


def run_direct(folder: Path, source_file: Path, queries: dict[str, str]) -> tuple[float, int, float]:
    work = folder / "direct"
    work.mkdir()
    database = work / "bench.duckdb"
    shutil.copy(source_file, database)
    statements = [f"create table features.{name} as {with_tables(q, lambda t: f'tpch.{t}')}" for name, q in queries.items()]
    (work / "statements.json").write_text(json.dumps(statements))
    seconds, peak = timed([sys.executable, "-c", DIRECT, str(database), str(work / "statements.json")], work)
    return seconds, peak, file_mb(database)


def run_toolkit(folder: Path, source_file: Path, queries: dict[str, str], threads: int, name: str) -> tuple[float, int, float]:
    root = folder / name
    write_project(root, source_file, queries)
    toolkit = str(Path(sys.executable).parent / "toolkit")
    seconds, peak = timed([toolkit, "run", "--threads", str(threads)], root)
    return seconds, peak, file_mb(root / "warehouse" / "bench.duckdb")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with the TPC-H Parquet files and queries.json")
    parser.add_argument("--threads", default="1,4", help="toolkit run --threads values (default 1,4)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement, median (default 2)")
    options = parser.parse_args()
    import duckdb

    queries = steps(options.data)
    print(f"machine: {os.cpu_count()} cpus, duckdb {duckdb.__version__}, load average {os.getloadavg()[0]:.2f}; data {options.data}")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        source_file = folder / "source.duckdb"
        make_source_file(options.data, source_file)
        print(f"source-only file: {file_mb(source_file):.0f} MB; {len(queries)} steps")
        rows = {}
        for attempt in range(options.repeat):
            (folder / f"a{attempt}").mkdir()
            samples = {"direct script": run_direct(folder / f"a{attempt}", source_file, queries)}
            for threads in [int(t) for t in options.threads.split(",")]:
                samples[f"toolkit run --threads {threads}"] = run_toolkit(folder / f"a{attempt}", source_file, queries, threads, f"t{threads}")
            for label, sample in samples.items():
                rows.setdefault(label, []).append(sample)
            shutil.rmtree(folder / f"a{attempt}")
        base = [statistics.median(s[i] for s in rows["direct script"]) for i in range(3)]
        print(f"\n{'run (median of %d)' % options.repeat:<28} {'wall s':>7} {'peak RSS MB':>12} {'ratio':>6} {'file MB':>8} {'ratio':>6}")
        for label, samples in rows.items():
            seconds, peak, size = (statistics.median(s[i] for s in samples) for i in range(3))
            print(f"{label:<28} {seconds:>7.2f} {peak:>12.0f} {peak / base[1]:>5.2f}x {size:>8.0f} {size / base[2]:>5.2f}x")
        print(f"\nload average at the end {os.getloadavg()[0]:.2f}; samples (wall s, peak MB, file MB): {json.dumps(rows)}")


if __name__ == "__main__":
    main()

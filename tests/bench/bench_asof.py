"""Benchmark as_of_join: the macro's compiled SQL against a hand-written point-in-time join.

    python tests/bench/bench_asof.py [--spine 1000000] [--events 10000000] [--repeat 3]
                                     [--pg-url URL] [--pg-spine 100000] [--pg-events 1000000]

The SQL measured for the macro is what toolkit runs: a one-step project
(`select ... from {{ as_of_join(source('bench', 'spine'), 'snapshot_date',
source('bench', 'events'), 'event_ts', by='customer_id') }}`) is compiled and its tree
generated for the engine (`sql.to_target`, so PostgreSQL gets the rewrite of
toolkit/asof.py). Each statement is `CREATE TABLE ... AS` of the join, timed in the
same connection, alternating with the baseline, median of --repeat.

  DuckDB      macro (native ASOF LEFT JOIN)  vs  hand-written ASOF LEFT JOIN
              (goal: within 1.1x)
  PostgreSQL  macro (window rewrite)  vs  hand-written LEFT JOIN LATERAL (... ORDER BY
              event_ts DESC LIMIT 1) ON TRUE, with an index on events (customer_id,
              event_ts), LATERAL's best case (the index build is shown apart); and,
              at a tenth of the size, the same LATERAL without an index (toolkit
              creates no indexes), which scans the events once per spine row.

The data: `--events` events over spine/10 customers with event times unique per
customer (so every engine must return the very same rows: checked by count and sum);
`--spine` snapshots spread over a year. PostgreSQL runs when --pg-url or
TOOLKIT_TEST_POSTGRES_URL is set, in a schema bench_asof that is dropped afterwards.
Nothing is asserted; the table is printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SELECT = "s.customer_id, s.snapshot_date, e.amount, e.event_ts"
HAND_ASOF = (f"select {SELECT} from bench.spine as s asof left join bench.events as e "
             "on s.customer_id = e.customer_id and s.snapshot_date >= e.event_ts")
HAND_LATERAL = (f"select {SELECT} from bench.spine as s left join lateral (select * from bench.events as e "
                "where e.customer_id = s.customer_id and e.event_ts <= s.snapshot_date "
                "order by e.event_ts desc limit 1) as e on true")


def macro_sql(dialect: str) -> str:
    """The step's SQL as toolkit generates it for `dialect`."""
    from toolkit import sql
    from toolkit.compiler import compile_project

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "features").mkdir()
        (root / "warehouse").mkdir()
        (root / "toolkit.toml").write_text('name = "bench"\ndialect = "duckdb"\ntarget = "dev"\n'
                                          '[targets.dev]\nengine = "duckdb"\npath = "warehouse/b.duckdb"\n')
        (root / "warehouse" / "sources.toml").write_text(
            '[bench]\n[bench.tables.spine]\ncolumns = { customer_id = "integer", snapshot_date = "date" }\n'
            '[bench.tables.events]\ncolumns = { customer_id = "integer", event_ts = "timestamp", amount = "bigint" }\n')
        (root / "features" / "pit.sql").write_text(
            f"select {SELECT}\nfrom {{{{ as_of_join(source('bench', 'spine'), 'snapshot_date', "
            "source('bench', 'events'), 'event_ts', by='customer_id') }}\n")
        compiled = compile_project(root)
        return sql.to_target(compiled.steps["pit"].tree, compiled.dialect, dialect)


def data_sql(spine: int, events: int) -> list[str]:
    """The same tables on DuckDB and PostgreSQL."""
    customers = max(spine // 10, 1)
    return [
        "create schema bench",
        f"create table bench.events as select (i::bigint % {customers})::integer as customer_id, "
        f"timestamp '2024-01-01' + floor(i::bigint / {customers})::integer * interval '3 days' + (i::bigint % 997)::integer * interval '1 second' as event_ts, "
        f"i::bigint as amount from generate_series(0, {events - 1}) as g(i)",
        f"create table bench.spine as select ((i::bigint * 7919) % {customers})::integer as customer_id, "
        f"date '2024-01-01' + (i::bigint % 366)::integer as snapshot_date from generate_series(0, {spine - 1}) as g(i)",
    ]


def timed(run, statement: str) -> float:
    run("drop table if exists bench.out")
    started = time.perf_counter()
    run(f"create table bench.out as {statement}")
    return time.perf_counter() - started


def compare(run, fetch, cases: dict[str, str], repeat: int) -> dict[str, float]:
    """Median seconds per case (alternating), after checking all cases give the same rows."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    checks = {}
    for _ in range(repeat):
        for name, statement in cases.items():
            times[name].append(timed(run, statement))
            checks[name] = fetch("select count(*), sum(amount), count(amount) from bench.out")
    if len(set(map(tuple, checks.values()))) != 1:
        raise SystemExit(f"the cases disagree: {checks}")
    return {name: statistics.median(values) for name, values in times.items()}


def duckdb_rows(spine: int, events: int, repeat: int) -> list[tuple]:
    import duckdb

    macro = macro_sql("duckdb")
    with tempfile.TemporaryDirectory() as folder, duckdb.connect(str(Path(folder) / "asof.duckdb")) as con:
        for statement in data_sql(spine, events):
            con.execute(statement)
        medians = compare(con.execute, lambda q: con.execute(q).fetchone(), {"hand": HAND_ASOF, "macro": macro}, repeat)
    size = f"{spine:,} x {events:,}"
    return [("duckdb", size, "hand-written ASOF LEFT JOIN", medians["hand"], 1.0),
            ("duckdb", size, "as_of_join (native ASOF)", medians["macro"], medians["macro"] / medians["hand"])]


def postgres_rows(url: str, spine: int, events: int, repeat: int) -> list[tuple]:
    import adbc_driver_postgresql.dbapi as adbc

    macro = macro_sql("postgres")
    rows = []
    with adbc.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
        def run(statement: str) -> None:
            cursor.execute(statement)

        def fetch(statement: str):
            cursor.execute(statement)
            return cursor.fetchone()

        def load(n_spine: int, n_events: int) -> None:
            run("drop schema if exists bench cascade")
            for statement in data_sql(n_spine, n_events):
                run(statement)
            run("analyze bench.events")
            run("analyze bench.spine")

        try:
            small_spine, small_events = max(spine // 10, 10), max(events // 10, 100)
            load(small_spine, small_events)
            small = compare(run, fetch, {"lateral": HAND_LATERAL, "macro": macro}, 1)
            size = f"{small_spine:,} x {small_events:,}"
            rows += [("postgres", size, "hand-written LATERAL, no index", small["lateral"], 1.0),
                     ("postgres", size, "as_of_join (window rewrite)", small["macro"], small["macro"] / small["lateral"])]
            load(spine, events)
            started = time.perf_counter()
            run("create index on bench.events (customer_id, event_ts)")
            index = time.perf_counter() - started
            run("analyze bench.events")
            medians = compare(run, fetch, {"lateral": HAND_LATERAL, "macro": macro}, repeat)
            size = f"{spine:,} x {events:,}"
            rows += [("postgres", size, "hand-written LATERAL, with index", medians["lateral"], 1.0),
                     ("postgres", size, "  (building that index)", index, index / medians["lateral"]),
                     ("postgres", size, "as_of_join (window rewrite)", medians["macro"], medians["macro"] / medians["lateral"])]
        finally:
            run("drop schema if exists bench cascade")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spine", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-url", default=os.environ.get("TOOLKIT_TEST_POSTGRES_URL"))
    parser.add_argument("--pg-spine", type=int, default=100_000)
    parser.add_argument("--pg-events", type=int, default=1_000_000)
    options = parser.parse_args()
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; median of {options.repeat}", flush=True)
    rows = duckdb_rows(options.spine, options.events, options.repeat)
    if options.pg_url:
        rows += postgres_rows(options.pg_url, options.pg_spine, options.pg_events, options.repeat)
    else:
        print("PostgreSQL skipped: pass --pg-url or set TOOLKIT_TEST_POSTGRES_URL")
    header = ("engine", "spine x events", "join", "seconds", "ratio")
    cells = [header] + [(e, s, j, f"{t:.3f}", f"{r:.2f}x") for e, s, j, t, r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print()
    for n, row in enumerate(cells):
        print(" | ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("-|-".join("-" * w for w in widths))
    print("\nratio: against the hand-written join above it (same engine, same size, same run)")


if __name__ == "__main__":
    main()

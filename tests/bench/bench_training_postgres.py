"""The training read in key order on PostgreSQL, against the same rows read plainly.

    TOOLKIT_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        python tests/bench/bench_training_postgres.py [--rows 5000000] [--repeat 3]

Two tables of --rows rows (bigint id + 8 doubles + a label): one stored in key order,
one shuffled. For each: the plain read (engine.read_batches, ADBC's COPY, no ORDER
BY), toolkit's training read (training._read_in_key_order: the stored order when the
keys increase, else an ORDER BY read), and the ORDER BY read alone; medians of
--repeat, as ratios to the plain read of the same table in the same run. The tables
live in a schema made for the run and dropped after it. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlglot import exp

from toolkit.config import Target
from toolkit.engines import connect
from toolkit.training import _read_in_key_order

SCHEMA = "bench_training_read"


def median_seconds(read, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        read()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    url = os.environ.get("TOOLKIT_TEST_POSTGRES_URL")
    if not url:
        sys.exit("set TOOLKIT_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    engine = connect(Target("bench", "postgres", {"url": url}), Path(tempfile.mkdtemp()), 5)
    try:
        engine.execute(f"drop schema if exists {SCHEMA} cascade")
        engine.create_schema(SCHEMA)
        columns = ", ".join(f"random() as x{i}" for i in range(8))
        engine.execute(f"create table {SCHEMA}.stored_in_order as select g::bigint as id, {columns}, (g % 2)::int as label "
                       f"from generate_series(1, {int(options.rows)}) g order by g")
        engine.execute(f"create table {SCHEMA}.shuffled as select * from {SCHEMA}.stored_in_order order by random()")
        print(f"PostgreSQL, {options.rows:,} rows x 10 columns, median of {options.repeat}")
        print("| table | plain read | toolkit's key-order read | ORDER BY read |")
        print("|---|---|---|---|")
        for name in ("stored_in_order", "shuffled"):
            query = exp.select("*").from_(exp.table_(name, db=SCHEMA))
            plain = median_seconds(lambda: engine.read_batches(query).read_all(), options.repeat)
            toolkit = median_seconds(lambda: _read_in_key_order(engine, query, ["id"], ["bigint"]), options.repeat)
            ordered = median_seconds(lambda: engine.read_batches(query.order_by("id")).read_all(), options.repeat)
            print(f"| {name} | {plain:.2f} s | {toolkit:.2f} s ({toolkit / plain:.2f}x) | {ordered:.2f} s ({ordered / plain:.2f}x) |")
    finally:
        engine.execute(f"drop schema if exists {SCHEMA} cascade")
        engine.close()


if __name__ == "__main__":
    main()

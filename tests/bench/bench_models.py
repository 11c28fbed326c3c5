"""Model I/O benchmark: Arrow in and out of the warehouse, and bounded-memory scoring.

    python tests/bench/bench_models.py [--rows 5000000] [--score-rows 20000000]

(a) reading a training table into Arrow through toolkit (training.read_training) and
    writing predictions back (engine.create_table_from_arrow), each as a ratio to
    DuckDB's own Arrow export/import of the same data in the same run;
(b) the Python scoring path (scoring.score) over N rows, each size in a fresh
    process, with its peak RSS before scoring (the process made the table and
    trained) and after: memory should not grow with the row count.
The training read returns rows in key order (a reproducible row order for fitting):
a table stored in key order is read as stored, any other is sorted by an ORDER BY,
which DuckDB's plain export does not do; both are measured. (c) a training table built
from a shuffled source as toolkit builds one a model reads (in key order,
materializations/table.py) against a plain CREATE TABLE AS: the build, the training
read after it, and both, each against DuckDB's plain CREATE TABLE AS and export.
Nothing is asserted; the figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FEATURES = [f"x{i}" for i in range(8)]


def make_table(path: str, rows: int) -> None:
    import duckdb

    columns = ", ".join(f"((hash(range * {i + 3}) % 1000) / 100.0)::double as {name}" for i, name in enumerate(FEATURES))
    with duckdb.connect(path) as connection:
        connection.execute(
            f"create or replace table events as select range as id, {columns}, "
            f"(hash(range) % 2)::integer as label from range({rows})"
        )


def engine_for(path: str):
    from toolkit.config import Target
    from toolkit.engines.duckdb import DuckDBEngine

    engine = DuckDBEngine(Target("bench", "duckdb", {"path": path}), Path(path).parent)
    engine.open(10)
    return engine


def spec():
    from sklearn.linear_model import LogisticRegression

    from toolkit.models import ModelSpec

    return ModelSpec(name="bench", build=LogisticRegression, training="events", label="label", key=["id"])


def median_seconds(action, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def io_ratios(path: str, rows: int) -> list[tuple[str, float, float]]:
    """(operation, DuckDB's own s, toolkit's s), medians of 5. The training read is
    measured on the table as made (stored in key order) and on a copy stored shuffled,
    each against DuckDB's plain export of the same table (no ORDER BY)."""
    import duckdb
    from sqlglot import exp

    from toolkit import training

    with duckdb.connect(path) as connection:
        connection.execute("create or replace table shuffled as select * from events order by hash(id)")
    figures = []
    model_spec = spec()  # imports scikit-learn: not part of the measurement
    for table, stored in (("events", "in key order"), ("shuffled", "shuffled")):
        select = f"select id, label, {', '.join(FEATURES)} from {table}"
        with duckdb.connect(path) as connection:
            read_floor = median_seconds(lambda: connection.sql(select).to_arrow_table())
            sorted_floor = median_seconds(lambda: connection.sql(select + " order by id").to_arrow_table())
        engine = engine_for(path)
        try:
            data = training.read_training(engine, exp.table_(table, db="main"), model_spec)
            assert data.num_rows == rows
            read_toolkit = median_seconds(lambda: training.read_training(engine, exp.table_(table, db="main"), model_spec))
        finally:
            engine.close()
        figures.append((f"training read, stored {stored}", read_floor, read_toolkit))
        figures.append(("  (DuckDB's own ORDER BY export)", read_floor, sorted_floor))
    with duckdb.connect(path) as connection:
        direct = connection.sql("select * from events").to_arrow_table()

        def write_direct():
            connection.register("incoming", direct)
            connection.execute("create or replace table direct_copy as select * from incoming")
            connection.unregister("incoming")

        write_floor = median_seconds(write_direct)
    engine = engine_for(path)
    try:
        def write_toolkit():
            engine.drop(exp.table_("toolkit_copy", db="main"))
            engine.create_table_from_arrow(exp.table_("toolkit_copy", db="main"), direct)

        write_seconds = median_seconds(write_toolkit)
    finally:
        engine.close()
    return [*figures, ("write Arrow -> table", write_floor, write_seconds)]


def build_then_read(path: str, rows: int) -> list[tuple[str, float, float]]:
    """(operation, DuckDB's own s, toolkit's s), medians of 5: a model's training table
    built from a shuffled source, then read for a fit. DuckDB's own: a plain CREATE TABLE
    AS, then a plain export (no order); each training read against DuckDB's plain export
    of the same (sorted) table. toolkit's: the table materialization's CREATE TABLE AS
    (sorted by the key a model reads it by), then training.read_training."""
    from types import SimpleNamespace

    import duckdb
    from sqlglot import exp

    from toolkit import training
    from toolkit.materializations.table import Table

    select = f"select id, label, {', '.join(FEATURES)} from shuffled"
    built, plain = exp.table_("built", db="main"), "create or replace table plain as " + select
    model_spec = spec()
    with duckdb.connect(path) as connection:
        build_floor = median_seconds(lambda: connection.execute(plain))
        read_floor = median_seconds(lambda: connection.sql("select * from plain").to_arrow_table())
    engine = engine_for(path)
    ctx = SimpleNamespace(engine=engine, compiled=SimpleNamespace(project=SimpleNamespace(models={"bench": model_spec})))
    try:
        def build():
            engine.drop(built)
            Table().create(ctx, SimpleNamespace(name="events"), built, exp.maybe_parse(select, dialect="duckdb"))

        build_toolkit = median_seconds(build)
        read_toolkit = median_seconds(lambda: training.read_training(engine, built, model_spec))
        read_unsorted = median_seconds(lambda: training.read_training(engine, exp.table_("plain", db="main"), model_spec))
        assert training.read_training(engine, built, model_spec).column("id").to_pylist() == list(range(rows))
    finally:
        engine.close()
    with duckdb.connect(path) as connection:
        built_floor = median_seconds(lambda: connection.sql("select * from built").to_arrow_table())
    return [
        ("build from a shuffled source", build_floor, build_toolkit),
        ("  then each training read", built_floor, read_toolkit),
        ("  build + one training read", build_floor + read_floor, build_toolkit + read_toolkit),
        ("  (before: built as the query gave it)", build_floor + read_floor, build_floor + read_unsorted),
    ]


def score_in_process(path: str, rows: int) -> None:
    """Runs in a child process: train on 50k rows, score `rows` rows, print JSON."""
    import resource

    import numpy as np
    from sqlglot import exp

    from toolkit import scoring, training

    make_table(path, rows)
    engine = engine_for(path)
    try:
        model_spec = spec()
        sample = engine.read_batches(f"select {', '.join(FEATURES)}, label from events limit 50000").read_all()
        estimator = model_spec.build().fit(training.to_frame(sample, FEATURES), np.asarray(sample.column("label")))
        features = [{"name": name, "type": "double"} for name in FEATURES]
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        report = scoring.score(engine, estimator, model_spec, features, exp.table_("events", db="main"), exp.table_("scores", db="main"), 1, 1)
        seconds = time.perf_counter() - started
    finally:
        engine.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": report.rows, "seconds": seconds, "peak_mb": peak / 1024, "before_mb": baseline / 1024}))


def score_child(rows: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [sys.executable, __file__, "--child-score", str(rows), "--path", os.path.join(folder, "s.duckdb")],
            capture_output=True, text=True, check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--score-rows", type=str, default="5000000,20000000")
    parser.add_argument("--child-score", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child_score:
        score_in_process(options.path, options.child_score)
        return
    import duckdb

    print(f"machine: {os.cpu_count()} cpus, duckdb {duckdb.__version__}, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "io.duckdb")
        make_table(path, options.rows)
        print(f"\n(a) Arrow I/O, {options.rows:,} rows x {len(FEATURES) + 2} columns")
        print(f"{'operation (median of 5)':<36} {'duckdb s':>9} {'toolkit s':>10} {'ratio':>7}")
        for name, floor, ours in io_ratios(path, options.rows):
            print(f"{name:<36} {floor:>9.3f} {ours:>10.3f} {ours / floor:>6.2f}x")
        print(f"\n(c) a training table built by toolkit, {options.rows:,} rows")
        print(f"{'operation (median of 5)':<36} {'duckdb s':>9} {'toolkit s':>10} {'ratio':>7}")
        for name, floor, ours in build_then_read(path, options.rows):
            print(f"{name:<36} {floor:>9.3f} {ours:>10.3f} {ours / floor:>6.2f}x")
    print("\n(b) Python-path scoring (LogisticRegression, batches of 100,000), one process per size")
    print(f"{'rows':>12} {'seconds':>8} {'rows/s':>12} {'RSS before MB':>14} {'peak RSS MB':>12}")
    for rows in [int(r) for r in options.score_rows.split(",") if r]:  # --score-rows "": only (a)
        result = score_child(rows)
        print(f"{result['rows']:>12,} {result['seconds']:>8.2f} {result['rows'] / result['seconds']:>12,.0f} {result['before_mb']:>14.0f} {result['peak_mb']:>12.0f}")


if __name__ == "__main__":
    main()

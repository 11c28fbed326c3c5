"""Monitoring cost on DuckDB: a drift computation (one query) against plain scans.

    python tests/bench/bench_monitoring.py                 # 1M rows x 20 features
    python tests/bench/bench_monitoring.py --rows 10000000
    python tests/bench/bench_monitoring.py --postgres postgresql://postgres@127.0.0.1:5432/bench

Features: 15 numeric (normal, 5% NULLs) and 5 categorical (50 values, top 20 kept).
Compared with `SELECT count(*)` (reads nothing but the row count), a scan that
reads every feature column (count of each), CREATE TABLE AS of the table (the
cost of writing a scoring result of that size), and scoring itself: a logistic
regression pipeline (imputer, scaler, one-hot) fitted on 20k rows, compiled to SQL
and run as CREATE TABLE AS over the scoring table, against what monitoring adds to
that scoring run (watch.py: skew and drift of the scoring table, drift of the
predictions and their skew against the version's held-out predictions: 4 passes,
4 queries). Median of --repeat runs; prints seconds and the
ratio to each floor. Asserts nothing.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from toolkit import monitoring  # noqa: E402
from toolkit.config import Target  # noqa: E402
from toolkit.engines import connect  # noqa: E402

NUMERIC, CATEGORICAL = 15, 5


def table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True), db=exp.to_identifier("bench", quoted=True))


def create(engine, name: str, rows: int, shift: float, series: str) -> None:
    columns = ["i AS \"id\""] + [
        f"CASE WHEN random() < 0.05 THEN NULL ELSE {shift} + i % 1000 / 10.0 + random() * {j + 1} END AS \"Num{j}\""
        for j in range(NUMERIC)
    ] + [f"'v' || CAST(floor(random() * random() * 50) AS INTEGER) AS \"Cat{j}\"" for j in range(CATEGORICAL)]
    engine.execute(f'CREATE TABLE "bench"."{name}" AS SELECT {", ".join(columns)} FROM {series} AS r(i)')


def timed(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database instead of DuckDB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as root:
        bench(args, Path(root))


def bench(args, root: Path) -> None:
    if args.postgres:
        target, series = Target("bench", "postgres", {"url": args.postgres}), f"generate_series(0, {args.rows - 1})"
    else:
        target, series = Target("bench", "duckdb", {"path": "bench.duckdb"}), f"range({args.rows})"
    engine = connect(target, root, 5.0)
    if args.postgres:
        engine.execute('DROP SCHEMA IF EXISTS "bench" CASCADE')
    engine.create_schema("bench")
    create(engine, "train", args.rows, 0.0, series)
    create(engine, "scoring", args.rows, 5.0, series)
    if args.postgres:
        engine.execute('ANALYZE "bench"."scoring"')
    features = [(f"Num{j}", "numeric") for j in range(NUMERIC)] + [(f"Cat{j}", "categorical") for j in range(CATEGORICAL)]
    scoring = table("scoring")

    start = time.perf_counter()
    baseline = monitoring.profile(engine, table("train"), features)
    profile_seconds = time.perf_counter() - start

    copies = iter(range(10_000))

    def ctas():
        target = table(f"copy{next(copies)}")
        engine.execute(exp.Create(this=target, kind="TABLE", expression=exp.select("*").from_(scoring)))
        engine.drop(target)

    every_column = exp.select(*(exp.Count(this=exp.column(name, quoted=True)) for name, _ in features)).from_(scoring)
    results = {
        "SELECT count(*)": timed(lambda: engine.fetch_rows(exp.select("count(*)").from_(scoring)), args.repeat),
        "scan of the 20 feature columns": timed(lambda: engine.fetch_rows(every_column), args.repeat),
        "CREATE TABLE AS SELECT *": timed(ctas, args.repeat),
        "drift (1 query)": timed(lambda: monitoring.drift(engine, scoring, baseline), args.repeat),
    }
    scoring_seconds, monitoring_seconds = scoring_run(engine, features, args.repeat, copies)
    drift = results["drift (1 query)"]
    print(f"{target.engine} {args.rows:,} rows x {len(features)} features, load {os.getloadavg()[0]:.1f}, median of {args.repeat}")
    print(f"{'what':34} {'seconds':>8} {'drift / this':>13}")
    for what, seconds in results.items():
        print(f"{what:34} {seconds:8.3f} {drift / seconds:13.2f}")
    print(f"{'profile of train (2 queries, once)':34} {profile_seconds:8.3f}")
    print(f"{'scoring: compiled logistic CTAS':34} {scoring_seconds:8.3f}")
    print(f"{'monitoring of that run (4 queries)':34} {monitoring_seconds:8.3f}   monitoring / scoring {monitoring_seconds / scoring_seconds:.2f}")
    if args.postgres:
        engine.execute('DROP SCHEMA "bench" CASCADE')
    engine.close()


def scoring_run(engine, features, repeat: int, copies) -> tuple[float, float]:
    """Seconds of compiled-SQL scoring of the scoring table, and of monitoring that run."""
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from toolkit.mlcore import Feature
    from toolkit.models import ModelSpec
    from toolkit.monitoring import watch
    from toolkit.scoring import compiled_scores

    numeric = [name for name, family in features if family == "numeric"]
    categorical = [name for name, family in features if family == "categorical"]
    sample = engine.fetch_arrow(exp.select("*").from_(table("train")).limit(20_000)).to_pandas()
    label = (sample["Num0"].fillna(0) > 50).astype(int)
    estimator = make_pipeline(
        make_column_transformer(
            (make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            (OneHotEncoder(handle_unknown="ignore"), categorical),
        ),
        LogisticRegression(max_iter=300),
    ).fit(sample[numeric + categorical], label)
    typed = [Feature(name, "double") for name in numeric] + [Feature(name, "string") for name in categorical]
    spec = ModelSpec(name="bench", build=lambda: None, training="train", label="y", key=["id"])
    select = compiled_scores(estimator, spec, typed, table("scoring"), engine)
    predictions = table("predictions")

    def score():
        engine.drop(predictions)
        engine.execute(exp.Create(this=predictions, kind="TABLE", expression=select.copy()))

    scoring_seconds = timed(score, repeat)
    watch.ensure(engine)

    def monitor():
        watch.watch(engine, engine, model="bench", version=1, features=typed, training=table("train"),
                    scoring=table("scoring"), predictions=predictions, run_id=next(copies), thresholds=None)

    # the version's predictions on its held-out rows, profiled when it was trained (here: 20k
    # of its predictions, which have the same columns)
    held_out = engine.fetch_arrow(exp.select("*").from_(predictions).limit(20_000))
    watch.record_held_out(engine, engine, model="bench", version=1, predictions=held_out, scratch=table("held_out"), run_id=0)
    monitor()  # the version's first scoring run takes its baselines; later runs only compare
    return scoring_seconds, timed(monitor, repeat)


if __name__ == "__main__":
    main()

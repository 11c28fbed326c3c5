"""Scoring inside the warehouse (one compiled SELECT) against the Python path.

    python tests/bench/bench_scoring_sql.py [--rows 1000000] [--engines duckdb,postgres]
        [--url postgresql://postgres@127.0.0.1:5432/test] [--models linear,tree,gb,hgb]
        [--pg-set jit_optimize_above_cost=-1 ...]

Models, fitted on --fit-rows rows of a generated table (6 numbers with NULLs, 2
strings with NULLs): `linear` (SimpleImputer + StandardScaler, OneHotEncoder,
LogisticRegression), `tree` (DecisionTreeClassifier, depth 6), `gb` (imputed,
GradientBoostingClassifier, 100 trees of depth 3), `hgb`
(HistGradientBoostingClassifier, 100 iterations of up to 31 leaves), `rf` (not in
the default list: RandomForestClassifier, 100 trees of depth 8).

For each engine (DuckDB in memory; PostgreSQL in a schema of its own, dropped at
the end):
- sql: `CREATE TABLE ... AS <compile_model(...)>`, timed inside the engine; the
  compile (Python) and SQL text generation are reported apart, with the SQL size;
- python: read the features as Arrow from the engine in batches of 100k rows,
  predict / predict_proba with scikit-learn per batch, write the scores back as a
  table through Arrow (DuckDB: register + CREATE TABLE; PostgreSQL: adbc_ingest).
Both tables are then compared inside the engine (outside the timings): the largest
probability difference and the number of differing labels. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

NUMBERS = [f"x{i}" for i in range(6)]
STRINGS = ["s0", "s1"]
BATCH = 100_000
SCHEMA = f"bench_scoring_{uuid.uuid4().hex[:8]}"


def make_table(rows: int, seed: int = 0):
    """id, x0..x5 (doubles, 3% NULL), s0/s1 (strings, 2% NULL), label ('no'/'yes')."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(NUMBERS)))
    missing = rng.random(x.shape) < 0.03
    s0 = rng.choice(np.array(["a", "b", "c", "d", "e"], dtype=object), rows)
    s1 = rng.choice(np.array(["red", "green", "blue"], dtype=object), rows)
    signal = x[:, 0] + 0.5 * x[:, 1] ** 2 - x[:, 2] * x[:, 3] + (s0 == "a") - 0.5 * (s1 == "blue")
    label = np.where(signal + rng.normal(size=rows) > 0.5, "yes", "no")
    s0[rng.random(rows) < 0.02] = None
    s1[rng.random(rows) < 0.02] = None
    columns = {name: pa.array(x[:, i], mask=missing[:, i]) for i, name in enumerate(NUMBERS)}
    return pa.table(
        {"id": pa.array(np.arange(rows)), **columns, "s0": pa.array(s0.tolist()), "s1": pa.array(s1.tolist()), "label": label}
    )


def models(names: list[str]):
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    def encoded(final, numbers):
        strings = make_pipeline(SimpleImputer(strategy="constant", fill_value="?"), OneHotEncoder(handle_unknown="ignore"))
        return make_pipeline(make_column_transformer((numbers, NUMBERS), (strings, STRINGS)), final)

    factories = {
        "linear": lambda: encoded(LogisticRegression(max_iter=1000), make_pipeline(SimpleImputer(), StandardScaler())),
        "tree": lambda: encoded(DecisionTreeClassifier(max_depth=6, random_state=0), "passthrough"),
        "tree8": lambda: encoded(DecisionTreeClassifier(max_depth=8, random_state=0), "passthrough"),
        # calibration of toolkit.modelsql.cost.RATES: ensembles of growing size
        "gb10": lambda: encoded(GradientBoostingClassifier(n_estimators=10, random_state=0), SimpleImputer()),
        "gb30": lambda: encoded(GradientBoostingClassifier(n_estimators=30, random_state=0), SimpleImputer()),
        "gb60": lambda: encoded(GradientBoostingClassifier(n_estimators=60, random_state=0), SimpleImputer()),
        "rf10": lambda: encoded(RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0), "passthrough"),
        "gb": lambda: encoded(GradientBoostingClassifier(n_estimators=100, random_state=0), SimpleImputer()),
        "hgb": lambda: HistGradientBoostingClassifier(
            max_iter=100, early_stopping=False, categorical_features=STRINGS, random_state=0
        ),
        "rf": lambda: encoded(RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0), "passthrough"),
    }
    return {name: factories[name]() for name in names}


class DuckDB:
    name = "duckdb"

    def __init__(self, data):
        import duckdb

        self.connection = duckdb.connect()
        self.connection.register("incoming", data)
        self.connection.execute("create table rows as select * from incoming")
        self.connection.unregister("incoming")
        self.source = "rows"

    def execute(self, sql: str) -> None:
        self.connection.execute(sql)

    def scalar(self, sql: str):
        return self.connection.execute(sql).fetchone()

    def batches(self, sql: str):
        return self.connection.execute(sql).to_arrow_reader(BATCH)

    def write(self, name: str, reader) -> None:
        self.connection.register("scored_arrow", reader)
        self.connection.execute(f"create table {name} as select * from scored_arrow")
        self.connection.unregister("scored_arrow")

    def table(self, name: str) -> str:
        return name

    def settings(self) -> str:
        return f"threads={self.scalar('select current_setting(' + repr('threads') + ')')[0]}"

    def close(self) -> None:
        self.connection.close()


class Postgres:
    name = "postgres"

    def __init__(self, data, url: str, settings: list[str]):
        import adbc_driver_postgresql.dbapi as dbapi

        self.connection = dbapi.connect(url, autocommit=True)
        self.cursor = self.connection.cursor()
        for setting in settings:  # e.g. jit_optimize_above_cost=-1
            name, value = setting.split("=", 1)
            self.cursor.execute(f"select set_config('{name}', '{value}', false)")
            self.cursor.fetchall()
        self.cursor.execute(f'create schema "{SCHEMA}"')
        self.cursor.adbc_ingest("rows", data, mode="create", db_schema_name=SCHEMA)
        self.cursor.execute(f'analyze "{SCHEMA}".rows')
        self.source = f'"{SCHEMA}".rows'

    def execute(self, sql: str) -> None:
        self.cursor.execute(sql)

    def scalar(self, sql: str):
        self.cursor.execute(sql)
        return self.cursor.fetchone()

    def batches(self, sql: str):
        self.cursor.execute(sql)
        return self.cursor.fetch_record_batch()

    def write(self, name: str, reader) -> None:
        self.cursor.adbc_ingest(name, reader, mode="create", db_schema_name=SCHEMA)

    def table(self, name: str) -> str:
        return f'"{SCHEMA}".{name}'

    def settings(self) -> str:
        names = ["jit", "jit_optimize_above_cost", "max_parallel_workers_per_gather"]
        values = self.scalar("select " + ", ".join(f"current_setting('{n}')" for n in names))
        return " ".join(f"{n}={v}" for n, v in zip(names, values))

    def close(self) -> None:
        try:
            self.cursor.execute(f'drop schema if exists "{SCHEMA}" cascade')
        finally:
            self.cursor.close()
            self.connection.close()


def sql_path(engine, model, features: list[dict], name: str) -> dict:
    from sqlglot import exp

    from toolkit.modelsql import compile_pipeline

    source = exp.table_("rows", db=SCHEMA if engine.name == "postgres" else None, quoted=True)
    started = time.perf_counter()
    pipeline = compile_pipeline(model, features, ["id"], source, fence=engine.name == "postgres", guards=engine.name != "duckdb")  # as toolkit compiles
    compiled = time.perf_counter()
    text = pipeline.select.sql(dialect=engine.name)
    generated = time.perf_counter()
    engine.execute(f"create table {engine.table(name)} as {text}")
    done = time.perf_counter()
    check = 0.0
    if pipeline.check is not None:  # the query counting rows scikit-learn would refuse, run before scoring
        engine.scalar(pipeline.check.sql(dialect=engine.name))
        check = time.perf_counter() - done
    return {"compile": compiled - started, "generate": generated - compiled, "run": done - generated, "bytes": len(text),
            "check": check, "checked": len(pipeline.refused)}


def python_path(engine, model, features: list[dict], name: str) -> float:
    import numpy as np
    import pyarrow as pa

    from toolkit.scoring import proba_columns
    from toolkit.training import to_frame

    names = [feature["name"] for feature in features]
    classes = list(model.classes_)
    schema = pa.schema([("id", pa.int64()), ("prediction", pa.string())] + [(c, pa.float64()) for c in proba_columns(classes)])
    started = time.perf_counter()
    reader = engine.batches(f"select id, {', '.join(names)} from {engine.table('rows')}")
    scored = []
    for batch in reader:
        frame = to_frame(batch, names)
        probabilities = model.predict_proba(frame)
        labels = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]  # what predict() does
        arrays = [batch.column("id"), pa.array(labels.tolist(), pa.string())]
        arrays += [pa.array(probabilities[:, i]) for i in range(len(classes))]
        scored.append(pa.record_batch(arrays, schema=schema))
    engine.write(name, pa.RecordBatchReader.from_batches(schema, iter(scored)))
    return time.perf_counter() - started


def agreement(engine, sql_table: str, python_table: str, classes: list) -> tuple[float, int]:
    """Largest |probability difference| and number of differing labels, in the engine."""
    from toolkit.scoring import proba_columns

    diffs = ", ".join(f"abs(s.{c} - p.{c})" for c in proba_columns(classes))
    row = engine.scalar(
        f"select max(greatest({diffs})), sum(case when s.prediction = p.prediction then 0 else 1 end), count(*) "
        f"from {engine.table(sql_table)} s join {engine.table(python_table)} p on s.id = p.id"
    )
    return float(row[0]), int(row[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fit-rows", type=int, default=20_000)
    parser.add_argument("--engines", default="duckdb,postgres")
    parser.add_argument("--models", default="linear,tree,gb,hgb")
    parser.add_argument("--pg-set", action="append", default=[], metavar="NAME=VALUE", help="a PostgreSQL session setting")
    parser.add_argument("--url", default=os.environ.get("TOOLKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()

    import duckdb
    import sklearn
    import sqlglot

    from toolkit.training import to_frame

    print(
        f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} python={platform.python_version()} "
        f"duckdb={duckdb.__version__} sqlglot={sqlglot.__version__} sklearn={sklearn.__version__} rows={args.rows:,}"
    )
    data = make_table(args.rows)
    training = data.slice(0, args.fit_rows)
    features = [{"name": n, "type": "double"} for n in NUMBERS] + [{"name": n, "type": "string"} for n in STRINGS]
    names = [f["name"] for f in features]
    fitted = {}
    for name, model in models(args.models.split(",")).items():
        fitted[name] = model.fit(to_frame(training, names), training.column("label").to_numpy(zero_copy_only=False))

    from toolkit.modelsql.cost import choose

    header = f"{'engine':9} {'model':7} {'nodes':>6} {'auto':>6} {'sql KB':>8} {'compile s':>9} {'gen s':>6} {'sql s':>7} {'checks':>6} {'check s':>7} {'rows/s sql':>11} {'python s':>9} {'python/sql':>10} {'py/(sql+compile)':>16} {'max |dp|':>9} {'labels !=':>9}"
    for engine_name in args.engines.split(","):
        engine = DuckDB(data) if engine_name == "duckdb" else Postgres(data, args.url, args.pg_set)
        try:
            print(f"\n{engine_name}: {engine.settings()}\n{header}")
            for name, model in fitted.items():
                sql = sql_path(engine, model, features, f"scored_sql_{name}")
                python = python_path(engine, model, features, f"scored_py_{name}")
                worst, labels = agreement(engine, f"scored_sql_{name}", f"scored_py_{name}", list(model.classes_))
                choice = choose(model, engine_name, args.rows)  # what scoring="auto" picks for this many rows
                print(
                    f"{engine_name:9} {name:7} {choice.nodes:6d} {'sql' if choice.sql else 'python':>6} {sql['bytes'] / 1e3:8.1f} {sql['compile']:9.2f} {sql['generate']:6.2f} "
                    f"{sql['run']:7.2f} {sql['checked']:6d} {sql['check']:7.2f} {args.rows / sql['run']:11,.0f} {python:9.2f} {python / sql['run']:10.2f} "
                    f"{python / (sql['run'] + sql['compile'] + sql['generate']):16.2f} "
                    f"{worst:9.1e} {labels:9d}",
                    flush=True,
                )
        finally:
            engine.close()


if __name__ == "__main__":
    main()

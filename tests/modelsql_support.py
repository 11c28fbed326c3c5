"""Shared helpers for the model-to-SQL tests (linear models, preprocessing, trees).

    from modelsql_support import ENGINES, check, make_dataset, open_warehouse

    data = make_dataset()
    model = make_pipeline(...).fit(data.frame(data.train, names), data.labels("binary"))
    with open_warehouse("duckdb") as warehouse:
        check(model, data.select(names), data.test, warehouse)

`check` compiles the fitted estimator with `toolkit.modelsql.compile_model`, runs the
SELECT on the warehouse and compares it with scikit-learn's predict / predict_proba
on the same rows as `toolkit.training.to_frame` hands them to scikit-learn: values
to 1e-9 absolute, labels exactly. PostgreSQL is used when TOOLKIT_TEST_POSTGRES_URL
is set; otherwise `open_warehouse("postgres")` skips the test. Spark is the process's
embedded local[2] session (tests/spark_support.py); without Java or pyspark
`open_warehouse("spark")` skips.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator

import numpy as np
import pyarrow as pa
import pytest
from sqlglot import exp

ENGINES = ("duckdb", "postgres", "spark")
POSTGRES_URL = os.environ.get("TOOLKIT_TEST_POSTGRES_URL")
ATOL = 1e-9
KEY = ["id"]

# Category frequencies are skewed so that min_frequency / max_categories have
# something infrequent to group; "zz" and "new" only ever appear in held-out rows.
COLOURS = ["red", "green", "blue", "cyan", "plum"]
COLOUR_WEIGHTS = [0.4, 0.3, 0.18, 0.08, 0.04]
SIZES = ["S", "M", "L"]


@dataclass
class Dataset:
    """Training rows and held-out rows (the latter with unseen categories and NULLs
    where training had none), plus the feature list `compile_model` takes."""

    train: pa.Table
    test: pa.Table
    features: list[dict]

    @property
    def names(self) -> list[str]:
        return [feature["name"] for feature in self.features]

    @property
    def numeric(self) -> list[str]:
        return [f["name"] for f in self.features if f["type"] not in ("string", "bool")]

    @property
    def strings(self) -> list[str]:
        return [f["name"] for f in self.features if f["type"] == "string"]

    def frame(self, table: pa.Table, names: list[str] | None = None):
        from toolkit.training import to_frame

        return to_frame(table, names or self.names)

    def labels(self, label: str, table: pa.Table | None = None) -> np.ndarray:
        """One of the label columns: target (float), binary ("no"/"yes"),
        multiclass ("high"/"low"/"mid") or multiclass_int (0/1/2)."""
        return (self.train if table is None else table).column(label).to_numpy(zero_copy_only=False)

    def select(self, names: list[str]) -> list[dict]:
        """The feature dicts for these names, in this order."""
        by_name = {feature["name"]: feature for feature in self.features}
        return [by_name[name] for name in names]


def make_dataset(n_train: int = 400, n_test: int = 150, seed: int = 0) -> Dataset:
    """A random table with the awkward cases a warehouse holds.

    x1: double with NULLs and NaNs; x2: double, large values, never missing;
    n3: int64 with NULLs; d4: decimal128(18, 2) with NULLs; b5: bool, never NULL;
    c1: string with NULLs and a rare category ("zz" unseen in held-out rows);
    c2: string never NULL in training (held-out rows have NULLs and "new").
    """
    rng = np.random.default_rng(seed)
    train = _rows(rng, n_train, 0, unseen=False)
    test = _rows(rng, n_test, n_train, unseen=True)
    features = [
        {"name": field.name, "type": str(field.type)}
        for field in train.schema
        if field.name not in (*KEY, "target", "binary", "multiclass", "multiclass_int")
    ]
    return Dataset(train, test, features)


def _rows(rng: np.random.Generator, n: int, start: int, unseen: bool) -> pa.Table:
    x1 = rng.normal(2.0, 3.0, n)
    x1_missing = rng.random(n)
    x2 = rng.normal(1000.0, 250.0, n)
    n3 = rng.integers(-20, 60, n)
    n3_null = rng.random(n) < 0.1
    d4 = np.round(rng.uniform(0, 500, n), 2)
    d4_null = rng.random(n) < 0.1
    b5 = rng.random(n) < 0.4
    c1 = rng.choice(COLOURS, n, p=COLOUR_WEIGHTS).astype(object)
    c1[rng.random(n) < 0.1] = None
    c2 = rng.choice(SIZES, n).astype(object)
    if unseen:
        c1[rng.random(n) < 0.08] = "zz"
        c2[rng.random(n) < 0.08] = "new"
        c2[rng.random(n) < 0.08] = None

    signal = (
        np.nan_to_num(x1) * 0.8
        + (x2 - 1000.0) / 100.0
        + np.where(n3_null, 0, n3) / 20.0
        - np.where(d4_null, 250, d4) / 200.0
        + b5 * 1.5
        + np.array([COLOURS.index(c) * 0.7 if c in COLOURS else 0.0 for c in c1])
        + np.array([SIZES.index(s) * 0.5 if s in SIZES else 0.0 for s in c2])
    )
    noisy = signal + rng.normal(0, 1.0, n)
    x1_column = pa.array(
        [None if m < 0.08 else (float("nan") if m < 0.14 else v) for v, m in zip(x1, x1_missing)], pa.float64()
    )
    return pa.table(
        {
            "id": pa.array(np.arange(start, start + n), pa.int64()),
            "x1": x1_column,
            "x2": pa.array(x2, pa.float64()),
            "n3": pa.array(n3.tolist(), pa.int64(), mask=n3_null),
            "d4": pa.array([None if m else Decimal(f"{v:.2f}") for v, m in zip(d4, d4_null)], pa.decimal128(18, 2)),
            "b5": pa.array(b5, pa.bool_()),
            "c1": pa.array(c1.tolist(), pa.string()),
            "c2": pa.array(c2.tolist(), pa.string()),
            "target": pa.array(noisy * 10.0 + 3.0, pa.float64()),
            "binary": pa.array(np.where(noisy > np.median(signal), "yes", "no"), pa.string()),
            "multiclass": pa.array(np.select([noisy < -1.0, noisy < 1.5], ["low", "mid"], "high"), pa.string()),
            "multiclass_int": pa.array(np.select([noisy < -1.0, noisy < 1.5], [0, 1], 2), pa.int64()),
        }
    )


class Warehouse:
    """One engine holding the test tables: `load` a table, `run` a compiled SELECT."""

    dialect: str

    def load(self, name: str, table: pa.Table) -> exp.Table:
        raise NotImplementedError

    def run(self, select: exp.Select) -> pa.Table:
        raise NotImplementedError

    def sql(self, select: exp.Select) -> str:
        return select.sql(dialect=self.dialect)


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self):
        import duckdb

        self.connection = duckdb.connect()

    def load(self, name: str, table: pa.Table) -> exp.Table:
        self.connection.register("_incoming", table)
        self.connection.execute(f'create or replace table "{name}" as select * from _incoming')
        self.connection.unregister("_incoming")
        return exp.table_(name, quoted=True)

    def run(self, select: exp.Select) -> pa.Table:
        return self.connection.execute(self.sql(select)).to_arrow_table()

    def close(self) -> None:
        self.connection.close()


class PostgresWarehouse(Warehouse):
    """Tables go into a schema of their own, dropped on close."""

    dialect = "postgres"

    def __init__(self, url: str):
        import adbc_driver_postgresql.dbapi as dbapi

        self.connection = dbapi.connect(url, autocommit=True)
        self.schema = f"modelsql_{uuid.uuid4().hex[:10]}"
        with self.connection.cursor() as cursor:
            cursor.execute(f'create schema "{self.schema}"')

    def load(self, name: str, table: pa.Table) -> exp.Table:
        with self.connection.cursor() as cursor:
            cursor.execute(f'drop table if exists "{self.schema}"."{name}"')
            cursor.adbc_ingest(name, table, mode="create", db_schema_name=self.schema)
        return exp.table_(name, db=self.schema, quoted=True)

    def run(self, select: exp.Select) -> pa.Table:
        with self.connection.cursor() as cursor:
            cursor.execute(self.sql(select))
            return cursor.fetch_arrow_table()

    def close(self) -> None:
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(f'drop schema if exists "{self.schema}" cascade')
        finally:
            self.connection.close()


class SparkWarehouse(Warehouse):
    """Tables are temporary views on the process's Spark session; the SQL is what the
    adapter runs (toolkit's Spark repairs applied)."""

    dialect = "spark"

    def __init__(self):
        from spark_support import shared_engine

        self.engine = shared_engine(exclusive=False)

    def load(self, name: str, table: pa.Table) -> exp.Table:
        self.engine._frame(table).createOrReplaceTempView(name)
        return exp.table_(name, quoted=True)

    def run(self, select: exp.Select) -> pa.Table:
        return self.engine.fetch_arrow(select)

    def sql(self, select: exp.Select) -> str:
        return self.engine.generate(select)

    def close(self) -> None:
        self.engine.close()


@contextmanager
def open_warehouse(engine: str) -> Iterator[Warehouse]:
    """An empty in-memory DuckDB, a fresh PostgreSQL schema (skips without a URL) or
    the process's Spark session (skips without Java or pyspark)."""
    if engine == "postgres":
        if not POSTGRES_URL:
            pytest.skip("TOOLKIT_TEST_POSTGRES_URL is not set: no PostgreSQL to test on")
        warehouse: Warehouse = PostgresWarehouse(POSTGRES_URL)
    elif engine == "duckdb":
        warehouse = DuckDBWarehouse()
    elif engine == "spark":
        from spark_support import SKIP_REASON

        if SKIP_REASON:
            pytest.skip(SKIP_REASON)
        warehouse = SparkWarehouse()
    else:
        raise ValueError(engine)
    try:
        yield warehouse
    finally:
        warehouse.close()


def compile_for(estimator, features: list[dict], source: exp.Table, fence: bool = True, guards: bool = True) -> exp.Select:
    """As toolkit compiles for an engine: CTE fences (OFFSET 0) only where the planner
    inlines CTEs (PostgreSQL), float guards except where arithmetic is IEEE's (DuckDB)."""
    from toolkit.modelsql import compile_model

    return compile_model(estimator, features, KEY, source, fence=fence, guards=guards)


def check(
    estimator,
    features: list[dict],
    table: pa.Table,
    warehouse: Warehouse,
    source: exp.Table | str | None = None,
    name: str | None = None,
) -> pa.Table:
    """Compile, run on `warehouse` over `table` (already loaded as `source`, or
    loaded now under `name`), compare with scikit-learn; returns the warehouse's
    result (sorted by key) for further assertions."""
    if isinstance(source, str):  # check(..., warehouse, "name"): a name to load under
        source, name = None, source
    if source is None:
        source = warehouse.load(name or f"rows_{uuid.uuid4().hex[:8]}", table)
    select = compile_for(estimator, features, source, fence=warehouse.dialect == "postgres", guards=warehouse.dialect != "duckdb")
    result = warehouse.run(select).sort_by([(column, "ascending") for column in KEY])
    assert_matches(estimator, features, table, result, warehouse.dialect)
    return result


def assert_matches(estimator, features: list[dict], table: pa.Table, result: pa.Table, where: str = "") -> None:
    """The warehouse's `result` equals scikit-learn on `table`: same keys, values and
    probabilities within ATOL, labels identical (compared as Python values)."""
    from sklearn.base import is_classifier

    from toolkit.scoring import proba_columns
    from toolkit.training import to_frame

    table = table.sort_by([(column, "ascending") for column in KEY])
    assert result.num_rows == table.num_rows, where
    for column in KEY:
        assert result.column(column).to_pylist() == table.column(column).to_pylist(), where
    frame = to_frame(table, [feature["name"] for feature in features])
    expected = estimator.predict(frame)
    got = result.column("prediction")
    if is_classifier(estimator):
        labels = [value.item() if hasattr(value, "item") else value for value in expected]
        mismatched = [i for i, (a, b) in enumerate(zip(got.to_pylist(), labels)) if a != b]
        assert not mismatched, f"{where}: labels differ at rows {mismatched[:10]}"
        if hasattr(estimator, "predict_proba"):
            probabilities = estimator.predict_proba(frame)
            for i, column in enumerate(proba_columns(list(estimator.classes_))):
                values = result.column(column).to_numpy(zero_copy_only=False).astype(float)
                np.testing.assert_allclose(values, probabilities[:, i], rtol=0, atol=ATOL, err_msg=f"{where} {column}")
    else:
        values = got.to_numpy(zero_copy_only=False).astype(float)
        np.testing.assert_allclose(values, np.asarray(expected, float), rtol=0, atol=ATOL, err_msg=where)

"""A project can trust artifact types beyond toolkit's allow-list, one name at a time."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from toolkit.config import Target
from toolkit.engines.duckdb import DuckDBEngine
from toolkit.errors import StepFailed
from toolkit.registry import Registry


@pytest.fixture
def engine(tmp_path):
    engine = DuckDBEngine(Target("t", "duckdb", {"path": str(tmp_path / "w.duckdb")}), tmp_path)
    engine.open(5)
    yield engine
    engine.close()


def fitted():
    X = np.arange(20, dtype=float).reshape(10, 2)
    return make_pipeline(FunctionTransformer(np.log1p), LinearRegression()).fit(X, X[:, 0] * 3.0), X


def register(registry):
    estimator, _ = fitted()
    return registry.register(
        model="m", fingerprint="f", estimator=estimator, candidate="c", metrics={}, params={},
        features=[], training_table="t", run_id=1,
    )


def test_a_type_outside_the_allow_list_is_refused(engine):
    registry = Registry(engine)
    registry.ensure()
    with pytest.raises(StepFailed, match="numpy.log1p"):
        register(registry)


def test_a_type_the_project_trusts_registers_and_loads(engine):
    registry = Registry(engine, trusted=("numpy.log1p",))
    registry.ensure()
    version = register(registry)
    estimator, X = fitted()

    loaded = registry.load("m", version)

    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    with pytest.raises(StepFailed, match="numpy.log1p"):  # without the project's trust: refused
        Registry(engine).load("m", version)

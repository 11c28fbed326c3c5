"""The model registry on a real DuckDB file: versions, status changes, artifacts.

    registry = Registry(engine); registry.ensure()
    version = registry.register(model="churn", fingerprint="f1", estimator=fitted, ...)
    registry.promote("churn", version); registry.load("churn", version).predict(X)
"""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from toolkit.config import Target
from toolkit.engines.duckdb import DuckDBEngine
from toolkit.errors import ProjectError, StepFailed
from toolkit.registry import ALLOWED_TYPES, TABLES, Registry, artifact_types, create_table, untrusted_types
from toolkit.state import table

# -- data and estimators ------------------------------------------------------------------

RNG = np.random.default_rng(7)
N = 240
FRAME = pd.DataFrame({
    "age": RNG.normal(40, 12, N),
    "visits": RNG.integers(0, 30, N).astype(float),
    "plan": RNG.choice(["basic", "pro", "team"], N),
    "region": RNG.choice(["north", "south"], N),
})
FRAME.loc[::9, "age"] = np.nan
LABEL = ((FRAME["visits"] > 12) ^ (FRAME["plan"] == "pro")).to_numpy()
TARGET = FRAME["visits"].to_numpy() * 2.5 + RNG.normal(0, 1, N)
NUMERIC = FRAME[["age", "visits"]].fillna(0.0)


def churn_pipeline():
    preprocess = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["age", "visits"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan", "region"]),
    ])
    return Pipeline([("pre", preprocess), ("model", HistGradientBoostingClassifier(max_iter=15, random_state=0))])


def ordinal_pipeline():
    preprocess = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), make_column_selector(dtype_include=object))],
        remainder="passthrough",
    )
    return make_pipeline(preprocess, HistGradientBoostingRegressor(max_iter=10, categorical_features=[0, 1]))


# name -> (unfitted estimator, X, y)
ESTIMATORS = {
    "hgb_pipeline": (churn_pipeline, FRAME, LABEL),
    "ordinal_hgb_regressor": (ordinal_pipeline, FRAME, TARGET),
    "logistic": (lambda: make_pipeline(StandardScaler(), LogisticRegression()), NUMERIC, LABEL),
    "linear": (LinearRegression, NUMERIC, TARGET),
    "ridge": (lambda: Ridge(alpha=3.0), NUMERIC, TARGET),
    "forest_classifier": (lambda: RandomForestClassifier(n_estimators=5, random_state=0), NUMERIC, np.where(LABEL, "yes", "no")),
    "forest_regressor": (lambda: RandomForestRegressor(n_estimators=5, random_state=0), NUMERIC, TARGET),
    "extra_trees_classifier": (lambda: ExtraTreesClassifier(n_estimators=5, random_state=0), NUMERIC, LABEL),
    "extra_trees_regressor": (lambda: ExtraTreesRegressor(n_estimators=5, random_state=0), NUMERIC, TARGET),
    "gradient_boosting_classifier": (lambda: GradientBoostingClassifier(n_estimators=10, random_state=0), NUMERIC, LABEL),
    "gradient_boosting_regressor": (lambda: GradientBoostingRegressor(n_estimators=10, loss="huber", random_state=0), NUMERIC, TARGET),
    "hgb_categorical_dtype": (
        lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0),
        FRAME.astype({"plan": "category", "region": "category"}), LABEL,
    ),
    "hgb_multiclass": (lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0), NUMERIC, FRAME["plan"].to_numpy()),
    "decision_tree_classifier": (lambda: DecisionTreeClassifier(max_depth=4), NUMERIC, LABEL),
    "decision_tree_regressor": (lambda: DecisionTreeRegressor(max_depth=4), NUMERIC, TARGET),
}


def fitted(name: str):
    build, X, y = ESTIMATORS[name]
    return build().fit(X, y), X


def double(values):  # a user's own function: never on the allow-list
    return values * 2


class Custom(ClassifierMixin, BaseEstimator):
    """A user's own estimator class; loading it would run its code."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])

    def __setstate__(self, state):  # pragma: no cover - must never run
        raise AssertionError("Custom.__setstate__ ran: the artifact was loaded")


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path):
    engine = DuckDBEngine(Target("t", "duckdb", {"path": str(tmp_path / "w.duckdb")}), tmp_path)
    engine.open(5)
    yield engine
    engine.close()


@pytest.fixture
def registry(engine):
    registry = Registry(engine)
    registry.ensure()
    return registry


@pytest.fixture(scope="module")
def small_model():
    return LogisticRegression().fit(NUMERIC, LABEL)


def register(registry, model="churn", fingerprint="fp1", estimator=None, run_id=1, **overrides):
    arguments = dict(
        model=model, fingerprint=fingerprint, estimator=estimator, candidate="LogisticRegression",
        metrics={"roc_auc": 0.75}, params=None, features=[{"name": "age", "type": "DOUBLE"}],
        training_table="churn_training", run_id=run_id,
    )
    arguments.update(overrides)
    return registry.register(**arguments)


def write_artifact(engine, model: str, version: int, data: bytes, sha256: str | None = None) -> None:
    """Overwrite a stored artifact (and optionally its recorded hash) with an UPDATE."""
    values = {"artifact": exp.Unhex(this=exp.Literal.string(data.hex()))}
    if sha256 is not None:
        values["artifact_sha256"] = exp.Literal.string(sha256)
    where = exp.column("model").eq(exp.Literal.string(model)).and_(exp.column("version").eq(exp.Literal.number(version)))
    engine.execute(exp.update(table("model_versions"), values, where=where))


def stored_artifact(engine, model: str, version: int) -> bytes:
    where = exp.column("model").eq(exp.Literal.string(model)).and_(exp.column("version").eq(exp.Literal.number(version)))
    return engine.fetch_rows(exp.select("artifact").from_(table("model_versions")).where(where))[0][0]


# -- tables -------------------------------------------------------------------------------


def test_ensure_is_idempotent_and_adds_missing_columns(engine, registry):
    registry.ensure()
    columns = engine.columns(table("model_versions"))
    assert columns["artifact"] == "BLOB" and columns["version"] == "INTEGER" and columns["metrics"] == "JSON"
    assert set(engine.columns(table("model_status_history"))) == {
        "model", "version", "status", "action", "changed_at", "run_id", "reason", "seq", "actor", "env",
    }
    engine.execute("ALTER TABLE toolkit.model_status_history DROP COLUMN reason")
    registry.ensure()
    assert "reason" in engine.columns(table("model_status_history"))


def test_ddl_generates_for_other_engines():
    for dialect in ("postgres", "snowflake", "bigquery", "trino", "spark"):
        for name in TABLES:
            sql = create_table(name).sql(dialect=dialect, identify=True, unsupported_level=ErrorLevel.RAISE)
            assert name in sql and "IF NOT EXISTS" in sql


def test_reading_before_any_table_exists(engine):
    registry = Registry(engine)
    assert registry.versions() == [] and registry.history("churn") == [] and registry.find("churn", "fp") is None
    with pytest.raises(ProjectError, match="no model is registered yet"):
        registry.get("churn")


# -- register, find, get, versions ----------------------------------------------------------


def test_register_find_get_versions(engine, registry, small_model):
    assert registry.versions() == [] and registry.find("churn", "fp1") is None
    assert register(registry, estimator=small_model, fingerprint="fp1", run_id=3) == 1
    assert register(registry, model="spend", estimator=small_model, fingerprint="fp1") == 1
    assert register(registry, estimator=small_model, fingerprint="fp2", run_id=4) == 2
    assert register(registry, estimator=small_model, fingerprint="fp1", run_id=5) == 3

    assert [(v.model, v.version) for v in registry.versions()] == [("churn", 1), ("churn", 2), ("churn", 3), ("spend", 1)]
    assert [v.version for v in registry.versions("churn")] == [1, 2, 3]
    assert registry.find("churn", "fp1").version == 3
    assert registry.find("churn", "fp2").version == 2
    assert registry.find("churn", "nope") is None and registry.find("other", "fp1") is None

    version = registry.get("churn", 2)
    assert (version.status, version.fingerprint, version.candidate, version.run_id) == ("candidate", "fp2", "LogisticRegression", 4)
    assert version.metrics == {"roc_auc": 0.75}
    assert version.features == [{"name": "age", "type": "DOUBLE"}]
    assert version.training_table == "churn_training"
    assert version.params["C"] == 1.0 and version.params["max_iter"] == 100  # from get_params(deep=True)
    assert version.sklearn_version and version.numpy_version and version.skops_version and version.python_version
    data = stored_artifact(engine, "churn", 2)
    assert version.sha256 == hashlib.sha256(data).hexdigest() and version.size == len(data)
    assert registry.production("churn") is None


def test_get_errors_name_what_is_missing(registry, small_model):
    with pytest.raises(ProjectError) as error:
        registry.get("churn")
    assert error.value.exit_code == 2 and "no model is registered yet" in str(error.value)
    register(registry, estimator=small_model)
    with pytest.raises(ProjectError, match=r"no model named 'chrun'.*did you mean 'churn'\?"):
        registry.get("chrun", 1)
    with pytest.raises(ProjectError, match=r"model 'churn' has no version 7 \(its versions: 1\)"):
        registry.get("churn", 7)
    with pytest.raises(ProjectError, match=r"model 'churn' has no production version \(promote one: toolkit models promote churn 1\)"):
        registry.get("churn")
    with pytest.raises(ProjectError, match="has no version 9"):
        registry.promote("churn", 9)
    with pytest.raises(ProjectError, match="has no version 9"):
        registry.load("churn", 9)


def test_values_with_quotes_round_trip(registry, small_model):
    awkward = "it's a \"quoted\" value; -- not a comment \\ \n café 🎯"
    metrics = {"it's": 0.5, 'say "hi"': 1, "nan": float("nan")}
    params = {"name": awkward, "nested": {"x'); drop table toolkit.runs; --": [1, 2.5, None, True]}, "kind": np.float32}
    features = [{"name": "o'brien", "type": 'VARCHAR "quoted"'}]
    register(registry, estimator=small_model, metrics=metrics, params=params, features=features,
             fingerprint=awkward, training_table="x'y", candidate=awkward)
    version = registry.get("churn", 1)
    assert version.metrics == {"it's": 0.5, 'say "hi"': 1, "nan": "nan"}
    assert version.params == {"name": awkward, "nested": {"x'); drop table toolkit.runs; --": [1, 2.5, None, True]},
                              "kind": repr(np.float32)}
    assert version.features == features
    assert (version.fingerprint, version.candidate, version.training_table) == (awkward, awkward, "x'y")
    assert registry.find("churn", awkward).version == 1


def test_params_default_to_get_params_made_json_safe(registry):
    pipeline = churn_pipeline().fit(FRAME, LABEL)
    register(registry, estimator=pipeline)
    params = registry.get("churn", 1).params
    assert params["model__max_iter"] == 15
    assert params["pre__num__simpleimputer__missing_values"] == "nan"  # np.nan, stored as its repr
    assert params["steps"][1] == ["model", repr(pipeline.named_steps["model"])]


# -- promote, rollback, history -------------------------------------------------------------


def test_promote_rollback_history(engine, registry, small_model):
    for run_id in (1, 2, 3):
        register(registry, estimator=small_model, fingerprint=f"fp{run_id}", run_id=run_id)
    register(registry, model="spend", estimator=small_model)

    registry.promote("churn", 1, run_id=1, reason="passed gates")
    assert registry.production("churn").version == 1
    registry.promote("churn", 2, run_id=2)
    registry.promote("churn", 3, run_id=3)
    registry.promote("churn", 3, run_id=3)  # already production: no change recorded
    assert [(v.version, v.status) for v in registry.versions("churn")] == [(1, "archived"), (2, "archived"), (3, "production")]
    assert registry.get("churn").version == 3

    assert registry.rollback("churn", run_id=9).version == 2
    assert [(v.version, v.status) for v in registry.versions("churn")] == [(1, "archived"), (2, "production"), (3, "archived")]
    assert registry.rollback("churn").version == 1  # twice: further back, not back to 3
    assert registry.get("churn").version == 1
    with pytest.raises(ProjectError, match="model 'churn' has no earlier production version to roll back to") as error:
        registry.rollback("churn")
    assert error.value.exit_code == 2
    assert registry.get("churn").version == 1

    history = registry.history("churn")
    assert [(h.version, h.status, h.action) for h in history] == [
        (1, "candidate", "register"), (2, "candidate", "register"), (3, "candidate", "register"),
        (1, "production", "promote"),
        (1, "archived", "promote"), (2, "production", "promote"),
        (2, "archived", "promote"), (3, "production", "promote"),
        (3, "archived", "rollback"), (2, "production", "rollback"),
        (2, "archived", "rollback"), (1, "production", "rollback"),
    ]
    assert history[3].reason == "passed gates" and history[3].run_id == 1
    assert history[9].reason == "rolled back from version 3" and history[9].run_id == 9
    # An archived line says why it was archived, not the new production version's reason.
    assert history[4].reason == "archived: version 2 became production (promote)"
    assert history[8].reason == "archived: version 2 became production (rollback)" and history[8].run_id == 9
    assert all(isinstance(h, tuple) for h in history)
    assert [(v.model, v.status) for v in registry.versions("spend")] == [("spend", "candidate")]

    # Which version was production when, in plain SQL (the query in the module docstring).
    periods = engine.fetch_rows(
        "select version, production_until is null from ("
        " select version, seq, lead(changed_at) over (partition by model order by seq) as production_until"
        " from toolkit.model_status_history where status = 'production' and model = 'churn') order by seq"
    )
    assert periods == [(1, False), (2, False), (3, False), (2, False), (1, True)]


def test_promote_after_rollback_then_rollback_again(registry, small_model):
    for run_id in (1, 2, 3):
        register(registry, estimator=small_model, fingerprint=f"fp{run_id}", run_id=run_id)
    registry.promote("churn", 1)
    registry.promote("churn", 2)
    assert registry.rollback("churn").version == 1
    registry.promote("churn", 3)
    assert registry.rollback("churn").version == 1


def test_rollback_without_earlier_production_is_an_error(registry, small_model):
    register(registry, estimator=small_model)
    with pytest.raises(ProjectError, match="has no production version"):
        registry.rollback("churn")
    registry.promote("churn", 1)
    with pytest.raises(ProjectError, match=r"no earlier production version to roll back to \(version 1 has been its only"):
        registry.rollback("churn")


# -- artifacts ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_load_round_trip_predicts_identically(registry, name):
    estimator, X = fitted(name)
    assert untrusted_types(skops.io.dumps(estimator)) == []
    version = register(registry, model=name, estimator=estimator)
    loaded = registry.load(name, version)
    assert type(loaded) is type(estimator)
    np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))
    if hasattr(estimator, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))


def test_stored_bytes_are_exactly_the_skops_file(engine, registry):
    estimator, X = fitted("hgb_pipeline")
    register(registry, estimator=estimator)
    data = stored_artifact(engine, "churn", 1)
    assert isinstance(data, bytes) and data[:4] == b"PK\x03\x04"
    assert hashlib.sha256(data).hexdigest() == registry.get("churn", 1).sha256
    unpacked = skops.io.loads(data, trusted=sorted(ALLOWED_TYPES))
    np.testing.assert_array_equal(unpacked.predict_proba(X), estimator.predict_proba(X))


def test_tampered_artifact_refuses_to_load(engine, registry, small_model):
    register(registry, estimator=small_model)
    original = stored_artifact(engine, "churn", 1)
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    write_artifact(engine, "churn", 1, bytes(flipped))
    expected, actual = hashlib.sha256(original).hexdigest(), hashlib.sha256(bytes(flipped)).hexdigest()
    with pytest.raises(StepFailed) as error:
        registry.load("churn", 1)
    message = str(error.value)
    assert error.value.exit_code == 1
    assert "model churn version 1: artifact sha256 mismatch" in message
    assert f"expected {expected}" in message and f"actual {actual}" in message


def test_estimator_with_disallowed_type_is_refused_at_registration(registry):
    estimator = make_pipeline(FunctionTransformer(double), LinearRegression()).fit(NUMERIC, TARGET)
    with pytest.raises(StepFailed, match=r"model churn: cannot register .*outside toolkit's allow-list.*\.double\b"):
        register(registry, estimator=estimator)
    assert registry.versions() == []


def test_artifact_with_disallowed_type_refuses_to_load(engine, registry, small_model):
    register(registry, estimator=small_model)
    data = skops.io.dumps(Custom().fit(NUMERIC, LABEL))
    write_artifact(engine, "churn", 1, data, hashlib.sha256(data).hexdigest())  # a consistent, foreign artifact
    with pytest.raises(StepFailed) as error:
        registry.load("churn", 1)  # Custom.__setstate__ would raise AssertionError if it ran
    message = str(error.value)
    assert "model churn version 1: artifact contains types outside toolkit's allow-list, refusing to load" in message
    assert f"{Custom.__module__}.Custom" in message


def test_pickle_is_never_loaded(engine, registry, small_model):
    register(registry, estimator=small_model)
    data = pickle.dumps(small_model)
    write_artifact(engine, "churn", 1, data, hashlib.sha256(data).hexdigest())
    with pytest.raises(StepFailed, match="not a skops artifact .*pickle and joblib are never loaded"):
        registry.load("churn", 1)


def test_type_listing_covers_what_skops_itself_distrusts():
    estimator = make_pipeline(FunctionTransformer(double), Custom()).fit(NUMERIC, LABEL)
    data = skops.io.dumps(estimator)
    found = artifact_types(data)
    assert set(skops.io.get_untrusted_types(data=data)) <= found
    assert set(untrusted_types(data)) == {f"{Custom.__module__}.Custom", f"{double.__module__}.double"}
    assert all(isinstance(name, str) and "." in name for name in ALLOWED_TYPES)

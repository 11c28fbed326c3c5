"""Training on a real DuckDB: read Arrow, sample in the warehouse, split, fit, evaluate, gate."""

from __future__ import annotations

import numpy as np
import pytest
from sqlglot import exp

from toolkit.config import Target
from toolkit.engines.duckdb import DuckDBEngine
from toolkit.errors import ProjectError, StepFailed
from toolkit.models import model
from toolkit.training import feature_names, fit_candidates, json_safe, read_training, split, to_frame

TABLE = exp.to_table("features.train")

# 4,000 customers, a numeric and a string feature, a binary label, a spend target,
# 8 monthly snapshot dates and 40 regions (groups).
ROWS = """
create table features.train as
select i as customer_id,
       (i * 7919 % 1000) / 100.0 as score,
       ((i * 31) % 17)::integer as visits,
       ['north', 'south', 'east', 'west'][1 + i % 4] as region_kind,
       'r' || (i % 40)::varchar as region,
       date '2024-01-01' + to_months((i % 8)::integer) as snapshot_date,
       ((i * 7919 % 1000) / 100.0 + (i % 4) + ((i * 13) % 7) / 2.0 > 8) as churned,
       (i * 7919 % 1000) / 10.0 + ((i * 31) % 17) * 3 + (i % 5) as spend
from range(4000) t(i)
"""


@pytest.fixture
def engine(tmp_path):
    e = DuckDBEngine(Target("t", "duckdb", {"path": str(tmp_path / "w.duckdb")}), tmp_path)
    e.open(5)
    e.create_schema("features")
    e.execute(ROWS)
    yield e
    e.close()


def spec_of(build, **declared):
    declared = {"training": "train", "label": "churned", "key": "customer_id", **declared}
    function = model(**declared)(build)
    spec = function.__toolkit_model__
    spec.file, spec.line = "models/churn.py", 12
    return spec


def logistic():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500)


def numeric_spec(**declared):
    return spec_of(logistic, exclude=["region", "region_kind", "spend", "snapshot_date"], **declared)


# -- equal to a plain scikit-learn run ------------------------------------------------


def plain_frame(engine, columns, order="customer_id"):
    query = f"select {', '.join(columns)} from features.train where churned is not null order by {order}"
    return engine.fetch_arrow(query).to_pandas()


def test_classifier_metrics_and_predictions_equal_plain_sklearn(engine):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score

    spec = numeric_spec(metrics=["roc_auc", "accuracy"])
    data = read_training(engine, TABLE, spec)
    result = fit_candidates(spec, data)
    train, test = split(data, spec)

    frame = plain_frame(engine, ["score", "visits", "churned"])
    X, y = frame[["score", "visits"]], frame["churned"].to_numpy()
    plain = LogisticRegression(max_iter=500).fit(X.iloc[train], y[train])
    proba = plain.predict_proba(X.iloc[test])[:, 1]
    assert result.metrics["roc_auc"] == pytest.approx(roc_auc_score(y[test], proba), abs=1e-12)
    assert result.metrics["accuracy"] == pytest.approx(accuracy_score(y[test], plain.predict(X.iloc[test])), abs=1e-12)
    assert np.array_equal(result.estimator.predict(X.iloc[test]), plain.predict(X.iloc[test]))
    np.testing.assert_allclose(result.estimator.predict_proba(X.iloc[test]), plain.predict_proba(X.iloc[test]), rtol=0, atol=1e-12)
    assert (result.train_rows, result.test_rows) == (len(train), len(test)) == (3200, 800)


def test_regressor_metrics_and_predictions_equal_plain_sklearn(engine):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.metrics import mean_absolute_error, r2_score

    def spend():
        return HistGradientBoostingRegressor(max_iter=50, random_state=0)

    spec = spec_of(spend, label="spend", features=["score", "visits"], metrics=["r2", "neg_mean_absolute_error"])
    data = read_training(engine, TABLE, spec)
    result = fit_candidates(spec, data)
    train, test = split(data, spec)

    frame = plain_frame(engine, ["score", "visits", "spend"])
    X, y = frame[["score", "visits"]], frame["spend"].to_numpy()
    plain = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(X.iloc[train], y[train])
    predicted = plain.predict(X.iloc[test])
    np.testing.assert_allclose(result.estimator.predict(X.iloc[test]), predicted, rtol=0, atol=1e-12)
    assert result.metrics["r2"] == pytest.approx(r2_score(y[test], predicted), abs=1e-12)
    assert result.metrics["neg_mean_absolute_error"] == pytest.approx(-mean_absolute_error(y[test], predicted), abs=1e-12)
    assert result.best == "HistGradientBoostingRegressor"
    assert result.candidates[0]["params"]["max_iter"] == 50


def test_default_metric_is_roc_auc_for_binary_and_r2_for_regressors(engine):
    from sklearn.linear_model import Ridge

    def ridge():
        return Ridge()

    spec = numeric_spec()
    assert list(fit_candidates(spec, read_training(engine, TABLE, spec)).metrics) == ["roc_auc"]
    spec = spec_of(ridge, label="spend", features=["score"])
    assert list(fit_candidates(spec, read_training(engine, TABLE, spec)).metrics) == ["r2"]


# -- reading ----------------------------------------------------------------------------


def test_read_selects_key_label_split_column_and_default_features(engine):
    spec = spec_of(logistic, exclude=["spend"], split="time", split_column="snapshot_date")
    data = read_training(engine, TABLE, spec)
    assert data.column_names == ["customer_id", "churned", "snapshot_date", "score", "visits", "region_kind", "region"]
    assert feature_names(spec, data.column_names) == ["score", "visits", "region_kind", "region"]
    assert data.column("customer_id").to_pylist() == sorted(data.column("customer_id").to_pylist())


def test_rows_with_null_label_are_not_read(engine):
    engine.execute("update features.train set churned = null where customer_id < 100")
    data = read_training(engine, TABLE, numeric_spec())
    assert data.num_rows == 3900 and data.column("churned").null_count == 0


def test_feature_metadata_has_arrow_types_and_training_categories(engine):
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    def encoded():
        return make_pipeline(
            make_column_transformer((OneHotEncoder(), ["region_kind"]), remainder="passthrough"), logistic()
        )

    spec = spec_of(encoded, features=["score", "visits", "region_kind"])
    result = fit_candidates(spec, read_training(engine, TABLE, spec))
    assert result.features == [
        {"name": "score", "type": "double"},
        {"name": "visits", "type": "int32"},
        {"name": "region_kind", "type": "string", "categories": ["east", "north", "south", "west"]},
    ]


def test_decimal_features_become_floats():
    import pyarrow as pa
    from decimal import Decimal

    table = pa.table({"a": pa.array([Decimal("1.50"), None], pa.decimal128(10, 2)), "b": ["x", None]})
    frame = to_frame(table, ["a", "b"])
    assert frame["a"].dtype == np.float64 and frame["a"].iloc[0] == 1.5 and np.isnan(frame["a"].iloc[1])


# -- sampling ---------------------------------------------------------------------------


def test_sampling_is_deterministic_and_close_to_the_fraction(engine):
    engine.execute("create table features.big as select i as customer_id, i % 3 = 0 as churned, i * 0.5 as score from range(100000) t(i)")
    spec = spec_of(logistic, training="big", sample=0.1)
    big = exp.to_table("features.big")
    first = read_training(engine, big, spec).column("customer_id").to_pylist()
    second = read_training(engine, big, spec).column("customer_id").to_pylist()
    assert first == second
    assert 9_500 <= len(first) <= 10_500

    # the same rows written in another order sample the same keys
    engine.execute("create table features.shuffled as select * from features.big order by hash(customer_id * 17)")
    again = read_training(engine, exp.to_table("features.shuffled"), spec).column("customer_id").to_pylist()
    assert again == first


def test_sampling_hashes_every_key_column(engine):
    engine.execute(
        "create table features.pairs as select i // 100 as a, i % 100 as b, i % 2 = 0 as churned, i * 1.0 as score "
        "from range(50000) t(i)"
    )
    spec = spec_of(logistic, training="pairs", key=["a", "b"], sample=0.25)
    data = read_training(engine, exp.to_table("features.pairs"), spec)
    assert 11_500 <= data.num_rows <= 13_500
    assert len(set(data.column("b").to_pylist())) == 100  # not a sample of `a` alone


# -- splits -----------------------------------------------------------------------------


def test_random_split_is_seeded_and_reproducible(engine):
    spec = numeric_spec(test_fraction=0.25, seed=3)
    data = read_training(engine, TABLE, spec)
    train, test = split(data, spec)
    again = split(data, spec)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert len(test) == 1000 and len(train) == 3000
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(4000))
    other = split(data, numeric_spec(test_fraction=0.25, seed=4))
    assert not np.array_equal(test, other[1])


def test_time_split_tests_on_the_latest_periods(engine):
    spec = numeric_spec(split="time", split_column="snapshot_date", test_fraction=0.25)
    data = read_training(engine, TABLE, spec)
    train, test = split(data, spec)
    dates = np.array(data.column("snapshot_date").to_pylist())
    assert max(dates[train]) < min(dates[test])
    assert len(set(dates[test])) == 2 and len(test) == 1000  # 2 of 8 equal months = 25%
    assert np.array_equal(test, split(data, spec)[1])


def test_time_split_never_puts_every_period_in_test(engine):
    engine.execute("create table features.two as select i as customer_id, i % 2 = 0 as churned, i * 1.0 as score, i % 10 = 0 as late from range(100) t(i)")
    spec = spec_of(logistic, training="two", split="time", split_column="late", test_fraction=0.9)
    data = read_training(engine, exp.to_table("features.two"), spec)
    train, test = split(data, spec)
    late = np.array(data.column("late").to_pylist())
    assert late[test].all() and not late[train].any()


def test_time_split_with_nulls_or_one_period_fails(engine):
    spec = numeric_spec(split="time", split_column="snapshot_date")
    engine.execute("update features.train set snapshot_date = null where customer_id = 5")
    with pytest.raises(StepFailed, match="split column 'snapshot_date' .* 1 NULL"):
        split(read_training(engine, TABLE, spec), spec)
    engine.execute("update features.train set snapshot_date = date '2024-01-01'")
    with pytest.raises(StepFailed, match="one distinct value"):
        split(read_training(engine, TABLE, spec), spec)


def test_group_split_keeps_each_group_on_one_side(engine):
    spec = spec_of(logistic, exclude=["region_kind", "spend"], features=["score"], split="group", split_column="region", seed=1)
    data = read_training(engine, TABLE, spec)
    train, test = split(data, spec)
    regions = np.array(data.column("region").to_pylist())
    assert not set(regions[train]) & set(regions[test])
    assert len(train) + len(test) == 4000 and len(test) == 800  # 8 of 40 equal groups
    assert np.array_equal(test, split(data, spec)[1])
    other = spec_of(logistic, features=["score"], split="group", split_column="region", seed=2)
    assert set(regions[split(data, other)[1]]) != set(regions[test])


# -- candidates and gates ---------------------------------------------------------------


def test_the_best_candidate_by_the_primary_metric_is_kept(engine):
    from sklearn.dummy import DummyClassifier

    def candidates():
        return {"dummy": DummyClassifier(), "logistic": logistic(), "also_dummy": DummyClassifier(strategy="prior")}

    spec = spec_of(candidates, features=["score", "visits"], metrics=["roc_auc", "accuracy"])
    result = fit_candidates(spec, read_training(engine, TABLE, spec))
    assert result.best == "logistic"
    assert [c["name"] for c in result.candidates] == ["dummy", "logistic", "also_dummy"]
    assert all(set(c["metrics"]) == {"roc_auc", "accuracy"} for c in result.candidates)
    assert result.candidates[0]["metrics"]["roc_auc"] == 0.5
    assert result.metrics == result.candidates[1]["metrics"]
    assert hasattr(result.estimator, "coef_") and result.estimator is not candidates()["logistic"]


def test_a_tie_keeps_the_first_declared_candidate(engine):
    from sklearn.dummy import DummyClassifier

    spec = spec_of(lambda: {"first": DummyClassifier(), "second": DummyClassifier()}, features=["score"])
    assert fit_candidates(spec, read_training(engine, TABLE, spec)).best == "first"


def test_gates_pass_and_fail(engine):
    spec = numeric_spec(metrics=["roc_auc"], gates={"roc_auc": 0.6, "accuracy": 0.5})
    result = fit_candidates(spec, read_training(engine, TABLE, spec))
    assert result.passed_gates and result.failed_gate is None
    assert "accuracy" in result.metrics  # a gated metric is evaluated even if not declared

    spec = numeric_spec(metrics=["roc_auc"], gates={"roc_auc": 0.999})
    result = fit_candidates(spec, read_training(engine, TABLE, spec))
    assert not result.passed_gates
    assert result.failed_gate.startswith("roc_auc ") and result.failed_gate.endswith("< 0.999")


def test_params_are_json_safe():
    import json

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    params = json_safe(make_pipeline(StandardScaler(), logistic()).get_params())
    json.dumps(params, allow_nan=False)
    assert params["logisticregression__max_iter"] == 500
    assert params["steps"][1] == ["logisticregression", "LogisticRegression(max_iter=500)"]
    assert json_safe({"a": np.float64(float("nan")), "b": np.int64(3), "c": np.float32}) == {"a": "nan", "b": 3, "c": "numpy.float32"}


# -- bad input --------------------------------------------------------------------------


def test_missing_label_column_names_model_table_and_column(engine):
    with pytest.raises(StepFailed) as error:
        read_training(engine, TABLE, numeric_spec(label="churn"))
    assert str(error.value) == (
        "model logistic: label column 'churn' is not in training table features.train (did you mean 'churned'?)"
    )


def test_missing_feature_and_key_columns(engine):
    with pytest.raises(StepFailed, match=r"model logistic: feature column 'age' is not in training table .*features\.train"):
        read_training(engine, TABLE, spec_of(logistic, features=["score", "age"]))
    with pytest.raises(StepFailed, match=r"key column 'id' is not in training table"):
        read_training(engine, TABLE, spec_of(logistic, key="id", features=["score"]))
    with pytest.raises(StepFailed, match=r"training table .*features\.nope does not exist"):
        read_training(engine, exp.to_table("features.nope"), numeric_spec())


def test_label_all_null(engine):
    engine.execute("update features.train set churned = null")
    with pytest.raises(StepFailed, match=r"label column 'churned' of training table .*features\.train is all NULL"):
        read_training(engine, TABLE, numeric_spec())


def test_empty_training_table(engine):
    engine.execute("delete from features.train")
    with pytest.raises(StepFailed, match=r"model logistic: training table .*features\.train is empty"):
        read_training(engine, TABLE, numeric_spec())


def test_classifier_with_one_class(engine):
    engine.execute("update features.train set churned = true")
    spec = numeric_spec()
    with pytest.raises(StepFailed, match=r"label column 'churned' of train has one class only \(True\); classifier LogisticRegression needs at least 2"):
        fit_candidates(spec, read_training(engine, TABLE, spec))


def test_unknown_metric_points_at_the_model_file(engine):
    spec = numeric_spec(metrics=["roc_aux"])
    with pytest.raises(ProjectError) as error:
        fit_candidates(spec, read_training(engine, TABLE, spec))
    assert error.value.file == "models/churn.py" and error.value.line == 12
    assert "unknown metric 'roc_aux'" in str(error.value) and "did you mean 'roc_auc'?" in str(error.value)


def test_a_failing_fit_names_the_candidate(engine):
    spec = spec_of(logistic, features=["score", "region_kind"])  # strings without an encoder
    with pytest.raises(StepFailed, match=r"candidate LogisticRegression failed to fit on train: .*'(north|south|east|west)'"):
        fit_candidates(spec, read_training(engine, TABLE, spec))


# -- declarations refused at the @model line ---------------------------------------------


def test_time_split_on_a_string_column_is_refused_at_the_model_line(engine):
    """A text column sorts '10' before '9': as a time split it is a project mistake (exit 2)."""
    spec = numeric_spec(split="time", split_column="region")
    with pytest.raises(ProjectError, match=r"split_column 'region' of features.train is (VARCHAR|character varying)") as raised:
        read_training(engine, TABLE, spec)
    assert (raised.value.file, raised.value.line) == ("models/churn.py", 12)


@pytest.mark.parametrize("metric, label, build", [("r2", "churned", logistic), ("roc_auc", "spend", "ridge"), ("accuracy", "spend", "ridge")])
def test_a_metric_of_the_other_task_is_refused_at_the_model_line(engine, metric, label, build):
    from sklearn.linear_model import Ridge

    def ridge():
        return Ridge()

    spec = spec_of(ridge if build == "ridge" else build, label=label, features=["score", "visits"], metrics=[metric])
    with pytest.raises(ProjectError, match=f"metric '{metric}' is a .* metric, but candidate .* is a") as raised:
        fit_candidates(spec, read_training(engine, TABLE, spec))
    assert (raised.value.file, raised.value.line) == ("models/churn.py", 12)

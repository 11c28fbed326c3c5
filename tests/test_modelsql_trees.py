"""The model-to-SQL compiler's tree models: decision trees, forests, gradient boosting
and histogram gradient boosting (toolkit.modelsql.trees).

Every case runs the compiled SQL on DuckDB and on PostgreSQL (skipped without
TOOLKIT_TEST_POSTGRES_URL) over training rows and held-out rows (NULLs, NaNs,
unseen categories) and compares with scikit-learn: values to 1e-9, labels
identical. Trees are small for speed; a few 100-tree ensembles and a 1000-stage one
exercise the hoisted running sums.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sklearn.compose import make_column_transformer
from sklearn.dummy import DummyClassifier, DummyRegressor
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
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier, ExtraTreeRegressor
from sqlglot import exp

from modelsql_support import ENGINES, KEY, check, compile_for, make_dataset, open_warehouse
from toolkit.modelsql import Unsupported, compile_model, unsupported_reason
from toolkit.modelsql.base import Column, Context
from toolkit.modelsql.trees import float32_threshold

DATA = make_dataset()
NUMERIC = ["x1", "x2", "n3", "d4", "b5"]  # x1 holds NULLs and NaNs, n3 and d4 NULLs
STRINGS = ["c1", "c2"]


@pytest.fixture(scope="module", params=ENGINES)
def warehouse(request):
    """One engine per parameter, holding the training and held-out rows."""
    with open_warehouse(request.param) as warehouse:
        warehouse.sources = {"train": warehouse.load("train", DATA.train), "test": warehouse.load("test", DATA.test)}
        yield warehouse


def fit(model, names: list[str], label: str):
    if label == "positive":  # Poisson / gamma targets
        y = np.exp(DATA.labels("target") / 40.0)
    else:
        y = DATA.labels(label)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(DATA.frame(DATA.train, names), y)


def check_both(model, names: list[str], warehouse) -> None:
    for which, table in (("train", DATA.train), ("test", DATA.test)):
        check(model, DATA.select(names), table, warehouse, warehouse.sources[which])


def encoded(final):
    """Strings one-hot encoded (unknown -> zeros), numbers passed on with their NULLs."""
    strings = make_pipeline(SimpleImputer(strategy="constant", fill_value="?"), OneHotEncoder(handle_unknown="ignore"))
    return make_pipeline(make_column_transformer((strings, STRINGS), remainder="passthrough"), final)


def imputed(final):
    """For estimators that reject NaN: numbers imputed, strings one-hot encoded."""
    strings = make_pipeline(SimpleImputer(strategy="constant", fill_value="?"), OneHotEncoder(handle_unknown="ignore"))
    return make_pipeline(make_column_transformer((strings, STRINGS), (SimpleImputer(), NUMERIC)), final)


SMALL = dict(random_state=0)
FOREST = dict(n_estimators=7, max_depth=5, min_samples_leaf=3, random_state=0)
BOOST = dict(n_estimators=12, max_depth=3, random_state=0)
HIST = dict(max_iter=12, max_leaf_nodes=15, random_state=0)

# name -> (model, label, columns)
CASES = {
    "decision_tree_binary": (lambda: DecisionTreeClassifier(max_depth=6, **SMALL), "binary", NUMERIC),
    "decision_tree_multiclass": (lambda: DecisionTreeClassifier(max_depth=6, **SMALL), "multiclass", NUMERIC),
    "decision_tree_multiclass_int": (lambda: DecisionTreeClassifier(min_samples_leaf=4, **SMALL), "multiclass_int", NUMERIC),
    "decision_tree_full_depth": (lambda: DecisionTreeClassifier(**SMALL), "binary", NUMERIC),
    "decision_tree_entropy_encoded": (
        lambda: encoded(DecisionTreeClassifier(criterion="entropy", max_depth=8, **SMALL)),
        "multiclass",
        DATA.names,
    ),
    "extra_tree_classifier": (lambda: ExtraTreeClassifier(max_depth=6, **SMALL), "multiclass", NUMERIC),
    "decision_tree_regressor": (lambda: DecisionTreeRegressor(max_depth=7, **SMALL), "target", NUMERIC),
    "decision_tree_regressor_absolute": (
        lambda: DecisionTreeRegressor(criterion="absolute_error", max_depth=5, **SMALL),
        "target",
        NUMERIC,
    ),
    "extra_tree_regressor": (lambda: ExtraTreeRegressor(max_depth=6, **SMALL), "target", NUMERIC),
    "random_forest_binary": (lambda: RandomForestClassifier(**FOREST), "binary", NUMERIC),
    "random_forest_multiclass_encoded": (lambda: encoded(RandomForestClassifier(**FOREST)), "multiclass", DATA.names),
    "random_forest_multiclass_int": (lambda: RandomForestClassifier(**FOREST), "multiclass_int", NUMERIC),
    "random_forest_regressor": (lambda: RandomForestRegressor(**FOREST), "target", NUMERIC),
    "extra_trees_binary": (lambda: ExtraTreesClassifier(**FOREST), "binary", NUMERIC),
    "extra_trees_multiclass": (lambda: ExtraTreesClassifier(**FOREST), "multiclass", NUMERIC),
    "extra_trees_regressor": (lambda: encoded(ExtraTreesRegressor(**FOREST)), "target", DATA.names),
    "gradient_boosting_binary": (lambda: imputed(GradientBoostingClassifier(**BOOST)), "binary", DATA.names),
    "gradient_boosting_multiclass": (lambda: imputed(GradientBoostingClassifier(**BOOST)), "multiclass", DATA.names),
    "gradient_boosting_exponential": (
        lambda: imputed(GradientBoostingClassifier(loss="exponential", **BOOST)),
        "binary",
        DATA.names,
    ),
    "gradient_boosting_init_zero": (
        lambda: imputed(GradientBoostingClassifier(init="zero", subsample=0.7, **BOOST)),
        "multiclass_int",
        DATA.names,
    ),
    "gradient_boosting_init_most_frequent": (
        lambda: imputed(GradientBoostingClassifier(init=DummyClassifier(strategy="most_frequent"), **BOOST)),
        "binary",
        DATA.names,
    ),
    "gradient_boosting_squared_error": (lambda: imputed(GradientBoostingRegressor(**BOOST)), "target", DATA.names),
    "gradient_boosting_absolute_error": (
        lambda: imputed(GradientBoostingRegressor(loss="absolute_error", **BOOST)),
        "target",
        DATA.names,
    ),
    "gradient_boosting_huber": (lambda: imputed(GradientBoostingRegressor(loss="huber", **BOOST)), "target", DATA.names),
    "gradient_boosting_quantile": (
        lambda: imputed(GradientBoostingRegressor(loss="quantile", alpha=0.8, **BOOST)),
        "target",
        DATA.names,
    ),
    "gradient_boosting_init_zero_regressor": (
        lambda: imputed(GradientBoostingRegressor(init="zero", **BOOST)),
        "target",
        DATA.names,
    ),
    "gradient_boosting_init_dummy_median": (
        lambda: imputed(GradientBoostingRegressor(init=DummyRegressor(strategy="median"), **BOOST)),
        "target",
        DATA.names,
    ),
    "hist_gradient_boosting_binary": (lambda: HistGradientBoostingClassifier(**HIST), "binary", NUMERIC),
    "hist_gradient_boosting_multiclass": (lambda: HistGradientBoostingClassifier(**HIST), "multiclass", NUMERIC),
    "hist_gradient_boosting_categorical": (
        lambda: HistGradientBoostingClassifier(categorical_features=STRINGS, **HIST),
        "multiclass",
        DATA.names,
    ),
    "hist_gradient_boosting_numeric_categorical": (
        lambda: HistGradientBoostingClassifier(categorical_features=["n3", "b5"], **HIST),
        "binary",
        NUMERIC,
    ),
    "hist_gradient_boosting_ordinal_codes": (
        lambda: make_pipeline(
            make_column_transformer(
                (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), STRINGS), remainder="passthrough"
            ),
            HistGradientBoostingClassifier(categorical_features=[0, 1], **HIST),
        ),
        "multiclass_int",
        DATA.names,
    ),
    "hist_gradient_boosting_squared_error": (lambda: HistGradientBoostingRegressor(**HIST), "target", NUMERIC),
    "hist_gradient_boosting_absolute_error": (
        lambda: HistGradientBoostingRegressor(loss="absolute_error", **HIST),
        "target",
        NUMERIC,
    ),
    "hist_gradient_boosting_quantile": (
        lambda: HistGradientBoostingRegressor(loss="quantile", quantile=0.3, **HIST),
        "target",
        NUMERIC,
    ),
    "hist_gradient_boosting_poisson": (lambda: HistGradientBoostingRegressor(loss="poisson", **HIST), "positive", NUMERIC),
    "hist_gradient_boosting_gamma_categorical": (
        lambda: HistGradientBoostingRegressor(loss="gamma", categorical_features=STRINGS, **HIST),
        "positive",
        DATA.names,
    ),
}


@functools.cache
def fitted(case: str):
    """Fitted once, scored on both engines."""
    factory, label, names = {**CASES, **LARGE}[case]
    return fit(factory(), names, label)


@pytest.mark.parametrize("case", sorted(CASES))
def test_estimator_matches_scikit_learn(case, warehouse):
    check_both(fitted(case), CASES[case][2], warehouse)


# 100-tree ensembles: ten hoisted running sums of 10 trees each.
LARGE = {
    "random_forest_100": (
        lambda: RandomForestClassifier(n_estimators=100, max_depth=4, random_state=0),
        "multiclass",
        NUMERIC,
    ),
    "gradient_boosting_100": (lambda: imputed(GradientBoostingClassifier(random_state=0)), "multiclass", DATA.names),
    "hist_gradient_boosting_100": (
        lambda: HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0),
        "binary",
        NUMERIC,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(LARGE))
def test_hundred_tree_ensembles(case, warehouse):
    names = LARGE[case][2]
    check(fitted(case), DATA.select(names), DATA.test, warehouse, warehouse.sources["test"])


@pytest.mark.slow
def test_thousand_stumps_stay_within_engine_limits(warehouse):
    """1000 stages: one left-deep sum would nest past DuckDB's max_expression_depth
    (1000) and near PostgreSQL's stack limit; the hoisted running sums do not."""
    model = fit(GradientBoostingRegressor(n_estimators=1000, max_depth=1, learning_rate=0.05), ["x2"], "target")
    check(model, DATA.select(["x2"]), DATA.test, warehouse, warehouse.sources["test"])


# --- exactness at the edges ---------------------------------------------------------------


def test_float32_threshold_equals_scikit_learns_float32_comparison():
    """x <= float32_threshold(t) exactly when float32(x) <= t, on values next to every
    float32 involved, ties to even included, denormals and the float32 range's ends."""
    rng = np.random.default_rng(3)
    thresholds = list(rng.normal(0, 10, 300)) + [float(np.float32(v)) for v in rng.normal(0, 1e3, 300)]
    for value in rng.normal(0, 1e3, 300).astype(np.float32):  # midpoints between adjacent float32s
        thresholds.append((float(value) + float(np.nextafter(value, np.float32(np.inf)))) / 2)
    thresholds += [0.0, -0.0, 1.0, 2.0**24, 1e-45, -1e-44, 1e-40, 3.4e38, -3.4e38, float(np.finfo(np.float32).max)]
    for t in thresholds:
        cut = float32_threshold(t)
        near = [t, cut, float(np.float32(t))]
        xs = []
        for centre in near:
            x = centre
            for _ in range(3):
                x = math.nextafter(x, math.inf)
                xs.append(x)
            x = centre
            for _ in range(3):
                x = math.nextafter(x, -math.inf)
                xs.append(x)
            xs.append(centre)
        xs = np.array([x for x in xs if abs(x) < 3.4e38])
        expected = xs.astype(np.float32).astype(np.float64) <= t
        assert (xs <= cut).tolist() == expected.tolist(), t
    assert float32_threshold(math.inf) == math.inf


def test_rows_at_float32_rounding_boundaries(warehouse):
    """Rows exactly at, and one float64 step either side of, the value where float32
    rounding crosses each split: the SQL sends them where scikit-learn does. Also
    values that round to 0 or to float32's largest value in float32 (a CAST to REAL
    would fail on those in PostgreSQL and DuckDB)."""
    rng = np.random.default_rng(5)
    train = pa.table({"x": rng.normal(0, 1, 300)})
    model = DecisionTreeRegressor(max_depth=8, random_state=0).fit(DATA.frame(train, ["x"]), rng.normal(size=300))
    values = [1e-46, -1e-46, 3.4028235e38, -3.4028235e38, 0.0]
    for threshold in model.tree_.threshold[model.tree_.feature >= 0]:
        cut = float32_threshold(threshold)
        values += [cut, math.nextafter(cut, math.inf), math.nextafter(cut, -math.inf), threshold]
    table = pa.table({"id": np.arange(len(values)), "x": pa.array(values, pa.float64())})
    check(model, [{"name": "x", "type": "double"}], table, warehouse)


def test_forest_ties_go_to_the_first_class(warehouse):
    """Two pure-leaf trees that disagree: probabilities 0.5 / 0.5 and the label of
    the first class, as numpy's argmax picks."""
    x = DATA.frame(pa.table({"x": [0.0, 1.0, 2.0, 3.0] * 10}), ["x"])
    y = np.where(x["x"] < 1.5, "a", "b")
    model = RandomForestClassifier(n_estimators=2, bootstrap=False, max_features=None, max_depth=1, random_state=0)
    model.fit(x, y)
    model.estimators_[1] = DecisionTreeClassifier(max_depth=1).fit(x.to_numpy(), np.where(x["x"] < 1.5, "b", "a"))
    table = pa.table({"id": np.arange(8), "x": pa.array(np.arange(8) / 2.0, pa.float64())})
    result = check(model, [{"name": "x", "type": "double"}], table, warehouse)
    assert any(p == 0.5 for p in result.column("proba_a").to_pylist())


@pytest.mark.slow
@pytest.mark.parametrize("label", ["binary", "multiclass"])
def test_extreme_raw_scores_do_not_overflow(label, warehouse):
    """Raw scores in the thousands: PostgreSQL's EXP raises on overflow / underflow;
    the clamp keeps scikit-learn's probabilities (0 and 1 within 1e-300)."""
    model = fit(HistGradientBoostingClassifier(**HIST), NUMERIC, label)
    for iteration in model._predictors:
        for predictor in iteration:
            predictor.nodes["value"] *= 400.0
    result = check(model, DATA.select(NUMERIC), DATA.test, warehouse, warehouse.sources["test"])
    assert min(result.column(result.column_names[-1]).to_pylist()) < 1e-300


def test_missing_inputs_give_null_when_scikit_learn_rejects_them(warehouse):
    """GradientBoosting raises on NaN; its SQL gives NULL for those rows only."""
    names = ["x1", "x2"]
    rows = DATA.train.filter(pc.is_valid(DATA.train.column("x1")))
    rows = rows.filter(pc.invert(pc.is_nan(rows.column("x1"))))
    model = GradientBoostingClassifier(**BOOST).fit(DATA.frame(rows, names), DATA.labels("binary", rows))
    select = compile_for(model, DATA.select(names), warehouse.sources["test"])
    result = warehouse.run(select).sort_by([(k, "ascending") for k in KEY])
    x1 = DATA.test.sort_by([(k, "ascending") for k in KEY]).column("x1").to_numpy(zero_copy_only=False)
    missing = np.isnan(x1)
    assert missing.any()
    for column in ("prediction", "proba_no", "proba_yes"):
        values = result.column(column).to_pylist()
        assert all(v is None for v, m in zip(values, missing) if m)
        assert all(v is not None for v, m in zip(values, missing) if not m)
    present = DATA.test.sort_by([(k, "ascending") for k in KEY]).filter(pa.array(~missing))
    check(model, DATA.select(names), present, warehouse)


def test_without_a_hoisting_context_the_sql_is_one_expression():
    """A bare Context (no compiler around it) gets the same arithmetic, inlined."""
    from toolkit.modelsql.trees import _gradient_boosting

    model = fit(GradientBoostingRegressor(n_estimators=30, max_depth=2), ["x2", "b5"], "target")
    scores = _gradient_boosting(model, [Column(exp.column("x2")), Column(exp.column("b5"))], Context())
    import duckdb

    sql = exp.select(exp.column("id"), scores.prediction.as_("p")).from_("rows").sql("duckdb")
    connection = duckdb.connect()
    frame = DATA.frame(DATA.test, ["x2", "b5"])
    rows = pa.table({"id": DATA.test.column("id"), "x2": DATA.test.column("x2"), "b5": DATA.test.column("b5").cast(pa.float64())})
    connection.register("rows", rows)
    got = np.array([p for _, p in connection.execute(sql).fetchall()])
    np.testing.assert_allclose(got, model.predict(frame), rtol=0, atol=1e-9)


# --- rejected ----------------------------------------------------------------------------


def test_multi_output_trees_are_rejected():
    y = np.c_[DATA.labels("target"), DATA.labels("target")]
    model = DecisionTreeRegressor(max_depth=2).fit(DATA.frame(DATA.train, ["x2"]), y)
    assert "multi-output" in unsupported_reason(model)
    forest = RandomForestClassifier(n_estimators=2).fit(
        DATA.frame(DATA.train, ["x2"]), np.c_[DATA.labels("binary"), DATA.labels("multiclass")]
    )
    assert "multi-output" in unsupported_reason(forest)


@pytest.mark.parametrize(
    "init",
    [LogisticRegression(), DummyClassifier(strategy="stratified", random_state=0)],
    ids=["logistic_regression", "stratified_dummy"],
)
def test_non_constant_init_estimators_are_rejected(init):
    model = fit(GradientBoostingClassifier(init=init, n_estimators=3), ["x2"], "binary")
    with pytest.raises(Unsupported) as error:
        compile_model(model, DATA.select(["x2"]), KEY, exp.table_("t"))
    assert error.value.step == "gradientboostingclassifier" and "init estimator" in error.value.reason


def test_unsupported_link_is_rejected():
    from sklearn._loss.loss import HalfTweedieLossIdentity

    model = fit(HistGradientBoostingRegressor(loss=HalfTweedieLossIdentity(power=0.0), max_iter=3), ["x2"], "target")
    assert compile_model(model, DATA.select(["x2"]), KEY, exp.table_("t")) is not None  # identity link: fine
    model._loss.link = object()
    with pytest.raises(Unsupported, match="link function"):
        compile_model(model, DATA.select(["x2"]), KEY, exp.table_("t"))


def test_supported_tree_pipelines_have_no_reason():
    model = fit(encoded(RandomForestClassifier(n_estimators=3)), DATA.names, "binary")
    assert unsupported_reason(model, DATA.features) is None
    hist = fit(HistGradientBoostingClassifier(categorical_features=STRINGS, max_iter=3), DATA.names, "binary")
    assert unsupported_reason(hist, DATA.features) is None

"""Compiled linear models on rows whose arithmetic overflows or underflows (issue 18).

PostgreSQL raises "value out of range: overflow / underflow" for a float operation
whose finite operands give inf, or a non-zero result that rounds to 0 (0.3 * 5e-324,
3 * 1e308, 1e308 + 1e308, exp(-746)); one such row used to abort the whole scoring
query. The compiled SQL must instead give what scikit-learn gives: the same labels,
the same regression values (inf included), probabilities to 1e-9 where finite.

Rows whose outcome depends on how the dot product is evaluated are left out of the
comparison: where a product or partial sum overflows although the exact value is
finite (or two infinities cancel to NaN), numpy's BLAS, which may fuse a multiply
and an add and sums in its own order, can return a finite value or another sign.
Runs on DuckDB and on PostgreSQL (skipped without TOOLKIT_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import sys
import warnings
from fractions import Fraction

import numpy as np
import pyarrow as pa
import pytest
from modelsql_support import ATOL, ENGINES, KEY, compile_for, open_warehouse
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    RobustScaler,
    StandardScaler,
)

from toolkit.mlcore import proba_columns
from toolkit.modelsql import mathsql
from toolkit.training import to_frame

MAX = sys.float_info.max
TINY = 5e-324  # the smallest subnormal
FEATURES = [{"name": "x1", "type": "double"}, {"name": "x2", "type": "double"}]
PAIRS = [
    (0.5, -1.25), (2.0, 3.0), (-4.0, 0.0),  # ordinary rows, scored alongside
    (TINY, 1.0), (TINY, TINY), (-TINY, 2.5e-320), (1e-310, -1e-315),  # products underflow
    (1e308, 1.0), (1.0, 1e308), (-1e308, 1.0), (1e308, 1e308), (-1e308, -1e308),  # products or sums overflow
    (1e308, -1e308), (MAX, -MAX), (MAX, MAX), (1e300, 1e-300), (-MAX, TINY),  # cancellations, mixed
    (1e200, -1e200), (7e307, 7e307), (-9e307, 9e307),
]
ROWS = pa.table({"id": list(range(len(PAIRS))), "x1": [a for a, _ in PAIRS], "x2": [b for _, b in PAIRS]})


def fitted(model, coef, intercept, **scaling):
    """`model` fitted on a few ordinary rows, then given round coefficients (and, for
    a pipeline, its scaler round parameters: attribute -> values)."""
    frame = to_frame(pa.table({"x1": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "x2": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]}), ["x1", "x2"])
    classes = len(coef) if np.ndim(coef) == 2 and len(coef) > 1 else 2
    model.fit(frame, np.arange(6) % classes)
    final = model[-1] if isinstance(model, Pipeline) else model
    final.coef_, final.intercept_ = np.asarray(coef, float), np.asarray(intercept, float)
    for name, values in scaling.items():
        setattr(model[0], name, np.asarray(values, float))
    return model


MODELS = {
    "regression_small_and_large_coefficients": lambda: fitted(LinearRegression(), [0.3, 3.0], 0.0),
    "regression_sum_overflows": lambda: fitted(LinearRegression(), [1.0, 1.0], 1e-320),
    "regression_huge_intercept": lambda: fitted(LinearRegression(), [2.0, -0.25], 1.5e308),
    "binary_logistic": lambda: fitted(LogisticRegression(), [[0.3, 3.0]], [-0.5]),
    "binary_logistic_cancelling": lambda: fitted(LogisticRegression(), [[3.0, -3.0]], [0.0]),
    "binary_logistic_negative": lambda: fitted(LogisticRegression(), [[-3.0, 0.5]], [0.25]),
    "standard_scaler_then_logistic": lambda: fitted(
        make_pipeline(StandardScaler(), LogisticRegression()), [[0.3, 3.0]], [0.1], mean_=[1.0, -2.0], scale_=[0.5, 4.0]
    ),
    "robust_scaler_then_regression": lambda: fitted(
        make_pipeline(RobustScaler(), LinearRegression()), [1.0, -0.5], 0.0, center_=[-1e300, 3.0], scale_=[0.25, 1e10]
    ),
    "min_max_scaler_then_regression": lambda: fitted(
        make_pipeline(MinMaxScaler(), LinearRegression()), [1.0, 1.0], 0.0, scale_=[8.0, 1e-5], min_=[-0.5, 1e300]
    ),
    "max_abs_scaler_then_multiclass": lambda: fitted(
        make_pipeline(MaxAbsScaler(), LogisticRegression()), [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]], [0.0, 0.0, 0.0], scale_=[0.125, 1e4]
    ),
    "multiclass_logistic": lambda: fitted(LogisticRegression(), [[0.3, 3.0], [1.0, -1.0], [-2.0, 0.5]], [0.0, 1.0, -1.0]),
}


def _depends_on_blas(x: tuple[float, float], coef, intercept) -> bool:
    """Does IEEE arithmetic in the compiled order overflow where the exact value does
    not (or give NaN)? Then BLAS's evaluation order decides, not float64 itself.
    (An infinite input is refused by scikit-learn: see scikit_learn.)"""
    if not all(np.isfinite(x)):
        return False
    with np.errstate(all="ignore"):
        products = [np.float64(v) * np.float64(w) for v, w in zip(x, coef)]
        total = (products[0] + products[1]) + np.float64(intercept)
    overflowed = any(np.isinf(p) for p in products) or np.isinf(products[0] + products[1]) or np.isinf(total)
    exact = sum(Fraction(v) * Fraction(float(w)) for v, w in zip(x, coef)) + Fraction(float(intercept))
    return bool(overflowed and (abs(exact) <= Fraction(MAX) or np.isnan(total)))


def compared_rows(model) -> np.ndarray:
    """Rows whose result is float64's, not BLAS's (see the module doc); a pipeline's
    scalers work element by element, so their output is what the final model sees."""
    final, rows = model, to_frame(ROWS, ["x1", "x2"])
    if isinstance(model, Pipeline):
        final = model[-1]
        with np.errstate(all="ignore"):
            rows = model[:-1].transform(rows)
    coef, intercept = np.atleast_2d(final.coef_), np.ravel(final.intercept_)
    values = [tuple(float(v) for v in row) for row in np.asarray(rows, float)]
    return np.array([not any(_depends_on_blas(x, w, b) for w, b in zip(coef, intercept)) for x in values])


# "unguarded": plain float arithmetic, as compiled for engines with IEEE_FLOATS (DuckDB) only
@pytest.mark.parametrize("engine, products", [(e, p) for e in ENGINES for p in ("hoisted", "inline", "unguarded")
                                              if p != "unguarded" or e == "duckdb"])
@pytest.mark.parametrize("case", sorted(MODELS))
def test_overflow_and_underflow_score_like_scikit_learn(engine, case, products, monkeypatch):
    if products == "inline":  # as for models too wide to give each product a column
        monkeypatch.setattr(mathsql, "MAX_HOISTED", 0)
    model = MODELS[case]()
    with open_warehouse(engine) as warehouse:
        source = warehouse.load("extremes", ROWS)
        result = warehouse.run(compile_for(model, FEATURES, source, fence=engine == "postgres", guards=products != "unguarded"))
    result = result.sort_by([(k, "ascending") for k in KEY])
    assert result.column("id").to_pylist() == ROWS.column("id").to_pylist()
    compared, expected, probabilities = scikit_learn(model)
    # the ordinary and underflowing rows always, and some overflowing ones
    assert compared[:7].all() and compared.sum() >= 10, f"{case}: compared rows {compared.nonzero()[0].tolist()}"
    got = result.column("prediction").to_pylist()
    if probabilities is None:
        values = np.array(got, float)[compared]
        np.testing.assert_allclose(values, np.array(expected, float)[compared], rtol=1e-15, atol=ATOL, err_msg=f"{engine} {case}")
        return
    assert [g for g, c in zip(got, compared) if c] == [e for e, c in zip(expected, compared) if c], f"{engine} {case}: labels"
    for i, column in enumerate(proba_columns(list(model.classes_))):
        values = result.column(column).to_numpy(zero_copy_only=False).astype(float)
        finite = np.isfinite(probabilities[:, i]) & compared
        np.testing.assert_allclose(values[finite], probabilities[finite, i], rtol=0, atol=ATOL, err_msg=f"{engine} {case} {column}")


def scikit_learn(model) -> tuple[np.ndarray, list, np.ndarray | None]:
    """Which rows to compare, and scikit-learn's predictions and probabilities, row by
    row: a scaler that overflows hands inf to the final estimator, which then refuses
    the row ("Input X contains infinity"); the SQL scores it, and it is not compared."""
    frame = to_frame(ROWS, ["x1", "x2"])
    compared = compared_rows(model)
    expected: list = []
    probabilities = [] if hasattr(model, "predict_proba") else None
    for i in range(len(PAIRS)):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                expected.append(model.predict(frame.iloc[[i]])[0].item())
                if probabilities is not None:
                    probabilities.append(model.predict_proba(frame.iloc[[i]])[0])
            except ValueError:
                compared[i] = False
                expected.append(None)
                if probabilities is not None:
                    probabilities.append(np.full(len(model.classes_), np.nan))
    return compared, expected, None if probabilities is None else np.array(probabilities)


def test_the_extreme_rows_overflow_in_scikit_learn_too():
    """The rows reach inf (not only large finite values) in scikit-learn, so the
    comparison above covers infinities as well as underflows."""
    model = MODELS["regression_small_and_large_coefficients"]()
    with np.errstate(all="ignore"):
        predictions = model.predict(to_frame(ROWS, ["x1", "x2"]))
    assert np.isinf(predictions).any() and np.isfinite(predictions).any()

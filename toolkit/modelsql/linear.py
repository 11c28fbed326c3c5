"""Converters for linear regressors and logistic regression.

The decision value is coef_ . x + intercept_, summed as a balanced tree of
additions (numpy's BLAS dot sums in its own order too; the two differ by rounding,
~1e-16 relative, far inside the 1e-9 tolerance, but a decision within that of a tie
could pick another label). A NULL input makes the prediction NULL, where
scikit-learn would raise on NaN.

Probabilities follow scikit-learn 1.9's LogisticRegression.predict_proba exactly:
binary is [1 - expit(d), expit(d)] with expit(d) = 1 / (1 + exp(-d)); multiclass is
utils.extmath.softmax: exp(d_k - max_j d_j) / sum_j exp(d_j - max_j d_j). Labels
follow predict: binary `d > 0` -> classes_[1]; multiclass the first class with the
largest decision value (numpy's argmax). EXP's argument is clamped to [-700, 700]:
PostgreSQL raises on underflow/overflow where numpy returns 0 / inf, and the
clamp changes a result by less than 1e-300.
"""

from __future__ import annotations

import numpy as np
from sqlglot import exp
from sklearn.linear_model import (
    ElasticNet,
    ElasticNetCV,
    Lasso,
    LassoCV,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    Ridge,
    RidgeCV,
)

from toolkit.modelsql.base import Column, Context, Scores, Unsupported, estimator, hoist, literal, number

EXP_LIMIT = 700.0


def _numbers(columns: list[Column], ctx: Context) -> None:
    strings = [c.name or f"#{i}" for i, c in enumerate(columns) if c.kind != "number"]
    if strings:
        raise Unsupported(ctx.path, f"string column(s) {strings} reach a linear model")


def _total(terms: list[exp.Expression]) -> exp.Expression:
    """A balanced sum: depth log2(n), so neither sqlglot nor the database's parser
    recurses once per feature."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return exp.paren(_total(terms[:middle]) + _total(terms[middle:]), copy=False)


def _decision(coef, intercept, columns: list[Column]) -> exp.Expression:
    """coef . x + intercept. Zero coefficients stay in, so NULL input gives NULL."""
    terms = [c.expr * number(w) for c, w in zip(columns, coef)]
    dot = _total(terms) if terms else number(0.0)
    return dot + number(intercept)


def _exp(argument: exp.Expression) -> exp.Expression:
    """EXP with its argument clamped (CASE, not GREATEST/LEAST: those skip NULLs)."""
    low, high = number(-EXP_LIMIT), number(EXP_LIMIT)
    clamped = exp.Case(
        ifs=[exp.If(this=argument < low, true=low), exp.If(this=argument > high, true=high)],
        default=argument,
    )
    return exp.func("EXP", clamped)


@estimator(LinearRegression, Ridge, RidgeCV, Lasso, LassoCV, ElasticNet, ElasticNetCV)
def linear_regressor(model, columns: list[Column], ctx: Context) -> Scores:
    """prediction = coef_ . x + intercept_ (single target only)."""
    _numbers(columns, ctx)
    coef = np.asarray(model.coef_, dtype=float)
    if coef.ndim != 1:
        raise Unsupported(ctx.path, f"{type(model).__name__} with a 2-D target (coef_ shape {coef.shape})")
    intercept = np.ravel(np.asarray(model.intercept_, dtype=float))
    if intercept.size > 1:
        raise Unsupported(ctx.path, f"{type(model).__name__} with several targets")
    return Scores(prediction=_decision(coef, intercept[0] if intercept.size else 0.0, columns))


@estimator(LogisticRegression, LogisticRegressionCV)
def logistic_regression(model, columns: list[Column], ctx: Context) -> Scores:
    """Binary: expit of one decision; multiclass: softmax of one decision per class."""
    _numbers(columns, ctx)
    classes = tuple(model.classes_)
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=float))
    intercept = np.ravel(np.asarray(model.intercept_, dtype=float))
    if len(classes) < 2 or coef.shape[0] != (1 if len(classes) == 2 else len(classes)):
        raise Unsupported(ctx.path, f"coef_ of shape {coef.shape} for {len(classes)} classes")
    decisions = hoist(ctx, [_decision(w, b, columns) for w, b in zip(coef, intercept)], "decision")
    if len(classes) == 2:
        return _binary(decisions[0], classes, ctx)
    return _multiclass(decisions, classes, ctx)


def _binary(decision: exp.Expression, classes: tuple, ctx: Context) -> Scores:
    [positive] = hoist(ctx, [number(1.0) / (number(1.0) + _exp(-decision))], "expit")
    label = exp.Case(
        ifs=[
            exp.If(this=decision > number(0.0), true=literal(classes[1])),
            exp.If(this=decision <= number(0.0), true=literal(classes[0])),
        ]
    )
    return Scores(prediction=label, probabilities=(number(1.0) - positive, positive), classes=classes)


def _multiclass(decisions: list[exp.Expression], classes: tuple, ctx: Context) -> Scores:
    [top] = hoist(ctx, [exp.func("GREATEST", *decisions)], "max")
    exps = hoist(ctx, [_exp(d - top) for d in decisions], "exp")
    [total] = hoist(ctx, [_sum_in_order(exps)], "sum")
    label = exp.Case(ifs=[exp.If(this=d.eq(top), true=literal(c)) for d, c in zip(decisions, classes)])
    return Scores(prediction=label, probabilities=tuple(e / total for e in exps), classes=classes)


def _sum_in_order(values: list[exp.Expression]) -> exp.Expression:
    """Left to right, as numpy sums a short row."""
    total = values[0]
    for value in values[1:]:
        total = total + value
    return total

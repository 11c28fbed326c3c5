"""Converters for linear regressors and logistic regression.

The decision value is coef_ . x + intercept_, summed as a balanced tree of
additions (numpy's BLAS dot sums in its own order too; the two differ by rounding,
~1e-16 relative, far inside the 1e-9 tolerance, but a decision within that of a tie
could pick another label). A NULL input makes the prediction NULL, where
scikit-learn raises on NaN: scoring counts such rows first and fails the step
(base.Refusal, toolkit.scoring), so a NULL score is never published.

Probabilities follow scikit-learn 1.9's LogisticRegression.predict_proba exactly:
binary is [1 - expit(d), expit(d)] with expit(d) = 1 / (1 + exp(-d)); multiclass is
utils.extmath.softmax: exp(d_k - max_j d_j) / sum_j exp(d_j - max_j d_j). Labels
follow predict: binary `d > 0` -> classes_[1]; multiclass the first class with the
largest decision value (numpy's argmax).

Every arithmetic step is guarded (toolkit.modelsql.mathsql): PostgreSQL raises on a
float overflow or underflow where numpy returns inf or 0, and one such row would
abort the whole scoring query. Products with a coefficient, the sum, exp, expit and
softmax therefore return inf / 0 from CASE branches where IEEE float64 does.
"""

from __future__ import annotations

import math

import numpy as np
from sqlglot import exp

from toolkit.modelsql.base import Column, Context, Scores, Unsupported, hoist, literal, number
from toolkit.modelsql.mathsql import argmax, expit, largest, linear_decisions, softmax


def _numbers(columns: list[Column], ctx: Context) -> None:
    strings = [c.name or f"#{i}" for i, c in enumerate(columns) if c.kind != "number"]
    if strings:
        raise Unsupported(ctx.path, f"string column(s) {strings} reach a linear model")


def _inputs(columns: list[Column], ctx: Context) -> list[exp.Expression]:
    """The inputs as columns: the guarded products read each one several times."""
    return hoist(ctx, [c.expr for c in columns], "x")


def linear_regressor(model, columns: list[Column], ctx: Context) -> Scores:
    """prediction = coef_ . x + intercept_ (single target only)."""
    _numbers(columns, ctx)
    coef = np.asarray(model.coef_, dtype=float)
    if coef.ndim != 1:
        raise Unsupported(ctx.path, f"{type(model).__name__} with a 2-D target (coef_ shape {coef.shape})")
    intercept = np.ravel(np.asarray(model.intercept_, dtype=float))
    if intercept.size > 1:
        raise Unsupported(ctx.path, f"{type(model).__name__} with several targets")
    [decision] = linear_decisions(_inputs(columns, ctx), [(coef, intercept[0] if intercept.size else 0.0)], ctx)
    return Scores(prediction=decision)


def logistic_regression(model, columns: list[Column], ctx: Context) -> Scores:
    """Binary: expit of one decision; multiclass: softmax of one decision per class."""
    _numbers(columns, ctx)
    classes = tuple(model.classes_)
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=float))
    intercept = np.ravel(np.asarray(model.intercept_, dtype=float))
    if len(classes) < 2 or coef.shape[0] != (1 if len(classes) == 2 else len(classes)):
        raise Unsupported(ctx.path, f"coef_ of shape {coef.shape} for {len(classes)} classes")
    decisions = linear_decisions(_inputs(columns, ctx), list(zip(coef, intercept)), ctx)
    decisions = hoist(ctx, decisions, "decision")
    if len(classes) == 2:
        return _binary(decisions[0], classes, ctx)
    top = largest(decisions, ctx)
    return Scores(prediction=argmax(decisions, top, classes), probabilities=tuple(softmax(decisions, top, ctx)), classes=classes)


def _binary(decision: exp.Expression, classes: tuple, ctx: Context) -> Scores:
    [positive] = hoist(ctx, [expit(decision)], "expit")
    # numpy's `d > 0` is false for NaN (inf - inf in an overflowing row); in both
    # engines NaN equals NaN and is greater than any number.
    label = exp.Case(
        ifs=[
            exp.If(this=decision.eq(number(math.nan)), true=literal(classes[0])),
            exp.If(this=decision > number(0.0), true=literal(classes[1])),
            exp.If(this=decision <= number(0.0), true=literal(classes[0])),
        ]
    )
    return Scores(prediction=label, probabilities=(number(1.0) - positive, positive), classes=classes)

"""What a version's held-out evaluation looked like, kept with the version so nothing
has to recompute it (the docs site's model card, `toolkit models show`).

    evaluation = held_out(spec, estimator, data, train, test, X_test, y_test, y_train)

computed once, at training time, on the same split the metrics were computed on, and
stored as JSON in `toolkit.model_versions.evaluation` (state schema version 5):

    split         kind, column, test_fraction, seed; train/test rows; for a time split
                  the cut-off (the first test period) and the last training period;
                  for a group split the number of groups on each side
    classes       classifiers: rows per class in train and test (class balance)
    confusion     classifiers: {"labels": [...], "matrix": [[...]]} (rows: actual)
    roc, pr       binary classifiers with predict_proba: curve points (<= MAX_POINTS each)
                  and the areas under them
    calibration   binary: mean predicted probability vs observed rate in 10 quantile bins
    residuals     regressors: mean, std, MAE and quantiles of actual - predicted, a
                  histogram, and up to MAX_POINTS (actual, predicted) pairs
    importances   when the final estimator has feature_importances_ or coef_ (no
                  extra fitting): the largest MAX_IMPORTANCES by absolute value

Curves are downsampled to at most MAX_POINTS points (first and last kept), values
rounded to 6 significant digits: the JSON of the demo's churn version is ~15 KB.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_POINTS = 200
MAX_IMPORTANCES = 30
CALIBRATION_BINS = 10


def held_out(spec, estimator, data: pa.Table, train: np.ndarray, test: np.ndarray, X_test, y_test, y_train) -> dict:
    """The evaluation document of one fitted estimator on its held-out rows; a failure
    is recorded as {"error": ...} (the evaluation must never cost a version)."""
    from sklearn.base import is_classifier

    out: dict[str, Any] = {"split": split_summary(spec, data, train, test)}
    try:
        if is_classifier(estimator):
            out.update(_classifier(estimator, X_test, y_test, y_train))
        else:
            out.update(_regressor(estimator, X_test, y_test))
        importances = _importances(estimator)
        if importances:
            out["importances"] = importances
    except Exception as error:  # noqa: BLE001 - recorded, never raised
        out["error"] = f"{type(error).__name__}: {error}"
    return out


def split_summary(spec, data: pa.Table, train: np.ndarray, test: np.ndarray) -> dict:
    out: dict[str, Any] = {"kind": spec.split, "column": spec.split_column, "test_fraction": spec.test_fraction,
                           "train_rows": int(len(train)), "test_rows": int(len(test))}
    if spec.split in ("random", "group"):
        out["seed"] = spec.seed
    if spec.split_column and spec.split_column in data.column_names:
        column = data.column(spec.split_column)
        training, held = column.take(pa.array(train)), column.take(pa.array(test))
        if spec.split == "time":
            out["cutoff"] = _scalar(pc.min(held))  # the first test period: train on everything before it
            out["train_until"] = _scalar(pc.max(training))
            out["test_until"] = _scalar(pc.max(held))
            out["train_from"] = _scalar(pc.min(training))
        else:
            out["train_groups"] = int(pc.count_distinct(training).as_py())
            out["test_groups"] = int(pc.count_distinct(held).as_py())
    return out


def _classifier(estimator, X_test, y_test, y_train) -> dict:
    from sklearn.metrics import confusion_matrix

    labels = list(estimator.classes_)
    predicted = estimator.predict(X_test)
    out: dict[str, Any] = {
        "task": "classification",
        "classes": {"labels": [_plain(c) for c in labels],
                    "train": [int(np.sum(y_train == c)) for c in labels],
                    "test": [int(np.sum(y_test == c)) for c in labels]},
        "confusion": {"labels": [_plain(c) for c in labels],
                      "matrix": confusion_matrix(y_test, predicted, labels=labels).tolist()},
    }
    if len(labels) == 2 and hasattr(estimator, "predict_proba") and len(set(y_test.tolist())) == 2:
        out.update(_binary_curves(y_test == labels[1], estimator.predict_proba(X_test)[:, 1]))
        out["positive"] = _plain(labels[1])
    return out


def _binary_curves(actual: np.ndarray, score: np.ndarray) -> dict:
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    fpr, tpr, _ = roc_curve(actual, score)
    precision, recall, _ = precision_recall_curve(actual, score)
    order = np.argsort(recall)
    recall, precision = recall[order], precision[order]
    edges = np.unique(np.quantile(score, np.linspace(0, 1, CALIBRATION_BINS + 1)))
    bins = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, max(len(edges) - 2, 0))
    predicted, observed, counts = [], [], []
    for b in range(max(len(edges) - 1, 1)):
        mask = bins == b
        if mask.any():
            predicted.append(_round(score[mask].mean()))
            observed.append(_round(actual[mask].mean()))
            counts.append(int(mask.sum()))
    return {
        "roc": {"fpr": _points(fpr), "tpr": _points(tpr), "auc": _round(auc(fpr, tpr))},
        "pr": {"recall": _points(recall), "precision": _points(precision),
               "auc": _round(auc(recall, precision)), "base_rate": _round(actual.mean())},
        "calibration": {"predicted": predicted, "observed": observed, "rows": counts},
    }


def _regressor(estimator, X_test, y_test) -> dict:
    actual = np.asarray(y_test, dtype=float)
    predicted = np.asarray(estimator.predict(X_test), dtype=float)
    residual = actual - predicted
    counts, edges = np.histogram(residual, bins=20)
    quantiles = [0.05, 0.25, 0.5, 0.75, 0.95]
    chosen = _indices(len(actual))
    order = chosen[np.argsort(actual[chosen])]
    return {
        "task": "regression",
        "residuals": {"mean": _round(residual.mean()), "std": _round(residual.std()), "mae": _round(np.abs(residual).mean()),
                      "quantiles": {f"p{int(q * 100)}": _round(v) for q, v in zip(quantiles, np.quantile(residual, quantiles))},
                      "histogram": {"edges": [_round(e) for e in edges], "counts": counts.tolist()}},
        "points": {"actual": [_round(v) for v in actual[order]], "predicted": [_round(v) for v in predicted[order]]},
    }


def _importances(estimator) -> dict | None:
    """From the fitted final step (feature_importances_, or |coef_| of a linear model),
    named by the pipeline's output feature names; None when neither is there."""
    final, names = estimator, None
    if hasattr(estimator, "steps"):
        final = estimator.steps[-1][1]
        try:
            names = [str(n) for n in estimator[:-1].get_feature_names_out()]
        except Exception:  # noqa: BLE001 - a step without feature names: positions instead
            names = None
    values = getattr(final, "feature_importances_", None)
    kind = "feature_importances_"
    if values is None and getattr(final, "coef_", None) is not None:
        coef = np.asarray(final.coef_, dtype=float)
        values, kind = (np.abs(coef).mean(axis=0) if coef.ndim == 2 else np.abs(coef)), "|coef_|"
    if values is None:
        return None
    values = np.asarray(values, dtype=float)
    if names is None or len(names) != len(values):
        names = [str(n) for n in getattr(final, "feature_names_in_", [])]
        names = names if len(names) == len(values) else [f"x{i}" for i in range(len(values))]
    top = np.argsort(-np.abs(values))[:MAX_IMPORTANCES]
    return {"kind": kind, "names": [names[i] for i in top], "values": [_round(values[i]) for i in top]}


def _indices(n: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, MAX_POINTS)).round().astype(int)) if n else np.array([], dtype=int)


def _points(values: np.ndarray) -> list[float]:
    """At most MAX_POINTS of a curve's coordinates, evenly by index, first and last kept."""
    return [_round(v) for v in np.asarray(values)[_indices(len(values))]]


def _round(value) -> float | None:
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        return None
    return float(f"{value:.6g}")


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _scalar(value: pa.Scalar):
    found = value.as_py()
    return found.isoformat() if hasattr(found, "isoformat") else found

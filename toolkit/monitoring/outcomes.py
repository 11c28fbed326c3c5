"""Performance once labels arrive: realized metrics of earlier scoring runs.

A model may name where its labels land later, `@model(..., outcomes="churn_outcomes")`:
a step, seed or source holding the model's key columns and its label column. Each run
of the model step joins the predictions it published before (predictions.<model>_history,
one set per scoring run) with the outcomes that exist now, and for every scoring run
not yet evaluated computes the metrics the version was trained with, by the same
scikit-learn scorers as training (the stored predictions replayed through a stand-in
estimator), into toolkit.monitoring (feature NULL, scored_at = that scoring run's).
An environment's runs evaluate the scoring runs of its own predictions history (dev's
predictions__dev.<model>_history): "already evaluated" is asked of its rows only.

The join runs in the warehouse; only the labelled rows of unevaluated scoring runs
come back, as Arrow.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlglot import exp

from toolkit.monitoring.thresholds import Metric
from toolkit.monitoring.watch import PROD, in_env

PREDICTION, VERSION, SCORED_AT = "prediction", "model_version", "scored_at"


def _evaluated(state_engine, model: str, metrics: list[str], env: str) -> set[tuple[int, datetime]]:
    """(version, scored_at) of the scoring runs whose realized metrics `env` recorded."""
    query = (
        exp.select("version", "scored_at").distinct().from_(exp.table_("monitoring", db="toolkit"))
        .where(exp.column("model").eq(exp.Literal.string(model)))
        .where(exp.column("feature").is_(exp.null()))
        .where(exp.column("metric").isin(*(exp.Literal.string(m) for m in metrics)))
        .where(in_env(env))
    )
    return {(int(version), at) for version, at in state_engine.fetch_rows(query)}


def _labelled(history: exp.Table, outcomes: exp.Table, key: list[str], label: str) -> exp.Select:
    join = exp.and_(*(exp.column(k, table="h", quoted=True).eq(exp.column(k, table="o", quoted=True)) for k in key))
    return (
        exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("h")), exp.column(label, table="o", quoted=True).as_("__toolkit_label"))
        .from_(history.copy().as_("h"))
        .join(outcomes.copy().as_("o"), on=join)
        .where(exp.column(label, table="o", quoted=True).is_(exp.null()).not_())
    )


def realized(engine, state_engine, *, model: str, versions: dict[int, list[str]], classes_of, history: exp.Table,
             outcomes: exp.Table, key: list[str], label: str, run_id: int, env: str = PROD) -> list[Metric]:
    """Realized metrics of every labelled scoring run in `history` that environment `env`
    has not evaluated yet. `versions`:
    version -> the metric names it was trained with; `classes_of(version)`: its
    classes_ (None for a regressor), asked only for versions with labelled runs."""
    if engine.columns(history) is None:
        return []  # nothing scored and published yet
    names = sorted({m for metrics in versions.values() for m in metrics})
    done = _evaluated(state_engine, model, names, env) if names else set()
    runs = exp.select(exp.column(VERSION), exp.column(SCORED_AT)).distinct().from_(_labelled(history, outcomes, key, label).subquery("l"))
    pending = [(int(v), at) for v, at in engine.fetch_rows(runs) if (int(v), at) not in done and int(v) in versions]
    found = []
    for version, at in sorted(pending):
        query = _labelled(history, outcomes, key, label).where(
            exp.and_(exp.column(VERSION, table="h").eq(exp.Literal.number(version)),
                     exp.column(SCORED_AT, table="h").eq(exp.cast(exp.Literal.string(at.isoformat(sep=" ")), "timestamp")))
        )
        for metric, value in scores(engine.fetch_arrow(query), versions[version], classes_of(version)).items():
            found.append(Metric(model, version, run_id, at, None, metric, value, env=env))
    return found


def scores(data, metrics: list[str], classes: list | None) -> dict[str, float]:
    """`metrics` of the stored predictions in `data` against its __toolkit_label column,
    by the scorers training used; a metric the rows cannot give (one class so far) is left out."""
    from sklearn.metrics import get_scorer

    y = np.asarray(data.column("__toolkit_label").to_pylist())
    replay = Replay.of(data, classes)
    rows = np.arange(data.num_rows).reshape(-1, 1)
    found = {}
    for name in metrics:
        try:
            found[name] = float(get_scorer(name)(replay, rows, y))
        except ValueError:
            continue
    return found


def _replay_class(classifier: bool):
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

    class Replay(ClassifierMixin if classifier else RegressorMixin, BaseEstimator):
        """A fitted estimator's stand-in answering with stored predictions: row i of X is
        stored row i, so the very scorers of training compute realized metrics."""

        def __sklearn_is_fitted__(self):
            return True

        def predict(self, X):
            return self.stored_prediction[np.asarray(X)[:, 0]]

        def predict_proba(self, X):
            return self.stored_proba[np.asarray(X)[:, 0]]

    return Replay


class Replay:
    @staticmethod
    def of(data, classes: list | None):
        replay = _replay_class(classes is not None)()
        replay.stored_prediction = np.asarray(data.column(PREDICTION).to_pylist())
        if classes is not None:
            # each class's own proba_<class> column, by name: a history written before a
            # change of classes or of naming holds other proba_ columns too
            from toolkit.mlcore import ProbaColumnClash, proba_columns

            try:
                probas = [name for name in proba_columns(list(classes)) if name in data.column_names]
            except ProbaColumnClash:
                probas = []
            if len(probas) != len(classes):  # a version scored before the names were its classes' own
                probas = [name for name in data.column_names if name.startswith("proba_")][:len(classes)]
            replay.stored_proba = np.column_stack([data.column(p).to_numpy(zero_copy_only=False) for p in probas])
            replay.classes_ = np.asarray(classes)
        return replay

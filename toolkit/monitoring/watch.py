"""Monitoring inside a model run: baselines when a version first scores, drift and skew
on every run.

    model step trains version v
      -> `held_out`: v's predictions on its held-out rows, profiled in the warehouse
    model step scores with production version v
      -> baselines of v (toolkit.model_baselines), each taken once, the first time v
         scores: `training` (its training table's features), `serving` (the scoring
         table then) and `predictions` (its first predictions)
      -> skew: the scoring table against `training` (training_psi, out_of_range), and
         the predictions against `held_out` (training_psi of predictions.*)
      -> drift: the scoring table against `serving` and the predictions against
         `predictions` (psi, js_distance / l_infinity, null_rate_change)
         each one query (profiles.drift_query)
      -> thresholds (`@model(monitors=...)`) -> rows in toolkit.monitoring, each with
         the environment of the run that scored (`env`; prod is written 'prod', and
         NULL, a row from before state version 7, is read as prod)

Environments: every reader of toolkit.monitoring (`latest` for `toolkit monitor`,
outcomes.py, the docs site) reads one environment's rows (`in_env`), so a dev run's
drift is never prod's. Baselines stay per version, shared by the environments: a
version's `held_out` predictions are the same whoever scores it, and a version is
first scored by the run that trained it (in its environment, on its training table),
so `training` is its training data and `serving`/`predictions` its first scoring. So
a dev run scoring with prod's version is compared with what that version scored in
prod (the drift a promote of dev would bring), and a version trained in dev keeps dev's
baselines wherever it scores later: they describe the data it was made from. A version's
`training` baseline is taken by the run that trains it (record_training), scored or not:
a version held at training (promote="manual", a failed gate) and approved later is
compared with the rows it was fitted on, not with what its training table holds by the
time it first scores.

Everything is computed in the warehouse; the rows are few and go to the state store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace

from sqlglot import exp

from toolkit.clock import now
from toolkit.monitoring.metrics import drift
from toolkit.monitoring.profiles import Profile, profile
from toolkit.monitoring.thresholds import Metric, evaluate

SCHEMA = "toolkit"
BASELINES, MONITORING = "model_baselines", "monitoring"
# Baseline kinds. Skew compares what is scored with what the version was trained on;
# drift compares it with what the version scored first, when it went live. They differ
# by design where training rows are labelled history and scoring rows today's
# population (the demo's churn model: PSI up to 5.6 against training on day one).
TRAINING, SERVING, PREDICTIONS, HELD_OUT = "training", "serving", "predictions", "held_out"
_SKEW = {"psi": "training_psi", "out_of_range": "out_of_range"}  # metrics of the scoring table against training

# Monitoring's own defaults, used where a model declares nothing else: a PSI above
# 0.2 is the usual "significant shift" line; a warning, never a failed run.
DEFAULT_THRESHOLDS = {"psi": 0.2}
NUMERIC, CATEGORICAL = "numeric", "categorical"


def _table(name: str) -> exp.Table:
    return exp.table_(name, db=SCHEMA)


PROD = "prod"  # state.PROD: not imported, state.py is heavier than this module needs


def in_env(env: str, recorded: bool = True) -> exp.Expression:
    """The condition selecting `env`'s rows of toolkit.monitoring: a NULL env is prod
    (rows written before state version 7). `recorded`: whether the table has the env
    column at all (a state not yet migrated, read by a read-only command: all prod)."""
    if not recorded:
        return exp.true() if env == PROD else exp.false()
    column = exp.column("env")
    matches = column.eq(exp.Literal.string(env))
    return exp.or_(matches, column.is_(exp.null())) if env == PROD else matches


def records_env(state_engine) -> bool:
    """Whether toolkit.monitoring has its env column (state version 7)."""
    return "env" in {name.lower() for name in (state_engine.columns(_table(MONITORING)) or {})}


def ensure(state_engine) -> None:
    """The monitoring tables (defined in stateschema.py, with the other state tables) exist."""
    from toolkit import stateschema

    stateschema.ensure(state_engine)


def performance_metrics() -> list[str]:
    """Names a performance threshold may use: scikit-learn's scorers, as training's metrics."""
    from sklearn.metrics import get_scorer_names

    return list(get_scorer_names())


# Numbers are binned; text and booleans counted; other families (dates, binary) are not monitored.
_DRIFT_FAMILY = {"number": NUMERIC, "string": CATEGORICAL, "boolean": CATEGORICAL}


def feature_families(features) -> list[tuple[str, str]]:
    """(name, numeric | categorical) of each monitored feature (mlcore.Feature)."""
    return [(f.name, _DRIFT_FAMILY[f.family]) for f in features if f.family in _DRIFT_FAMILY]


def prediction_families(columns: dict[str, str]) -> list[tuple[str, str]]:
    """prediction (categorical for a classifier, which has proba_ columns) and each proba_."""
    probas = [name for name in columns if name.startswith("proba_")]
    out = [("prediction", CATEGORICAL if probas else NUMERIC)]
    return out + [(name, NUMERIC) for name in probas]


def baseline(state_engine, model: str, version: int, kind: str) -> Profile | None:
    query = (
        exp.select("profile").from_(_table(BASELINES))
        .where(exp.column("model").eq(exp.Literal.string(model)))
        .where(exp.column("version").eq(exp.Literal.number(version)))
        .where(exp.column("kind").eq(exp.Literal.string(kind)))
    )
    rows = state_engine.fetch_rows(query)
    return Profile.from_json(rows[0][0]) if rows else None


def record_baseline(state_engine, model: str, version: int, kind: str, found: Profile, source: str, run_id: int) -> None:
    state_engine.insert_rows(_table(BASELINES), [{
        "model": model, "version": version, "kind": kind, "profile": found.to_json(), "source": source,
        "run_id": run_id, "created_at": now(),
    }])


def watch(engine, state_engine, *, model: str, version: int, features: list[dict], training: exp.Table,
          scoring: exp.Table, predictions: exp.Table, run_id: int, thresholds: dict | None,
          performance: list[Metric] = (), env: str = PROD) -> list[Metric]:
    """Drift and skew of this run's scoring table and predictions for version `version`,
    and `performance` (realized metrics of earlier runs, outcomes.py), judged by
    `thresholds`; the rows are written to toolkit.monitoring as environment `env`'s."""
    ensure(state_engine)
    families = feature_families(features)
    outputs = prediction_families(engine.columns(predictions) or {})
    rows: list[tuple[str, str, float]] = []
    if families:
        trained = _baseline(engine, state_engine, model, version, TRAINING, training, families, run_id)
        rows += [(f, _SKEW[m], v) for f, m, v in drift(engine, scoring, trained) if m in _SKEW]
        served = baseline(state_engine, model, version, SERVING)
        if served is None:  # the version's first scoring run is what later runs drift from
            _baseline(engine, state_engine, model, version, SERVING, scoring, families, run_id)
        else:
            rows += [(f, m, v) for f, m, v in drift(engine, scoring, served) if m != "out_of_range"]
    held = baseline(state_engine, model, version, HELD_OUT)
    if held is not None:  # skew of what the model outputs today against what it output on its test set
        rows += [(f"predictions.{f}", _SKEW[m], v) for f, m, v in drift(engine, predictions, held) if m == "psi"]
    served = baseline(state_engine, model, version, PREDICTIONS)
    if served is None:
        _baseline(engine, state_engine, model, version, PREDICTIONS, predictions, outputs, run_id)
    else:
        rows += [(f"predictions.{f}", m, v) for f, m, v in drift(engine, predictions, served) if m != "out_of_range"]
    at = now()
    found = [Metric(model, version, run_id, at, feature, metric, float(value), env=env) for feature, metric, value in rows]
    names = [name for name, _ in families] + [f"predictions.{name}" for name, _ in outputs]  # known with no row measured (0 rows)
    judged = evaluate(found + [replace(m, env=env) for m in performance], {**DEFAULT_THRESHOLDS, **(thresholds or {})},
                      features=names, metric_names=performance_metrics())
    state_engine.insert_rows(_table(MONITORING), [asdict(m) for m in judged])
    return judged


def record_held_out(engine, state_engine, *, model: str, version: int, predictions, scratch: exp.Table, run_id: int) -> None:
    """Profile a new version's held-out predictions (an Arrow table) in the warehouse:
    loaded into `scratch`, profiled like a predictions table, dropped."""
    ensure(state_engine)
    engine.create_table_from_arrow(scratch, predictions)
    try:
        found = profile(engine, scratch, prediction_families({name: "" for name in predictions.column_names}))
    finally:
        engine.drop(scratch)
    record_baseline(state_engine, model, version, HELD_OUT, found, f"held-out rows of version {version}", run_id)


def record_training(engine, state_engine, *, model: str, version: int, features, training: exp.Table, run_id: int) -> None:
    """Profile a new version's training table as its `training` baseline, in the run that
    fitted it: a later run may read other rows there."""
    families = feature_families(features)
    if families:
        ensure(state_engine)
        _baseline(engine, state_engine, model, version, TRAINING, training, families, run_id)


def _baseline(engine, state_engine, model, version, kind, table, families, run_id) -> Profile:
    """The stored baseline, else one profiled now and stored, unless `table` has no rows:
    an empty profile (every rate 0) is no baseline; the next run with rows takes it."""
    found = baseline(state_engine, model, version, kind)
    if found is None:
        found = profile(engine, table, families)
        if _rows(found):
            record_baseline(state_engine, model, version, kind, found, table.sql(), run_id)
    return found


def _rows(found: Profile) -> int:
    return found.features[0].rows if found.features else 0


def summary(metrics: list[Metric]) -> dict:
    """What the step record keeps: counts by status and every breach."""
    breaches = [{"feature": m.feature, "metric": m.metric, "value": m.value, "threshold": m.threshold, "status": m.status}
                for m in metrics if m.status != "ok"]
    return {"metrics": len(metrics), "breaches": breaches}


def breach_text(metric: Metric) -> str:
    """What breached; a row of another environment than prod says which (a dev run's
    alert must not read as prod's)."""
    named = f"{metric.feature} {metric.metric}" if metric.feature else metric.metric  # a realized metric has no feature
    if metric.threshold is None:
        text = named
    else:  # a breached max is above its bound, a breached min below it
        text = f"{named} {metric.value:.4g} {'<' if metric.value < metric.threshold else '>'} {metric.threshold:g}"
    return text if metric.env in (None, PROD) else f"{text} (env {metric.env})"


def environments(state_engine) -> set[str]:
    """The environments toolkit.monitoring holds rows of (NULL: prod)."""
    if MONITORING not in state_engine.relations(SCHEMA):
        return set()
    if not records_env(state_engine):
        return {PROD}
    named = exp.func("coalesce", exp.column("env"), exp.Literal.string(PROD))
    return {env for (env,) in state_engine.fetch_rows(exp.select(named).distinct().from_(_table(MONITORING)))}


def latest(state_engine, model: str | None = None, since=None, env: str = PROD) -> list[dict]:
    """The newest row per (model, feature, metric) of environment `env`'s runs, for `toolkit monitor`."""
    if MONITORING not in state_engine.relations(SCHEMA):
        return []
    recorded = records_env(state_engine)
    ranked = exp.select("*", exp.Window(
        this=exp.RowNumber(), partition_by=[exp.column("model"), exp.column("feature"), exp.column("metric")],
        # realized metrics of several earlier scoring runs are written by one run: its newest scoring wins
        order=exp.Order(expressions=[exp.Ordered(this=exp.column("run_id"), desc=True),
                                     exp.Ordered(this=exp.column("scored_at"), desc=True, nulls_first=False)]),
    ).as_("newest")).from_(_table(MONITORING)).where(in_env(env, recorded))
    if model:
        ranked = ranked.where(exp.column("model").eq(exp.Literal.string(model)))
    if since is not None:
        ranked = ranked.where(exp.column("scored_at") >= exp.cast(exp.Literal.string(since.isoformat(sep=" ")), "timestamp"))
    names = ["model", "version", "run_id", "scored_at", "feature", "metric", "value", "threshold", "status"]
    query = exp.select(*names).from_(ranked.subquery("ranked")).where(exp.column("newest").eq(1)).order_by("model", "feature", "metric")
    return [{**dict(zip(names, row)), "env": env} for row in state_engine.fetch_rows(query)]


def to_json(rows: list[dict]) -> str:
    return json.dumps(rows, default=str)

"""model: train (when its code or training data changed) and score; the predictions
table is the physical relation, and publishing also appends it to <model>_history.

The outcome is a returned value: `Built.version` is the version the predictions
were scored with (production once they are published: `Built.after_publish`),
from which the runner derives the published fingerprint (so an unchanged next run
is a reuse even when this run promoted).
"""

from __future__ import annotations

import hashlib
import json

from sqlglot import exp

from toolkit.actions import ReasonKind
from toolkit.errors import StepFailed
from toolkit.materialize import create
from toolkit.materializations.base import Built, Materialization


class Model(Materialization):
    name = "model"
    from_template = False
    user_facing = False
    uses_registry = True
    readable_by_models = False  # a model trains on features, not on another model's predictions
    published_suffixes = ("", "_history")

    def build(self, ctx, planned) -> Built:
        from toolkit.modelrun import Promotion, held_back, train_and_score
        from toolkit.monitoring import watch  # only a model this run builds: not on every run's path

        step, spec = planned.step, ctx.compiled.project.models[planned.step.name]
        physical = ctx.new_physical(step, planned.fingerprint)
        fingerprint = training_fingerprint(ctx.registry, spec, planned.upstream_prints[spec.training])
        outcome = train_and_score(
            ctx.engine, ctx.registry, spec, fingerprint,
            ctx.physical_of(spec.training), ctx.physical_of(spec.scoring_table), physical, ctx.run_id,
            retrain=planned.reason.kind is ReasonKind.FORCED,  # --full-refresh trains a new version
            progress=lambda phase: ctx.progress(step.name, phase), acting=lambda action: ctx.acting(step.name, action),
            shown=lambda name: ctx.compiled.steps[name].published.sql(), env=ctx.env,
        )
        try:
            if outcome.held_out is not None:
                watch.record_held_out(ctx.engine, ctx.state.engine, model=spec.name, version=outcome.version,
                                      predictions=outcome.held_out, scratch=ctx.new_physical(step, _scratch_print(planned.fingerprint)),
                                      run_id=ctx.run_id)
            if outcome.trained:
                watch.record_training(ctx.engine, ctx.state.engine, model=spec.name, version=outcome.version,
                                      features=ctx.registry.get(spec.name, outcome.version).features,
                                      training=ctx.physical_of(spec.training), run_id=ctx.run_id)
            monitored = self._watch(ctx, spec, outcome.scored_with, physical, planned.relation)
        except Exception as error:
            held_back(ctx.registry, spec, outcome, ctx.run_id, error, ctx.env)
            raise
        details = json.dumps({
            "version": outcome.version, "scored_with": outcome.scored_with, "trained": outcome.trained,
            "scored_in": outcome.scored_in, "scoring_note": outcome.scoring_note,
            "rows_trained": outcome.rows_trained, "rows_scored": outcome.rows,
            "metrics": outcome.metrics, "candidates": outcome.candidates,
            "null_counts": outcome.null_counts, "unseen_counts": outcome.unseen_counts,
            "monitoring": watch.summary(monitored),
        }, default=str)
        alerts = [f"monitoring {m.status}: model {spec.name}: {watch.breach_text(m)}" for m in monitored if m.status != "ok"]
        return Built(physical, outcome.rows, [], version=outcome.scored_with,
                     action="train" if outcome.trained else "score", reason=outcome.reason, details=details, alerts=alerts,
                     fails_run=any(m.status == "error" for m in monitored), rows_trained=outcome.rows_trained,
                     after_publish=Promotion(ctx.registry, spec, outcome, ctx.run_id, ctx.env) if outcome.promotion is not None else None)

    def _watch(self, ctx, spec, version: int, predictions: exp.Table, relation: exp.Table) -> list:
        """Drift of this run against the production version's baselines (monitoring/watch.py)
        and, where labels arrived, realized metrics of earlier scoring runs (outcomes.py)."""
        from toolkit.monitoring import outcomes, watch

        performance = []
        if spec.outcomes:
            versions = {v.version: list(v.metrics) for v in ctx.registry.versions(spec.name)}
            performance = outcomes.realized(
                ctx.engine, ctx.state.engine, model=spec.name, versions=versions,
                classes_of=lambda v: getattr(ctx.registry.load(spec.name, v), "classes_", None),
                history=history_of(relation), outcomes=ctx.physical_of(spec.outcomes),
                key=spec.key, label=spec.label, run_id=ctx.run_id, env=ctx.env,
            )
        features = ctx.registry.get(spec.name, version).features
        return watch.watch(
            ctx.engine, ctx.state.engine, model=spec.name, version=version, features=features,
            training=ctx.physical_of(spec.training), scoring=ctx.physical_of(spec.scoring_table),
            predictions=predictions, run_id=ctx.run_id, thresholds=spec.monitors, performance=performance, env=ctx.env,
        )

    def after_point(self, engine, relation: exp.Table, physical: exp.Table) -> None:
        """Keep every run's predictions queryable: <schema>.<model>_history."""
        append_to_history(engine, relation, physical)


def history_of(relation: exp.Table) -> exp.Table:
    """Where every run's predictions of the published `relation` stay: <schema>.<model>_history."""
    return exp.table_(f"{relation.name}_history", db=relation.db)


def append_to_history(engine, relation: exp.Table, physical: exp.Table, new_runs_only: bool = False) -> None:
    """Append the predictions in `physical` to `relation`'s history (created when absent), by
    column name. `new_runs_only`: only the rows of runs the history lacks (a promote
    publishes predictions another environment's run scored, which its history already
    holds when that run scored in this environment too)."""
    history = history_of(relation)
    empty = exp.select("*").from_(physical).where(exp.false())
    create_history = create("TABLE", history, empty)
    create_history.set("exists", True)
    engine.execute(create_history)
    # By name, not by position: a history made before a key was renamed or the classes
    # changed put new values under old names (P(-1) under proba_1). A column it lacks is added.
    columns = engine.columns(physical)
    held_types = {name.lower(): kind for name, kind in (engine.columns(history) or {}).items()}
    held = set(held_types)
    _refuse_type_changes(relation, history, columns, held_types, engine.dialect)
    for name, kind in columns.items():
        if name.lower() not in held:
            column = exp.ColumnDef(this=exp.to_identifier(name, quoted=True), kind=exp.DataType.build(kind, dialect=engine.dialect))
            engine.execute(exp.Alter(this=history.copy(), kind="TABLE", actions=[column]))
    names = [exp.to_identifier(name, quoted=True) for name in columns]
    rows = exp.select(*(exp.column(n.copy()) for n in names)).from_(physical)
    if new_runs_only:
        held_runs = exp.select(exp.column("run_id")).from_(history.copy()).where(exp.column("run_id").is_(exp.null()).not_())
        rows = rows.where(exp.column("run_id").isin(query=held_runs).not_())
    engine.execute(exp.insert(rows, history, columns=names))


_INTEGERS = [exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT,
             exp.DataType.Type.INT128]
_DOUBLES = {exp.DataType.Type.DOUBLE}


def _refuse_type_changes(relation: exp.Table, history: exp.Table, columns: dict, held_types: dict, dialect) -> None:
    """A history column this run's predictions cannot be appended to unchanged (prediction
    BIGINT in earlier runs, labels VARCHAR now): the publish fails with what to do, before
    anything is written (the engine would fail on a Conversion Error, or cast silently)."""
    changed = [(name, held_types[name.lower()], kind) for name, kind in columns.items()
               if name.lower() in held_types and not _holds(held_types[name.lower()], kind, dialect)]
    if not changed:
        return
    name, old, new = changed[0]
    shown = history.sql(dialect=dialect)
    raise StepFailed(
        f"model {relation.name}: column {name} of {shown} is {old} (earlier runs' rows), but this run's predictions make it {new}: "
        f"they cannot be appended (nothing was published; the history and {relation.sql(dialect=dialect)} keep their rows). "
        f"To keep one history, widen the column: ALTER TABLE {shown} ALTER COLUMN {name} TYPE {new}; "
        f"or start a new one: ALTER TABLE {shown} RENAME TO {history.name}_until_now (the next run creates {shown} again)"
        + (f"; also changed: {', '.join(f'{n} {o} -> {k}' for n, o, k in changed[1:])}" if changed[1:] else "")
    )


def _holds(old: str, new: str, dialect) -> bool:
    """Whether a column of type `old` takes values of type `new` as they are: the same type,
    text into text, an integer into an integer (the engine refuses one out of range) or a
    double, a float into a double."""
    if old.lower() == new.lower():
        return True
    try:
        held_type, coming_type = exp.DataType.build(old, dialect=dialect), exp.DataType.build(new, dialect=dialect)
    except Exception:  # a type sqlglot does not read: only the same spelling is known to fit
        return False
    held, coming = held_type.this, coming_type.this
    if held_type == coming_type or (held in exp.DataType.TEXT_TYPES and coming in exp.DataType.TEXT_TYPES):
        return True
    if coming in _INTEGERS:
        return held in _DOUBLES or held in _INTEGERS
    return coming == exp.DataType.Type.FLOAT and held in _DOUBLES


def _scratch_print(fingerprint: str) -> str:
    """A fingerprint for the held-out predictions' scratch table: a physical name of its own."""
    return hashlib.sha256(f"{fingerprint}:held_out".encode()).hexdigest()


def training_fingerprint(registry, spec, training_data: str) -> str:
    """What finds a version trained before: the declaration without the keywords that only
    re-score or change nothing (models.py), else as toolkit computed it before (with
    docstrings in it; with promote=, description=, ... in it; before that, the whole declaration), under which a
    version may have been registered: it keeps being found rather than retrain."""
    from toolkit.modelrun import model_fingerprint

    prints = [model_fingerprint(spec.declaration_hash(purpose), training_data) for purpose in ("training", "training_docstrings", "training_before", "file_before")]
    return next((p for p in dict.fromkeys(prints) if registry.find(spec.name, p) is not None), prints[0])

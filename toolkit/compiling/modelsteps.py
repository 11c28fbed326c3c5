"""Compiling model steps (models/*.py's @model): a model is a DAG node after its
training, scoring and outcomes tables, publishing predictions.<model>. Checked once the
steps it reads are: its label, key and features are columns of those tables, its
monitors name known features and metrics, and it learns from no column derived from a
blocking tag (pii) it does not allow.
"""

from __future__ import annotations

from toolkit.compiling.compiledstep import CompiledStep, catalog_relation
from toolkit.errors import ProjectError, did_you_mean
from toolkit.project import PREDICTIONS_SCHEMA


def _compile_model(spec, steps: dict[str, CompiledStep]) -> CompiledStep:
    """A model is a DAG node after its training and scoring tables; it publishes
    predictions.<model>. Its content is its code, declaration and the candidates'
    parameters (ModelSpec.params_hash), without comments, layout and the keywords whose
    change does nothing (models.NOTHING_ONLY); training data enters through its upstream.
    A change of any of them rebuilds it; only what trains makes a new version (model.py)."""
    roles = [("training", spec.training), ("scoring", spec.scoring_table)] + ([("outcomes", spec.outcomes)] if spec.outcomes else [])
    for role, table in roles:
        if table in steps and steps[table].strategy.inlined:
            raise ProjectError(f"model {spec.name}: {role} table '{table}' is ephemeral (never built)", spec.file, spec.line,
                               hint=f"materialize {table} as a table or view")
        if table not in steps or not steps[table].strategy.readable_by_models:
            hint = did_you_mean(table, [n for n, s in steps.items() if s.strategy.readable_by_models])
            raise ProjectError(f"model {spec.name}: {role} table '{table}' is not a step or seed", spec.file, spec.line, hint=hint)
    return CompiledStep(
        name=spec.name,
        kind="model",
        file=spec.file,
        materialized="model",
        relation=catalog_relation(spec.name, PREDICTIONS_SCHEMA),
        upstream=sorted({spec.training, spec.scoring_table} | ({spec.outcomes} if spec.outcomes else set())),
        content_hash=spec.declaration_hash(),
    )


def _check_model_columns(spec, steps: dict[str, CompiledStep]) -> None:
    """Label, key and declared features exist in the training table (when its columns are known)."""
    columns = steps[spec.training].columns
    if columns is None:
        return
    wanted = [spec.label, *spec.key, *(spec.features or []), *filter(None, [spec.split_column, spec.as_of]), *spec.feature_times,
              *spec.exclude, *spec.segments]
    for column in wanted:
        if column not in columns:
            raise ProjectError(
                f"model {spec.name}: column '{column}' is not in the training table {spec.training}",
                spec.file, spec.line, hint=did_you_mean(column, columns),
            )
    from toolkit.models import feature_names

    _check_monitors(spec, feature_names(spec, columns))
    outcomes = steps[spec.outcomes].columns if spec.outcomes else None
    for column in [*spec.key, spec.label] if outcomes is not None else ():
        if column not in outcomes:
            raise ProjectError(
                f"model {spec.name}: column '{column}' is not in the outcomes table {spec.outcomes}",
                spec.file, spec.line, hint="outcomes hold the model's key columns and its label, as they arrive",
            )
    scoring = steps[spec.scoring_table].columns
    for column in feature_names(spec, columns) if scoring is not None else ():
        if column not in scoring:
            raise ProjectError(
                f"model {spec.name}: feature '{column}' is not in the scoring table {spec.scoring_table}",
                spec.file, spec.line, hint="the scoring table needs every column the model is trained on",
            )


def _check_monitors(spec, features: list[str]) -> None:
    """Thresholds name known features and metrics (drift metrics, the model's own metrics)
    and have a valid shape: exit 2 at the @model line, before anything trains."""
    if not spec.monitors:
        return
    from toolkit.monitoring.thresholds import evaluate
    from toolkit.monitoring.watch import performance_metrics

    # Prediction columns are monitored as predictions.<column>; proba_<class> names are known only after training.
    checked = {k: v for k, v in spec.monitors.items() if not k.startswith("predictions.proba_")}
    try:
        evaluate([], checked, features=[*features, "predictions.prediction"], metric_names=performance_metrics())
    except ProjectError as error:
        raise ProjectError(f"model {spec.name}: monitors: {error.message}", spec.file, spec.line, hint=error.hint) from None


def _check_model_tags(spec, steps: dict[str, CompiledStep]) -> None:
    """A model may not learn from a column derived from a blocking tag (pii) unless it
    allows that tag: exit 2 naming the feature and its path back to the tagged column."""
    from toolkit import columntags
    from toolkit.models import feature_names

    training = steps[spec.training]
    if not training.column_tags or training.columns is None:
        return
    tags = {c.lower(): t for c, t in training.column_tags.items()}
    for feature in feature_names(spec, training.columns):
        for tag in columntags.BLOCKING:
            path = tags.get(feature.lower(), {}).get(tag)
            if path and tag not in {allowed.lower() for allowed in spec.allow_tags}:
                raise ProjectError(
                    f"model {spec.name}: feature '{feature}' derives from a {tag}-tagged column: {columntags.path_text(path)}",
                    spec.file, spec.line,
                    hint=f"drop the feature (exclude=[...]) or allow it: @model(..., allow_tags=[\"{tag}\"])",
                )

"""Score a table with a fitted estimator on the Python path: bounded Arrow batches in,
bounded Arrow batches out, written back through Arrow (never row by row).

    report = score(engine, estimator, spec, features, source, output, version, run_id)

Before a single row is read, the scoring table is checked honestly; each of these
stops scoring with a message naming the table, the column and the model:

- a training feature (or key) column is missing;
- a feature's type changed family since training (number, string, boolean,
  temporal: int32 -> int64 is fine, number -> string is not), or a fractional
  number became an integer (double -> int: its fractions are cut off);
- a key repeats (one GROUP BY key HAVING count(*) > 1 LIMIT 1 query) or is NULL;
- a feature column is entirely NULL (one aggregate query: count(column) per feature).

Then `SELECT key, features FROM source` streams in batches of `batch_rows`; each
batch alone becomes a pandas DataFrame, is predicted, and leaves as one Arrow batch:
key columns, `prediction`, `proba_<class>` per class for classifiers,
`model_version`, `scored_at` (one timestamp for the run, UTC) and `run_id`.

Policy for values training did not prepare the model for, counted per feature and
returned in the ScoreReport for the run record:

- NULLs are passed to the estimator as they are (NaN for numbers, None/NaN for
  strings and others), and counted with a number's NaNs (missing to scikit-learn too). Estimators that handle missing values (HistGradientBoosting,
  a Pipeline with SimpleImputer) score them; an estimator that rejects them stops
  scoring with a message naming the columns holding NULLs.
- Unseen categories: values of a string feature that did not occur in training
  (the sorted training values are kept in the feature metadata, for columns with
  at most 1,000 of them; wider columns are not checked) are counted and passed to
  the estimator; an encoder with handle_unknown="ignore" (or "infrequent_if_exist")
  scores them, one that rejects them stops scoring with a message naming the columns.
- Any other error scikit-learn raises is shown as it is, without the batch's counts
  (they did not cause it; the run record keeps them).
- NaN or infinity the model outputs (a prediction, a probability) is no prediction:
  counted per column over all batches, it fails scoring before the table is complete
  (`non_finite` in the run record). The SQL path counts them in the table it wrote, in
  one pass, and drops it.

The SQL path stops on the same rows: the compiler records where scikit-learn would
raise (modelsql.base.Refusal: NULL/NaN into an estimator without NaN support, infinity,
a value past float32's range into a tree, an unseen category under
handle_unknown="error") and one query counts those rows before anything is written;
a pipeline that can meet none of them runs no such query. A failed step keeps its
counts in the run record (ScoringFailed.details).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from toolkit.clock import now
from toolkit.errors import StepFailed, did_you_mean
from toolkit.mlcore import Feature, features_of, proba_columns, type_family  # noqa: F401 (proba_columns: part of this API)
from toolkit.models import PROBA_PREFIX, ModelSpec
from toolkit.training import to_frame

PREDICTION = "prediction"


@dataclass
class ScoreReport:
    rows: int = 0
    null_counts: dict[str, int] = field(default_factory=dict)  # feature -> NULLs (and NaNs) scored
    unseen_counts: dict[str, int] = field(default_factory=dict)  # string feature -> values unseen in training
    refused: dict[str, int] = field(default_factory=dict)  # "feature (why)" -> rows scikit-learn raises on (SQL path)
    non_finite: dict[str, int] = field(default_factory=dict)  # output column -> NaN or infinite values the model output
    non_finite_rows: int = 0  # rows with any of them: scoring fails (_refuse_non_finite)
    seconds: float = 0.0


def score(
    engine,
    estimator,
    spec: ModelSpec,
    features: list[Feature],
    source: exp.Table,
    output: exp.Table,
    version: int,
    run_id: int,
    batch_rows: int = 100_000,
    display: str | None = None,
) -> ScoreReport:
    """Check `source`, then stream it through `estimator` into a new table `output`."""
    started = time.perf_counter()
    features = features_of(features)
    names = [f.name for f in features]
    where, query = _input(spec, names, source, display)
    _check(engine, spec, features, source, where, query)
    report = ScoreReport(null_counts=dict.fromkeys(names, 0))
    report.unseen_counts = {f.name: 0 for f in features if f.categories is not None}

    reader = engine.read_batches(query, batch_rows)
    writer = _Predictions(estimator, spec, where, version, run_id)
    schema = writer.schema(reader.schema)
    seen = {f.name: list(f.categories) for f in features if f.categories is not None}
    failure: list[StepFailed] = []

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                yield writer.predict(batch, names, seen, report, schema)
            _refuse_non_finite(spec, where, report, "python")  # before the table is complete: nothing written
        except StepFailed as error:  # the engine wraps errors raised while it reads: keep ours
            failure.append(error)
            raise

    try:
        engine.create_table_from_arrow(output, pa.RecordBatchReader.from_batches(schema, batches()))
    except Exception:
        if failure:
            raise failure[0] from None
        raise
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def score_in_sql(
    engine,
    estimator,
    spec: ModelSpec,
    features: list[Feature],
    source: exp.Table,
    output: exp.Table,
    version: int,
    run_id: int,
    display: str | None = None,
    confirm=None,
) -> ScoreReport:
    """Score inside the warehouse: CREATE TABLE output AS the compiled pipeline over
    `source`, after the same checks as the Python path. NULL and unseen-category
    counts come from one aggregate query; no row leaves the warehouse.
    Raises modelsql.Unsupported when the pipeline cannot be compiled. `confirm(checks)`,
    called once compiled and before any query runs, may raise SlowerInSql."""
    started = time.perf_counter()
    features = features_of(features)
    where, query = _input(spec, [f.name for f in features], source, display)
    compiled = compile_scoring(estimator, spec, features, source, engine)  # Unsupported before any query runs
    if confirm is not None:
        confirm(len(compiled.refused))
    report = ScoreReport(null_counts=_check(engine, spec, features, source, where, query))
    report.unseen_counts = unseen_counts(engine, features, source)
    _refuse(engine, spec, compiled, where, report)
    select = compiled.select
    stamp = exp.cast(exp.Literal.string(now().isoformat(sep=" ")), "timestamp")
    final = exp.select(
        "*",
        exp.cast(exp.Literal.number(version), "bigint").as_("model_version"),
        stamp.as_("scored_at"),
        exp.cast(exp.Literal.number(run_id), "bigint").as_("run_id"),
    ).from_(select.subquery("scores"))
    report.rows = engine.create_table_as(output, final)
    _count_non_finite(engine, estimator, output, select.named_selects, report)
    if report.non_finite_rows:
        engine.drop(output)
        _refuse_non_finite(spec, where, report, "sql")
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _input(spec: ModelSpec, names: list[str], source: exp.Table, display: str | None) -> tuple[str, exp.Select]:
    """The user's name for the scoring table, and SELECT key, features FROM it."""
    where = display or ".".join(part.name for part in source.parts)
    selected = dict.fromkeys([*spec.key, *names])
    return where, exp.select(*(exp.column(c, quoted=True) for c in selected)).from_(source.copy())


def compiled_scores(estimator, spec: ModelSpec, features: list[Feature], source: exp.Table, engine=None) -> exp.Select:
    """The fitted pipeline as one SELECT of key, prediction[, proba_<class>...] over `source`,
    the label typed as the Python path types it, shaped for `engine`'s planner and float
    arithmetic (None: SQL any engine runs)."""
    return compile_scoring(estimator, spec, features, source, engine).select


def compile_scoring(estimator, spec: ModelSpec, features: list[Feature], source: exp.Table, engine=None):
    """compiled_scores' SELECT (as modelsql.Compiled.select) with the check of the rows
    scikit-learn would refuse."""
    from dataclasses import replace

    from sklearn.base import is_classifier

    from toolkit.modelsql import compile_pipeline

    fence, guards = (engine.INLINES_CTES, not engine.IEEE_FLOATS) if engine is not None else (True, True)
    compiled = compile_pipeline(estimator, features, spec.key, source.copy(), fence=fence, guards=guards)
    if not (is_classifier(estimator) and hasattr(estimator, "classes_")):
        return compiled
    select = compiled.select
    label_type = _sql_type(pa.array(list(estimator.classes_)).type)
    columns = [
        exp.cast(exp.column(name, quoted=True), label_type).as_(name) if name == PREDICTION else exp.column(name, quoted=True)
        for name in select.named_selects
    ]
    return replace(compiled, select=exp.select(*columns).from_(select.subquery("compiled")))


REFUSED = {  # base.Refusal.why -> what the values are
    "missing": "missing value(s) (NULL or NaN)",
    "infinite": "infinite value(s)",
    "float32": "value(s) beyond float32's range (|x| > 3.4e38, scikit-learn's trees cast to float32)",
    "unseen": "value(s) unseen in training (handle_unknown='error')",
}


def _refuse(engine, spec: ModelSpec, compiled, where: str, report: ScoreReport) -> None:
    """Where scikit-learn would raise on some row, so does scoring in SQL: one query
    counts those rows (only for what the compiled pipeline cannot take) before anything
    is written, and the step fails naming the columns, like the Python path."""
    if compiled.check is None:
        return
    counts = engine.fetch_rows(compiled.check)[0]
    causes = [
        f"'{feature}' has {count} {REFUSED[why]} that {step or 'the model'} cannot take"
        for (feature, why, step), count in zip(compiled.refused, counts) if count
    ]
    if causes:
        report.refused = {f"{feature} ({why})": int(count) for (feature, why, _), count in zip(compiled.refused, counts) if count}
        raise ScoringFailed(f"model {spec.name} could not score {where}: scikit-learn raises on these rows: {'; '.join(causes)}", report)


def _count_non_finite(engine, estimator, output: exp.Table, columns: list[str], report: ScoreReport) -> None:
    """NaN and infinite values among the scores the compiled pipeline wrote (its float columns:
    a regressor's prediction, a classifier's probabilities), in one pass over `output`. The
    compiler refuses the inputs scikit-learn raises on, not every overflow (1e308 * 10):
    such a row scores as in Python, to a value no one can use. NaN = NaN is true in SQL
    engines (DuckDB, PostgreSQL, Spark), unlike IEEE's comparison."""
    from sklearn.base import is_classifier

    from toolkit.modelsql.base import number

    scored = [c for c in columns if (c.startswith(PROBA_PREFIX) if is_classifier(estimator) else c == PREDICTION)]
    if not scored:
        return
    bad = {c: exp.column(c, quoted=True).isin(number(math.nan), number(math.inf), number(-math.inf)) for c in scored}

    def count(condition: exp.Expression) -> exp.Expression:
        return exp.func("SUM", exp.case().when(condition, exp.Literal.number(1)).else_(exp.Literal.number(0)))

    query = exp.select(count(exp.or_(*bad.values())), *(count(condition) for condition in bad.values())).from_(output.copy())
    rows, *counts = (int(value or 0) for value in engine.fetch_rows(query)[0])
    report.non_finite_rows = rows
    report.non_finite = {c: n for c, n in zip(scored, counts) if n}


def _refuse_non_finite(spec: ModelSpec, where: str, report: ScoreReport, scored_in: str) -> None:
    """A model that outputs NaN or infinity for some rows (inverse_func=np.sqrt of a negative,
    an overflow) has no prediction for them: the step fails, counting them, before they are published."""
    if not report.non_finite_rows:
        return
    columns = ", ".join(f"{column}: {count}" for column, count in report.non_finite.items())
    raise ScoringFailed(f"model {spec.name} could not score {where}: it output NaN or infinity for {report.non_finite_rows} "
                        f"of {report.rows} row(s) ({columns}); none of them is published (earlier predictions, if any, stay)",
                        report, scored_in)


class SlowerInSql(Exception):
    """scoring="auto": with its refusal checks counted, the compiled pipeline is estimated
    to lose to the Python path (modelsql/cost.py); `reason` says by how much."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ScoringFailed(StepFailed):
    """Scoring stopped on a value the model cannot take; `details` keeps the counts for the run record."""

    def __init__(self, message: str, report: "ScoreReport", scored_in: str = "sql"):
        super().__init__(message)
        self.details = json.dumps({"scored_in": scored_in, "null_counts": report.null_counts,
                                   "unseen_counts": report.unseen_counts, "refused": report.refused,
                                   **({"non_finite": report.non_finite} if report.non_finite else {})})


def _sql_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):  # the width the Python path writes (numpy's label dtype)
        return {8: "smallint", 16: "smallint", 32: "int"}.get(arrow_type.bit_width, "bigint")
    if pa.types.is_floating(arrow_type):
        return "double"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    return "varchar"


def unseen_counts(engine, features: list[Feature], source: exp.Table) -> dict[str, int]:
    """Values of string features unseen in training, counted in the warehouse with one
    query (the seen values enter as literals)."""
    checked = [f for f in features_of(features) if f.categories is not None]
    if not checked:
        return {}
    selects = []
    for feature in checked:
        column = exp.column(feature.name, quoted=True)
        seen = [exp.Literal.string(str(v)) for v in feature.categories] or [exp.Null()]
        unseen = exp.and_(column.is_(exp.null()).not_(), exp.Not(this=column.copy().isin(*seen)))
        selects.append(exp.func("count", exp.Case(ifs=[exp.If(this=unseen, true=exp.Literal.number(1))])))
    row = engine.fetch_rows(exp.select(*selects).from_(source.copy()))[0]
    return {f.name: int(v or 0) for f, v in zip(checked, row)}


def _check(engine, spec: ModelSpec, features: list[Feature], source: exp.Table, where: str, query: exp.Select) -> dict[str, int]:
    """Missing columns, changed type families, all-NULL features: stop before reading rows.
    Returns the NULLs per feature, from the same aggregate."""
    columns = engine.columns(source)
    if columns is None:
        raise StepFailed(f"model {spec.name}: scoring table {where} does not exist")
    for column in [*spec.key, *(f.name for f in features)]:
        if column not in columns:
            hint = did_you_mean(column, columns)
            raise StepFailed(
                f"model {spec.name}: column '{column}' is missing from scoring table {where}; the model was trained on it"
                + (f" ({hint})" if hint else "")
            )
    schema = engine.fetch_arrow(query.copy().limit(0)).schema  # the types as Arrow, like training saw them
    for feature in features:
        now = str(schema.field(feature.name).type)
        if type_family(now) != feature.family:
            raise StepFailed(
                f"model {spec.name}: column '{feature.name}' of scoring table {where} is {now}, "
                f"it was {feature.type} in training ({feature.family} -> {type_family(now)})"
            )
        if _fractional(feature.type) and now.lower().startswith(("int", "uint")):  # the fractions are gone: not the data it learnt
            raise StepFailed(
                f"model {spec.name}: column '{feature.name}' of scoring table {where} is {now}, it was {feature.type} "
                "in training: its fractions are cut off (cast it back to a fractional type in the step)"
            )
    _refuse_repeated_key(engine, spec, source, where)
    names = [f.name for f in features]
    present = [_present(f) for f in features] + [exp.column(k, quoted=True) for k in spec.key]
    counts = exp.select(exp.func("count", exp.Star()), *(exp.func("count", p) for p in present))
    rows, *filled = engine.fetch_rows(counts.from_(source.copy()))[0]
    filled, keys = filled[:len(names)], filled[len(names):]
    for key, count in zip(spec.key, keys):
        if count < rows:  # a prediction no join can find (two NULL keys were refused as a repeat, one was published)
            raise StepFailed(f"model {spec.name}: key column '{key}' of scoring table {where} is NULL in {rows - count} row(s)")
    empty = [n for n, count in zip(names, filled) if count == 0]
    if rows and empty:
        raise StepFailed(
            f"model {spec.name}: feature column{'s' if len(empty) > 1 else ''} "
            f"{', '.join(repr(n) for n in empty)} of scoring table {where} {'are' if len(empty) > 1 else 'is'} "
            f"entirely NULL or NaN ({rows} rows); the model cannot score it honestly"
        )
    return {n: rows - count for n, count in zip(names, filled)}


def _present(feature: Feature) -> exp.Expression:
    """The feature where it is a value: NULL for NULL and, in a number, for NaN (missing to
    scikit-learn as NULL is), so that count() of it leaves both out."""
    column = exp.column(feature.name, quoted=True)
    if feature.family != "number":
        return column
    return exp.Nullif(this=exp.cast(column, "double"), expression=exp.cast(exp.Literal.string("nan"), "double"))


def missing_count(array: pa.Array) -> int:
    """NULLs, and NaNs of a floating-point array: the values scikit-learn sees as missing."""
    nans = (pc.sum(pc.is_nan(array)).as_py() or 0) if pa.types.is_floating(array.type) else 0
    return array.null_count + nans


def _fractional(arrow_type: str) -> bool:
    return arrow_type.lower().startswith(("float", "double", "halffloat", "decimal"))


def _refuse_repeated_key(engine, spec: ModelSpec, source: exp.Table, where: str) -> None:
    """A key scored twice would get two predictions, and joins on the key would double
    rows: one GROUP BY ... HAVING count(*) > 1 LIMIT 1 finds an example (training refuses
    repeated keys too, toolkit.training)."""
    keys = [exp.column(k, quoted=True) for k in spec.key]
    twice = exp.GT(this=exp.func("count", exp.Star()), expression=exp.Literal.number(1))
    found = engine.fetch_rows(exp.select(*keys).from_(source.copy()).group_by(*keys).having(twice).limit(1))
    if found:
        named = ", ".join(f"{k} = {'NULL' if v is None else repr(v)}" for k, v in zip(spec.key, found[0]))
        raise StepFailed(f"model {spec.name}: key {', '.join(spec.key)} repeats in scoring table {where} ({named}): "
                         "each key gets one prediction, so it must name one row")


def held_out_predictions(estimator, spec: ModelSpec, features: list[Feature], data: pa.Table, rows, version: int,
                         run_id: int) -> pa.Table:
    """The version's predictions for `rows` of its training data (its held-out set), with
    the columns of a predictions table: monitoring's baseline of what the model outputs."""
    held = data.take(pa.array(rows, pa.int64()))
    predictions = _Predictions(estimator, spec, "its held-out rows", version, run_id)
    schema = predictions.schema(held.schema)
    names = [f.name for f in features]
    report = ScoreReport(null_counts=dict.fromkeys(names, 0))
    batches = [predictions.predict(batch, names, {}, report, schema) for batch in held.to_batches(max_chunksize=100_000)]
    return pa.Table.from_batches(batches, schema=schema)


class _Predictions:
    """Turns one input batch into one output batch."""

    def __init__(self, estimator, spec: ModelSpec, where: str, version: int, run_id: int):
        from sklearn.base import is_classifier

        self.estimator = estimator
        self.spec = spec
        self.where = where
        self.version = pa.scalar(version, pa.int64())
        self.run_id = pa.scalar(run_id, pa.int64())
        self.scored_at = pa.scalar(now(), pa.timestamp("us"))
        self.classes = (
            list(estimator.classes_) if is_classifier(estimator) and hasattr(estimator, "predict_proba") else None
        )

    def schema(self, source: pa.Schema) -> pa.Schema:
        fields = [source.field(k) for k in self.spec.key]
        if self.classes is not None:
            fields.append(pa.field(PREDICTION, pa.array(self.classes).type))
            fields += [pa.field(name, pa.float64()) for name in proba_columns(self.classes)]
        else:
            fields.append(pa.field(PREDICTION, pa.float64()))
        fields += [
            pa.field("model_version", pa.int64()),
            pa.field("scored_at", pa.timestamp("us")),
            pa.field("run_id", pa.int64()),
        ]
        return pa.schema(fields)

    def predict(self, batch: pa.RecordBatch, names: list[str], seen: dict, report: ScoreReport, schema: pa.Schema):
        nulls = {n: missing_count(batch.column(n)) for n in names}
        unseen = {n: _unseen(batch.column(n), values) for n, values in seen.items()}
        for n, count in nulls.items():
            report.null_counts[n] += count
        for n, count in unseen.items():
            report.unseen_counts[n] += count
        frame = to_frame(batch, names)
        try:
            prediction = self.estimator.predict(frame)
            probabilities = self.estimator.predict_proba(frame) if self.classes is not None else None
        except Exception as error:
            raise ScoringFailed(self._failure(error, nulls, unseen), report, "python") from error
        del frame
        rows = batch.num_rows
        arrays: list[Any] = [batch.column(k) for k in self.spec.key]
        arrays.append(pa.array(prediction).cast(schema.field(PREDICTION).type))
        if probabilities is not None:
            arrays += [pa.array(probabilities[:, i], pa.float64()) for i in range(len(self.classes))]
        self._count_non_finite(arrays[len(self.spec.key):], schema, report)
        arrays += [pa.repeat(self.version, rows), pa.repeat(self.scored_at, rows), pa.repeat(self.run_id, rows)]
        report.rows += rows
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _count_non_finite(self, scores: list, schema: pa.Schema, report: ScoreReport) -> None:
        """NaN and infinity among this batch's float scores (prediction, proba_<class>)."""
        bad = None
        for array, name in zip(scores, schema.names[len(self.spec.key):]):
            if not pa.types.is_floating(array.type):
                continue
            mask = pc.invert(pc.fill_null(pc.is_finite(array), True))
            count = int(pc.sum(mask).as_py() or 0)
            if count:
                report.non_finite[name] = report.non_finite.get(name, 0) + count
                bad = mask if bad is None else pc.or_(bad, mask)
        if bad is not None:
            report.non_finite_rows += int(pc.sum(bad).as_py() or 0)

    def _failure(self, error: Exception, nulls: dict, unseen: dict) -> str:
        causes = _causes(str(error), nulls, unseen)
        why = f"; in this batch {', '.join(causes)}" if causes else ""
        return f"model {self.spec.name} could not score {self.where}: {type(error).__name__}: {error}{why}"


def _causes(message: str, nulls: dict, unseen: dict) -> list[str]:
    """The batch's counts that scikit-learn's message points at: NULLs for a NaN (missing
    value) complaint; unseen values, and NULLs of those categorical features, for an
    unknown category. None for any other error: listed after it, they read as its cause
    (all counts stay in the run record's details)."""
    causes: list[str] = []
    if re.search(r"unknown categor", message, re.IGNORECASE):
        causes += [f"'{n}' has {c} value(s) unseen in training" for n, c in unseen.items() if c]
        causes += [f"'{n}' has {nulls[n]} NULL(s)" for n in unseen if nulls.get(n)]
    if re.search(r"\bnan\b|missing value", message, re.IGNORECASE):
        causes += [f"'{n}' has {c} NULL(s)" for n, c in nulls.items() if c]
    return list(dict.fromkeys(causes))


def _unseen(column: pa.Array, values: list) -> int:
    if not len(column):
        return 0
    known = pc.is_in(column, value_set=pa.array(values, column.type))
    return int(pc.sum(pc.and_(column.is_valid(), pc.invert(known))).as_py() or 0)

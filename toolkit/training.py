"""Train a model step: read Arrow, split, fit every candidate, evaluate, gate.

    data = read_training(engine, table, spec)      # SELECT key, label, features (sampled in the warehouse)
    result = fit_candidates(spec, data)            # split -> fit -> score -> best -> gates

Data leaves the warehouse once, as Arrow, ordered by the key so that the same
table gives the same split and the same model on every run. The feature columns
become one pandas DataFrame (what scikit-learn estimators with column names need);
there is no other pandas round trip. Rows whose label is NULL are unlabeled and
are not read.

The registered estimator is the one fitted on the training part of the split
only, not refitted on all rows: the metrics stored with a version then describe
exactly the estimator stored with it.

Metrics are scikit-learn scorer names (`sklearn.metrics.get_scorer_names()`); all
scorers are greater-is-better (losses are negated, e.g. "neg_mean_absolute_error"),
and a gate is the minimum value of a metric: `gates={"neg_mean_absolute_error": -50}`
means "mean absolute error at most 50".
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp
from sqlglot.errors import ParseError

from toolkit import mlcore
from toolkit.errors import ProjectError, StepFailed, did_you_mean
from toolkit.mlcore import Feature, type_family  # noqa: F401 (type_family: part of this API)
from toolkit.models import FAIRNESS_GAPS, GAP_PREFIX, ModelSpec, feature_names  # noqa: F401 (feature_names: part of this API)

SAMPLE_BUCKETS = 10_000
MAX_CATEGORIES = 1_000  # string features with more distinct training values are not checked for unseen ones


@dataclass
class TrainingResult:
    """What training produced: the best candidate fitted on the training part, and
    every candidate's parameters and held-out metrics."""

    best: str
    estimator: Any
    candidates: list[dict]  # {name, params, metrics, seconds}
    features: list[Feature]  # in the order the estimator was fitted on
    train_rows: int
    test_rows: int
    passed_gates: bool = True
    failed_gate: str | None = None  # e.g. "roc_auc 0.5312 < 0.6"
    metrics: dict[str, float] = field(default_factory=dict)  # the best candidate's
    incumbent_metrics: dict[str, float] | None = None  # the production version's, on the same held-out rows
    incumbent_error: str | None = None  # why the production version could not be scored on them
    segments: dict = field(default_factory=dict)  # column -> per-value metrics and gaps (segment_metrics)
    evaluation: dict = field(default_factory=dict)  # split, curves, confusion matrix... of the best (evaluation.py)
    test_index: Any = field(default=None, repr=False)  # positions of the held-out rows in the data read


# -- reading -------------------------------------------------------------------------


def key_hash(engine, columns: list[str]) -> exp.Expression:
    """A deterministic hash of the key columns, as the engine's adapter spells it."""
    return engine.key_hash(columns)


def read_training(engine, table: exp.Table, spec: ModelSpec, display: str | None = None, also: list[str] = ()) -> pa.Table:
    """key + label (+ split column) + features of the labeled rows, ordered by the key;
    sampled in the warehouse by a hash of the key when `spec.sample` is set. `also`:
    further columns to read where the table has them (the production version's features,
    for promote="challenger")."""
    where = display or _table_name(table)  # messages name the user's table, not a physical one
    columns = engine.columns(table)
    if columns is None:
        raise StepFailed(f"model {spec.name}: training table {where} does not exist")

    def require(column: str, role: str) -> None:
        if column not in columns:
            hint = did_you_mean(column, columns)
            raise StepFailed(
                f"model {spec.name}: {role} column '{column}' is not in training table {where}"
                + (f" ({hint})" if hint else f" (columns: {', '.join(columns)})")
            )

    require(spec.label, "label")
    for column in spec.key:
        require(column, "key")
    if spec.split_column:
        require(spec.split_column, "split")
    features = feature_names(spec, list(columns))
    for column in features:
        require(column, "feature")
    for column in spec.segments:
        require(column, "segment")
    if not features:
        raise StepFailed(f"model {spec.name}: training table {where} has no feature columns besides label and key")

    sample = None
    if spec.sample is not None and spec.sample < 1:
        buckets = exp.Mod(this=key_hash(engine, spec.key), expression=exp.Literal.number(SAMPLE_BUCKETS))
        sample = exp.LT(this=exp.paren(buckets), expression=exp.Literal.number(round(spec.sample * SAMPLE_BUCKETS)))

    extra = [*spec.segments, *(c for c in also if c in columns)]
    selected = list(dict.fromkeys([*spec.key, spec.label, *([spec.split_column] if spec.split_column else []), *features, *extra]))
    query = (
        exp.select(*(exp.column(c, quoted=True) for c in selected))
        .from_(table.copy())
        .where(exp.column(spec.label, quoted=True).is_(exp.null()).not_())
    )
    if sample is not None:
        query = query.where(sample.copy())
    try:
        data = _read_in_key_order(engine, query, spec.key, [columns[c] for c in spec.key])
    except RepeatedKey as repeated:
        named = ", ".join(f"{k} = {'NULL' if v is None else repr(v)}" for k, v in repeated.key.items())
        raise StepFailed(f"model {spec.name}: key {', '.join(spec.key)} repeats in training table {where} ({named}): the "
                         "key names one row, which fixes the order rows are fitted in (rows sharing a key come out of "
                         "the sort in any order) and the rows predictions are joined on") from None
    if data.num_rows == 0:  # no labeled row: say whether the table has rows at all
        _refuse_empty(engine, table, spec, where, sample)
    if spec.split == "time":
        check_time_column(spec, data.column(spec.split_column).type, columns[spec.split_column], where)
    return data


def check_time_column(spec: ModelSpec, arrow_type: pa.DataType, declared: str, where: str) -> None:
    """A time split orders the split column's values and tests on the latest: a date,
    timestamp, number or boolean orders as time does; text does not ('10' < '9'), so it
    is refused at the @model line (exit 2), naming the column and its type."""
    ordered = (pa.types.is_temporal(arrow_type) or pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
               or pa.types.is_decimal(arrow_type) or pa.types.is_boolean(arrow_type))
    if not ordered:
        raise ProjectError(
            f"model {spec.name}: split='time' needs a date, timestamp or number column, but split_column "
            f"'{spec.split_column}' of {where} is {declared}", spec.file or None, spec.line,
            hint=f"cast it in the training step, e.g. cast({spec.split_column} as date), or use split='group' for labels",
        )


def _refuse_empty(engine, table: exp.Table, spec: ModelSpec, where: str, sample: exp.Expression | None) -> None:
    """No labeled row was read: the table (as sampled) is empty, or its label all NULL.
    Asked only then: a count before every read cost a scan of the table."""
    counts = exp.select(exp.func("count", exp.Star())).from_(table.copy())
    if sample is not None:
        counts = counts.where(sample)
    rows = engine.fetch_rows(counts)[0][0]
    sampled = f" after sampling {spec.sample:g}" if sample is not None else ""
    if rows == 0:
        raise StepFailed(f"model {spec.name}: training table {where} is empty{sampled}")
    raise StepFailed(f"model {spec.name}: label column '{spec.label}' of training table {where} is all NULL{sampled}")


class RepeatedKey(Exception):
    def __init__(self, key: dict):
        super().__init__(key)
        self.key = key


def _read_in_key_order(engine, query: exp.Select, key: list[str], key_types: list[str], batch_rows: int = 1_000_000) -> pa.Table:
    """The query's rows ordered by the key. Sorting costs several times the read itself
    (5M rows x 10 columns on DuckDB: 0.52 s against 0.09 s), and tables are often stored
    in key order already: the rows are first read as the engine streams them, and kept
    when every key is greater than the one before (exactly what ORDER BY would give,
    since no two keys are equal); the first row out of order abandons that read for an
    ORDER BY. Only for integer, decimal and date/time keys (`key_types`, the catalog's),
    whose order every engine agrees on: text sorts by the database's collation. A key that
    repeats raises RepeatedKey: rows sharing one come out of a sort in any order.
    Batches of a million rows: every row is kept anyway, and DuckDB streams 5M rows in
    100k-row batches in 0.12 s, in 1M-row ones in 0.07 s; a table out of order wastes at
    most one batch."""
    ordered = query.order_by(*(exp.column(c, quoted=True) for c in key))
    as_stored = None
    if engine.STREAMS_STORED_ORDER and all(_orderable(kind, engine.dialect) for kind in key_types):
        as_stored = _unless_out_of_order(engine.read_batches(query, batch_rows), key)
    if as_stored is not None:
        return as_stored  # every key greater than the one before: none repeats
    data = engine.read_batches(ordered, batch_rows).read_all()
    repeated = _repeated_key(data, key)
    if repeated is not None:
        raise RepeatedKey(repeated)
    return data


def _unless_out_of_order(reader: pa.RecordBatchReader, key: list[str]) -> pa.Table | None:
    """The reader's rows, or None at the first key not greater than the one before
    (the reader is dropped there, which closes its cursor or session)."""
    batches, last = [], None
    for batch in reader:
        if batch.num_rows == 0:
            continue
        if not _keys_increase(batch, key, last):
            return None
        batches.append(batch)
        last = batch.slice(batch.num_rows - 1)
    return pa.Table.from_batches(batches, schema=reader.schema)


def _repeated_key(data: pa.Table, key: list[str]) -> dict | None:
    """The first key of `data` (sorted by it) equal to the one before it (two NULLs are
    equal here: they too come out of the sort in any order)."""
    if data.num_rows < 2:
        return None
    same = None
    for name in key:
        column = data.column(name).combine_chunks()
        current, before = column.slice(1), column.slice(0, len(column) - 1)
        equal = pc.fill_null(pc.equal(current, before), False)
        if column.null_count:
            equal = pc.or_(equal, pc.and_(pc.is_null(current), pc.is_null(before)))
        same = equal if same is None else pc.and_(same, equal)
    first = pc.index(same, True).as_py()
    return None if first < 0 else _key_at(data, key, first + 1)


def _key_at(data: pa.Table, key: list[str], row: int) -> dict:
    return {c: data.column(c)[row].as_py() for c in key}


def _orderable(type_name: str, dialect: str) -> bool:
    try:
        kind = exp.DataType.build(type_name, dialect=dialect)
    except (ParseError, ValueError):
        return False
    return kind.is_type(*exp.DataType.INTEGER_TYPES, *exp.DataType.TEMPORAL_TYPES, exp.DataType.Type.DECIMAL)


def orderable_arrow_type(kind: pa.DataType) -> bool:
    """_orderable for a column seen through Arrow (a query's result, before any table
    exists): integer, decimal and date/time keys."""
    return any(check(kind) for check in (pa.types.is_integer, pa.types.is_decimal, pa.types.is_date, pa.types.is_timestamp, pa.types.is_time))


def _keys_increase(batch: pa.RecordBatch, key: list[str], last: pa.RecordBatch | None) -> bool:
    """Each row's key (compared column by column) is greater than the row's before it,
    the first row's than `last` (the previous batch's final row); no key is NULL."""
    rows = batch if last is None else pa.Table.from_batches([last.select(key), batch.select(key)]).combine_chunks()
    if any(rows.column(c).null_count for c in key):
        return False
    if rows.num_rows < 2:
        return True
    after = None  # built from the last key column: a > b, else equal here and greater further on
    for column in reversed(key):
        values = rows.column(column)
        before, current = values.slice(0, len(values) - 1), values.slice(1)
        greater = pc.greater(current, before)
        after = greater if after is None else pc.or_(greater, pc.and_(pc.equal(current, before), after))
    return pc.all(after).as_py()


def _table_name(table: exp.Table) -> str:
    return ".".join(part.name for part in table.parts)


# -- splitting -----------------------------------------------------------------------


def split(data: pa.Table, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """(train_indices, test_indices), sorted, deterministic for the same data and spec.

    random: a seeded permutation; time: the latest periods of `split_column` that
    cover about `test_fraction` of the rows are the test set (every test period is
    later than every training period); group: whole groups of `split_column`,
    chosen in a seeded order, are the test set (no group in both)."""
    n = data.num_rows
    if n < 2:
        raise StepFailed(f"model {spec.name}: {n} labeled row(s) in {spec.training}; a train/test split needs at least 2")
    target = max(1, round(n * spec.test_fraction))
    if spec.split == "random":
        order = np.random.default_rng(spec.seed).permutation(n)
        return np.sort(order[target:]), np.sort(order[:target])
    codes, sizes = _period_codes(data, spec)
    if len(sizes) < 2:
        raise StepFailed(
            f"model {spec.name}: split column '{spec.split_column}' of {spec.training} has one distinct value; "
            f"a {spec.split} split needs at least 2"
        )
    if spec.split == "time":
        order = np.arange(len(sizes))[::-1]  # latest period first
    else:
        order = np.random.default_rng(spec.seed).permutation(len(sizes))
    covered = np.cumsum(sizes[order])[:-1]  # rows in the test set when taking 1, 2, ... periods (never all)
    chosen = int(np.argmin(np.abs(covered - target))) + 1  # closest to test_fraction; fewer periods on a tie
    test = np.isin(codes, order[:chosen])
    return np.flatnonzero(~test), np.flatnonzero(test)


def _period_codes(data: pa.Table, spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """Each row's index into the sorted distinct values of the split column, and the row count per value."""
    column = data.column(spec.split_column)
    if column.null_count and spec.split == "time":
        raise StepFailed(
            f"model {spec.name}: split column '{spec.split_column}' of {spec.training} has {column.null_count} NULL "
            "value(s); a time split needs a time for every row"
        )
    distinct = pc.unique(column)
    distinct = distinct.take(pc.array_sort_indices(distinct))  # NULL last
    codes = pc.index_in(column, value_set=distinct, skip_nulls=False).to_numpy(zero_copy_only=False)
    return codes, np.bincount(codes, minlength=len(distinct))


# -- fitting and evaluating ----------------------------------------------------------


def to_frame(data: pa.Table | pa.RecordBatch, columns: list[str]):
    """The feature columns as one pandas DataFrame. Decimals become float64 (sklearn
    cannot use Python Decimal objects); NULLs become NaN/None."""
    arrays = []
    for name in columns:
        array = data.column(name)
        if pa.types.is_decimal(array.type):
            array = array.cast(pa.float64())
        arrays.append(array)
    kind = pa.Table if isinstance(data, pa.Table) else pa.RecordBatch
    return kind.from_arrays(arrays, names=columns).to_pandas(split_blocks=True)


def _label(data: pa.Table, spec: ModelSpec) -> np.ndarray:
    column = data.column(spec.label)
    if pa.types.is_decimal(column.type):
        column = column.cast(pa.float64())
    return column.to_numpy()


def fit_candidates(spec: ModelSpec, data: pa.Table, incumbent=None, progress=lambda phase: None) -> TrainingResult:
    """Fit every candidate on the same split, score each on the held-out part, keep the
    best. `incumbent` (fitted estimator, its feature names): the production version,
    scored on the same held-out rows (promote="challenger")."""
    from sklearn.base import clone, is_classifier

    from toolkit.evaluation import held_out

    candidates = spec.candidates()  # ProjectError when it returned no estimator
    y = _label(data, spec)
    classes = np.unique(y)
    first = next(iter(candidates.values()))
    metrics = spec.metrics or (
        (["roc_auc"] if len(classes) == 2 else ["accuracy"]) if is_classifier(first) else ["r2"]
    )
    gaps = {gate: gate.removeprefix(GAP_PREFIX) for gate in spec.gates if gate.startswith(GAP_PREFIX)}
    evaluated = list(dict.fromkeys([*metrics, *(g for g in spec.gates if g not in gaps),
                                    *(m for m in gaps.values() if m not in FAIRNESS_GAPS)]))
    scorers = {name: _scorer(spec, name) for name in evaluated}
    for name, estimator in candidates.items():
        check_metric_tasks(spec, name, estimator, evaluated)
    for name, estimator in candidates.items():
        if is_classifier(estimator) and len(classes) < 2:
            raise StepFailed(
                f"model {spec.name}: label column '{spec.label}' of {spec.training} has one class only "
                f"({json_safe(classes[0])!r}); classifier {name} needs at least 2"
            )

    train, test = split(data, spec)
    names = feature_names(spec, data.column_names)
    X = to_frame(data, names)
    X_train, X_test, y_train, y_test = X.iloc[train], X.iloc[test], y[train], y[test]

    results, fitted = [], {}
    for number, (name, candidate) in enumerate(candidates.items(), 1):
        progress(f"fitting candidate {number} of {len(candidates)} ({name}) on {len(train):,} rows, "
                 f"evaluating on {len(test):,}")
        estimator = clone(candidate)
        started = time.perf_counter()
        try:
            estimator.fit(X_train, y_train)
        except Exception as error:
            raise StepFailed(f"model {spec.name}: candidate {name} failed to fit on {spec.training}: {error}") from error
        scores = {}
        for metric in evaluated:
            try:
                scores[metric] = float(scorers[metric](estimator, X_test, y_test))
            except Exception as error:
                raise StepFailed(f"model {spec.name}: metric {metric} of candidate {name} failed: {error}") from error
        fitted[name] = estimator
        results.append(
            {"name": name, "params": json_safe(estimator.get_params()), "metrics": scores,
             "seconds": round(time.perf_counter() - started, 3)}
        )

    primary = metrics[0]
    best = max(results, key=lambda r: _rank(r["metrics"][primary]))  # first declared wins a tie
    segments = {}
    if spec.segments:
        segments = segment_metrics(fitted[best["name"]], data, spec.segments, X_test, y_test, test, scorers)
    failed = failed_gate(spec, best["metrics"], segments)
    result = TrainingResult(
        best=best["name"],
        estimator=fitted[best["name"]],
        candidates=results,
        features=_describe_features(data, names, train),
        train_rows=len(train),
        test_rows=len(test),
        test_index=test,
        passed_gates=failed is None,
        failed_gate=failed,
        metrics=dict(best["metrics"]),
        segments=segments,
        evaluation=held_out(spec, fitted[best["name"]], data, train, test, X_test, y_test, y_train),
    )
    if incumbent is not None:
        result.incumbent_metrics, result.incumbent_error = _score_incumbent(incumbent, data, test, y_test, scorers)
    return result


def segment_metrics(estimator, data: pa.Table, columns: list[str], X_test, y_test, test, scorers) -> dict:
    """Fairness on the held-out rows: for each segment column, every metric per value
    ({"values": {value: {"rows": n, metric: v}}}), the largest gap between values of
    each metric ("max_gap"), and for a binary classifier the demographic-parity
    difference (largest gap in the rate of positive predictions) and the equalized-odds
    difference (largest gap in true- or false-positive rate). A metric a group cannot
    have (ROC AUC of a group with one class) is None and left out of the gaps."""
    from sklearn.base import is_classifier

    classes = list(getattr(estimator, "classes_", []))
    binary = is_classifier(estimator) and len(classes) == 2
    predicted = estimator.predict(X_test) if binary else None
    found = {}
    for column in columns:
        codes, values = _codes(data.column(column).take(pa.array(test)))
        groups = {}
        for code, value in sorted(enumerate(values), key=lambda item: (item[1] is None, str(item[1]))):
            mask, name = codes == code, "NULL" if value is None else str(value)
            groups[name] = _group_metrics(estimator, X_test[mask], y_test[mask], scorers)
            if binary:
                groups[name].update(_rates(predicted[mask], y_test[mask], classes[1]))
        gaps = _gaps(groups, scorers)
        if binary:
            rates = _gaps(groups, ("positive_rate", "true_positive_rate", "false_positive_rate"))
            gaps["demographic_parity"] = rates["positive_rate"]
            odds = [g for g in (rates["true_positive_rate"], rates["false_positive_rate"]) if g is not None]
            gaps["equalized_odds"] = max(odds, default=None)
        found[column] = {"values": groups, "max_gap": gaps}
    return found


def _codes(column: pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """Each row's group number, and the group values (None last, for NULL)."""
    encoded = column.combine_chunks().dictionary_encode()
    values = encoded.dictionary.to_pylist()
    codes = pc.fill_null(encoded.indices, len(values)).to_numpy(zero_copy_only=False)
    return codes, values + ([None] if encoded.null_count else [])


def _group_metrics(estimator, X, y, scorers) -> dict:
    out = {"rows": int(len(y))}
    for metric, scorer in scorers.items():
        try:
            with warnings.catch_warnings():  # e.g. "Only one class present": recorded as None
                warnings.simplefilter("ignore")
                value = float(scorer(estimator, X, y))
            out[metric] = None if math.isnan(value) else value
        except ValueError:
            out[metric] = None
    return out


def _rates(predicted, y, positive) -> dict:
    hit, actual = predicted == positive, y == positive
    return {
        "positive_rate": float(hit.mean()) if len(y) else None,
        "true_positive_rate": float(hit[actual].mean()) if actual.any() else None,
        "false_positive_rate": float(hit[~actual].mean()) if (~actual).any() else None,
    }


def _gaps(groups: dict, metrics) -> dict:
    gaps = {}
    for metric in metrics:
        present = [g[metric] for g in groups.values() if g.get(metric) is not None]
        gaps[metric] = max(present) - min(present) if len(present) > 1 else (0.0 if present else None)
    return gaps


def failed_gate(spec: ModelSpec, metrics: dict, segments: dict | None) -> str | None:
    """The first gate a version's held-out metrics (at least the value) or its segments'
    gaps (`max_gap.<metric>`: at most the value) break, as text; None when all hold. A
    metric that is NaN or missing breaks its gate."""
    gaps = {gate: gate.removeprefix(GAP_PREFIX) for gate in spec.gates if gate.startswith(GAP_PREFIX)}
    for metric, low in spec.gates.items():
        value = metrics.get(metric)
        if metric not in gaps and not (isinstance(value, (int, float)) and value >= low):
            return f"{metric} {value:.6g} < {low:g}" if isinstance(value, (int, float)) else f"{metric} missing (gate {low:g})"
    return _failed_gap(spec, gaps, segments or {})


def _failed_gap(spec: ModelSpec, gaps: dict, segments: dict) -> str | None:
    """The first max_gap gate a segment column breaks, as text; None when all hold."""
    for gate, metric in gaps.items():
        for column, found in segments.items():
            gap = found["max_gap"].get(metric)
            if gap is not None and gap > spec.gates[gate]:
                return f"{gate} {gap:.6g} > {spec.gates[gate]:g} between values of {column}"
    return None


def _score_incumbent(incumbent, data: pa.Table, test, y_test, scorers) -> tuple[dict | None, str | None]:
    """The production version's metrics on the held-out rows the candidates were scored on."""
    estimator, names = incumbent
    missing = [name for name in names if name not in data.column_names]
    if missing:
        return None, f"the training table no longer has its feature(s) {', '.join(missing)}"
    X_test = to_frame(data, names).iloc[test]
    try:
        return {metric: float(scorer(estimator, X_test, y_test)) for metric, scorer in scorers.items()}, None
    except Exception as error:  # e.g. a label it never saw: it cannot be compared, say why
        return None, f"{type(error).__name__}: {error}"


def _rank(value: float) -> float:
    return -math.inf if math.isnan(value) else value


def metric_task(name: str) -> str | None:
    """"regression" or "classification" for a scikit-learn scorer name, by the module its
    metric lives in (sklearn.metrics._regression, _classification, _ranking); None for
    others (clustering scores)."""
    from sklearn.metrics import get_scorer

    module = getattr(getattr(get_scorer(name), "_score_func", None), "__module__", "") or ""
    if module.endswith("._regression"):
        return "regression"
    if module.endswith(("._classification", "._ranking")):
        return "classification"
    return None


def check_metric_tasks(spec: ModelSpec, candidate: str, estimator, metrics: list[str]) -> None:
    """A regression metric on a classifier (or the reverse) scores nonsense or fails late:
    refused at the @model line (exit 2), naming the metric."""
    from sklearn.base import is_classifier, is_regressor

    task = "classification" if is_classifier(estimator) else "regression" if is_regressor(estimator) else None
    for metric in metrics:
        wrong = metric_task(metric)
        if task is not None and wrong is not None and wrong != task:
            kind = "classifier" if task == "classification" else "regressor"
            raise ProjectError(
                f"model {spec.name}: metric '{metric}' is a {wrong} metric, but candidate {candidate} is a {kind}",
                spec.file or None, spec.line,
                hint="e.g. roc_auc, accuracy, f1 or neg_log_loss for a classifier; r2 or neg_mean_absolute_error for a regressor",
            )


def _scorer(spec: ModelSpec, name: str):
    from sklearn.metrics import get_scorer, get_scorer_names

    if name not in get_scorer_names():
        hint = did_you_mean(name, get_scorer_names()) or "see sklearn.metrics.get_scorer_names()"
        raise ProjectError(f"model {spec.name}: unknown metric '{name}'", spec.file or None, spec.line, hint=hint)
    return get_scorer(name)


def _describe_features(data: pa.Table, names: list[str], train: np.ndarray) -> list[Feature]:
    """name and Arrow type of each feature; for string features, the sorted distinct
    values seen in training (up to MAX_CATEGORIES) for the unseen-category check."""
    described = []
    for name in names:
        column = data.column(name)
        feature = Feature(name, str(column.type))
        if feature.family == "string":
            seen = pc.unique(column.take(pa.array(train))).drop_null()
            if len(seen) <= MAX_CATEGORIES:
                feature = Feature(name, feature.type, tuple(sorted(seen.to_pylist())))
        described.append(feature)
    return described


def _readable(value: Any) -> Any:
    """json_safe's fallback for estimator parameters: arrays as lists, types by their
    dotted name, anything else by its repr on one line."""
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist(), _readable)
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return " ".join(repr(value).split())


def json_safe(value: Any) -> Any:
    """Estimator parameters as JSON values: nested estimators and callables by their repr."""
    return mlcore.json_safe(value, _readable)

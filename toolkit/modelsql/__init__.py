"""Compile a fitted scikit-learn pipeline to one SQL SELECT.

    select = compile_model(pipeline, features, key=["id"], source=exp.table_("rows"))
    select.sql(dialect="duckdb")

The SELECT returns the key columns, `prediction` and, for classifiers, one
`proba_<class>` column per class (named by toolkit.scoring.proba_columns), equal to
scikit-learn's predict / predict_proba to 1e-9 and with identical labels.

SQL shape, chosen to keep the text linear in the model's size: a chain of CTEs.
The first reads the source and turns every feature into the value scikit-learn
sees (numbers become DOUBLE with NaN turned into NULL, so NULL and NaN behave alike;
strings stay strings). Each transformer step's outputs become named columns of a
CTE, so a later step refers to an earlier result by name instead of repeating its
expression; converters also hoist what they reuse (base.hoist), e.g. the class
scores that a softmax and an argmax both read. Independent hoists share one CTE
(the branches of a ColumnTransformer), so the chain is as deep as the pipeline's
longest dependency path. Every CTE selects the key, the earlier columns still
needed later (by name) and its own new ones; the outer SELECT names the key columns
and the final estimator's expressions.

Every CTE ends in OFFSET 0, a fence: PostgreSQL inlines a CTE used once and then
flattens the subqueries, substituting each named column by its expression, so a
decision used by a max, three exps and a label would be recomputed every time
(100x slower on 100k rows of a 50-feature softmax). OFFSET 0 keeps each level
computed once per row and still streaming (MATERIALIZED would store every level);
DuckDB ignores it. Limits: PostgreSQL allows 1664 columns in
one SELECT, so a step whose live output is wider than that (a one-hot encoder of
thousands of categories) fails there; DuckDB has no such limit.

Dispatch: Pipeline (steps in order, 'passthrough' / None skipped), ColumnTransformer
(every column selection scikit-learn resolves, 'passthrough', 'drop', remainder,
transformer_weights; output in scikit-learn's order), and the transformers and final
estimators in the one table of converters, toolkit.modelsql.converters (written in
preprocessing.py, linear.py, trees.py; shared float math in mathsql.py). Anything
else raises Unsupported naming the step's path and class, e.g.
'columntransformer.kbinsdiscretizer: KBinsDiscretizer is not supported'.
"""

from __future__ import annotations

import contextlib
import math
import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any

from sqlglot import exp

from toolkit.mlcore import Feature, features_of, proba_columns
from toolkit.modelsql.base import Column, Context, Refusal, Scores, Unsupported, hoist, number
from toolkit.modelsql.converters import ACCEPTS_INFINITY, FLOAT32_INPUT, estimator_for, transformer_for
from toolkit.modelsql import mathsql
from toolkit.modelsql.mathsql import safe_product

__all__ = ["Compiled", "Unsupported", "compile_model", "compile_pipeline", "unsupported_reason"]

# The smallest float64 that float32 rounds to infinity: (2 - 2**-24) * 2**127, halfway
# between float32's largest value and 2**128 (a tie, rounded to the even infinity).
FLOAT32_LIMIT = float.fromhex("0x1.ffffffp+127")
NUMERIC_TYPE = re.compile(r"^(double|float(16|32|64)?|halffloat|u?int(8|16|32|64)|decimal(128|256)?\(.*\))$")


class _Layers:
    """The CTE chain under construction.

    Each hoist adds named columns to the last CTE, or opens a new one when an
    expression needs a column the last CTE defines. `build` then selects, in every
    CTE, only the columns still needed further on (PostgreSQL allows 1664 columns
    per SELECT, and dead columns would only cost width)."""

    def __init__(self, reserved: set[str]):
        self.reserved = {name.lower() for name in reserved}
        self.layers: list[list[tuple[str, exp.Expression]]] = []
        self.count = 0

    def fresh(self, prefix: str) -> str:
        """A column or CTE name not used before and not clashing with the key."""
        while True:
            name = f"__{prefix}{self.count}"
            self.count += 1
            if name.lower() not in self.reserved:
                return name

    def add(self, exprs: list[exp.Expression], hint: str) -> list[exp.Expression]:
        """Compute `exprs` once, as named columns; bare columns and constants stay as
        they are."""
        named, refs = [], []
        for expr in exprs:
            if isinstance(expr, (exp.Column, exp.Literal, exp.Null)) or _is_constant(expr):
                refs.append(expr)
                continue
            name = self.fresh(f"{_slug(hint)}_")
            named.append((name, expr))
            refs.append(exp.column(name, quoted=True))
        if named:
            last = {alias for alias, _ in self.layers[-1]} if self.layers else set()
            if not self.layers or any(_references(e) & last for _, e in named):
                self.layers.append([])
            self.layers[-1].extend(named)
        return refs

    def build(self, key: list[str], source: exp.Table, inputs: list[tuple[str, exp.Expression]], outputs, fence: bool = True) -> exp.Select:
        """WITH input AS (...), step AS (...), ... SELECT key, outputs FROM the last.

        fence: end every CTE in OFFSET 0, so that PostgreSQL materializes it instead of
        inlining it and recomputing each named expression wherever it is used; DuckDB
        does not inline them and runs 1.5-2x faster without the fences."""
        def fenced(body: exp.Select) -> exp.Select:
            return body.offset(0, copy=False) if fence else body

        keys = [exp.column(k, quoted=True) for k in key]
        needed = set().union(*(_references(e) for _, e in outputs))
        bodies = []
        for layer in reversed(self.layers):
            own = [(alias, e) for alias, e in layer if alias in needed]
            if not own:
                continue
            defined = {alias for alias, _ in layer}
            carried = needed - defined
            bodies.append((sorted(carried, key=_order), own))
            needed = carried.union(*(_references(e) for _, e in own))
        first = exp.select(*keys, *(e.as_(a, quoted=True) for a, e in inputs if a in needed)).from_(source.copy())
        chain = [(self.fresh("input"), fenced(first))]
        for carried, own in reversed(bodies):
            columns = [*keys, *(exp.column(c, quoted=True) for c in carried), *(e.as_(a, quoted=True) for a, e in own)]
            body = exp.select(*columns).from_(exp.to_identifier(chain[-1][0], quoted=True), copy=False)
            chain.append((self.fresh("step"), fenced(body)))
        query = exp.select(*keys, *(e.as_(n, quoted=True) for n, e in outputs))
        query = query.from_(exp.to_identifier(chain[-1][0], quoted=True), copy=False)
        for name, body in chain:  # copy=False: copying the growing query per CTE is quadratic
            query = query.with_(exp.to_identifier(name, quoted=True), as_=body, copy=False)
        return query


def _references(expr: exp.Expression) -> set[str]:
    return {column.name for column in expr.find_all(exp.Column)}


def _order(name: str) -> int:
    """Generated names end in their creation counter: keep columns in that order."""
    return int(re.sub(r"^.*?(\d+)$", r"\1", name))


class _Compilation(Context):
    """A Context that hoists (see base.hoist) into the compilation's CTE chain."""

    def __init__(self, layers: _Layers, path: str = "", notes: list[str] | None = None, refusals: list | None = None):
        super().__init__(path=path, notes=[] if notes is None else notes, refusals=[] if refusals is None else refusals)
        self.layers = layers

    def child(self, name: str) -> "_Compilation":
        return _Compilation(self.layers, f"{self.path}.{name}" if self.path else name, self.notes, self.refusals)

    def hoister(self, exprs: list[exp.Expression], hint: str) -> list[exp.Expression]:
        return self.layers.add(exprs, hint)


@dataclass
class Compiled:
    """The scoring SELECT and, when some row could make scikit-learn raise, the query
    that counts those rows first (base.Refusal): one scan of the same CTE chain, giving
    one row with a count per entry of `refused`."""

    select: exp.Select
    check: exp.Select | None = None
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (feature, why, step) per column of check


def compile_model(estimator, features: list[Feature], key: list[str], source: exp.Table, fence: bool = True,
                  guards: bool = True) -> exp.Select:
    """The SELECT scoring `source` with the fitted `estimator` (see the module doc).

    `features`: toolkit.mlcore.Feature (or their JSON dicts {"name", "type"}) in
    the order the estimator was fitted on. `fence`: OFFSET 0 on every CTE (see _Layers.build; needed on
    PostgreSQL, slower on DuckDB). `guards`: every float step guarded against the
    errors PostgreSQL raises on overflow and underflow (mathsql.py); False for an
    engine whose float arithmetic is IEEE's without errors (DuckDB). Raises
    Unsupported(step path, reason) for anything it cannot express exactly."""
    return compile_pipeline(estimator, features, key, source, fence, guards).select


def compile_pipeline(estimator, features: list[Feature], key: list[str], source: exp.Table, fence: bool = True,
                     guards: bool = True) -> Compiled:
    """compile_model's SELECT with the check of the rows scikit-learn would refuse."""
    features = features_of(features)
    _check_features(estimator, features)
    layers = _Layers({*key, "prediction"})
    ctx = _Compilation(layers)
    inputs, columns = _inputs(features, layers)
    with contextlib.nullcontext() if guards else mathsql.ieee_engine():
        scores = _score(estimator, columns, ctx, _top_name(estimator))
        select = layers.build(key, source, inputs, _outputs(estimator, scores), fence)
        check, refused = _refusal_check(layers, source, inputs, ctx.refusals, fence)
    return Compiled(select, check, refused)


def _refusal_check(layers: _Layers, source: exp.Table, inputs, refusals: list[Refusal], fence: bool):
    """SELECT count(rows refused) per (feature, why, step) over the scoring CTE chain,
    only the columns the conditions read; (None, []) when no row can be refused."""
    grouped: dict[tuple[str, str, str], dict[str, exp.Expression]] = {}
    for refusal in refusals:
        grouped.setdefault((refusal.feature, refusal.why, refusal.step), {})[refusal.condition.sql()] = refusal.condition
    if not grouped:
        return None, []
    flags = [
        (layers.fresh("refused"), exp.Case(ifs=[exp.If(this=exp.or_(*(c.copy() for c in conditions.values())), true=exp.Literal.number(1))]))
        for conditions in grouped.values()
    ]
    rows = layers.build([], source, inputs, flags, fence)
    counts = [exp.func("count", exp.column(name, quoted=True)) for name, _ in flags]
    return exp.select(*counts).from_(rows.subquery("refusable")), list(grouped)


def unsupported_reason(estimator, features: list[Feature] | None = None) -> str | None:
    """None when `estimator` compiles, else why not ("step '<path>': <reason>").

    Pass `features` for a definitive answer; without them each input column's type
    is guessed from what the pipeline learnt (string categories or fill values mean
    a string column, anything else a number). Never raises."""
    try:
        features = features if features is not None else _guess_features(estimator)
        compile_model(estimator, features, ["__key"], exp.table_("__rows"))
    except Unsupported as error:
        return f"step '{error.step}': {error.reason}"
    except Exception as error:  # a broken or foreign object: say so, do not raise
        return f"step '{_name(estimator)}': {type(error).__name__}: {error}"
    return None


def _check_features(estimator, features: list[Feature]) -> None:
    """The estimator must have been fitted on exactly these columns, in this order."""
    where = "input"
    names = [feature.name for feature in features]
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None and list(fitted) != names:
        raise Unsupported(where, f"fitted on columns {list(fitted)}, given {names}")
    count = getattr(estimator, "n_features_in_", None)
    if count is not None and count != len(names):
        raise Unsupported(where, f"fitted on {count} columns, given {len(names)}")


def _inputs(features: list[Feature], layers: _Layers) -> tuple[list[tuple[str, exp.Expression]], list[Column]]:
    """The first CTE's expressions: each feature as scikit-learn sees it after
    toolkit.training.to_frame (decimals and ints as float64, NaN as missing)."""
    inputs, columns = [], []
    for feature in features_of(features):
        name, kind = feature.name, feature.type.strip().lower()
        raw = exp.column(name, quoted=True)
        if kind in ("string", "large_string", "utf8", "large_utf8") or _is_dictionary_of_strings(kind):
            expr, column_kind = raw, "string"
        elif kind in ("bool", "boolean"):
            expr, column_kind = _boolean(raw), "number"
        elif NUMERIC_TYPE.match(kind):
            expr, column_kind = exp.func("NULLIF", _double(raw, kind), number(math.nan)), "number"
        else:
            raise Unsupported("input", f"column '{name}' of type {feature.type} is not supported")
        alias = layers.fresh("x")
        inputs.append((alias, expr))
        columns.append(Column(exp.column(alias, quoted=True), column_kind, name, bound=_type_bound(kind)))
    return inputs, columns


def _type_bound(kind: str) -> float:
    """The largest magnitude a column of this Arrow type holds: integers and decimals
    cannot be infinite nor leave float32's range (except 128-bit ones), floats can."""
    if kind in ("bool", "boolean"):
        return 1.0
    integer = re.match(r"^(u?)int(8|16|32|64)$", kind)
    if integer:
        return 2.0 ** (int(integer.group(2)) - (0 if integer.group(1) else 1))
    decimal = re.match(r"^decimal(?:128|256)?\(\s*(\d+)\s*,\s*(-?\d+)\s*\)$", kind)
    if decimal:
        return 10.0 ** min(int(decimal.group(1)) - int(decimal.group(2)), 308)
    return math.inf


def _is_dictionary_of_strings(kind: str) -> bool:
    """Dictionary-encoded strings (pandas categoricals): strings to scikit-learn too."""
    return re.match(r"^dictionary<values=(large_)?(string|utf8),", kind) is not None


def _double(raw: exp.Expression, kind: str) -> exp.Expression:
    """The column as float64, the way pyarrow casts it for scikit-learn.

    pyarrow turns a decimal of scale s into float(unscaled) * 1e-s, which is not
    always the nearest double (55.37 -> 55.370000000000005); the engines' own CAST
    is. So a decimal is scaled to an integer in exact decimal arithmetic first, then
    multiplied like pyarrow (exact for unscaled values below 2**53)."""
    scale = re.match(r"^decimal(?:128|256)?\(\s*\d+\s*,\s*(-?\d+)\s*\)$", kind)
    if not scale or int(scale.group(1)) <= 0:
        return exp.cast(raw, exp.DataType.Type.DOUBLE)
    digits = int(scale.group(1))
    unscaled = exp.cast(raw * exp.Literal.number(10**digits), exp.DataType.build("DECIMAL(38, 0)"))
    return exp.cast(unscaled, exp.DataType.Type.DOUBLE) * number(float(f"1e-{digits}"))


def _boolean(raw: exp.Expression) -> exp.Expression:
    """true -> 1.0, false -> 0.0, NULL -> NULL (PostgreSQL cannot CAST boolean to DOUBLE)."""
    return exp.Case(
        ifs=[exp.If(this=raw.copy(), true=number(1.0)), exp.If(this=exp.not_(raw.copy()), true=number(0.0))]
    )


def _outputs(estimator, scores: Scores) -> list[tuple[str, exp.Expression]]:
    """`prediction` and the probability columns, labels cast to the label's type."""
    from sklearn.base import is_classifier

    if not is_classifier(estimator):
        return [("prediction", scores.prediction)]
    classes = list(estimator.classes_)
    prediction = scores.prediction
    label_type = _label_type(classes)
    if label_type is not None:
        prediction = exp.cast(prediction, label_type)
    outputs = [("prediction", prediction)]
    if hasattr(estimator, "predict_proba"):
        if len(scores.probabilities) != len(classes):
            raise Unsupported(_name(estimator), "the converter computed no probability per class")
        outputs += list(zip(proba_columns(classes), scores.probabilities))
    return outputs


def _label_type(classes: list) -> exp.DataType.Type | None:
    """Integer labels come out as BIGINT (int64, like the Python scorer), floats as
    DOUBLE; strings and booleans keep their literal's type."""
    values = [c.item() if hasattr(c, "item") else c for c in classes]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return exp.DataType.Type.BIGINT
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return exp.DataType.Type.DOUBLE
    return None


def _score(estimator, columns: list[Column], ctx: Context, name: str | None) -> Scores:
    """The final estimator (a Pipeline's last step, recursively) over `columns`."""
    from sklearn.pipeline import Pipeline

    here = ctx.child(name) if name else ctx
    if isinstance(estimator, Pipeline):
        steps = [(n, s) for n, s in estimator.steps if not _skipped(s)]
        if not steps or not hasattr(steps[-1][1], "predict"):
            raise Unsupported(here.path, "the pipeline ends without an estimator")
        for step_name, step in steps[:-1]:
            columns = _transform(step, columns, here, step_name)
        return _score(steps[-1][1], columns, here, steps[-1][0])
    converter = estimator_for(estimator, here.path)
    _require_fitted(estimator, here)
    _require_count(estimator, columns, here)
    _refuse_invalid(estimator, columns, here, final=True)
    return converter(estimator, columns, here)


def _transform(step, columns: list[Column], ctx: Context, name: str) -> list[Column]:
    """One transforming step: Pipeline, ColumnTransformer or a converted transformer.
    Its output columns are hoisted, so later steps name them instead of repeating them."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    here = ctx.child(name)
    if _skipped(step):
        return columns
    if isinstance(step, Pipeline):
        for step_name, inner in step.steps:
            columns = _transform(inner, columns, here, step_name)
        return columns
    if isinstance(step, ColumnTransformer):
        return _column_transformer(step, columns, here)
    converter = transformer_for(step, here.path)
    _require_fitted(step, here)
    _require_count(step, columns, here)
    columns = _refuse_invalid(step, columns, here, final=False)
    out = converter(step, columns, here)
    refs = hoist(here, [c.expr for c in out], name)
    return [replace(c, expr=ref) for ref, c in zip(refs, out)]


def _refuse_invalid(step, columns: list[Column], ctx: Context, final: bool) -> list[Column]:
    """The rows scikit-learn's input validation (check_array) raises on at this step,
    where the compiler cannot rule them out (Column.nullable, Column.bound): a missing
    value reaching an estimator without NaN support; infinity reaching any converted
    step but HistGradientBoosting; a value beyond float32's range reaching a tree that
    casts X to float32 ("Input X contains infinity or a value too large for
    dtype('float32')"). Unknown categories are the encoders' own (preprocessing.py).
    Returns the columns as the step then sees them: finite where it refused infinity."""
    from sklearn.utils import get_tags

    if final and not get_tags(step).input_tags.allow_nan:
        for column in columns:
            if column.nullable:
                ctx.refuse(column.expr.copy().is_(exp.null()), column, "missing")
    if type(step) in ACCEPTS_INFINITY:
        return columns
    limit = FLOAT32_LIMIT if type(step) in FLOAT32_INPUT else math.inf
    seen = []
    for column in columns:
        if column.kind == "number" and column.bound >= limit:
            ctx.refuse(exp.Abs(this=column.expr.copy()) >= number(limit), column, "float32" if limit < math.inf else "infinite")
            column = replace(column, bound=min(limit, sys.float_info.max))
        seen.append(column)
    return seen


def _column_transformer(ct, columns: list[Column], ctx: Context) -> list[Column]:
    """scikit-learn's order: the fitted transformers in order, then the remainder;
    'drop' and empty selections give nothing; weights multiply the outputs."""
    _require_fitted(ct, ctx)
    _require_count(ct, columns, ctx)
    indices = getattr(ct, "_transformer_to_input_indices", None)
    if indices is None:
        raise Unsupported(ctx.path, "this scikit-learn version's ColumnTransformer is not supported")
    given = {name: transformer for name, transformer, _ in ct.transformers}
    given["remainder"] = ct.remainder
    weights = ct.transformer_weights or {}
    out: list[Column] = []
    for name, fitted, _ in ct.transformers_:
        selected = [columns[i] for i in indices.get(name, [])]
        if _is_drop(given.get(name, fitted)) or _is_drop(fitted) or not selected:
            continue
        if _is_passthrough(given.get(name, fitted)):
            produced = selected
        else:
            produced = _transform(fitted, selected, ctx, name)
        out += _weighted(produced, weights.get(name), ctx.child(name))
    return out


def _weighted(columns: list[Column], weight, ctx: Context) -> list[Column]:
    if weight is None:
        return columns
    if any(c.kind != "number" for c in columns):
        raise Unsupported(ctx.path, "a transformer weight on string columns")
    return [replace(c, expr=safe_product(c.expr, weight), bound=c.bound * abs(float(weight)) * (1 + 1e-9)) for c in columns]


def _skipped(step) -> bool:
    return step is None or (isinstance(step, str) and step == "passthrough")


def _is_drop(step) -> bool:
    return isinstance(step, str) and step == "drop"


def _is_passthrough(step) -> bool:
    return isinstance(step, str) and step == "passthrough"


def _require_fitted(step, ctx: Context) -> None:
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(step)
    except NotFittedError:
        raise Unsupported(ctx.path, f"{type(step).__name__} is not fitted") from None


def _require_count(step, columns: list[Column], ctx: Context) -> None:
    count = getattr(step, "n_features_in_", None)
    if count is not None and count != len(columns):
        raise Unsupported(ctx.path, f"fitted on {count} columns, receives {len(columns)}")


def _top_name(estimator) -> str | None:
    """Paths start at the top pipeline's step names: 'columntransformer.onehotencoder'."""
    from sklearn.pipeline import Pipeline

    return None if isinstance(estimator, Pipeline) else _name(estimator)


def _name(estimator) -> str:
    return type(estimator).__name__.lower()


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")[:24] or "v"


def _is_constant(expr: exp.Expression) -> bool:
    """A cast literal, e.g. number(0.5): nothing to compute once."""
    return isinstance(expr, exp.Cast) and isinstance(expr.this, exp.Literal)


def _guess_features(estimator) -> list[Feature]:
    """Input types for a dry compile when none are given (see unsupported_reason)."""
    count = getattr(estimator, "n_features_in_", None)
    if count is None:
        raise Unsupported(_name(estimator), "not fitted (no n_features_in_)")
    names = list(getattr(estimator, "feature_names_in_", [f"x{i}" for i in range(count)]))
    strings = _string_inputs(estimator, list(range(count)))
    return [Feature(str(n), "string" if i in strings else "double") for i, n in enumerate(names)]


def _string_inputs(step, positions: list[int]) -> set[int]:
    """Which of `positions` (input column indices) the first real step treats as strings."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if isinstance(step, Pipeline):
        real = [s for _, s in step.steps if not _skipped(s)]
        return _string_inputs(real[0], positions) if real else set()
    if isinstance(step, ColumnTransformer) and hasattr(step, "transformers_"):
        found: set[int] = set()
        for name, fitted, _ in step.transformers_:
            chosen = [positions[i] for i in step._transformer_to_input_indices.get(name, [])]
            found |= _string_inputs(fitted, chosen) if not isinstance(fitted, str) else set()
        return found
    learnt: list[Any] = list(getattr(step, "categories_", None) or [])
    if hasattr(step, "statistics_"):
        learnt = [[value] for value in step.statistics_]
    return {p for p, values in zip(positions, learnt) if any(isinstance(v, str) for v in values)}

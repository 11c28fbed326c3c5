"""Converters for scikit-learn's imputers, scalers and encoders.

Each one repeats scikit-learn's own float64 operations in the same order (e.g.
StandardScaler is (x - mean_) / scale_, MinMaxScaler x * scale_ + min_), so results
are bit-identical wherever the arithmetic is IEEE double, as it is in DuckDB and
PostgreSQL. A missing value (NULL) is passed on wherever scikit-learn passes NaN on.
The scalers' arithmetic is guarded (mathsql.safe_shift / safe_product /
safe_quotient): where IEEE gives inf or 0 and PostgreSQL would raise, a CASE gives
inf or 0.

Where scikit-learn would raise at predict time (an unknown category with
handle_unknown='error', infinity in any of these steps), a query cannot raise per
row: the step records the rows as a base.Refusal, which scoring counts before it
writes anything and fails on (toolkit.scoring); the SQL itself yields NULL for that
step's outputs. Each output Column says whether it can be NULL and how large it
can be, so later steps check only what can happen.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from sqlglot import exp
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from toolkit.modelsql.base import Column, Context, Unsupported, hoist, number
from toolkit.modelsql.mathsql import safe_product, safe_quotient, safe_shift


# --- helpers -------------------------------------------------------------------


def _missing(value: Any) -> bool:
    """scikit-learn's notion of a missing value in learnt attributes: None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or _is_nan_scalar(value)


def _is_nan_scalar(value: Any) -> bool:
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _is_text(value: Any) -> bool:
    return isinstance(_plain(value), str)


def _value(value: Any, kind: str, ctx: Context) -> exp.Expression:
    """A category or fill value as a literal comparable with a column of `kind`."""
    value = _plain(value)
    if kind == "string":
        if not isinstance(value, str):
            raise Unsupported(ctx.path, f"non-string value {value!r} for a string column")
        return exp.Literal.string(value)
    if isinstance(value, str):
        raise Unsupported(ctx.path, f"string value {value!r} for a numeric column")
    return number(float(value))


def _case(ifs: list[tuple[exp.Expression, exp.Expression]], default: exp.Expression | None = None) -> exp.Expression:
    return exp.Case(ifs=[exp.If(this=c, true=t) for c, t in ifs], default=default)


def _numbers(columns: list[Column], ctx: Context) -> None:
    """Scalers and arithmetic need numeric input, as in scikit-learn."""
    strings = [c.name or f"#{i}" for i, c in enumerate(columns) if c.kind != "number"]
    if strings:
        raise Unsupported(ctx.path, f"string column(s) {strings} reach a numeric transformer")


def _bounded(bound: float, shift: float = 0.0, divide: float = 1.0, times: float = 1.0) -> float:
    """The bound of (x * times + shift) / divide for |x| <= bound, with room for rounding."""
    if math.isinf(bound) or math.isnan(bound):
        return math.inf
    return (bound * abs(float(times)) + abs(float(shift))) / abs(float(divide)) * (1 + 1e-9)


def _clip(values: list[exp.Expression], low: float, high: float, ctx: Context, hint: str) -> list[exp.Expression]:
    """np.clip: NULL stays NULL (GREATEST/LEAST would skip NULLs, so CASE instead)."""
    refs = hoist(ctx, values, hint)
    return [_case([(r < number(low), number(low)), (r > number(high), number(high))], r) for r in refs]


# --- imputers ------------------------------------------------------------------


def _require_nan_marker(step, ctx: Context) -> None:
    marker = step.missing_values
    if not (isinstance(marker, float) and math.isnan(marker)) and not _is_nan_scalar(marker):
        raise Unsupported(ctx.path, f"missing_values={marker!r}: only NaN (SQL NULL) is supported")


def simple_imputer(imputer: SimpleImputer, columns: list[Column], ctx: Context) -> list[Column]:
    """COALESCE(x, statistic). A column with no statistic (all missing in training)
    is dropped unless keep_empty_features, as scikit-learn does; add_indicator
    appends the missing indicators of the input columns."""
    _require_nan_marker(imputer, ctx)
    out = []
    for column, statistic in zip(columns, imputer.statistics_):
        if _missing(statistic):
            if not imputer.keep_empty_features:
                continue
            out.append(column)  # filling NaN with NaN
            continue
        filled = exp.func("COALESCE", column.expr, _value(statistic, column.kind, ctx))
        bound = max(column.bound, abs(float(_plain(statistic)))) if column.kind == "number" else column.bound
        out.append(Column(filled, column.kind, column.name, nullable=False, bound=bound))
    if imputer.add_indicator:
        out += _indicators(imputer.indicator_, columns, ctx)
    return out


def missing_indicator(indicator: MissingIndicator, columns: list[Column], ctx: Context) -> list[Column]:
    """1.0 where the input is missing, else 0.0, for the columns fitted to report."""
    _require_nan_marker(indicator, ctx)
    return _indicators(indicator, columns, ctx)


def _indicators(indicator: MissingIndicator, columns: list[Column], ctx: Context) -> list[Column]:
    _require_nan_marker(indicator, ctx)
    return [
        Column(_case([(columns[i].expr.is_(exp.null()), number(1.0))], number(0.0)), "number", columns[i].name, nullable=False, bound=1.0)
        for i in indicator.features_
    ]


# --- scalers ---------------------------------------------------------------------


def standard_scaler(scaler: StandardScaler, columns: list[Column], ctx: Context) -> list[Column]:
    """(x - mean_) / scale_, each part only when fitted with it."""
    _numbers(columns, ctx)
    out = []
    for i, column in enumerate(columns):
        expr, bound = column.expr, column.bound
        if scaler.with_mean:
            expr, bound = safe_shift(expr, scaler.mean_[i], subtract=True), _bounded(bound, scaler.mean_[i])
        if scaler.with_std:
            expr, bound = safe_quotient(expr, scaler.scale_[i]), _bounded(bound, divide=scaler.scale_[i])
        out.append(replace(column, expr=expr, kind="number", bound=bound))
    return out


def robust_scaler(scaler: RobustScaler, columns: list[Column], ctx: Context) -> list[Column]:
    """(x - center_) / scale_, each part only when fitted with it."""
    _numbers(columns, ctx)
    out = []
    for i, column in enumerate(columns):
        expr, bound = column.expr, column.bound
        if scaler.with_centering:
            expr, bound = safe_shift(expr, scaler.center_[i], subtract=True), _bounded(bound, scaler.center_[i])
        if scaler.with_scaling:
            expr, bound = safe_quotient(expr, scaler.scale_[i]), _bounded(bound, divide=scaler.scale_[i])
        out.append(replace(column, expr=expr, kind="number", bound=bound))
    return out


def min_max_scaler(scaler: MinMaxScaler, columns: list[Column], ctx: Context) -> list[Column]:
    """x * scale_ + min_ (that order, as scikit-learn), then clip to feature_range."""
    _numbers(columns, ctx)
    values = [safe_shift(safe_product(c.expr, scaler.scale_[i]), scaler.min_[i]) for i, c in enumerate(columns)]
    bounds = [_bounded(c.bound, scaler.min_[i], times=scaler.scale_[i]) for i, c in enumerate(columns)]
    if scaler.clip:
        low, high = scaler.feature_range
        values = _clip(values, low, high, ctx, "minmax")
        bounds = [max(abs(low), abs(high))] * len(columns)
    return [replace(c, expr=v, bound=b) for v, b, c in zip(values, bounds, columns)]


def max_abs_scaler(scaler: MaxAbsScaler, columns: list[Column], ctx: Context) -> list[Column]:
    """x / scale_, then clip to [-1, 1] when asked."""
    _numbers(columns, ctx)
    values = [safe_quotient(c.expr, scaler.scale_[i]) for i, c in enumerate(columns)]
    bounds = [_bounded(c.bound, divide=scaler.scale_[i]) for i, c in enumerate(columns)]
    if getattr(scaler, "clip", False):
        values = _clip(values, -1.0, 1.0, ctx, "maxabs")
        bounds = [1.0] * len(columns)
    return [replace(c, expr=v, bound=b) for v, b, c in zip(values, bounds, columns)]


# --- encoders ----------------------------------------------------------------------


def _code(column: Column, categories, codes: list, missing_code, unknown_code, ctx: Context, render) -> exp.Expression:
    """CASE mapping the input to a code: categories sharing a code are one IN list;
    NULL input gets `missing_code`; anything else `unknown_code`. `render` makes a
    code a literal (None, and NaN, become NULL)."""
    kind = _category_kind(categories, column, ctx)
    groups: dict[Any, list[exp.Expression]] = {}
    for category, code in zip(categories, codes):
        if not _missing(category):
            groups.setdefault(code, []).append(_value(category, kind, ctx))
    ifs = [(column.expr.is_(exp.null()), _rendered(missing_code, render))]
    ifs += [(column.expr.isin(*values), _rendered(code, render)) for code, values in groups.items()]
    return _case(ifs, _rendered(unknown_code, render))


def _rendered(code, render) -> exp.Expression:
    return exp.null() if code is None or _missing(code) else render(code)


def _category_kind(categories, column: Column, ctx: Context) -> str:
    """Categories learnt from strings compare as strings, others as numbers; they
    must agree with the column they are compared with."""
    learnt = [c for c in categories if not _missing(c)]
    kind = "string" if learnt and all(_is_text(c) for c in learnt) else "number"
    if any(_is_text(c) for c in learnt) and kind == "number":
        raise Unsupported(ctx.path, "categories mixing strings and numbers")
    if column.kind != kind:
        raise Unsupported(ctx.path, f"{kind} categories for the {column.kind} column {column.name or ''}".rstrip())
    return kind


def _refuse_unknown(column: Column, categories, ctx: Context) -> None:
    """handle_unknown='error': scikit-learn raises on a value it did not learn, a
    missing one included unless missing was a learnt category (base.Refusal)."""
    kind = _category_kind(categories, column, ctx)
    known = [_value(c, kind, ctx) for c in categories if not _missing(c)]
    present = column.expr.copy().is_(exp.null()).not_()
    if _missing_index(categories) is None and column.nullable:
        ctx.refuse(column.expr.copy().is_(exp.null()), column, "missing")
    ctx.refuse(exp.and_(present, exp.not_(column.expr.copy().isin(*known))) if known else present, column, "unseen")


def _missing_index(categories) -> int | None:
    found = [i for i, c in enumerate(categories) if _missing(c)]
    return found[0] if found else None


def _infrequent(encoder, i: int):
    """(grouping of category index -> grouped code, index of the first infrequent
    category) for input column i, or (None, None) without infrequent categories."""
    if not getattr(encoder, "_infrequent_enabled", False):
        return None, None
    indices = encoder._infrequent_indices[i]
    mapping = encoder._default_to_infrequent_mappings[i]
    return mapping, (None if indices is None else int(indices[0]))


def one_hot_encoder(encoder: OneHotEncoder, columns: list[Column], ctx: Context) -> list[Column]:
    """One 1.0/0.0 column per output of each input column. The input is first mapped
    to its output position (after infrequent grouping and drop), hoisted, then each
    output tests that position: text linear in the number of categories."""
    if encoder.handle_unknown not in ("error", "ignore", "infrequent_if_exist", "warn"):
        raise Unsupported(ctx.path, f"handle_unknown={encoder.handle_unknown!r} is not supported")
    drops = encoder._drop_idx_after_grouping
    out = []
    for i, (column, categories) in enumerate(zip(columns, encoder.categories_)):
        mapping, first_infrequent = _infrequent(encoder, i)
        drop = None if drops is None or drops[i] is None else int(drops[i])

        def position(index):
            grouped = int(mapping[index]) if mapping is not None else index
            return -1 if grouped == drop else (grouped - 1 if drop is not None and grouped > drop else grouped)

        codes = [position(k) for k in range(len(categories))]
        if encoder.handle_unknown in ("infrequent_if_exist", "warn") and first_infrequent is not None:
            unknown = position(first_infrequent)
        else:
            unknown = None if encoder.handle_unknown == "error" else -1
        missing = _missing_index(categories)
        missing_code = unknown if missing is None else codes[missing]
        if unknown is None:
            _refuse_unknown(column, categories, ctx)
        code = _code(column, categories, codes, missing_code, unknown, ctx, exp.Literal.number)
        [ref] = hoist(ctx, [code], f"onehot_{column.name or i}")
        for j in range(encoder._n_features_outs[i]):
            if unknown is None:  # NULL code (scikit-learn raises): NULL outputs
                hot = _case([(ref.eq(j), number(1.0)), (ref.is_(exp.null()).not_(), number(0.0))])
            else:
                hot = _case([(ref.eq(j), number(1.0))], number(0.0))
            out.append(Column(hot, "number", column.name, nullable=False, bound=1.0))  # NULL only in refused rows
    return out


def ordinal_encoder(encoder: OrdinalEncoder, columns: list[Column], ctx: Context) -> list[Column]:
    """The category's index (after infrequent grouping) as a number; a category
    learnt as missing gives encoded_missing_value, an unknown one unknown_value
    (or NULL where scikit-learn raises)."""
    if encoder.handle_unknown not in ("error", "use_encoded_value"):
        raise Unsupported(ctx.path, f"handle_unknown={encoder.handle_unknown!r} is not supported")
    unknown = float(encoder.unknown_value) if encoder.handle_unknown == "use_encoded_value" else None
    out = []
    for i, (column, categories) in enumerate(zip(columns, encoder.categories_)):
        mapping, _ = _infrequent(encoder, i)
        # the infrequent grouping leaves the missing category (last) out of its mapping
        codes = [float(mapping[k] if mapping is not None and k < len(mapping) else k) for k in range(len(categories))]
        missing = float(encoder.encoded_missing_value) if _missing_index(categories) is not None else unknown
        if encoder.handle_unknown == "error":
            _refuse_unknown(column, categories, ctx)
        code = _code(column, categories, codes, missing, unknown, ctx, number)
        fills = [v for v in (missing, unknown) if v is not None]  # None: the row is refused
        nullable = (unknown is not None and _missing(unknown)) or (column.nullable and missing is not None and _missing(missing))
        bound = max([abs(c) for c in codes] + [abs(v) for v in fills if not _missing(v)], default=0.0)
        out.append(Column(code, "number", column.name, nullable=nullable, bound=bound))
    return out

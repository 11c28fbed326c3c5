"""More DuckDB calls Spark runs with another value, written for Spark with DuckDB's
(sparkmeanings.repair hooks `repair` here; a step read as DuckDB only):

=================================  ==============================  ===========================
DuckDB                             Spark as sqlglot wrote it        written here
=================================  ==============================  ===========================
list(x ORDER BY k), array_agg(x    COLLECT_LIST(x): the ORDER BY    TRANSFORM(ARRAY_SORT(
ORDER BY k): ordered, NULL         dropped, NULL elements dropped   COLLECT_LIST(NAMED_STRUCT(k,
elements kept; NULL over no rows   too; [] over no rows             x)), k's order), e -> e.x)
string_agg(s, sep ORDER BY k)      LISTAGG ... WITHIN GROUP         ARRAY_JOIN of the same
left(s, -2) / right(s, -2): all    ''                               LEFT(s, LENGTH(s) - 2)
but the last / first 2
substring(s, 0, 3): 2 characters   3 characters (0 is read as 1);   the positions DuckDB means,
(positions 0 to 2); a negative     '' for a negative length         from 1 on
length counts back
extract(second from ts) = 30       30.123456 (a DECIMAL)            CAST(SECOND(ts) AS BIGINT)
(millisecond 30123, microsecond    (ms, us: refused when run)       (of EXTRACT(SECOND) * 1000,
30123456)                                                           * 1000000)
extract(doy from d)                DAYOFYEAR: no such field         DAYOFYEAR(d)
d1 - d2 of dates: BIGINT days      an INTERVAL                      CAST(DATEDIFF(d1, d2) AS
                                                                    BIGINT)
to_timestamp(n): a timestamptz     a wall time, whole seconds       TIMESTAMP_SECONDS(n) (an
                                                                    instant, with the fraction)
quantile_cont(x, q)                PERCENTILE_CONT(x, q): fails     PERCENTILE(x, q)
quantile_disc(x, q), quantile(x,   PERCENTILE_DISC(x, q): fails;    ELEMENT_AT(ARRAY_SORT(
q), percentile_disc(q) WITHIN      PERCENTILE (interpolated);       COLLECT_LIST(x)), DuckDB's
GROUP (ORDER BY x): x's own type   PERCENTILE_APPROX (not exact)    rank) (OVER: the same;
(DISTINCT x: among the distinct                                     DISTINCT: COLLECT_SET, its
values; q a list, or a list cast                                    SIZE the count; a cast
to DOUBLE[]: a list)                                                list: each q cast)
extract(year/quarter/month/day/    an INT                           CAST(... AS BIGINT)
hour/minute), year(ts), ...:
a BIGINT
real (float4) +, -, *, /, % an     a DOUBLE (ANSI widens FLOAT and  the other side cast to FLOAT
integer, a decimal or a real:      an integer to DOUBLE; / is a     (a quotient cast back to
a REAL                             DOUBLE)                          FLOAT)
a / 0 of numbers: inf, -inf, NaN;   fails when run (ANSI mode)       IF(b = 0, a * POWER(b, -1),
a % 0 of doubles or REALs: NaN                                      a / b); a % 0: a * NaN
corr(y, x), regr_slope(y, x):      NULL                             COALESCE(.., NaN) where
NaN over one pair or a constant x                                   REGR_COUNT(y, x) > 0
median / quantile_cont of dates,   fails (PERCENTILE takes no       the sorted values' two
timestamps, timestamptz: a         times)                           around (n - 1) * q, their
(zoned) TIMESTAMP, interpolated                                     microseconds mixed, half up
median / quantile_cont of a        a DOUBLE                         the unscaled integers mixed
DECIMAL(p, s): a DECIMAL(p, s),                                     as doubles, truncated, cast
truncated                                                           back (p > 18: refused)
median(DISTINCT x) of times and     CAST(DISTINCT x ...): no SQL     the same among COLLECT_SET's
decimals: among distinct values                                     values
=================================  ==============================  ===========================

Ties among ORDER BY keys keep the order rows were collected in (ARRAY_SORT is stable);
DuckDB does not promise an order among ties either. An ordered list(DISTINCT x ...) is
refused (exit 2 at its line).
"""

from __future__ import annotations

from typing import Callable

from sqlglot import exp

from toolkit.pgmeanings import _nan_kept, _never_zero, _volatile
from toolkit.regexmeanings import Refused

_LEFT, _RIGHT = "__tk_a", "__tk_b"  # the comparator's lambda variables
_VALUE = "v"  # the collected value's field; the keys are k0, k1, ...
_SECOND_PARTS = {"SECOND": None, "SECONDS": None, "MILLISECOND": 1000, "MILLISECONDS": 1000, "MS": 1000,
                 "MICROSECOND": 1000000, "MICROSECONDS": 1000000, "US": 1000000}
_DAY_OF_YEAR_PARTS = {"DOY", "DAYOFYEAR"}
# calendar fields both engines count alike, an INT on Spark, a BIGINT in DuckDB
_CALENDAR_PARTS = {"YEAR", "YEARS", "QUARTER", "QUARTERS", "MONTH", "MONTHS", "DAY", "DAYS", "HOUR", "HOURS",
                   "MINUTE", "MINUTES"}
_CALENDAR_CALLS = (exp.Year, exp.Quarter, exp.Month, exp.Day, exp.Hour, exp.Minute)  # year(ts), ...: the same
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)  # meanings.ARITHMETIC (no import: a cycle)
_WRITTEN = "toolkit_spark_seconds"  # an EXTRACT(SECOND ...) (or a call cast to BIGINT) written here: kept
_GUARDED = "toolkit_spark_by_zero"  # a / or % whose zero divisor _ieee_by_zero answers: not guarded again
_TIMES = ("date", "timestamp", "timestamptz")
_INTERPOLATED_TIMES = _TIMES  # median / quantile_cont of these: _interpolated_time


def repair(node: exp.Expression, kind_of: Callable[[exp.Expression], object]) -> exp.Expression:
    """`node` written for Spark with DuckDB's value (the node itself when nothing changes)."""
    if isinstance(node, exp.Window) and _ordered(node.this):
        return _ordered_collect(node.this, window=node)
    if isinstance(node, exp.Window) and isinstance(node.this, exp.Filter) and _ordered(node.this.this):
        return _ordered_collect(node.this.this, window=node, where=node.this.expression)
    if isinstance(node, exp.Filter) and _ordered(node.this) and not isinstance(node.parent, exp.Window):
        return _ordered_collect(node.this, where=node.expression)
    if _ordered(node) and not isinstance(node.parent, (exp.Window, exp.Filter)):
        return _ordered_collect(node)
    if isinstance(node, (exp.Left, exp.Right)) and not _non_negative(node.expression):
        return _kept_from_end(node)
    if isinstance(node, exp.Substring) and node.args.get("length") is not None and not _plain_substring(node):
        return _duckdb_substring(node)
    if isinstance(node, exp.Extract) and isinstance(node.this, exp.Var) and not (node._meta and node.meta.get(_WRITTEN)):
        return _extract(node)
    if isinstance(node, _CALENDAR_CALLS) and not (node._meta and node.meta.get(_WRITTEN)):
        return _as_bigint(node.copy())
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("date_part", "datepart") and len(node.expressions) == 2 \
            and node.expressions[0].is_string:  # date_part('second', ts): extract's
        extract = _extract(exp.Extract(this=exp.var(node.expressions[0].name.upper()), expression=node.expressions[1]))
        return node if isinstance(extract, exp.Extract) else extract
    kept = _nan_kept(node)  # corr, regr_slope: NaN where Spark's is NULL
    if kept is not node:
        return kept
    if isinstance(node, (exp.Div, exp.Mod)) and not (node._meta and node.meta.get(_GUARDED)) and _by_zero_differs(node, kind_of(node)):
        return _ieee_by_zero(node, kind_of(node))
    if isinstance(node, (exp.Median, exp.PercentileCont)) and kind_of(node) in _INTERPOLATED_TIMES:
        return _interpolated_time(node, kind_of(node))
    if isinstance(node, (exp.Median, exp.PercentileCont)) and _decimal_operand(node, kind_of(node)):
        return _interpolated_decimal(node, kind_of(node))
    if isinstance(node, _ARITHMETIC) and not (node._meta and node.meta.get(_WRITTEN)) and _real_sides(node, kind_of(node)):
        return _real_arithmetic(node, kind_of(node))
    if isinstance(node, exp.Sub) and kind_of(node) == ("date", "date"):
        return exp.cast(exp.Anonymous(this="DATEDIFF", expressions=[node.this, node.expression]), "bigint")
    if isinstance(node, exp.UnixToTime) and node.args.get("scale") is None:
        return exp.Anonymous(this="TIMESTAMP_SECONDS", expressions=[node.this])
    if isinstance(node, exp.PercentileCont) and node.args.get("expression") is not None \
            and not isinstance(node.parent, exp.Window):  # OVER (...): meanings.py
        return _percentile(node)
    if _discrete_parts(_aggregate_call(node)) is not None and not isinstance(node.parent, (exp.Window, exp.Filter)):
        return _discrete(node)
    return node


def _real_sides(node: exp.Expression, kinds) -> bool:
    """Arithmetic DuckDB does in REAL (float4): a REAL side, the other a REAL, an integer or a
    decimal (a number literal without an exponent is one; with one, a DOUBLE: the result too)."""
    if not isinstance(kinds, tuple) or len(kinds) != 2 or "real" not in kinds:
        return False
    return all(_literal_family(side, kind) in ("real", "other", "decimal") for side, kind in zip((node.this, node.expression), kinds))


def _literal_family(side: exp.Expression, kind: str | None) -> str | None:
    while isinstance(side, (exp.Paren, exp.Neg)):
        side = side.this
    if isinstance(side, exp.Literal) and not side.is_string:  # sqlglot types 1.5 a DOUBLE: DuckDB a DECIMAL
        return "double" if "e" in side.name.lower() else "decimal"
    return kind


def _real_arithmetic(node: exp.Expression, kinds: tuple) -> exp.Expression:
    """a op b as DuckDB's REAL: Spark (ANSI) widens REAL with an integer or a decimal to a DOUBLE
    and divides in DOUBLE. The other side is made a FLOAT first, as DuckDB does (+, -, *, % of
    two FLOATs stay one there); a quotient is cast back (a double quotient of two floats
    rounds to the float one)."""
    node = node.copy()
    for key, kind in zip(("this", "expression"), kinds):
        if kind != "real":
            node.set(key, exp.cast(node.args[key], "float"))
    node.meta[_WRITTEN] = True  # not rewritten again (meanings._deep visits what a repair returns)
    if isinstance(node, exp.Div):
        node.set("typed", True)  # no DOUBLE divisor (meanings._double_division)
        return exp.cast(exp.paren(node), "float")
    return node


def _ordered(node: exp.Expression | None) -> bool:
    """list/array_agg/string_agg with an ORDER BY inside the call."""
    return isinstance(node, (exp.ArrayAgg, exp.GroupConcat)) and isinstance(node.this, exp.Order)


def _ordered_collect(agg: exp.ArrayAgg | exp.GroupConcat, window: exp.Window | None = None,
                     where: exp.Expression | None = None) -> exp.Expression:
    """The values collected as structs of (keys..., value) (a struct with a NULL value is kept,
    where COLLECT_LIST drops a NULL), sorted by the keys as DuckDB orders them, then the values.
    NULL when nothing was collected, as DuckDB's list and string_agg."""
    order = agg.this
    value = order.this
    if isinstance(value, exp.Distinct):
        raise Refused("an ordered list(DISTINCT ...) cannot be written for spark: collect the distinct values in a "
                      "subquery (select distinct ...) and order the list there", "distinct")
    keys = order.expressions
    fields: list[exp.Expression] = []
    for number, key in enumerate(keys):
        fields += [exp.Literal.string(f"k{number}"), key.this.copy()]
    fields += [exp.Literal.string(_VALUE), value.copy()]
    item: exp.Expression = _call("NAMED_STRUCT", *fields)
    if isinstance(agg, exp.GroupConcat):  # string_agg skips NULLs: no struct for them, NULL when none is left
        item = exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null(), false=item)
    collected = _call("COLLECT_LIST", item)
    if where is not None:
        collected = exp.Filter(this=collected, expression=where.copy())
    if window is not None:
        over = window.copy()
        over.set("this", collected)
        collected = over
    some = exp.If(this=exp.GT(this=_call("SIZE", collected), expression=exp.Literal.number(0)),
                  true=collected.copy(), false=exp.Null())
    ordered = _call("ARRAY_SORT", some, exp.Lambda(this=_comparison(keys), expressions=[exp.to_identifier(_LEFT),
                                                                                       exp.to_identifier(_RIGHT)]))
    values = _call("TRANSFORM", ordered, exp.Lambda(this=_field(_LEFT, _VALUE), expressions=[exp.to_identifier(_LEFT)]))
    if isinstance(agg, exp.GroupConcat):
        separator = agg.args.get("separator")
        return _call("ARRAY_JOIN", values, separator.copy() if separator is not None else exp.Literal.string(","))
    return values


def _comparison(keys: list[exp.Ordered], number: int = 0) -> exp.Expression:
    """ARRAY_SORT's comparator from key `number` on: DuckDB's order (NULLS LAST unless said,
    in both directions), ties broken by the next key, 0 after the last."""
    if number == len(keys):
        return exp.Literal.number(0)
    key = keys[number]
    desc, nulls_first = bool(key.args.get("desc")), bool(key.args.get("nulls_first"))
    left, right = _field(_LEFT, f"k{number}"), _field(_RIGHT, f"k{number}")
    then = _comparison(keys, number + 1)

    def sign(negative: bool) -> exp.Expression:
        return exp.Literal.number(-1) if negative else exp.Literal.number(1)

    return exp.Case(ifs=[
        exp.If(this=exp.and_(exp.Is(this=left.copy(), expression=exp.Null()), exp.Is(this=right.copy(), expression=exp.Null())),
               true=then.copy()),
        exp.If(this=exp.Is(this=left.copy(), expression=exp.Null()), true=sign(nulls_first)),
        exp.If(this=exp.Is(this=right.copy(), expression=exp.Null()), true=sign(not nulls_first)),
        exp.If(this=exp.LT(this=left.copy(), expression=right.copy()), true=sign(not desc)),
        exp.If(this=exp.GT(this=left.copy(), expression=right.copy()), true=sign(desc)),
    ], default=then)


def _field(variable: str, name: str) -> exp.Expression:
    return exp.Dot(this=exp.to_identifier(variable), expression=exp.to_identifier(name))


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _integer_literal(node: exp.Expression | None) -> int | None:
    sign = 1
    while isinstance(node, (exp.Paren, exp.Neg)):
        sign = -sign if isinstance(node, exp.Neg) else sign
        node = node.this
    if isinstance(node, exp.Literal) and not node.is_string and node.name.isdigit():
        return sign * int(node.name)
    return None


def _non_negative(node: exp.Expression | None) -> bool:
    """A literal >= 0, or greatest(x, literal >= 0) (under a cast): ibisslices' lengths."""
    while isinstance(node, exp.Cast):
        node = node.this
    if isinstance(node, exp.Greatest):
        return any(_non_negative(bound) for bound in [node.this, *node.expressions])
    value = _integer_literal(node)
    return value is not None and value >= 0


def _at_least_one(node: exp.Expression | None) -> bool:
    """A literal >= 1, or if(x < b, b, x) with a literal b >= 1 (_at_least: ibisslices' starts)."""
    value = _integer_literal(node)
    if value is not None:
        return value >= 1
    if not isinstance(node, exp.If) or not isinstance(node.this, exp.LT):
        return False
    bound = _integer_literal(node.args.get("true"))
    return bound is not None and bound >= 1 and node.this.expression == node.args["true"] and node.this.this == node.args.get("false")


def _kept_from_end(node: exp.Left | exp.Right) -> exp.Expression:
    """left(s, n) / right(s, n) with n < 0 as DuckDB's: all but the last / first -n characters."""
    count = node.expression
    length = exp.Length(this=node.this.copy())
    rest = _at_least(exp.Add(this=length, expression=count.copy()), 0)
    if _integer_literal(count) is None:  # a count only known when run: either meaning
        rest = exp.If(this=exp.LT(this=count.copy(), expression=exp.Literal.number(0)), true=rest, false=count.copy())
    node = node.copy()
    node.set("expression", rest)
    return node


def _at_least(value: exp.Expression, floor: int) -> exp.Expression:
    """max(value, floor), NULL for a NULL value (GREATEST skips a NULL: substring(s, NULL, 3)
    would have been s's first characters)."""
    bound = exp.Literal.number(floor)
    return exp.If(this=exp.LT(this=value.copy(), expression=bound), true=bound.copy(), false=value)


def _plain_substring(node: exp.Substring) -> bool:
    """substring(s, start, length) that Spark reads as DuckDB does: a start other than 0 and
    a length of at least 0, literals or bounded so (ibisslices' positions: rewriting them
    again overflowed INT, as ANSI Spark refuses)."""
    start = _integer_literal(node.args.get("start"))
    known_start = start is not None and start != 0 or _at_least_one(node.args.get("start"))
    return known_start and _non_negative(node.args.get("length"))


def _duckdb_substring(node: exp.Substring) -> exp.Expression:
    """DuckDB's substring(s, start, length): the characters at positions [start, start + length)
    (a negative length: [start + length, start)), a negative start counted from the end
    (-1 is the last), positions below 1 cut off. Spark reads a start of 0 as 1 and gives ''
    for a negative length: written as SUBSTRING(s, from, count) with from at least 1."""
    text, start, length = node.this, node.args["start"], node.args["length"]
    first, count = _integer_literal(start), _integer_literal(length)
    if first is not None and first >= 0 and count is not None:  # known positions: written as numbers
        low, high = sorted((first, first + count))
        begin = max(low, 1)
        return exp.Substring(this=text.copy(), start=exp.Literal.number(begin), length=exp.Literal.number(max(high - begin, 0)))
    if count is not None and count >= 0:  # forwards: Spark differs at a start of 0 only (read as 1)
        at_zero = exp.EQ(this=start.copy(), expression=exp.Literal.number(0))
        return exp.Substring(this=text.copy(), start=exp.If(this=at_zero, true=exp.Literal.number(1), false=start.copy()),
                             length=exp.If(this=at_zero.copy(), true=exp.Literal.number(max(count - 1, 0)), false=length.copy()))
    position = exp.If(this=exp.LT(this=start.copy(), expression=exp.Literal.number(0)),
                      true=exp.Add(this=exp.Add(this=exp.Length(this=text.copy()), expression=start.copy()),
                                   expression=exp.Literal.number(1)),
                      false=start.copy())
    backwards = exp.LT(this=length.copy(), expression=exp.Literal.number(0))
    first = exp.If(this=backwards.copy(), true=exp.Add(this=exp.paren(position.copy()), expression=length.copy()),
                   false=position.copy())
    last = exp.If(this=backwards, true=position.copy(), false=exp.Add(this=exp.paren(position), expression=length.copy()))
    begin = _at_least(first, 1)
    count = _at_least(exp.Sub(this=last, expression=begin.copy()), 0)
    return exp.Substring(this=text.copy(), start=begin, length=count)


def _extract(node: exp.Extract) -> exp.Expression:
    """extract of seconds as DuckDB's whole units (a BIGINT); the day of the year by Spark's
    own function (its EXTRACT has no such field as sqlglot names it)."""
    part, value = node.name.upper(), node.expression
    if part in _DAY_OF_YEAR_PARTS:
        return exp.cast(_call("DAYOFYEAR", value.copy()), "bigint")
    if part in _CALENDAR_PARTS:
        return _as_bigint(node.copy())
    if part not in _SECOND_PARTS:
        return node
    scale = _SECOND_PARTS[part]
    if scale is None:
        return exp.cast(_call("SECOND", value.copy()), "bigint")
    return exp.cast(exp.Floor(this=exp.Mul(this=exact_seconds(value.copy()), expression=exp.Literal.number(scale))), "bigint")


def _as_bigint(field: exp.Expression) -> exp.Expression:
    """A calendar field (Spark's INT) as DuckDB's BIGINT; the field is marked so that it is not
    cast again (meanings._deep visits what a repair returns)."""
    field.meta[_WRITTEN] = True
    return exp.cast(field, "bigint")


def exact_seconds(value: exp.Expression) -> exp.Expression:
    """Spark's EXTRACT(SECOND FROM value), a DECIMAL(8, 6) with the fraction, kept so (a user's
    extract of seconds is made whole units: _extract)."""
    seconds = exp.Extract(this=exp.var("SECOND"), expression=value)
    seconds.meta[_WRITTEN] = True
    return seconds


def _percentile(node: exp.PercentileCont) -> exp.Expression:
    """quantile_cont(x, q): PERCENTILE(x, q) interpolates as DuckDB does."""
    return _call("PERCENTILE", node.this.copy(), node.expression.copy())


def _discrete_parts(node: exp.Expression) -> tuple[exp.Expression, exp.Expression, bool] | None:
    """(x, q or a list of q, descending) of DuckDB's discrete quantile: quantile_disc(x, q),
    quantile(x, q) (the same function there), percentile_disc(q) WITHIN GROUP (ORDER BY x)."""
    if isinstance(node, exp.PercentileDisc) and node.args.get("expression") is not None:
        return node.this, node.expression, False
    if isinstance(node, exp.Quantile):
        return node.this, node.args["quantile"], False
    if isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.PercentileDisc) \
            and isinstance(node.expression, exp.Order) and len(node.expression.expressions) == 1:
        key = node.expression.expressions[0]
        return key.this, node.this.this, bool(key.args.get("desc"))
    return None


def _aggregate_call(node: exp.Expression) -> exp.Expression:
    """The call inside call(...) OVER (...) / FILTER (WHERE ...)."""
    node = node.this if isinstance(node, exp.Window) else node
    return node.this if isinstance(node, exp.Filter) else node


def _discrete(node: exp.Expression) -> exp.Expression:
    """DuckDB's discrete quantile, exact: x's value at a rank among the sorted non-NULL x, so
    x's own type (an integer, a decimal, a date, a timestamp, a string...). sqlglot writes
    Spark's PERCENTILE_DISC WITHIN GROUP as PERCENTILE_APPROX (ranks off over many rows), and
    Spark's exact PERCENTILE_DISC is a DOUBLE of numbers only. The group's values are
    collected (memory: all of a group's non-NULL x, as Spark's exact percentiles hold them);
    NULL over no value. OVER (...) and FILTER (WHERE ...) apply to the collecting calls."""
    window = node if isinstance(node, exp.Window) else None
    call = node.this if window is not None else node
    where = call.expression if isinstance(call, exp.Filter) else None
    call = call.this if where is not None else call
    value, fractions, desc = _discrete_parts(call)
    distinct = isinstance(value, exp.Distinct)
    value = _distinct_value(value) if distinct else value
    listed = _fraction_list(fractions, _discrete_name(call))

    def aggregated(function: exp.Expression) -> exp.Expression:
        if where is not None:
            function = exp.Filter(this=function, expression=where.copy())
        if window is not None:
            over = window.copy()
            over.set("this", function)
            function = over
        return function

    # DISTINCT: ranked among the distinct values, COLLECT_SET's (Spark takes no DISTINCT over (...))
    collected = aggregated(_call("COLLECT_SET" if distinct else "COLLECT_LIST", value.copy()))
    ordered = _call("ARRAY_SORT", collected)
    ordered = _call("REVERSE", ordered) if desc else ordered
    count = _call("SIZE", collected.copy()) if distinct else aggregated(exp.Count(this=value.copy()))
    if listed is not None:
        picked: exp.Expression = exp.Array(expressions=[_at_rank(ordered, count, q) for q in listed])
    else:
        picked = _at_rank(ordered, count, fractions)
    return exp.If(this=exp.GT(this=count.copy(), expression=exp.Literal.number(0)), true=picked, false=exp.Null())


def _distinct_value(value: exp.Distinct) -> exp.Expression:
    if len(value.expressions) != 1:
        raise Refused("quantile_disc(DISTINCT ...) takes one value", "distinct")
    return value.expressions[0]


def _discrete_name(call: exp.Expression) -> str:
    """The discrete quantile's name as written (the token a refusal finds its line by)."""
    return {exp.Quantile: "quantile", exp.WithinGroup: "percentile_disc"}.get(type(call), "quantile_disc")


def _fraction_list(fractions: exp.Expression, name: str) -> list[exp.Expression] | None:
    """The fractions of a list of them ([0.1, 0.5], or cast([0.1, 0.5] as double[]): each one
    cast to the list's item type, as DuckDB casts them); None for one fraction."""
    if isinstance(fractions, exp.Array):
        return list(fractions.expressions)
    if isinstance(fractions, exp.Cast) and fractions.to.is_type(exp.DataType.Type.ARRAY, exp.DataType.Type.LIST):
        items = fractions.to.expressions
        if not isinstance(fractions.this, exp.Array) or len(items) != 1:
            raise Refused(f"{name}(x, {fractions.sql('duckdb')}) cannot be written for spark: write the "
                          f"fractions as a list, e.g. {name}(x, [0.1, 0.5])", name)
        return [exp.cast(q.copy(), items[0].copy()) for q in fractions.this.expressions]
    return None


def _at_rank(ordered: exp.Expression, count: exp.Expression, fraction: exp.Expression) -> exp.Expression:
    """The value at DuckDB's rank for q among n values: max(1, n - floor(n - n * q)) (its
    Interpolator<true>::Index; ceil(n * q) in exact numbers). A decimal q (0.07 is one in both
    engines) is exact in both; a double q makes the same double operations in both (not
    ceil(n * q): 100 * 0.07 is 7.000000000000001 there)."""
    n = count.copy()
    below = exp.Floor(this=exp.Sub(this=n.copy(), expression=exp.Mul(this=n.copy(), expression=exp.paren(fraction.copy()))))
    rank = exp.Greatest(this=exp.Literal.number(1), expressions=[exp.Sub(this=n, expression=below)])
    return _call("ELEMENT_AT", ordered.copy(), exp.cast(_call("BROUND", rank), "int"))  # whole already: no rounding added


def _by_zero_differs(node: exp.Div | exp.Mod, kinds) -> bool:
    """A / or % whose divisor may be 0 where DuckDB answers IEEE's value and ANSI Spark
    raises: any `/` of numbers (a double division in DuckDB 2), a % of doubles or REALs
    (fmod: NaN); an integer or decimal % by 0 fails on both. A volatile operand (random())
    is kept one division (_ieee_by_zero reads the divisor twice)."""
    if _never_zero(node.expression) or _volatile(node) or any(isinstance(side, exp.Interval) for side in (node.this, node.expression)):
        return False
    sides = kinds if isinstance(kinds, tuple) else (kinds,)
    if any(kind in _TIMES for kind in sides):
        return False
    return isinstance(node, exp.Div) or any(kind in ("double", "real") for kind in sides)


def _ieee_by_zero(node: exp.Div | exp.Mod, kinds) -> exp.Expression:
    """a / b and a % b by zero as DuckDB's: IF(b = 0, IEEE's value, a op b). a / 0 is inf,
    -inf (a negative a, or b -0.0) or NaN (0 / 0): a * POWER(b, -1), whose POWER (Java's
    Math.pow, never raising) is b's zero's infinity; a % 0 is NaN. NULL stays NULL; a REAL's
    stays a REAL (FLOAT). Spark evaluates IF's branches lazily (the division by 0 is never
    run; its constant folding leaves a failing constant unfolded)."""
    dividend, divisor = node.this, node.expression
    kept = node.copy()
    kept.meta[_GUARDED] = True
    if isinstance(node, exp.Div):
        answer: exp.Expression = exp.Mul(this=_grouped(dividend), expression=_call("POWER", divisor.copy(), exp.Literal.number(-1)))
    else:
        answer = exp.Mul(this=_grouped(dividend), expression=exp.cast(exp.Literal.string("NaN"), "double"))
    if _real_sides(node, kinds):
        answer = exp.cast(answer, "float")
    by_zero = exp.EQ(this=_grouped(divisor), expression=exp.Literal.number(0))
    return exp.paren(exp.If(this=by_zero, true=answer, false=kept))


def _grouped(side: exp.Expression) -> exp.Expression:
    """A copy of `side` in parentheses unless it is one term (a column, a literal, a call)."""
    side = side.copy()
    return side if isinstance(side, (exp.Column, exp.Literal, exp.Func, exp.Paren)) else exp.paren(side)


def _interpolated_time(node: exp.Median | exp.PercentileCont, kind: str) -> exp.Expression:
    """median / quantile_cont(x, q) of dates (a TIMESTAMP), timestamps and timestamptz as
    DuckDB's: at position (n - 1) * q of the sorted values, the microseconds of the two
    around it mixed, lo * (1 - d) + hi * d, rounded half up (Spark's PERCENTILE takes no
    times). NULL over no values; a list of fractions is a list. Over (...) or with a FILTER:
    refused."""
    _refuse_windowed(node, f"a {kind}", "epoch_us(x) (a number)")
    value = _interpolated_value(node)
    value = exp.cast(value.copy(), "timestamp") if kind == "date" else value.copy()
    return _each_fraction(node, value, lambda ordered, fraction: _time_at(ordered, fraction, kind))


def _refuse_windowed(node: exp.Median | exp.PercentileCont, what: str, instead: str) -> None:
    name = "median" if isinstance(node, exp.Median) else "quantile_cont"
    if isinstance(node.parent, (exp.Window, exp.Filter)):
        raise Refused(f"{name} of {what} over (...) or with a filter cannot be written for spark with DuckDB's value: "
                      f"compute it in a grouped subquery and join it, or take the {name} of {instead}", name)


def _interpolated_value(node: exp.Median | exp.PercentileCont) -> exp.Expression:
    """What median / quantile_cont interpolates: x, also of median(DISTINCT x)."""
    value = node.this
    return _distinct_value(value) if isinstance(value, exp.Distinct) else value


def _each_fraction(node: exp.Median | exp.PercentileCont, value: exp.Expression,
                   at: Callable[[exp.Expression, exp.Expression], exp.Expression]) -> exp.Expression:
    """`at(sorted values, fraction)` for median's 0.5 or quantile_cont's fraction (a list of
    them: a list); NULL over no values (`at` may then assume some). median(DISTINCT x):
    among the distinct values (COLLECT_SET's)."""
    collect = "COLLECT_SET" if isinstance(node.this, exp.Distinct) else "COLLECT_LIST"
    ordered = _call("ARRAY_SORT", _call(collect, value))
    fractions = node.expression if isinstance(node, exp.PercentileCont) else exp.Literal.number("0.5")
    if isinstance(fractions, exp.Array):
        found: exp.Expression = _call("ARRAY", *[at(ordered, fraction) for fraction in fractions.expressions])
    else:
        found = at(ordered, fractions)
    some = exp.GT(this=_call("SIZE", ordered.copy()), expression=exp.Literal.number(0))
    return exp.If(this=some, true=found, false=exp.Null())


def _position(ordered: exp.Expression, fraction: exp.Expression) -> exp.Expression:
    """DuckDB's RN: (n - 1) * q, a DOUBLE, from 0."""
    last = exp.Sub(this=_call("SIZE", ordered.copy()), expression=exp.Literal.number(1))
    return exp.Mul(this=exp.cast(last, "double"), expression=exp.paren(fraction.copy()))


def _element(ordered: exp.Expression, index: exp.Expression) -> exp.Expression:
    """The value at `index` (from 0, a whole BIGINT) of `ordered` (ELEMENT_AT counts from 1)."""
    return _call("ELEMENT_AT", ordered.copy(), exp.cast(exp.Add(this=index, expression=exp.Literal.number(1)), "int"))


def _time_at(ordered: exp.Expression, fraction: exp.Expression, kind: str) -> exp.Expression:
    """The interpolated time at `fraction` of the sorted non-empty array `ordered` (DuckDB's
    InterpolateOperator of timestamps, in microseconds)."""
    position = _position(ordered, fraction)

    def micros_at(index: exp.Expression) -> exp.Expression:  # a TIMESTAMP_NTZ read as UTC: exact
        return exp.cast(_call("UNIX_MICROS", _element(ordered, index)), "double")

    below = _call("FLOOR", position.copy())
    share = exp.paren(exp.Sub(this=position.copy(), expression=below.copy()))
    mixed = exp.Add(this=exp.Add(this=exp.Mul(this=micros_at(below.copy()),
                                              expression=exp.paren(exp.Sub(this=exp.Literal.number("1.0"), expression=share.copy()))),
                                 expression=exp.Mul(this=micros_at(_call("CEIL", position.copy())), expression=share)),
                    expression=exp.Literal.number("0.5"))
    micros = _call("FLOOR", mixed)
    if kind == "timestamptz":
        return _call("TIMESTAMP_MICROS", micros)
    epoch = exp.cast(exp.Literal.string("1970-01-01 00:00:00"), "timestamp")  # TIMESTAMP_NTZ in toolkit's sessions
    return _call("TIMESTAMPADD", exp.var("MICROSECOND"), micros, epoch)


# DuckDB interpolates a decimal of at most 18 digits in its unscaled integers (as doubles)
_INTERPOLATED_DIGITS = 18


def _decimal_operand(node: exp.Median | exp.PercentileCont, kind) -> bool:
    value = _interpolated_value(node)
    return isinstance(value, exp.Cast) and value.to.this is exp.DataType.Type.DECIMAL or \
        isinstance(kind, str) and kind.lower().startswith("decimal")


def _interpolated_decimal(node: exp.Median | exp.PercentileCont, kind) -> exp.Expression:
    """median / quantile_cont(x, q) of a DECIMAL(p, s) as DuckDB's: a DECIMAL(p, s) (Spark's
    PERCENTILE is a DOUBLE), at position (n - 1) * q of the sorted values the one there, or
    between two the unscaled integers mixed as doubles, lo + (hi - lo) * d, truncated. Refused
    where p or s is unknown, or p > 18 (DuckDB mixes 128-bit integers otherwise)."""
    value = _interpolated_value(node)
    declared = value.to if isinstance(value, exp.Cast) else exp.DataType.build(kind, dialect="duckdb")
    params = [param.this for param in declared.expressions]
    name = "median" if isinstance(node, exp.Median) else "quantile_cont"
    digits = [int(param.name) for param in params if isinstance(param, exp.Literal)]
    if len(digits) != 2 or digits[0] > _INTERPOLATED_DIGITS:
        raise Refused(f"{name} of a {declared.sql('duckdb')} cannot be written for spark with DuckDB's value (a decimal "
                      f"of at most {_INTERPOLATED_DIGITS} digits, declared, can): cast it, e.g. "
                      f"{name}(cast(x as decimal(18, 2))), or to a double", name)
    _refuse_windowed(node, "a decimal", "cast(x as double)")
    return _each_fraction(node, value.copy(), lambda ordered, fraction: _decimal_at(ordered, fraction, *digits))


def _decimal_at(ordered: exp.Expression, fraction: exp.Expression, precision: int, scale: int) -> exp.Expression:
    """DuckDB's InterpolateOperator of a decimal's unscaled integers: the value at the position
    when it is whole, else trunc(double(lo) + (double(hi) - double(lo)) * d) made a
    DECIMAL(p, s) again (exact: an integer times 10^-s)."""
    position = _position(ordered, fraction)
    below, above = _call("FLOOR", position.copy()), _call("CEIL", position.copy())
    lower, upper = _element(ordered, below.copy()), _element(ordered, above.copy())
    ten_to_scale = exp.Literal.number(10 ** scale)

    def unscaled(element: exp.Expression) -> exp.Expression:  # exact: at most 18 digits
        return exp.cast(exp.cast(exp.Mul(this=element, expression=ten_to_scale.copy()), "bigint"), "double")

    share = exp.paren(exp.Sub(this=position.copy(), expression=below.copy()))
    mixed = exp.Add(this=unscaled(lower.copy()), expression=exp.Mul(
        this=exp.paren(exp.Sub(this=unscaled(upper), expression=unscaled(lower.copy()))), expression=share))
    truncated = exp.If(this=exp.LT(this=mixed.copy(), expression=exp.Literal.number(0)),
                       true=_call("CEIL", mixed.copy()), false=_call("FLOOR", mixed))
    step = exp.cast(exp.Literal.number(f"{10 ** -scale:.{scale}f}" if scale else "1"), f"decimal({scale + 1}, {scale})")
    between = exp.cast(exp.Mul(this=exp.cast(truncated, f"decimal({precision}, 0)"), expression=step), f"decimal({precision}, {scale})")
    return exp.If(this=exp.EQ(this=below.copy(), expression=above), true=lower, false=between)

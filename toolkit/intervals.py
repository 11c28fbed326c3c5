"""DuckDB's `INTERVAL (expr) unit` (a computed amount: `d + INTERVAL (k) MONTH`) for
PostgreSQL, which has only interval literals: sqlglot writes the amount's *name* into
one ('INTERVAL MONTH' for (k), 'k MONTH' for a bare column), text PostgreSQL refuses or
reads otherwise. It becomes `make_interval(months => ...)` with DuckDB's meaning: the
amount cut to a whole INTEGER for the units down to the minute (DuckDB binds
to_months(CAST(trunc(k) AS INTEGER))), a fraction kept for seconds and milliseconds.
A written fraction is cut the same way: DuckDB reads `INTERVAL (1.5) MONTH` and
`INTERVAL '1.5' MONTH` as one month, PostgreSQL as one month and fifteen days.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlglot import exp

# unit -> (make_interval's argument, how many of it one unit is); seconds take a double
_WHOLE_UNITS = {
    "MILLENNIUM": ("years", 1000), "CENTURY": ("years", 100), "DECADE": ("years", 10), "YEAR": ("years", 1),
    "QUARTER": ("months", 3), "MONTH": ("months", 1), "WEEK": ("weeks", 1), "DAY": ("days", 1),
    "HOUR": ("hours", 1), "MINUTE": ("mins", 1),
}
# unit -> (how many make a second, whether DuckDB cuts the amount to a whole number first)
_FRACTION_UNITS = {"SECOND": (1, False), "MILLISECOND": (1000, False), "MICROSECOND": (1000000, True)}
_PLURALS = {"MILLENNIA": "MILLENNIUM", "CENTURIES": "CENTURY"}


class Unsupported(Exception):
    """An interval of a computed amount in a unit PostgreSQL's make_interval cannot take."""

    def __init__(self, written: str, engine: str):
        super().__init__(f"{written}, an interval of a computed amount, cannot be written for {engine} in this unit "
                         "(make_interval takes years, months, weeks, days, hours, minutes and seconds)")


def for_postgres(tree: exp.Expression) -> exp.Expression:
    """`tree` with every interval of a computed amount written as make_interval(...)."""
    return tree.transform(lambda node: _make_interval(node, _named_call))


def for_spark(tree: exp.Expression) -> exp.Expression:
    """The same for Spark, whose parser takes no `INTERVAL (expr) unit` (it reads a call of a
    function INTERVAL) and refuses '1.5' MONTH; its make_interval takes its seven parts by position.
    Run after meanings.repair, which makes a date added to an interval a timestamp first."""
    return tree.transform(lambda node: _make_interval(node, _positional_call))


def _make_interval(node: exp.Expression, call) -> exp.Expression:
    if isinstance(node, (exp.DateAdd, exp.DateSub)) and _computed(node.expression):
        # sqlglot writes date_add(d, <interval>) as d + INTERVAL '1' * <interval>: as an operator instead
        operator = exp.Add if isinstance(node, exp.DateAdd) else exp.Sub
        return operator(this=node.this.transform(lambda inner: _make_interval(inner, call)), expression=_make_interval(node.expression, call))
    if not _computed(node):
        return _whole_literal(node) if isinstance(node, exp.Interval) else node
    unit = _unit(node)
    amount = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
    if unit in _FRACTION_UNITS:
        per_second, whole = _FRACTION_UNITS[unit]
        value = exp.cast(amount.copy(), "double")
        value = exp.func("trunc", value) if whole else value
        return call("secs", exp.Div(this=value, expression=exp.Literal.number(per_second)) if per_second != 1 else value)
    if unit not in _WHOLE_UNITS:
        raise Unsupported(node.sql("duckdb"), "postgres" if call is _named_call else "spark")
    argument, factor = _WHOLE_UNITS[unit]
    whole = exp.cast(exp.func("trunc", exp.cast(amount.copy(), "double")), "int")
    if factor != 1:
        whole = exp.Mul(this=exp.Literal.number(factor), expression=exp.paren(whole, copy=False))
    return call(argument, whole)


def _whole_literal(node: exp.Interval) -> exp.Interval:
    """A written amount with a fraction, cut toward zero where DuckDB cuts it (units down to
    the minute, and microseconds); '1.5' in seconds and milliseconds keeps its fraction."""
    unit = _unit(node)
    if node.this is None or (unit not in _WHOLE_UNITS and unit != "MICROSECOND"):
        return node
    if node.args.get("fraction_in_string"):
        return node  # '1.5 months', one string: DuckDB keeps the fraction (a month and 15 days) as PostgreSQL does
    literal = node.this.unnest() if isinstance(node.this, exp.Paren) else node.this
    try:
        amount = Decimal(literal.name.strip())
    except InvalidOperation:
        return node  # not a bare number ('1 day 2 hours' carries its own units)
    if not amount.is_finite() or amount == amount.to_integral_value():
        return node
    whole = int(amount)  # int() of a Decimal cuts toward zero, as DuckDB does
    return exp.Interval(this=exp.Literal.string(str(whole)), unit=node.args["unit"].copy())


def _computed(node: exp.Expression) -> bool:
    """An INTERVAL whose amount is not a number or text written out (those sqlglot writes
    into the literal itself)."""
    if not isinstance(node, exp.Interval) or node.this is None:
        return False
    amount = node.this
    while isinstance(amount, exp.Paren):
        amount = amount.this
    return not isinstance(amount, exp.Literal)


def _unit(node: exp.Interval) -> str:
    unit = node.args.get("unit")
    if not isinstance(unit, exp.Var):
        return ""
    name = unit.name.upper()
    return _PLURALS.get(name, name[:-1] if name.endswith("S") and name[:-1] in {**_WHOLE_UNITS, **_FRACTION_UNITS} else name)


def _named_call(argument: str, value: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="make_interval", expressions=[exp.Kwarg(this=exp.var(argument), expression=value)])


_POSITIONS = ("years", "months", "weeks", "days", "hours", "mins", "secs")


def _positional_call(argument: str, value: exp.Expression) -> exp.Expression:
    parts = [value if name == argument else exp.Literal.number(0) for name in _POSITIONS]
    return exp.Anonymous(this="make_interval", expressions=parts)

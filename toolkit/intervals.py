"""DuckDB's `INTERVAL (expr) unit` (a computed amount: `d + INTERVAL (k) MONTH`) for
PostgreSQL, which has only interval literals: sqlglot writes the amount's *name* into
one ('INTERVAL MONTH' for (k), 'k MONTH' for a bare column), text PostgreSQL refuses or
reads otherwise. It becomes `make_interval(months => ...)` with DuckDB's meaning: the
amount cut to a whole INTEGER for the units down to the minute (DuckDB binds
to_months(CAST(trunc(k) AS INTEGER))), a fraction kept for seconds and milliseconds.
A written fraction is cut the same way: DuckDB reads `INTERVAL (1.5) MONTH` and
`INTERVAL '1.5' MONTH` as one month, PostgreSQL as one month and fifteen days.

keep_dates (below): a date plus whole days to years of another dialect kept a DATE on DuckDB
and PostgreSQL (sqlglot's d + INTERVAL n DAY is a TIMESTAMP there), and date_add(d, -interval
...) written as valid SQL.
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


# -- a date plus whole days, weeks, months or years stays a DATE ------------------------
#
# DuckDB and PostgreSQL make a date plus an interval a TIMESTAMP (2024-02-03 00:00:00);
# sqlglot writes every dialect's date arithmetic that way, so a step written for another
# dialect changed its published column's type (and its text, and what it compares equal to):
#
#   Spark, Databricks        date_add(d, n), date_sub(d, n), add_months(d, n): a DATE always
#                            (Hive's date_add/date_sub and Spark 2's too); d + interval 3 day: a
#                            DATE for a DATE d (Spark 3; timestampadd/dateadd(unit, n, d) is a
#                            TIMESTAMP there too: left alone)
#   BigQuery                 DATE_ADD/DATE_SUB(d, INTERVAL n DAY): a DATE always (d + INTERVAL
#                            is a DATETIME there: left alone)
#   Snowflake, Trino, Presto, Athena, MySQL, T-SQL, ClickHouse, Teradata
#                            dateadd(day, n, d), date_add('day', n, d), d + interval ...,
#                            add_months (Snowflake, Teradata): the type of d, a DATE for a DATE
#
# Such a result is cast back to DATE (exact: a whole number of days from midnight is midnight).
# Where the date's type is unknown (no cast says it, the catalog does not type it), the
# arithmetic is left as written: a TIMESTAMP. PostgreSQL, Redshift and DuckDB itself make a
# TIMESTAMP of date + interval too (Redshift's dateadd as well): nothing to keep.

_DATE_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}
_SPARKS = {"spark", "databricks"}  # Spark 3's date + interval of days or months; Spark 2's and Hive's made a timestamp
_OPERAND_TYPED = {"snowflake", "trino", "presto", "athena", "mysql", "tsql", "clickhouse", "teradata"}
# the calls and operators whose result is a DATE in these dialects (always, or of a DATE)
_ALWAYS_DATE = {"bigquery": (exp.DateAdd, exp.DateSub), **{name: (exp.AddMonths,) for name in (*_SPARKS, "spark2")}}
_DATE_OF_DATE = {**{name: (exp.Add, exp.Sub) for name in _SPARKS},
                 **{name: (exp.DateAdd, exp.DateSub, exp.AddMonths, exp.Add, exp.Sub) for name in _OPERAND_TYPED}}
# what may carry a negated interval (date_add(d, -interval 2 day)), or be a DATE whatever the dialect
# (sqlglot's TsOrDsAdd: Spark's and Hive's date_add/date_sub)
_CALLS = (exp.TsOrDsAdd, exp.DateAdd, exp.DateSub)
_DATED = (*_CALLS, exp.AddMonths, exp.Add, exp.Sub)


def _candidates(read: str | None) -> tuple:
    """The node classes keep_dates looks at for a step read as `read`."""
    return _DATED if read in _ALWAYS_DATE or read in _DATE_OF_DATE else _CALLS


def keep_dates(tree: exp.Expression, read: str | None, kind_of) -> exp.Expression:
    """`tree` (a copy when changed) with a date plus whole days to years a DATE where `read`
    makes it one, and date_add(d, -interval ...) written as d - interval ... (sqlglot made the
    negated interval an amount: INTERVAL (-INTERVAL '2' DAY) DAY, which no engine parses).
    `kind_of(node)`: the family of the date a node adds to ("date", "timestamp", ...) or None."""
    if not any(_negated_interval(node) or dated(node, read, kind_of) for node in tree.find_all(*_candidates(read))):
        return tree
    tree = tree.copy()  # the copies keep the type tags kind_of reads
    changes = [(node, dated(node, read, kind_of)) for node in tree.find_all(*_candidates(read), bfs=False)]  # typed before anything moves
    for node, keep in reversed(changes):  # innermost first (a replacement's inside is not visited again)
        new = _positive_interval(node)
        if keep:
            new = exp.cast(new, "date", copy=new is node)
        if new is node:
            continue
        if node is tree:
            tree = new
        else:
            node.replace(new)
    return tree


def dated(node: exp.Expression, read: str | None, kind_of) -> bool:
    """Whether `read` makes `node` a DATE which DuckDB's (and PostgreSQL's) date + interval
    makes a TIMESTAMP."""
    if isinstance(node, exp.TsOrDsAdd):  # Spark's date_add/date_sub: a DATE (Redshift's dateadd says TIMESTAMP)
        return node.return_type.is_type("date") and _whole_unit(node)
    if read is None or not _whole_unit(node):
        return False
    if isinstance(node, _ALWAYS_DATE.get(read, ())):
        return True
    if not isinstance(node, _DATE_OF_DATE.get(read, ())):
        return False
    if isinstance(node, (exp.Add, exp.Sub)) and _added_interval(node) is None:
        return False  # d + 3 is a DATE already; a - b of dates a number
    return _date_kind(node, kind_of) == "date"


def _date_kind(node: exp.Expression, kind_of) -> str | None:
    """The family of the date `node` adds to: what a cast or current_date says, else what the
    step's own SQL typed at compile (meanings.keep_step_families, kept by a run's copy of the
    step), else kind_of's (the target's catalog, or compile's types)."""
    value = node.this if not isinstance(node, exp.Add) or not isinstance(node.this, exp.Interval) else node.expression
    while isinstance(value, exp.Paren):
        value = value.this
    if isinstance(value, exp.Cast):
        return "date" if value.to.is_type("date") else "other"
    if isinstance(value, exp.CurrentDate):
        return "date"
    compiled = node.meta.get("toolkit_date_family") if node._meta else None  # meanings.keep_step_families
    return compiled if compiled is not None else kind_of(node)


def _added_interval(node: exp.Add | exp.Sub) -> exp.Interval | None:
    """The interval of `d + interval ...` / `interval ... + d` / `d - interval ...`."""
    sides = (node.this, node.expression) if isinstance(node, exp.Add) else (node.expression,)
    for side in sides:
        side = _unnegated(side)
        if isinstance(side, exp.Interval):
            return side
    return None


def _whole_unit(node: exp.Expression) -> bool:
    """Whole days, weeks, months, quarters or years (a date plus hours is a timestamp everywhere)."""
    if isinstance(node, (exp.Add, exp.Sub)):
        interval = _added_interval(node)
        return interval is not None and _unit(interval) in _DATE_UNITS
    if isinstance(node, exp.AddMonths):
        return True
    amount = _unnegated(node.expression)
    if isinstance(amount, exp.Interval):  # date_add(d, interval 3 day)
        return _unit(amount) in _DATE_UNITS
    unit = node.args.get("unit")
    return (unit.name.upper().rstrip("S") if isinstance(unit, exp.Var) else "DAY") in _DATE_UNITS


def _unnegated(value: exp.Expression) -> exp.Expression:
    while isinstance(value, (exp.Paren, exp.Neg)):
        value = value.this
    return value


def _negated_interval(node: exp.Expression) -> bool:
    """date_add(d, -interval 2 day), date_sub(d, -(interval 2 day)), ..."""
    if not isinstance(node, (exp.DateAdd, exp.DateSub, exp.TsOrDsAdd)) or node.expression is None:
        return False
    amount = node.expression
    while isinstance(amount, exp.Paren):
        amount = amount.this
    return isinstance(amount, exp.Neg) and isinstance(_unnegated(amount), exp.Interval)


def _positive_interval(node: exp.Expression) -> exp.Expression:
    """date_add(d, -interval n unit) as d - interval n unit (date_sub's as d + ...); else `node`."""
    if not _negated_interval(node):
        return node
    negations, amount = 0, node.expression
    while isinstance(amount, (exp.Paren, exp.Neg)):
        negations += isinstance(amount, exp.Neg)
        amount = amount.this
    subtracts = isinstance(node, exp.DateSub) != (negations % 2 == 1)
    value = node.this.copy()
    if isinstance(node, exp.TsOrDsAdd) and node.return_type.is_type("date"):
        value = exp.cast(value, "date", copy=False)  # Spark's date_add reads its first argument as a date
    operator = exp.Sub if subtracts else exp.Add
    return operator(this=value, expression=amount.copy())


def rewrites_dates(tree: exp.Expression, read: str | None) -> bool:
    """Whether keep_dates may change `tree`: a negated interval, or date arithmetic `read`
    may make a DATE (typed or not)."""
    return any(_negated_interval(node) or dated(node, read, lambda _: "date") for node in tree.find_all(*_candidates(read)))


def needs_types(tree: exp.Expression, read: str | None) -> bool:
    """Whether keep_dates needs the type of a date no cast in `tree` states."""
    return any(dated(node, read, lambda _: "date") and not dated(node, read, lambda _: None)
               for node in tree.find_all(*_candidates(read)))

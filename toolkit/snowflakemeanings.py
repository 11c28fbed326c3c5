"""A step written for Snowflake (dialect = "snowflake") publishes on PostgreSQL what it publishes on DuckDB.

toolkit runs such a step on DuckDB as sqlglot translates it there: those are the values and
types toolkit means. sqlglot's PostgreSQL translation differs for these calls:

===============================  ===============================  ==============================
on DuckDB                        PostgreSQL as translated         written for PostgreSQL here
===============================  ===============================  ==============================
last_day(d, 'quarter' | 'year'   the month's last day (the unit   DATE_TRUNC(unit, d) + the unit
| 'week'): that period's last    dropped)                         - 1 day, as a DATE (weeks from
day (weeks end on Sunday)                                         Monday, as DuckDB's)
date_trunc(unit, <date>): a      a TIMESTAMPTZ (the date read     DATE_TRUNC(unit, CAST(d AS
TIMESTAMP (Snowflake documents   in the session's zone)           TIMESTAMP)); of a cast to
a DATE: DuckDB's is kept), a                                      date: cast to DATE as well
DATE of a cast to date
date_part(epoch_second, ts):     EXTRACT(EPOCH_SECOND ...):       CAST(CAST(EXTRACT(EPOCH ...) AS
CAST(EPOCH(ts) AS BIGINT),       fails when run                   DOUBLE) AS BIGINT)
rounded half to even (Snowflake
truncates: 10:00:00.7 is :01 in
DuckDB, :00 in Snowflake)
epoch_millisecond, _microsecond  fails when run                   EXTRACT(EPOCH ...) * 1000 ...,
_nanosecond: EPOCH_MS/US/NS,                                      truncated toward zero, BIGINT
BIGINT (milliseconds truncated)
mode(x)                          MODE(x): fails when run          MODE() WITHIN GROUP (ORDER BY
                                                                  x); over a window: refused
parse_json(s)[...]               fails when run                   refused (see _json_bracket)
year(d), month, day, quarter,     EXTRACT(YEAR ...): a NUMERIC;     CAST(EXTRACT(part FROM d) AS
hour, minute, second (whole),     the others (HOUR(d), ...) fail   BIGINT) (second: TRUNC of
dayofweek (Sunday 0), dayofyear,  when run; extract(part from d)   it), the part as PostgreSQL
week (ISO), dayofweekiso,         and date_part(part, d): a        spells it (DOW, DOY, ...)
yearofweek(iso); extract and      NUMERIC
date_part of these parts: BIGINT
===============================  ===============================  ==============================

Also: datediff(week | isoweek, a, b) counts the Mondays crossed in DuckDB (sqlglot writes
DATE_TRUNC('WEEK') of each), datediff('weeks', ...) the days crossed over 7 truncated (DuckDB's
own DATE_DIFF), datediff(day | dayofweek | dayofyear, ...) the days crossed, all BIGINTs;
sqlglot's PostgreSQL rounds the days over 7, fails, or (day) publishes an INTEGER. array_to_string's NULL element is '' (',2'),
skipped there ('2'): ARRAY_TO_STRING(a, d, ''). a / b by zero: inf, -inf or NaN, as
pgmeanings._ieee_quotient writes DuckDB's. split_part(s, d, 0) is the first field (an error
there). ceil(x, n) and floor(x, n): DuckDB's ROUND(CEIL(x * 10^n) / 10^n, n), a DOUBLE, written
alike with pgmeanings' round of a double (n a literal 0 to 7, else refused). Left:
array_to_string of doubles or booleans: DuckDB's text of each ('2.0', 'true'), PostgreSQL's
there ('2', 't'); of integers mixed with decimals, DuckDB's list is of the decimal type
('1.50-2.00', '1.50-2' there).

GROUP BY ALL / ORDER BY ALL: meanings._by_position, as for DuckDB's own.

mode(x) with ties: DuckDB returns one of the most frequent values by its hash table's order,
Snowflake documents one of them unspecified; PostgreSQL returns the least. The value agrees
whenever one value is the most frequent.
"""

from __future__ import annotations

from typing import Callable

from sqlglot import exp
from sqlglot.dialects.dialect import map_date_part

from toolkit import pgmeanings
from toolkit.regexmeanings import Refused

# the period a last_day(d, unit) ends, as DATE_TRUNC's unit and the period's length
_PERIODS = {"QUARTER": ("QUARTER", "3 MONTH"), "YEAR": ("YEAR", "1 YEAR"), "WEEK": ("WEEK", "1 WEEK")}
# datediff units DuckDB counts as days crossed (sqlglot's Snowflake spells dw, weekday, doy so)
_DAY_UNITS = {"DAY", "DAYS", "DAYOFWEEK", "DAYOFYEAR", "DOW", "DOY", "ISODOW", "WEEKDAY"}
_DAYS_WRITTEN = "toolkit_days_crossed"  # meta of a DateDiff written here (repair visits it again)
# Snowflake's calendar calls (sqlglot's DuckDB translation: a BIGINT) as the EXTRACT part that
# PostgreSQL reads alike; of an extract(part ...) the part as sqlglot writes it for DuckDB
_CALENDAR_CALLS = {exp.Year: "YEAR", exp.Month: "MONTH", exp.Day: "DAY", exp.DayOfMonth: "DAY", exp.Quarter: "QUARTER",
                   exp.Hour: "HOUR", exp.Minute: "MINUTE", exp.Second: "SECOND", exp.DayOfWeek: "DOW",
                   exp.DayOfYear: "DOY", exp.Week: "WEEK", exp.DayOfWeekIso: "ISODOW", exp.YearOfWeek: "ISOYEAR",
                   exp.YearOfWeekIso: "ISOYEAR"}
_CALENDAR_PARTS = {"YEAR": "YEAR", "QUARTER": "QUARTER", "MONTH": "MONTH", "DAY": "DAY", "HOUR": "HOUR",
                   "MINUTE": "MINUTE", "SECOND": "SECOND", "DAYOFWEEK": "DOW", "DAYOFYEAR": "DOY", "WEEK": "WEEK",
                   "ISODOW": "ISODOW", "ISOYEAR": "ISOYEAR"}
# sqlglot's DuckDB translation of these extract parts (its EXTRACT_EPOCH_MAPPINGS) as
# PostgreSQL's EXTRACT(EPOCH) (an exact NUMERIC of seconds) scaled to DuckDB's integer
_EPOCH_SCALES = {"EPOCH_MILLISECOND": 1000, "EPOCH_MICROSECOND": 1000000, "EPOCH_NANOSECOND": 1000000000}


def repair(node: exp.Expression, kind_of: Callable[[exp.Expression], str | None],
           types: Callable[[exp.Expression], str | None]) -> exp.Expression:
    """A Snowflake step's `node` written for PostgreSQL with the value it publishes on DuckDB
    (the node itself when nothing changes), or Refused. `kind_of(typed node)`: its operand's
    family (meanings.time_kind); `types`: the catalog's families (pgmeanings.repair's)."""
    new = pgmeanings.repair_snowflake(node, kind_of, types)
    if new is not node:
        return new
    if isinstance(node, exp.LastDay) and node.text("unit").upper() in _PERIODS:
        return _period_last_day(node.this, node.text("unit").upper())
    if isinstance(node, (exp.DateTrunc, exp.TimestampTrunc)) and kind_of(node) == "date":
        return _date_trunc(node)
    if isinstance(node, exp.DateDiff) and node.text("unit").upper() in ("WEEK", "ISOWEEK"):
        return _weeks_crossed(node)
    if isinstance(node, exp.DateDiff) and node.text("unit").upper() == "WEEKS":
        # sqlglot writes DuckDB's own DATE_DIFF('WEEKS', a, b) (no DATE_TRUNC): the days crossed
        # over 7, truncated toward zero (PostgreSQL as sqlglot wrote it: rounded)
        return exp.cast(exp.Div(this=_days_crossed(node), expression=exp.Literal.number(7), typed=True), "bigint")
    if isinstance(node, exp.DateDiff) and node.text("unit").upper() in _DAY_UNITS and not node.meta.get(_DAYS_WRITTEN):
        # DuckDB's date_diff counts day boundaries for these (dayofweek: 8 from Monday to the next
        # Tuesday), a BIGINT; PostgreSQL as sqlglot wrote them: a date difference, an INTEGER
        # (dayofweek, dayofyear: CAST(AGE(..) AS BIGINT), failed when run)
        return exp.cast(_days_crossed(node), "bigint")
    if isinstance(node, exp.ArrayToString) and node.args.get("null_is_empty"):
        # Snowflake's and DuckDB's NULL element is '' (',2'); PostgreSQL's is skipped ('2')
        return exp.Anonymous(this="ARRAY_TO_STRING", expressions=[node.this.copy(), node.expression.copy(),
                                                                   exp.Literal.string("")])
    if isinstance(node, exp.SplitPart) and node.args.get("part_index_zero_as_one"):
        return _part_zero_as_one(node)
    if isinstance(node, exp.Div) and not node.args.get("typed") and not node.args.get("safe"):
        return pgmeanings._ieee_quotient(node)  # by zero: DuckDB 2's inf, -inf or NaN (an error there)
    if isinstance(node, (exp.Ceil, exp.Floor)) and node.args.get("decimals") is not None:
        return _to_places(node)
    part = _calendar_part(node)
    if part is not None:
        return _bigint_extract(part, node.expression if isinstance(node, exp.Extract) else node.this)
    if isinstance(node, exp.Extract) and node.name.upper() == "EPOCH_SECOND":
        return exp.cast(exp.cast(_epoch(node.expression), "double"), "bigint")
    if isinstance(node, exp.Extract) and node.name.upper() in _EPOCH_SCALES:
        scaled = exp.Mul(this=_epoch(node.expression), expression=exp.Literal.number(_EPOCH_SCALES[node.name.upper()]))
        return exp.cast(exp.Anonymous(this="TRUNC", expressions=[scaled]), "bigint")
    if isinstance(node, exp.Mode):
        return _ordered_mode(node)
    if isinstance(node, exp.Bracket) and _json_bracket(node):
        raise Refused("parse_json(...)[...] cannot publish the same on postgres: DuckDB's JSON text is compact "
                      "('{\"b\":1}', PostgreSQL's keeps the input's spacing) and, as sqlglot translates it there, "
                      "[0] is the second element of an array (Snowflake's first)", "parse_json")
    return node


def _period_last_day(value: exp.Expression, unit: str) -> exp.Expression:
    """The last day of `value`'s quarter, year or week (Monday to Sunday, as PostgreSQL's and
    DuckDB's DATE_TRUNC('WEEK') and Snowflake's default WEEK_START), a DATE; computed on the
    wall time (a TIMESTAMPTZ's in the session's zone, as DuckDB's EXTRACT reads it)."""
    part, length = _PERIODS[unit]
    start = exp.DateTrunc(unit=exp.Literal.string(part), this=exp.cast(value, "timestamp"))
    end = exp.Sub(this=exp.Add(this=start, expression=exp.Interval(this=exp.Literal.string(length))),
                  expression=exp.Interval(this=exp.Literal.string("1 DAY")))
    return exp.cast(end, "date")


def _date_trunc(node: exp.DateTrunc | exp.TimestampTrunc) -> exp.Expression:
    """date_trunc of a date as DuckDB types it (PostgreSQL reads the date as a TIMESTAMPTZ):
    the date cast to a wall time first, no zone involved. A TIMESTAMP, or a DATE where sqlglot
    sees the operand is one (a cast: it casts DuckDB's result back to the operand's type)."""
    truncated = node.copy()
    truncated.set("this", exp.cast(node.this.copy(), "timestamp"))
    truncated.set("input_type_preserved", None)  # the cast below, written once
    if node.args.get("input_type_preserved") and node.this.is_type(exp.DataType.Type.DATE):
        return exp.cast(truncated, "date")
    return truncated


def _weeks_crossed(node: exp.DateDiff) -> exp.Expression:
    """datediff(week, a, b): the Mondays crossed from a to b, as DuckDB's (sqlglot writes
    DATE_DIFF('WEEK', DATE_TRUNC('WEEK', a), DATE_TRUNC('WEEK', b)) there) and Snowflake's
    default WEEK_START; sqlglot's PostgreSQL rounds the days over 7 (Tuesday to Sunday: 1).
    The days between the two weeks' Mondays (wall time, DATE_TRUNC('WEEK') starts on Monday
    there too) over 7, a BIGINT."""
    def monday(value: exp.Expression) -> exp.Expression:
        return exp.cast(exp.DateTrunc(unit=exp.Literal.string("WEEK"), this=exp.cast(value.copy(), "timestamp")), "date")
    days = exp.paren(exp.Sub(this=monday(node.this), expression=monday(node.expression)))
    return exp.cast(exp.Div(this=days, expression=exp.Literal.number(7), typed=True), "bigint")


def _days_crossed(node: exp.DateDiff) -> exp.Expression:
    """The days crossed from node's a to b, as sqlglot writes them there (CAST(b AS DATE) -
    CAST(a AS DATE), an INTEGER)."""
    days = exp.DateDiff(this=node.this.copy(), expression=node.expression.copy(), unit=exp.var("DAY"),
                        date_part_boundary=True)
    days.meta[_DAYS_WRITTEN] = True
    return days


def _part_zero_as_one(node: exp.SplitPart) -> exp.Expression:
    """split_part(s, d, 0) is Snowflake's (and DuckDB's, as sqlglot writes it) first field;
    an error on PostgreSQL. Index 0 written 1 (a column's: CASE WHEN i = 0 THEN 1 ELSE i END)."""
    index = node.args["part_index"]
    one = exp.Literal.number(1)
    if isinstance(index, exp.Literal):
        moved = one if index.to_py() == 0 else index.copy()
    else:
        moved = exp.Case(ifs=[exp.If(this=exp.EQ(this=index.copy(), expression=exp.Literal.number(0)), true=one)],
                         default=index.copy())
    split = node.copy()
    split.set("part_index", moved)
    split.set("part_index_zero_as_one", None)
    return split


def _to_places(node: exp.Ceil | exp.Floor) -> exp.Expression:
    """ceil(x, n) and floor(x, n): a DOUBLE in DuckDB as sqlglot writes them there,
    ROUND(CEIL(x * POWER(10, n)) / POWER(10, n), n); PostgreSQL has no CEIL(x, n). The same
    computed in doubles, its ROUND as pgmeanings writes DuckDB's (n a literal 0 to 7, else refused)."""
    places = node.args["decimals"]
    scale = exp.Anonymous(this="POWER", expressions=[exp.Literal.number(10), places.copy()])
    scaled = exp.Mul(this=exp.cast(node.this.copy(), "double"), expression=scale)
    whole = type(node)(this=scaled)
    rounded = exp.Round(this=exp.Div(this=whole, expression=scale.copy(), typed=True), decimals=places.copy())
    try:
        return pgmeanings._round_half_away(rounded)
    except Refused:
        name = type(node).__name__.lower()
        raise Refused(f"{name}(x, {places.sql('snowflake')}) cannot publish DuckDB's value on postgres (a double rounded "
                      "to the places as DuckDB rounds it) but for places written as a literal 0 to 7: write the power "
                      f"of ten, e.g. {name}(x / 10) * 10 for {name}(x, -1)", name) from None


def _epoch(value: exp.Expression) -> exp.Expression:
    return exp.Extract(this=exp.var("EPOCH"), expression=value.copy(), postgres=True)


def _ordered_mode(node: exp.Mode) -> exp.Expression:
    """mode(x) as PostgreSQL's ordered-set aggregate, which is no window function there."""
    outer = node.parent.parent if isinstance(node.parent, exp.Filter) else node.parent
    if isinstance(outer, exp.Window):
        raise Refused("mode(...) OVER cannot run on postgres (its mode is not a window function there): "
                      "aggregate in a subquery grouped by the partition and join it", "mode")
    ordered = exp.Order(expressions=[exp.Ordered(this=node.this.copy())])
    return exp.WithinGroup(this=exp.Anonymous(this="MODE"), expression=ordered)


def _json_bracket(node: exp.Bracket) -> bool:
    """A subscript of a parse_json(...) value, directly or through other subscripts: DuckDB
    publishes it as compact JSON text, which PostgreSQL's json cannot spell the same."""
    value = node.this
    while isinstance(value, exp.Bracket):
        value = value.this
    return isinstance(value, exp.ParseJSON)


def _calendar_part(node: exp.Expression) -> str | None:
    """PostgreSQL's EXTRACT part for a calendar call or extract (DuckDB's: a BIGINT), else None."""
    if type(node) in _CALENDAR_CALLS and not (isinstance(node, exp.Week) and node.args.get("mode") is not None):
        return _CALENDAR_CALLS[type(node)]
    if isinstance(node, exp.Extract) and not node.args.get("postgres") and isinstance(node.this, (exp.Var, exp.Literal)):
        return _CALENDAR_PARTS.get(map_date_part(exp.var(node.name), "duckdb").name.upper())
    return None


def calendar_call(node: exp.Expression) -> exp.Expression | None:
    """year(d), month(d), hour(ts), ... (a BIGINT in DuckDB) written for PostgreSQL as
    CAST(EXTRACT(part FROM d) AS BIGINT), else None: a Snowflake step's (repair) and a DuckDB
    step's own (meanings._postgres: sqlglot writes EXTRACT, a NUMERIC, or DAY_OF_MONTH(d),
    HOUR(ts), ..., which fail there)."""
    part = _calendar_part(node) if type(node) in _CALENDAR_CALLS else None
    return None if part is None else _bigint_extract(part, node.this)


def _bigint_extract(part: str, value: exp.Expression) -> exp.Expression:
    """CAST(EXTRACT(part FROM value) AS BIGINT) (a NUMERIC there, DuckDB's a BIGINT); of the
    second its whole seconds (DuckDB's second(ts) drops the fraction, PostgreSQL's keeps it)."""
    extract = exp.Extract(this=exp.var(part), expression=value.copy(), postgres=True)
    return exp.cast(exp.Anonymous(this="TRUNC", expressions=[extract]) if part == "SECOND" else extract, "bigint")

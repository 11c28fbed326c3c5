"""DuckDB calls whose Spark translation depends on the operand's type (meanings.py's
`time_kind`: from the SQL when it says, else from the catalog, else unknown).

toolkit's Spark sessions make TIMESTAMP a wall time (TIMESTAMP_NTZ) and a timestamptz
TIMESTAMP_LTZ; Spark's own time functions take TIMESTAMP_LTZ, so a wall time passed to
them went through the session zone (02:30 in a spring-forward gap became 03:30):

=================================  ==============================  ===========================
DuckDB                             Spark as sqlglot wrote it        written here
=================================  ==============================  ===========================
timestamptz AT TIME ZONE z: the    FROM_UTC_TIMESTAMP: the session  CONVERT_TIMEZONE('UTC', z,
wall time in z (a TIMESTAMP)       zone's wall time, zoned          its UTC wall time)
timestamp AT TIME ZONE z: the      FROM_UTC_TIMESTAMP: hours off    TIMESTAMP_MICROS of the UTC
instant of that wall time in z                                      wall time's microseconds
strftime(ts, fmt)                  DATE_FORMAT: session zone        CONCAT of YEAR(ts), ... (any
                                                                    operand; unknown codes kept)
date_trunc(u, wall time or date):  DATE_TRUNC: a TIMESTAMP_LTZ      TRUNC(date) / TIMESTAMPADD:
a wall time                        through the session zone         a wall time
dayname(d) / monthname(d):         DAYNAME/MONTHNAME: Wed / Jan     DATE_FORMAT(CAST(d AS DATE),
Wednesday / January                                                 'EEEE' / 'MMMM')
avg(decimal) is a DOUBLE           DECIMAL rounded to 6 places      CAST(SUM(x) AS DOUBLE) /
                                                                    NULLIF(COUNT(x), 0)
concat(s, 7, NULL) = 's7'          COALESCE(7, ''): fails           each operand cast to STRING
concat(s, 1e20), s || 1e20:        's1.0E20'                        refused (a double: cast it
's1e+20' (1.5 is a decimal)                                         to a decimal)
cast(tz as text), concat(s, tz),   the wall time, no offset         CONCAT(wall time, offset:
s || tz: '2024-01-01 10:00:00+01'                                   DATE_FORMAT(tz, 'xxxxx'))
cast(wall as timestamptz), wall    the earlier instant (+02)        the later one where the
AT TIME ZONE z, timestamptz '...'                                   wall time has two
(no offset), in a fall-back                                         (_instant_of_wall)
hour: the later instant (+01)
date + interval is a TIMESTAMP     a DATE (months, days), a         CAST(d AS TIMESTAMP) +
                                   TIMESTAMP_LTZ (hours)            interval
date_add(d, interval ...) is one    DATE_ADD: fails (days only)      the same; of a timestamp,
too                                                                 ts + interval
timestamptz + interval of hours     the session zone's wall time     TIMESTAMP_MICROS(UNIX_MICROS(
(minutes, seconds): exact duration  moved (not across DST); '1 month tz) + micros); months and days
(INTERVAL (n) HOUR, to_hours(n),    2 hours' refused; TO_HOURS       + MAKE_INTERVAL(0, m, 0, d,
n * INTERVAL 1 HOUR, '1 day 2       unknown                          ...) before it, after it when
hours'); months and days on the                                      a part is negative (ICU's
wall time first (any part < 0:                                       order); a fraction of an
the duration first)                                                  hour refused
ceil/floor(double) is a DOUBLE     a BIGINT: overflows past 2^63    a DOUBLE (CEIL below 2^52,
                                                                    the value itself above)
a // b of a double or decimal is    DIV: truncated (a decimal), or   (CAST(a AS DOUBLE) /
the double division (5.5 // 2 =    fails (a double)                 CAST(b AS DOUBLE)); a
2.75)                                                               DECIMAL(p, 0) the catalog
                                                                    alone says is kept (a
                                                                    HUGEINT is published as
                                                                    one), one the step's SQL
                                                                    types so divided
a // b of INTEGERs (SMALLINTs,     DIV: a BIGINT, so               CAST(a DIV b AS INT) (the
TINYINTs) is one: (-2^31) // -1    (-2^31) DIV -1 = 2147483648      cast fails as DuckDB does)
fails (overflow)                   is published
sum(integer) is a HUGEINT: exact   a BIGINT: fails past 2^63        SUM(CAST(x AS DECIMAL(38,
past 2^63 (over (...) too)         (ANSI mode)                      0))), as HUGEINT is published
HUGEINT (cast(x as hugeint))       INT128: no such type there       DECIMAL(38, 0)
=================================  ==============================  ===========================

Spark has no unsigned integers: DuckDB's unsigned results are published as the next wider
signed type that holds each value, as the PostgreSQL engine stores them (a UINTEGER a
BIGINT, a UBIGINT a NUMERIC(20, 0)) and as sqlglot writes a UTINYINT cast (SMALLINT), a
UHUGEINT a DECIMAL(38, 0) here. So regr_count, a UINTEGER in DuckDB, is Spark's BIGINT
REGR_COUNT as it is, and cast(x as uinteger) a BIGINT that fails where DuckDB's cast does
(below 0, past 2^32 - 1).

Integer overflow otherwise fails on both (2147483647 + 1, -(-2^31), abs(-2^63), (-2^63) // -1):
toolkit's sessions run in ANSI mode (engines/spark.py), where Spark raises as DuckDB does.

Where the operand's type is unknown, AT TIME ZONE, date_trunc, avg, ceil/floor, // and sum keep
sqlglot's translation (right for the other kinds: timestamptz, dates, doubles, integers).
"""

from __future__ import annotations

import re
from typing import Callable

from sqlglot import exp

from toolkit import pgmeanings, sparkvalues
from toolkit.regexmeanings import Refused

# the calls meanings.cast_types types, beyond casts
INTERPOLATED = (exp.Median, exp.PercentileCont)  # of times and decimals: sparkvalues.py
TYPED = (exp.AtTimeZone, exp.TimeToUnix, exp.TimestampTrunc, exp.Ceil, exp.Floor, exp.Avg, exp.Concat, exp.DPipe, exp.Sum,
         *INTERPOLATED)
# DuckDB's 128-bit integers as toolkit publishes a HUGEINT (DuckDB's Arrow export is a
# decimal128(38, 0)); a UHUGEINT past 10^38 fails the cast
WIDE_INTEGERS = {exp.DataType.Type.INT128: "decimal(38, 0)", exp.DataType.Type.UINT128: "decimal(38, 0)"}
# DuckDB's narrower unsigned integers as the next wider signed type (the largest value each holds)
UNSIGNED_INTEGERS = {exp.DataType.Type.UTINYINT: ("smallint", 2 ** 8 - 1), exp.DataType.Type.USMALLINT: ("int", 2 ** 16 - 1),
                     exp.DataType.Type.UINT: ("bigint", 2 ** 32 - 1), exp.DataType.Type.UBIGINT: ("decimal(20, 0)", 2 ** 64 - 1)}
# the // results narrower than Spark's DIV (a BIGINT): meanings.integer_quotient
_NARROW_QUOTIENTS = ("tinyint", "smallint", "int")
_EXACT_DOUBLE = exp.Literal.number("4503599627370496.0")  # 2^52: every double at least this large is an integer
_EPOCH = "1970-01-01 00:00:00"


def repair(node: exp.Expression, kind_of: Callable[[exp.Expression], str | None]) -> exp.Expression:
    """`node` written for Spark with DuckDB's meaning (the node itself when nothing changes).
    `kind_of(typed node)`: its operand's family (meanings.time_kind)."""
    valued = sparkvalues.repair(node, kind_of)  # more calls Spark gives other values: sparkvalues.py
    if valued is not node:
        return valued
    if isinstance(node, exp.Cast) and node.to.this in UNSIGNED_INTEGERS:
        return _unsigned_cast(node, kind_of(node))
    if isinstance(node, exp.AtTimeZone):
        return _at_time_zone(node, kind_of(node))
    if isinstance(node, exp.Cast) and node.to.this is exp.DataType.Type.TIMESTAMPTZ and node.this.is_string:
        return _instant_of_text(node)
    if isinstance(node, exp.Cast) and node.to.this is exp.DataType.Type.TIMESTAMPTZ and kind_of(node) in ("timestamp", "date"):
        return _instant_of_wall(node.this, _call("CURRENT_TIMEZONE"))
    if isinstance(node, exp.Cast) and node.to.this in exp.DataType.TEXT_TYPES and kind_of(node) == "timestamptz":
        return _zoned_text(node.this)
    if isinstance(node, (exp.Add, exp.Sub)) and interval_operand(node) is not None and kind_of(node) == "date":
        return _timestamp_arithmetic(node)
    if isinstance(node, (exp.Add, exp.Sub, exp.DateAdd)) and interval_operand(node) is not None and kind_of(node) == "timestamptz":
        zoned = _zoned_arithmetic(node, kind_of)
        if zoned is not node:
            return zoned
    if isinstance(node, exp.DateAdd) and interval_operand(node) is not None:
        return _added_interval(node, kind_of(node))
    if isinstance(node, exp.TimeToStr):
        return _strftime(node)
    if isinstance(node, exp.TimestampTrunc) and kind_of(node) in ("timestamp", "date"):
        return _wall_trunc(node.this, node.text("unit").upper())
    if isinstance(node, (exp.Dayname, exp.Monthname)):
        pattern = "EEEE" if isinstance(node, exp.Dayname) else "MMMM"
        return _format(exp.cast(node.this, "date"), pattern)
    if isinstance(node, exp.Concat):
        return _text_operands(node, kind_of(node))
    if isinstance(node, exp.DPipe):
        return _piped_operands(node, kind_of(node))
    if isinstance(node, (exp.Ceil, exp.Floor)) and kind_of(node) == "double" and not node.args.get("decimals"):
        return _double_rounding(node)
    if isinstance(node, exp.IntDiv) and pgmeanings.fractional_quotient(node, kind_of(node), _declared_whole_decimal(node)):
        # Spark's DIV truncates a decimal (5.5 DIV 2 = 2), refuses a double. A DECIMAL(p, 0) the
        # catalog alone says is kept: an integer sum (a HUGEINT) is one there, divided as
        # integers in DuckDB; one the step's own SQL types so is a decimal (7 // 2 = 3.5)
        return pgmeanings.double_quotient(node)
    if isinstance(node, exp.IntDiv) and kind_of(node) in _NARROW_QUOTIENTS and not _cast_to(node.parent, kind_of(node)):
        return exp.cast(node.copy(), kind_of(node))
    if isinstance(node, exp.Sum) and kind_of(node) == "integer" and not _cast_to(summand(node), *WIDE_INTEGERS):
        return _wide_sum(node)
    if isinstance(node, exp.Window) and isinstance(node.this, exp.Avg) and kind_of(node.this) == "decimal":
        return _double_average(node.this, node)
    if isinstance(node, exp.Avg) and not isinstance(node.parent, (exp.Window, exp.Filter)) and kind_of(node) == "decimal":
        return _double_average(node)
    return node


def _unsigned_cast(cast: exp.Cast, kind: str | None) -> exp.Expression:
    """cast(x as uinteger) as the next wider signed type (Spark has no unsigned one), failing
    where DuckDB's does: a value below 0 or past the type's largest (-1 is published otherwise).
    The wider cast is a copy of `cast` (its typing kept: meanings._rounded_cast rounds a
    fraction cast to an integer); a UBIGINT's DECIMAL(20, 0) is rounded here as DuckDB rounds
    (`kind`: the operand's family; Spark's decimal cast rounds half up)."""
    signed, largest = UNSIGNED_INTEGERS[cast.to.this]
    written = cast.to.sql("duckdb").lower()

    def value() -> exp.Expression:
        wider = cast.copy()
        wider.set("to", exp.DataType.build(signed))
        if wider.to.is_type("decimal") and _fractional(wider.this, kind):
            rounding = "ROUND" if kind == "decimal" or wider.this.is_number and "e" not in wider.this.name.lower() else "BROUND"
            wider.set("this", _call(rounding, wider.this))
        return wider

    outside = exp.or_(exp.LT(this=value(), expression=exp.Literal.number(0)),
                      exp.GT(this=value(), expression=exp.Literal.number(largest)))
    failure = _call("RAISE_ERROR", exp.Literal.string(f"Conversion Error: value out of range for {written}"))
    return exp.If(this=outside, true=failure, false=value())


def _fractional(value: exp.Expression, kind: str | None) -> bool:
    """Whether `value` may have a fraction to round (a double, a decimal, unknown)."""
    if value.is_number:
        return not value.is_int
    return kind in ("double", "decimal", None)


def _declared_whole_decimal(node: exp.IntDiv) -> bool:
    """Whether the step's own SQL (typed at compile through the DAG: meanings.keep_step_families)
    says a side of `node` is a DECIMAL(p, 0), not a HUGEINT Spark reads as one."""
    return bool(node._meta) and node.meta.get("toolkit_step_family") == pgmeanings.WHOLE_DECIMAL


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _epoch() -> exp.Expression:
    return exp.cast(exp.Literal.string(_EPOCH), "timestamp")  # TIMESTAMP_NTZ in toolkit's sessions


def _at_time_zone(node: exp.AtTimeZone, kind: str | None) -> exp.Expression:
    zone, utc = node.args["zone"], exp.Literal.string("UTC")
    if kind == "timestamptz":  # the instant's wall time in zone: its UTC wall time (exact) moved to zone
        utc_wall = _call("TIMESTAMPADD", exp.var("MICROSECOND"), _call("UNIX_MICROS", node.this), _epoch())
        return _call("CONVERT_TIMEZONE", utc, zone, utc_wall)
    if kind in ("timestamp", "date"):  # the instant whose wall time in zone is this one
        return _instant_of_wall(node.this, zone)
    return node


def _instant_of_wall(value: exp.Expression, zone: exp.Expression) -> exp.Expression:
    """The instant whose wall time in `zone` is `value`, as DuckDB picks it: in a fall-back
    hour (02:30 on 2024-10-27 in Berlin) the later of the two (+01), where Spark's casts and
    CONVERT_TIMEZONE take the earlier (+02); in a spring-forward gap both move the wall time
    on by the gap. The later candidate is the wall time less the offset six hours after the
    earlier one; it is taken when its own wall time in `zone` is `value` (a wall time outside
    an overlap has one instant only). UNIX_MICROS reads a TIMESTAMP_NTZ as UTC, exactly."""
    utc = exp.Literal.string("UTC")

    def wall() -> exp.Expression:
        return exp.cast(value.copy(), "timestamp")

    if zone.is_string and zone.name.upper() in ("UTC", "GMT", "Z", "ETC/UTC"):  # no overlap: the one instant
        return _call("TIMESTAMP_MICROS", _call("UNIX_MICROS", _call("CONVERT_TIMEZONE", zone.copy(), utc, wall())))

    def utc_wall(micros: exp.Expression) -> exp.Expression:  # a UTC wall time (TIMESTAMP_NTZ) of UTC microseconds
        return _call("TIMESTAMPADD", exp.var("MICROSECOND"), micros, _epoch())

    earlier = _call("UNIX_MICROS", _call("CONVERT_TIMEZONE", zone.copy(), utc.copy(), wall()))
    probe = exp.paren(exp.Add(this=earlier.copy(), expression=exp.Literal.number(6 * 3600 * 1_000_000)))
    offset_after = exp.Sub(this=_call("UNIX_MICROS", _call("CONVERT_TIMEZONE", utc.copy(), zone.copy(), utc_wall(probe))),
                           expression=probe.copy())
    later = exp.paren(exp.Sub(this=_call("UNIX_MICROS", wall()), expression=exp.paren(offset_after)))
    is_later = exp.EQ(this=_call("CONVERT_TIMEZONE", utc.copy(), zone.copy(), utc_wall(later.copy())), expression=wall())
    return _call("TIMESTAMP_MICROS", exp.If(this=is_later, true=later, false=earlier))


# a timestamptz literal's text: a wall time, then maybe a zone's name (an offset or Z names one instant)
_WALL_TEXT = re.compile(r"\s*(\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?)\s*([A-Za-z][A-Za-z0-9_/+-]*)?\s*")


def _instant_of_text(cast: exp.Cast) -> exp.Expression:
    """cast('2024-11-03 01:30:00' as timestamptz) (timestamptz '...'): the instant of that
    wall time in the session zone (or in the zone the text names), the later one in a
    fall-back hour as DuckDB picks it; Spark's cast takes the earlier. A text with an offset
    or a zone named otherwise than by region (Europe/Berlin) is kept."""
    found = _WALL_TEXT.fullmatch(cast.this.name)
    if not found or found.group(2) and "/" not in found.group(2):  # UTC, EST, UTC+1: no fall-back hour; kept
        return cast
    wall, zone = found.groups()
    return _instant_of_wall(exp.Literal.string(wall), exp.Literal.string(zone) if zone else _call("CURRENT_TIMEZONE"))


def _zoned_text(value: exp.Expression) -> exp.Expression:
    """A timestamptz as DuckDB writes it: the wall time in the session zone and its offset,
    '2024-01-01 10:00:00+01' ('+05:30' with minutes); Spark's CAST drops the offset."""
    wall = exp.cast(exp.cast(value.copy(), "timestampntz"), "text")
    offset = _call("REGEXP_REPLACE", _format(value.copy(), "xxxxx"), exp.Literal.string(":00$"), exp.Literal.string(""))
    return _call("CONCAT", wall, offset)


def interval_operand(node: exp.Add | exp.Sub | exp.DateAdd) -> exp.Expression | None:
    """The other side of `x + interval ...` (`interval ... + x`, date_add(x, interval ...),
    date_add(interval ..., x)), None when no side is an interval."""
    if is_interval(node.expression) and not is_interval(node.this):
        return node.this
    if isinstance(node, (exp.Add, exp.DateAdd)) and is_interval(node.this) and not is_interval(node.expression):
        return node.expression
    return None


def is_interval(value: exp.Expression | None) -> bool:
    """Whether `value` is an interval as its SQL says: INTERVAL ..., to_hours(n) (to_days, ...),
    n * INTERVAL ..., a sum or negation of them, in parentheses or not."""
    while isinstance(value, (exp.Paren, exp.Neg)):
        value = value.this
    if isinstance(value, (exp.Interval, exp.ToDays)):
        return True
    if isinstance(value, exp.Anonymous):
        return value.name.upper() in _TO_UNITS or value.name.upper() in ("TO_SECONDS", "TO_MILLISECONDS")
    if isinstance(value, exp.Mul):
        return is_interval(value.this) != is_interval(value.expression)
    if isinstance(value, (exp.Add, exp.Sub)):
        return is_interval(value.this) and is_interval(value.expression)
    return False


def _timestamp_arithmetic(node: exp.Add | exp.Sub) -> exp.Expression:
    """date +/- interval is a TIMESTAMP in DuckDB (2024-02-29 00:00:00); Spark keeps a DATE
    for months and days and makes a TIMESTAMP_LTZ for hours: the date is made a wall time first."""
    node = node.copy()
    key = "this" if node.this is not None and not isinstance(node.this, exp.Interval) else "expression"
    node.set(key, exp.cast(node.args[key], "timestamp"))
    return node


def _added_interval(node: exp.DateAdd, kind: str | None) -> exp.Expression:
    """date_add(x, interval ...) as x + interval ...: Spark's DATE_ADD takes a number of days
    only (an interval fails there); a date is made a wall time first, as DuckDB's date_add
    of a date and an interval is a TIMESTAMP (2024-02-29 00:00:00), for months as for hours."""
    time, interval = (node.this, node.expression) if interval_operand(node) is node.this else (node.expression, node.this)
    added = exp.Add(this=time.copy(), expression=interval.copy())
    return _timestamp_arithmetic(added) if kind == "date" else added


# microseconds in one of each unit DuckDB adds to a timestamptz as an exact duration
_CLOCK_UNITS = {"HOUR": 3_600_000_000, "MINUTE": 60_000_000, "SECOND": 1_000_000, "MILLISECOND": 1_000, "MICROSECOND": 1}
# the calendar units, in (months, days) of each, added to the wall time in the session zone
_CALENDAR_UNITS = {"YEAR": (12, 0), "QUARTER": (3, 0), "MONTH": (1, 0), "WEEK": (0, 7), "DAY": (0, 1)}
# DuckDB's to_hours(n), ...: the unit of each (to_seconds and to_milliseconds take a DOUBLE: not listed)
_TO_UNITS = {"TO_YEARS": "YEAR", "TO_QUARTERS": "QUARTER", "TO_MONTHS": "MONTH", "TO_WEEKS": "WEEK", "TO_DAYS": "DAY",
             "TO_HOURS": "HOUR", "TO_MINUTES": "MINUTE", "TO_MICROSECONDS": "MICROSECOND"}
# a written interval's text: amounts and units, '1 day 2 hours'
_WRITTEN_PART = re.compile(r"\s*([+-]?\d+)\s*([A-Za-z]+)")
_UNIT_NAMES = {"Y": "YEAR", "YR": "YEAR", "YRS": "YEAR", "MON": "MONTH", "MONS": "MONTH", "D": "DAY", "H": "HOUR", "HR": "HOUR",
               "HRS": "HOUR", "M": "MINUTE", "MIN": "MINUTE", "MINS": "MINUTE", "S": "SECOND", "SEC": "SECOND", "SECS": "SECOND",
               "MS": "MILLISECOND", "MSEC": "MILLISECOND", "MSECS": "MILLISECOND", "US": "MICROSECOND", "USEC": "MICROSECOND",
               "USECS": "MICROSECOND", "MILLISECONDS": "MILLISECOND", "MICROSECONDS": "MICROSECOND"}

# an interval's (months, days, microseconds), each an int or a Spark BIGINT expression
Parts = tuple


def _interval_of(node: exp.Add | exp.Sub | exp.DateAdd) -> exp.Expression:
    return node.expression if interval_operand(node) is node.this else node.this


def _unit_name(unit: str) -> str | None:
    unit = unit.upper()
    unit = _UNIT_NAMES.get(unit, unit)
    unit = unit[:-1] if unit.endswith("S") and unit[:-1] in _CLOCK_UNITS.keys() | _CALENDAR_UNITS.keys() else unit
    return unit if unit in _CLOCK_UNITS or unit in _CALENDAR_UNITS else None


def _unit_parts(unit: str, amount) -> Parts:
    """(months, days, micros) of `amount` (an int or a BIGINT expression) of `unit`."""
    if unit in _CLOCK_UNITS:
        return 0, 0, _times(amount, _CLOCK_UNITS[unit])
    months, days = _CALENDAR_UNITS[unit]
    return _times(amount, months), _times(amount, days), 0


def _times(amount, factor: int):
    if factor == 0:
        return 0
    if isinstance(amount, int):
        return amount * factor
    return amount.copy() if factor == 1 else exp.Mul(this=exp.paren(amount.copy()), expression=exp.Literal.number(factor))


def _plus(a, b, sign: int = 1):
    if isinstance(a, int) and isinstance(b, int):
        return a + sign * b
    if isinstance(b, int) and b == 0:
        return a
    if isinstance(a, int) and a == 0:
        return b if sign == 1 else exp.Neg(this=exp.paren(b.copy()))
    left = exp.Literal.number(a) if isinstance(a, int) else exp.paren(a.copy())
    right = exp.Literal.number(b) if isinstance(b, int) else exp.paren(b.copy())
    return exp.Add(this=left, expression=right) if sign == 1 else exp.Sub(this=left, expression=right)


def _whole(amount: exp.Expression) -> exp.Expression:
    """A computed amount as DuckDB takes it for a unit: a BIGINT, a fraction truncated
    (INTERVAL (1.5) HOUR is one hour there, INTERVAL (-1.5) HOUR minus one). Spark's BIGINT()
    truncates; a CAST would be rounded as DuckDB's casts round (meanings._rounded_cast)."""
    return _call("BIGINT", amount.copy())


def _interval_parts(value: exp.Expression, kind_of: Callable[[exp.Expression], object]) -> Parts | None:
    """DuckDB's (months, days, microseconds) of an interval expression: INTERVAL 26 HOUR,
    INTERVAL '1 day 2 hours', INTERVAL (n) HOUR, to_hours(n), n * INTERVAL 1 HOUR, their
    sums and negations; None where they are not known here."""
    while isinstance(value, exp.Paren):
        value = value.this
    if isinstance(value, exp.Neg):
        inner = _interval_parts(value.this, kind_of)
        return None if inner is None else tuple(_plus(0, part, -1) for part in inner)
    if isinstance(value, (exp.Add, exp.Sub)) and is_interval(value.this) and is_interval(value.expression):
        left, right = _interval_parts(value.this, kind_of), _interval_parts(value.expression, kind_of)
        if left is None or right is None:
            return None
        return tuple(_plus(a, b, -1 if isinstance(value, exp.Sub) else 1) for a, b in zip(left, right))
    if isinstance(value, exp.Mul):
        interval, factor = (value.this, value.expression) if is_interval(value.this) else (value.expression, value.this)
        inner = _interval_parts(interval, kind_of)
        whole = _whole_factor(factor, value, kind_of)
        if inner is None or whole is None:
            return None
        return tuple(_scaled(part, whole) for part in inner)
    if isinstance(value, exp.ToDays):
        return _unit_parts("DAY", _whole(value.this))
    if isinstance(value, exp.Anonymous) and value.name.upper() in _TO_UNITS and len(value.expressions) == 1:
        return _unit_parts(_TO_UNITS[value.name.upper()], _whole(value.expressions[0]))
    if not isinstance(value, exp.Interval):
        return None
    unit = value.args.get("unit")
    amount = value.this
    if unit is None:  # INTERVAL '1 day 2 hours'
        return _written_parts(amount.name) if isinstance(amount, exp.Literal) and amount.is_string else None
    if not isinstance(unit, exp.Var) or _unit_name(unit.name) is None:  # HOUR TO MINUTE, ...
        return None
    if isinstance(amount, exp.Literal):
        if not re.fullmatch(r"\s*[+-]?\d+\s*", amount.name):  # '1.5' hour, '1 day' day
            return None
        return _unit_parts(_unit_name(unit.name), int(amount.name))
    return _unit_parts(_unit_name(unit.name), _whole(amount))


def _scaled(part, whole):
    """An interval part (an int or an expression) times a whole factor (the same)."""
    if isinstance(part, int):
        return _times(whole, part)
    factor = exp.Literal.number(whole) if isinstance(whole, int) else exp.paren(whole.copy())
    return exp.Mul(this=exp.paren(part.copy()), expression=factor)


def _whole_factor(factor: exp.Expression, product: exp.Mul, kind_of) -> int | exp.Expression | None:
    """n of n * INTERVAL ...: an integer literal, or an integer (or unknown) value as a BIGINT;
    None for a fraction (DuckDB carries 1.5 days into hours)."""
    literal = factor
    sign = 1
    while isinstance(literal, (exp.Paren, exp.Neg)):
        sign = -sign if isinstance(literal, exp.Neg) else sign
        literal = literal.this
    if isinstance(literal, exp.Literal):
        return sign * int(literal.name) if not literal.is_string and literal.is_int else None
    kinds = kind_of(product)
    family = next((kind for side, kind in zip((product.this, product.expression), kinds) if side is factor), None) \
        if isinstance(kinds, tuple) else None
    return None if family in ("double", "decimal", "real") else _whole(factor)


def _written_parts(text: str) -> Parts | None:
    """(months, days, micros) of '1 month 2 days 3 hours' (whole amounts); None for another text."""
    parts: Parts = (0, 0, 0)
    end = 0
    for found in _WRITTEN_PART.finditer(text):
        unit = _unit_name(found.group(2))
        if found.start() != end or unit is None:
            return None
        parts = tuple(a + b for a, b in zip(parts, _unit_parts(unit, int(found.group(1)))))
        end = found.end()
    return parts if end and not text[end:].strip() else None


def _calendar_only(interval: exp.Expression) -> bool:
    """INTERVAL 3 DAY, INTERVAL '1 month', INTERVAL (k) MONTH: months and days only, which
    Spark adds to the session zone's wall time as DuckDB does (kept as sqlglot writes it)."""
    while isinstance(interval, exp.Paren):
        interval = interval.this
    if not isinstance(interval, exp.Interval):
        return False
    unit = interval.args.get("unit")
    if unit is None:
        parts = _written_parts(interval.this.name) if isinstance(interval.this, exp.Literal) else None
        return parts is not None and parts[2] == 0
    return isinstance(unit, exp.Var) and _unit_name(unit.name) in _CALENDAR_UNITS


def _zoned_arithmetic(node: exp.Add | exp.Sub | exp.DateAdd, kind_of) -> exp.Expression:
    """timestamptz +/- interval as DuckDB's ICU arithmetic: the months, then the days, moved
    on the session zone's wall time, then the hours (minutes, seconds) as an exact duration;
    when any of the three is negative (a subtraction negates them) the duration first, then
    the months and days. Spark moves the wall time for hours too (2024-03-30 12:00 +01 plus
    24 hours was 2024-03-31 12:00 +02 there, 13:00 +02 in DuckDB, across the spring-forward
    hour). An interval of months and days only is kept; one not taken apart here is refused."""
    interval = _interval_of(node)
    if _calendar_only(interval):
        return node
    parts = _interval_parts(interval, kind_of)
    if parts is None:
        raise Refused(f"timestamptz + {interval.sql('duckdb')} cannot be written for spark with DuckDB's value (its hours "
                      "are an exact duration across a DST change there): write the interval with whole amounts, e.g. "
                      "interval (n) hour, to_hours(n), n * interval 1 hour, interval '1 day 2 hours'", _interval_token(interval))
    if isinstance(node, exp.Sub):
        parts = tuple(_plus(0, part, -1) for part in parts)
    months, days, micros = parts
    value = interval_operand(node)

    def exact(moved: exp.Expression) -> exp.Expression:
        if isinstance(micros, int) and micros == 0:
            return moved
        return _call("TIMESTAMP_MICROS", _plus(_call("UNIX_MICROS", moved), micros))

    def calendar(moved: exp.Expression) -> exp.Expression:
        if all(isinstance(part, int) and part == 0 for part in (months, days)):
            return moved
        amounts = [exp.Literal.number(part) if isinstance(part, int) else _call("INT", part.copy()) for part in (months, days)]
        zero = exp.Literal.number(0)
        return exp.Add(this=moved, expression=_call("MAKE_INTERVAL", zero, amounts[0], zero.copy(), amounts[1], zero.copy(),
                                                    zero.copy(), zero.copy()))

    if all(isinstance(part, int) and part == 0 for part in (months, days)):  # a duration only: no order to pick
        return exact(value.copy())
    if any(isinstance(part, int) and part < 0 for part in parts):
        return calendar(exact(value.copy()))
    if all(isinstance(part, int) for part in parts):
        return exact(calendar(value.copy()))
    # a computed part: its sign, known when run, picks the order
    negative = exp.or_(*[exp.LT(this=part.copy(), expression=exp.Literal.number(0)) for part in parts if not isinstance(part, int)])
    return exp.If(this=negative, true=calendar(exact(value.copy())), false=exact(calendar(value.copy())))


def _interval_token(interval: exp.Expression) -> str:
    """A word of the interval as the user wrote it (a refusal finds its line by it)."""
    while isinstance(interval, exp.Paren):
        interval = interval.this
    if isinstance(interval, exp.Anonymous):
        return interval.name
    return "interval"


def _format(value: exp.Expression, pattern: str) -> exp.Expression:
    return _call("DATE_FORMAT", value, exp.Literal.string(pattern))


def _padded(value: exp.Expression, width: int) -> exp.Expression:
    return _call("LPAD", exp.cast(value, "text"), exp.Literal.number(width), exp.Literal.string("0"))


def _strftime_codes(x: exp.Expression) -> dict[str, Callable[[], exp.Expression]]:
    """DuckDB's strftime codes as Spark expressions over fields (YEAR, HOUR, ... read a wall
    time as it is, and an instant in the session zone, as DuckDB formats a timestamptz)."""
    def field(name: str) -> exp.Expression:
        return _call(name, x.copy())

    def hour12() -> exp.Expression:
        return exp.Add(this=exp.Mod(this=exp.paren(exp.Add(this=field("HOUR"), expression=exp.Literal.number(11))),
                                    expression=exp.Literal.number(12)), expression=exp.Literal.number(1))

    micros = exp.Mod(this=exp.cast(exp.Mul(this=sparkvalues.exact_seconds(x.copy()),
                                           expression=exp.Literal.number(1000000)), "int"), expression=exp.Literal.number(1000000))
    named = exp.cast(x, "date")  # names of days and months: a date has no zone to go through
    noon = exp.LT(this=field("HOUR"), expression=exp.Literal.number(12))
    return {
        "Y": lambda: _padded(field("YEAR"), 4), "y": lambda: _padded(exp.Mod(this=field("YEAR"), expression=exp.Literal.number(100)), 2),
        "m": lambda: _padded(field("MONTH"), 2), "-m": lambda: exp.cast(field("MONTH"), "text"),
        "d": lambda: _padded(field("DAY"), 2), "-d": lambda: exp.cast(field("DAY"), "text"),
        "H": lambda: _padded(field("HOUR"), 2), "-H": lambda: exp.cast(field("HOUR"), "text"),
        "I": lambda: _padded(hour12(), 2), "-I": lambda: exp.cast(hour12(), "text"),
        "M": lambda: _padded(field("MINUTE"), 2), "-M": lambda: exp.cast(field("MINUTE"), "text"),
        "S": lambda: _padded(field("SECOND"), 2), "-S": lambda: exp.cast(field("SECOND"), "text"),
        "j": lambda: _padded(field("DAYOFYEAR"), 3), "f": lambda: _padded(micros.copy(), 6),
        "p": lambda: exp.If(this=noon.copy(), true=exp.Literal.string("AM"), false=exp.Literal.string("PM")),
        "a": lambda: _format(named.copy(), "EEE"), "A": lambda: _format(named.copy(), "EEEE"),
        "b": lambda: _format(named.copy(), "MMM"), "B": lambda: _format(named.copy(), "MMMM"),
        "%": lambda: exp.Literal.string("%"),
    }


def _strftime(node: exp.TimeToStr) -> exp.Expression:
    """strftime(x, 'literal format') as a CONCAT of fields; another format, or a code not
    listed, keeps sqlglot's DATE_FORMAT."""
    fmt = node.args.get("format")
    if not isinstance(fmt, exp.Literal) or not fmt.is_string or "%" not in fmt.name:
        return node
    codes = _strftime_codes(node.this)
    parts: list[exp.Expression] = []
    for text, code in re.findall(r"([^%]*)(?:%(-?.)|$)", fmt.name):
        if text:
            parts.append(exp.Literal.string(text))
        if code:
            if code not in codes:
                return node
            parts.append(codes[code]())
    return _call("CONCAT", *parts)


def _wall_trunc(value: exp.Expression, unit: str) -> exp.Expression:
    """date_trunc of a wall time (or a date) as a wall time, never through the session zone."""
    day = exp.cast(value, "date")
    if unit in ("YEAR", "QUARTER", "MONTH", "WEEK"):
        return exp.cast(_call("TRUNC", day, exp.Literal.string(unit)), "timestamp")
    start = exp.cast(day, "timestamp")
    if unit == "DAY":
        return start
    hours = _call("HOUR", value.copy())
    steps = {"HOUR": hours,
             "MINUTE": exp.Add(this=exp.Mul(this=hours, expression=exp.Literal.number(60)), expression=_call("MINUTE", value.copy()))}
    steps["SECOND"] = exp.Add(this=exp.Mul(this=exp.paren(steps["MINUTE"].copy()), expression=exp.Literal.number(60)),
                              expression=_call("SECOND", value.copy()))
    if unit not in steps:  # finer units: the session zone only matters in a gap; kept a wall time
        return exp.cast(_call("DATE_TRUNC", exp.Literal.string(unit), value), "timestamp")
    return _call("TIMESTAMPADD", exp.var(unit), steps[unit], start)


def _text_operands(node: exp.Concat, kinds) -> exp.Expression:
    """concat's operands cast to text: sqlglot's COALESCE(x, '') fails on a number. `kinds`:
    each operand's family (None: unknown). A timestamptz is written with its offset as DuckDB
    writes it; a double is refused (Spark writes 1e20 as '1.0E20', DuckDB as '1e+20')."""
    def texted(arg: exp.Expression) -> bool:
        return arg.is_string or isinstance(arg, exp.Cast) and arg.to.this in exp.DataType.TEXT_TYPES

    kinds = kinds if isinstance(kinds, tuple) and len(kinds) == len(node.expressions) else (None,) * len(node.expressions)

    def as_text(arg: exp.Expression, kind: str | None) -> exp.Expression:
        kind = _written_family(arg, kind)
        if kind == "double":
            raise Refused(f"concat(..., {arg.sql('duckdb')}, ...) writes a double as other text on spark "
                          "(1e20 is '1.0E20' there, '1e+20' in DuckDB): cast it to a decimal first, "
                          "e.g. cast(x as decimal(18, 6))", "concat")
        if kind == "timestamptz":
            return _zoned_text(arg)
        return arg if texted(arg) else exp.cast(arg, "text")

    if all(texted(arg) for arg in node.expressions):
        return node
    node = node.copy()
    node.set("expressions", [as_text(arg, kind) for arg, kind in zip(node.expressions, kinds)])
    return node


def _piped_operands(node: exp.DPipe, kinds) -> exp.Expression:
    """s || x as DuckDB writes x, like concat (_text_operands): a double refused, a timestamptz
    with its offset. `kinds`: the family of each side (None: unknown)."""
    sides = (node.this, node.expression)
    kinds = kinds if isinstance(kinds, tuple) and len(kinds) == 2 else (None, None)
    written = []
    for side, kind in zip(sides, kinds):
        kind = _written_family(side, kind)
        if kind == "double":
            raise Refused(f"... || {side.sql('duckdb')} writes a double as other text on spark "
                          "(1e20 is '1.0E20' there, '1e+20' in DuckDB): cast it to a decimal first, "
                          "e.g. cast(x as decimal(18, 6))", "||" + _as_written(side))
        written.append(_zoned_text(side) if kind == "timestamptz" else side)
    if all(new is old for new, old in zip(written, sides)):
        return node
    node = node.copy()
    node.set("this", written[0])
    node.set("expression", written[1])
    return node


def _as_written(operand: exp.Expression) -> str:
    """The operand's DuckDB text with its columns unqualified, as the user likely wrote it
    (portability.line_of_error finds the line by it)."""
    unqualified = operand.transform(lambda node: exp.column(node.name) if isinstance(node, exp.Column) else node)
    return unqualified.sql("duckdb")


def _written_family(operand: exp.Expression, kind: str | None) -> str | None:
    """The family of a concat or || operand as its SQL says (a cast, a number literal), else
    `kind`. A number literal is a DECIMAL on both engines (sqlglot types 1.5 as a double) but
    with an exponent or past 38 digits, a DOUBLE on both."""
    if isinstance(operand, exp.Cast) and operand.to.this not in exp.DataType.TEXT_TYPES:
        return _stated_family(operand.to) or kind
    if isinstance(operand, exp.Literal) and not operand.is_string:
        digits = sum(char.isdigit() for char in operand.name)
        return "double" if "e" in operand.name.lower() or digits > 38 else "decimal"
    return kind


def _stated_family(kind: exp.DataType) -> str | None:
    """'double' or 'timestamptz' for a cast that says so, the families concat writes differently."""
    if kind.this in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT):
        return "double"
    if kind.this in (exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ):
        return "timestamptz"
    return None


def _double_rounding(node: exp.Ceil | exp.Floor) -> exp.Expression:
    """Spark's CEIL/FLOOR of a double is a BIGINT (overflowing past 2^63); DuckDB's a DOUBLE.
    At 2^52 and above (and for NaN and infinities, which Spark orders above every number)
    a double is its own ceiling."""
    value = node.this
    rounded = exp.cast(_call("CEIL" if isinstance(node, exp.Ceil) else "FLOOR", value.copy()), "double")
    small = exp.LT(this=_call("ABS", value.copy()), expression=_EXACT_DOUBLE.copy())
    return exp.If(this=small, true=rounded, false=value.copy())


def _double_average(avg: exp.Avg, window: exp.Window | None = None) -> exp.Expression:
    """avg(decimal) as DuckDB's DOUBLE: the exact decimal sum over the count (Spark's AVG is a
    DECIMAL rounded to 6 places); NULL over no values, as AVG."""
    if isinstance(avg.this, exp.Distinct):
        return window or avg

    def over(call: exp.Expression) -> exp.Expression:
        if window is None:
            return call
        copy = window.copy()
        copy.set("this", call)
        return copy

    total = exp.cast(over(exp.Sum(this=avg.this.copy())), "double")
    count = exp.Nullif(this=over(exp.Count(this=avg.this.copy())), expression=exp.Literal.number(0))
    return exp.paren(exp.Div(this=total, expression=count, typed=True))


def summand(node: exp.Sum) -> exp.Expression:
    """What sum(x) sums: x, also in sum(distinct x)."""
    value = node.this
    return value.expressions[0] if isinstance(value, exp.Distinct) and len(value.expressions) == 1 else value


def _wide_sum(node: exp.Sum) -> exp.Expression:
    """sum(integer) as DuckDB's HUGEINT: over DECIMAL(38, 0) (Spark's SUM of a BIGINT is one,
    failing past 2^63)."""
    node = node.copy()
    wide = exp.cast(summand(node).copy(), WIDE_INTEGERS[exp.DataType.Type.INT128])
    if isinstance(node.this, exp.Distinct):
        node.this.set("expressions", [wide])
    else:
        node.set("this", wide)
    return node


def _cast_to(node: exp.Expression | None, *kinds) -> bool:
    return isinstance(node, exp.Cast) and node.to.is_type(*kinds)

"""Calls that sqlglot translates word for word although the target means something else.

A step written for DuckDB must publish the same values on every target. sqlglot keeps
the spelling of these calls, and Spark runs them with another meaning, silently:

=================================  ==============================  ==========================
DuckDB                             Spark as translated             written for Spark here
=================================  ==============================  ==========================
cast(2.5::double as int) = 2       CAST truncates: 3.7 -> 3        CAST(BROUND(x) AS INT)
cast(2.5::decimal as int) = 3      (half-even for doubles, half    CAST(ROUND(x) AS INT)
                                   away from zero for decimals)
log(x) is log10                    LOG(x) is ln                    LOG(10, x)
dayofweek / extract(dow): Sun=0    DAYOFWEEK: Sunday=1             DAYOFWEEK(d) - 1
isodow / extract(isodow): Mon=1    (DAYOFWEEK(d) % 7) + 1: wrong   WEEKDAY(d) + 1
date_diff('day', a, b) counts      counts whole days elapsed       DATEDIFF(DAY,
boundaries crossed (23:00 -> 01:00 = 1)                            DATE_TRUNC('DAY', a), ...)
date_diff('week', a, b): whole     whole weeks of time elapsed     DATEDIFF(WEEK, DATE_TRUNC(
weeks of the days crossed                                          'DAY', a), ...)
regexp_replace(s, p, r) replaces   replaces every match            refused (no first-only
the first match only                                               replace on Spark)
regexp_replace(.., '\\1', 'g')     \\1 is a literal 1              $1
cast(double as varchar)            Java's text: '1.0E10'           refused where the compiler
                                                                   knows it is a double
extract(epoch from ts)             fails when run                  UNIX_MICROS(ts) / 1e6
epoch(ts): seconds with fraction   UNIX_TIMESTAMP: whole seconds   UNIX_MICROS(ts) / 1e6
s SIMILAR TO 'a.*': a full regex   fails when run                  s RLIKE '^(?:a.*)$'
match (PostgreSQL: SQL pattern)
quantile_cont(x, q) over (...)     fails when run                  PERCENTILE(x, q) OVER
epoch_ms(ts): milliseconds,        TIMESTAMP_MILLIS(ts): fails     CAST(ROUND(UNIX_MICROS(ts)
rounded half away from zero        when run                        / 1000D) AS BIGINT)
epoch_ms(n): a timestamp           TIMESTAMP_MILLIS(n)             kept; an operand whose type
                                                                   only the catalog knows:
                                                                   refused (cast it)
a / b of decimals is a DOUBLE      DECIMAL at Spark's scale        a / CAST(b AS DOUBLE)
(1.0 / 3.0 = 0.3333333333333333)   (0.333333), NULL past 38 digits
s SIMILAR TO p ESCAPE 'c':         RLIKE ... ESCAPE: fails         refused
DuckDB refuses it too
regexp_replace(s, p, column):      $ and \\ in its values mean      refused (a string literal
\\1 in the values is a group        other things                    is rewritten, above)
regex '.' stops at \\n only,       Java: '.' stops at \\r, \\u2028   '.' as [^\\n], $ as \\z
$ matches at the end only          ...; $ before a final \\n too     (literal patterns; others
(regexp_matches, ~, SIMILAR TO,                                    refused)
regexp_replace, ...)
regexp_matches(s, p, 'i')          RLIKE: the 'i' is dropped       '(?iu)' || p
(?s) at a regex's start: '.'       (?s)'s dots were [^\\n]; (?m)'s   (?s): '.' kept; (?m): ^ and
matches \\n; (?m): ^ $ at each \\n   ^ $ also at \\r, $ was \\z; (?U)  $ as (?<![^\\n]), (?![^\\n]);
(?U): ungreedy                     is Unicode classes there        (?U), flags elsewhere: refused
=================================  ==============================  ==========================

PostgreSQL agrees with DuckDB on all of these as sqlglot writes them (casts: both round
doubles half to even and numerics half away from zero; LOG(x) is log10 there too), except
date_diff('week', a, b) (sqlglot's CAST(EXTRACT(days ...) / 7 AS BIGINT) rounds: 4 days
made a week; written as the day difference / 7 in integers), SIMILAR TO (a SQL pattern
there: written as ~ '^(?:pattern)$'), log(b, x) (NUMERIC only there: cast to it), a
double cast to text ('3' there, '3.0' in DuckDB: refused like on Spark), and
that it has no DAY_OF_WEEK/DAYOFWEEK_ISO
functions: dayofweek(d) and isodow(d) become CAST(EXTRACT(DOW/ISODOW FROM d) AS BIGINT).
Also, for PostgreSQL:

- round of a double, substring from the end, strftime, LIKE's escape, list[-1],
  date_trunc of a date, format, //, avg, extract(epoch), concat of a double, date_diff of
  instants and mixed regex greediness: see toolkit/pgmeanings.py.
- regular expressions: see toolkit/regexmeanings.py ('.' matches a newline there; \\0 in a
  replacement).
- quantile_cont / quantile_disc / median OVER (...) become PERCENTILE_CONT(q) WITHIN GROUP
  (...) OVER, which PostgreSQL does not run: refused.
- epoch_ms(ts) is written CAST(ROUND(EXTRACT(EPOCH FROM ts) * 1000) AS BIGINT) (sqlglot
  wrote the milliseconds-to-timestamp function, which fails on a timestamp) and epoch_ms(n)
  a TIMESTAMP (TO_TIMESTAMP(...) AT TIME ZONE 'UTC'; sqlglot's is a TIMESTAMPTZ); an operand
  of unknown type is refused as on Spark. SIMILAR TO ... ESCAPE is refused.

A division by zero: DuckDB 2's `/` (a double division) gives inf, -inf or NaN, and a % of
doubles or REALs NaN; Spark (ANSI mode, Spark 4's default) raises: written there as an IF on
the divisor (sparkvalues._ieee_by_zero). PostgreSQL raises too: written there as a CASE on
the divisor (pgmeanings._ieee_quotient).

`repair(tree, write, read, types)` rewrites a copy; a call with no equivalent raises
Refused (the compile-time check reports it at the user's line, exit 2). Which calls mean
DuckDB's thing depends on the dialect the step was read in (`read`): Spark's own
DAYOFWEEK parses to the same node, so the day-of-week rewrite is only for DuckDB-like
readers. Casts need the operand's type: `types(cast)` says whether it is fractional
("double", "decimal"), not ("other") or unknown (None: rounded as a double, which is
harmless for integers).
"""

from __future__ import annotations

import functools
import re
from typing import Callable

from sqlglot import exp

from toolkit import argminmax, pgmeanings, snowflakemeanings, sparkmeanings
from toolkit.doubletext import refuse_double_text
from toolkit.regexmeanings import (REGEX_CALLS, Refused, one_line_dots, postgres_replacement, refuse_unportable,
                                      similar_to, spark_flags, spark_replace, spelled)

# Readers whose day of week counts Sunday=0..Saturday=6 (and isodow Monday=1..Sunday=7).
_SUNDAY_ZERO = {"duckdb", "postgres", "snowflake", "redshift"}
INTEGERS = {
    exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT,
    exp.DataType.Type.UTINYINT, exp.DataType.Type.USMALLINT, exp.DataType.Type.UINT, exp.DataType.Type.UBIGINT,
    exp.DataType.Type.INT128, exp.DataType.Type.UINT128,
}
# DuckDB counts the boundaries of these units between a and b (sqlglot marks such a
# DateDiff date_part_boundary); Spark's DATEDIFF(unit, ...) counts whole units elapsed.
_TRUNCATABLE = {"YEAR", "QUARTER", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"}


def repair(tree: exp.Expression, write: str, read: str | None = None,
           types: Callable[[exp.Cast], str | None] | None = None) -> exp.Expression:
    """`tree` with DuckDB's meanings kept on `write` (a copy when changed)."""
    if write == "spark":
        return tree.transform(_deep(lambda node: _spark(node, read, types or (lambda cast: None))))
    if write == "postgres" and read in _SUNDAY_ZERO:
        return tree.transform(_deep(lambda node: _postgres(node, read, types or (lambda cast: None))))
    if write == "postgres" and orders_by_code_point(read):  # its text order only (DATABASE_COLLATION_READERS)
        return tree.transform(_deep(lambda node: pgmeanings.in_code_point_order(node, types or (lambda cast: None))))
    return tree


# Readers whose own text order (ORDER BY, min/max, <, BETWEEN) is the database's collation,
# as PostgreSQL's: a step written for PostgreSQL keeps it there. Every other reader's text is
# ordered by code point on PostgreSQL (pgmeanings.in_code_point_order: COLLATE "C"): DuckDB,
# Snowflake (no collation specified: UTF-8 bytes), BigQuery, Spark and Databricks
# (UTF8_BINARY), Hive, Trino, Presto and Athena, Redshift, ClickHouse and SQLite (BINARY)
# order by code point (or bytes) themselves. A dialect whose default is unclear or set per
# server (MySQL's and T-SQL's case-insensitive collations, Oracle's NLS_SORT, Teradata's,
# Materialize's, ...) is given the same code point order: DuckDB's, toolkit's reference
# engine, where the same project runs with code point order.
DATABASE_COLLATION_READERS = frozenset({"postgres"})


def orders_by_code_point(read: str | None) -> bool:
    """Whether text read as `read` is ordered by code point (DuckDB's order) on PostgreSQL."""
    return read is not None and read not in DATABASE_COLLATION_READERS


def _deep(fun: Callable[[exp.Expression], exp.Expression]) -> Callable[[exp.Expression], exp.Expression]:
    """`fun` also applied inside what it returns (sqlglot's transform skips a replacement's
    children: the log in cast(log(x) as int) would keep Spark's meaning)."""
    def apply(node: exp.Expression) -> exp.Expression:
        new = fun(node)
        if new is node:
            return node
        return new.transform(lambda inner: inner if inner is new else apply(inner), copy=False)
    return apply


def _spark(node: exp.Expression, read: str | None, types) -> exp.Expression:
    if isinstance(node, exp.DataType) and node.this is exp.DataType.Type.TIMESTAMPTZ:
        # sqlglot writes TIMESTAMP, an instant only by Spark's default: toolkit's sessions
        # make TIMESTAMP a wall time (spark.sql.timestampType = TIMESTAMP_NTZ)
        return exp.DataType.build("timestampltz")
    if isinstance(node, exp.DataType) and node.this in sparkmeanings.WIDE_INTEGERS:
        return exp.DataType.build(sparkmeanings.WIDE_INTEGERS[node.this])  # no INT128 there
    if read == "duckdb":
        refuse_unportable(node, "spark")
        if isinstance(node, exp.UnixToTime) and _is_epoch_ms(node):
            return _epoch_ms(node, "spark", time_kind(node, types) == "timestamptz")
        new = sparkmeanings.repair(node, lambda typed_node: time_kind(typed_node, types))
        if new is not node:
            return new
        if isinstance(node, exp.Div) and not node.args.get("typed"):
            return _double_division(node)
        if isinstance(node, exp.SimilarTo):
            return similar_to(node, "spark")
        if isinstance(node, exp.RegexpReplace):
            node = spark_replace(node)
        if isinstance(node, (exp.RegexpLike, exp.RegexpILike)):
            node = spark_flags(node)
        if isinstance(node, REGEX_CALLS):
            return one_line_dots(node, spelled(node), "spark")
    if isinstance(node, exp.Cast) and node.to.this in INTEGERS:
        return _rounded_cast(node, types(node))
    if isinstance(node, exp.Cast):  # concat: sparkmeanings, each argument
        refuse_double_text(node, types, "spark", "1e10 is '1.0E10' there")
    if isinstance(node, exp.Log) and node.args.get("expression") is None:
        return exp.Log(this=exp.Literal.number(10), expression=node.this)
    if isinstance(node, exp.DateDiff) and node.args.get("date_part_boundary"):
        return _boundary_diff(node)
    if read == "duckdb" and _is_week_diff(node):  # whole weeks of the days crossed: 23:00 to 01:00 a week on counts
        return _boundary_diff(node, "DAY")
    if isinstance(node, exp.RegexpReplace):
        return spark_replace(node)
    if isinstance(node, exp.Window) and isinstance(node.this, exp.PercentileCont) and node.this.args.get("expression"):
        # quantile_cont(x, q) OVER: Spark's PERCENTILE_CONT takes no fraction argument there;
        # PERCENTILE(x, q) interpolates linearly like DuckDB's
        window = node.copy()
        window.set("this", exp.Anonymous(this="PERCENTILE", expressions=[node.this.this, node.this.expression]))
        return window
    epoch = node.expression if isinstance(node, exp.Extract) and node.name.upper() == "EPOCH" else \
        node.this if read == "duckdb" and isinstance(node, exp.TimeToUnix) else None  # epoch(ts): UNIX_TIMESTAMP drops the fraction
    if epoch is not None:
        # a timestamptz is Spark's TIMESTAMP_LTZ: cast to TIMESTAMP (a wall time there), its
        # microseconds were those of the session zone's wall clock read as UTC
        zoned = time_kind(node, types) == "timestamptz"
        micros = exp.Anonymous(this="UNIX_MICROS", expressions=[exp.cast(epoch, "timestampltz" if zoned else "timestamp")])
        return exp.Div(this=exp.cast(micros, "double"), expression=exp.Literal.number("1000000.0"))
    if read in _SUNDAY_ZERO:
        day = _day_of_week(node)
        if day is not None:
            kind, value = day
            if kind == "dow":
                return exp.paren(exp.Sub(this=exp.Anonymous(this="DAYOFWEEK", expressions=[value]),
                                         expression=exp.Literal.number(1)))
            return exp.paren(exp.Add(this=exp.Anonymous(this="WEEKDAY", expressions=[value]),
                                     expression=exp.Literal.number(1)))
    return node


def _day_of_week(node: exp.Expression) -> tuple[str, exp.Expression] | None:
    """('dow' | 'isodow', the date) for a day-of-week call read with Sunday=0."""
    if isinstance(node, exp.DayOfWeekIso):
        return "isodow", node.this
    if isinstance(node, exp.DayOfWeek):
        return "dow", node.this
    if isinstance(node, exp.Extract) and isinstance(node.this, exp.Var):
        part = node.name.upper()
        if part in ("DOW", "DAYOFWEEK", "WEEKDAY"):
            return "dow", node.expression
        if part in ("ISODOW", "DAYOFWEEK_ISO", "DOW_ISO"):
            return "isodow", node.expression
    return None


def _postgres(node: exp.Expression, read: str, types) -> exp.Expression:
    if isinstance(node, exp.Cast):  # concat and ||: pgmeanings, when read as DuckDB
        refuse_double_text(node, types, "postgres", "3.0 is '3' there")
    if read == "duckdb":
        refuse_unportable(node, "postgres")
        if isinstance(node, (exp.Select, exp.SetOperation)):
            node = _by_position(node)
        new = snowflakemeanings.calendar_call(node)  # year(d), ...: DuckDB's BIGINT, as a Snowflake step's
        if new is not None:
            return new
        new = pgmeanings.repair(node, lambda typed_node: time_kind(typed_node, types), types)
        if new is not node:
            return new
        if isinstance(node, exp.Window) and isinstance(node.this, _WINDOW_QUANTILES):
            raise Refused(f"{spelled(node.this)}(...) OVER cannot run on postgres (its percentile_cont and "
                          "percentile_disc are not window functions there): aggregate in a subquery "
                          "grouped by the partition and join it", spelled(node.this))
        if isinstance(node, exp.UnixToTime) and _is_epoch_ms(node):
            return _epoch_ms(node, "postgres")
        if isinstance(node, exp.SimilarTo):
            return similar_to(node, "postgres")
        if isinstance(node, exp.RegexpReplace):
            node = postgres_replacement(node)
        if isinstance(node, REGEX_CALLS):
            return one_line_dots(node, spelled(node))
    elif orders_by_code_point(read):  # Snowflake's, Redshift's text: code point order there (DuckDB's: above)
        if read == "snowflake" and isinstance(node, (exp.Select, exp.SetOperation)):
            node = _by_position(node)  # Snowflake's GROUP BY ALL / ORDER BY ALL, as DuckDB's
        new = pgmeanings.in_code_point_order(node, types)
        if new is node and read == "snowflake":
            new = snowflakemeanings.repair(node, lambda typed_node: time_kind(typed_node, types), types)
        if new is not node:
            return new
    if isinstance(node, exp.Log) and node.args.get("expression") is not None:
        # log(b, x) exists there for NUMERIC only (DuckDB takes doubles): log(2, x) failed when run
        return exp.Log(this=exp.cast(node.this, "decimal"), expression=exp.cast(node.expression, "decimal"))
    if read == "duckdb" and _is_week_diff(node):
        # sqlglot writes CAST(days / 7 AS BIGINT) with a NUMERIC days: the cast rounds 4/7 up to
        # 1; DuckDB counts whole weeks of the days crossed, truncated toward zero
        days = exp.DateDiff(this=node.this, expression=node.expression, unit=exp.var("DAY"), date_part_boundary=True)
        return exp.cast(exp.Div(this=days, expression=exp.Literal.number(7), typed=True), "bigint")
    if read == "duckdb" and _date_part(node) is not None:
        return _postgres_extract(*_date_part(node))
    day = _day_of_week(node)
    if day is None or isinstance(node, exp.Extract):
        return node
    kind, value = day
    return exp.cast(exp.Extract(this=exp.var(kind.upper()), expression=value, postgres=True), "bigint")


# DuckDB's spellings of extract/date_part parts that PostgreSQL spells otherwise (sqlglot
# writes DuckDB's own back: a compiled step's extract(dow ...) is EXTRACT(DAYOFWEEK ...),
# which PostgreSQL refused when run); parts it has no equivalent of are refused.
_POSTGRES_PARTS = {"DAYOFWEEK": "DOW", "WEEKDAY": "DOW", "DAYOFYEAR": "DOY", "DAYOFWEEK_ISO": "ISODOW",
                   "DOW_ISO": "ISODOW", "DAYOFMONTH": "DAY", "WEEKOFYEAR": "WEEK"}
_NO_POSTGRES_PART = {"YEARWEEK", "ERA", "NANOSECOND", "NANOSECONDS"}
_DOUBLE_PARTS = {"EPOCH", "JULIAN"}  # a DOUBLE in DuckDB; every other part a BIGINT (epoch: see _date_part)
# Whole units in DuckDB (second 1 of 01.7), with the fraction on PostgreSQL (1.700000)
_TRUNCATED_PARTS = {"SECOND", "SECONDS", "MILLISECOND", "MILLISECONDS", "MICROSECOND", "MICROSECONDS"}


def _date_part(node: exp.Expression) -> tuple[str, exp.Expression] | None:
    """(the part, upper case, the value) of an extract(part from x) or date_part('part', x)
    not yet written for PostgreSQL."""
    if isinstance(node, exp.Extract) and isinstance(node.this, exp.Var) and not node.args.get("postgres"):
        # epoch: pgmeanings (a double, or toolkit's own exact NUMERIC)
        return None if node.name.upper() == "EPOCH" else (node.name.upper(), node.expression)
    if (isinstance(node, exp.Anonymous) and node.name.lower() in ("date_part", "datepart") and len(node.expressions) == 2
            and node.expressions[0].is_string):
        return node.expressions[0].name.upper(), node.expressions[1]
    return None


def _by_position(select: exp.Select | exp.SetOperation) -> exp.Expression:
    """DuckDB's GROUP BY ALL / ORDER BY ALL as the output positions they mean (PostgreSQL
    has neither: the step failed when built): grouped by every item without an aggregate,
    ordered by every item."""
    group, order = select.args.get("group"), select.args.get("order")  # a union has an order only
    group_all = group is not None and bool(group.args.get("all"))
    order_all = order is not None and len(order.expressions) == 1 and _orders_all(order.expressions[0])
    if not (group_all or order_all):
        return select
    items = select.selects  # of a union: its first query's
    if any(item.is_star for item in items):
        raise Refused(f"{'GROUP' if group_all else 'ORDER'} BY ALL over select * cannot be written for postgres "
                      "(it has no BY ALL): name the columns", "all")
    select = select.copy()
    if group_all:
        positions = [exp.Literal.number(i) for i, item in enumerate(items, 1) if item.find(exp.AggFunc) is None]
        select.set("group", exp.Group(expressions=positions) if positions else None)
    if order_all:
        how = order.expressions[0]
        select.set("order", exp.Order(expressions=[_positional_key(how, i) for i in range(1, len(items) + 1)]))
    return select


def _orders_all(node: exp.Expression) -> bool:
    """DuckDB's ORDER BY ALL (a query's only key)."""
    return isinstance(node, exp.Ordered) and isinstance(node.this, exp.Var) and node.this.name.upper() == "ALL" \
        and isinstance(node.parent, exp.Order) and isinstance(node.parent.parent, (exp.Select, exp.SetOperation))


def _positional_key(how: exp.Ordered, position: int) -> exp.Ordered:
    """ORDER BY ALL's key of the output column at `position` (1-based), typed as ALL's was
    (types: a family per output column; pgmeanings collates a text one)."""
    key = exp.Ordered(this=exp.Literal.number(position), desc=how.args.get("desc"), nulls_first=how.args.get("nulls_first"))
    if how._meta and "toolkit_cast" in how.meta:
        key.meta.update(toolkit_cast=how.meta["toolkit_cast"], toolkit_all_position=position - 1)
    return key


def _postgres_extract(part: str, value: exp.Expression) -> exp.Expression:
    """DuckDB's extract on PostgreSQL: its part's name there, and DuckDB's type (PostgreSQL's
    EXTRACT is a NUMERIC, its date_part a double)."""
    if part in _NO_POSTGRES_PART:
        raise Refused(f"extract({part.lower()} from ...) has no equivalent on postgres", part.lower())
    extract = exp.Extract(this=exp.var(_POSTGRES_PARTS.get(part, part)), expression=value, postgres=True)
    if part in _DOUBLE_PARTS:
        return exp.cast(extract, "double")
    whole = exp.Anonymous(this="TRUNC", expressions=[extract]) if part in _TRUNCATED_PARTS else extract
    return exp.cast(whole, "bigint")


_WINDOW_QUANTILES = (exp.PercentileCont, exp.PercentileDisc, exp.Median)  # quantile_cont, quantile_disc, median


def _is_epoch_ms(node: exp.UnixToTime) -> bool:
    scale = node.args.get("scale")
    return isinstance(scale, exp.Literal) and scale.name == "3"


_TIME_TYPES = {exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.DATE,
               exp.DataType.Type.TIMESTAMP_NS, exp.DataType.Type.TIMESTAMP_MS, exp.DataType.Type.TIMESTAMP_S,
               exp.DataType.Type.TIMESTAMPNTZ, exp.DataType.Type.DATETIME}


def _epoch_ms_kind(value: exp.Expression) -> str | None:
    """'time' or 'number' when the operand says which it is (a cast, a literal, a time
    function), None for a column or an expression whose type only the catalog knows."""
    while isinstance(value, exp.Paren):
        value = value.this
    if isinstance(value, exp.Cast):
        return "time" if value.to.this in _TIME_TYPES else "number" if value.to.this in INTEGERS else None
    if isinstance(value, exp.Literal):
        return None if value.is_string else "number"
    if isinstance(value, (exp.Mul, exp.Div, exp.IntDiv, exp.Mod)):  # no timestamp is multiplied
        return "number"
    if isinstance(value, (exp.CurrentTimestamp, exp.CurrentDate, exp.TimestampTrunc, exp.DateTrunc, exp.StrToTime,
                          exp.TimeStrToTime, exp.UnixToTime)):
        return "time"
    return None


def _epoch_ms(node: exp.UnixToTime, write: str, zoned: bool = False) -> exp.Expression:
    """DuckDB's epoch_ms is two functions: epoch_ms(timestamp) the milliseconds since the epoch
    (BIGINT), epoch_ms(bigint) the timestamp of those milliseconds. sqlglot always reads the
    second: TIMESTAMP_MILLIS(ts) (Spark) and TO_TIMESTAMP(CAST(ts AS DOUBLE) ...) fail when run."""
    kind = _epoch_ms_kind(node.this)
    if kind == "number" and write == "spark":  # TIMESTAMP_MILLIS is an instant there: DuckDB's a wall time in UTC
        epoch = exp.cast(exp.Literal.string("1970-01-01 00:00:00"), "timestamp")  # TIMESTAMP_NTZ on Spark
        return exp.Anonymous(this="TIMESTAMPADD", expressions=[exp.var("MILLISECOND"), node.this, epoch])
    if kind == "number":  # sqlglot's TO_TIMESTAMP(...) is a TIMESTAMPTZ there: DuckDB's is a TIMESTAMP
        seconds = exp.Div(this=exp.cast(node.this, "double"), expression=exp.Literal.number(1000))
        return exp.AtTimeZone(this=exp.Anonymous(this="TO_TIMESTAMP", expressions=[seconds]), zone=exp.Literal.string("UTC"))
    operand = node.this.sql("duckdb")
    if kind is None:
        raise Refused(f"epoch_ms({operand}) means the milliseconds of a timestamp or the timestamp of milliseconds "
                      f"in DuckDB, and toolkit cannot tell which here for {write}: write "
                      f"epoch_ms(cast({operand} as timestamp)) for the milliseconds (a BIGINT), or "
                      f"epoch_ms(cast({operand} as bigint)) for the timestamp", "epoch_ms")
    # DuckDB rounds the microseconds to the nearest millisecond, half away from zero (1.5005 s
    # is 1501 ms); Spark's UNIX_MILLIS floors: ROUND (half up, exact on a double below 2^53)
    value = exp.cast(node.this, "timestampltz" if zoned and write == "spark" else "timestamp")
    if write == "spark":
        micros = exp.Anonymous(this="UNIX_MICROS", expressions=[value])
        millis = exp.Div(this=micros, expression=exp.cast(exp.Literal.number(1000), "double"))
    else:  # EXTRACT(EPOCH ...) is an exact NUMERIC there, whose ROUND is half away from zero
        seconds = exp.Extract(this=exp.var("EPOCH"), expression=value, postgres=True)
        seconds.meta["toolkit_exact"] = True  # kept a NUMERIC (pgmeanings casts the user's to a double)
        millis = exp.Mul(this=seconds, expression=exp.Literal.number(1000))
    return exp.cast(exp.Round(this=millis), "bigint")


def _double_division(node: exp.Div) -> exp.Expression:
    """DuckDB's / is a DOUBLE for numbers (decimals too: 1.0 / 3.0 = 0.3333333333333333);
    Spark divides decimals as DECIMAL with its own scale (0.333333), or NULL past 38 digits.
    A DOUBLE divisor makes Spark divide as DuckDB does (an interval / n stays an interval)."""
    divisor = node.expression
    if any(isinstance(side, exp.Cast) and side.to.is_type("double") for side in (node.this, divisor)):
        return node
    node = node.copy()
    node.set("expression", exp.cast(divisor, "double"))
    return node


def _rounded_cast(cast: exp.Cast, kind: str | None) -> exp.Expression:
    """DuckDB rounds a fraction cast to an integer (doubles half to even, decimals half away
    from zero); Spark truncates it."""
    value = cast.this
    literal = _unsigned(value)  # -2.5 is a Neg of 2.5: a decimal as well (sqlglot types it a double)
    if isinstance(literal, exp.Literal) and not literal.is_string:
        text = literal.name.lower()
        kind = "other" if re.fullmatch(r"[+-]?\d+", text) else "double" if "e" in text else "decimal"
    if isinstance(value, (exp.Round, exp.Anonymous)) and value.name.upper() in ("ROUND", "BROUND"):
        return cast
    if kind not in ("double", "decimal", None):  # an integer, a boolean, a time: nothing to round
        return cast
    rounded = exp.Round(this=value) if kind == "decimal" else exp.Anonymous(this="BROUND", expressions=[value])
    cast = cast.copy()
    cast.set("this", rounded)
    return cast


def _is_date(node: exp.Expression) -> bool:
    return isinstance(node, exp.Cast) and node.to.is_type("date")


def _is_week_diff(node: exp.Expression) -> bool:
    return isinstance(node, exp.DateDiff) and not node.args.get("date_part_boundary") and \
        node.text("unit").upper().rstrip("S") == "WEEK"


def _boundary_diff(diff: exp.DateDiff, unit: str | None = None) -> exp.Expression:
    unit = unit or diff.text("unit").upper().rstrip("S") or "DAY"
    if unit not in _TRUNCATABLE:
        return diff
    if unit == "DAY" and all(_is_date(diff.args[key]) for key in ("this", "expression")):
        return diff  # whole days between dates are the days crossed
    diff = diff.copy()
    for key in ("this", "expression"):
        diff.set(key, exp.Anonymous(this="DATE_TRUNC", expressions=[exp.Literal.string(unit), diff.args[key]]))
    diff.set("date_part_boundary", None)
    return diff


ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod)


def _sided(node: exp.Expression) -> bool:
    """Arithmetic typed by each side (no interval in it): a tuple of families, "real" apart."""
    return isinstance(node, ARITHMETIC) and not (isinstance(node, (exp.Add, exp.Sub)) and
                                                 sparkmeanings.interval_operand(node) is not None)


def typed(node: exp.Expression) -> bool:
    """A cast whose meaning on Spark depends on its operand's type (to an integer or to text),
    or a call whose translation for Spark does (sparkmeanings.TYPED)."""
    if isinstance(node, exp.Cast):
        return node.to.this in INTEGERS or node.to.this in exp.DataType.TEXT_TYPES or node.to.this in _ZONED
    if isinstance(node, ARITHMETIC):  # d + interval: a DATE on Spark, a TIMESTAMP in DuckDB
        # d1 - d2 of dates: BIGINT days in DuckDB, an interval on Spark; arithmetic of a REAL
        # (float4): a REAL in DuckDB, a DOUBLE on Spark (sparkvalues.py)
        return True
    if isinstance(node, exp.DateAdd):  # date_add(d, interval ...): a TIMESTAMP in DuckDB, refused by Spark's DATE_ADD
        # dateadd(day, n, d) of another dialect: a DATE of a DATE there (intervals.keep_dates)
        return sparkmeanings.interval_operand(node) is not None or node.args.get("unit") is not None
    if isinstance(node, (exp.DateSub, exp.AddMonths)):  # a DATE of a DATE in some dialects (intervals.keep_dates)
        return True
    return isinstance(node, sparkmeanings.TYPED + pgmeanings.TYPED) or isinstance(node, exp.Extract) and node.name.upper() == "EPOCH" \
        or isinstance(node, exp.UnixToTime) and _is_epoch_ms(node)


def operand(node: exp.Expression) -> exp.Expression | None:
    """The argument of a typed node whose type decides its translation (concat: each of
    its arguments, operand_types)."""
    if isinstance(node, (exp.Add, exp.Sub)):
        return sparkmeanings.interval_operand(node)
    if isinstance(node, exp.DateAdd):  # date_add(x, interval ...), date_add(interval ..., x), dateadd(day, n, x)
        other = sparkmeanings.interval_operand(node)
        return node.this if other is None else other
    if isinstance(node, exp.Sum):
        return sparkmeanings.summand(node)
    return node.expression if isinstance(node, exp.Extract) else node.this


_ZONED = {exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ}
_WALL_TIMES = {exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ, exp.DataType.Type.DATETIME,
               exp.DataType.Type.TIMESTAMP_S, exp.DataType.Type.TIMESTAMP_MS, exp.DataType.Type.TIMESTAMP_NS}


def time_kind(node: exp.Expression, types) -> str | None:
    """'timestamptz', 'timestamp' (a wall time), 'date', another family or None (unknown) for
    the operand of a typed node: from the SQL itself when it says (a cast, AT TIME ZONE,
    current_timestamp), else from the catalog's types (`types`)."""
    if isinstance(node, (exp.Concat, exp.DPipe, exp.Format, exp.IntDiv)):  # of each operand; of //, DuckDB's integer type
        return types(node)
    if isinstance(node, exp.Sub) and sparkmeanings.interval_operand(node) is None:  # of each side
        return _stated_sides(node, types)
    if _sided(node):  # of each side
        return types(node)
    value = operand(node) if typed(node) else None
    while isinstance(value, exp.Paren):
        value = value.this
    if isinstance(value, exp.Cast):
        if isinstance(node, pgmeanings.BY_INTEGER_OPERAND) and value.to.this in _SIGNED_INTEGERS:
            return "integer"
        return _summed_family(value.to) if isinstance(node, exp.Sum) else _family(value.to)
    if isinstance(value, exp.AtTimeZone):  # DuckDB's AT TIME ZONE turns a wall time into an instant and back
        inner = time_kind(value, types)
        return {"timestamptz": "timestamp", "timestamp": "timestamptz", "date": "timestamptz"}.get(inner)
    if isinstance(value, exp.CurrentTimestamp) or isinstance(value, exp.UnixToTime) and value.args.get("scale") is None:
        return "timestamptz"  # to_timestamp(n) is one in DuckDB (sqlglot types it a TIMESTAMP)
    return types(node) if value is not None else None


def _stated_sides(node: exp.Sub, types) -> tuple | None:
    """The family of each side of a - b: a date cast or literal as it says, else the catalog's."""
    found = types(node)
    found = found if isinstance(found, tuple) and len(found) == 2 else (None, None)
    stated = tuple("date" if isinstance(side, exp.Cast) and side.to.is_type("date") else kind
                   for side, kind in zip((node.this, node.expression), found))
    return stated


def _unsigned(value: exp.Expression) -> exp.Expression:
    while isinstance(value, (exp.Paren, exp.Neg)):
        value = value.this
    return value


def cast_types(statement: exp.Expression, schema: dict, dialect: str,
               texts: bool = True, orders: bool = False) -> Callable[[exp.Cast], str | None] | None:
    """repair()'s `types` for `statement`'s integer (and, with `texts`, text) casts, typed
    against `schema`; None when it has none. Tags the casts (meta "toolkit_cast"): copies made
    after this keep the tag. With `orders`, also what sorts or compares text for PostgreSQL
    (pgmeanings.TEXT_ORDERED: "text" when it orders text)."""
    casts = []
    for node in statement.find_all(exp.Expression):
        if orders and (isinstance(node, pgmeanings.TEXT_ORDERED) or argminmax.ordering_key(node)) or \
                typed(node) and (texts or not isinstance(node, exp.Cast) or node.to.this in INTEGERS):
            casts.append(node)
        elif node._meta:  # a tag left by an earlier typing (compile's, with texts) would share a number
            node.meta.pop("toolkit_cast", None)
    if not casts:
        return None
    for number, cast in enumerate(casts):
        cast.meta["toolkit_cast"] = number
    found = operand_types(statement, schema, dialect)
    return lambda cast: found.get(cast.meta.get("toolkit_cast"))


# The calls whose operand family the step's own SQL says better than a catalog: a HUGEINT is
# published as NUMERIC(38, 0) on PostgreSQL, where it reads as a DECIMAL(38, 0) (divided as
# doubles by DuckDB's //, formatted as one, rounded as one); arithmetic: a REAL side (pgmeanings.real_sided:
# PostgreSQL reads its catalog for a run's statement only when the step's own SQL has one)
STEP_TYPED = (exp.IntDiv, exp.Format, exp.Round, exp.Trunc) + pgmeanings.REAL_ARITHMETIC


# Date arithmetic whose type in some dialects follows the date it adds to (a DATE of a DATE),
# and the meta key under which keep_step_families keeps that date's family (from the step's
# own SQL, typed at compile): a run's statement, typed by no catalog on PostgreSQL, keeps it
DATE_ARITHMETIC = (exp.DateAdd, exp.DateSub, exp.AddMonths, exp.Add, exp.Sub)
DATE_FAMILY = "toolkit_date_family"


def keep_step_families(tree: exp.Expression, types: Callable[[exp.Expression], str | None]) -> None:
    """Tag `tree`'s STEP_TYPED calls with their family typed from the step's own SQL (meta
    "toolkit_step_family", kept by copies: the run's statement): step_family prefers it to the
    family a run types from the catalog. Its DATE_ARITHMETIC: the family of what it adds to
    (meta DATE_FAMILY)."""
    for node in tree.find_all(*STEP_TYPED):
        family = types(node) if node._meta and "toolkit_cast" in node.meta else None
        if family is not None:
            node.meta["toolkit_step_family"] = family
        elif node._meta:
            node.meta.pop("toolkit_step_family", None)
    for node in tree.find_all(*DATE_ARITHMETIC):  # what a date plus days adds to (intervals.keep_dates)
        family = types(node) if node._meta and "toolkit_cast" in node.meta else None
        if isinstance(family, str):
            node.meta[DATE_FAMILY] = family
        elif node._meta:
            node.meta.pop(DATE_FAMILY, None)


def step_family(node: exp.Expression, catalog: str | None):
    """`node`'s family as its step's own SQL types it (keep_step_families), else `catalog`'s."""
    family = node.meta.get("toolkit_step_family") if node._meta else None
    return catalog if family is None else family


def unrefused(types: Callable[[exp.Expression], str | None] | None):
    """`types` that never refuses a double written as text (a cast or a concat argument): an
    engine's own typing, for toolkit's own statements too (monitoring casts bins to text);
    the user's steps were refused at compile, where the double is known."""
    if types is None:
        return None

    def kind_without_double_text(node: exp.Expression):
        kind = types(node)
        if isinstance(kind, tuple) and isinstance(node, (exp.Concat, exp.DPipe)):  # its operands written as text
            return tuple(None if family == "double" else family for family in kind)
        if isinstance(kind, tuple):  # arithmetic's sides: a double's % by 0 is NaN (sparkvalues._ieee_by_zero)
            return kind
        return None if kind == "double" and isinstance(node, exp.Cast) and node.to.this in exp.DataType.TEXT_TYPES else kind
    return kind_without_double_text


def operand_types(statement: exp.Expression, schema: dict, dialect: str) -> dict[int, str | None]:
    """{the cast's meta "toolkit_cast": its operand's family} for the tagged casts in
    `statement`, typed by sqlglot against `schema` ({db: {table: {column: type}}}) in a copy.
    Empty when sqlglot cannot qualify the statement (every operand is then unknown)."""
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    query = statement.expression if isinstance(statement, exp.Create) else statement
    if not isinstance(query, exp.Query):
        return {}
    query = _table_aliases(query.copy())
    try:
        typed = annotate_types(qualify(query, schema=schema, dialect=dialect, validate_qualify_columns=False,
                                       identify=False), schema=schema, dialect=dialect)
    except Exception:  # noqa: BLE001 (sqlglot cannot type it: every cast is rounded as if fractional)
        return {}
    found: dict[int, str | None] = {}
    for cast in typed.find_all(exp.Expression):
        number = cast.meta.get("toolkit_cast") if cast._meta else None
        if number is None:
            continue
        if isinstance(cast, (exp.Concat, exp.DPipe)):  # each operand's (Spark writes each as text its own way)
            operands = [cast.this, cast.expression] if isinstance(cast, exp.DPipe) else cast.expressions
            family = tuple(_family(argument.type) for argument in operands)
        elif isinstance(cast, exp.Format):  # each value's, as DuckDB's fmt writes it (a boolean 'true', a list '[1, 2]')
            family = tuple(_formatted_family(argument) for argument in cast.expressions)
        else:
            family = _operand_family(cast)
        known = found.get(number, family)
        found[number] = family if known == family else None  # copied twice with different types: unknown
    return found


def _table_aliases(query: exp.Expression) -> exp.Expression:
    """`query` with each table's alias a TableAlias: toolkit's own statements alias a table
    with `Table.as_` (datatests: ... AS t), an Identifier sqlglot's qualify fails on (their
    text orders were left untyped: no COLLATE "C" on a data test's w < 'b')."""
    for table in query.find_all(exp.Table):
        alias = table.args.get("alias")
        if isinstance(alias, exp.Identifier):
            table.set("alias", exp.TableAlias(this=alias))
    return query


def _operand_family(node: exp.Expression) -> str | None:
    """The family of a typed node's operand; of a // or concat, a fraction among its operands;
    of what orders text (pgmeanings.TEXT_ORDERED), "text" when it does."""
    if isinstance(node, sparkmeanings.INTERPOLATED) and _family(operand(node).type) == "decimal":
        return operand(node).type.sql("duckdb")  # with its precision and scale (sparkvalues.interpolated_decimal)
    if isinstance(node, pgmeanings.TEXT_ORDERED) and _orders_all(node):
        # ORDER BY ALL: each output column's (_by_position writes a key per position)
        return tuple(_text_order_family([item.unalias()]) for item in node.parent.parent.selects)
    if isinstance(node, pgmeanings.TEXT_ORDERED):
        return _text_order_family(pgmeanings.text_sides(node))
    if argminmax.ordering_key(node) and not typed(node):  # arg_min's k: an ORDER BY key on PostgreSQL
        return _text_order_family([node])
    if isinstance(node, pgmeanings.BY_INTEGER_OPERAND) and _signed_integer(operand(node)):
        return "integer"  # round(i), trunc(i): i itself, of its type, in DuckDB
    if isinstance(node, exp.Length):  # len(list): CARDINALITY there (LENGTH takes text)
        return _formatted_family(operand(node))
    if isinstance(node, exp.Sum):
        return _summed_family(operand(node).type)
    if _sided(node):  # a - b, a * b, ... without an interval: each side's
        return tuple(_arithmetic_family(side.type) for side in (node.this, node.expression))
    if not isinstance(node, pgmeanings.BY_ANY_OPERAND):
        return _family(operand(node).type)
    if isinstance(node, exp.IntDiv) and integer_quotient(node.this, node.expression):
        return integer_quotient(node.this, node.expression)
    sides = [node.this, node.expression] if isinstance(node, (exp.IntDiv, exp.DPipe, exp.Mod)) else node.expressions
    families = [_side_family(side) if isinstance(node, exp.IntDiv) else _family(side.type) for side in sides]
    if isinstance(node, exp.IntDiv) and "decimal" in families and "double" not in families and \
            all(_whole_decimal(side.type) for side, family in zip(sides, families) if family == "decimal"):
        return pgmeanings.WHOLE_DECIMAL
    return next((kind for kind in ("double", "decimal") if kind in families), "other" if None not in families else None)


def _arithmetic_family(kind: exp.DataType | None) -> str | None:
    """An arithmetic side's family, a REAL (float4) told from a DOUBLE (sparkvalues.py)."""
    return "real" if kind is not None and kind.this is exp.DataType.Type.FLOAT else _family(kind)


def _whole_decimal(kind: exp.DataType | None) -> bool:
    """A DECIMAL(p, 0): on Spark and PostgreSQL also how toolkit publishes a HUGEINT."""
    if kind is None or len(kind.expressions) != 2:
        return False
    scale = kind.expressions[1]
    return scale.name == "0" if isinstance(scale, (exp.DataTypeParam, exp.Literal)) else False


def _summed_family(kind: exp.DataType | None) -> str | None:
    """A summed operand's family: "integer" for an integer (DuckDB sums it as a HUGEINT), "real"
    for a REAL (DuckDB sums it as a DOUBLE, PostgreSQL as a REAL: pgmeanings)."""
    return "integer" if kind is not None and kind.this in INTEGERS else _arithmetic_family(kind)


# DuckDB's signed integer types, narrowest first, and the literals each holds
_SIGNED = (exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT,
           exp.DataType.Type.INT128)
_SIGNED_BITS = (8, 16, 32, 64, 128)


def integer_quotient(left: exp.Expression, right: exp.Expression) -> str | None:
    """DuckDB's type of `left // right` of signed integers ("tinyint" ... "int128", the
    wider side's; an integer literal takes the other side's type where it fits, else at
    least INTEGER's: tinyint // 2 is a TINYINT, tinyint // 300 an INTEGER), None when a
    side is no signed integer or its type is unknown. Typed sides only (operand_types)."""
    ranks = []
    literals = []
    for side in (left, right):
        value = _integer_literal(side)
        if value is not None:
            literals.append(next((rank for rank, bits in enumerate(_SIGNED_BITS) if -2 ** (bits - 1) <= value < 2 ** (bits - 1)),
                                 None))
            continue
        kind = _kept_integer(side).type
        if kind is None or kind.this not in _SIGNED:
            return None
        ranks.append(_SIGNED.index(kind.this))
    if None in literals:
        return None
    widest = max(ranks, default=None)
    for fits in literals:
        if widest is None or fits > widest:
            widest = max(fits, _SIGNED.index(exp.DataType.Type.INT), widest if widest is not None else 0)
    return _SIGNED[widest].value.lower()


def _kept_integer(side: exp.Expression) -> exp.Expression:
    """The integer round(i) or trunc(i) is in DuckDB (sqlglot types them DOUBLE): i, of its type."""
    while isinstance(side, exp.Paren):
        side = side.this
    if isinstance(side, pgmeanings.BY_INTEGER_OPERAND) and side.this is not None and _signed_integer(side.this):
        return _kept_integer(side.this)
    return side


def _integer_literal(side: exp.Expression) -> int | None:
    """The value of an integer literal (-1, (3)), None for anything else."""
    sign = 1
    while isinstance(side, (exp.Paren, exp.Neg)):
        sign = -sign if isinstance(side, exp.Neg) else sign
        side = side.this
    if isinstance(side, exp.Literal) and not side.is_string and re.fullmatch(r"\d+", side.name):
        return sign * int(side.name)
    return None


def _text_order_family(sides: list[exp.Expression]) -> str | None:
    """"text" when text is ordered: an operand that is no literal is text (a literal alone does
    not say: DuckDB reads d < '2024-01-01' of a date as dates), or every operand is a string
    literal; None when no operand's type is known; else "other"."""
    values = [side for side in sides if not (isinstance(side, exp.Literal) and side.is_string)]
    if not values:
        return "text" if sides else None
    families = [_ordered_value_family(side) for side in values]
    if "text" in families:
        return "text"
    return None if None in families else "other"


def _ordered_value_family(value: exp.Expression) -> str | None:
    """"text", another family or None (unknown) of a value text order compares. Where sqlglot
    left it untyped, as the project dialect's typing (compile) or PostgreSQL's (run) may: a
    conditional is what its results are (nvl2, Snowflake's decode: a CASE there; a result
    string literal is text, NULL says nothing), a call PostgreSQL types as text is text
    (left, replace, lpad: DuckDB's typing leaves them unknown). Both typings then agree."""
    while isinstance(value, exp.Paren):
        value = value.this
    family = "text" if _text_type(value.type) else _family(value.type)
    if family is not None:
        return family
    results = _conditional_results(value)
    if results is not None:
        families = ["text" if isinstance(result, exp.Literal) and result.is_string else _ordered_value_family(result)
                    for result in results if not isinstance(result, exp.Null)]
        if "text" in families:
            return "text"
        return None if None in families or not families else "other"
    returns = _postgres_typing().get(type(value), {}).get("returns")
    return "text" if isinstance(returns, exp.DataType.Type) and returns in exp.DataType.TEXT_TYPES else None


def _text_type(kind: exp.DataType | None) -> bool:
    return kind is not None and kind.this in exp.DataType.TEXT_TYPES


def _conditional_results(value: exp.Expression) -> list[exp.Expression] | None:
    """The values a conditional can take (its results), None when `value` is none."""
    if isinstance(value, exp.Case):
        return [branch.args.get("true") for branch in value.args.get("ifs") or []] + \
            ([value.args["default"]] if value.args.get("default") is not None else [])
    if isinstance(value, (exp.If, exp.Nvl2)):
        return [result for result in (value.args.get("true"), value.args.get("false")) if result is not None]
    if isinstance(value, exp.Coalesce):
        return [value.this, *value.expressions]
    if isinstance(value, exp.Nullif):
        return [value.this]
    if isinstance(value, exp.DecodeCase):  # decode(value, search, result, ..., default)
        arguments = value.expressions
        return arguments[2::2] + (arguments[-1:] if len(arguments) > 1 and len(arguments) % 2 == 0 else [])
    return None


@functools.cache
def _postgres_typing() -> dict:
    from sqlglot.dialects.dialect import Dialect

    return Dialect.get_or_raise("postgres").EXPRESSION_METADATA


# Calls sqlglot leaves untyped (or types otherwise) whose DuckDB type follows their first
# argument's: the same family (a decimal's trunc is a DECIMAL, an integer's round an integer:
# sqlglot says DOUBLE), or a DOUBLE but for a decimal (floor(int) and median(int) are
# DOUBLEs). A decimal // divides as doubles there, an integer // truncates (pgmeanings.py):
# an operand of unknown type was divided as written, a NUMERIC on PostgreSQL.
_SAME_FAMILY = (exp.Trunc, exp.Round, exp.ArgMax, exp.ArgMin, exp.First, exp.Last)
_DOUBLE_UNLESS_DECIMAL = (exp.Floor, exp.Ceil, exp.Median, exp.PercentileCont)
_NUMBERS = ("other", "double", "decimal")
# round and trunc of these are the integer itself in DuckDB (of an unsigned one a BIGINT)
_SIGNED_INTEGERS = INTEGERS - {exp.DataType.Type.UTINYINT, exp.DataType.Type.USMALLINT, exp.DataType.Type.UINT,
                               exp.DataType.Type.UBIGINT, exp.DataType.Type.UINT128}


def _signed_integer(node: exp.Expression) -> bool:
    """A signed integer in DuckDB: typed one, or round/trunc of one (sqlglot says DOUBLE)."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, pgmeanings.BY_INTEGER_OPERAND) and node.this is not None:
        return _signed_integer(node.this)
    return node.type is not None and node.type.this in _SIGNED_INTEGERS


def _side_family(node: exp.Expression) -> str | None:
    """The family of a // operand in DuckDB: sign() is a TINYINT whatever it signs (sqlglot
    says INT), the calls above follow their argument."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Sign):
        return "other"
    return _untyped_call_family(node) or _family(node.type)


def _untyped_call_family(node: exp.Expression) -> str | None:
    """The family of a // operand sqlglot did not type, when it is one of the calls above."""
    while isinstance(node, exp.Paren):
        node = node.this
    if not isinstance(node, _SAME_FAMILY + _DOUBLE_UNLESS_DECIMAL) or node.this is None:
        return None
    argument = _side_family(node.this)
    if argument not in _NUMBERS:
        return None
    if isinstance(node, _SAME_FAMILY) or argument == "decimal":
        return argument
    return "double"


def _formatted_family(value: exp.Expression) -> str | None:
    """A format() argument's family, "boolean" or "nested" (a list, struct or map) apart:
    DuckDB's fmt writes them 'true' and '[1, 2]', PostgreSQL's %s 't' and '{1,2}'."""
    kind = value.type
    if kind is not None and kind.this is exp.DataType.Type.BOOLEAN:
        return "boolean"
    if kind is not None and kind.this in (exp.DataType.Type.ARRAY, exp.DataType.Type.LIST, exp.DataType.Type.STRUCT,
                                          exp.DataType.Type.MAP):
        return "nested"
    return _family(kind)


def _family(kind: exp.DataType | None) -> str | None:
    if kind is None or kind.this in (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
        return None
    if kind.this in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT, exp.DataType.Type.UDOUBLE):
        return "double"
    if kind.this in exp.DataType.REAL_TYPES:
        return "decimal"
    if kind.this in _ZONED:
        return "timestamptz"
    if kind.this in _WALL_TIMES:
        return "timestamp"
    if kind.this is exp.DataType.Type.DATE:
        return "date"
    if kind.this is exp.DataType.Type.INTERVAL:
        return "interval"  # its text is DuckDB's own ('1 month', '-1 day'): pgmeanings.duckdb_interval_text
    return "other"

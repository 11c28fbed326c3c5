"""DuckDB calls that PostgreSQL runs with another value or type as sqlglot writes them (the
rows meanings.py's docstring does not list), written here for PostgreSQL or refused:

=================================  ==============================  ===========================
DuckDB                             PostgreSQL as sqlglot wrote it  written here
=================================  ==============================  ===========================
round(double, n): the exact       half to even (2.5 -> 2);        TRUNC(y) + SIGN(y) past .5,
decimal of the bits, half away     round(double, n) does not       y = x * 10^n, at .5 the sign
from zero (2.675 -> 2.67)          exist (a NUMERIC cast: 2.68)    of y's exact error; a double
                                                                   (n beyond 0..7: refused)
substring(s, -3, 2): counted       positions before the first      the start written
from the end ('rl')                character: ''                   LENGTH(s) + start + 1
strftime(t, '%u %w %p'):           TO_CHAR(t, 'D %w %p'): Sunday   TO_CHAR with ID, AM, literal
7 0 AM (and literal text kept)     =1, '%3', '%p' (letters of      text quoted, %w as
                                   text read as patterns)          EXTRACT(DOW); others refused
s LIKE 'a\\%': no escape          backslash escapes               backslashes doubled in a
character                                                          literal pattern, else
                                                                   ESCAPE ''
list[-1]: from the end             NULL                            list[CARDINALITY(list)]
date_trunc(u, date): a TIMESTAMP   a TIMESTAMPTZ                   CAST(... AS TIMESTAMP)
regex mixing lazy and greedy       the first quantifier decides    refused
quantifiers ('a.*?b.*')            for the whole pattern
format('{}-{}', a, b): NULL when   '{}-{}' (braces are text); %s   CAST(a AS TEXT) || '-' ||
a value is (each read once)        writes NULL as ''               CAST(b AS TEXT) (|| is NULL
                                                                   when an operand is); other
                                                                   {..} refused
format('{}', x): fmt's text,       %s: 't', '3', '2.50', '{1,2}'   CAST(x AS TEXT) ('true'); a
'true', '3.0', '2.5', '[1, 2]'                                     double, decimal or list
                                                                   refused
round(i), trunc(i), round(i, 2)    a DOUBLE (7.0), a NUMERIC        (i); round(i, -1) refused
of an integer: i, of its type                                      unless cast to an integer
sign(x): a TINYINT                 x's type (a double: 1.0)        CAST(SIGN(x) AS SMALLINT)
upper('ß'): 'ẞ'                    'ß' (libc), 'SS' (ICU)          UPPER(REPLACE(s, 'ß', 'ẞ'))
array_length(list): 0 for []       ARRAY_LENGTH(l, 1): NULL        CARDINALITY (an INTEGER,
                                                                   a BIGINT when published)
length(s): a BIGINT                an INTEGER                      CAST(... AS BIGINT) when
                                                                   published (a select item,
                                                                   or through +, -, *, %, abs)
i // 2.0: DuckDB 2 divides         DIV: the truncated NUMERIC 3    CAST(i AS DOUBLE PRECISION)
doubles and decimals (3.5)                                         / CAST(2.0 AS ...)
i // j of integers: an integer     DIV: a NUMERIC                  i / j
i // j of unknown types            DIV                             i / j (a NUMERIC for decimals)
avg(int), extract(epoch): DOUBLE   NUMERIC (cast to an integer,    CAST(... AS DOUBLE PRECISION)
                                   .5 rounds away from zero)
stddev, variance, var_pop, ... of  NUMERIC                         the operand cast to DOUBLE
integers, decimals: DOUBLE                                         PRECISION
sum(real): a DOUBLE (summed as     a REAL (summed as one)          the operand cast to DOUBLE
doubles)                                                           PRECISION
real (float4) +, -, *, / an        a DOUBLE PRECISION (an integer  the other side cast to REAL
integer, a decimal or a real:      or numeric makes both doubles)  (a quotient: cast back to
a REAL                                                             REAL, _ieee_quotient's)
sum(int), over (...) too: a        a BIGINT (of a BIGINT: a        CAST(... AS NUMERIC(38, 0)),
HUGEINT                            NUMERIC of any scale)           as HUGEINT is published
concat(s, x), s || x of a double   x's text: '5', not '5.0'        refused
an interval as text (a cast,       '1 mon', '-1 days', '-1 years   PostgreSQL's text rewritten
::text, || or concat): '1 month',  -1 mons', '-1 days +01:00:00'   by REGEXP_REPLACE
'-1 day', '-1 year -1 month',      (IntervalStyle postgres, which   (duckdb_interval_text)
'-1 day 01:00:00'                  toolkit's sessions set)
date_diff('hour', a, b) of         wall clock hours (both cast     EXTRACT(EPOCH FROM
timestamptz: hours elapsed (23     to TIMESTAMP: 24)               DATE_TRUNC(u, b) - DATE_TRUNC(
over a spring-forward night)                                       u, a)) / 3600 (minute, second)
text ordered (ORDER BY, min, max,  by the database's collation     COLLATE "C" (code point order
<, BETWEEN, greatest): by code     (ICU, en_US: 'a' < 'B')         of UTF-8 bytes) on the key or
point ('B' < 'a')                                                  operand (TEXT_ORDERED)
=================================  ==============================  ===========================

Also (_nan_kept, _part_zero, _any_delimiter_part, _ieee_quotient, _engine_call): corr(y, x) and
regr_slope(y, x) with x constant or one pair are NaN in DuckDB, NULL there (kept NULL without a
pair: REGR_COUNT over the same rows, FILTER and frame); split_part(s, d, 0) is '' in DuckDB, an
error there (the index written past every field); split_part(s, d, n) of a delimiter column
holding '' is the n-th character in DuckDB, s itself there (CASE WHEN d = ''); a / b by zero is inf, -inf (b -0.0 too) or
NaN in DuckDB 2, an error there (CASE WHEN b = 0, a and b read twice; a volatile operand or
a divisor that cannot be 0 kept as one division); a % b of doubles (fmod) has no operator
there: refused; bit_count(i) as BIT_COUNT of i masked to its width as a BIT(64) (the width
written: a cast or literal, else refused); date_sub(unit, a, b) (none there) as the seconds
between them over the unit's (day and week between wall times, as DuckDB's calendar days;
months and longer refused); json_array_length(j[, path]) of text or a non-array (0 in
DuckDB) through JSON_TYPEOF; json_extract_string and ->> kept (a string's text is the same;
DuckDB rewrites numbers and nested values: 1.50 is '1.5' here, '1.50' there).

Calls sqlglot writes with a name or type PostgreSQL does not have, whatever their operand
(_spelling): make_date (DATE_FROM_PARTS) as MAKE_DATE, weekofyear (WEEK_OF_YEAR) as
CAST(EXTRACT(WEEK ...) AS BIGINT), HUGEINT (INT128) as NUMERIC(38, 0) as toolkit publishes
HUGEINT seeds, isfinite of a double as its text not being Infinity/NaN (isfinite takes dates
and timestamps there), len of a written list as CAST(CARDINALITY(..) AS BIGINT).

The operand types come from the SQL (a cast, a literal) or the catalog: at compile from the
declared seeds and sources (compiler.cast_types), when run from the PostgreSQL catalog
(engines/postgres.py). Where unknown, round, avg and date_diff keep sqlglot's translation;
a concatenation is refused only at compile (toolkit's own statements are never refused).

Text equality (=, IN, GROUP BY, DISTINCT) is byte equality under any deterministic collation,
the only kind a database's default can be; a column declared with a nondeterministic ICU
collation (case-insensitive) is compared by it there, as is text sorted by a function of
its own (array_sort, ...): left. An ORDER BY key of a DISTINCT query, a set operation or a
parenthesized query must be an output column there: that column is collated in the select
list (the published column's collation is then "C"; a key repeating an item's expression,
as compile writes one, is that collated expression too); over a * (no place in the select
list) the ORDER BY moves outside with its LIMIT and OFFSET (SELECT * FROM (query) AS
toolkit_ordered ORDER BY w COLLATE "C"), a join's qualified key refused, as does an expression
key naming no output column (order by lower(w), refused there whatever its type), written
over the output columns (refused at compile when it reads a column not selected); an aggregate's
DISTINCT argument is collated with the ORDER BY key repeating it (max(distinct w):
MAX(DISTINCT w COLLATE "C")), as is a DISTINCT ON expression (left when its leading key is
spelled otherwise). The text order (in_code_point_order) is kept for every project dialect
ordering text by code point (meanings.orders_by_code_point: Snowflake, BigQuery, Spark ...),
the rest of this file for DuckDB's only.

Left: stddev and variance as doubles may differ from DuckDB's in the last bits (DuckDB's
streaming update, PostgreSQL's sums: 2.3333333333333335 there, 2.333333333333333 here); a
double or REAL overflowing (1e300 * 1e10, inf in DuckDB) or underflowing fails the run there,
loudly; REAL arithmetic over a step's column sqlglot types otherwise across steps (r * 0.1
published by one step: a DOUBLE to sqlglot) is computed in doubles there. i // j whose
operand types toolkit cannot tell (a call sqlglot does not type, e.g.
trunc(d) // 2) is written i / j: the value of DuckDB's for integers, doubles and decimals, but
a NUMERIC there for a decimal (a DOUBLE in DuckDB); sign(x), round(i) and trunc(i) are typed
as DuckDB types them (meanings._side_family). Small integers published from arithmetic keep
PostgreSQL's type: sign(d) // 2, length(s) // 2 or smallint + 1 are INTEGERs there (a TINYINT,
a BIGINT, a SMALLINT in DuckDB), as are round(i) and trunc(i) whose operand's type is unknown
(a DOUBLE there). Under an
ICU collation upper() and lower() use full case mappings ('ŉ' -> 'ʼN'): only 'ß' is written. A negative list index that is not a
literal (list[i] with i < 0 at run time) is NULL there; a negative substring length fails
there (loudly); round(double, n) for n outside 0..7 is refused. A DISTINCT query's or a set
operation's ORDER BY position behind a * (which output column it names is not known) keeps
the database's collation.
"""

from __future__ import annotations

import re
from typing import Callable

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres
from sqlglot.time import format_time

from toolkit.doubletext import refuse_double_text
from toolkit.regexmeanings import REGEX_CALLS, Refused, _literal_text, _outside_brackets, spelled

# the calls meanings.cast_types types (their operand's family decides), beyond casts
TYPED = (exp.Round, exp.Trunc, exp.DateTrunc, exp.IntDiv, exp.Concat, exp.DPipe, exp.Avg, exp.DateDiff, exp.Format,
         exp.Length, exp.Sum, exp.Mod, exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance, exp.VariancePop)
# typed by all their operands (meanings.operand_types): a double among them decides
BY_ANY_OPERAND = (exp.IntDiv, exp.Concat, exp.DPipe, exp.Mod)
# typed "integer" (not "other") when their operand is a signed integer: DuckDB keeps it
BY_INTEGER_OPERAND = (exp.Round, exp.Trunc)
_FRACTIONS = ("double", "decimal")
# DuckDB's type of a // of HUGEINTs (meanings.integer_quotient) as toolkit publishes one there:
# DIV truncates toward zero, as DuckDB's // of integers does
_WIDE_QUOTIENTS = {"int128": "decimal(38, 0)"}
# the family of a // whose fractions are DECIMAL(p, 0)s (meanings.operand_types): at run, typed
# from the catalog, a HUGEINT published as DECIMAL(38, 0) (an integer sum) is one of them
WHOLE_DECIMAL = "whole decimal"


def repair(node: exp.Expression, kind_of: Callable[[exp.Expression], str | None],
           types: Callable[[exp.Expression], str | None]) -> exp.Expression:
    """`node` written for PostgreSQL with DuckDB's meaning (the node itself when nothing
    changes), or Refused. `kind_of(typed node)`: its operand's family (meanings.time_kind);
    `types(typed node)`: the family the catalog says (of any operand for BY_ANY_OPERAND)."""
    if type(node) in (exp.Concat, exp.DPipe):
        refuse_double_text(node, types, "postgres", "5.0 is '5' there")
        written = _interval_operands_as_text(node, types(node))
        if written is not node:
            return written
    if isinstance(node, exp.Cast) and node.to.this in exp.DataType.TEXT_TYPES and types(node) == "interval":
        return duckdb_interval_text(exp.cast(node.this.copy(), node.to.copy()))
    if isinstance(node, exp.IntDiv) and fractional_quotient(node, types(node)):
        return double_quotient(node)
    if isinstance(node, exp.IntDiv):
        # integers: DuckDB's // truncates (-7 // 2 = -3), as PostgreSQL's / does (DIV is a NUMERIC
        # there and takes no double); unknown types: / keeps the value of DuckDB's (Left, above),
        # written without parentheses as it always was (the tree keeps the precedence)
        if types(node) in _WIDE_QUOTIENTS:  # HUGEINTs: NUMERICs there, whose / keeps the fraction
            return exp.cast(exp.Anonymous(this="DIV", expressions=[node.this.copy(), node.expression.copy()]),
                            _WIDE_QUOTIENTS[types(node)])
        division = exp.Div(this=node.this.copy(), expression=node.expression.copy(), typed=True)
        return exp.paren(division) if types(node) is not None else division  # integers ("other", "int", ...)
    if _is_epoch(node) and not node.meta.get("toolkit_exact") and not _cast_to(node.parent, "double"):
        return exp.cast(node, "double")  # a DOUBLE in DuckDB, a NUMERIC there (cast to an integer: rounded otherwise)
    written = _number_types(node, kind_of, types)
    if written is not node:
        return written
    if isinstance(node, exp.DateDiff) and node.text("unit").upper().rstrip("S") in _SECONDS and kind_of(node) == "timestamptz":
        return _elapsed_diff(node)
    if isinstance(node, exp.Round) and kind_of(node) == "double" and not _decimal_literal(node.this):
        return _round_half_away(node)
    if isinstance(node, BY_INTEGER_OPERAND) and kind_of(node) == "integer":
        return _integer_kept(node)
    if isinstance(node, exp.Substring):
        return _substring_from_end(node)
    if isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries):
        return _series_column_named(node)
    if isinstance(node, exp.TimeToStr):
        return _strftime(node)
    if isinstance(node, exp.SplitPart) and node.args.get("delimiter") == exp.Literal.string(""):
        return _character_part(node)
    if isinstance(node, exp.SplitPart):
        return _any_delimiter_part(node)
    if isinstance(node, exp.Div) and not node.args.get("typed") and not node.args.get("safe"):
        return _ieee_quotient(node)
    if isinstance(node, exp.Mod) and {"double", "real"} & set(_sides(types(node))):
        _refuse_double_remainder(node)
    written = _nan_kept(node) if not isinstance(node, (exp.Anonymous, exp.JSONExtractScalar)) else _engine_call(node)
    if written is not node:
        return written
    if _wall_time_strptime(node):
        return _strptime_wall_time(node)
    if isinstance(node, (exp.Any, exp.All)) and isinstance(node.parent, (exp.Like, exp.ILike)) and \
            _listed_patterns(node) is not None:
        # s LIKE ANY ('a%', 'x') / LIKE ALL / ILIKE: a list there is an array (sqlglot writes the
        # tuple, a syntax error; one pattern in parentheses, text PostgreSQL cannot read as an array)
        listed = exp.Array(expressions=[value.copy() for value in _listed_patterns(node)])
        return node.__class__(this=exp.paren(listed, copy=False))
    if isinstance(node, (exp.Like, exp.ILike)) and not isinstance(node.parent, exp.Escape):
        return _no_escape(node)
    if isinstance(node, exp.Bracket):
        return _index_from_end(node)
    if isinstance(node, (exp.DateTrunc, exp.TimestampTrunc)) and not _cast_to_timestamp(node.parent) and \
            (kind_of(node) == "date" or isinstance(node.this, exp.Cast) and node.this.to.is_type("date")):
        return exp.cast(node, "timestamp")
    if isinstance(node, REGEX_CALLS):
        _refuse_mixed_greediness(node)
    if isinstance(node, exp.Format) and not (node._meta and node.meta.get("toolkit_formatted")):
        return _format(node, kind_of(node))
    collated = in_code_point_order(node, types)
    if collated is not node:
        return collated
    return _spelling(node, kind_of)


def _number_types(node: exp.Expression, kind_of: Callable[[exp.Expression], str | None],
                  types: Callable[[exp.Expression], str | None]) -> exp.Expression:
    """`node` computed and typed as DuckDB computes it (the node itself when nothing changes):
    avg, sum and the spreads of integers, decimals and REALs, arithmetic of a REAL. For every
    reader DuckDB runs (a DuckDB step's own, a Snowflake step as sqlglot translates it there)."""
    average = _outermost(node, exp.Avg, "double")
    if average is not None and kind_of(average) != "double":
        return exp.cast(node, "double")  # avg of integers or decimals is a DOUBLE in DuckDB, a NUMERIC there
    total = _outermost(node, exp.Sum, "decimal")
    if total is not None and kind_of(total) == "integer" and not isinstance(node.parent, exp.Cast):
        # sum of integers is a HUGEINT in DuckDB (over a window too), a BIGINT there (of a
        # BIGINT a NUMERIC of any scale): NUMERIC(38, 0), as toolkit publishes a HUGEINT
        # (cast(sum(i) as bigint) is cast already: the same value on both)
        return exp.cast(node, _WIDE_QUOTIENTS["int128"])
    if isinstance(node, exp.Sum) and kind_of(node) == "real":
        return _in_doubles(node)  # DuckDB sums a REAL as a DOUBLE, PostgreSQL as a REAL
    if isinstance(node, SPREADS) and kind_of(node) != "double":
        return _in_doubles(node)  # of integers and decimals a DOUBLE in DuckDB, a NUMERIC there
    if isinstance(node, REAL_ARITHMETIC) and not (node._meta and node.meta.get(_REAL_WRITTEN)) and \
            _real_result(node, types) == "real":
        return _real_arithmetic(node, types)
    return node


def repair_snowflake(node: exp.Expression, kind_of: Callable[[exp.Expression], str | None],
                     types: Callable[[exp.Expression], str | None]) -> exp.Expression:
    """A Snowflake step's `node` written for PostgreSQL with the meaning it has where toolkit
    runs it on DuckDB (the node itself when nothing changes): avg, sum, spreads and REAL
    arithmetic typed as DuckDB's (_number_types); round of a double half away from zero, as
    DuckDB's and Snowflake's (PostgreSQL's double round is half to even)."""
    written = _number_types(node, kind_of, types)
    if written is not node:
        return written
    if isinstance(node, exp.Round) and kind_of(node) == "double" and not _decimal_literal(node.this):
        return _round_half_away(node)
    return node


def in_code_point_order(node: exp.Expression, types: Callable[[exp.Expression], str | None]) -> exp.Expression:
    """`node` with the text it orders or compares collated "C" (the node itself when nothing
    changes): the code point order of DuckDB, and of every dialect meanings.orders_by_code_point
    says orders so, kept on PostgreSQL. `types`: what meanings.cast_types typed with `orders`."""
    if isinstance(node, QUERIES) and node.args.get("order"):
        return _query_in_code_point_order(node, types)
    if isinstance(node, exp.Order) and isinstance(node.this, exp.Distinct):
        return _distinct_aggregate_in_code_point_order(node, types)
    if isinstance(node, TEXT_ORDERED) and not _query_key(node) and not _distinct_aggregate_key(node) and types(node) == "text":
        return _in_code_point_order(node)
    return node


# What sorts or compares text (meanings.cast_types types them: "text" when an operand is): a
# database's collation (ICU en-US, en_US.UTF-8: 'a' < 'B') there, code points in DuckDB
TEXT_ORDERED = (exp.Ordered, exp.Min, exp.Max, exp.LT, exp.GT, exp.LTE, exp.GTE, exp.Between, exp.Greatest, exp.Least)


def text_sides(node: exp.Expression) -> list[exp.Expression]:
    """The operands of a TEXT_ORDERED node whose text decides its value (of a query's ORDER
    BY key: the output column it names)."""
    if isinstance(node, exp.Ordered):
        return [sort_key(node)]
    if isinstance(node, exp.Between):
        return [node.this, node.args["low"], node.args["high"]]
    if isinstance(node, (exp.Greatest, exp.Least)):
        return [node.this, *node.expressions]
    if isinstance(node, (exp.Min, exp.Max)):
        return node.this.expressions if isinstance(node.this, exp.Distinct) else [node.this]
    return [node.this, node.expression]


# What a query's ORDER BY belongs to: a parenthesized query's ((a EXCEPT b) ORDER BY w) its Subquery
QUERIES = (exp.Select, exp.SetOperation, exp.Subquery)


def _query_key(node: exp.Expression) -> bool:
    """An ORDER BY key of a query itself (not of a window or an aggregate)."""
    order = node.parent if isinstance(node, exp.Ordered) else None
    return isinstance(order, exp.Order) and isinstance(order.parent, QUERIES) and order.arg_key == "order"


def _output_position(ordered: exp.Ordered) -> int | None:
    """The 0-based output column a query's ORDER BY key names (a position, or an output name:
    PostgreSQL's output names come before the input's columns) or, in a select, repeats (the
    expression of an item: compile writes select distinct * ... order by w as "t"."w" AS "w"
    ... ORDER BY "t"."w"), else None."""
    if not _query_key(ordered):
        return None
    if _names_output(ordered):
        key, items = ordered.this, ordered.parent.parent.selects
        return int(key.name) - 1 if isinstance(key, exp.Literal) else \
            next(position for position, item in enumerate(items) if item.alias_or_name == key.name)
    if isinstance(ordered.parent.parent, exp.Select) and not isinstance(ordered.this, exp.Literal):
        for position, item in enumerate(ordered.parent.parent.selects):
            if (item.this if isinstance(item, exp.Alias) else item) == ordered.this:
                return position
    return None


def _names_output(ordered: exp.Ordered) -> bool:
    """A query's ORDER BY key naming an output column by its position or its output name."""
    items, key = ordered.parent.parent.selects, ordered.this
    if isinstance(key, exp.Literal):
        return key.is_int and 1 <= int(key.name) <= len(items)
    return isinstance(key, exp.Column) and not key.table and any(item.alias_or_name == key.name for item in items)


def sort_key(ordered: exp.Ordered) -> exp.Expression:
    """The value an ORDER BY key sorts by: the output column it names, or itself."""
    position = _output_position(ordered)
    if position is None:
        return ordered.this
    item = ordered.parent.parent.selects[position]
    return item.this if isinstance(item, exp.Alias) else item


def _collated(value: exp.Expression) -> exp.Expression:
    """`value` COLLATE "C": PostgreSQL's code point order (UTF-8 bytes), DuckDB's."""
    if isinstance(value, exp.Collate):  # the user's own collation
        return value
    if not isinstance(value, (exp.Column, exp.Literal, exp.Func, exp.Paren, exp.Cast)):
        value = exp.paren(value, copy=False)
    return exp.Collate(this=value, expression=exp.to_identifier("C", quoted=True))


def _in_code_point_order(node: exp.Expression) -> exp.Expression:
    """A window's or aggregate's ORDER BY key, min/max's operand or a comparison's first
    operand collated "C" (an explicit collation decides a comparison's, GREATEST's)."""
    if any(isinstance(side, exp.Collate) for side in text_sides(node)):
        return node  # the user chose a collation
    node = node.copy()
    if isinstance(node.this, exp.Distinct):  # max(distinct w): MAX(DISTINCT w COLLATE "C") (PostgreSQL's grammar)
        node.this.set("expressions", [_collated(value) for value in node.this.expressions])
    else:
        node.set("this", _collated(node.this))
    return node


def _distinct_aggregate_key(node: exp.Expression) -> bool:
    """An ORDER BY key of an aggregate with DISTINCT (string_agg(distinct w, ',' order by w))."""
    return isinstance(node, exp.Ordered) and isinstance(node.parent, exp.Order) and isinstance(node.parent.this, exp.Distinct)


def _distinct_aggregate_in_code_point_order(order: exp.Order, types) -> exp.Expression:
    """An aggregate's DISTINCT arguments and ORDER BY keys of text collated "C" together:
    PostgreSQL refuses a key that is not one of the arguments as written. A key that is no
    argument is left (refused there anyway)."""
    arguments = order.this.expressions
    keys = [index for index, key in enumerate(order.expressions) if types(key) == "text"
            and not isinstance(key.this, exp.Collate) and key.this in arguments]
    if not keys:
        return order
    # string_agg casts a varchar argument to text, not its ORDER BY key: both cast, or they differ there
    as_text = isinstance(order.parent, exp.GroupConcat)
    order = order.copy()
    for index in keys:
        key = order.expressions[index]
        collated = _collated(exp.cast(key.this.copy(), "text") if as_text else key.this.copy())
        for argument in order.this.expressions:
            if argument == key.this:
                argument.replace(collated.copy())
        key.set("this", collated)
    return order


def _query_in_code_point_order(query: exp.Select | exp.SetOperation | exp.Subquery, types) -> exp.Expression:
    """The query's ORDER BY keys of text collated "C". A key naming an output column (alias,
    position) is that column's expression collated; a DISTINCT query's, a set operation's or a
    parenthesized query's key must be an output column there, so that column is collated in
    the select list (of every branch)."""
    order = query.args.get("order")
    keys = order.expressions if order else []
    positions = {index: _output_position(key) for index, key in enumerate(keys)
                 if _orders_text(key, types) and not isinstance(sort_key(key), exp.Collate)}
    distinct = query.args.get("distinct") if isinstance(query, exp.Select) else None
    if distinct is not None and distinct.args.get("on"):
        return _distinct_on_in_code_point_order(query, list(positions)) if positions else query
    # a set operation's key must be an output column there, as must a DISTINCT query's; a
    # parenthesized query's too (its set operation's, or a plain select's: the same either way)
    in_select_list = isinstance(query, (exp.SetOperation, exp.Subquery)) or bool(query.args.get("distinct"))
    starred = in_select_list and any(item.is_star for branch in _branches(query) for item in branch.selects)
    if in_select_list and any(_unlisted(key) for key in keys):  # order by lower(w): no output column there
        return _ordered_outside(query, list(positions), listed=not starred)
    if not positions:
        return query
    if starred:
        return _ordered_outside(query, list(positions))  # a * has no position to collate
    if in_select_list and None in positions.values():
        return query  # no output column: PostgreSQL refuses the key anyway
    query = query.copy()
    for index, position in positions.items():
        if in_select_list:
            key = query.args["order"].expressions[index]
            for branch in _branches(query):
                collated = _collate_item(branch, position)
                if collated is not None and branch is query and not _names_output(key):
                    key.set("this", collated.copy())  # the item's expression, collated alike (PostgreSQL's match)
        else:
            key = query.args["order"].expressions[index]
            key.set("this", _collated(sort_key(key).copy()))
    return query


_PAGING = ("order", "limit", "offset")


def _ordered_outside(query: exp.Select | exp.SetOperation | exp.Subquery, indexes: list[int],
                     listed: bool = False) -> exp.Expression:
    """A DISTINCT query's, a set operation's or a parenthesized query's ORDER BY over a * (no
    select-list position to collate) moved outside, with its LIMIT and OFFSET, the text keys
    (at `indexes`) collated "C": SELECT * FROM (query) AS toolkit_ordered ORDER BY w COLLATE
    "C" LIMIT n, the same rows in the same order (the query's WITH stays inside). A key's
    columns are the derived table's, unqualified: a qualified key of a join is refused (its
    column may be a name the join's * repeats). A key by position is left (which output
    column it names behind the * is not known): sorted by the database's collation.
    `listed`: the query selects no * but a key is an expression of its output columns
    (order by lower(w), which PostgreSQL refuses inside): each key is written over the
    output columns (_over_outputs), or refused."""
    query = query.copy()
    body = query.this if isinstance(query, exp.Subquery) else query
    if listed:
        keys = query.args["order"].expressions
        written = [_key_over_outputs(body, key) for key in keys]  # before the ORDER BY leaves the query
        for key, value in zip(keys, written):
            key.set("this", value)
    paging = {key: query.args.get(key) for key in _PAGING}
    for key in _PAGING:
        query.set(key, None)
    joined = any(branch.args.get("joins") for branch in _branches(body))
    keys = paging["order"].expressions
    for index, key in enumerate(keys):
        if listed:
            if index in indexes and not (isinstance(key.this, exp.Literal) and key.this.is_int):
                key.set("this", _collated(key.this))
            continue
        for column in [key.this] if isinstance(key.this, exp.Column) else list(key.this.find_all(exp.Column)):
            if not column.table:
                continue
            if joined:
                raise Refused(f"ORDER BY {key.this.sql('duckdb')} of a query selecting * with DISTINCT or a set "
                              "operation cannot keep DuckDB's code point order of text on postgres (the key must be "
                              "collated in the select list there, where * has no place for it): name the selected "
                              "columns instead of *, or order by the column's unqualified name", column.name)
            for part in ("table", "db", "catalog"):
                column.set(part, None)
        if index in indexes and not (isinstance(key.this, exp.Literal) and key.this.is_int):
            key.set("this", _collated(key.this))
    derived = exp.Subquery(this=body if isinstance(query, exp.Subquery) else query,
                           alias=exp.TableAlias(this=exp.to_identifier("toolkit_ordered")))
    outer = exp.select(exp.Star()).from_(derived, copy=False)
    for key, value in paging.items():
        outer.set(key, value)
    if isinstance(query, exp.Subquery):
        return exp.Subquery(this=outer, alias=query.args.get("alias"))
    return outer


def _unlisted(key: exp.Ordered) -> bool:
    """A DISTINCT query's or a set operation's ORDER BY key that is no output column (by name,
    position or the expression of an item): an expression PostgreSQL refuses there."""
    return _output_position(key) is None and not isinstance(key.this, exp.Literal)


def _key_over_outputs(body: exp.Select | exp.SetOperation, key: exp.Ordered) -> exp.Expression:
    """The value `key` sorts by, written over `body`'s output columns (unqualified, as the
    derived table toolkit_ordered has them): an output column it names or repeats is that
    column; an expression's columns must each be an output column of the same value (of a
    select: an item that is that column; of a set operation: an output name). Refused
    otherwise (an input column not selected, an aggregate, a window, a subquery), as
    PostgreSQL refuses the key inside the query."""
    items = body.selects
    position = _output_position(key)
    if position is not None or isinstance(key.this, exp.Literal):
        return key.this.copy() if position is None else _output_column(items[position])
    value = key.this.copy()
    columns = list(value.find_all(exp.Column))
    unmovable = value.find(exp.AggFunc, exp.Window, exp.Query, exp.Star) is not None or not columns
    rewritten = {}
    for column in columns:
        found = None if unmovable else _output_of(body, column)
        if found is None:
            raise Refused(f"ORDER BY {key.this.sql('duckdb')} of a query with DISTINCT or a set operation cannot run "
                          "on postgres (its ORDER BY may only name output columns there, and each column this key "
                          "reads must be one): select the value and order by its name, or order an outer query",
                          column.name or key.this.sql("duckdb"))
        rewritten[id(column)] = found
    if isinstance(value, exp.Column):
        return rewritten[id(value)]
    for column in columns:
        column.replace(rewritten[id(column)])
    return value


def _output_of(body: exp.Select | exp.SetOperation, column: exp.Column) -> exp.Column | None:
    """The output column of `body` holding `column`'s value: of a set operation the one it
    names; of a select an item that is that column (qualified alike, or unqualified), the
    only one of its output name. None when none is."""
    items = body.selects
    names = [item.alias_or_name for item in items]
    if isinstance(body, exp.SetOperation):
        matches = [item for item in items if not column.table and item.alias_or_name == column.name]
    elif column.table:
        matches = [item for item in items if item.unalias() == column]
    else:
        matches = [item for item in items if isinstance(item.unalias(), exp.Column) and
                   item.unalias().name == column.name and item.alias_or_name == column.name]
    if len(matches) != 1 or names.count(matches[0].alias_or_name) != 1:
        return None
    return _output_column(matches[0])


def _output_column(item: exp.Expression) -> exp.Column:
    """A select item's output column, named by its own identifier (quoted as it was)."""
    if isinstance(item, exp.Alias):
        return exp.Column(this=item.args["alias"].copy())
    if isinstance(item, exp.Column):
        return exp.Column(this=item.args["this"].copy())
    return exp.Column(this=exp.to_identifier(item.alias_or_name))


def _distinct_on_in_code_point_order(query: exp.Select, indexes: list[int]) -> exp.Select:
    """DISTINCT ON's query with its text ORDER BY keys (at `indexes`) collated "C" as a plain
    query's are (no output column needed there); a key repeating a DISTINCT ON expression
    collated in both places, the same expression (PostgreSQL refuses keys that differ)."""
    keys = query.args["order"].expressions
    if any(index < len(_on_values(query)) and keys[index].this not in _on_values(query) for index in indexes):
        return query  # a leading key spelled unlike its DISTINCT ON expression: collating one side alone is refused
    query = query.copy()
    on_values = _on_values(query)
    for index in indexes:
        key = query.args["order"].expressions[index]
        collated = _collated(sort_key(key).copy())
        for value in on_values:
            if value == key.this:
                value.replace(collated.copy())
        key.set("this", collated)
    return query


def _on_values(query: exp.Select) -> list[exp.Expression]:
    on = query.args["distinct"].args["on"]
    return list(on.expressions) if isinstance(on, exp.Tuple) else [on]


def _orders_text(key: exp.Ordered, types) -> bool:
    kind = types(key)
    if isinstance(kind, tuple):  # ORDER BY ALL's: a family per output column (meanings._by_position)
        position = key.meta.get("toolkit_all_position")
        kind = kind[position] if position is not None and position < len(kind) else None
    return kind == "text"


def _branches(query: exp.Expression) -> list[exp.Select]:
    if isinstance(query, exp.Subquery):
        return _branches(query.this)
    if isinstance(query, exp.SetOperation):
        return _branches(query.this) + _branches(query.expression)
    return [query] if isinstance(query, exp.Select) else []


def _collate_item(select: exp.Select, position: int) -> exp.Expression | None:
    """The select list's item at `position` collated "C", under its own output name: the
    collated value, or None when left."""
    if position >= len(select.expressions):
        return None
    item = select.expressions[position]
    value = item.this if isinstance(item, exp.Alias) else item
    if isinstance(value, exp.Collate) or not item.alias_or_name:
        return None
    collated = _collated(value.copy())
    if isinstance(item, exp.Alias):
        item.set("this", collated)
    else:  # a column: named by its own identifier
        item.replace(exp.alias_(collated, item.args["this"].copy() if isinstance(item, exp.Column) else item.alias_or_name))
    return collated


# DuckDB's 128-bit integers as toolkit publishes a HUGEINT seed on PostgreSQL (engines/postgres.py)
_WIDE_INTEGERS = {exp.DataType.Type.INT128: "decimal(38, 0)", exp.DataType.Type.UINT128: "decimal(39, 0)"}
# How PostgreSQL writes a float8, numeric, date or timestamp that is not finite
_NOT_FINITE_TEXTS = ("Infinity", "-Infinity", "NaN", "infinity", "-infinity")


def _spelling(node: exp.Expression, kind_of: Callable[[exp.Expression], str | None]) -> exp.Expression:
    """DuckDB calls sqlglot writes for PostgreSQL with a name or type it does not have
    (WEEK_OF_YEAR, DATE_FROM_PARTS, INT128, isfinite of a double, LENGTH of an array, sign):
    PostgreSQL's spelling of the same values, whatever the operand's type (len: of a list
    written as one, or typed one by `kind_of`)."""
    if isinstance(node, exp.WeekOfYear):  # weekofyear(d): the ISO week, a BIGINT, as EXTRACT(WEEK ...) there
        # postgres=True: already PostgreSQL's part name (meanings.py leaves it alone)
        return exp.cast(exp.Extract(this=exp.var("WEEK"), expression=node.this, postgres=True), "bigint")
    if isinstance(node, exp.Sign) and not _cast_to(node.parent, "smallint"):  # a TINYINT in DuckDB (published as a SMALLINT there), of the operand's type there
        return exp.cast(node, "smallint")
    if isinstance(node, exp.Upper) and not _sharp_s_replaced(node.this):
        # DuckDB's upper('ß') is 'ẞ' (U+1E9E); a libc collation's is 'ß' (an ICU one's 'SS'), every
        # other character alike under libc's C.UTF-8 and en_US.UTF-8 (ICU's full mappings: left)
        sharp = exp.Anonymous(this="REPLACE", expressions=[node.this, exp.Literal.string("ß"), exp.Literal.string("ẞ")])
        return exp.Upper(this=sharp)
    if isinstance(node, exp.DateFromParts):  # make_date(y, m, d)
        return exp.Anonymous(this="MAKE_DATE", expressions=[node.args["year"], node.args["month"], node.args["day"]])
    if isinstance(node, exp.DataType) and node.this in _WIDE_INTEGERS:
        return exp.DataType.build(_WIDE_INTEGERS[node.this])
    if isinstance(node, exp.Anonymous) and node.name.lower() == "isfinite" and len(node.expressions) == 1:
        # PostgreSQL's isfinite takes dates and timestamps only; DuckDB's also doubles (NaN: false)
        text = exp.cast(node.expressions[0].copy(), "text")
        return exp.paren(exp.Not(this=exp.In(this=text, expressions=[exp.Literal.string(t) for t in _NOT_FINITE_TEXTS])))
    if isinstance(node, exp.Length) and (_written_list(node.this) or kind_of(node) == "nested"):
        # len([a, b]), len(list): LENGTH takes text there; CARDINALITY counts an array's elements (0 for [])
        return exp.cast(exp.Anonymous(this="CARDINALITY", expressions=[node.this]), "bigint")  # DuckDB's is a BIGINT
    if isinstance(node, exp.ArraySize) and node.expression is None:
        # array_length(list): ARRAY_LENGTH(l, 1) is NULL for [] there, CARDINALITY 0; cast: typed
        # (sqlglot adds a list index's offset back to an integer only: l[array_length(l)])
        cardinality = exp.Anonymous(this="CARDINALITY", expressions=[node.this])
        return exp.cast(cardinality, "bigint" if _published(_arithmetic_result(node)) else "int")
    if isinstance(node, exp.Length) and _published(_arithmetic_result(node)):
        # length(text): a BIGINT in DuckDB, an INTEGER there; cast where it is published only,
        # itself or through arithmetic (length(s) + 1: a BIGINT in DuckDB), not where it is a
        # call's argument (substring, left, lpad take no BIGINT there)
        return exp.cast(node, "bigint")
    return node


# arithmetic whose value is a BIGINT in DuckDB and there when an operand is one (of integers);
# not //: rewritten before its operands are (repair), the quotient has no parent yet to tell
_INTEGER_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Mod, exp.Neg, exp.Paren, exp.Abs)


def _arithmetic_result(node: exp.Expression) -> exp.Expression:
    """The outermost integer arithmetic `node`'s value is an operand of (`node` itself when none)."""
    while isinstance(node.parent, _INTEGER_ARITHMETIC):
        node = node.parent
    return node


def _published(node: exp.Expression) -> bool:
    """A select list item itself (aliased or not): the type a step publishes."""
    item = node.parent if isinstance(node.parent, exp.Alias) else node
    return isinstance(item.parent, exp.Select) and item.arg_key == "expressions"


def _sharp_s_replaced(node: exp.Expression) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.upper() == "REPLACE" and len(node.expressions) == 3 \
        and node.expressions[2] == exp.Literal.string("ẞ")


def _written_list(node: exp.Expression) -> bool:
    """A list literal or a cast to a list: a list whatever the catalog says."""
    return isinstance(node, exp.Array) or (isinstance(node, exp.Cast) and node.to.this is exp.DataType.Type.ARRAY)


_SECONDS = {"HOUR": 3600, "MINUTE": 60, "SECOND": 1}


def _series_column_named(table: exp.Table) -> exp.Table:
    """range(...) and generate_series(...) in FROM: DuckDB names the column after the function
    (r.range, generate_series) and counts in BIGINTs; PostgreSQL's GENERATE_SERIES names it
    after the alias (r.r), counts integer literals in INTEGERs and dates in TIMESTAMPTZs. The
    column is named as DuckDB names it (unless the alias names it), an integer start is a
    BIGINT and a date cast a TIMESTAMP. The table itself when nothing is to change."""
    start = table.this.args.get("start")
    widen = isinstance(start, exp.Literal) and not start.is_string and start.is_int
    dates = [key for key in ("start", "end") if _cast_to(table.this.args.get(key), "date")]
    last = _last_of_range(table.this)
    if not widen and not dates and last is None and table.alias_column_names:
        return table
    named = table.copy()
    if widen:
        named.this.args["start"].replace(exp.cast(start.copy(), "bigint"))
    for key in dates:  # DuckDB's series of dates is of TIMESTAMPs; PostgreSQL's of TIMESTAMPTZs
        named.this.args[key].replace(exp.cast(named.this.args[key].copy(), "timestamp"))
    if last is not None:  # of the end as written here (a date's cast to TIMESTAMP)
        named.this.set("end", _last_of_range(named.this))
        named.this.set("is_end_exclusive", False)
    if not table.alias_column_names:
        name = "range" if table.this.args.get("is_end_exclusive") else "generate_series"
        alias = named.args.get("alias")
        named.set("alias", exp.TableAlias(this=alias.this.copy() if alias and alias.this else exp.to_identifier(name),
                                          columns=[exp.to_identifier(name)]))
    return named


def _last_of_range(series: exp.GenerateSeries) -> exp.Expression | None:
    """The inclusive end PostgreSQL's GENERATE_SERIES takes for range()'s exclusive one, where
    the step's sign is written: sqlglot writes end - 1 whatever the step, which counts a
    descending range(10, 1, -3) down to 1 (DuckDB stops at 4) and subtracts a day from a
    series of timestamps stepping by hours. None: sqlglot's end - 1 (no step, or a step
    whose sign is not written: an integer range ascending, as is usual)."""
    if not series.args.get("is_end_exclusive"):
        return None
    step, end = series.args.get("step"), series.args["end"].copy()
    start = series.args.get("start")
    timed = isinstance(start, exp.Cast) and start.to.is_type("date", "timestamp", "timestampntz", "timestamptz")
    if isinstance(step, exp.Interval) or timed and step is not None:
        amount = step.this if isinstance(step, exp.Interval) else None
        if isinstance(amount, exp.Literal) and amount.is_string:
            amount = exp.Literal.number(amount.this) if re.fullmatch(r"-?\d+", amount.this.strip()) else None
        descending = _written_sign(amount)
        if descending is None:
            raise Refused("range(a, b, interval) whose interval is not a written whole number cannot run on postgres as "
                          "DuckDB's (the end is excluded): write generate_series(a, b - interval '1 microsecond', step)",
                          "range")
        tick = exp.Interval(this=exp.Literal.string("1"), unit=exp.var("MICROSECOND"))
        return exp.Add(this=end, expression=tick) if descending else exp.Sub(this=end, expression=tick)
    descending = _written_sign(step)
    if not descending:
        return None
    return exp.Add(this=end, expression=exp.Literal.number(1))


def _written_sign(step: exp.Expression | None) -> bool | None:
    """Whether a written number is negative; None when it is not a written number."""
    if isinstance(step, exp.Neg) and isinstance(step.this, exp.Literal) and not step.this.is_string:
        return True
    if isinstance(step, exp.Literal) and not step.is_string:
        return step.this.startswith("-")
    return None


def _elapsed_diff(node: exp.DateDiff) -> exp.Expression:
    """date_diff('hour', a, b) of instants counts the hours elapsed between the truncated
    instants in DuckDB (23 over a spring-forward night); sqlglot cast both to TIMESTAMP there:
    wall clock hours (24)."""
    unit = node.text("unit").upper().rstrip("S")
    ends = [exp.Anonymous(this="DATE_TRUNC", expressions=[exp.Literal.string(unit), node.args[key].copy()])
            for key in ("this", "expression")]
    seconds = exp.Extract(this=exp.var("EPOCH"), expression=exp.Sub(this=ends[0], expression=ends[1]))
    seconds.meta["toolkit_exact"] = True
    return exp.cast(exp.Div(this=seconds, expression=exp.Literal.number(_SECONDS[unit]), typed=True), "bigint")


def _cast_to_timestamp(node: exp.Expression | None) -> bool:
    return _cast_to(node, "timestamp")


def _cast_to(node: exp.Expression | None, kind: str) -> bool:
    return isinstance(node, exp.Cast) and node.to.is_type(kind)


def fractional_quotient(node: exp.IntDiv, family: str | None, whole_decimals: bool = True) -> bool:
    """Whether DuckDB 2 divides `a // b` as doubles: a side is a double or decimal
    (`family`: of any side, meanings.operand_types) or a fraction literal (7 // 2.0 = 3.5).
    Without `whole_decimals`, DECIMAL(p, 0) sides count as integers (they may be HUGEINTs)."""
    return family in _FRACTIONS or whole_decimals and family == WHOLE_DECIMAL \
        or any(_fraction_literal(side) for side in (node.this, node.expression))


def double_quotient(node: exp.IntDiv) -> exp.Expression:
    """`a // b` as DuckDB 2 divides fractions: the double division."""
    return exp.paren(exp.Div(this=exp.cast(node.this.copy(), "double"), expression=exp.cast(node.expression.copy(), "double"),
                             typed=True))


def _fraction_literal(node: exp.Expression) -> bool:
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    if isinstance(node, exp.Cast):
        return node.to.this in exp.DataType.REAL_TYPES
    return isinstance(node, exp.Literal) and not node.is_string and not re.fullmatch(r"\d+", node.name)


def _is_epoch(node: exp.Expression) -> bool:
    return isinstance(node, exp.Extract) and node.name.upper() == "EPOCH"


def _outermost(node: exp.Expression, call: type, cast: str) -> exp.Expression | None:
    """The `call` (avg, sum) whose value `node` is (the call, its FILTER or its OVER: the
    outermost is cast, never the call inside an OVER), None when `node` is not the outermost or
    is cast to `cast` already."""
    if isinstance(node.parent, (exp.Window, exp.Filter)) or _cast_to(node.parent, cast):
        return None
    inner = node
    while isinstance(inner, (exp.Window, exp.Filter)):
        inner = inner.this
    return inner if isinstance(inner, call) else None


def _round_half_away(node: exp.Round) -> exp.Expression:
    """DuckDB rounds a double to n places as the exact decimal value of its bits, half away
    from zero (2.675 is 2.67499.. there: 2.67); PostgreSQL's ROUND(double) is half to even and
    it has no ROUND(double, n). Written as y = x * 10^n in doubles, whose fraction decides but
    when it is exactly 0.5: y was then maybe rounded onto the half, and the exact error of the
    product (Dekker's split: 10^n < 2^27 has no low half) says on which side x * 10^n was."""
    places = node.args.get("decimals")
    digits = 0 if places is None else _integer(places)
    if digits is None or not 0 <= digits <= 7:
        raise Refused(f"round({node.this.sql('duckdb')}, {places.sql('duckdb')}) of a double cannot run on postgres "
                      "with DuckDB's meaning (rounded there as the exact decimal value of the double) but for places "
                      "written as a literal 0 to 7: cast the value to a decimal first", "round")
    operand = exp.cast(node.this.copy(), "double")
    if _plain(node.this) or node.this.find(exp.Window):  # a window's value would be computed in the subquery
        return _rounded(exp.paren(operand), digits)
    # the formula reads its operand about ten times: an expression (a SUM(CASE ...)) is named
    # once, in a scalar subquery (an aggregate in it still belongs to the outer query)
    named = exp.select(exp.alias_(operand, "v")).subquery("toolkit_round")
    return exp.select(_rounded(exp.column("v", table="toolkit_round"), digits)).from_(named).subquery()


def _decimal_literal(node: exp.Expression) -> bool:
    """A number written with a point and no exponent (-2.675): a DECIMAL in DuckDB (typed a
    double by sqlglot), a NUMERIC there as sqlglot writes it: rounded alike, half away from zero."""
    while isinstance(node, (exp.Paren, exp.Neg)):
        node = node.this
    if not (isinstance(node, exp.Literal) and node.is_number):
        return False
    digits = node.this.lstrip("+-")
    return re.fullmatch(r"[0-9]*\.[0-9]*", digits) is not None and sum(c.isdigit() for c in digits.lstrip("0.")) <= 38


def _plain(node: exp.Expression) -> bool:
    while isinstance(node, (exp.Cast, exp.Paren, exp.Neg)):
        node = node.this
    return isinstance(node, (exp.Column, exp.Literal))


def _rounded(value: exp.Expression, digits: int) -> exp.Expression:
    """value (a double) rounded to `digits` places as DuckDB rounds it (see _round_half_away)."""
    if digits == 0:
        scaled = value
    else:
        scaled = exp.paren(exp.Mul(this=value, expression=_double(10 ** digits)))
    whole = exp.Anonymous(this="TRUNC", expressions=[scaled.copy()])
    fraction = exp.Abs(this=exp.Sub(this=scaled.copy(), expression=whole.copy()))
    sign = exp.Anonymous(this="SIGN", expressions=[scaled.copy()])
    half = _double(0.5)
    at_half = sign.copy() if digits == 0 else exp.Case(
        ifs=[exp.If(this=exp.GTE(this=exp.Mul(this=sign.copy(), expression=exp.paren(_product_error(value, scaled, 10 ** digits))),
                                 expression=_double(0)), true=sign.copy())], default=_double(0))
    step = exp.Case(ifs=[exp.If(this=exp.GT(this=fraction.copy(), expression=half.copy()), true=sign.copy()),
                         exp.If(this=exp.LT(this=fraction.copy(), expression=half.copy()), true=_double(0))],
                    default=at_half)
    rounded = exp.paren(exp.Add(this=whole, expression=step))
    if digits == 0:
        return rounded
    return exp.paren(exp.Div(this=rounded, expression=_double(10 ** digits)))


def _double(number: float) -> exp.Expression:
    return exp.cast(exp.Literal.number(number), "double")


def _product_error(value: exp.Expression, product: exp.Expression, factor: int) -> exp.Expression:
    """value * factor - product, exactly (Dekker: value split in two 26-bit halves, each
    times a factor below 2^27 exact)."""
    spread = exp.paren(exp.Mul(this=_double(134217729), expression=value.copy()))  # 2^27 + 1
    high = exp.paren(exp.Sub(this=spread.copy(), expression=exp.paren(exp.Sub(this=spread.copy(), expression=value.copy()))))
    low = exp.paren(exp.Sub(this=value.copy(), expression=high.copy()))
    first = exp.paren(exp.Sub(this=exp.Mul(this=high, expression=_double(factor)), expression=product.copy()))
    return exp.Add(this=first, expression=exp.Mul(this=low, expression=_double(factor)))


def _integer(node: exp.Expression) -> int | None:
    text = node.sql("duckdb")
    return int(text) if re.fullmatch(r"-?\s*\d+", text) else None


def _substring_from_end(node: exp.Substring) -> exp.Expression:
    """DuckDB counts a negative start from the end of the text (-1: the last character)."""
    start = node.args.get("start")
    if start is None or _integer(start) is not None and _integer(start) >= 0:
        return node
    length = exp.Length(this=node.this.copy())
    if _integer(start) is not None:
        moved = exp.Add(this=length, expression=exp.Literal.number(_integer(start) + 1))
    else:  # known only when it runs
        below = exp.LT(this=start.copy(), expression=exp.Literal.number(0))
        moved = exp.Case(ifs=[exp.If(this=below, true=exp.Add(this=length, expression=exp.paren(start.copy()) + 1))],
                         default=start.copy())
    node = node.copy()
    node.set("start", moved)
    return node


# DuckDB's strftime codes with the same text in TO_CHAR (FM: no padding)
_TO_CHAR = {"Y": "YYYY", "m": "MM", "d": "DD", "H": "HH24", "M": "MI", "S": "SS", "j": "DDD", "y": "YY",
            "I": "HH12", "f": "US", "V": "IW", "G": "IYYY", "u": "ID", "p": "AM", "a": "TMDy", "A": "TMDay",
            "b": "TMMon", "B": "TMMonth", "-d": "FMDD", "-m": "FMMM", "-H": "FMHH24", "-M": "FMMI",
            "-S": "FMSS", "-I": "FMHH12", "-j": "FMDDD", "-y": "FMYY"}
_CODE = re.compile(r"%(-?[A-Za-z%])")


def _strftime(node: exp.TimeToStr) -> exp.Expression:
    """strftime's codes as TO_CHAR patterns, its literal text quoted (TO_CHAR reads the
    letters of unquoted text as patterns: 'Day' is a weekday), %w (Sunday=0) as EXTRACT(DOW)."""
    fmt = node.args.get("format")
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        raise Refused(f"strftime(..., {fmt.sql('duckdb')}) with a format that is not a string literal cannot run on "
                      "postgres with DuckDB's meaning (TO_CHAR's patterns are other letters): write it as a literal",
                      "strftime")
    pieces: list[exp.Expression] = []
    pattern, position = [], 0
    for code in _CODE.finditer(fmt.this):
        pattern.append(_quoted(fmt.this[position:code.start()]))
        position = code.end()
        name = code.group(1)
        if name == "%":
            pattern.append("%")
        elif name in _TO_CHAR:
            pattern.append(_TO_CHAR[name])
        elif name == "w":
            if "".join(pattern):
                pieces.append(exp.Anonymous(this="TO_CHAR", expressions=[node.this.copy(), exp.Literal.string("".join(pattern))]))
            pattern = []
            pieces.append(exp.cast(exp.cast(exp.Extract(this=exp.var("DOW"), expression=node.this.copy()), "int"), "text"))
        else:
            raise Refused(f"strftime code %{name} has no same-meaning TO_CHAR pattern on postgres: "
                          f"use {', '.join('%' + c for c in sorted(_TO_CHAR))} or %w", "strftime")
    pattern.append(_quoted(fmt.this[position:]))
    if "".join(pattern) or not pieces:
        pieces.append(exp.Anonymous(this="TO_CHAR", expressions=[node.this.copy(), exp.Literal.string("".join(pattern))]))
    result = pieces[0]
    for piece in pieces[1:]:
        result = exp.DPipe(this=result, expression=piece, safe=True)
    return exp.paren(result) if len(pieces) > 1 else result


def _wall_time_strptime(node: exp.Expression) -> bool:
    """strptime(s, 'literal format') whose format reads no zone (%z, %Z): a TIMESTAMP in DuckDB."""
    fmt = node.args.get("format") if isinstance(node, exp.StrToTime) else None
    return isinstance(fmt, exp.Literal) and fmt.is_string and not re.search(r"%[zZ]", fmt.this.replace("%%", ""))


def _strptime_wall_time(node: exp.StrToTime) -> exp.Expression:
    """DuckDB's strptime without a zone in its format is the wall time read (a TIMESTAMP);
    TO_TIMESTAMP there is a TIMESTAMPTZ read in the session's zone (an hour off in Berlin's
    summer, and moved out of a spring-forward gap). Read as UTC instead (' +00' appended,
    read by TZH) and taken at UTC: the wall time written, a TIMESTAMP."""
    pattern = format_time(node.args["format"].this, Postgres.INVERSE_TIME_MAPPING, Postgres.INVERSE_TIME_TRIE)
    text = exp.DPipe(this=node.this.copy(), expression=exp.Literal.string(" +00"), safe=True)
    read = exp.Anonymous(this="TO_TIMESTAMP", expressions=[text, exp.Literal.string(pattern + " TZH")])
    return exp.AtTimeZone(this=read, zone=exp.Literal.string("UTC"))


_DELIMITER_READ = "toolkit_delimiter_read"  # a split_part whose delimiter was tested for '' (_any_delimiter_part)


def _any_delimiter_part(node: exp.SplitPart) -> exp.Expression:
    """split_part(s, d, n) of a delimiter known only when it runs (a column): '' splits into
    characters in DuckDB (_character_part), s itself there. Written CASE WHEN d = '' THEN the
    character ELSE split_part END (d read twice: a volatile one kept as written); a literal
    delimiter, and field 0, as _part_zero writes them."""
    delimiter = node.args.get("delimiter")
    if not isinstance(delimiter, exp.Expression) or isinstance(delimiter, (exp.Literal, exp.Null)) or \
            (node._meta and node.meta.get(_DELIMITER_READ)) or _volatile(node):
        return _part_zero(node)
    split = node.copy()
    split.meta[_DELIMITER_READ] = True  # its field 0 written when repair visits it (meanings._deep)
    empty = exp.EQ(this=delimiter.copy(), expression=exp.Literal.string(""))
    return exp.Case(ifs=[exp.If(this=empty, true=_character_part(node))], default=split)


def _character_part(node: exp.SplitPart) -> exp.Expression:
    """split_part(s, '', n) is DuckDB's n-th character of s (from the end for n < 0; '' past
    either end or for 0); PostgreSQL's is s itself (and an error for 0)."""
    text, index = node.this, node.args["part_index"]
    from_end = exp.Add(this=exp.Add(this=exp.Anonymous(this="CHAR_LENGTH", expressions=[text.copy()]),
                                    expression=exp.paren(index.copy())), expression=exp.Literal.number(1))
    one = exp.Literal.number(1)
    forward = exp.Anonymous(this="SUBSTRING", expressions=[text.copy(), index.copy(), one])
    backward = exp.Anonymous(this="SUBSTRING", expressions=[text.copy(), from_end, one.copy()])
    negative = exp.LT(this=index.copy(), expression=exp.Literal.number(0))
    return exp.Case(ifs=[exp.If(this=negative, true=backward)], default=forward)


def _quoted(text: str) -> str:
    """Literal text in a TO_CHAR pattern: double-quoted (\\ and " escaped by a backslash)."""
    if not text:
        return ""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _no_escape(node: exp.Like | exp.ILike) -> exp.Expression:
    """DuckDB's LIKE has no escape character unless ESCAPE says; PostgreSQL's is \\ by default."""
    pattern = node.expression
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        if "\\" not in pattern.this:
            return node
        node = node.copy()
        node.set("expression", exp.Literal.string(pattern.this.replace("\\", "\\\\")))
        return node
    if isinstance(pattern, (exp.Any, exp.All)):
        inner = _listed_patterns(pattern) or [pattern.this]
        if not all(isinstance(item, exp.Literal) and item.is_string for item in inner):
            raise Refused(f"LIKE {pattern.key.upper()} of patterns that are not string literals cannot run on postgres "
                          "with DuckDB's meaning (a backslash escapes there): write the patterns as literals",
                          pattern.key)
        if not any("\\" in item.this for item in inner):
            return node
        node = node.copy()
        for item in node.expression.find_all(exp.Literal):
            item.replace(exp.Literal.string(item.this.replace("\\", "\\\\")))
        return node
    return exp.Escape(this=node.copy(), expression=exp.Literal.string(""))


def _listed_patterns(quantifier: exp.Any | exp.All) -> list[exp.Expression] | None:
    """The patterns of LIKE ANY / ALL (...) written as a list: `('a%', 'x')`, one `('a%')`, or
    an array (`(['a%'])`, or ARRAY[...] once written for postgres); None for a subquery."""
    listed = quantifier.this.this if isinstance(quantifier.this, exp.Paren) else quantifier.this
    if isinstance(listed, (exp.Tuple, exp.Array)):
        return list(listed.expressions)
    if isinstance(quantifier.this, exp.Paren) and not isinstance(listed, exp.Query):
        return [listed]
    return None


def _index_from_end(node: exp.Bracket) -> exp.Expression:
    """DuckDB's list[-k] counts from the end. sqlglot keeps the index 0-based in the tree
    (list[-1] is read as -2) and adds the offset back to literals only."""
    if len(node.expressions) != 1:
        return node
    stored = _integer(node.expressions[0])
    if stored is None or stored + 1 >= 0:
        return node
    index = exp.Anonymous(this="CARDINALITY", expressions=[node.this.copy()])
    if stored + 2:
        index = exp.Add(this=index, expression=exp.Literal.number(stored + 2))
    node = node.copy()
    node.set("expressions", [index])
    return node


_QUANTIFIER = re.compile(r"(\(?)([*+?]|\{\d+(?:,\d*)?\})(\?)?")


def _refuse_mixed_greediness(node: exp.Expression) -> None:
    """PostgreSQL's ARE gives the whole pattern the greediness of its first quantifier
    ('a.*?b.*' is lazy throughout); RE2's is each quantifier's own."""
    text = _literal_text(node.expression) if node.expression is not None else None
    if text is None:
        return
    kinds = {bool(found.group(3)) for found in _QUANTIFIER.finditer(_outside_brackets(text)) if not found.group(1)}
    if len(kinds) > 1:
        raise Refused(f"{spelled(node)} with the pattern {node.expression.sql('duckdb')} mixes lazy (*?, +?, ??) and "
                      "greedy quantifiers, which postgres matches otherwise (its first quantifier decides for the whole "
                      "pattern): write it with one kind", spelled(node))


_BRACES = re.compile(r"\{\{|\}\}|\{[^{}]*\}|[{}%]")


def _integer_kept(node: exp.Round | exp.Trunc) -> exp.Expression:
    """round(i) and trunc(i) of an integer are i itself in DuckDB, of its type, at 0 or more
    places too; PostgreSQL has them for doubles and NUMERICs only (7.0, a double)."""
    places = node.args.get("decimals")
    if places is None or (_integer(places) is not None and _integer(places) >= 0):
        return exp.paren(node.this.copy())
    if isinstance(node.parent, exp.Cast) and node.parent.to.this in exp.DataType.INTEGER_TYPES:
        return node  # the NUMERIC ROUND(i, -1) there (engines/postgres.py) cast back: an integer, DuckDB's
    name = "round" if isinstance(node, exp.Round) else "trunc"
    raise Refused(f"{name}({node.this.sql('duckdb')}, {places.sql('duckdb')}) of an integer cannot run on postgres "
                  f"with DuckDB's type (an integer there: a NUMERIC on postgres) but for places written as a "
                  f"literal 0 or more: cast it back, e.g. cast({name}(x, -1) as bigint)", name)


# DuckDB's fmt writes these otherwise than PostgreSQL's %s (format('{}', x) of each family):
# what it writes there, and the same text on both
_FORMATTED_OTHERWISE = {
    "double": ("3.0 is '3' there", "format it as text first, e.g. cast(cast(x as decimal(18, 6)) as varchar)"),
    "decimal": ("2.50 is '2.5' in DuckDB (as a double), '2.50' there", "format it as text first, e.g. cast(x as varchar)"),
    "nested": ("[1, 2] is '{1,2}' there", "format its elements, e.g. format('{}, {}', x[1], x[2])"),
}


def _format(node: exp.Format, families) -> exp.Expression:
    """DuckDB's format uses {} placeholders (fmt); PostgreSQL's %s. A boolean value is written
    'true' (its text there, not %s's 't'); a double, a decimal (fmt writes it as a double) or a
    list is refused (`families`: each value's, meanings.operand_types)."""
    values = node.expressions
    kinds = families if isinstance(families, tuple) and len(families) == len(values) else (None,) * len(values)
    for value, kind in zip(values, kinds):
        if kind in _FORMATTED_OTHERWISE or isinstance(value, exp.Cast) and value.to.is_type("double"):
            kind = kind if kind in _FORMATTED_OTHERWISE else "double"
            example, fix = _FORMATTED_OTHERWISE[kind]
            raise Refused(f"format of a {'list' if kind == 'nested' else kind} ({value.sql('duckdb')}) writes other text on "
                          f"postgres ({example}): {fix}", value.name or "format")
    fmt = node.this
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        raise Refused(f"format({fmt.sql('duckdb')}, ...) with a format that is not a string literal cannot run on "
                      "postgres with DuckDB's meaning ({} there is %s): write it as a literal", "format")

    if not values:  # no value to be NULL: PostgreSQL's FORMAT, its % written %%
        node = node.copy()
        node.set("this", exp.Literal.string(_BRACES.sub(lambda found: _format_piece(found.group(0), "%%"), fmt.this)))
        node.meta["toolkit_formatted"] = True  # written for PostgreSQL
        return node
    return _strict_format(fmt.this, values)


def _format_piece(token: str, percent: str) -> str:
    """A token of DuckDB's format text (_BRACES) as text ("{}": the placeholder itself)."""
    if token in ("{{", "}}"):
        return token[0]
    if token == "%":
        return percent
    if token == "{}":
        return token
    raise Refused(f"format placeholder {token} has no same-meaning spelling on postgres: use {{}} and format "
                  "the value yourself", "format")


def _format_pieces(text: str) -> list[str]:
    """DuckDB's format text split at its {} placeholders: the text between them (its {{ and }}
    written { and }) at even positions, each {} at odd ones."""
    pieces, start = [""], 0
    for found in _BRACES.finditer(text):
        pieces[-1] += text[start:found.start()]
        start = found.end()
        if found.group(0) == "{}":
            pieces += ["{}", ""]
        else:
            pieces[-1] += _format_piece(found.group(0), "%")
    pieces[-1] += text[start:]
    return pieces


def _strict_format(text: str, values: list[exp.Expression]) -> exp.Expression:
    """format(text, values) as DuckDB's: NULL when any value is (PostgreSQL's %s writes NULL as
    ''). Written as a || of the text's pieces and each value's text, each value read once (a
    CASE testing them first read them twice: random() tested was not the one written): ||
    is NULL when any operand is. A value no {} writes (format('x', v)) still makes it NULL,
    as LEFT(v's text, 0). CAST(boolean AS TEXT) is 'true', as DuckDB writes it (%s: 't')."""
    pieces = _format_pieces(text)  # text, {}, text, ...: the {} at odd positions
    if len(pieces) // 2 > len(values):
        raise Refused(f"format({exp.Literal.string(text).sql('duckdb')}, ...) has more {{}} than values (an error "
                      "in DuckDB): give each {} a value", "format")
    texts = [exp.cast(value.copy(), "text") for value in values]
    operands = [exp.Literal.string(piece) if position % 2 == 0 else texts[position // 2]
                for position, piece in enumerate(pieces) if position % 2 or piece]
    operands += [exp.Anonymous(this="LEFT", expressions=[unused, exp.Literal.number(0)]) for unused in texts[len(pieces) // 2:]]
    written = operands[0]
    for operand in operands[1:]:
        written = exp.DPipe(this=written, expression=operand)
    return exp.paren(written) if len(operands) > 1 else written


# DuckDB's statistics whose variance of x is zero (one row, or x constant): NaN there (0 / 0),
# NULL on PostgreSQL; both NULL without a row
_NAN_WHEN_CONSTANT = (exp.Corr, exp.RegrSlope)


def _nan_kept(node: exp.Expression) -> exp.Expression:
    """corr(y, x) and regr_slope(y, x) (with their FILTER and OVER) as DuckDB's: NaN where
    PostgreSQL's is NULL although a pair was read (REGR_COUNT over the same rows and frame)."""
    call = node
    while isinstance(call, (exp.Window, exp.Filter)):
        call = call.this
    if not isinstance(call, _NAN_WHEN_CONSTANT) or isinstance(node.parent, (exp.Window, exp.Filter)) \
            or call.meta.get("toolkit_nan_kept"):
        return node
    value = node.copy()
    written = value
    while isinstance(written, (exp.Window, exp.Filter)):
        written = written.this
    written.meta["toolkit_nan_kept"] = True  # not written again when its parts are repaired
    pairs = exp.RegrCount(this=call.this.copy(), expression=call.expression.copy())
    count = node.copy() if node is not call else pairs
    wrapper = count
    while wrapper is not pairs and wrapper.this is not None and isinstance(wrapper.this, (exp.Window, exp.Filter)):
        wrapper = wrapper.this
    if wrapper is not pairs:
        wrapper.set("this", pairs)
    nan = exp.cast(exp.Literal.string("NaN"), "double")
    read = exp.GT(this=count, expression=exp.Literal.number(0))
    return exp.Case(ifs=[exp.If(this=read, true=exp.Coalesce(this=value, expressions=[nan]))])


# PostgreSQL's split_part fails for field 0 (DuckDB's is ''); a field past the last is '' on
# both, and no text has 2147483647 fields there (it would be 2 GB, over its 1 GB limit)
_PAST_EVERY_FIELD = 2147483647


def _part_zero(node: exp.SplitPart) -> exp.Expression:
    """split_part(s, d, n) as DuckDB's for n = 0: '' (NULL when s or d is); the index written
    past every field when it is 0. Other n: the same field on both (n < 0 from the end)."""
    index = node.args.get("part_index")
    if index is None or _integer(index) not in (None, 0):
        return node
    past = exp.Literal.number(_PAST_EVERY_FIELD)
    if _integer(index) == 0:
        moved = past
    else:  # known only when it runs
        moved = exp.Case(ifs=[exp.If(this=exp.EQ(this=index.copy(), expression=exp.Literal.number(0)), true=past)],
                         default=index.copy())
    node = node.copy()
    node.set("part_index", moved)
    return node


# Calls whose value differs at each read: a divisor read twice (_ieee_quotient) would be two values
_VOLATILE = ("RANDOM", "RAND", "GEN_RANDOM_UUID", "UUID", "NEXTVAL", "SETSEED")


def _volatile(node: exp.Expression) -> bool:
    return any(isinstance(call, exp.Rand) or (call.name if isinstance(call, exp.Anonymous) else call.sql_name()).upper()
               in _VOLATILE for call in node.find_all(exp.Func))


def _never_zero(divisor: exp.Expression) -> bool:
    """A divisor that cannot be 0: a nonzero number literal (cast to a number too: toolkit's
    own round() divides by CAST(100 AS DOUBLE PRECISION)), NULL, or nullif(x, 0)."""
    while isinstance(divisor, exp.Paren) or isinstance(divisor, exp.Cast) and divisor.to.is_type("double"):
        divisor = divisor.this  # a cast to a double only: cast(0.4 as int) is 0, so is a REAL's of 1e-50
    if isinstance(divisor, exp.Null):
        return True
    if isinstance(divisor, exp.Nullif):
        return _integer(divisor.expression) == 0
    value = divisor.this if isinstance(divisor, exp.Neg) else divisor
    return isinstance(value, exp.Literal) and value.is_number and float(value.this) != 0


def _sides(families) -> tuple:
    """The families of an arithmetic's sides (meanings._operand_family: a tuple, one per side)."""
    return families if isinstance(families, tuple) else (families,)


def _ieee_quotient(node: exp.Div) -> exp.Expression:
    """DuckDB 2's a / b is a double division: by zero inf, -inf (a negative a, or b -0.0) or
    NaN (0 / 0); PostgreSQL's double division raises. Written CASE WHEN b = 0 THEN a * inf
    (its sign: b's zero's, by ATAN2(b, -1): -pi for -0.0) ELSE a / b END, a and b read twice;
    a volatile operand (random()) kept as one division (raising there)."""
    if _never_zero(node.expression) or _volatile(node):
        return node
    left, right = exp.cast(node.this.copy(), "double"), exp.cast(node.expression.copy(), "double")
    quotient = exp.Div(this=left, expression=right, typed=True)
    zero_sign = exp.Anonymous(this="SIGN", expressions=[exp.Anonymous(this="ATAN2", expressions=[
        right.copy(), exp.Literal.number(-1)])])
    infinite = exp.Mul(this=exp.Mul(this=left.copy(), expression=exp.cast(exp.Literal.string("Infinity"), "double")),
                       expression=zero_sign)
    by_zero = exp.EQ(this=right.copy(), expression=exp.Literal.number(0))
    return exp.paren(exp.Case(ifs=[exp.If(this=by_zero, true=infinite)], default=quotient))


def _refuse_double_remainder(node: exp.Mod) -> None:
    """DuckDB's a % b of doubles is C's fmod (NaN for b = 0); PostgreSQL has no % of doubles,
    and a NUMERIC % of them is not fmod's value (its cast keeps 15 digits: 0.3 % 0.1 is 0
    there, 0.09999999999999998 in DuckDB)."""
    raise Refused(f"{node.sql('duckdb')} of doubles cannot run on postgres with DuckDB's value (it has no % of doubles, "
                  "and a decimal % of them is another value): cast the operands to a decimal, e.g. "
                  "cast(x as decimal(18, 6)) % 2", _first_column(node))


def _first_column(node: exp.Expression) -> str | None:
    """The name of a column `node` reads: a word to find the user's line by (% is none)."""
    column = node.find(exp.Column)
    return column.name if column is not None else None


def _engine_call(node: exp.Anonymous | exp.JSONExtractScalar) -> exp.Expression:
    """DuckDB calls sqlglot writes word for word although PostgreSQL has none of that
    signature (bit_count of an integer, date_sub, json_array_length with a path or of text),
    written with DuckDB's value; json_extract_string and ->> are kept."""
    if isinstance(node, exp.JSONExtractScalar):
        # Kept as written: of a JSON column a string is the same text on both, the common case
        # (a number's or a nested value's text may differ: 1.50 there, 1.5 here); the catalog's
        # typing here does not tell a JSON column from text, which postgres refuses itself.
        return node
    name = node.name.lower()
    if node.meta.get("toolkit_postgres_call"):  # PostgreSQL's own, written below
        return node
    if name == "bit_count" and len(node.expressions) == 1:
        return _bit_count(node.expressions[0])
    if name == "date_sub" and len(node.expressions) == 3:
        return _date_sub(*node.expressions)
    if name == "json_array_length" and len(node.expressions) in (1, 2):
        return _json_array_length(*node.expressions)
    return node


# DuckDB's integer types by width, as a cast or literal says (bit_count counts a negative's
# sign bits up to its width): 8, 16, 32 or 64 bits
_WIDTHS = {exp.DataType.Type.TINYINT: 8, exp.DataType.Type.SMALLINT: 16, exp.DataType.Type.INT: 32, exp.DataType.Type.BIGINT: 64}


def _integer_width(value: exp.Expression) -> int | None:
    while isinstance(value, exp.Paren):
        value = value.this
    if isinstance(value, exp.Cast):
        return _WIDTHS.get(value.to.this)
    literal = _integer(value)
    if literal is None:
        return None
    return 32 if -2 ** 31 <= literal < 2 ** 31 else 64 if -2 ** 63 <= literal < 2 ** 63 else None


def _bit_count(value: exp.Expression) -> exp.Expression:
    """bit_count(i): the set bits of i's two's complement at its width (-1 of a TINYINT: 8),
    a TINYINT (a SMALLINT there); PostgreSQL counts a BIT string's: i masked to its width as a
    BIT(64). The width must be written (a cast or literal): a column's type is PostgreSQL's
    there (a TINYINT seed is a SMALLINT)."""
    width = _integer_width(value)
    if width is None:
        raise Refused(f"bit_count({value.sql('duckdb')}) cannot run on postgres with DuckDB's value unless the "
                      "integer's width is written (a negative's count is its width's: -1 is 8 bits as a TINYINT, "
                      "64 as a BIGINT): cast it, e.g. bit_count(cast(x as bigint))", "bit_count")
    wide = exp.cast(value.copy(), "bigint")
    if width < 64:
        wide = exp.paren(exp.BitwiseAnd(this=wide, expression=exp.Literal.number(2 ** width - 1)))
    bits = exp.cast(wide, exp.DataType.build("bit(64)", dialect="postgres"))
    return exp.cast(_postgres_call("BIT_COUNT", bits), "smallint")


# PostgreSQL's text of an interval (IntervalStyle postgres, its default) -> DuckDB's, in order:
# 'mon(s)' spelled 'month(s)'; the singular for -1 too ('-1 days' -> '-1 day'; PostgreSQL's
# is for +1 only; not of -11 or 21); no '+' on a field after a negative one ('-1 days +01:00:00'
# -> '-1 day 01:00:00'). Counts and the time part are written alike (checked: '36:00:00',
# '-04:05:06', '00:00:01.5', '00:00:00' for zero). The reverse of pgdialectmeanings'
# postgres_interval_text.
_DUCKDB_INTERVAL_TEXT = (
    (r" mon(s?)\M", r" month\1"),
    (r"(?<![0-9])(-?1) (year|month|day)s\M", r"\1 \2"),
    (r" \+", " "),
)


def duckdb_interval_text(text: exp.Expression) -> exp.Expression:
    """`text` (an interval cast to text, as PostgreSQL writes it) as DuckDB writes that interval.
    toolkit's sessions set IntervalStyle postgres (engines/postgres.py: a server may default to
    sql_standard, iso_8601 or postgres_verbose, text these patterns leave as it is); a view
    is computed in its reader's session, with the reader's style: left."""
    for pattern, replacement in _DUCKDB_INTERVAL_TEXT:
        text = _postgres_call("REGEXP_REPLACE", text, exp.Literal.string(pattern), exp.Literal.string(replacement),
                              exp.Literal.string("g"))
    return text


def _interval_operands_as_text(node: exp.Concat | exp.DPipe, families) -> exp.Expression:
    """concat(s, i) or s || i with each interval operand written as DuckDB's text of it."""
    sides = ("this", "expression") if isinstance(node, exp.DPipe) else None
    operands = [node.this, node.expression] if sides else node.expressions
    families = families if isinstance(families, tuple) and len(families) == len(operands) else ()
    if "interval" not in families:
        return node
    node = node.copy()
    written = [duckdb_interval_text(exp.cast(operand.copy(), "text")) if family == "interval" else operand
               for operand, family in zip([node.this, node.expression] if sides else node.expressions, families)]
    if sides:
        node.set("this", written[0])
        node.set("expression", written[1])
    else:
        node.set("expressions", written)
    return node


def _postgres_call(name: str, *arguments: exp.Expression) -> exp.Anonymous:
    """PostgreSQL's `name`(arguments), marked not to be read as DuckDB's call again."""
    call = exp.Anonymous(this=name, expressions=list(arguments))
    call.meta["toolkit_postgres_call"] = True
    return call


# date_sub's units of a fixed length: seconds each; day and week counted between wall times
# (DuckDB's are calendar days in its zone), the rest elapsed (of an instant: 23 hours over a
# spring-forward night)
_UNIT_SECONDS = {"microsecond": 0.000001, "millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600,
                 "day": 86400, "week": 604800}
_UNIT_ALIASES = {"us": "microsecond", "microseconds": "microsecond", "ms": "millisecond", "milliseconds": "millisecond",
                 "s": "second", "sec": "second", "secs": "second", "seconds": "second", "m": "minute", "min": "minute",
                 "mins": "minute", "minutes": "minute", "h": "hour", "hr": "hour", "hrs": "hour", "hours": "hour",
                 "d": "day", "days": "day", "w": "week", "weeks": "week"}
_WALL_UNITS = ("day", "week")


def _date_sub(unit: exp.Expression, start: exp.Expression, end: exp.Expression) -> exp.Expression:
    """date_sub(unit, a, b): the whole units from a to b (truncated toward zero), a BIGINT;
    PostgreSQL's date_sub does not exist. Written as the seconds between them (EXTRACT(EPOCH):
    exact, a NUMERIC) over the unit's; months and longer (DuckDB counts a month-end as a whole
    month) refused."""
    name = unit.name.lower() if isinstance(unit, exp.Literal) and unit.is_string else None
    name = _UNIT_ALIASES.get(name, name)
    if name not in _UNIT_SECONDS:
        raise Refused(f"date_sub({unit.sql('duckdb')}, ...) cannot run on postgres with DuckDB's value: write the unit "
                      f"as a literal, one of {', '.join(_UNIT_SECONDS)} (months and longer: DuckDB counts a month-end as "
                      "a whole month)", "date_sub")
    ends = [exp.cast(value.copy(), "timestamp") if name in _WALL_UNITS else value.copy() for value in (start, end)]
    seconds = [exp.Extract(this=exp.var("EPOCH"), expression=value) for value in ends]
    for value in seconds:
        value.meta["toolkit_exact"] = True  # kept a NUMERIC (repair casts the user's epoch to a double)
    elapsed = exp.Sub(this=seconds[1], expression=seconds[0])
    units = exp.Div(this=exp.paren(elapsed), expression=exp.Literal.number(_UNIT_SECONDS[name]), typed=True)
    return exp.cast(exp.Anonymous(this="TRUNC", expressions=[units]), "bigint")


def _json_array_length(document: exp.Expression, path: exp.Expression | None = None) -> exp.Expression:
    """json_array_length(j[, path]): the length of the array (at path), 0 for any other JSON
    value, NULL for none; PostgreSQL's takes a JSON array only (an error otherwise) and no
    path. j as JSON there (DuckDB takes a VARCHAR), the path as sqlglot writes json_extract's."""
    value = exp.cast(document.copy(), "json")
    if path is not None:
        if not (isinstance(path, exp.Literal) and path.is_string):
            raise Refused(f"json_array_length(..., {path.sql('duckdb')}) cannot run on postgres with DuckDB's value "
                          "unless the path is a string literal", "json_array_length")
        value = exp.JSONExtract(this=value, expression=Postgres().to_json_path(path))
    kind = exp.Anonymous(this="JSON_TYPEOF", expressions=[value])
    length = _postgres_call("JSON_ARRAY_LENGTH", value.copy())
    array = exp.EQ(this=kind, expression=exp.Literal.string("array"))
    other = exp.Not(this=exp.Is(this=kind.copy(), expression=exp.Null()))
    return exp.cast(exp.Case(ifs=[exp.If(this=array, true=length), exp.If(this=other, true=exp.Literal.number(0))]),
                    "bigint")


# DuckDB's spread statistics: a DOUBLE of any number (integers and decimals read as doubles)
SPREADS = (exp.Stddev, exp.StddevPop, exp.StddevSamp, exp.Variance, exp.VariancePop)


def _in_doubles(node: exp.Expression) -> exp.Expression:
    """sum(x), stddev(x), ... with x cast to DOUBLE PRECISION (each argument of a DISTINCT)."""
    node = node.copy()
    value = node.this
    if isinstance(value, exp.Distinct):
        value.set("expressions", [exp.cast(argument, "double") for argument in value.expressions])
    else:
        node.set("this", exp.cast(value, "double"))
    return node


# DuckDB's arithmetic kept in REAL (float4) when a side is one and the other an integer, a
# decimal or a REAL (FLOAT op DOUBLE is a DOUBLE, as there); a % of a REAL: _refuse_double_remainder
REAL_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div)
_REAL_WRITTEN = "toolkit_real_written"  # written here: not again (meanings._deep visits the replacement)
_REAL_PARTNERS = ("real", "other", "decimal")


def real_sided(node: exp.Expression) -> bool:
    """Arithmetic the step's own SQL typed with a REAL side at compile (meanings.keep_step_families):
    the run's statement is then typed from the catalog (engines/postgres.py) to write it in REAL."""
    family = node.meta.get("toolkit_step_family") if isinstance(node, REAL_ARITHMETIC) and node._meta else None
    return "real" in _sides(family) if family is not None else False


def _duckdb_family(side: exp.Expression, family: str | None, types) -> str | None:
    """A side's family as DuckDB types it, where sqlglot's typing (`family`) says otherwise: a
    number literal without an exponent is a DECIMAL or an integer (sqlglot: a DOUBLE), one with
    an exponent a DOUBLE; arithmetic with a REAL is a REAL (sqlglot: r * d a DECIMAL)."""
    while isinstance(side, (exp.Paren, exp.Neg)):
        side = side.this
    if isinstance(side, exp.Literal) and side.is_number:
        return "double" if "e" in side.name.lower() else "other" if re.fullmatch(r"\d+", side.name) else "decimal"
    if isinstance(side, REAL_ARITHMETIC + (exp.Mod,)) and side._meta and "toolkit_cast" in side.meta:
        return _real_result(side, types) or family
    return family


def _real_result(node: exp.Expression, types) -> str | None:
    """"real" when DuckDB computes arithmetic `node` in REAL, else None."""
    families = types(node)
    if not isinstance(families, tuple) or len(families) != 2:
        return None
    sides = [_duckdb_family(side, family, types) for side, family in zip((node.this, node.expression), families)]
    return "real" if "real" in sides and all(side in _REAL_PARTNERS for side in sides) else None


def _real_arithmetic(node: exp.Expression, types) -> exp.Expression:
    """a op b in REAL as DuckDB computes it (r * 0.1 a REAL there: 0.11000000685453415; PostgreSQL
    makes REAL and an integer or numeric both doubles: 0.1100000023841858). The other side cast
    to REAL (exact as DuckDB's cast: a decimal's nearest REAL); a quotient as _ieee_quotient
    writes it (by zero inf or NaN: an error there) cast back to REAL (a DOUBLE quotient of two
    REALs rounds to theirs)."""
    families = types(node)
    written = node.copy()
    for key, family in zip(("this", "expression"), families):
        if _duckdb_family(node.args[key], family, types) != "real":
            written.set(key, exp.cast(written.args[key], "real"))
    written.meta[_REAL_WRITTEN] = True
    if isinstance(node, exp.Div):
        return exp.cast(exp.paren(written), "real")
    return written

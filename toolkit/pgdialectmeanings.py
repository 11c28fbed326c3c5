"""A step written for PostgreSQL (dialect = "postgres") keeps PostgreSQL's meaning on DuckDB.

On a PostgreSQL target such a step runs as written. On DuckDB (a duckdb target, and
`toolkit test --unit`) sqlglot translates it, and keeps the spelling of calls DuckDB runs
with another meaning, silently: the same project published other values there.

==============================  ===============================  ==========================
PostgreSQL                      DuckDB as translated             written for DuckDB here
==============================  ===============================  ==========================
a / b of integers: an integer,  a double: -7 / 2 = -3.5          a // b (DuckDB's // of
truncated toward zero (-3)                                       integers truncates too)
round(x) of a double: half to   half away from zero: 3           round_even(x, 0)
even, round(2.5) = 2
a double as text (x::text,      '3.0', '1000000000000000.0',     DuckDB's text rewritten
x || 'a', concat): '3', '1e+15' 'inf', 'nan'                     by regexp_replace
'Infinity', 'NaN'
an interval as text: '5 mons',  '5 months', '-1 day',            DuckDB's text rewritten
'-1 days', '-1 years +1 day'    '-1 year 1 day'                  (_INTERVAL_TEXT)
==============================  ===============================  ==========================

Both write a double's shortest round-trip digits (PostgreSQL >= 12, DuckDB), so mostly only
the notation differs: PostgreSQL drops the '.0' of a whole number, writes 1e15 <= |x| < 1e16
in exponent form (DuckDB from 1e16), and spells the infinities and NaN its own way. But from
2^53 DuckDB may write a bound of the double's rounding interval, which PostgreSQL never does
(-3.447731110078344e+17 there is -3.4477311100783437e+17): those whole numbers are written
from their exact digits (HUGEINTs) up to 2^120, and fail the statement from 2^120 to 1e40
(above, no bound has 17 digits or fewer). A real's (FLOAT's) text is left as DuckDB writes it.

A double cast to a numeric(p, s) (float8 -> numeric): PostgreSQL goes through the double's
text of 15 significant digits (DBL_DIG, whatever extra_float_digits says; a real's 6), then
rounds to the scale half away from zero: 123456789.123::numeric(38, 20) is
123456789.12300000000000000000 there, 123456789.12300000472956141568 in DuckDB. Written as
CAST(printf('%.14e', x) AS DECIMAL(p, s)) (DuckDB reads the exponent form exactly and rounds
half away from zero too). A cast to numeric without a precision is arbitrary precision there;
DuckDB's DECIMAL is DECIMAL(18, 3) (1.23456789012345e-7 became 0.000): of an integer it is
written DECIMAL(38, 0), of a DECIMAL(p, s) DECIMAL(38, s), of a number written with s places
DECIMAL(38, s), exact; of a double or real no DECIMAL holds PostgreSQL's value (15
significant digits at any scale): refused (refuse(), at compile and plan) unless rounded at
once to fixed places (round(x::numeric, 2), (x::numeric)::int: fixed_places), as are
round(double, places), which PostgreSQL does not have, and to_char of a number (DuckDB's
strftime formats times only). A numeric PostgreSQL computes without a declared precision
(sum(bigint), numeric arithmetic, avg(int), x / 3.0) is exact when DuckDB computes it with
PostgreSQL's scale (integers, DECIMAL(p, s), numbers written, and +, -, *, sum, min, max of
them: written DECIMAL(38, that scale), sum(b)::numeric 21 as there, not 21.000); else
(a division, avg(), a function: a double in DuckDB, a scale of its own per value there) it
is refused unless rounded at once, then rounded once from the double's 15 significant
digits, an error naming the value from 1e13 at 0 places (too few digits). Cast and
rounded at once, an integer or DECIMAL keeps the places (round(1::numeric, 2) is 1.00).
A string written in the step ('1e-7'::numeric) is read there with its own scale: written
DECIMAL(38, that scale) ('0.0000001', 7), exact; 'NaN', the infinities and numbers of more
than 38 digits are refused (no DECIMAL holds them). A text value (a column, split_part(...))
keeps each value's own digits there: refused unless rounded at once (DuckDB's text to
DECIMAL(38, places) rounds half away from zero as PostgreSQL does; 'NaN' and the
infinities, numerics there, are an error naming the value). An operand whose type is known
only when run (j ->> 'a', a macro) is chosen by its DuckDB type (typeof): rounded at once as
above, else exact of an integer and an error naming the value of any other type.

Not kept: numeric / numeric is a NUMERIC in PostgreSQL whose scale depends on each row's
values (1::numeric / 3 has 20 places, 10::numeric / 4 16, 1::numeric / 3000000 24), DuckDB
divides DECIMALs as DOUBLEs (published so; cast to numeric, refused unless rounded, above).

All need the operands' types as PostgreSQL sees them: sqlglot types the statement against
the DuckDB catalog's column types (`columns(table)`; names matched whatever their case), with its typing corrected where
PostgreSQL differs (an extract() and a sum of BIGINTs are NUMERICs there, a date minus a
date an integer). An operand whose type stays unknown is left as written (but for a cast to
numeric without a precision, above).

Agreeing already (checked on both engines): % of negatives (-7 % 2 = -1), round of a
NUMERIC (half away from zero), integer overflow and integer division by zero (both fail).
"""

from __future__ import annotations

import decimal
import functools
import re
from typing import Callable

from sqlglot import exp

_TAG = "toolkit_pg_meaning"
_INTEGERS = exp.DataType.INTEGER_TYPES
_DOUBLES = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}
_TEXTS = exp.DataType.TEXT_TYPES
# DuckDB's text of a double -> PostgreSQL's, in order (each anchored: one match at most)
_DOUBLE_TEXT = (
    (r"^(-?\d)(\d{15})\.(\d+)$", r"\1.\2\3e+15"),  # 1234567890123456.8 -> 1.2345678901234568e+15
    (r"\.?0+e\+15$", "e+15"),  # 1.0000000000000000e+15 -> 1e+15 (trailing zeros of the digits)
    (r"\.0$", ""),  # 3.0 -> 3, -0.0 -> -0
    (r"^(-?)inf$", r"\1Infinity"),
    (r"^-?nan$", "NaN"),
)


_CALLS = (exp.Div, exp.Round, exp.Cast, exp.DPipe, exp.Concat)
_FLOATS = {exp.DataType.Type.DOUBLE: 14, exp.DataType.Type.FLOAT: 5}  # digits after the point of PostgreSQL's text: 15, 6 significant
_TIMES = exp.DataType.TEMPORAL_TYPES | {exp.DataType.Type.INTERVAL}


def needs_typing(statement: exp.Expression) -> bool:
    """Whether `statement` (read as PostgreSQL) has a call whose meaning on DuckDB depends on types."""
    return any(_candidate(node) for node in statement.find_all(*_CALLS))


def repair(statement: exp.Expression, columns: Callable[[exp.Table], dict[str, str] | None]) -> exp.Expression:
    """`statement` (a copy when changed) with PostgreSQL's integer division, rounding of
    doubles and text of doubles written for DuckDB; `columns(table)`: {column: DuckDB type}
    of a table, or None."""
    if not needs_typing(statement):
        return statement
    statement = statement.copy()
    candidates = _candidates(statement)
    for number, node in enumerate(candidates):
        node.meta[_TAG] = number
    kinds = _kinds(statement, columns)
    # deepest first: a node wrapped later (a double written as text) holds its repaired inner calls
    for node in reversed(candidates):
        number = node.meta.pop(_TAG)
        kind, written_double = kinds.get(number, (None, False))
        if number not in kinds and isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DECIMAL:
            # sqlglot could not type the statement (a table it has no columns of):
            # a cast to numeric is then one of a value of unknown type, not left as DECIMAL(18, 3)
            kind = _numeric_kind(node)
        if kind == "integer division":
            node = node.replace(exp.IntDiv(this=node.this, expression=node.expression))
        elif kind == "double round":
            node = node.replace(exp.Anonymous(this="ROUND_EVEN", expressions=[node.this, exp.Literal.number(0)]))
        elif kind == "double cast to text":
            node.set("this", postgres_double_text(node.this))
        elif kind == "interval cast to text":
            node = node.replace(postgres_interval_text(node.copy()))
        elif kind is not None and kind.startswith("numeric:"):
            node = node.replace(_numeric_cast(node, kind.removeprefix("numeric:")))
        if written_double == "double":  # a double operand of || or concat
            node.replace(postgres_double_text(node.copy()))
        elif written_double == "interval":
            node.replace(postgres_interval_text(exp.cast(node.copy(), exp.DataType.Type.VARCHAR)))
    return statement


def _numeric_cast(cast: exp.Cast, how: str) -> exp.Expression:
    """`cast` (to a numeric) as PostgreSQL computes it: `how` is "digits N" (a float through its
    text of N + 1 significant digits), "scale S" (an exact value, to DECIMAL(38, S)), "refused"
    (a double to numeric without precision: an error when run), "literal S" / "text S" (a
    string written in the step, a text rounded at once: read to DECIMAL(38, S)), "unknown S"
    (of a type known only when run, rounded at once) or "<literal|text|unknown> refused"."""
    word, _, number = how.partition(" ")
    if word == "unknown":
        return _unknown_numeric(cast.this, number)
    if word == "computed":
        return _computed_numeric(cast.this, number)
    if word == "refused" or number == "refused":
        return _refused_cast(cast.this, _REFUSED_CASTS[word])
    if word == "scale":
        return exp.Cast(this=cast.this, to=exp.DataType.build(f"DECIMAL(38, {number})"))
    if word == "text":
        return _not_a_number_refused(cast.this, exp.Cast(this=cast.this, to=exp.DataType.build(f"DECIMAL(38, {number})")))
    if word == "literal":
        plain = format(decimal.Decimal(cast.this.name.strip()), "f")
        return exp.Cast(this=exp.Literal.string(plain), to=exp.DataType.build(f"DECIMAL(38, {number})"))
    number, _, places = number.partition(" ")
    return exp.Cast(this=_float_digits(cast.this, number), to=exp.DataType.build(f"DECIMAL(38, {places})") if places else cast.to)


def _float_digits(value: exp.Expression, places: str) -> exp.Expression:
    """A float's text in exponent form with `places` digits after the point (PostgreSQL's cast to numeric reads it)."""
    return exp.Anonymous(this="printf", expressions=[exp.Literal.string(f"%.{places}e"), value])


def _refused_cast(value: exp.Expression, message: tuple[str, str]) -> exp.Expression:
    """error(...) naming the value: a constant message would be raised while binding, not when run."""
    return exp.Anonymous(this="error", expressions=[exp.DPipe(
        this=exp.Literal.string(message[0]), expression=exp.DPipe(
            this=exp.cast(value.copy(), exp.DataType.Type.VARCHAR), expression=exp.Literal.string(message[1])))])


_DUCKDB_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")


def _unknown_numeric(value: exp.Expression, places: str) -> exp.Expression:
    """A cast to numeric of a value sqlglot could not type, chosen by its DuckDB type when run
    (typeof is one type for all rows): rounded at once to `places` (a float through its
    PostgreSQL digits, any other value read exactly), else exact of an integer
    (DECIMAL(38, 0)) and an error for any other type (its scale varies by value there)."""
    kind = exp.Anonymous(this="typeof", expressions=[value.copy()])
    if places != "refused":
        case = exp.Case()
        for float_type, digits in (("DOUBLE", _FLOATS[exp.DataType.Type.DOUBLE]), ("FLOAT", _FLOATS[exp.DataType.Type.FLOAT])):
            case = case.when(exp.EQ(this=kind.copy(), expression=exp.Literal.string(float_type)),
                             exp.Cast(this=_float_digits(value.copy(), str(digits)), to=exp.DataType.build(f"DECIMAL(38, {places})")))
        return case.else_(exp.Cast(this=value.copy(), to=exp.DataType.build(f"DECIMAL(38, {places})")))
    integer = kind.isin(*(exp.Literal.string(name) for name in _DUCKDB_INTEGERS))
    return (exp.Case().when(integer, exp.Cast(this=value.copy(), to=exp.DataType.build("DECIMAL(38, 0)")))
            .else_(_refused_cast(value, _REFUSED_CASTS["unknown"])))


def _computed_numeric(value: exp.Expression, places: str) -> exp.Expression:
    """A numeric computed with a scale of its own per value in PostgreSQL (a division, avg()),
    cast to numeric: an error naming the value unless rounded at once to `places`; then a
    DuckDB double through its 15 significant digits (as _unknown_numeric), an error naming
    the value where those are too few for the places (from 1e13 at 0 places: PostgreSQL's
    value has more exact digits there), a DuckDB DECIMAL exactly."""
    if places == "refused":
        return _refused_cast(value, _COMPUTED_UNCONSTRAINED)
    double = exp.Anonymous(this="typeof", expressions=[value.copy()]).isin(exp.Literal.string("DOUBLE"), exp.Literal.string("FLOAT"))
    magnitude = exp.Abs(this=exp.cast(value.copy(), exp.DataType.Type.DOUBLE))
    imprecise = exp.and_(double, magnitude >= exp.Literal.number(f"1e{13 - int(places)}"))
    return exp.Case().when(imprecise, _refused_cast(value, _COMPUTED_IMPRECISE)).else_(_unknown_numeric(value, places))


def _not_a_number_refused(text: exp.Expression, cast: exp.Expression) -> exp.Expression:
    """`cast` (a text to a DECIMAL), or an error naming the value for 'NaN' and the infinities
    (numerics in PostgreSQL, round('NaN'::numeric, 2) is NaN there; no DECIMAL holds them)."""
    spelled = exp.Anonymous(this="regexp_full_match", expressions=[exp.cast(text.copy(), exp.DataType.Type.VARCHAR),
                                                                    exp.Literal.string(_NOT_A_NUMBER.pattern)])
    return exp.Case().when(spelled, _refused_cast(text, _NAN_CAST)).else_(cast)


def fixed_places(cast: exp.Cast) -> int | None:
    """The places a cast to numeric without a precision is rounded to at once (round(x::numeric, 2):
    2, round(x::numeric) or (x::numeric)::int: 0, (x::numeric)::numeric(p, s): s), else None.
    Rounding the double's 15 significant digits once, half away from zero, is what DuckDB's
    text to DECIMAL(38, places) does too."""
    outer = cast.parent
    while isinstance(outer, exp.Paren):
        outer = outer.parent
    if isinstance(outer, exp.Round) and outer.this.unnest() is cast:
        places = outer.args.get("decimals")
        if places is None:
            return 0
        return int(places.name) if isinstance(places, exp.Literal) and places.is_int and 0 <= int(places.name) <= 38 else None
    if isinstance(outer, exp.Cast) and outer.to.this in _INTEGERS:
        return 0
    if isinstance(outer, exp.Cast) and outer.to.this == exp.DataType.Type.DECIMAL and len(outer.to.expressions) == 2:
        return int(outer.to.expressions[1].name)
    return None


_UNCONSTRAINED = ("a double cast to numeric without a precision (here ", ") in a step written for PostgreSQL: PostgreSQL "
                  "keeps its 15 significant digits at any scale, DuckDB has no such type; give it one, e.g. numeric(38, 10)")
_TEXT_UNCONSTRAINED = ("a text cast to numeric without a precision (here '", "') in a step written for PostgreSQL: PostgreSQL "
                       "keeps each value's own digits ('1e-7' is 0.0000001 there), DuckDB has no such type (its numeric is "
                       "DECIMAL(18, 3): 0.000); give it one, e.g. numeric(38, 10)")
_NO_DECIMAL = ("'", "'::numeric in a step written for PostgreSQL: no DuckDB DECIMAL holds its value (PostgreSQL's numeric "
               "has NaN, the infinities and any number of digits, DuckDB's at most 38); write a double ('NaN'::float8) or a "
               "number of at most 38 digits")
_UNKNOWN_UNCONSTRAINED = ("a value whose type toolkit could not tell (here ", ") cast to numeric without a precision in a step "
                          "written for PostgreSQL: PostgreSQL keeps its digits at any scale, DuckDB has no such type (its "
                          "numeric is DECIMAL(18, 3)); give it one, e.g. numeric(38, 10)")
_COMPUTED_UNCONSTRAINED = ("a numeric computed by a division, avg() or a function (here ", ") cast to numeric without a "
                           "precision in a step written for PostgreSQL: PostgreSQL gives it a scale of its own per value "
                           "(avg of 1, 2, 2 is 1.6666666666666667), DuckDB computes a double and has no such type (its "
                           "numeric is DECIMAL(18, 3)); round it at once (round(avg(x)::numeric, 2)) or give it a "
                           "precision, e.g. numeric(38, 10)")
_COMPUTED_IMPRECISE = ("a numeric computed by a division, avg() or a function (here ", ") rounded in a step written for "
                       "PostgreSQL: PostgreSQL computes it exactly, DuckDB as a double whose 15 significant digits are too "
                       "few for these places; round to fewer places, or cast its operands to numeric(38, s) and sum them")
_NAN_CAST = ("'", "' cast to numeric in a step written for PostgreSQL: PostgreSQL's numeric has NaN and the infinities "
                 "(round('NaN'::numeric, 2) is NaN there), DuckDB's DECIMAL does not; filter them out or nullif(s, 'NaN') first")
_REFUSED_CASTS = {"refused": _UNCONSTRAINED, "text": _TEXT_UNCONSTRAINED, "literal": _NO_DECIMAL, "unknown": _UNKNOWN_UNCONSTRAINED}


def refusable(statement: exp.Expression) -> bool:
    """Whether `statement` has a call refuse() checks."""
    return bool(_refusable(statement))


def _refusable(statement: exp.Expression) -> list[exp.Expression]:
    return [node for node in statement.find_all(exp.Cast, exp.Round, exp.TimeToStr)
            if isinstance(node, exp.TimeToStr) or isinstance(node, exp.Round) and node.args.get("decimals") is not None
            or isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DECIMAL and not node.to.expressions]


def refuse(statement: exp.Expression, schema: dict) -> None:
    """Refused when `statement` (read as PostgreSQL; `schema`: {db: {table: {column: type as
    PostgreSQL spells it}}} of what it reads) casts a double or real to numeric without a
    precision, rounds one to places, or formats a number with to_char: DuckDB computes none
    of them as PostgreSQL does."""
    if not _refusable(statement):
        return
    statement = statement.copy()
    for number, node in enumerate(_refusable(statement)):
        node.meta[_TAG] = number
    known = {db: {table: {column: kind for column, kind in columns.items() if kind and kind != "unknown"}
                  for table, columns in tables.items()} for db, tables in schema.items()}
    for node in _typed(statement, lambda table: known.get(table.db, {}).get(table.name), "postgres").values():
        _refuse_typed(node)


def _refuse_typed(node: exp.Expression) -> None:
    from toolkit.regexmeanings import Refused

    kind = node.this.type
    if isinstance(node, exp.Cast) and not node.to.expressions and _text_literal(node.this):
        _refuse_text_literal(node.this.name)
    if kind is None or kind.this == exp.DataType.Type.UNKNOWN or _literal(node.this) or _text_literal(node.this):
        return
    operand, family = node.this.sql("postgres"), kind.sql("postgres").lower()
    token = node.this.name if isinstance(node.this, exp.Column) else None
    if isinstance(node, exp.Cast) and kind.this in _FLOATS and fixed_places(node) is None:
        raise Refused(f"{operand}::numeric: a {family} cast to numeric without a precision keeps its {_FLOATS[kind.this] + 1} "
                      "significant digits at any scale in PostgreSQL (1.23456789012345e-7 is 0.000000123456789012345 "
                      "there); DuckDB has no such type (its numeric is DECIMAL(18, 3): 0.000): give the places you "
                      "need, e.g. numeric(38, 10)", token or "numeric")
    if isinstance(node, exp.Cast) and kind.this in _TEXTS and fixed_places(node) is None:
        column = node.this.find(exp.Column)
        raise Refused(f"{operand}::numeric: a text cast to numeric without a precision keeps each value's own digits in "
                      "PostgreSQL ('1e-7' is 0.0000001 there, '12.5' 12.5); DuckDB has no such type (its numeric is "
                      "DECIMAL(18, 3): 0.000): give the places you need, e.g. numeric(38, 10), or round it at once "
                      "(round(x::numeric, 2))", column.name if column else "numeric")
    if isinstance(node, exp.Cast) and kind.this == exp.DataType.Type.DECIMAL and not kind.expressions \
            and fixed_places(node) is None and _exact_scale(node.this, unscaled_column=0) is None:
        named = node.this.find(exp.Column) or node.this.find(exp.Func)
        token = named.name if isinstance(named, exp.Column) else named.sql_name().lower() if named else "numeric"
        raise Refused(f"{operand}::numeric: a numeric computed by a division, avg() or a function has a scale of its own "
                      "per value in PostgreSQL (avg of 1, 2, 2 is 1.6666666666666667 there); DuckDB computes a double and has "
                      "no such type (its numeric is DECIMAL(18, 3): 1.667): round it at once (round(avg(x)::numeric, 2)) "
                      "or give the places you need, e.g. numeric(38, 10)", token)
    if isinstance(node, exp.Round) and kind.this in _FLOATS:
        raise Refused(f"round({operand}, {node.args['decimals'].sql('postgres')}): PostgreSQL has no round({family}, "
                      "integer) (function does not exist there); round a numeric, e.g. round(x::numeric(38, 10), 1)", "round")
    if isinstance(node, exp.TimeToStr) and kind.this not in _TIMES:
        raise Refused(f"to_char({operand}, ...) of a {family} in a step written for PostgreSQL does not run on DuckDB "
                      "(its strftime formats dates and times only); format it another way, e.g. "
                      "cast(round(x::numeric(38, 10), 2) as text)", "to_char")


def _refuse_text_literal(text: str) -> None:
    """Refused: '<text>'::numeric when no DuckDB DECIMAL holds PostgreSQL's value of it."""
    from toolkit.regexmeanings import Refused

    if _text_literal_kind(text) == "numeric:literal refused":
        raise Refused(_NO_DECIMAL[0] + text + _NO_DECIMAL[1], text.strip().lstrip("+-") or "numeric")


# DuckDB's text of an interval -> PostgreSQL's (IntervalStyle postgres, its default), in order:
# the plural of every count but 1 ('-1 days'; DuckDB: '-1 day'), 'mon' for 'month', and a '+'
# on a field after a negative one ('-1 years +1 day', '-1 days +01:00:00').
_INTERVAL_TEXT = (
    (r"(^| )-1 (year|day|month)\b", r"\1-1 \2s"),
    (r"month", "mon"),
    (r"(-\d+ [a-z]+ )(\d)", r"\1+\2"),
)


def postgres_interval_text(text: exp.Expression) -> exp.Expression:
    """`text` (an interval cast to text, as DuckDB writes it) as PostgreSQL writes that interval."""
    for pattern, replacement in _INTERVAL_TEXT:
        text = exp.RegexpReplace(this=text, expression=exp.Literal.string(pattern), replacement=exp.Literal.string(replacement),
                                 modifiers=exp.Literal.string("g"))
    return text


def postgres_double_text(double: exp.Expression) -> exp.Expression:
    """`double` written as text the way PostgreSQL (>= 12) writes it, on DuckDB: DuckDB's text
    reformatted, but for a whole number from 2^53 to 2^120 (_WHOLE_TEXT's digits) and refused
    (an error when run) from 2^120 to 1e40, where both can write other digits."""
    value = exp.column("toolkit_double")
    magnitude = exp.Abs(this=value.copy())
    reformatted = exp.or_(exp.Anonymous(this="isnan", expressions=[value.copy()]),
                          magnitude.copy() < exp.Literal.number(2 ** 53), magnitude.copy() >= exp.Literal.number("1e40"))
    case = (exp.Case().when(reformatted, _reformatted(value.copy()))
            .when(magnitude.copy() < exp.Literal.number(2 ** 120), _whole_text())
            .else_(_refused(value.copy())))
    bound = exp.Lambda(this=case, expressions=[exp.to_identifier("toolkit_double")])
    return exp.Bracket(this=exp.Anonymous(this="list_transform", expressions=[exp.Array(expressions=[double]), bound]),
                       expressions=[exp.Literal.number(1)], offset=1)


def _reformatted(double: exp.Expression) -> exp.Expression:
    text: exp.Expression = exp.cast(double, exp.DataType.Type.VARCHAR)
    for pattern, replacement in _DOUBLE_TEXT:
        text = exp.RegexpReplace(this=text, expression=exp.Literal.string(pattern), replacement=exp.Literal.string(replacement))
    return text


def _refused(double: exp.Expression) -> exp.Expression:
    """error(...) naming the value: a constant message would be raised while binding, not when run."""
    message = exp.DPipe(this=exp.Literal.string(_TOO_LARGE[0]), expression=exp.DPipe(
        this=exp.cast(double, exp.DataType.Type.VARCHAR), expression=exp.Literal.string(_TOO_LARGE[1])))
    return exp.Anonymous(this="error", expressions=[message])


_TOO_LARGE = ("a double of 2^120 to 1e40 (here ", ") written as text in a step written for PostgreSQL: its digits there "
              "are not computed on DuckDB; cast it to numeric(38, 0) first (if below 1e38), or scale it down")
# PostgreSQL's text of a whole double `toolkit_double`, |x| from 2^53 (all exponent form there):
# the fewest digits strictly inside the doubles' rounding interval (gap_below, gap_above), the
# nearest of them (ties to even). DuckDB, as Python, also takes a bound itself, exactly half
# way to the next double (-344773111007834368 is -3.447731110078344e+17 in DuckDB,
# -3.4477311100783437e+17 in PostgreSQL). In HUGEINTs: exact below 2^120.
_WHOLE_TEXT = """
(CASE WHEN toolkit_double < 0 THEN '-' ELSE '' END) || list_transform([list_filter(list_transform(range(0, 37), lambda k:
  list_transform([CAST(ABS(toolkit_double) AS HUGEINT)], lambda a:
  list_transform([a - CAST(NEXTAFTER(ABS(toolkit_double), CAST(0 AS DOUBLE)) AS HUGEINT)], lambda gap_below:
  list_transform([CAST(NEXTAFTER(ABS(toolkit_double), CAST('inf' AS DOUBLE)) AS HUGEINT) - a], lambda gap_above:
  list_transform([CAST('1' || REPEAT('0', k) AS HUGEINT)], lambda t:
  list_transform([a // t * t], lambda lo:
    CASE WHEN 2 * (a - lo) < gap_below AND 2 * (lo + t - a) < gap_above THEN
           CASE WHEN a - lo < lo + t - a THEN lo WHEN a - lo > lo + t - a THEN lo + t WHEN (lo // t) % 2 = 0 THEN lo ELSE lo + t END
         WHEN 2 * (a - lo) < gap_below THEN lo
         WHEN 2 * (lo + t - a) < gap_above THEN lo + t END
  )[1])[1])[1])[1])[1]), lambda c: c IS NOT NULL)[-1]], lambda c:
  list_transform([CAST(c AS VARCHAR)], lambda digits:
  list_transform([RTRIM(digits, '0')], lambda kept:
    LEFT(kept, 1) || (CASE WHEN LENGTH(kept) > 1 THEN '.' || SUBSTR(kept, 2) ELSE '' END) || 'e+' || CAST(LENGTH(digits) - 1 AS VARCHAR)
  )[1])[1])[1]
"""


@functools.cache
def _whole_text_tree() -> exp.Expression:
    import sqlglot

    return sqlglot.parse_one(_WHOLE_TEXT, read="duckdb")


def _whole_text() -> exp.Expression:
    return _whole_text_tree().copy()


def _candidate(node: exp.Expression) -> bool:
    """A `/` as PostgreSQL reads it (typed: integers divide as integers), round(x) without places
    (round(double, places) does not exist there), a cast to text, or a || or concat."""
    if isinstance(node, exp.Div):
        return bool(node.args.get("typed"))
    if isinstance(node, exp.Cast):
        return node.to.this in _TEXTS or node.to.this == exp.DataType.Type.DECIMAL
    return isinstance(node, (exp.DPipe, exp.Concat)) or isinstance(node, exp.Round) and node.args.get("decimals") is None


def _candidates(statement: exp.Expression) -> list[exp.Expression]:
    """The calls to type, in breadth-first order: for || and concat, their operands."""
    found: dict[int, exp.Expression] = {}  # by id: an operand may be a cast to text too
    for node in statement.find_all(*_CALLS):
        if isinstance(node, exp.DPipe):
            found.update((id(side), side) for side in (node.this, node.expression) if side is not None)
        elif isinstance(node, exp.Concat):
            found.update((id(argument), argument) for argument in node.expressions)
        elif _candidate(node):
            found[id(node)] = node
    return list(found.values())


def _kinds(statement: exp.Expression, columns) -> dict[int, tuple[str | None, str | None]]:
    """{tag: ("integer division" | "double round" | "double cast to text" | "interval cast to
    text" | "numeric:..." | None, "double" | "interval" when it is one joined as text by || or
    concat, else None)} for the tagged nodes PostgreSQL types so."""
    kinds: dict[int, tuple[str | None, str | None]] = {}
    for number, node in _typed(statement, columns, "duckdb").items():
        joined = isinstance(node.parent, (exp.DPipe, exp.Concat))
        kinds[number] = (_kind(node), "double" if joined and _double(node) else "interval" if joined and _interval(node) else None)
    return kinds


def _interval(node: exp.Expression) -> bool:
    return node.type is not None and node.type.this == exp.DataType.Type.INTERVAL


def _typed(statement: exp.Expression, columns, spelling: str) -> dict[int, exp.Expression]:
    """{tag: the tagged node} in a copy of `statement` typed as PostgreSQL types it;
    `columns(table)`: {column: type in `spelling`'s names} or None. Empty when untyped."""
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.schema import MappingSchema

    query = statement.expression if isinstance(statement, (exp.Create, exp.Insert)) else statement
    if not isinstance(query, exp.Query):
        return {}
    known: dict = {}
    try:
        for table in query.find_all(exp.Table):
            if table.db and table.name and not isinstance(table.this, exp.Func):  # not read_csv(...)
                found = columns(table)
                if found:
                    known.setdefault(table.db, {})[table.name] = found
        schema = MappingSchema(known, dialect=spelling)  # a DuckDB catalog's types are DuckDB's spellings
        typed = annotate_types(qualify(_folded(_table_aliases(query.copy())), schema=schema, dialect="postgres",
                                       validate_qualify_columns=False, identify=False),
                               schema=schema, dialect="postgres", expression_metadata=_postgres_typing())
    except Exception:  # noqa: BLE001 (no catalog to read, or sqlglot cannot type it: left as written)
        return {}
    found: dict[int, exp.Expression] = {}
    for node in typed.find_all(exp.Expression):
        number = node.meta.get(_TAG) if node._meta else None
        if number is not None:
            found[number] = node
    return found


def _folded(query: exp.Expression) -> exp.Expression:
    """`query` with its names in lower case, unquoted: a DuckDB catalog's names match whatever
    their case, and sources' declared ones are kept in lower case, so a quoted "Amount" in
    the step, which sqlglot keeps as written, missed them (the statement left untyped)."""
    for identifier in query.find_all(exp.Identifier):
        identifier.set("this", identifier.name.lower())
        identifier.set("quoted", False)
    return query


def _kind(node: exp.Expression) -> str | None:
    if isinstance(node, exp.Div):
        return "integer division" if _integer(node.this) and _integer(node.expression) else None
    if isinstance(node, exp.Round) and node.args.get("decimals") is None:
        return "double round" if node.this.type is not None and node.this.type.this in _DOUBLES else None
    if isinstance(node, exp.Cast) and node.to.this in _TEXTS:
        return "double cast to text" if _double(node.this) else "interval cast to text" if _interval(node.this) else None
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DECIMAL:
        return _numeric_kind(node)
    return None


def _numeric_kind(cast: exp.Cast) -> str | None:
    """How a cast to numeric is written for DuckDB ("numeric:" + _numeric_cast's `how`), None
    when it is kept (a cast to a numeric(p, s) of anything but a float, a string PostgreSQL
    does not read as a number)."""
    kind = cast.this.type
    if kind is not None and kind.this in _FLOATS and not _literal(cast.this):
        if cast.to.expressions:
            return f"numeric:digits {_FLOATS[kind.this]}"
        places = fixed_places(cast)
        return "numeric:refused" if places is None else f"numeric:digits {_FLOATS[kind.this]} {places}"
    if cast.to.expressions:
        return None
    if _literal(cast.this):
        digits = cast.this.this if isinstance(cast.this, exp.Neg) else cast.this
        exponent = decimal.Decimal(digits.name).as_tuple().exponent
        return f"numeric:scale {max(0, -exponent)}" if isinstance(exponent, int) else None
    if _text_literal(cast.this):
        return _text_literal_kind(cast.this.name)
    places = fixed_places(cast)
    scale = _exact_scale(cast.this)
    if scale is not None:  # round(1::numeric, 2) is 1.00 there: the places padded as PostgreSQL's round pads them
        return f"numeric:scale {max(scale, places or 0)}"
    if kind is not None and kind.this == exp.DataType.Type.DECIMAL and not kind.expressions:
        return "numeric:computed refused" if places is None else f"numeric:computed {places}"
    if kind is not None and kind.this in _TEXTS:
        return "numeric:text refused" if places is None else f"numeric:text {places}"
    if kind is None or kind.this == exp.DataType.Type.UNKNOWN:
        return "numeric:unknown refused" if places is None else f"numeric:unknown {places}"
    return None


def _exact_scale(node: exp.Expression, unscaled_column: int | None = None) -> int | None:
    """PostgreSQL's scale of a numeric DuckDB computes exactly with the same scale: an integer
    (0), a DECIMAL(p, s) (s), a number written without exponent, and +, -, *, sum(), min(),
    max() of those (both keep the larger scale of + and -, the sum of the scales of *), else
    None: a division, avg() or a function is a double in DuckDB and has a scale of its own
    per value in PostgreSQL (avg(x) of integers 1.6666666666666667). `unscaled_column`: the
    scale of a column typed numeric without precision (declared so: its scale told when run)."""
    kind = node.type
    if kind is not None and kind.this in _INTEGERS:
        return 0
    if kind is not None and kind.this == exp.DataType.Type.DECIMAL and len(kind.expressions) == 2:
        return int(kind.expressions[1].name)
    if _literal(node):
        digits = node.this if isinstance(node, exp.Neg) else node
        exponent = decimal.Decimal(digits.name).as_tuple().exponent
        exact = "e" not in digits.name.lower() and isinstance(exponent, int)  # 1e3 is a double in DuckDB
        return max(0, -exponent) if exact else None
    if isinstance(node, exp.Column) and kind is not None and kind.this == exp.DataType.Type.DECIMAL:
        return unscaled_column
    if isinstance(node, (exp.Paren, exp.Neg, exp.Abs, exp.Sum, exp.Min, exp.Max, exp.Window)):
        return _exact_scale(node.this, unscaled_column)
    if isinstance(node, exp.Distinct) and len(node.expressions) == 1:  # sum(distinct b)
        return _exact_scale(node.expressions[0], unscaled_column)
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul)):
        left, right = _exact_scale(node.this, unscaled_column), _exact_scale(node.expression, unscaled_column)
        if left is None or right is None:
            return None
        return left + right if isinstance(node, exp.Mul) else max(left, right)
    return None


def _text_literal(node: exp.Expression) -> bool:
    """A string written in the step ('12.5'::numeric): its digits are known at compile."""
    return isinstance(node, exp.Literal) and node.is_string


# PostgreSQL's numeric input (numeric_in): a number in decimal or exponent notation, blanks around
_NUMERIC_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")
_NOT_A_NUMBER = re.compile(r"(?i)\s*[+-]?(nan|inf|infinity)\s*")  # NaN and the infinities: numerics in PostgreSQL (>= 14)


def _text_literal_kind(text: str) -> str | None:
    """How '<text>'::numeric is written for DuckDB: exactly, to DECIMAL(38, the scale PostgreSQL
    reads: '1e-7' 7, '1.50e1' 1), refused when no DECIMAL holds it (NaN, the infinities, more
    than 38 digits), None (as written: an error on both) when PostgreSQL does not read it."""
    if _NOT_A_NUMBER.fullmatch(text):
        return "numeric:literal refused"
    if not _NUMERIC_TEXT.fullmatch(text):
        return None
    value = decimal.Decimal(text.strip())
    places = max(0, -value.as_tuple().exponent)
    digits = max(0, len(value.as_tuple().digits) + value.as_tuple().exponent) + places
    return f"numeric:literal {places}" if digits <= 38 else "numeric:literal refused"


def _literal(node: exp.Expression) -> bool:
    """A number written in the step (2.5, -1e-7): a numeric in PostgreSQL, not a double."""
    node = node.this if isinstance(node, exp.Neg) else node
    return isinstance(node, exp.Literal) and node.is_number


def _integer(node: exp.Expression) -> bool:
    return node.type is not None and node.type.this in _INTEGERS


def _double(node: exp.Expression) -> bool:
    """A float8 (DOUBLE): a real's (FLOAT's) text differs too, but with other bounds: not rewritten."""
    return node.type is not None and node.type.this == exp.DataType.Type.DOUBLE


def _table_aliases(query: exp.Expression) -> exp.Expression:
    from toolkit.meanings import _table_aliases as aliases

    return aliases(query)


def postgres_typing() -> dict:
    """sqlglot's typing rules as PostgreSQL types numbers (_postgres_typing), for the steps a
    checked step reads."""
    return _postgres_typing()


@functools.cache
def _postgres_typing() -> dict:
    """sqlglot's PostgreSQL typing (with toolkit's corrections: a date minus a date is an
    integer) and where it still differs from PostgreSQL's about numbers: extract() and
    date_part() are NUMERIC and double there, a sum of BIGINTs (or NUMERICs) a NUMERIC, a
    literal with a point or an exponent a NUMERIC, and so is avg() of integers or numerics."""
    from toolkit.compiling.steptypes import _expression_metadata

    metadata = dict(_expression_metadata("postgres"))
    summed = metadata.get(exp.Sum, {}).get("annotator")

    def annotate_sum(annotator, expression):
        summed(annotator, expression) if summed else annotator._annotate_by_args(expression, "this")
        if expression.this.is_type(exp.DataType.Type.BIGINT, *exp.DataType.REAL_TYPES - _DOUBLES):
            annotator._set_type(expression, exp.DataType.Type.DECIMAL)
        return expression

    literal = metadata[exp.Literal]["annotator"]

    def annotate_literal(annotator, expression):
        # 2.5 and 1e3 are numerics in PostgreSQL (sqlglot types them as doubles): round(2.5) is 3 there
        literal(annotator, expression)
        if expression.is_number and not expression.is_int:
            annotator._set_type(expression, exp.DataType.Type.DECIMAL)
        return expression

    def annotate_avg(annotator, expression):  # avg of integers or numerics is a numeric there, of doubles a double
        exact = expression.this.is_type(*exp.DataType.INTEGER_TYPES, exp.DataType.Type.DECIMAL)
        return annotator._set_type(expression, exp.DataType.Type.DECIMAL if exact else exp.DataType.Type.DOUBLE)

    metadata[exp.Extract] = {"annotator": lambda annotator, expression: annotator._set_type(expression, exp.DataType.Type.DECIMAL)}
    metadata[exp.Sum] = {"annotator": annotate_sum}
    metadata[exp.Literal] = {"annotator": annotate_literal}
    metadata[exp.Avg] = {"annotator": annotate_avg}
    return metadata

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
==============================  ===============================  ==========================

Both need the operands' types as PostgreSQL sees them: sqlglot types the statement against
the DuckDB catalog's column types (`columns(table)`), with its typing corrected where
PostgreSQL differs (an extract() and a sum of BIGINTs are NUMERICs there, a date minus a
date an integer). An operand whose type stays unknown is left as written.

Agreeing already (checked on both engines): % of negatives (-7 % 2 = -1), round of a
NUMERIC (half away from zero), integer overflow and integer division by zero (both fail).
"""

from __future__ import annotations

import functools
from typing import Callable

from sqlglot import exp

_TAG = "toolkit_pg_meaning"
_INTEGERS = exp.DataType.INTEGER_TYPES
_DOUBLES = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}


def needs_typing(statement: exp.Expression) -> bool:
    """Whether `statement` (read as PostgreSQL) has a call whose meaning on DuckDB depends on types."""
    return any(_candidate(node) for node in statement.find_all(exp.Div, exp.Round))


def repair(statement: exp.Expression, columns: Callable[[exp.Table], dict[str, str] | None]) -> exp.Expression:
    """`statement` (a copy when changed) with PostgreSQL's integer division and rounding of
    doubles written for DuckDB; `columns(table)`: {column: DuckDB type} of a table, or None."""
    if not needs_typing(statement):
        return statement
    statement = statement.copy()
    candidates = [node for node in statement.find_all(exp.Div, exp.Round) if _candidate(node)]
    for number, node in enumerate(candidates):
        node.meta[_TAG] = number
    kinds = _kinds(statement, columns)
    for node in candidates:
        kind = kinds.get(node.meta.pop(_TAG))
        if kind == "integer division":
            node.replace(exp.IntDiv(this=node.this, expression=node.expression))
        elif kind == "double round":
            node.replace(exp.Anonymous(this="ROUND_EVEN", expressions=[node.this, exp.Literal.number(0)]))
    return statement


def _candidate(node: exp.Expression) -> bool:
    """A `/` as PostgreSQL reads it (typed: integers divide as integers), or round(x) without places
    (round(double, places) does not exist there)."""
    if isinstance(node, exp.Div):
        return bool(node.args.get("typed"))
    return isinstance(node, exp.Round) and node.args.get("decimals") is None


def _kinds(statement: exp.Expression, columns) -> dict[int, str]:
    """{tag: "integer division" | "double round"} for the tagged nodes PostgreSQL types so."""
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
        schema = MappingSchema(known, dialect="duckdb")  # the catalog's types are DuckDB's spellings
        typed = annotate_types(qualify(_table_aliases(query.copy()), schema=schema, dialect="postgres",
                                       validate_qualify_columns=False, identify=False),
                               schema=schema, dialect="postgres", expression_metadata=_postgres_typing())
    except Exception:  # noqa: BLE001 (no catalog to read, or sqlglot cannot type it: left as written)
        return {}
    kinds: dict[int, str] = {}
    for node in typed.find_all(exp.Div, exp.Round):
        number = node.meta.get(_TAG) if node._meta else None
        if number is None:
            continue
        if isinstance(node, exp.Div) and _integer(node.this) and _integer(node.expression):
            kinds[number] = "integer division"
        elif isinstance(node, exp.Round) and node.this.type is not None and node.this.type.this in _DOUBLES:
            kinds[number] = "double round"
    return kinds


def _integer(node: exp.Expression) -> bool:
    return node.type is not None and node.type.this in _INTEGERS


def _table_aliases(query: exp.Expression) -> exp.Expression:
    from toolkit.meanings import _table_aliases as aliases

    return aliases(query)


@functools.cache
def _postgres_typing() -> dict:
    """sqlglot's PostgreSQL typing (with toolkit's corrections: a date minus a date is an
    integer) and where it still differs from PostgreSQL's about integers: extract() and
    date_part() are NUMERIC and double there, a sum of BIGINTs (or NUMERICs) a NUMERIC."""
    from toolkit.compiling.steptypes import _expression_metadata

    metadata = dict(_expression_metadata("postgres"))
    summed = metadata.get(exp.Sum, {}).get("annotator")

    def annotate_sum(annotator, expression):
        summed(annotator, expression) if summed else annotator._annotate_by_args(expression, "this")
        if expression.this.is_type(exp.DataType.Type.BIGINT, *exp.DataType.REAL_TYPES - _DOUBLES):
            annotator._set_type(expression, exp.DataType.Type.DECIMAL)
        return expression

    metadata[exp.Extract] = {"annotator": lambda annotator, expression: annotator._set_type(expression, exp.DataType.Type.DECIMAL)}
    metadata[exp.Sum] = {"annotator": annotate_sum}
    return metadata

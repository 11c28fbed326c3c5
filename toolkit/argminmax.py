"""DuckDB's arg_min / arg_max (min_by / max_by, argmin / argmax in other dialects) on
targets that have them otherwise or not at all.

DuckDB's arg_min(x, k) is x of the row with the least k among the rows where neither x
nor k is NULL (its arg_min_null keeps a NULL x), NULL when no row has both:

    (1, NULL), (2, 'b'), (NULL, 'c')  ->  'b'

PostgreSQL has no such aggregate (a snowflake step's min_by was refused as "ARG_MIN");
there it is the first of the kept values in k's order:

    (ARRAY_AGG(x ORDER BY k) FILTER (WHERE x IS NOT NULL AND k IS NOT NULL))[1]

with a text k collated "C" (DuckDB orders text by code point): meanings.cast_types types
k (ordering_key) for the `types` lookup rewrite takes.
Spark's min_by skips the rows whose k is NULL but not those whose x is: there k is NULL
where x is, `MIN_BY(x, CASE WHEN x IS NOT NULL THEN k END)`.

Among rows tied on k every engine returns one of their values, which one is not fixed
(DuckDB's is the first it reads): order by a second key that breaks ties to get one row.
A FILTER (WHERE c) on the call joins the kept rows' condition. The three-argument form (the
n least, an array), arg_min(DISTINCT x, k), and on PostgreSQL the aggregate used as
a window function (it has no ORDER BY in a window's aggregate) are left as written, which
portability.py refuses there at the user's line.

`rewrite(tree, write)` is called by sql.repair_for before meanings.repair.
"""
from __future__ import annotations

from typing import Callable

from sqlglot import exp

_KINDS = (exp.ArgMin, exp.ArgMax)


def ordering_key(node: exp.Expression) -> bool:
    """The k of an arg_min(x, k) / arg_max(x, k): on PostgreSQL it orders, its text collated."""
    return node.arg_key == "expression" and isinstance(node.parent, _KINDS)


def rewrite(tree: exp.Expression, write: str, types: Callable[[exp.Expression], str | None] | None = None) -> exp.Expression:
    """`tree` with each plain arg_min / arg_max call written for `write` (a copy when changed).
    `types`: meanings.cast_types' lookup, "text" for a k of text (ordering_key)."""
    spell = _SPELLINGS.get(write)
    if spell is None or tree.find(*_KINDS) is None:
        return tree
    types = types or (lambda node: None)

    def written(node: exp.Expression) -> exp.Expression:
        # arg_min(x, k) FILTER (WHERE c): the call's own filter joins the one it is written with
        if isinstance(node, exp.Filter) and _plain(node.this, node, write):
            return spell(node.this, types, node.expression.this)
        if _plain(node, node, write) and not isinstance(node.parent, exp.Filter):
            return spell(node, types, None)
        return node

    return tree.transform(written)


def _plain(node: exp.Expression, call: exp.Expression, write: str) -> bool:
    """A call of two arguments without DISTINCT; on PostgreSQL an aggregate, not a window
    function's (`call`: the call with its FILTER, what a window holds)."""
    if not isinstance(node, _KINDS) or node.args.get("count") is not None or isinstance(node.this, exp.Distinct):
        return False
    return write == "spark" or not isinstance(call.parent, exp.Window)


def _both_present(node: exp.Expression, where: exp.Expression | None) -> exp.Expression:
    value, key = node.this, node.expression
    present = exp.and_(exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())),
                       exp.Not(this=exp.Is(this=key.copy(), expression=exp.Null())))
    return present if where is None else exp.and_(exp.Paren(this=where.copy()), present)


def _text(key: exp.Expression, types: Callable[[exp.Expression], str | None]) -> bool:
    if isinstance(key, exp.Cast):  # typed by what it casts (meanings.typed): its own type says
        return key.to.this in exp.DataType.TEXT_TYPES
    if isinstance(key, exp.Predicate):  # w < 'b': typed "text" for the text it compares, a boolean
        return False
    return types(key) == "text"


def _postgres(node: exp.Expression, types: Callable[[exp.Expression], str | None], where: exp.Expression | None) -> exp.Expression:
    key = node.expression.copy()
    if _text(node.expression, types) and not isinstance(key, exp.Collate):
        key = exp.Collate(this=key, expression=exp.to_identifier("C", quoted=True))
    key = exp.Ordered(this=key, desc=isinstance(node, exp.ArgMax), nulls_first=False)
    collected = exp.ArrayAgg(this=exp.Order(this=node.this.copy(), expressions=[key]))
    kept = exp.Filter(this=collected, expression=exp.Where(this=_both_present(node, where)))
    return exp.Bracket(this=exp.Paren(this=kept), expressions=[exp.Literal.number(1)], offset=1)


def _spark(node: exp.Expression, types: Callable[[exp.Expression], str | None], where: exp.Expression | None) -> exp.Expression:
    value = node.this
    present = exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))
    key = exp.Case(ifs=[exp.If(this=present, true=node.expression.copy())])
    call = node.__class__(this=value.copy(), expression=key)
    return call if where is None else exp.Filter(this=call, expression=exp.Where(this=where.copy()))


_SPELLINGS = {"postgres": _postgres, "spark": _spark}

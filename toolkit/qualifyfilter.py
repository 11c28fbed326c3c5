"""QUALIFY for targets without it (PostgreSQL, Spark), filtering before DISTINCT, ORDER BY and LIMIT.

sqlglot writes `select ... qualify f order by k limit n` for such a target as a
subquery filtered outside (transforms.eliminate_qualify), but it leaves the
query's DISTINCT, ORDER BY, LIMIT, OFFSET and FETCH inside: the rows are cut
before the filter (QUALIFY row_number() = 1 ... LIMIT 2 published no row on
PostgreSQL where DuckDB publishes two). A query's clauses run FROM, WHERE,
GROUP BY, HAVING, windows, QUALIFY, DISTINCT, ORDER BY, LIMIT: `rewrite` moves
the last three to the outer, filtering query. An ORDER BY (or DISTINCT ON) key
that is an output column, or the expression of one, orders by that column
outside; any other key (a column not selected, an expression of one, a window)
is computed inside under a new name the outer query orders by and does not
select. A key's COLLATE (the code point order meanings.py gives text keys on
PostgreSQL) is kept around the outer key. ORDER BY ALL (DuckDB's: every output column)
stays ALL outside, where the outputs are the query's own (inside it would order by a
column named all).

A QUALIFY query whose list holds a `*` toolkit could not expand (it reads something
whose columns it does not know) is refused (Refused): sqlglot's filtering query selects
`*` over the subquery that also holds the window's value (`_w`), which every engine
then publishes as one more column (or twice, `*, rn ... qualify rn = 1`), and neither
PostgreSQL nor Spark can select all columns but one.

sqlglot's filtering query computed each window inside, under a new name, but read the rest
of the QUALIFY outside, and matched a window's columns to output columns by name alone:
`select a.id, b.id as bid ... qualify row_number() over (partition by a.id order by b.id desc)`
ordered by a.id (the output named id), `qualify ... and max(t.x) > 1` in a GROUP BY query
became MAX of a column outside, and `qualify ... and s.x <> 'd'` read an `s` the filter has
not. So the whole QUALIFY predicate is computed inside, as a boolean under a new name
(`_q`) the filter reads and the outer query does not select: every column in it reads the
FROM of the query it was written in, as in DuckDB. DuckDB reads a name in QUALIFY as a source
column first, an output alias only when no source has it; toolkit has qualified the source
columns it knows (`a.id`) before this, so an unqualified name that is an output alias is
replaced by the alias's expression (a select list cannot read its own aliases).

`rewrite(tree, write)` is called by sql.repair_for after meanings.repair, for every QUALIFY
query of a target without QUALIFY.
"""
from __future__ import annotations

from functools import lru_cache

import sqlglot
from sqlglot import exp, transforms
from sqlglot.helper import find_new_name

from toolkit.regexmeanings import Refused

_LATE = ("distinct", "order", "limit", "offset")


@lru_cache(maxsize=None)
def lacks_qualify(write: str) -> bool:
    """Whether sqlglot rewrites QUALIFY away when writing `write` (the target has none)."""
    try:
        return "QUALIFY" not in sqlglot.transpile("SELECT a FROM t QUALIFY a = 1", write=write)[0].upper()
    except Exception:  # noqa: BLE001 (a dialect that cannot say: leave its queries alone)
        return False


def rewrite(tree: exp.Expression, write: str) -> exp.Expression:
    """`tree` with each QUALIFY query written as a subquery and the query that filters it, its
    late clauses (DISTINCT, ORDER BY, LIMIT, OFFSET, FETCH) on the latter, for a target
    without QUALIFY (a copy when changed)."""
    if not lacks_qualify(write):
        return tree
    _refuse_stars(tree, write)

    if not any(node.args.get("qualify") is not None for node in tree.find_all(exp.Select)):
        return tree
    tree = tree.copy()
    selects = [node for node in tree.find_all(exp.Select) if node.args.get("qualify") is not None]
    for select in reversed(selects):  # inner queries first
        if select is tree:
            return _filtered(select)
        holder = exp.Null()
        select.replace(holder)
        holder.replace(_filtered(select))
    return tree


def _refuse_stars(tree: exp.Expression, write: str) -> None:
    """Refused: a QUALIFY query selecting a `*` (toolkit expands every star whose columns it
    knows, so one left here reads columns only the engine knows)."""
    for select in tree.find_all(exp.Select):
        if select.args.get("qualify") is not None and any(item.is_star for item in select.selects):
            raise Refused(f"QUALIFY over select * cannot be written for {write} without publishing its filter's "
                          "column too (it has no QUALIFY, and toolkit does not know the columns * reads here): "
                          "name the columns, or declare the columns of the table it reads", "qualify")


def _predicate_inside(select: exp.Select) -> str:
    """Compute `select`'s QUALIFY predicate as one more output of it (see the module doc), leaving
    a QUALIFY that reads that output; the new output's name."""
    predicate = select.args["qualify"].this.pop()
    aliases = {item.alias: item.this for item in select.selects if isinstance(item, exp.Alias)}
    for column in list(predicate.find_all(exp.Column)):
        # the predicate's own subqueries read their own FROM (and may name the same aliases)
        if not column.table and column.name in aliases and column.find_ancestor(exp.Select) is None:
            value = aliases[column.name].copy()
            column.replace(value if isinstance(value, (exp.Column, exp.Literal)) else exp.paren(value, copy=False))
    # a name no output and no column of the query has (an ORDER BY key may read a column not selected)
    name = find_new_name(set(select.named_selects) | {column.name for column in select.find_all(exp.Column)}, "_q")
    select.select(exp.alias_(predicate, name, quoted=True), copy=False)
    select.set("qualify", exp.Qualify(this=exp.column(name, quoted=True)))
    return name


def _filtered(select: exp.Select) -> exp.Select:
    late = {key: select.args.get(key) for key in _LATE}
    for key in _LATE:
        select.set(key, None)
    hidden_filter = _predicate_inside(select)
    outer = transforms.eliminate_qualify(select)  # `select` is now its subquery
    outer.set("expressions", [item for item in outer.selects if item.alias_or_name != hidden_filter])
    outputs = {}  # output name -> its expression inside
    for projection in outer.selects:
        name = projection.alias_or_name
        inner = next((item for item in select.selects if item.alias_or_name == name), None)
        if inner is not None:
            outputs.setdefault(name, inner.unalias() if isinstance(inner, exp.Alias) else inner)
    aliases = {item.alias: item.this for item in select.selects if isinstance(item, exp.Alias)}

    def outside(key: exp.Expression) -> exp.Expression:
        if isinstance(key, exp.Collate):  # keep the order the key was given
            return exp.Collate(this=outside(key.this), expression=key.expression.copy())
        if isinstance(key, exp.Column) and not key.table and key.name in outputs:
            return exp.column(key.name, quoted=True)
        if isinstance(key, exp.Var) and key.name.upper() == "ALL":
            return key.copy()  # ORDER BY ALL: the outer query's outputs are the query's
        if isinstance(key, exp.Literal) and key.is_int and 0 < int(key.name) <= len(outer.selects):
            return key.copy()  # `order by 2`: the same position outside
        if outer.is_star and isinstance(key, exp.Column):
            return exp.column(key.name, quoted=True)  # every column is read through the star
        for name, expression in outputs.items():
            if expression == key:
                return exp.column(name, quoted=True)
        hidden = key.copy()
        for column in list(hidden.find_all(exp.Column)):  # an output alias read in the key: its expression
            if not column.table and column.name in aliases:
                column.replace(aliases[column.name].copy())
        name = find_new_name(set(select.named_selects), "_o")
        select.select(exp.alias_(hidden, name, quoted=True), copy=False)
        return exp.column(name, quoted=True)

    order = late["order"]
    if order is not None:
        for ordered in order.expressions:
            ordered.set("this", outside(ordered.this))
        outer.set("order", order)
    distinct = late["distinct"]
    if distinct is not None:
        on = distinct.args.get("on")
        if on is not None:
            keys = on.expressions if isinstance(on, exp.Tuple) else [on]
            distinct.set("on", exp.Tuple(expressions=[outside(key) for key in keys]))
        outer.set("distinct", distinct)
    for key in ("limit", "offset"):
        if late[key] is not None:
            outer.set(key, late[key])
    return outer

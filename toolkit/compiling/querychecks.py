"""Static mistakes in a step's (or custom test's) SELECT that qualifying lets through or
reports at the wrong place, found on the parsed tree so that they are exit 2 at the
file:line:col where they were written, not a run-time engine error:

  - a UNION / INTERSECT / EXCEPT of queries with different numbers of columns;
  - one table read twice in one FROM under the same name (`from x, x`);
  - a qualified column (`c.country`) that the table behind its alias does not have:
    sqlglot says only "Unknown column: country" and toolkit pointed at the first
    column of that name, which may be a valid one of another table;
  - a name in a star's EXCLUDE / REPLACE / RENAME list (or in DuckDB's COLUMNS(* EXCLUDE ...)) that none of its tables has
    (qualifying ignores it: the column meant to be dropped was published);
  - an IN / ANY / ALL subquery giving another number of columns than it is compared with;
  - an unqualified name in HAVING / QUALIFY that is no column (qualifying skips them).

Each check raises (or returns) sql.SqlError positioned in the rendered text; the
callers (stepparse._guarded_tree, sqlsteps) locate it in the template.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from toolkit import sql
from toolkit.errors import did_you_mean

_SHOWN_COLUMNS = 8  # an error lists at most this many of a table's columns


def check_set_operations(tree: exp.Expression, places: dict | None = None) -> None:
    """Both sides of every set operation give as many columns (where neither side's
    count is left to the engine: a star, COLUMNS(...), an UNNEST). `places`: where each
    operation's second query starts, taken before qualifying expanded its stars
    (set_operation_places); else where its first written name is."""
    for operation in tree.find_all(exp.SetOperation):
        if operation.args.get("by_name"):
            continue  # DuckDB's UNION [ALL] BY NAME matches columns by name: the counts may differ
        left, right = _width(operation.this), _width(operation.expression)
        if left is None or right is None or left == right:
            continue
        line, col, token = (places or {}).get(id(operation)) or _first_written(operation.expression)
        raise sql.SqlError(f"{_operator(operation)} of queries with different numbers of columns: {left} before it, "
                           f"{right} after it", line, col, token, hint="give both queries the same columns, in the same order")


def set_operation_places(tree: exp.Expression) -> dict[int, tuple]:
    """id(set operation) -> (line, col, token) where its second query starts, and
    id(IN / ANY / ALL subquery) -> where that subquery starts, for check_set_operations
    and check_compared_subqueries on the tree once qualified (a star expanded has no
    position)."""
    places = {id(operation): _first_written(operation.expression) for operation in tree.find_all(exp.SetOperation)}
    places.update((id(query), _subquery_place(compared, query)) for compared, query in _compared_subqueries(tree))
    return places


def check_compared_subqueries(tree: exp.Expression, places: dict | None = None) -> None:
    """The subquery of `x IN (SELECT ...)`, `x = ANY (SELECT ...)` gives one column (or as
    many as a row `(a, b) IN (...)` has): the engines refuse another count at run time
    ("Subquery returns 2 columns - expected 1"). Where its width is left to the engine
    (a star, ...), it is left alone. `places` as for check_set_operations."""
    for compared, query in _compared_subqueries(tree):
        width, expected = _width(query), _compared_width(compared)
        if width is None or expected is None or width == expected:
            continue
        operator = "IN" if isinstance(query.parent, exp.In) else query.parent.key.upper()
        line, col, token = (places or {}).get(id(query)) or _subquery_place(compared, query)
        raise sql.SqlError(f"the subquery of {operator} gives {width} columns; it is compared with {expected}", line, col, token,
                           hint="select only the column to compare with" if expected == 1 else "select one column for each compared value")


def _compared_width(compared: exp.Expression) -> int | None:
    """How many values `compared` is: a row `(a, b)` or `ROW(a, b)` two; a subquery's
    width is left to the engine (None); anything else is one value."""
    while isinstance(compared, exp.Paren):
        compared = compared.this
    if isinstance(compared, exp.Tuple) or isinstance(compared, exp.Anonymous) and compared.name.lower() == "row":
        return len(compared.expressions)
    return None if isinstance(compared, (exp.Subquery, exp.Query)) else 1


def _subquery_place(compared: exp.Expression, query: exp.Expression) -> tuple[int | None, int | None, str | None]:
    """Where the subquery's first column is written; where the compared value is when that
    column has no name to find it by in the template (a star, a literal)."""
    line, col, token = _first_written(query)
    if token and token != "*" and not isinstance(_first_item(query), exp.Literal):
        return line, col, token
    line, col = sql.written_at(compared)
    return line, col, compared.alias_or_name or None


def _first_item(query: exp.Expression) -> exp.Expression | None:
    while isinstance(query, (exp.SetOperation, exp.Subquery)):
        query = query.this
    return query.expressions[0] if isinstance(query, exp.Select) and query.expressions else None


def _compared_subqueries(tree: exp.Expression) -> list[tuple[exp.Expression, exp.Expression]]:
    """(what is compared, the subquery) of each `x IN (SELECT ...)` and `x <op> ANY / ALL (SELECT ...)`."""
    found = []
    for node in tree.find_all(exp.In, exp.Any, exp.All):
        if isinstance(node, exp.In):
            query = node.args.get("query")
            compared = node.this
        else:
            query = node.this  # `> ALL (SELECT ...)` holds the query itself, `= ANY (SELECT ...)` a subquery
            compared = node.parent.this if isinstance(node.parent, exp.Binary) and node.arg_key == "expression" else None
        if isinstance(query, (exp.Subquery, exp.Query)) and compared is not None:
            found.append((compared, query))
    return found


def _width(query: exp.Expression) -> int | None:
    """How many columns `query` gives, or None where the engine decides (a star, ...)."""
    while isinstance(query, (exp.SetOperation, exp.Subquery)):
        query = query.this
    if not isinstance(query, exp.Select):
        return None
    for item in query.expressions:
        if item.is_star or sql.pattern_star(item) or isinstance(item.unalias(), (exp.Columns, exp.Unnest, exp.Explode)):
            return None
    return len(query.expressions)


def _operator(operation: exp.SetOperation) -> str:
    name = {exp.Union: "UNION", exp.Intersect: "INTERSECT", exp.Except: "EXCEPT"}.get(type(operation), "a set operation")
    return name if operation.args.get("distinct") is not False else f"{name} ALL"


def _first_written(node: exp.Expression) -> tuple[int | None, int | None, str | None]:
    """(line, col, token) of the first name written in `node` (its first output column,
    as the parser recorded it; a star's expansion has no position of its own)."""
    query = node
    while isinstance(query, (exp.SetOperation, exp.Subquery)):
        query = query.this
    candidates = list(query.expressions) if isinstance(query, exp.Select) else []
    for item in [*candidates, *node.find_all(exp.Identifier)]:
        line, col = sql.written_at(item)
        if line is not None:
            name = item.alias_or_name if not isinstance(item, exp.Identifier) else item.name
            return line, col, name or None
    return None, None, None


def check_repeated_tables(tree: exp.Expression) -> None:
    """No FROM (with its JOINs) reads one table twice under one name, nor gives two items
    one alias: DuckDB and PostgreSQL refuse both ("duplicate alias", "table name specified
    more than once"). Tables read from different schemas under one name are left alone
    (DuckDB runs `from s1.t, s2.t`)."""
    for select in tree.find_all(exp.Select):
        seen: dict[str, exp.Expression] = {}
        for item in sql.from_items(select):
            name = item.alias_or_name.lower()
            if not name:
                continue
            other = seen.get(name)
            if other is not None and (_same_table(other, item) or (other.alias and item.alias)):
                line, col = sql.written_at(item)
                raise sql.SqlError(f"'{item.alias_or_name}' names two tables of one FROM: a query cannot tell which one "
                                   f"'{item.alias_or_name}.<column>' reads", line, col, item.alias_or_name,
                                   hint="give each its own alias, e.g. from x as a, x as b")
            seen[name] = item


def _same_table(one: exp.Expression, other: exp.Expression) -> bool:
    if not isinstance(one, exp.Table) or not isinstance(other, exp.Table):
        return False
    return [p.lower() for p in (one.catalog, one.db, one.name)] == [p.lower() for p in (other.catalog, other.db, other.name)]


def unknown_qualified_column(tree: exp.Expression, schema: dict) -> sql.SqlError | None:
    """The first `alias.column` whose alias is a table of its scope (with known columns,
    in `schema`: db -> table -> column -> type) that has no such column, positioned where
    it is written; None if every qualified column is one of its table's."""
    folded = {(db.lower(), table.lower()): {c.lower() for c in columns} for db, tables in schema.items() for table, columns in tables.items()}
    try:
        scopes = traverse_scope(tree)
    except Exception:  # sqlglot cannot scope this construct: the caller's own error stands
        return None
    for scope in scopes:
        for column in scope.columns:
            source = scope.sources.get(column.table) if column.table and not column.args.get("db") else None
            if not isinstance(source, exp.Table):
                continue
            known = folded.get((source.db.lower(), source.name.lower()))
            if known is None or column.name.lower() in known:
                continue
            line, col = sql.written_at(column)
            listed = sorted(known)
            shown = ", ".join(listed[:_SHOWN_COLUMNS]) + (", ..." if len(listed) > _SHOWN_COLUMNS else "")
            return sql.SqlError(f"unknown column '{column.name}' of {column.table} ({source.name} has: {shown})",
                                line, col, column.name, hint=did_you_mean(column.name.lower(), listed))
    return None


class StarModifier(NamedTuple):
    """One name a star's EXCLUDE / REPLACE / RENAME lists, as written."""

    select: exp.Select  # the SELECT whose tables the star reads (its list holds it, or a COLUMNS(*) in it)
    star_table: str | None  # `t` of `t.* EXCLUDE (...)`
    clause: str  # EXCLUDE, REPLACE or RENAME
    name: str  # the column it names
    table: str | None  # `t` of `EXCLUDE (t.email)`
    place: exp.Expression  # where it is written


def star_modifiers(tree: exp.Expression) -> list[StarModifier]:
    """The column names listed by each `* EXCLUDE (...)`, `* REPLACE (... AS name)` and
    `* RENAME (name AS ...)` of `tree`, taken before qualifying expands the stars (and
    drops the lists) for check_star_modifiers."""
    found = []
    for star in tree.find_all(exp.Star):
        item = star.parent if isinstance(star.parent, exp.Column) else star
        select = _star_select(item)
        if select is None:
            continue
        star_table = item.table if isinstance(item, exp.Column) else None
        for clause, key in (("EXCLUDE", "except_"), ("REPLACE", "replace"), ("RENAME", "rename")):
            for entry in star.args.get(key) or ():
                named = entry.args.get("alias") if clause == "REPLACE" else entry.this if clause == "RENAME" else entry
                if isinstance(named, (exp.Column, exp.Identifier)) and named.name:
                    table = named.table if isinstance(named, exp.Column) else None
                    found.append(StarModifier(select, star_table or None, clause, named.name, table or None, named))
    return found


def _star_select(item: exp.Expression) -> exp.Select | None:
    """The SELECT whose tables a star (`*` or `t.*`) reads: the one whose list holds it, or
    DuckDB's COLUMNS(* EXCLUDE (...)) anywhere in a SELECT (`coalesce(*columns(...))`, WHERE)."""
    if isinstance(item.parent, exp.Select) and item.arg_key == "expressions":
        return item.parent
    if isinstance(item.parent, exp.Columns) and item.arg_key == "this":
        return item.parent.find_ancestor(exp.Select)
    return None


def check_star_modifiers(qualified: exp.Expression, modifiers: list[StarModifier], schema: dict) -> None:
    """Every name a star's EXCLUDE / REPLACE / RENAME lists is a column of the tables the
    star reads (`schema`: db -> table -> column -> type). sqlglot's expansion skips an
    unknown one, so `* EXCLUDE (emial)` published the email column it was written to drop
    (DuckDB and Spark refuse it). A star whose tables' columns are not known is left alone."""
    if not modifiers:
        return
    try:
        scopes = {id(scope.expression): scope for scope in traverse_scope(qualified)}
    except Exception:  # sqlglot cannot scope this construct: the engine judges it
        return
    for modifier in modifiers:
        scope = scopes.get(id(modifier.select))
        if scope is None:
            continue
        named = modifier.table or modifier.star_table  # `t.* EXCLUDE (a)`, `* EXCLUDE (t.a)`: t's columns only
        columns = _columns_of(scope, [named] if named else list(scope.selected_sources), schema)
        if columns is None or modifier.name.lower() in columns:
            continue
        line, col = sql.written_at(modifier.place)
        raise sql.SqlError(f"unknown column '{modifier.name}' in the star's {modifier.clause} list", line, col, modifier.name,
                           hint=did_you_mean(modifier.name.lower(), columns))


def _columns_of(scope, tables: list[str], schema: dict) -> set[str] | None:
    """The lower-case column names of `tables` (aliases of `scope`'s sources), or None
    when one of them has columns unknown here."""
    folded = {(db.lower(), table.lower()): known for db, in_db in schema.items() for table, known in in_db.items()}
    columns: set[str] = set()
    for name in tables:
        source = scope.sources.get(name.lower()) if name else None
        if isinstance(source, exp.Table):
            known = folded.get((source.db.lower(), source.name.lower()))
        elif source is not None and isinstance(source.expression, exp.Query):
            known = source.expression.named_selects
        else:
            known = None
        if not known or "*" in known:
            return None
        columns.update(c.lower() for c in known)
    return columns


def check_having_columns(qualified: exp.Expression, schema: dict) -> None:
    """Every unqualified name in a HAVING or QUALIFY (`having sum(userz) > 1`) is a column of
    a table the query reads (`schema`) or one of its output columns. sqlglot's check skips
    these clauses, where a name may be an output alias; one that qualifying left as it was
    resolves to nothing (the engine's "Referenced column not found" at run time). A name
    known anywhere in the query is left to the engine (an outer query's, in a correlated
    subquery)."""
    known = {column.lower() for tables in schema.values() for columns in tables.values() for column in columns}
    selects = list(qualified.find_all(exp.Select))
    known.update(name.lower() for select in selects for name in select.named_selects)
    for select in selects:
        for clause in (select.args.get("having"), select.args.get("qualify")):
            for column in clause.find_all(exp.Column) if clause else ():
                if (column.table or not isinstance(column.this, exp.Identifier) or column.name.lower() in known
                        or column.find_ancestor(exp.Select, exp.Lambda) is not select):
                    continue
                raise sql.SqlError(f"unknown column '{column.name}'", *sql.written_at(column), column.name, tuple(sorted(known)))

"""What a step's SQL may not be, beyond "one SELECT" (sql.parse_select):

    strict(tree, text, dialect)   SQL that sqlglot reads leniently but the user did not mean:
                                  `select a, , b`, `group by x,, y`, `select from t`, an empty
                                  `group by`, `in ()`, a clause keyword taken as an alias
                                  (`from t order` reads as `t AS order`), DuckDB's COLUMNS(...)
                                  in a SELECT list (one item that becomes as many columns
                                  as it matches, named only when it runs)
    reads(tree, allowed)          a step reads refs, sources and seeds only: a table function
                                  (`from read_csv(...)`, `glob(...)`, `duckdb_settings()`) or a
                                  scalar function that reads files or the server
                                  (`read_text`, `pg_read_file`) is refused, unless the project
                                  allows it by name (`allowed_functions = ["read_parquet"]`)

Each returns the first problem as an sql.SqlError positioned in the rendered text
(the compiler maps it back to the template), or None.

>>> import sqlglot
>>> str(strict(sqlglot.parse_one("select a from t group by", read="duckdb"), "select a from t group by", "duckdb"))
'SQL syntax error: GROUP BY names no expression'
>>> str(reads(sqlglot.parse_one("select * from read_csv('/etc/passwd')", read="duckdb"), ()))
'a step reads refs, sources and seeds only: read_csv() is a table function'
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from toolkit.sql import SqlError

# Table functions a step may call: they generate rows, they read nothing.
_ROW_GENERATORS = (exp.GenerateSeries, exp.Unnest, exp.Values, exp.ExplodingGenerateSeries)

# Scalar functions that read files, the environment or the server's settings. Table
# functions are refused whatever their name (above); these are the scalar ones.
_READING_FUNCTIONS = frozenset({
    "read_text", "read_blob", "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json",
    "read_json_auto", "read_json_objects", "read_ndjson", "glob", "getenv", "current_setting",
    "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "lo_import", "lo_export",
    "dblink", "query", "query_table", "sniff_csv", "parquet_metadata", "parquet_schema", "sqlite_scan",
    "postgres_scan", "mysql_scan", "iceberg_scan", "delta_scan",
})
# Families of readers (`read_ndjson_auto`, `parquet_file_metadata`, `sqlite_attach` ...)
_SYSTEM_PREFIXES = ("duckdb_", "pragma_", "pg_ls_", "pg_read_", "read_", "parquet_", "sqlite_", "postgres_", "mysql_",
                    "iceberg_", "delta_")

# Clause keywords that sqlglot accepts as a bare alias (`from t order`), never meant as one.
_CLAUSE_WORDS = frozenset({"order", "group", "where", "having", "limit", "qualify", "window", "offset", "select", "from"})


def guard(tree: exp.Expression, text: str, dialect: str, allowed, tokens: list | None = None) -> SqlError | None:
    """strict, then reads, walking the tree once for both."""
    nodes = _collect(tree)
    return strict(tree, text, dialect, tokens, nodes) or reads(tree, allowed, nodes)


def strict(tree: exp.Expression, text: str, dialect: str, tokens: list | None = None, nodes: dict | None = None) -> SqlError | None:
    """`tokens`: text's tokens, when the caller has them (not tokenized again)."""
    problem = token_errors(tokens if tokens is not None else sqlglot.Dialect.get_or_raise(dialect).tokenize(text))
    if problem is not None:
        return problem
    nodes = nodes or _collect(tree)  # one walk of the tree for every check
    return _empty_clause(nodes) or _keyword_alias(nodes) or _expanding_item(nodes)


_CHECKED = {"select": exp.Select, "group": exp.Group, "in": exp.In, "alias": (exp.TableAlias, exp.Alias),
            "columns": exp.Columns, "table": exp.Table, "func": exp.Func}


def _collect(tree: exp.Expression) -> dict[str, list]:
    """The nodes the checks look at, by kind, in the order find_all would give them."""
    nodes: dict[str, list] = {kind: [] for kind in _CHECKED}
    for node in tree.walk():
        for kind in _kinds(type(node)):
            nodes[kind].append(node)
    return nodes


_KINDS: dict[type, tuple[str, ...]] = {}  # node class -> the kinds of _CHECKED it is


def _kinds(node_type: type) -> tuple[str, ...]:
    """The kinds a node of this class is, worked out once per class: seven isinstance
    calls for every node of every step were most of a 500-step project's guard time."""
    kinds = _KINDS.get(node_type)
    if kinds is None:
        kinds = _KINDS[node_type] = tuple(kind for kind, types in _CHECKED.items() if issubclass(node_type, types))
    return kinds


def reads(tree: exp.Expression, allowed, nodes: dict | None = None) -> SqlError | None:
    allowed = {name.lower() for name in allowed}
    nodes = nodes or _collect(tree)
    for function in nodes["func"]:
        if _as_relation(function) and not isinstance(function, _ROW_GENERATORS):
            name = _function_name(function)
            if name not in allowed:
                return _refused(function, name, "is a table function")
    for function in nodes["func"]:
        name = _function_name(function)
        reading = name in _READING_FUNCTIONS or name.startswith(_SYSTEM_PREFIXES)
        if reading and name not in allowed:
            return _refused(function, name, "reads files or the server")
    return None


def _as_relation(function: exp.Func) -> bool:
    """Called where a table goes: `from f(...)`, `join f(...)`, `lateral f(...)` (which
    sqlglot keeps in a Lateral node, not a Table)."""
    return function.arg_key == "this" and isinstance(function.parent, (exp.Table, exp.Lateral, exp.Join, exp.From))


def _function_name(function: exp.Func) -> str:
    if isinstance(function, exp.Anonymous):
        return str(function.this).lower()
    return function.sql_name().lower()


def _refused(function: exp.Func, name: str, why: str) -> SqlError:
    line, col = _position(function)
    return SqlError(
        f"a step reads refs, sources and seeds only: {name}() {why}", line, col, name,
        hint=f'a project that must call it allows it by name: allowed_functions = ["{name}"] in its config',
    )


def _position(node: exp.Expression) -> tuple[int | None, int | None]:
    for candidate in (node, *node.find_all(exp.Identifier, exp.Literal)):
        if candidate.meta.get("line"):
            return candidate.meta["line"], candidate.meta.get("col")
    return None, None


# A condition must follow these; sqlglot drops a dangling one (`join b on` became a cross join).
_NEEDS_CONDITION = {TokenType.ON, TokenType.WHERE, TokenType.HAVING, TokenType.AND, TokenType.OR, TokenType.QUALIFY}
_ENDS_CONDITION = {TokenType.SEMICOLON, TokenType.R_PAREN, TokenType.WHERE, TokenType.GROUP_BY, TokenType.ORDER_BY,
                   TokenType.HAVING, TokenType.LIMIT, TokenType.JOIN, TokenType.UNION, TokenType.QUALIFY}


def token_errors(tokens: list) -> SqlError | None:
    """An empty item between two commas; a clause keyword with no condition after it."""
    for before, after in zip(tokens, [*tokens[1:], None]):
        if after is not None and before.token_type == TokenType.COMMA and after.token_type == TokenType.COMMA:
            return SqlError("SQL syntax error: an empty item between two commas", after.line, after.col, ",")
        if before.token_type in _NEEDS_CONDITION and (after is None or after.token_type in _ENDS_CONDITION):
            word = before.text.upper()
            return SqlError(f"SQL syntax error: {word} is not followed by a condition", before.line, before.col, before.text)
    return None


def _empty_clause(nodes: dict) -> SqlError | None:
    for select in nodes["select"]:
        if not select.expressions:
            return SqlError("SQL syntax error: SELECT names no column", *_position(select))
    for group in nodes["group"]:
        if not any(group.args.get(key) for key in group.arg_types):
            return SqlError("SQL syntax error: GROUP BY names no expression", *_position(group.parent or group))
        if group.args.get("all") and group.expressions:  # `group by all, status`: sqlglot reads it, no engine does
            return SqlError("SQL syntax error: GROUP BY ALL takes no other expression (write GROUP BY ALL alone, or list "
                            "the columns)", *_position(group.expressions[0]))
    for in_ in nodes["in"]:
        if not (in_.expressions or in_.args.get("query") or in_.args.get("unnest") or in_.args.get("field")):
            return SqlError("SQL syntax error: IN () lists no value", *_position(in_))
    return None


def _keyword_alias(nodes: dict) -> SqlError | None:
    for alias in nodes["alias"]:
        identifier = alias.args.get("this") if isinstance(alias, exp.TableAlias) else alias.args.get("alias")
        if isinstance(identifier, exp.Identifier) and not identifier.quoted and identifier.name.lower() in _CLAUSE_WORDS:
            line, col = identifier.meta.get("line"), identifier.meta.get("col")
            return SqlError(
                f"SQL syntax error: '{identifier.name}' is read as an alias here; an incomplete {identifier.name.upper()} clause?",
                line, col, identifier.name,
            )
    return None


def _expanding_item(nodes: dict) -> SqlError | None:
    """Every output column has a name before the step runs (checks, lineage, other
    engines). COLUMNS(...) in a SELECT list has none: `min(COLUMNS(*))` is one item
    that DuckDB turns into a column per match, and the alias any item gets repeats on
    each (published as `c`, `c_1`). Unpacked into one function's arguments
    (`coalesce(*COLUMNS(...))`) it is one value, and allowed."""
    if not nodes["columns"]:  # the usual step
        return None
    for select in nodes["select"]:
        for item in select.expressions:
            for columns in item.find_all(exp.Columns):
                if not columns.args.get("unpack"):
                    return SqlError(
                        "COLUMNS(...) in a SELECT list makes as many columns as it matches, named only when the "
                        "query runs; a step's output columns are named before it builds", *_position(columns), "COLUMNS",
                        hint="list the columns it should produce, each with its name",
                    )
    return None

"""sqlglot passes over a step's SQL: each takes a syntax tree and returns one.

parse_select    text -> exactly one SELECT (anything else is rejected)
table_refs      tree -> the real tables it reads (not CTEs, not table functions)
replace_tables  tree -> tree with table references renamed (aliases kept)
qualify_step    tree -> output column names, checking every column reference
quote_stored_names  qualified tree -> source tables and columns in the catalog's spelling ("Orders", "UserId")
syntax_message  sqlglot's parse error -> one line a user reads (also for post_hooks)
normalized      tree -> canonical text for fingerprints (comments/format/case ignored)
to_target       tree -> SQL text in the target dialect, identifiers quoted by sqlglot
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, NamedTuple

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, OptimizeError, ParseError, TokenError, UnsupportedError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify

from toolkit import argminmax, asof, generation, intervals, meanings, qualifyfilter, taint

_POSITION = re.compile(r"Line: (\d+), Col: (\d+)")
# DOTALL: a quoted name may hold a line break (a var() joined into it); unmatched, the step ran unchecked
_UNRESOLVED = re.compile(r"Column '(.+?)' could not be resolved(?: for table: '(.+?)')?", re.DOTALL)
_UNKNOWN = re.compile(r"Unknown column: (.+)")  # to the end of the line: a name may hold spaces
_UNKNOWN_TABLE = re.compile(r"Unknown table: (.+)")  # `x.*` where no table or alias is x
_USING = re.compile(r"Cannot automatically join: (.+)")  # `join t using (k)` where one side has no k


@dataclass
class SqlError(Exception):
    """A problem in rendered SQL, positioned in the rendered text."""

    message: str
    line: int | None = None
    col: int | None = None
    token: str | None = None
    candidates: tuple[str, ...] = ()
    hint: str | None = None

    def __str__(self) -> str:
        return self.message


@lru_cache(maxsize=None)
def dialect_of(name: str) -> sqlglot.Dialect:
    """sqlglot's Dialect named `name`, made once. Given a name, sqlglot makes a new one at
    every parse, generation and identifier it normalizes (~6 us each, about 20,000 times in
    a 500-step compile); given the object it uses it as is. Its settings never change."""
    return sqlglot.Dialect.get_or_raise(name)


def tokenize(text: str, dialect: str) -> list:
    """sqlglot's tokens for `text`; an unclosed quote or comment is an SqlError."""
    try:
        return dialect_of(dialect).tokenize(text)
    except TokenError:
        raise _token_error(text, dialect) from None


class _Quiet(logging.Filter):
    """Drops sqlglot's log records on the threads inside quiet_parse()."""

    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "on", False)


_QUIET = _Quiet()
logging.getLogger("sqlglot").addFilter(_QUIET)


@contextmanager
def quiet_parse():
    """Parse user SQL without sqlglot's log lines: "'call foo()' contains unsupported
    syntax. Falling back to parsing as a 'Command'" reached the user beside toolkit's own
    error (every caller refuses a Command with its file and line)."""
    before = getattr(_QUIET.local, "on", False)
    _QUIET.local.on = True
    try:
        yield
    finally:
        _QUIET.local.on = before


def parse_select(text: str, dialect: str, tokens: list | None = None) -> exp.Query:
    """The one SELECT (or UNION ...) in `text`; a second statement or DDL is an error.
    `tokens`: text's tokens when the caller has them (tokenize()), read instead of
    tokenizing again."""
    try:
        with quiet_parse():  # a Command fallback is refused below
            if tokens is None:
                statements = sqlglot.parse(text, read=dialect_of(dialect))
            else:
                statements = dialect_of(dialect).parser().parse(tokens, text)
        # None: an empty statement (`;;`); Semicolon: only a comment after a `;` (`select 1; -- end`)
        statements = [s for s in statements if s is not None and not isinstance(s, exp.Semicolon)]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        raise SqlError(syntax_message(first, str(error)), first.get("line"), first.get("col"), first.get("highlight")) from None
    except TokenError:
        raise _token_error(text, dialect) from None
    if not statements:
        raise SqlError("the step is empty: it must be one SELECT statement", 1, 1)
    if len(statements) > 1:
        line = _second_statement_line(text, dialect)
        raise SqlError(
            f"a step must be exactly one SELECT statement; found {len(statements)} statements", line, 1
        )
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        line = next(iter(sqlglot.Dialect.get_or_raise(dialect).tokenize(text)), None)
        raise SqlError(
            f"a step must be one SELECT statement; found {_statement_kind(statement)}", line.line if line else 1, 1
        )
    writer = next((node for node in statement.walk() if _writes(type(node))), None)  # what find(*_WRITES) finds
    if writer is not None:  # e.g. WITH gone AS (DELETE ... RETURNING *) SELECT ...: the engine would run it
        name = writer.find(exp.Identifier)
        line, col = (name.meta.get("line"), name.meta.get("col")) if name is not None else (1, 1)
        raise SqlError(f"a step must be one SELECT statement; found {_statement_kind(writer)} inside it", line, col)
    if "collate" in text.lower():
        _keep_collation_case(statement)
    return _order_by_all(statement, dialect)


def _order_by_all(tree: exp.Expression, dialect: str) -> exp.Expression:
    """`tree` itself, Snowflake's ORDER BY ALL read as DuckDB's (sqlglot reads it there as a
    column named all, "unknown column"; ALL is a reserved word in Snowflake, so an unquoted
    `all` as a query's only key is ORDER BY ALL: every output column, left to right)."""
    if dialect != "snowflake":
        return tree
    for order in tree.find_all(exp.Order):
        keys = order.expressions
        if len(keys) == 1 and isinstance(keys[0].this, exp.Column) and not keys[0].this.table \
                and not keys[0].this.this.quoted and keys[0].this.name.upper() == "ALL":
            keys[0].set("this", exp.var("ALL"))
    return tree


def _keep_collation_case(tree: exp.Expression) -> None:
    """A quoted collation name keeps its case: identifier normalization lower-cases quoted
    names too in DuckDB's dialect, and PostgreSQL knows "C", not "c"."""
    for collate in tree.find_all(exp.Collate):
        if isinstance(collate.expression, exp.Identifier) and collate.expression.quoted:
            collate.expression.meta["case_sensitive"] = True


_WRITER_CLASSES: dict[type, bool] = {}  # node class -> whether it is one of _WRITES


def _writes(node_type: type) -> bool:
    """Worked out once per class: isinstance against 23 classes at every node of every
    step cost more than the walk itself (find(*_WRITES): ~35 ms of a 500-step compile)."""
    found = _WRITER_CLASSES.get(node_type)
    if found is None:
        found = _WRITER_CLASSES[node_type] = issubclass(node_type, _WRITES)
    return found


def _token_error(text: str, dialect: str) -> SqlError:
    """Where tokenizing stopped: just after the last token read (an unclosed quote or comment)."""
    tokenizer = sqlglot.Dialect.get_or_raise(dialect).tokenizer_class(dialect=dialect)
    try:
        tokenizer.tokenize(text)
    except TokenError:
        pass
    after = tokenizer.tokens[-1].end + 1 if tokenizer.tokens else 0
    offset = after + len(text[after:]) - len(text[after:].lstrip())
    line, col = text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1
    rest = text[offset:]
    if rest[:1] in ("'", '"', "`"):
        return SqlError(f"SQL syntax error: unclosed quote {rest[0]} (no matching {rest[0]} after it)", line, col)
    if rest.startswith("/*"):
        return SqlError("SQL syntax error: unclosed comment /* (no */ after it)", line, col)
    return SqlError(f"SQL syntax error: cannot read the SQL near '{rest[:20]}'", line, col)


def syntax_message(first: dict, fallback: str) -> str:
    """sqlglot's description without its token and class reprs, plus where it stopped."""
    description = re.sub(r"\s*(but got\s*)?<Token.*", "", first.get("description", fallback), flags=re.S)
    description = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", lambda m: m.group(1).upper(), description).strip()
    highlight = first.get("highlight")
    return f"SQL syntax error: {description} near '{highlight}'" if highlight else f"SQL syntax error: {description}"


# Statements that write or change the session, wherever they appear in a query's tree.
_WRITES = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.TruncateTable,
    exp.Copy, exp.Attach, exp.Detach, exp.Pragma, exp.Set, exp.Use, exp.Grant, exp.Transaction,
    exp.Commit, exp.Rollback, exp.LoadData, exp.Install, exp.Export, exp.Command, exp.Into,
)


def _statement_kind(statement: exp.Expression) -> str:
    if isinstance(statement, exp.Command):
        return str(statement.this).upper()
    return statement.key.upper()


def _second_statement_line(text: str, dialect: str) -> int | None:
    tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(text)
    for index, token in enumerate(tokens[:-1]):
        if token.token_type == sqlglot.TokenType.SEMICOLON:
            return tokens[index + 1].line
    return None


def cte_names(tree: exp.Expression) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def table_refs(tree: exp.Expression) -> list[exp.Table]:
    """Tables read by the query: not CTE names, not table functions."""
    local = cte_names(tree)
    refs = []
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue
        if not table.db and table.name.lower() in local:
            continue
        refs.append(table)
    return refs


def replace_tables(tree: exp.Expression, rename: Callable[[exp.Table], exp.Expression | None], copy: bool = True) -> exp.Expression:
    """`tree` (a copy unless copy=False) with each table reference renamed; `rename` returns None to keep one,
    or a subquery to read in its place.

    An unaliased table gets its old name as alias, so `orders.amount` still resolves.
    """
    local = cte_names(tree)

    def transform(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
            return node
        if not node.db and node.name.lower() in local:
            return node
        new = rename(node)
        if new is None:
            return node
        if not node.alias:
            node.set("alias", exp.TableAlias(this=exp.to_identifier(node.name)))
        if isinstance(new, exp.Subquery):  # a source read through its lower-case names (sources.source_relation)
            read = new.copy().as_(node.args["alias"].this.copy())
            for part in ("joins", "laterals", "pivots"):  # FROM (a JOIN b ...) parses as a table carrying its join
                if node.args.get(part):  # moved, and renamed inside too (transform skips a replacement's children)
                    read.set(part, [item.transform(transform, copy=False) for item in node.args[part]])
            return read
        for part in ("this", "db", "catalog"):
            value = new.args.get(part)
            node.set(part, value.copy() if value is not None else None)
        return node

    return (tree.copy() if copy else tree).transform(transform, copy=False)


def qualify_step(tree: exp.Expression, schema: dict, dialect: str) -> tuple[exp.Expression, list[str]] | None:
    """(qualified tree, output column names), checking every column reference.

    Qualifies `tree` in place (copying costs as much as qualifying): identifiers
    normalized, columns qualified with their table, stars expanded. `schema` maps
    db -> table -> column -> type for the tables the step reads. Returns None when
    sqlglot cannot qualify the query (an exotic construct); `tree` may then be
    half-rewritten and must be rebuilt. Unknown or ambiguous columns raise SqlError.
    """
    if any(_unqualifiable(node) for node in tree.find_all(exp.Pivot, exp.Like, exp.SimilarTo)):  # one walk
        return None
    stars = [written_at(star) for star in tree.find_all(exp.Star)]  # star expansion drops them
    written = fold_quoted_names(tree)
    late_clauses = tree.find(exp.Having, exp.Qualify) is not None  # the common step pays one walk, not a scope traversal
    if late_clauses:
        _mark_merging_joins(tree)  # qualify rewrites USING and NATURAL into ON
    try:
        qualified = qualify(
            tree,
            schema=schema,
            dialect=dialect_of(catalog_dialect(dialect)),  # names resolve against toolkit's lower-case catalog
            validate_qualify_columns=True,
            quote_identifiers=False,
        )
    except OptimizeError as error:
        text = str(error)
        unresolved = _UNRESOLVED.search(text) or _UNKNOWN.search(text)
        position = _POSITION.search(text)
        line, col = (int(position.group(1)), int(position.group(2))) if position else _column_position(tree, unresolved)
        if unresolved:
            folded = unresolved.group(1).strip('"`')
            name = written.get(folded, folded)  # as the user wrote it
            candidates = tuple(dict.fromkeys(c for tables in schema.values() for cols in tables.values() for c in cols))
            qualifier = unresolved.group(2) if unresolved.re is _UNRESOLVED else None
            if qualifier:
                qualifier = written.get(qualifier, qualifier)
                message = f"unknown column '{qualifier}.{name}': '{qualifier}' is not a table or alias of this query"
                raise SqlError(message, line, col, name) from None
            raise _unresolved_column(tree, folded, name, schema, (line, col), candidates) from None
        if "mbiguous" in text:
            raise SqlError(_POSITION.sub("", text).strip(" .") , line, col) from None
        problem = _unknown_star_table(tree, _UNKNOWN_TABLE.search(text), written) or _unknown_using(tree, _USING.search(text), written)
        if problem is not None:
            raise problem from None
        return None
    except Exception:  # sqlglot cannot qualify this construct; checks are skipped, not the step
        return None
    ambiguous = _ambiguous_in_having_or_qualify(qualified, schema, written) if late_clauses else None
    if ambiguous is not None:
        raise ambiguous
    selects = qualified.named_selects
    if not selects or "*" in selects:
        return None
    _lower_case_outputs(qualified)
    columns = [name.lower() for name in selects]
    _check_distinct_outputs(qualified, columns, stars)
    return qualified, columns


def _unresolved_column(tree: exp.Expression, folded: str, name: str, schema: dict, at: tuple, candidates: tuple) -> SqlError:
    """An unqualified column sqlglot could not resolve, at that very reference: ambiguous when
    two tables of its scope have it, unknown when none does (even if another scope's table
    has it: a CTE's input, a subquery's FROM), with the scope's columns to suggest."""
    found = _unqualified_use(tree, folded, schema, at)
    line, col = at
    if found is not None:
        column, holders, known = found
        line, col = _name_position(column)
        if len(holders) > 1:
            return _ambiguous_column(name, folded, holders, line, col)
        if not holders and known is not None:
            return SqlError(f"unknown column '{name}'", line, col, name, tuple(sorted(known)))
    if folded not in candidates:
        return SqlError(f"unknown column '{name}'", line, col, name, candidates)
    return SqlError(f"column '{name}' cannot be resolved here: it is ambiguous or not in scope", line, col, name,
                    hint=f"qualify it with a table alias, e.g. t.{folded}")


def _ambiguous_column(name: str, folded: str, holders: list[str], line: int | None, col: int | None) -> SqlError:
    tables, each = f"{', '.join(holders[:-1])} and {holders[-1]}", "both" if len(holders) == 2 else "all"
    return SqlError(f"column '{name}' is ambiguous: {tables} {each} have it", line, col, name,
                    hint=f"qualify it with a table alias, e.g. {holders[0]}.{folded}")


def _ambiguous_in_having_or_qualify(tree: exp.Expression, schema: dict, written: dict[str, str]) -> SqlError | None:
    """An unqualified column of HAVING or QUALIFY (a window's PARTITION BY there too) that
    two tables of its query have. sqlglot neither qualifies nor checks these names (one may
    be an output alias), so the engine refused them at run time (DuckDB, PostgreSQL) or,
    on a lenient one, picked a table. A name that is an output alias or a lambda's
    parameter is left alone: valid SQL is never refused. A column USING or NATURAL merged
    (joins marked by _mark_merging_joins) is one column: qualify rewrote those joins to ON,
    so it is rewritten here as the COALESCE sqlglot writes for it in SELECT."""
    from sqlglot.optimizer.scope import traverse_scope, walk_in_scope

    tables = {(db.lower(), table.lower()): {c.lower() for c in columns} for db, in_db in schema.items() for table, columns in in_db.items()}
    try:
        scopes = traverse_scope(tree)
    except Exception:  # a construct sqlglot cannot scope: left to the engine, as before
        return None
    for scope in scopes:
        select = scope.expression
        if not isinstance(select, exp.Select):
            continue
        merged = _merged_columns(select, scope, tables)
        clauses = [clause for clause in (select.args.get("having"), select.args.get("qualify")) if clause is not None]
        outputs = {name.lower() for name in select.named_selects}
        for clause in clauses:
            for column in list(walk_in_scope(clause)):
                if not isinstance(column, exp.Column) or column.table or not isinstance(column.this, exp.Identifier):
                    continue
                folded = column.name.lower()
                if folded in outputs or _lambda_parameter(column, folded):
                    continue
                holders = [alias for alias, (_, source) in scope.selected_sources.items()
                           if folded in (_source_columns(source, tables) or ())]
                if len(holders) > 1 and sorted(holders) == sorted(merged.get(folded, ())):
                    column.replace(exp.func("coalesce", *(exp.column(folded, table=alias) for alias in merged[folded])))
                elif len(holders) > 1:
                    return _ambiguous_column(written.get(folded, column.name), folded, holders, *_name_position(column))
    return None


_MERGES = "toolkit_merges"  # a Join's meta: the columns its USING (or "natural") merges


def _mark_merging_joins(tree: exp.Expression) -> None:
    for join in tree.find_all(exp.Join):
        using = [identifier.name.lower() for identifier in join.args.get("using") or () if isinstance(identifier, exp.Expression)]
        if using or join.method == "NATURAL":
            join.meta[_MERGES] = tuple(using) or "natural"


def _merged_columns(select: exp.Select, scope, tables: dict) -> dict[str, list[str]]:
    """column -> the aliases of the tables its USING / NATURAL joins made one column of."""
    from_ = select.args.get("from_")
    joins = select.args.get("joins") or []
    if from_ is None or not any(_MERGES in join.meta for join in joins):
        return {}
    seen: dict[str, list[str]] = {}  # column -> aliases of the tables joined so far having it
    merged: dict[str, list[str]] = {}
    for node, join in [(from_.this, None), *((join.this, join) for join in joins)]:
        alias = node.alias_or_name
        source = scope.selected_sources.get(alias)
        columns = (_source_columns(source[1], tables) if source else None) or set()
        merges = join.meta.pop(_MERGES, ()) if join is not None else ()
        for name in ({c for c in columns if c in seen} if merges == "natural" else merges):
            merged[name] = list(dict.fromkeys([*merged.get(name, seen.get(name, [])), alias]))
        for name in columns:
            seen.setdefault(name, []).append(alias)
    return merged


def _lambda_parameter(column: exp.Column, folded: str) -> bool:
    lambda_ = column.find_ancestor(exp.Lambda)
    while lambda_ is not None:
        if any(parameter.name.lower() == folded for parameter in lambda_.expressions):
            return True
        lambda_ = lambda_.find_ancestor(exp.Lambda)
    return False


def _unqualified_use(tree: exp.Expression, folded: str, schema: dict, at: tuple) -> tuple | None:
    """(the unqualified reference to `folded` at `at`, else the first one; the aliases of
    its scope's tables having such a column - of the enclosing query's when a subquery's
    have none; every column those tables have, or None when one's columns are unknown)."""
    from sqlglot.optimizer.scope import traverse_scope

    tables = {(db.lower(), table.lower()): {c.lower() for c in columns} for db, in_db in schema.items() for table, columns in in_db.items()}
    try:
        uses = [(scope, column) for scope in traverse_scope(tree) for column in scope.columns
                if not column.table and column.name.lower() == folded]
    except Exception:  # a construct sqlglot cannot scope: the general message stands
        return None
    if not uses:
        return None
    scope, column = next(((s, c) for s, c in uses if _name_position(c) == at), uses[0])
    holders: list[str] = []
    known: set[str] | None = set()
    while scope is not None and not holders:
        for alias, (_, source) in scope.selected_sources.items():
            columns = _source_columns(source, tables)
            if columns is None:
                known = None
            elif folded in columns:
                holders.append(alias)
            if known is not None and columns is not None:
                known |= columns
        scope = scope.parent if scope.is_subquery else None  # a correlated subquery sees the outer FROM
    return column, holders, known


def _source_columns(source, tables: dict) -> set[str] | None:
    """The lower-case columns of a scope's source (a table, or a derived table or CTE's scope)."""
    if isinstance(source, exp.Table):
        return tables.get((source.db.lower(), source.name.lower()))
    query = getattr(source, "expression", None)
    names = query.named_selects if isinstance(query, exp.Query) else []
    return {n.lower() for n in names} if names and "*" not in names else None


def _unknown_star_table(tree: exp.Expression, unknown: re.Match | None, written: dict[str, str]) -> SqlError | None:
    """`x.*` where x names no table of its query (sqlglot: "Unknown table: x"), positioned
    at x; None for another construct sqlglot says it of (it stays unchecked)."""
    for column in tree.find_all(exp.Column) if unknown else ():
        qualifier = column.args.get("table")
        if column.is_star and isinstance(qualifier, exp.Identifier) and qualifier.name == unknown.group(1):
            name = written.get(qualifier.name, qualifier.name)
            return SqlError(f"unknown table '{name}' in '{name}.*': '{name}' is not a table or alias of this query",
                            *written_at(qualifier), name)
    return None


def _unknown_using(tree: exp.Expression, unknown: re.Match | None, written: dict[str, str]) -> SqlError | None:
    """`join t using (k)` where a side has no column k (sqlglot: "Cannot automatically
    join: k"), positioned at k."""
    for join in tree.find_all(exp.Join) if unknown else ():
        for identifier in join.args.get("using") or ():
            if isinstance(identifier, exp.Expression) and identifier.name == unknown.group(1):
                name = written.get(identifier.name, identifier.name)
                return SqlError(f"unknown column '{name}' in USING: both joined tables need a column '{name}'",
                                *written_at(identifier), name, hint="join with ON, naming each side's column")
    return None


def fold_quoted_names(tree: exp.Expression) -> dict[str, str]:
    """Fold `tree`'s quoted names, in place, to toolkit's lower-case catalog as well;
    returns folded name -> the spelling written first, for error messages.

    A dialect whose quotes keep case (postgres: `"UserId"`) could not name a column the
    catalog holds as userid, nor a mixed-case source column at all; the DuckDB dialect
    already folds quoted names. A checked tree then reads a source's stored spelling
    through quote_stored_names, and names that are ambiguous when folded are refused
    there. Identifiers toolkit spelled as stored (meta "case_sensitive") keep their case.
    """
    written: dict[str, str] = {}
    for identifier in tree.find_all(exp.Identifier):
        name = identifier.this
        if identifier.quoted and isinstance(name, str) and name != name.lower() and not identifier.meta.get("case_sensitive"):
            written.setdefault(name.lower(), name)
            identifier.set("this", name.lower())
    return written


def _check_distinct_outputs(tree: exp.Query, columns: list[str], stars: list[tuple]) -> None:
    """Every output column has its own name. Names are case-insensitive in toolkit's
    catalog, and engines disagree on a repeated one (DuckDB publishes `id` and `id_1`,
    PostgreSQL refuses), so `a AS id, b AS ID` or a `*` over a join of tables sharing a
    column is an error at compile time, where it was written."""
    seen: set[str] = set()
    for index, name in enumerate(columns):
        if name not in seen:
            seen.add(name)
            continue
        first = _first_select(tree)
        projection = first.expressions[index] if first is not None else None
        alias = projection.args.get("alias") if projection is not None else None
        token = name
        if alias is not None and alias.meta.get("line") is not None or not stars:
            line, col = written_at(projection) if projection is not None else (None, None)
        else:  # a column a star brought in: where the star was written
            (line, col), token = stars[0], None
        raise _appears_twice(name, line, col, token, "rename one with AS, or list the columns instead of a * over "
                             "tables that share one")


def _unqualifiable(node: exp.Expression) -> bool:
    """DuckDB's PIVOT / UNPIVOT statement (`pivot t on k using sum(v)`): sqlglot's qualify
    knows no output columns for it (with `on k` they come from the data), and would call
    valid columns unknown or ambiguous (the SQL-standard form qualifies). A star filtered
    by a pattern in a SELECT list (pattern_star)."""
    if isinstance(node, exp.Pivot):
        return node.this is not None
    item = node.parent if isinstance(node.parent, exp.Not) else node
    return isinstance(item.parent, exp.Select) and pattern_star(item)


def pattern_star(item: exp.Expression) -> bool:
    """DuckDB's `* LIKE 'i%'` / `t.* SIMILAR TO '...'`: the columns whose names match.
    sqlglot reads it as one boolean expression over a star, and qualifying would name it
    `_col_0`, an alias DuckDB then gives every matched column (`* ILIKE` it reads right)."""
    if isinstance(item, exp.Not):
        item = item.this
    if not isinstance(item, (exp.Like, exp.SimilarTo)):
        return False
    operand = item.this
    return isinstance(operand, exp.Star) or isinstance(operand, exp.Column) and isinstance(operand.this, exp.Star)


# Calls whose answer changes while nothing a step reads does (the clock, randomness,
# sequences): a table computed from one goes stale when reused (volatile_calls).
_VOLATILE_NODES = (exp.CurrentDate, exp.CurrentDatetime, exp.CurrentTime, exp.CurrentTimestamp, exp.CurrentTimestampLTZ,
                   exp.Localtime, exp.Localtimestamp, exp.Rand, exp.Randn, exp.Randstr, exp.Uuid)
_VOLATILE_NAMES = re.compile(r"(now|today|current_\w+|get_current_\w+|transaction_timestamp|statement_timestamp|clock_timestamp|"
                             r"timeofday|localtime\w*|sysdate|getdate|systimestamp|random|setseed|uuid\w*|gen_random_uuid|"
                             r"nextval|currval)", re.IGNORECASE)


def volatile_calls(tree: exp.Expression | None) -> list[str]:
    """The calls in `tree` whose answer changes from run to run with the same inputs
    (now(), current_date, random(), uuid(), nextval(...)), as `name()`, sorted."""
    found = set()
    for node in tree.find_all(exp.Func) if tree is not None else ():
        if isinstance(node, _VOLATILE_NODES):
            found.add(f"{node.sql_name().lower()}()")
        elif isinstance(node, exp.Anonymous) and _VOLATILE_NAMES.fullmatch(str(node.this)):
            found.add(f"{str(node.this).lower()}()")
    return sorted(found)


def unnests_at_top(tree: exp.Expression) -> bool:
    """An item of the query's output SELECT list is an UNNEST (aliased or not; sqlglot reads
    DuckDB's as Explode)."""
    first = _first_select(tree)
    return first is not None and any(isinstance(item.unalias(), (exp.Unnest, exp.Explode)) for item in first.expressions)


INLINED_PREFIX = "toolkit_ephemeral__"


def inlined_name(step: str) -> str:
    """The CTE an ephemeral step is inlined as (a name no user CTE is likely to take)."""
    return INLINED_PREFIX + step


def with_inlined(query: exp.Query, bodies: dict[str, exp.Expression]) -> exp.Query:
    """`query` with each ephemeral step in `bodies` (step -> its query) as a leading CTE."""
    if not bodies:
        return query
    ctes = [exp.CTE(this=body, alias=exp.TableAlias(this=exp.to_identifier(inlined_name(name)))) for name, body in bodies.items()]
    existing = query.args.get("with_")
    query.set("with_", exp.With(expressions=ctes + (existing.expressions if existing else []),
                                recursive=existing.args.get("recursive") if existing else None))
    return query


def row_sources(query: exp.Query) -> list[tuple[str | None, exp.Query]]:
    """(where, query) of everything in `query` whose output columns an engine names: the
    query itself (where None), each CTE body and each derived table in a FROM or JOIN
    (not one whose alias lists its columns: those name them)."""
    ctes = query.args.get("with_")
    found: list[tuple[str | None, exp.Query]] = [(None, query)]
    for cte in ctes.expressions if ctes else ():
        if not cte.args["alias"].columns:
            inlined = cte.alias.startswith(INLINED_PREFIX)
            found.append((f"ephemeral step {cte.alias[len(INLINED_PREFIX):]}" if inlined else f"CTE {cte.alias}", cte.this))
    for derived in query.find_all(exp.Subquery):
        alias = derived.args.get("alias")
        if isinstance(derived.parent, (exp.From, exp.Join)) and isinstance(derived.this, exp.Query) and not (alias and alias.columns):
            found.append((f"derived table {derived.alias}" if derived.alias else "a derived table", derived.this))
    return found


def written_names(part: exp.Query) -> list[str] | None:
    """The output names a query's SELECT list spells out, or None where a star (or a
    shape other than SELECT / set operation) leaves them to the engine."""
    select = _first_select(part)
    if select is None or any(item.is_star for item in select.expressions):
        return None
    return [item.alias_or_name.lower() for item in select.expressions]


def star_may_repeat(part: exp.Query) -> bool:
    """A star may repeat a name only beside other items or over more than one relation
    (a star over one table, CTE or derived table gives that relation's own names)."""
    select = _first_select(part)
    return select is None or len(select.expressions) > 1 or len(from_items(select)) > 1


def standalone(part: exp.Query, query: exp.Query) -> exp.Query:
    """`part` of `query` as a query of its own, behind the query's CTEs (which it may read)."""
    ctes = query.args.get("with_")
    if part is query or not ctes or part.args.get("with_"):
        return part
    alone = part.copy()
    alone.set("with_", ctes.copy())
    return alone


def from_items(select: exp.Select) -> list[exp.Expression]:
    """What a SELECT reads: its FROM item, then each JOIN's."""
    items = [select.args["from_"].this] if select.args.get("from_") else []
    return items + [join.this for join in select.args.get("joins") or ()]


def check_named_outputs(tree: exp.Query) -> None:
    """_check_distinct_outputs for a query sqlglot could not qualify: its items that name
    their column (`a.id`, `x AS id`) still may not repeat a name. What a `*` brings in
    is unknown until it runs."""
    first = _first_select(tree)
    items = first.expressions if first is not None else []
    if any(item.is_star for item in items):
        items = [item for item in items if not item.is_star]
    seen: set[str] = set()
    for item in items:
        name = item.alias_or_name.lower()
        if name and name in seen:
            raise _appears_twice(name, *written_at(item), name, "rename one with AS")
        seen.add(name)


def _appears_twice(name: str, line: int | None, col: int | None, token: str | None, hint: str) -> SqlError:
    return SqlError(f"output column '{name}' appears twice: every output column needs its own name "
                    "(column names are case-insensitive)", line, col, token, hint=hint)


def _first_select(tree: exp.Expression) -> exp.Select | None:
    """The SELECT that names a query's output columns (a UNION's first)."""
    while isinstance(tree, exp.SetOperation):
        tree = tree.this
    return tree if isinstance(tree, exp.Select) else None


def written_at(node: exp.Expression) -> tuple[int | None, int | None]:
    """(line, col) where `node` was written, as sqlglot's parser recorded it on its alias,
    its name (a column's, a table's) or itself; (None, None) for a node toolkit made."""
    alias = node.args.get("alias")
    if isinstance(alias, exp.Expression) and alias.meta.get("line") is not None:
        return alias.meta["line"], alias.meta.get("col")
    if isinstance(node.this, exp.Expression):
        line, col = written_at(node.this)
        if line is not None:
            return line, col
    return node.meta.get("line"), node.meta.get("col")


def _lower_case_outputs(tree: exp.Expression) -> None:
    """Output names quoted in mixed case (`as "TotalSpend"` in a dialect where quotes keep
    case) become lower case, as toolkit's catalog names every column: published as
    written, no reader could resolve them (unquoted, TotalSpend means totalspend). The
    query's own ORDER BY / QUALIFY references to them follow."""
    first = _first_select(tree)
    if first is None:
        return
    renamed = {}
    for projection in first.expressions:
        name = projection.alias_or_name
        if isinstance(projection, exp.Alias) and name != name.lower():
            projection.set("alias", exp.to_identifier(name.lower(), quoted=True))
            renamed[name] = name.lower()
    for query in {id(tree): tree, id(first): first}.values():
        for clause in (query.args.get("order"), query.args.get("qualify")):
            for column in clause.find_all(exp.Column) if clause else ():
                if not column.table and column.name in renamed:
                    column.set("this", exp.to_identifier(renamed[column.name], quoted=True))


class StoredNames(NamedTuple):
    """How the catalog spells a source's names where that is not toolkit's lower case."""

    schema: str | None  # None: the lower-case name
    table: str | None
    columns: dict[str, str]  # lower-case column -> stored name, only those that differ
    ambiguous: dict[str, tuple[str, ...]] = {}  # lower-case column -> stored names sharing it ("Val", "val")


def quote_stored_names(tree: exp.Expression, stored: dict[tuple[str, str], StoredNames], columns: bool = True) -> None:
    """Point `tree`'s source tables in `stored` ((db, table) in lower case) and, in a
    qualified tree (`columns`), their columns at their stored, quoted spelling, in
    place. A compile-cache hit re-applies it to the re-parsed tree (compiler.CachedStep).

    Qualification folds names into toolkit's lower-case catalog, which matches any
    name on a case-insensitive engine but not PostgreSQL's "Orders" or "UserId". Tables
    keep their lower-case aliases, so columns stay qualified as before, and output
    columns their lower-case names, so the step publishes what the catalog said.
    """
    from sqlglot.optimizer.scope import traverse_scope

    for table in tree.find_all(exp.Table):
        names = stored.get((table.db.lower(), table.name.lower()))
        if names is not None and names.schema:
            table.set("db", _stored_identifier(names.schema))
        if names is not None and names.table:
            table.set("this", _stored_identifier(names.table))
    for scope in traverse_scope(tree) if columns else ():
        for column in scope.columns:
            table = scope.sources.get(column.table)
            if not isinstance(table, exp.Table):
                continue
            names = stored.get((table.db.lower(), table.name.lower()))
            if names is not None and column.name.lower() in names.ambiguous:
                both = " and ".join(f'"{name}"' for name in names.ambiguous[column.name.lower()])
                raise SqlError(f"column {column.name} of {table.db}.{table.name} is ambiguous: the table stores {both}, "
                               "which SQL folding names to one case cannot tell apart", *_name_position(column),
                               hint="rename one of them in the warehouse, or read the table through a view that does")
            spelled = names.columns.get(column.name.lower()) if names is not None else None
            if spelled is not None:
                column.set("this", _stored_identifier(spelled))


def _name_position(column: exp.Column) -> tuple[int | None, int | None]:
    meta = column.this.meta if isinstance(column.this, exp.Expression) else {}
    return meta.get("line"), meta.get("col")


def _stored_identifier(name: str) -> exp.Identifier:
    identifier = exp.to_identifier(name, quoted=True)
    identifier.meta["case_sensitive"] = True  # normalize() must not fold it back (DuckDB folds quoted names)
    return identifier


def _column_position(tree: exp.Expression, unresolved: re.Match | None) -> tuple[int | None, int | None]:
    """Where the first column reference named like the unresolved one is (sqlglot did not
    say): qualified as it is - `t.x` for "Unknown column: x" (a table's), a bare `x` for an
    unqualified one, not an earlier `a.x` that resolved."""
    if unresolved:
        name = unresolved.group(1).strip('"`').lower()
        table = unresolved.group(2) if unresolved.re is _UNRESOLVED else None
        for column in tree.find_all(exp.Column):
            qualified_alike = bool(column.table) if unresolved.re is _UNKNOWN else (column.table or None) == table
            if column.name.lower() == name and isinstance(column.this, exp.Identifier) and qualified_alike:
                return column.this.meta.get("line"), column.this.meta.get("col")
    return None, None


def normalized(tree: exp.Expression, dialect: str) -> str:
    """Canonical text: comments, whitespace and keyword or identifier case do not count."""
    return canonical_text(normalize(tree.copy(), dialect), dialect)


def canonical_text(tree: exp.Expression, dialect: str) -> str:
    """Canonical text of a tree whose identifiers are already normalized (compiled trees are)."""
    # the text only: a remark of sqlglot's on the dialect (EXTRACT of a TIMESTAMPTZ) is for to_target to make
    return tree.sql(dialect=dialect_of(dialect), comments=False, unsupported_level=ErrorLevel.IGNORE)


def tree_shape(tree: exp.Expression) -> str:
    """A digest of `tree`'s structure (each node's kind under each argument, no values):
    what reparsing its text must give back besides the same text. sqlglot writes
    different trees as the same text in a dialect and reads that text back as one of
    them: DuckDB's text of percentile_disc(q) WITHIN GROUP (ORDER BY x) is
    QUANTILE_DISC(x, q ORDER BY x), an ordered call that PostgreSQL's text gives a second
    ORDER BY; DuckDB's initcap(s) is a regexp_extract_all/list_transform expression."""
    return hashlib.sha256(_shape(tree).encode()).hexdigest()


def _shape(node: exp.Expression) -> str:
    parts = []
    for name in sorted(node.args):  # by name: a pass that sets an argument appends it
        value = node.args[name]
        children = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, exp.Expression)]
        if children:
            parts.append(f"{name}=[{','.join(_shape(child) for child in children)}]")
    return f"{node.key}({' '.join(parts)})"


def reparse(text: str, dialect: str) -> exp.Expression | None:
    """A compiled tree again from its canonical text (the compile cache keeps text, not
    trees); None if sqlglot cannot read its own output back."""
    try:
        return drop_positions(_within_group(_order_by_all(sqlglot.parse_one(text, read=dialect), dialect), dialect))
    except Exception:
        return None


_ORDERED_SET = (exp.PercentileDisc, exp.PercentileCont)


def _within_group(tree: exp.Expression, dialect: str) -> exp.Expression:
    """`tree` itself, DuckDB's spelling of an ordered-set aggregate read as the WITHIN GROUP
    call it was written from. sqlglot writes percentile_disc(q) WITHIN GROUP (ORDER BY x) as
    QUANTILE_DISC(x, q ORDER BY x) and mode() WITHIN GROUP (ORDER BY x) as MODE( ORDER BY x),
    and reads those back as ordered calls, which PostgreSQL's and Spark's text give a second
    ORDER BY. Both spellings mean the same in DuckDB, so the text read back (the compile
    cache's, a view's published SQL) writes for any target as the step's own tree does."""
    if dialect != "duckdb":
        return tree
    for call in list(tree.find_all(*_ORDERED_SET, exp.Mode)):
        order = call.expression if isinstance(call, _ORDERED_SET) else call.this
        if not isinstance(order, exp.Order) or len(order.expressions) != 1:
            continue
        if isinstance(call, _ORDERED_SET) and order.this is not None and order.expressions[0].this == call.this:
            bare = type(call)(this=order.this.pop())
        elif isinstance(call, exp.Mode) and order.this is None and not call.expressions:
            bare = exp.Mode()
        else:
            continue
        order.pop()
        call.replace(exp.WithinGroup(this=bare, expression=order))
    return tree


_POSITION_KEYS = ("line", "col", "start", "end")


def drop_positions(tree: exp.Expression) -> exp.Expression:
    """`tree` itself, without the source positions the parser put on its identifiers.

    A compiled tree is copied many times (every generation of text copies it: the
    content hash, column lineage, each build's query), and sqlglot copies a node's
    metadata with Python's copy.deepcopy, most of the cost of a copy (a profiled 500-step
    compile spent 0.64 s copying trees with positions, 0.18 s without). Positions only
    locate compile errors, all raised before this; later errors find their line in the
    file's text (portability.py). Other metadata (LIMIT written as TOP, a function's
    original name) means something and stays. Empty metadata and comment lists (the
    parser and qualify leave them on ~20% of nodes) become None: copy.deepcopy of an
    empty container costs as much as of a full one, in every later copy."""
    for node in tree.walk():
        meta = node._meta
        if meta is not None:
            for key in _POSITION_KEYS:
                meta.pop(key, None)
            if not meta:
                node._meta = None
        if node.comments is not None and not node.comments:
            node.comments = None  # an empty list is no comment, but each copy copied it
    return tree


def normalize(tree: exp.Expression, dialect: str) -> exp.Expression:
    """`tree` itself, unquoted identifiers normalized the way `dialect` resolves them."""
    catalog = catalog_dialect(dialect)
    tree = normalize_identifiers(tree, dialect=catalog)
    if catalog != dialect:  # quoted now, so that later passes in `dialect` keep them lower case
        for identifier in tree.find_all(exp.Identifier):
            identifier.set("quoted", True)
    return tree


def prepare(tree: exp.Expression, dialect: str) -> exp.Expression:
    """A copy with unquoted identifiers normalized the way `dialect` resolves them,
    so that generating with every identifier quoted keeps the meaning."""
    return normalize(tree.copy(), dialect)


def catalog_dialect(dialect: str) -> str:
    """The dialect whose identifier rules normalize `dialect`'s unquoted names.

    toolkit's own catalog (steps, seeds, schemas) is lower case. Dialects that fold
    unquoted names to upper case (Snowflake, Oracle) fold them to lower case here
    instead, so `select * from orders` written for Snowflake reads the table
    `orders` on every engine; quoted identifiers keep their case everywhere.
    """
    from sqlglot.dialects.dialect import Dialect, NormalizationStrategy

    if Dialect.get_or_raise(dialect).NORMALIZATION_STRATEGY == NormalizationStrategy.UPPERCASE:
        return "postgres"
    return dialect


def repair_for(tree: exp.Expression, write: str, read: str | None = None, types=None) -> exp.Expression:
    """Work around translations sqlglot gets wrong for `write` (a copy when changed).
    `read`: the dialect the step was written in, whose meanings are kept (meanings.py);
    `types`: the cast -> operand type family lookup meanings.repair takes."""
    try:
        tree = asof.rewrite(tree, write)  # ASOF joins for targets without them
    except asof.Untranslatable as error:
        raise SqlError(error.message, error.line, error.col, hint=error.hint) from None
    if write in ("duckdb", "postgres"):  # a date plus days stays a DATE where `read` says so; -interval written
        tree = intervals.keep_dates(tree, read, lambda node: meanings.time_kind(node, types or _unknown))
    if write == "postgres":
        tree = tree.transform(_array_agg_within_group)
        try:
            tree = intervals.for_postgres(tree)
        except intervals.Unsupported as error:
            raise SqlError(str(error), token="interval") from None
    tree = argminmax.rewrite(tree, write, types)
    try:
        tree = meanings.repair(tree, write, read, types)
    except meanings.Refused as error:
        raise SqlError(str(error), token=error.token) from None
    if write == "duckdb" and read not in (None, "duckdb"):
        tree = duckdb_spelling(tree)
    # after meanings.repair: the COLLATE it gives a text ORDER BY key moves out with the key
    try:
        tree = qualifyfilter.rewrite(tree, write)
    except meanings.Refused as error:
        raise SqlError(str(error), token=error.token) from None
    if write == "spark":
        try:
            tree = intervals.for_spark(tree)
        except intervals.Unsupported as error:
            raise SqlError(str(error), token="interval") from None
        # FROM generate_series(a, b) AS t(x): sqlglot emits EXPLODE(SEQUENCE(...), _u(t)),
        # which Spark rejects; EXPLODE(SEQUENCE(a, b)) AS t(x) is Spark's own spelling.
        return tree.transform(_explode_series_in_from)
    return tree


def _unknown(node: exp.Expression) -> None:
    """No type is known (meanings.repair's `types` when none was given)."""
    return None


def _array_agg_within_group(node: exp.Expression) -> exp.Expression:
    """Snowflake's `array_agg(x) within group (order by k)` as PostgreSQL's `array_agg(x order
    by k)`: sqlglot writes the WITHIN GROUP as read, which PostgreSQL (and sqlglot reading it
    back) refuses for array_agg."""
    if not (isinstance(node, exp.WithinGroup) and isinstance(node.this, exp.ArrayAgg) and isinstance(node.expression, exp.Order)
            and not isinstance(node.this.this, exp.Order)):
        return node
    aggregate = node.this.copy()
    aggregate.set("this", exp.Order(this=aggregate.this, expressions=[key.copy() for key in node.expression.expressions]))
    return aggregate


def duckdb_spelling(tree: exp.Expression) -> exp.Expression:
    """A copy of `tree`, written in another dialect, with its calls spelled as DuckDB binds them."""
    return tree.transform(_duckdb_spelling)


def _duckdb_spelling(node: exp.Expression) -> exp.Expression:
    """Calls of another dialect DuckDB binds otherwise: lpad/rpad take an INTEGER length
    there, and no BIGINT (`lpad(s, greatest(length(s), 8), '*')`, an integer in PostgreSQL,
    is a BIGINT in DuckDB, where the call does not bind)."""
    if isinstance(node, exp.Pad) and not (node.expression.is_int or node.expression.is_type(exp.DType.INT)):
        padded = node.copy()
        padded.set("expression", exp.cast(node.expression.copy(), "int"))
        return padded
    return node


def _explode_series_in_from(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries):
        node = node.copy()
        node.set("this", exp.Explode(this=node.this))
    return node


def to_target(tree: exp.Expression, read: str, write: str, types=None) -> str:
    """SQL text for the target dialect; anything sqlglot cannot translate raises SqlError.
    `types`: what the integer casts cast (meanings.cast_types); unknown, a fraction is assumed."""
    clean = repair_for(prepare(tree, read), write, read, types)
    try:
        return generation.generate(clean, dialect_of(write), same_meaning=read == write, identify=True)
    except UnsupportedError as error:
        raise SqlError(f"cannot translate to {write}: {error}", 1, 1, token=_unsupported_call(clean, read, write)) from None


def _unsupported_call(tree: exp.Expression, read: str, write: str) -> str | None:
    """The name (as `read` writes it) of the innermost call sqlglot cannot write for `write`,
    for the caller to find its line in the user's file (sqlglot's message names no place)."""
    for node in reversed(list(tree.find_all(exp.Func))):  # innermost first: its callers carry its message too
        try:
            generation.generate(exp.select(node.copy()), dialect_of(write), same_meaning=read == write)
        except UnsupportedError:
            spelled = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(", node.sql(dialect=dialect_of(read), unsupported_level=ErrorLevel.IGNORE))
            return spelled.group(1).lower() if spelled else None
    return None


def template_position(template: str, rendered: str, line: int | None, col: int | None, token: str | None = None):
    """Map a (line, col) in rendered SQL back to the template the user wrote.

    Jinja keeps no source map, so: a rendered line that appears verbatim in the
    template is found there (nearest occurrence); otherwise the nearest template
    line containing the offending token; otherwise the template line that produced
    it, found by aligning rendered lines with the template's (e.g. a macro call).
    """
    if line is None:
        return None, None
    rendered_lines = rendered.splitlines()
    template_lines = template.splitlines()
    if 0 < line <= len(rendered_lines):
        wanted = rendered_lines[line - 1].strip()
        exact = [n for n, text in enumerate(template_lines, 1) if wanted and text.strip() == wanted]
        if exact:
            found = min(exact, key=lambda n: abs(n - line))
            if col is None:
                return found, None
            indent = template_lines[found - 1].find(wanted) - rendered_lines[line - 1].find(wanted)
            return found, _token_start(rendered_lines[line - 1], col, token) + indent
    if token:
        pattern = re.compile(rf"\b{re.escape(token)}\b", re.IGNORECASE)
        lines = [n for n, text in enumerate(template_lines, 1) if pattern.search(text)]
        if lines:
            found = min(lines, key=lambda n: abs(n - line))
            starts = [m.start() + 1 for m in pattern.finditer(template_lines[found - 1])]
            return found, starts[min(_occurrence(rendered_lines, line, col, token, pattern), len(starts) - 1)]
    return _aligned_line(template_lines, rendered_lines, line), None


def _occurrence(rendered_lines: list[str], line: int, col: int | None, token: str, pattern: re.Pattern) -> int:
    """How many times `token` is written before (line, col) on its rendered line: the
    same occurrence is the one meant on the template line (`users in (select users ...)`)."""
    if col is None or not 0 < line <= len(rendered_lines):
        return 0
    text = rendered_lines[line - 1]
    start = _token_start(text, col, token)
    return sum(1 for m in pattern.finditer(text) if m.start() + 1 < start)


def _aligned_line(template_lines: list[str], rendered_lines: list[str], line: int) -> int:
    """The first template line with Jinja output between the template lines that
    render verbatim just before and just after rendered `line`."""
    import difflib

    def keys(lines: list[str], side: str) -> list[str]:
        return [text.strip() or f"\0{side}{n}" for n, text in enumerate(lines)]  # blank lines match nothing

    matcher = difflib.SequenceMatcher(None, keys(template_lines, "t"), keys(rendered_lines, "r"), autojunk=False)
    before, after = 0, len(template_lines) + 1
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            template_line, rendered_line = block.a + k + 1, block.b + k + 1
            if rendered_line < line:
                before = template_line
            elif rendered_line > line:
                after = min(after, template_line)
    between = range(before + 1, after)
    jinja = [n for n in between if "{{" in template_lines[n - 1] or "{%" in template_lines[n - 1]]
    return jinja[0] if jinja else min(max(before, 1), len(template_lines) or 1)


def _token_start(line: str, col: int, token: str | None) -> int:
    """sqlglot positions a token at its last character; point at its first instead."""
    if token and line[max(col - len(token), 0):col].lower() == token.lower():
        return col - len(token) + 1
    return col


def pretty(text: str, dialect: str) -> str:
    """Readable multi-line SQL for people (compile output)."""
    return sqlglot.parse_one(text, read=dialect).sql(dialect=dialect, pretty=True)


_PLACEHOLDER = taint.PLACEHOLDER


def bind_values(tree: exp.Expression, bindings: dict[str, str]) -> exp.Expression:
    """Put var() strings into the tree as literals (see templating.VarText).

    A bare placeholder becomes a string literal; inside a quoted string it becomes
    part of that string; inside a name it stays part of a (quoted) identifier.
    """
    if not bindings:
        return tree

    def substitute(text: str) -> str:
        return taint.resolve(text, bindings)

    def transform(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in bindings:
            return exp.Literal.string(substitute(bindings[node.name]))
        if isinstance(node, exp.Literal) and node.is_string and _PLACEHOLDER.search(node.this):
            return exp.Literal.string(substitute(node.this))
        if isinstance(node, exp.Identifier) and _PLACEHOLDER.search(node.this):
            return exp.Identifier(this=substitute(node.this), quoted=True)
        return node

    return tree.transform(transform)


def bind_config(config: dict, bindings: dict[str, str], dialect: str) -> dict:
    """config() values holding var() placeholders (made with `~`): an expression test's
    condition gets each value as a literal (parsed, bound, generated by sqlglot: never as
    SQL text); text that is not SQL (a description, meta, accepted values) gets it as text.
    A post_hook cannot hold one (SqlError): hooks are fixed statements on the step."""
    if not bindings:
        return config

    def bound(value, key: str, in_tests: bool):
        if isinstance(value, dict):
            return {k: bound(v, k, in_tests) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(bound(v, key, in_tests) for v in value)
        if not isinstance(value, str) or not _PLACEHOLDER.search(value):
            return value
        if key == "post_hook":
            raise SqlError("config post_hook holds a var() value joined into its text; a hook is a fixed statement",
                           hint="write the hook's text out")
        if in_tests and key == "expression":
            try:
                condition = sqlglot.parse_one(value, read=dialect)
            except (ParseError, TokenError):
                return taint.resolve(value, bindings)  # not SQL either way: the test's check says so
            return bind_values(condition, bindings).sql(dialect=dialect)
        return taint.resolve(value, bindings)

    return {key: bound(value, key, key in ("tests", "table_tests")) for key, value in config.items()}


_FAMILIES = (
    ("number", exp.DataType.NUMERIC_TYPES),
    ("text", exp.DataType.TEXT_TYPES),
    ("time", exp.DataType.TEMPORAL_TYPES),
    ("boolean", {exp.DataType.Type.BOOLEAN}),
    ("binary", {exp.DataType.Type.VARBINARY, exp.DataType.Type.BINARY}),
)


_TYPE_DIALECTS = (None, "duckdb", "postgres", "snowflake", "bigquery", "spark")


def data_type(kind: str, dialect: str | None = None) -> exp.DataType | None:
    """A declared type read in `dialect`, else in the first dialect that knows it (int64, string)."""
    for reader in dict.fromkeys([dialect, *_TYPE_DIALECTS]):
        try:
            built = exp.DataType.build(kind, dialect=reader)
        except Exception:  # sqlglot raises ParseError or ValueError for a type it cannot read
            continue
        if reader in _FLOAT_IS_DOUBLE and built.this == exp.DataType.Type.FLOAT:
            return exp.DataType.build("double")
        return built
    return None


# Dialects whose FLOAT is 8 bytes where sqlglot reads it as REAL: BigQuery has no 4-byte
# float (FLOAT is FLOAT64), so a seed declared `float` lost 16777217 to REAL's 16777216.
_FLOAT_IS_DOUBLE = {"bigquery"}


# The precision and scale of a DECIMAL/NUMERIC declared without them, in the dialects where
# sqlglot leaves them out (DuckDB's 18,3 and Snowflake's 38,0 it fills in itself); None:
# any number, exactly (PostgreSQL's and Oracle's numeric), which no fixed type holds.
_DECIMAL_DEFAULTS: dict[str, tuple[int, int] | None] = {
    "postgres": None, "oracle": None, "bigquery": (38, 9), "spark": (10, 0), "spark2": (10, 0), "databricks": (10, 0),
    "hive": (10, 0), "mysql": (10, 0), "trino": (38, 0), "presto": (38, 0), "athena": (38, 0), "tsql": (18, 0),
    "redshift": (18, 0),
}


def declared_type(kind: str, dialect: str | None) -> exp.DataType | None:
    """A declared column type as `dialect` means it (data_type), a DECIMAL without precision
    given the dialect's (BigQuery's NUMERIC is 38,9, Spark's 10,0; another dialect's,
    DuckDB's 18,3). Only PostgreSQL's numeric, which holds any number exactly, stays
    without one (any_decimal)."""
    built = data_type(kind, dialect)
    if built is None or not any_decimal(built):
        return built
    default = _DECIMAL_DEFAULTS.get(dialect or "", (18, 3))
    return built if default is None else exp.DataType.build(f"decimal({default[0]},{default[1]})")


def any_decimal(built: exp.DataType) -> bool:
    """A DECIMAL without precision and scale (after declared_type: PostgreSQL's numeric)."""
    return built.this == exp.DataType.Type.DECIMAL and not built.expressions


def type_family(kind: str, dialect: str | None = None) -> str | None:
    """number | text | time | boolean | binary | the type's own name; None if unreadable."""
    built = data_type(kind, dialect)
    if built is None:
        return None
    if built.this == exp.DataType.Type.USERDEFINED:
        return None
    return next((name for name, types in _FAMILIES if built.this in types), built.this.value.lower())

"""Does a step's SQL survive translation to the target's dialect?

sqlglot raises for constructs it knows a dialect lacks, but it also emits calls the
target does not have without complaint: DuckDB's `list_transform(...)` becomes
`TRANSFORM(...)` for PostgreSQL, which has no such function. So the translated SQL
is checked against the functions the target itself lists (PostgreSQL's pg_proc,
DuckDB's duckdb_functions()), before anything runs, and the first unknown call is
reported at the line of the user's file that wrote it.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlglot
from sqlglot import exp

from toolkit import sql

# Calls that are grammar, not catalog functions: they never appear in pg_proc.
SYNTAX = {
    "cast", "try_cast", "extract", "coalesce", "nullif", "greatest", "least", "case", "row", "array",
    "exists", "interval", "position", "substring", "trim", "overlay", "any", "all", "some", "in",
    "values", "grouping", "collate", "filter", "over", "within", "unnest", "struct", "map", "list",
}
_CALL = re.compile(r"^\s*\"?([A-Za-z_][A-Za-z0-9_]*)\"?\s*\(")


class Untranslatable(Exception):
    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.message, self.line = message, line


def check(tree: exp.Expression, read: str, write: str, known: set[str] | None, source_text: str = "", types=None) -> None:
    """Raise Untranslatable when `tree` (in `read`) cannot run on an engine speaking
    `write` whose functions are `known` (None: only sqlglot's own checks). `types`: what
    its casts cast (compiler.cast_types), for the casts refused by type (meanings.py)."""
    if write != "duckdb":
        for select in tree.find_all(exp.Select):
            star = next((item for item in select.expressions if sql.pattern_star(item)), None)
            if star is not None:  # sqlglot writes it for any dialect; only DuckDB reads it
                raise Untranslatable(f"cannot translate to {write}: {star.sql(read)} (a * filtered by a pattern) "
                                     "is DuckDB's; list the columns", _line_of_pattern(source_text))
    if write == "postgres":
        _check_window_aggregates(tree, read, source_text)
    try:
        text = sql.to_target(tree, read, write, types)
    except sql.SqlError as error:
        raise Untranslatable(error.message, line_of_error(error, source_text)) from None
    if known is None:
        return
    for call in _calls(sqlglot.parse_one(text, read=write), write):
        if call not in known and call not in SYNTAX:
            origin = _origin(tree, read, write, call)
            raise Untranslatable(
                f"{origin}(...) has no equivalent on this {write} target: translated to {call.upper()}(...), "
                f"which the engine does not know",
                _line_of_call(source_text, origin),
            )


# name( ... DISTINCT or ORDER BY ... ) OVER, or name(...) WITHIN GROUP (...) OVER; one level of
# parentheses inside the call.
_WINDOW_AGGREGATE = re.compile(
    r"(?is)\b([a-z_][a-z0-9_]*)\s*\((?=(?:[^()]|\([^()]*\))*?\b(?:distinct|order\s+by)\b)(?:[^()]|\([^()]*\))*\)\s*over\b"
    r"|\b([a-z_][a-z0-9_]*)\s*\((?:[^()]|\([^()]*\))*\)\s*within\s+group\s*\([^()]*\)\s*over\b")


def _check_window_aggregates(tree: exp.Expression, read: str, source_text: str) -> None:
    """PostgreSQL runs an aggregate over a window only plain: `string_agg(x, ',' ORDER BY x)
    OVER ()`, `count(DISTINCT x) OVER (...)` and `percentile_cont(...) WITHIN GROUP (...) OVER`
    translate word for word and fail when built, after other steps have run."""
    for window in tree.find_all(exp.Window):
        function = window.this
        ordered = isinstance(function, exp.WithinGroup) or any(
            isinstance(function.args.get(key), (exp.Order, exp.Distinct)) for key in ("this", "expressions"))
        if not ordered:
            continue
        written = _WINDOW_AGGREGATE.search(source_text)  # as the user spelled it: sqlglot renames (LISTAGG)
        spelled = _CALL.match(function.sql(dialect=read))
        name = written.group(written.lastindex) if written else spelled.group(1) if spelled else function.sql_name()
        raise Untranslatable(
            f"{name.lower()}(...) OVER with DISTINCT, ORDER BY or WITHIN GROUP inside the call cannot run on postgres "
            "(it runs only plain aggregates over a window): aggregate in a subquery and join, or order the window",
            source_text.count("\n", 0, written.start(written.lastindex)) + 1 if written else None)


def _calls(tree: exp.Expression, dialect: str) -> list[str]:
    """Lower-case names of the functions `tree` calls, as `dialect` spells them."""
    names = []
    for node in tree.find_all(exp.Func):
        if isinstance(node, exp.Anonymous):
            names.append(node.name.lower())
            continue
        match = _CALL.match(node.sql(dialect=dialect))
        if match:
            names.append(match.group(1).lower())
    return names


def _origin(tree: exp.Expression, read: str, write: str, call: str) -> str:
    """The name the user wrote for the call that became `call` in the target."""
    for node in tree.find_all(exp.Func):
        if call in _calls(exp.select(node.copy()), write):
            spelled = _CALL.match(node.sql(dialect=read))
            inner = [n for n in node.find_all(exp.Func) if n is not node and call in _calls(exp.select(n.copy()), write)]
            if not inner and spelled:
                return spelled.group(1).lower()
    return call


_PATTERN_STAR = re.compile(r"\*\s*(not\s+)?(like|similar\s+to)\b", re.IGNORECASE)


def line_of_error(error, text: str) -> int | None:
    """The line of the user's `text` a translation's SqlError is about (its token: a refused
    call or cast operand), else a line naming a word of its message."""
    line = (_line_of_cast(text, error.token) or _line_of_word(text, error.token)) if error.token else None
    return line or _line_of_message(error.message, text)


def _line_of_pattern(text: str) -> int | None:
    found = _PATTERN_STAR.search(text)
    return text.count("\n", 0, found.start()) + 1 if found else None


def _line_of_call(text: str, name: str) -> int | None:
    match = re.search(rf"(?i)\b{re.escape(name)}\s*\(", text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _line_of_cast(text: str, name: str) -> int | None:
    """The line of cast(name as ...) or name::..., the name qualified or not."""
    name = re.escape(name)
    match = re.search(rf"(?i)\bcast\s*\(\s*(?:\w+\.)?\"?{name}\"?\s+as\b|\b{name}\"?\s*::", text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _line_of_word(text: str, word: str) -> int | None:
    """The first line where `word` (a refused call or keyword, meanings.Refused.token) is written."""
    match = re.search(rf"(?i)\b{re.escape(word)}\b", text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _line_of_message(message: str, text: str) -> int | None:
    words = re.findall(r"[A-Za-z_]{3,}", message)
    for word in words[::-1]:
        line = _line_of_call(text, word)
        if line:
            return line
    return None


def read_source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def check_step(compiled, engine, step) -> None:
    """ProjectError (exit 2) at the step's file and line when its SQL cannot run on `engine`."""
    from toolkit.errors import ProjectError

    from toolkit.compiler import cast_types

    path = compiled.project.root / step.file
    text = read_source(path)
    try:
        check(step.tree, compiled.dialect, engine.dialect, engine.functions(), text, cast_types(compiled)(step))
    except Untranslatable as problem:
        raise ProjectError(problem.message, step.file, problem.line or 1) from None

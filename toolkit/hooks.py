"""post_hook: dbt's hooks as an allow-list of statements on the step's own relation.

A hook is one SQL statement in the project dialect where `{{ this }}` (the literal text:
config arguments are not rendered a second time) stands for the step. It is parsed by
sqlglot with `this` as a placeholder table and must be one of:

    ANALYZE this                          statistics of the step's physical table (a view
                                          step has none: refused)
    COMMENT ON TABLE|VIEW this IS '...'   on the published view readers query
    COMMENT ON COLUMN this.col IS '...'   col: an output column of the step
    GRANT SELECT ON [TABLE] this TO r     on the published view (roles: a list); only SELECT:
                                          a write grant on a view over the physical table
                                          would let a role change published data
    REVOKE <privileges> ON this FROM r    on the published view

Nothing else: another statement kind, another table, a second statement, other Jinja,
WITH GRANT OPTION, a comment that is not a plain '...' string. What runs is rebuilt from
the tree as new sqlglot expressions naming the real relations, generated (and quoted)
in the target's dialect. The engine says which kinds it runs (Engine.HOOKS: DuckDB has
no GRANT/REVOKE, Spark runs ANALYZE only); a hook it cannot run is exit 2 at plan time.

When: inside the publishing transaction, right after the published view is pointed at
the new physical relation (Engine.publish runs Swap.extras there), so a failing hook
fails the step and publishes nothing of its batch. Every publish of the step runs them
(a build, an incremental update, a re-publish), because publishing re-creates the view
and with it drops its comments and grants; a reused step that is not re-published runs
none. Before that, while the step builds, the hooks other than ANALYZE are rehearsed on
its unpublished relation in a transaction that is rolled back (engines with
transactional DDL), so a missing role fails that step alone, before its readers start;
a hook that still fails at publish fails its whole publish batch (one transaction), and
after an in-place incremental update (committed before the publish) the new rows stay.
`toolkit promote` and `rollback` run the hooks of the project as it is now on the views
they re-point (a project that does not compile skips them, with a warning, so that it
cannot block a rollback); realign after a failed publish does not run them. Hooks are data config (stepconfig.METADATA_KEYS lacks them): editing one
rebuilds the step, which is what re-runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from toolkit.errors import ProjectError, StepFailed, line_of
from toolkit.sql import quiet_parse, syntax_message

PLACEHOLDER = "__toolkit_this__"
_THIS = re.compile(r"\{\{-?\s*this\s*-?\}\}")
_JINJA = ("{{", "{%", "{#")
_FIRST_WORDS = {"ANALYZE", "COMMENT", "GRANT", "REVOKE"}
_ALLOWED = "ANALYZE {{ this }}, COMMENT ON TABLE|VIEW|COLUMN {{ this }}, GRANT SELECT ON {{ this }}, REVOKE ... ON {{ this }}"
GRANTABLE = frozenset({"SELECT"})
REVOCABLE = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "ALL", "ALL PRIVILEGES"})


class HookError(ValueError):
    """A post_hook that is not on the allow-list; the message names the hook and why."""


@dataclass(frozen=True)
class Hook:
    label: str  # which hook, for messages: post_hook 2 of 3 ('grant ...')
    kind: str  # analyze | comment | grant | revoke
    tree: exp.Expression  # as parsed, `this` the placeholder table


def parse(value, dialect: str, materialized: str = "table") -> tuple[Hook, ...]:
    """config(post_hook=...) (a string or a list of strings) as allowed hooks."""
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, (list, tuple)):
        raise HookError(f"post_hook={value!r} is not a SQL string or a list of them")
    if materialized == "ephemeral" and texts:
        raise HookError("an ephemeral step is never built, so it has no post_hook")
    return tuple(_parse_one(text, _label(text, i, len(texts)), dialect, materialized) for i, text in enumerate(texts))


@lru_cache(maxsize=1024)
def of(texts: tuple | str | None, dialect: str, materialized: str = "table") -> tuple[Hook, ...]:
    """A compiled step's hooks (checked when it compiled): of(hook_texts(step), ...)."""
    return parse(texts, dialect, materialized) if texts else ()


def for_step(step, dialect: str) -> tuple[Hook, ...]:
    """The step's hooks; a COMMENT ON COLUMN names the column as the step spells it."""
    return tuple(_spelled(hook, step.columns) for hook in of(hook_texts(step), dialect, step.materialized))


def _spelled(hook: Hook, columns) -> Hook:
    column = hook.tree.this if hook.kind == "comment" else None
    name = _column(column.this, columns) if isinstance(column, exp.Column) and columns else None
    if name is None:
        return hook
    tree = hook.tree.copy()
    tree.this.set("this", exp.to_identifier(name, quoted=True))
    return replace(hook, tree=tree)


def hook_texts(step) -> tuple | str | None:
    """The step's post_hook in a hashable form (for of()'s cache)."""
    value = step.config.get("post_hook")
    return tuple(value) if isinstance(value, list) else value


def _label(text, index: int, count: int) -> str:
    shown = text if isinstance(text, str) else repr(text)
    return f"post_hook ({shown!r})" if count == 1 else f"post_hook {index + 1} of {count} ({shown!r})"


def _parse_one(text, label: str, dialect: str, materialized: str) -> Hook:
    if not isinstance(text, str):
        raise HookError(f"{label} is not a SQL string")
    sql = _THIS.sub(PLACEHOLDER, text)
    if any(mark in sql for mark in _JINJA):
        raise HookError(f"{label}: the only Jinja a hook may hold is {{{{ this }}}} (config arguments are not rendered)")
    first = _first_word(sql, dialect, label)
    if first not in _FIRST_WORDS:
        raise HookError(f"{label}: {first or 'an empty hook'} is not allowed; a hook is one of {_ALLOWED}")
    try:
        with quiet_parse():  # a Command fallback is refused below, with its reason
            trees = [t for t in sqlglot.parse(sql, read=dialect, error_level=ErrorLevel.RAISE) if t is not None]
    except ParseError as error:
        where = error.errors[0] if error.errors else {}
        raise HookError(f"{label}: {syntax_message(where, str(error))}") from None
    except TokenError:
        raise HookError(f"{label}: SQL syntax error: an unclosed quote or comment") from None
    if len(trees) != 1:
        raise HookError(f"{label}: a hook is exactly one statement; found {len(trees)}")
    check = _CHECKS.get(type(trees[0]))
    if check is None:
        raise HookError(f"{label}: this form of {first} is not allowed; a hook is one of {_ALLOWED}")
    kind = check(trees[0], label)
    if kind == "analyze" and materialized == "view":
        raise HookError(f"{label}: a view step has no table to analyze")
    return Hook(label, kind, trees[0])


def _first_word(sql: str, dialect: str, label: str) -> str:
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except TokenError:
        raise HookError(f"{label}: SQL syntax error: an unclosed quote or comment") from None
    return tokens[0].text.upper() if tokens else ""


# -- the allow-list: one check per statement kind ----------------------------------------

def _is_this(node) -> bool:
    return (isinstance(node, exp.Table) and node.name == PLACEHOLDER and set(node.args) - {"this"} <= _empty(node)
            and isinstance(node.this, exp.Identifier))


def _empty(node: exp.Expression) -> set[str]:
    return {key for key, value in node.args.items() if value in (None, False, [], "")}


def _only(node: exp.Expression, allowed: set[str], label: str) -> None:
    extra = set(node.args) - allowed - _empty(node)
    if extra:
        raise HookError(f"{label}: {', '.join(sorted(extra))} is not allowed in a hook")


def _analyze(tree: exp.Analyze, label: str) -> str:
    _only(tree, {"kind", "tables", "expression"}, label)
    statistics = tree.expression
    plain = statistics is None or (isinstance(statistics, exp.AnalyzeStatistics) and statistics.args.get("kind") == "COMPUTE"
                                   and not statistics.expressions and set(statistics.args) - {"kind"} <= _empty(statistics))
    tables = tree.args.get("tables") or []
    if len(tables) != 1 or not _is_this(tables[0]) or not plain:
        raise HookError(f"{label}: ANALYZE may name {{{{ this }}}} only (ANALYZE {{{{ this }}}})")
    return "analyze"


def _comment(tree: exp.Comment, label: str) -> str:
    _only(tree, {"this", "kind", "expression"}, label)
    kind, target = str(tree.args.get("kind")).upper(), tree.this
    if kind in ("TABLE", "VIEW"):
        ours = _is_this(target)
    else:
        ours = (kind == "COLUMN" and isinstance(target, exp.Column) and not target.args.get("db")
                and not target.args.get("catalog") and target.table == PLACEHOLDER)
    if not ours:
        raise HookError(f"{label}: COMMENT ON may name {{{{ this }}}} (TABLE or VIEW) or {{{{ this }}}}.<column> only")
    if not (isinstance(tree.expression, exp.Literal) and tree.expression.is_string):
        raise HookError(f"{label}: the comment must be a plain '...' string")
    return "comment"


def _grant(tree: exp.Grant, label: str, allowed: frozenset = GRANTABLE, verb: str = "GRANT") -> str:
    _only(tree, {"privileges", "kind", "securable", "principals"} | ({"cascade"} if verb == "REVOKE" else set()), label)
    if str(tree.args.get("kind") or "TABLE").upper() != "TABLE" or not _is_this(tree.args.get("securable")):
        raise HookError(f"{label}: {verb} may name ON {{{{ this }}}} only")
    for privilege in tree.args.get("privileges") or []:
        name = privilege.name.upper()
        if name not in allowed or privilege.expressions:
            raise HookError(f"{label}: {verb} {privilege.sql()} is not allowed; {verb} {', '.join(sorted(allowed))} only"
                            + (" (a write grant on the published view would let a role change published data)" if verb == "GRANT" else ""))
    for principal in tree.args.get("principals") or []:
        if not isinstance(principal.this, exp.Identifier) or principal.args.get("kind"):
            raise HookError(f"{label}: {verb} names roles only ({principal.sql()})")
    return verb.lower()


def _revoke(tree: exp.Revoke, label: str) -> str:
    return _grant(tree, label, REVOCABLE, "REVOKE")


_CHECKS = {exp.Analyze: _analyze, exp.Comment: _comment, exp.Grant: _grant, exp.Revoke: _revoke}


# -- the target: plan-time checks and the statements that run ---------------------------

def check_target(step, engine, dialect: str) -> None:
    """Exit 2 (at the step's post_hook line) for a hook the engine cannot run or a
    COMMENT ON COLUMN naming a column the step does not have."""
    for hook in of(hook_texts(step), dialect, step.materialized):
        if hook.kind not in engine.HOOKS:
            can = ", ".join(sorted(k.upper() for k in engine.HOOKS)) or "none"
            _fail(step, f"{hook.label}: {engine.name} has no {hook.kind.upper()} (hooks it runs: {can})")
        if hook.kind == "comment" and isinstance(hook.tree.this, exp.Column) and _column(hook.tree.this.this, step.columns) is None:
            _fail(step, f"{hook.label}: {step.name} has no column {hook.tree.this.name}", f"columns: {', '.join(step.columns)}")


def _fail(step, message: str, hint: str | None = None):
    template = step.template or ""
    raise ProjectError(message, step.file, line_of(template, "post_hook") or line_of(template, "config(") or None, hint=hint)


def _column(name: exp.Identifier, columns) -> str | None:
    """The step's column `name` refers to (an unquoted name in any case); None if none."""
    if not columns:
        return name.name
    if name.name in columns:
        return name.name
    if not name.quoted:
        return next((c for c in columns if c.casefold() == name.name.casefold()), None)
    return None


def statements(hooks, engine, relation: exp.Table, physical: exp.Table, kind: str = "VIEW") -> list[exp.Expression]:
    """What runs: `relation` (of `kind`) for COMMENT/GRANT/REVOKE, `physical` for ANALYZE."""
    out = []
    for hook in hooks:
        if hook.kind == "analyze":
            out.append(engine.analyze(physical.copy()))
        elif hook.kind == "comment":
            out.append(_comment_on(hook.tree, relation, kind, engine.dialect))
        else:
            out.append(_grant_on(hook.tree, relation, engine.dialect))
    return out


def _comment_on(tree: exp.Comment, relation: exp.Table, kind: str, dialect: str) -> exp.Comment:
    text = exp.Literal.string(tree.expression.this)
    if not isinstance(tree.this, exp.Column):
        return exp.Comment(this=relation.copy(), kind=kind, expression=text)
    column = normalize_identifiers(tree.this.this.copy(), dialect=dialect).name  # unless for_step spelled it (quoted)
    target = exp.column(column, table=relation.name, db=relation.db or None)
    return exp.Comment(this=target, kind="COLUMN", expression=text)


def _grant_on(tree: exp.Grant, relation: exp.Table, dialect: str) -> exp.Expression:
    statement = tree.copy()
    statement.set("kind", "TABLE")  # GRANT ON TABLE covers views as well
    statement.set("securable", relation.copy())
    statement.set("principals", [_principal(p.this, dialect) for p in tree.args["principals"]])
    return statement


def _principal(name: exp.Identifier, dialect: str) -> exp.GrantPrincipal:
    """A role as the target resolves it (an unquoted name folded the engine's way); PUBLIC stays a keyword."""
    if not name.quoted and name.name.upper() == "PUBLIC":
        return exp.GrantPrincipal(this=exp.Var(this="PUBLIC"))
    return exp.GrantPrincipal(this=normalize_identifiers(name.copy(), dialect=dialect))


def run(engine, hooks, relation: exp.Table, physical: exp.Table) -> None:
    """Run the hooks (inside the publishing transaction); a failure names the hook."""
    for hook, statement in zip(hooks, statements(hooks, engine, relation, physical)):
        _execute(engine, hook, statement, "failed")


class _Rehearsed(Exception):
    """Raised to roll the rehearsal back."""


def rehearse(engine, hooks, table: exp.Table, kind: str) -> None:
    """Run the hooks other than ANALYZE on `table` (the unpublished relation, of `kind`)
    in a transaction that is rolled back: a missing role or column fails the step now."""
    tried = [hook for hook in hooks if hook.kind != "analyze"]
    if not tried or not engine.SUPPORTS_TRANSACTIONAL_DDL:
        return
    try:
        with engine.transaction():
            for hook, statement in zip(tried, statements(tried, engine, table, table, kind)):
                _execute(engine, hook, statement, "fails")
            raise _Rehearsed
    except _Rehearsed:
        pass


def _execute(engine, hook: Hook, statement: exp.Expression, verb: str) -> None:
    try:
        engine.execute(statement)
    except StepFailed:
        raise
    except Exception as error:
        first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        raise StepFailed(f"{hook.label} {verb}: {first}") from error

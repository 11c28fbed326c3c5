"""What post_hooks set on a published view, kept for rollback: its comment, its columns'
comments and its grants (toolkit/hooks.py).

A promote re-points the destination's views and runs the project's hooks on them: on
PostgreSQL CREATE OR REPLACE VIEW keeps what the view had, so the promoted hook's grant or
comment comes on top; on DuckDB re-creating a view drops its comments. Rollback used to run
the hooks of the project as it is now (the promoted ones) on the views it put back, so the
promoted grant or comment stayed. Now the promote records each view's comments and grants
as they were (toolkit.published_history.view_meta) and rollback makes each view's so again.

What it cannot put back exactly, rollback says (a warning): a grant another role made (it is
given again by toolkit's user, or not revoked), a privilege it does not know, and a saved
state that has no record (saved by an older toolkit, or on an engine that cannot read them:
Engine.view_meta), where it runs the project's hooks as they are now, as it did before.

PostgreSQL cannot CREATE OR REPLACE a view whose column changes type: PostgresEngine.replace_view
drops and re-creates it, then puts back with restore what it had (snapshot_one), its owner
too; what it could not, it warns of (Engine.warn).

A view's options (ALTER VIEW ... SET (security_barrier = true)) are no post_hook's: CREATE OR
REPLACE VIEW without WITH (...) resets them, so replace_view reads them from the catalog and
gives them again in the same statement (view_options), on every re-point: run, promote, rollback.
"""

from __future__ import annotations

import json

from sqlglot import exp

from toolkit.hooks import REVOCABLE

_PRIVILEGES = REVOCABLE - {"ALL", "ALL PRIVILEGES"}
# A view's options PostgreSQL knows, each with its values (a boolean as PostgreSQL spells one)
_BOOLEAN = {**dict.fromkeys(("true", "on", "yes", "1"), "true"), **dict.fromkeys(("false", "off", "no", "0"), "false")}
_OPTIONS = {"security_barrier": _BOOLEAN, "security_invoker": _BOOLEAN,
            "check_option": {"local": "local", "cascaded": "cascaded"}}


def snapshot(engine, relations: dict[str, exp.Table]) -> dict[str, str | None]:
    """step -> its view's comments and grants as JSON (None where the engine cannot read them
    or the view is not there), one catalog query per schema."""
    by_schema: dict[str, dict | None] = {}
    found = {}
    for step, relation in relations.items():
        if relation.db not in by_schema:
            by_schema[relation.db] = engine.view_meta(relation.db)
        meta = (by_schema[relation.db] or {}).get(catalog_name(engine, relation))
        # not the owner: a promote keeps it (no hook sets one), and a rollback puts back no older one
        found[step] = json.dumps({key: value for key, value in meta.items() if key != "owner"}, sort_keys=True) if meta is not None else None
    return found


def snapshot_one(engine, relation: exp.Table) -> dict | None:
    """The view's comments, grants and owner (None where there is no such view or the engine
    cannot read them), for the same view re-created (PostgresEngine.replace_view)."""
    name = catalog_name(engine, relation)
    return (engine.view_meta(relation.db, name) or {}).get(name)


def view_options(relation: exp.Table, options: list[str]) -> tuple[list[exp.Property], list[str]]:
    """The view's options as the catalog has them ("security_barrier=true") -> WITH (...)'s
    properties, for the view re-pointed; they become SQL, so only a known name with a known
    value: any other is left out and said (a sentence)."""
    properties, notes = [], []
    for option in options:
        name, _, value = option.partition("=")
        known = _OPTIONS.get(name.lower(), {}).get(value.lower())
        if known is None:
            notes.append(f"{relation.sql()}: its option {option!r} was not kept when it was re-pointed (not one toolkit knows)")
            continue
        properties.append(exp.Property(this=exp.Var(this=name.lower()), value=exp.Var(this=known)))
    return properties, notes


def catalog_name(engine, relation: exp.Table) -> str:
    """The view's name as the catalog spells it: PostgreSQL folds an unquoted name to lower case."""
    identifier = relation.this
    folded = engine.name == "postgres" and isinstance(identifier, exp.Identifier) and not identifier.quoted
    return relation.name.lower() if folded else relation.name


def restore(engine, relation: exp.Table, saved: dict, since: str = "the promote", owner_notes: list[str] | None = None) -> list[str]:
    """Make the view's comments and grants `saved`'s (inside the rollback's transaction, right
    after the view is re-pointed), and its owner where `saved` names one (snapshot_one's, not
    snapshot's); what could not be made so, as sentences (`since`: what changed them). A grant
    to a role dropped or renamed since cannot be given again: skipped and said, the rest is
    restored (a GRANT to it would abort the whole rollback); likewise an owner (its notes into
    `owner_notes` when given: what a later restore of the grants does not supersede)."""
    engine.grants_restored(relation)
    now = (engine.view_meta(relation.db, catalog_name(engine, relation)) or {}).get(catalog_name(engine, relation))
    if now is None:
        return [f"{relation.sql()}: its comments and grants could not be read back"]
    notes: list[str] = []
    saved = _without_missing_roles(engine, relation, saved, now, notes)
    statements = _statements(relation, saved, now, notes)
    for statement in statements:
        engine.execute(statement)
    if "column_grants" in saved:  # recorded by an older toolkit: no record, column grants left as they are
        if any(isinstance(statement, exp.Revoke) for statement in statements):  # a table's REVOKE takes its columns' too
            now = (engine.view_meta(relation.db, catalog_name(engine, relation)) or {}).get(catalog_name(engine, relation)) or now
        for statement in _column_statements(relation, saved, now, notes):
            engine.execute(statement)
    # after the grants: toolkit's user, the view's owner until now, gave them; its grants pass to the new owner
    _restore_owner(engine, relation, saved, now, notes if owner_notes is None else owner_notes)
    after = (engine.view_meta(relation.db, catalog_name(engine, relation)) or {}).get(catalog_name(engine, relation))
    # a grantor too: re-granted, it is toolkit's user
    if after is not None and (_full(after) != _full(saved) or ("column_grants" in saved and _full_columns(after) != _full_columns(saved))):
        notes.append(f"{relation.sql()}: grants not as before {since} (now {_shown(after)}; were {_shown(saved)})")
    return notes


def _restore_owner(engine, relation: exp.Table, saved: dict, now: dict, notes: list[str]) -> None:
    """The view's owner made `saved`'s again (an analyst's ALTER VIEW ... OWNER TO), where
    that role still exists and the engine lets toolkit's user hand the view to it."""
    owner = saved.get("owner")
    if owner is None or owner == now.get("owner"):
        return
    if engine.missing_roles([owner]):
        notes.append(f"{relation.sql()}: owner {owner} not given back (role {owner} no longer exists: dropped or renamed since)")
        return
    refused = engine.set_view_owner(relation, owner)
    if refused:
        notes.append(f"{relation.sql()}: {refused}")


def _without_missing_roles(engine, relation: exp.Table, saved: dict, now: dict, notes: list[str]) -> dict:
    """`saved` less its grants to roles that no longer exist (Engine.missing_roles), each said."""
    wanted = _grants(saved) - _grants(now)
    wanted_columns = _column_grants(saved) - _column_grants(now)
    grantees = {grant[0] for grant in wanted} | {grant[1] for grant in wanted_columns}
    missing = engine.missing_roles(sorted(grantee for grantee in grantees if grantee.upper() != "PUBLIC")) if grantees else set()
    if not missing:
        return saved
    for grantee, privilege, _ in sorted(grant for grant in wanted if grant[0] in missing):
        notes.append(f"{relation.sql()}: {privilege} to {grantee} not given back (role {grantee} no longer exists: dropped or renamed since)")
    for column, grantee, privilege, _ in sorted(grant for grant in wanted_columns if grant[1] in missing):
        notes.append(f"{relation.sql()}: {privilege} ({column}) to {grantee} not given back "
                     f"(role {grantee} no longer exists: dropped or renamed since)")
    kept = {**saved, "grants": [grant for grant in saved.get("grants") or [] if grant[0] not in missing]}
    if "column_grants" in saved:
        kept["column_grants"] = [grant for grant in saved["column_grants"] if grant[1] not in missing]
    return kept


def _statements(relation: exp.Table, saved: dict, now: dict, notes: list[str]) -> list[exp.Expression]:
    out = []
    if now.get("comment") != saved.get("comment"):
        out.append(exp.Comment(this=relation.copy(), kind="VIEW", expression=_text(saved.get("comment"))))
    columns = dict(saved.get("columns") or {})
    for column in sorted(set(columns) | set(now.get("columns") or {})):
        if (now.get("columns") or {}).get(column) != columns.get(column):
            target = exp.column(exp.to_identifier(column, quoted=True), table=exp.to_identifier(relation.name), db=relation.args.get("db"))
            out.append(exp.Comment(this=target, kind="COLUMN", expression=_text(columns.get(column))))
    was, has = _grants(saved), _grants(now)
    for grantee, privilege, grantable in sorted(has - was):
        out += _grant(exp.Revoke, relation, grantee, privilege, False, notes)
    for grantee, privilege, grantable in sorted(was - has):
        out += _grant(exp.Grant, relation, grantee, privilege, grantable, notes)
    return out


def _column_statements(relation: exp.Table, saved: dict, now: dict, notes: list[str]) -> list[exp.Expression]:
    """Column-level grants (GRANT SELECT (id) ON ...): a view re-created by the promote lost them."""
    out = []
    was, has = _column_grants(saved), _column_grants(now)
    for column, grantee, privilege, grantable in sorted(has - was):
        out += _grant(exp.Revoke, relation, grantee, privilege, False, notes, column)
    for column, grantee, privilege, grantable in sorted(was - has):
        out += _grant(exp.Grant, relation, grantee, privilege, grantable, notes, column)
    return out


def _text(value: str | None) -> exp.Expression:
    return exp.null() if value is None else exp.Literal.string(value)


def _full(meta: dict) -> set[tuple]:
    return {tuple(grant) for grant in meta.get("grants") or []}


def _grants(meta: dict) -> set[tuple[str, str, bool]]:
    return {(grantee, privilege, bool(grantable)) for grantee, privilege, grantable, _ in meta.get("grants") or []}


def _full_columns(meta: dict) -> set[tuple]:
    return {tuple(grant) for grant in meta.get("column_grants") or []}


def _column_grants(meta: dict) -> set[tuple[str, str, str, bool]]:
    """(column, grantee, privilege, grantable) of a column-level grant (GRANT SELECT (id) ON ...)."""
    return {(column, grantee, privilege, bool(grantable)) for column, grantee, privilege, grantable, _ in meta.get("column_grants") or []}


def _grant(kind, relation: exp.Table, grantee: str, privilege: str, grantable: bool, notes: list[str],
           column: str | None = None) -> list[exp.Expression]:
    """GRANT or REVOKE one privilege the catalog named (a known one only: it becomes SQL), on
    the view or on one of its columns."""
    if privilege.upper() not in _PRIVILEGES:
        on = f" ({column})" if column is not None else ""
        notes.append(f"{relation.sql()}: privilege {privilege}{on} of {grantee} left as it is (not one toolkit knows)")
        return []
    principal = exp.Var(this="PUBLIC") if grantee.upper() == "PUBLIC" else exp.to_identifier(grantee, quoted=True)
    columns = [exp.column(exp.to_identifier(column, quoted=True))] if column is not None else None
    statement = kind(privileges=[exp.GrantPrivilege(this=exp.Var(this=privilege.upper()), expressions=columns)], kind="TABLE",
                     securable=relation.copy(), principals=[exp.GrantPrincipal(this=principal)])
    if grantable and kind is exp.Grant:
        statement.set("grant_option", True)
    return [statement]


def _shown(meta: dict) -> str:
    shown = [f"{privilege} to {grantee} by {grantor}" for grantee, privilege, _, grantor in sorted(_full(meta))]
    shown += [f"{privilege} ({column}) to {grantee} by {grantor}" for column, grantee, privilege, _, grantor in sorted(_full_columns(meta))]
    return ", ".join(shown) or "none"

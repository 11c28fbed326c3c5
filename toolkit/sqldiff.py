"""A one-line semantic diff of two canonical SELECTs, for `toolkit plan`'s "SQL changed: ..."."""

from __future__ import annotations

from sqlglot import exp

# sqlglot >= 30.18 keys a SELECT's FROM as "from_" (older releases: "from")
_CLAUSES = {"where": "WHERE", "group": "GROUP BY", "having": "HAVING", "joins": "JOIN", "from": "FROM", "from_": "FROM",
            "order": "ORDER BY", "limit": "LIMIT", "with": "WITH", "qualify": "QUALIFY", "distinct": "DISTINCT"}


def sql_diff(old_text: str, new_text: str, dialect: str, width: int = 60) -> str:
    """A line summarising how two canonical SELECTs differ: `+ column discount`,
    `- column x`, `~ column y`, `~ WHERE amount > 10`. Uses sqlglot.diff on the
    trees to find the clauses that changed."""
    import sqlglot
    from sqlglot import diff

    try:
        old, new = sqlglot.parse_one(old_text, read=dialect), sqlglot.parse_one(new_text, read=dialect)
    except Exception:
        return ""
    parts: list[str] = []
    if isinstance(old, exp.Select) and isinstance(new, exp.Select):
        before = {p.alias_or_name: p.sql(dialect=dialect) for p in old.expressions}
        after = {p.alias_or_name: p.sql(dialect=dialect) for p in new.expressions}
        parts += [f"+ column {c}" for c in after if c not in before]
        parts += [f"- column {c}" for c in before if c not in after]
        parts += [f"~ column {c}" for c in after if c in before and before[c] != after[c]]
        clauses: list[str] = []
        try:
            edits = diff(old, new, delta_only=True)
        except Exception:
            edits = []
        for edit in edits:
            for node in (getattr(edit, "expression", None), getattr(edit, "source", None), getattr(edit, "target", None)):
                key = _clause_of(node, old, new)
                if key and key not in clauses:
                    clauses.append(key)
        for key in clauses:
            text = new.args.get(key)
            if not text:
                parts.append(f"- {_CLAUSES.get(key, key.upper())}")
                continue
            rendered = " ".join(t.sql(dialect=dialect) for t in text) if isinstance(text, list) else text.sql(dialect=dialect)
            rendered = rendered.removeprefix(_CLAUSES.get(key, "") + " ").strip()
            if len(rendered) > width:
                rendered = rendered[: width - 3] + "..."
            parts.append(f"~ {_CLAUSES.get(key, key.upper())} {rendered}")
    elif old_text != new_text:
        parts.append("~ query")
    return "; ".join(parts[:4]) + ("; ..." if len(parts) > 4 else "")


def _clause_of(node, *roots) -> str | None:
    """The top-level clause of a SELECT (where, group, joins ...) that `node` sits in; None for the select list."""
    if not isinstance(node, exp.Expression):
        return None
    while node.parent is not None and not any(node.parent is r for r in roots):
        node = node.parent
    if node.parent is None:
        return None
    key = node.arg_key
    return None if key == "expressions" else key

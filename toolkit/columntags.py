"""Column tags through lineage: `pii`, `sensitive` or any name declared on the columns
of sources and seeds reach every column derived from them.

    sources.toml   [shop.tables.customers] tags = { email = ["pii"] }
    seeds.toml     [people] tags = { birth_date = ["pii", "sensitive"] }

Each output column of a SQL step carries the tags of the columns its expression reads
(sqlglot's column lineage through CTEs and subqueries; a column used only to filter
or join carries nothing), each with one path back to a tagged column, e.g.
features.customer_features.email_domain <- features.clean.email <- shop.customers.email.
A model whose features carry a BLOCKING tag fails at compile time unless it allows
the tag (`@model(..., allow_tags=["pii"])`).

Computed at compile time only when some column is tagged; no warehouse is touched.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage

BLOCKING = ("pii",)

# column -> tag -> path: the derived column first, the tagged source column last
Tags = dict[str, dict[str, tuple[str, ...]]]


def origins(columns: dict[str, list[str]], relation: str) -> Tags:
    """The declared tags of a source or seed, each its own path."""
    return {column: {tag: (f"{relation}.{column}",) for tag in tags} for column, tags in columns.items()}


def derive(step, tagged: dict[str, Tags], schema: dict, dialect: str) -> Tags:
    """The tags of each output column of `step` (a compiled SQL step), from the tags of
    the relations it reads (`tagged`: "schema.table" -> Tags). A column whose lineage
    sqlglot cannot follow takes the tags of every column the step reads: a tag is
    never lost for want of precision."""
    read = {_name(t) for t in step.tree.find_all(exp.Table)} & set(tagged)
    if not read or not step.columns:
        return {}
    relation = step.relation.sql()
    found: Tags = {}
    for column in step.columns:
        try:
            leaves = _leaves(lineage(column, step.tree.copy(), schema=schema, dialect=dialect))
        except (SqlglotError, KeyError, ValueError):
            leaves = [(name, c) for name in read for c in tagged[name]]
        for name, source_column in leaves:
            for tag, path in tagged.get(name, {}).get(source_column, {}).items():
                found.setdefault(column, {}).setdefault(tag, (f"{relation}.{column}", *path))
    return found


def _leaves(node) -> list[tuple[str, str]]:
    """(relation "schema.table", column) of every table column the lineage ends in."""
    out = []
    for child in node.walk():
        if isinstance(child.source, exp.Table) and not child.downstream:
            out.append((_name(child.source), child.name.split(".")[-1].lower()))
    return out


def _name(table: exp.Table) -> str:
    return f"{table.db}.{table.name}".lower()


def schema_of(steps: dict, sources: dict) -> dict:
    """{schema: {table: {column: type}}} of everything with known columns, for lineage
    to expand `*` (types do not matter to lineage)."""
    schema: dict = {}
    for source in (s for s in sources.values() if s.columns):  # a table source declaring none: unknown
        schema.setdefault(source.schema, {})[source.table] = dict(source.columns)
    for step in steps.values():
        if step.columns:
            schema.setdefault(step.relation.db, {})[step.relation.name] = {c: "text" for c in step.columns}
    return schema


def path_text(path: tuple[str, ...]) -> str:
    return " <- ".join(path)

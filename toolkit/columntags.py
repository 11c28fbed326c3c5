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

from toolkit.lineage import column_sources, relation_name, schema_of  # noqa: F401 (schema_of: part of this API)

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
    never lost for want of precision. The lineage itself is toolkit/lineage.py's."""
    read = {relation_name(t) for t in step.tree.find_all(exp.Table)} & set(tagged)
    if not read or not step.columns:
        return {}
    # Paths name columns where they are published; an ephemeral step by its bare name (it has no table).
    relation = step.name if step.strategy.inlined else step.published.sql()
    found: Tags = {}
    for column, leaves in column_sources(step.tree, step.columns, schema, dialect).items():
        if leaves is None:
            leaves = [(name, c) for name in read for c in tagged[name]]
        for name, source_column in leaves:
            for tag, path in tagged.get(name, {}).get(source_column, {}).items():
                found.setdefault(column, {}).setdefault(tag, (f"{relation}.{column}", *path))
    return found


def check_source_columns(source, root) -> None:
    """Tags on a source that declares no columns name columns nothing could check when
    sources.toml was read; once its columns are known (its files, or the catalog a run
    read: sourcecolumns.py), a tag on a column it does not have is exit 2 at its `tags`
    line. It was listed as tagged while the real column (salary for salry) went untagged.
    The same for its `descriptions` (docs showed a typo's text for no column)."""
    unknown = sorted(set(source.column_tags) - set(source.columns))
    described = sorted({name.lower() for name in source.descriptions} - set(source.columns))
    if not unknown and not described:
        return
    from toolkit.errors import ProjectError, did_you_mean, line_of

    try:
        text = (root / source.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    where = f"'{source.path}'" if source.path else f"{source.schema}.{source.table}"
    key, column = ("tags", unknown[0]) if unknown else ("descriptions", described[0])
    raise ProjectError(f"source {source.key}: {key} name column '{column}', which {where} does not have",
                       source.file, line_of(text, key, source.line or 1) or source.line,
                       hint=did_you_mean(column, source.columns) or f"its columns: {', '.join(source.columns)}")


def path_text(path: tuple[str, ...]) -> str:
    return " <- ".join(path)

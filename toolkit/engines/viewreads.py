"""Which relations the views of a catalog read, for engines that track no dependencies
(DuckDB, Spark): DROP TABLE succeeds under a view that reads it, and the view fails
when read. Before dropping physical relations toolkit no longer needs, an adapter hands
every view's text here (engines/base.py Engine.views_reading) and keeps what a view
staying behind reads, directly or through another relation about to be dropped.
PostgreSQL asks pg_depend instead."""

from __future__ import annotations

import re

from sqlglot import exp


def reads_of(text: str, schema: str, names: dict[str, str], dialect: str) -> set[str]:
    """The `names` (casefolded) of `schema` a view's text reads. Names after `schema.` are
    found by a pattern, and only a text naming one of them is parsed: its tables as sqlglot
    reads them in `dialect` (not a name in a string or a comment; a longer name sharing a
    prefix is never one). A text sqlglot cannot parse: the pattern's."""
    folded = text.casefold()
    if schema.casefold() not in folded:
        return set()
    quote = r'["`]'  # DuckDB and PostgreSQL quote with ", Spark with `
    pattern = (rf'(?<![\w$]){re.escape(schema.casefold())}{quote}?\s*\.\s*'
               r'(?:"((?:[^"]|"")+)"|`((?:[^`]|``)+)`|([\w$]+))')
    found = {(double.replace('""', '"') if double else back.replace("``", "`") if back else bare)
             for double, back, bare in re.findall(pattern, folded)} & names.keys()
    if not found:
        return set()
    import sqlglot

    try:
        tree = sqlglot.parse_one(text, dialect=dialect)
    except sqlglot.errors.SqlglotError:
        return found
    return {table.name.casefold() for table in tree.find_all(exp.Table)
            if table.db.casefold() == schema.casefold() and table.name.casefold() in found}


def kept_by_views(texts: dict[tuple[str, str], tuple[str, str]], schema: str, names: list[str], dialect: str) -> dict[str, str]:
    """{name: why} of the relations of `schema` about to be dropped (`names`) that a view
    staying behind reads, directly or through another of them. `texts`: (view schema,
    view) casefolded -> ("schema.view" as spelt, its SQL text)."""
    doomed = {name.casefold(): name for name in names}
    home = schema.casefold()
    kept: dict[str, str] = {}
    stack = [(name, f"view {label} reads it") for (view_schema, view), (label, text) in texts.items()
             if not (view_schema == home and view in doomed) for name in reads_of(text, schema, doomed, dialect)]
    while stack:  # a kept view of `schema` keeps what it reads too
        name, why = stack.pop()
        if doomed[name] not in kept:
            kept[doomed[name]] = why
            label, text = texts.get((home, name), ("", ""))
            stack.extend((read, f"view {label} reads it, kept") for read in reads_of(text, schema, doomed, dialect))
    return kept

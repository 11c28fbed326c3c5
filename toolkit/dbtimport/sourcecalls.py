"""dbt's source() calls in the converted project: each reads the table dbt reads, or stops
where dbt stops.

sources.toml names a source table by its identifier (a seed's table is read with ref()),
dbt's calls name it by its dbt name. A call with literal names is rewritten in place; one
whose names are Jinja values (a loop variable, a {% set %}, 'orders' ~ var('suf')) calls
the macro written into features/macros/, which looks dbt's names up when it renders
(dbtnames.dbt_import_lookup: a var selects one of the declared tables, it never becomes
SQL). Where toolkit's names are dbt's (no identifier differs) such calls stay source(),
which looks the var's text up the same way. A literal call of a name the dbt project
does not declare is reported at its file and line and calls the macro, which stops the
compile there as dbt does: toolkit would otherwise read whatever table has that name
(another dbt table's identifier).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_SOURCE_CALL = re.compile(r"""\bsource\(\s*(['"])(\w+)\1\s*,\s*(['"])(\w+)\3\s*\)""")
_ANY_SOURCE_CALL = re.compile(rf"{_SOURCE_CALL.pattern}|(?<![\w.])source(?=\s*\()")
_JINJA_PART = re.compile(r"{{.*?}}|{%.*?%}", re.S)


@dataclass
class SourceCalls:
    """What each dbt (source, table name) reads in the converted project."""

    declared: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # every dbt name -> ('source', src, table) | ('ref', seed)
    renamed: set[tuple[str, str]] = field(default_factory=set)  # the names that read another name in toolkit
    macro: str = "dbt_import_source"
    used: int = 0  # calls rewritten to the macro

    def add(self, key: tuple[str, str], kind: str, *names: str) -> None:
        self.declared[key] = (kind, *names)
        if (kind, *names) != ("source", *key):
            self.renamed.add(key)

    def call(self, key: tuple[str, str]) -> str:
        """The call toolkit reads dbt's source(*key) with."""
        return f"{self.declared[key][0]}({', '.join(jinja_string(n) for n in self.declared[key][1:])})"


def jinja_string(text: str) -> str:
    """`text` as a Jinja string literal: 'name', or JSON-escaped where it holds a quote,
    a backslash or a character that is not plain printable ASCII."""
    if text.isascii() and text.isprintable() and not any(c in text for c in "'\\"):
        return f"'{text}'"
    return json.dumps(text)


def rewrite_sources(text: str, calls: SourceCalls) -> str:
    """Each source() call as toolkit reads it (module doc). Only inside Jinja ({{ }}, {% %});
    nothing changes where no name does. A package's macros pass no declarations: as written."""
    if not calls.declared:
        return text

    def replace(match: re.Match) -> str:
        if match.group(2) is None:  # names that are Jinja values
            if not calls.renamed:
                return match.group(0)
            calls.used += 1
            return calls.macro
        key = (match.group(2), match.group(4))
        if key in calls.renamed:
            return calls.call(key)
        if key in calls.declared:
            return match.group(0)
        calls.used += 1
        return f"{calls.macro}({jinja_string(key[0])}, {jinja_string(key[1])})"

    return _JINJA_PART.sub(lambda part: _ANY_SOURCE_CALL.sub(replace, part.group(0)), text)


def report_undeclared(text: str, calls: SourceCalls, relative: str, report) -> None:
    """Each literal source() call of a name the dbt project does not declare, at its line in
    the dbt file (`relative`): dbt stops there, and toolkit must not read a table of that name."""
    if not calls.declared:
        return
    for part in _JINJA_PART.finditer(text):
        for match in _SOURCE_CALL.finditer(part.group(0)):
            key = (match.group(2), match.group(4))
            if key in calls.declared:
                continue
            line = text.count("\n", 0, part.start() + match.start()) + 1
            report.skip("source() call", f"source('{key[0]}', '{key[1]}')", f"{relative}:{line}", _why_undeclared(key, calls))


def _why_undeclared(key: tuple[str, str], calls: SourceCalls) -> str:
    source, name = key
    if not any(s == source for s, _ in calls.declared):
        why = f"the dbt project declares no source '{source}'"
    else:
        why = f"the dbt project declares no table '{name}' in source '{source}'"
        named = sorted(dbt for (s, dbt), read in calls.declared.items() if s == source and read[-1] == name)
        if named:
            why += f" ('{name}' is the identifier of {source}.{named[0]}: write source('{source}', '{named[0]}'))"
    return why + "; dbt stops at this call, and so does `toolkit compile` of the converted step"


def write_macro(calls: SourceCalls, out: Path, report) -> None:
    """features/macros/<calls.macro>.sql, when a converted file calls it."""
    if not calls.used:
        return
    by_source: dict[str, list[str]] = {}
    for (source, name), target in sorted(calls.declared.items()):
        by_source.setdefault(source, []).append(f"{jinja_string(name)}: [{', '.join(jinja_string(t) for t in target)}]")
    table = ",\n      ".join(f"{jinja_string(source)}: {{{', '.join(items)}}}" for source, items in by_source.items())
    text = (
        "{#- Written by `toolkit import-dbt`. dbt's source(source_name, table_name) names a table by its dbt name;\n"
        "    warehouse/sources.toml names it by its identifier (a seed's table is read with ref()). The source()\n"
        "    calls whose names are Jinja values call this macro, so they read the table dbt reads; a name dbt does\n"
        "    not declare stops here, as it stops dbt. A name made from a var() ('orders' ~ var('suf')) selects\n"
        "    one of these tables by the var's text (dbt_import_lookup); the var never becomes SQL. -#}\n"
        f"{{%- macro {calls.macro}(source_name, table_name) -%}}\n"
        f"{{%- set found = dbt_import_lookup({{\n      {table}}}, source_name, table_name) -%}}\n"
        "{%- if found[0] == 'ref' -%}{{ ref(found[1]) }}\n"
        "{%- else -%}{{ source(found[1], found[2]) }}\n"
        "{%- endif -%}\n"
        "{%- endmacro %}\n")
    path = out / "features" / "macros" / f"{calls.macro}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    report.notes.append(f"{calls.used} source() calls whose names are Jinja values (or not declared by dbt) call {calls.macro}() "
                        f"(features/macros/{calls.macro}.sql): it reads dbt's source table names as sources.toml names them")

"""Names a step may read, before anything is compiled: _NameIndex maps every way a
template names a relation (ref(), source(), a bare or schema-qualified table) to the
step, seed or source it is, and make_renderer builds the Jinja Renderer that resolves
ref()/source() through it.

Data flow: first stage of compiler.compile_project; stepparse.resolve_references
rewrites each parsed table through the index.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from toolkit import sql
from toolkit.project import PREDICTIONS_SCHEMA, SEED_SCHEMA, STEP_SCHEMA, Project
from toolkit.seeds import seed_columns

if TYPE_CHECKING:
    from toolkit.templating import Renderer


class _LazyRenderer:
    """The project's Renderer, made on first use (a cached compile renders nothing)."""

    def __init__(self, make):
        self._make, self._renderer = make, None

    def __getattr__(self, name):
        if self._renderer is None:
            self._renderer = self._make()
        return getattr(self._renderer, name)


def make_renderer(project: Project, names: "_NameIndex", target: str | None = None) -> "Renderer":
    from toolkit import dbtnames
    from toolkit.templating import Renderer

    config = project.config
    target = target or config.default_target
    if target not in config.targets:
        config.target(target)  # exit 2: unknown target, with the known ones
    context = dbtnames.Context(project=config.name, dialect=config.dialect, target=target,
                               engine=str(config.targets[target].get("engine", "")), schema=STEP_SCHEMA,
                               relation_columns=names.relation_columns)
    return Renderer(
        project.root,
        project.config.vars,
        resolve_ref=names.ref_relation,
        resolve_source=names.source_relation,
        ref_names=lambda: sorted(names.refs),
        source_names=lambda: sorted(project.sources),
        context=context,
    )


class _NameIndex:
    """Maps every way a step can name a relation to (kind, name)."""

    def __init__(self, project: Project):
        self.project = project
        self._texts: dict[tuple[str, str], str] = {}  # (schema, name) -> _text's
        self.refs = {
            **{n: STEP_SCHEMA for n in project.steps},
            **{n: SEED_SCHEMA for n in project.seeds},
            **{n: PREDICTIONS_SCHEMA for n in project.models},  # a step may read a model's predictions
        }
        self.tables: dict[tuple[str | None, str], tuple[str, str]] = {}
        bare_sources: dict[str, list[str]] = {}
        for key, source in project.sources.items():
            self.tables[(source.schema.lower(), source.table.lower())] = ("source", key)
            bare_sources.setdefault(source.table.lower(), []).append(key)
        for table, keys in bare_sources.items():
            if len(keys) == 1:
                self.tables[(None, table)] = ("source", keys[0])
        for name, schema in self.refs.items():
            self.tables[(schema, name.lower())] = ("step", name)
            self.tables[(None, name.lower())] = ("step", name)

    def ref_relation(self, name: str) -> str | None:
        schema = self.refs.get(name)
        return self._text(schema, name) if schema else None

    def source_relation(self, source: str, table: str) -> str | None:
        found = self.project.sources.get(f"{source}.{table}")
        return self._text(found.schema, found.table) if found else None

    def relation_columns(self, text: str) -> dict[str, str | None] | None:
        """{column: declared type or None} of a relation named in a template (ref()/source()
        text), when known before any step is compiled: a source's, a seed's; else None."""
        try:
            found = self.lookup(sqlglot.parse_one(text, read=self.project.config.dialect, into=exp.Table))
        except sqlglot.errors.SqlglotError:
            return None
        if found is None:
            return None
        kind, key = found
        if kind == "source":
            source = self.project.sources[key]
            return dict(source.columns) if source.columns_known else None
        seed = self.project.seeds.get(key)
        if seed is None:
            return None
        return {c: seed.column_types.get(c) for c in seed_columns(seed, self.project.root)}

    def _text(self, schema: str, name: str) -> str:
        """schema.name as the template's SQL text; a part that is a keyword of the project's
        dialect (a step named from.sql) or no plain identifier is quoted, so it parses.
        Made once per relation: a step read by many others is ref()'d many times."""
        key = (schema, name)
        if key not in self._texts:
            self._texts[key] = self._make_text(schema, name)
        return self._texts[key]

    def _make_text(self, schema: str, name: str) -> str:
        dialect = sql.dialect_of(self.project.config.dialect)
        keywords = dialect.tokenizer_class.KEYWORDS

        def part(text: str) -> exp.Identifier:
            plain = exp.SAFE_IDENTIFIER_RE.match(text) is not None and text.upper() not in keywords
            return exp.to_identifier(text, quoted=not plain)

        return exp.table_(part(name), db=part(schema)).sql(dialect=dialect)

    def lookup(self, table: exp.Table) -> tuple[str, str] | None:
        db = table.db.lower() if table.db else None
        return self.tables.get((db, table.name.lower()))

    def all_names(self) -> list[str]:
        return [f"{db}.{name}" if db else name for db, name in self.tables]

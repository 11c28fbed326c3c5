"""Source fingerprints remembered between runs, where the engine can tell that nobody
wrote the warehouse since.

Without a watermark, a table source's data fingerprint hashes every row (0.5 s for
10M rows on DuckDB), on every run, changed or not. An engine whose change_token()
is not None (DuckDB: the database file's and its log's identity, size and times) can
say that nothing wrote it: a run that ends records the token read as it closed the
warehouse (checkpointed, still holding it; unchanged after the close) next to the
source fingerprints it planned with, in
`.toolkit/cache/source_prints.json`; the next run whose token read before opening is
the same takes those fingerprints instead of scanning. Not for sources in a schema
toolkit itself writes (a step's, a model's, an environment's or toolkit's own),
which the run that recorded them may have changed after planning, nor for views
reading such a schema, directly or through other views (_Views). Any other token,
another toolkit version, or a missing or damaged file: every source is fingerprinted.

A table source's print covers its shape as well as its rows: whether it is a table or
a view, and its columns' names, order and types (one catalog query for all the sources
fingerprinted, engine.shapes). Row hashes alone miss two columns renamed to each
other, or a column retyped with the same text (text '10' -> integer 10 changes max()).
A view's rows can change with nothing written (one reading now()): its remembered print
is taken only when no view of the warehouse names such a call (engine.views_are_stable),
else it is hashed on every run. Hashing a stable view anew is no cure either: a view
summing doubles answers with other last bits on every query, and every run rebuilt its
readers and retrained the models above them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from toolkit import __version__
from toolkit.compilecache import write_atomic
from toolkit.errors import ProjectError, ToolkitError
from toolkit.sources import data_fingerprint, source_table

CACHE = ".toolkit/cache/source_prints.json"
TABLE, VIEW = "table:", "view:"  # how the print of a base table / a view starts


def fingerprints(engine, compiled, keys: list[str], views: "_Views | None" = None) -> dict[str, str]:
    """Data fingerprint of each source in `keys`: remembered where nothing wrote the
    warehouse since the run that computed it, else computed. `views`: the warehouse's
    views as read for this plan (views_of), shared with viewsources.py."""
    known = _remembered(engine, compiled.project.root)
    written = _written_schemas(compiled)
    prints = {}
    views = views or _Views(engine, written)  # read once, and only when a view's print could be reused
    for key in keys:
        source = compiled.project.sources[key]
        entry = known.get(key)
        if (not source.path and not _written(source.schema, written) and isinstance(entry, list) and len(entry) == 2
                and entry[0] == _where(source) and isinstance(entry[1], str) and _reusable(entry[1], source, views)):
            prints[key] = entry[1]
    unknown = [key for key in keys if key not in prints]
    tables = [source_table(compiled, key) for key in unknown if not compiled.project.sources[key].path]
    shapes = engine.shapes(tables) if tables else {}
    for key in unknown:
        prints[key] = _read_print(engine, compiled, key, shapes)
    return prints


def _reusable(print_: str, source, views: "_Views") -> bool:
    """A table's remembered print holds while the file is unchanged; a view's only when no
    view reads the clock or the like (a view summing doubles answers with other last bits
    on every query: hashed anew, every run rebuilt its readers and retrained their models),
    and when it reads nothing toolkit writes (_Views.reads_written)."""
    if print_.startswith(TABLE):
        return True
    if not print_.startswith(VIEW):
        return False
    return views.stable() and not views.reads_written(source.schema, source.table)


def views_of(engine, compiled) -> "_Views":
    """The warehouse's views, read at most once for a plan, when first asked."""
    return _Views(engine, _written_schemas(compiled))


class _Views:
    """The warehouse's views (engine.stable_views), read at the first view source whose
    print could be reused.

    A view over a relation toolkit writes (`app.v` reading `features.o`), directly or
    through other views, changes within the run that hashed it: the run hashes its
    sources before it builds, and records the file's token after its writes, so the old
    print was taken for good and the view's readers never rebuilt. Such a view is hashed
    on every run (like any source on PostgreSQL); its readers are built after the steps it
    reads, in the same run (viewsources.py)."""

    def __init__(self, engine, written: set[str]):
        self.engine, self.written = engine, {schema.casefold() for schema in written}
        self.texts: dict[tuple[str, str], str] | None = None
        self.asked = False
        self.mentioned = False  # some view's text names a schema toolkit writes: worth parsing
        self.reads: dict[tuple[str, str], set[tuple[str, str]] | None] = {}
        self.asked_every, self.every = False, None  # every view's text, stable or not (every_text)
        self.asked_resolved, self.resolved = False, None  # what each view reads, as the engine resolved it (resolved_reads)
        self.relations: dict[str, set[str]] = {}  # schema -> its relations' names casefolded (_unqualified)

    def stable(self) -> bool:
        if not self.asked:
            self.asked = True
            self.texts = self.engine.stable_views()
            if self.texts is not None:
                names = [*self.written, "toolkit"]
                self.mentioned = any(name in text.casefold() for text in self.texts.values() for name in names) or any(
                    _written(schema, self.written) for view_schema, _ in self.texts for schema in self.engine.view_search_path(view_schema))
        return self.texts is not None

    def every_text(self) -> dict[tuple[str, str], str] | None:
        """Every view's text, stable or not (engine.view_texts), for the steps a view source
        reads (viewsources.py): the texts stable() read when it found them stable, else one
        more query. None: the engine cannot tell."""
        if self.stable():  # asked first: stable views (the common case) are read once, for both
            return self.texts
        if not self.asked_every:
            self.asked_every, self.every = True, self.engine.view_texts()
        return self.every

    def reads_of(self, view: tuple[str, str], texts: dict[tuple[str, str], str]) -> set[tuple[str, str]] | None:
        """What view (schema, name) casefolded reads, its text found in `texts` (_reads)."""
        return self._reads(view, texts)

    def resolved_reads(self) -> dict[tuple[str, str], set[tuple[str, str]]] | None:
        """engine.view_reads(), asked once: what each view reads as the engine resolved its names
        (PostgreSQL's pg_depend). None: the engine cannot tell, and view texts are parsed."""
        if not self.asked_resolved:
            self.asked_resolved, self.resolved = True, self.engine.view_reads()
        return self.resolved

    def reads_written(self, schema: str, table: str) -> bool:
        """Whether view schema.table reads, directly or through other views, a relation in a
        schema toolkit writes; a view text sqlglot cannot read counts as one that does."""
        if not self.mentioned:  # the common case: no view names any such schema, nothing parsed
            return False
        seen: set[tuple[str, str]] = set()
        stack = [(schema.casefold(), table.casefold())]
        while stack:
            at = stack.pop()
            if at in seen or at not in self.texts:  # a table: in a schema toolkit does not write
                continue
            seen.add(at)
            reads = self._reads(at)
            if reads is None:
                return True
            for relation in reads:
                if _written(relation[0], self.written):
                    return True
                stack.append(relation)
        return False

    def _reads(self, view: tuple[str, str], texts: dict[tuple[str, str], str] | None = None) -> set[tuple[str, str]] | None:
        """The (schema, name) casefolded of the relations a view reads: as the engine resolved
        them, where it tells (a name its text leaves unqualified was found through the
        search_path, not necessarily in the view's schema); else from its text, an unqualified
        name taken as of the view's own schema. None: sqlglot cannot read the text."""
        resolved = self.resolved_reads()
        if resolved is not None:
            return resolved.get(view, set())
        if view not in self.reads:
            import sqlglot
            from sqlglot import exp

            try:
                tree = sqlglot.parse_one((self.texts if texts is None else texts)[view], dialect=self.engine.dialect)
            except sqlglot.errors.SqlglotError:
                self.reads[view] = None
                return None
            body = tree.expression if isinstance(tree, exp.Create) and tree.expression is not None else tree
            ctes = {cte.alias_or_name.casefold() for cte in body.find_all(exp.CTE)}  # a name of its own query, no relation
            known = self.texts if texts is None else texts
            self.reads[view] = {(table.db.casefold(), table.name.casefold()) if table.db else self._unqualified(view[0], table.name.casefold(), known)
                                for table in body.find_all(exp.Table) if table.name and not (not table.db and table.name.casefold() in ctes)}
        return self.reads[view]

    def _unqualified(self, view_schema: str, name: str, texts: dict[tuple[str, str], str]) -> tuple[str, str]:
        """The relation a name a view's text leaves without a schema is when toolkit reads the
        view: the first schema of the engine's view_search_path holding a view (`texts`) or a
        table of that name; none does: the view's own schema (the view fails when read)."""
        path = self.engine.view_search_path(view_schema)
        for schema in path if len(path) > 1 else ():
            if (schema, name) in texts or name in self._relations_in(schema):
                return (schema, name)
        return (view_schema, name)

    def _relations_in(self, schema: str) -> set[str]:
        if schema not in self.relations:
            self.relations[schema] = {name.casefold() for name in self.engine.relations(schema)}
        return self.relations[schema]


def _read_print(engine, compiled, key: str, shapes: dict) -> str:
    """A file source: its files' print. A table source: its kind and a digest of its
    columns and their types, then its rows' print."""
    source = compiled.project.sources[key]
    try:
        data = data_fingerprint(engine, compiled, key)
        if source.path:
            return data
        kind, columns = shapes.get((source.schema, source.table), ("unknown", []))  # unknown: not remembered
        shape = hashlib.sha256(json.dumps(columns).encode()).hexdigest()[:16]
        return f"{kind}:{shape}:{data}"
    except ToolkitError:
        raise
    except Exception as error:  # the engine cannot read it: a view over files the lockdown refuses, a broken view
        first = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
        files = "Permission" in first  # DuckDB's lockdown: the source is a view reading files
        raise ProjectError(f"source {key}: {source.schema}.{source.table} cannot be read: {first}", source.file, source.line,
                           hint="a view reading files is refused like a step reading them: declare the files as a "
                                "file source (path = ...) in warehouse/sources.toml" if files else None) from None


def remember(engine, compiled, prints: dict[str, str]) -> None:
    """After the run closed the warehouse: what the sources it read held then. Only when
    the token read now is the one read as the warehouse closed: another process that
    wrote between our close and this moment (a loader waiting for the file) would
    otherwise have its write taken for ours."""
    token = engine.change_token()
    if token is None or token != engine.token_at_close:
        return
    sources = compiled.project.sources
    record = {"toolkit": __version__, "token": token,
              "prints": {key: [_where(sources[key]), value] for key, value in prints.items()
                         if not sources[key].path and value.startswith((TABLE, VIEW))}}
    path = compiled.project.root / CACHE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(record).encode())
    except OSError:  # a read-only project or a full disk: the next run scans the sources instead
        return


def _remembered(engine, root: Path) -> dict[str, list]:
    if engine.token_at_open is None:
        return {}
    try:
        record = json.loads((root / CACHE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(record, dict) or record.get("toolkit") != __version__ or record.get("token") != engine.token_at_open:
        return {}
    prints = record.get("prints")
    return prints if isinstance(prints, dict) else {}


def _where(source) -> str:
    return f"{source.schema}.{source.table}"


def _written_schemas(compiled) -> set[str]:
    return {relation.db for step in compiled.steps.values() for relation in (step.relation, step.published)}


def _written(schema: str, written: set[str]) -> bool:
    """A schema toolkit writes: a step's or model's, that schema in an environment
    (`features__dev`), or toolkit's own (`toolkit`, `toolkit_physical`, ...). Compared as
    given: _Views passes both casefolded."""
    return schema.startswith("toolkit") or any(schema == w or schema.startswith(f"{w}__") for w in written)

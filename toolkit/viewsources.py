"""View sources over toolkit's own steps: a source declared in sources.toml whose table
is a view in the warehouse reading a step's published relation (`raw.v` = `select * from
analytics.a`, a the step). The project does not say that its readers read `a`; the view's
text does. Planned like any source, its readers were planned before `a` was rebuilt and
reused in the run that changed `a`: stale rows published with exit 0, caught up one run
later.

Here such a view's reads are found (the view texts sourceprints._Views reads, through
views over views) and each step whose published relation (in the plan's environment:
`analytics__dev.a` in dev; prod's `analytics.a` is not what a dev run writes) the view
reads becomes, for its readers, an upstream of planning: planned before them, its data
fingerprint mixed into the source's print (a change there is a change of the source
for them), and in the run the reader starts only once that step is published (the view
reads the published relation, not the new physical table a reader of the step reads).

What a view reads: what the engine resolved when the view was made where it keeps that
(PostgreSQL's pg_depend: its printed text leaves a relation the search_path finds without
its schema), else the names in its text (an unqualified one found as the engine finds it
when the view is read, Engine.view_search_path: DuckDB's own schema, then main).

A reader whose view source reads a step whose publish waits for a test run with the reader
(or after it) cannot wait for that publish: it is not built (HeldRead), rather than built
from the old rows under a print claiming the new ones.

Cheap when nothing mentions a written schema: no view source read, no catalog query;
views whose texts name no schema a step publishes into, nothing parsed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from graphlib import TopologicalSorter

from sqlglot import exp

from toolkit.actions import Reason, ReasonKind
from toolkit.errors import ProjectError
from toolkit.sourceprints import VIEW


@dataclass(frozen=True)
class ViewSources:
    """What the plan's view sources read of toolkit's steps."""

    # source key -> the steps whose published relation it reads
    steps: dict[str, frozenset[str]] = field(default_factory=dict)
    # source key -> a digest of the texts of the views it goes through and of the tables they
    # read beside steps (their shape and rows), where no view reads the clock: its rows are
    # those texts over those tables and those steps' data, so that is its print for its
    # readers, not its rows hashed before the steps were rebuilt (which differ from the rows
    # hashed by the next run: its readers rebuilt twice)
    by_texts: dict[str, str] = field(default_factory=dict)


def steps_read(compiled, views, prints: dict[str, str], relation_of) -> ViewSources:
    """The steps whose published relation (`relation_of(step)`, in the plan's environment)
    each view source reads, directly or through other views."""
    keys = [key for key, value in prints.items() if value.startswith(VIEW)]
    if not keys:
        return ViewSources()
    published = _published(compiled, relation_of)
    texts = views.every_text()
    if not texts or not _mentioned(views, texts, {schema for schema, _ in published}):
        return ViewSources()
    found, by_texts = {}, {}
    for key in keys:
        source = compiled.project.sources[key]
        steps, path, tables = _reached(views, texts, (source.schema.casefold(), source.table.casefold()), published)
        if steps:
            found[key] = frozenset(steps)
            own = _texts_print(views.engine, texts, path, tables) if tables is not None and views.stable() else None
            if own is not None:
                by_texts[key] = own
    return ViewSources(found, by_texts)


def _texts_print(engine, texts, path: set, tables: set[tuple[str, str]]) -> str | None:
    """A digest of the views' texts on `path` and of each table they read (its columns and
    types, and its rows, as a table source's print covers them); None when one of those
    tables is not found in the catalog (a name the text reading left unresolved)."""
    parts = [f"{view}={texts[view]}" for view in sorted(path)]
    if tables:
        relations = [exp.table_(name, db=schema) for schema, name in sorted(tables)]
        shapes = {(schema.casefold(), name.casefold()): shape for (schema, name), shape in engine.shapes(relations).items()}
        if any(table not in shapes for table in tables):
            return None
        parts += [f"{table}={shapes[table]}:{engine.table_fingerprint(relation)}"
                  for table, relation in zip(sorted(tables), relations)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _published(compiled, relation_of) -> dict[tuple[str, str], str]:
    """(schema, name) casefolded of each step's published relation -> the step."""
    found = {}
    for name, step in compiled.steps.items():
        if step.strategy.inlined:  # an ephemeral step publishes nothing a view could read
            continue
        relation = relation_of(step)
        found[(relation.db.casefold(), relation.name.casefold())] = name
    return found


def _mentioned(views, texts: dict[tuple[str, str], str], schemas: set[str]) -> bool:
    """Whether some view may read a published relation: where the engine says what views read
    (sourceprints._Views.resolved_reads), one reads a relation of a schema steps publish into;
    else its text names such a schema, or an unqualified name there may be found in one (it
    lives in one, or the engine's view_search_path goes through one)."""
    resolved = views.resolved_reads()
    if resolved is not None:
        return any(schema in schemas for reads in resolved.values() for schema, _ in reads)
    return any(schema in schemas for view_schema, _ in texts for schema in views.engine.view_search_path(view_schema)) or any(
        schema in text.casefold() for text in texts.values() for schema in schemas)


def _reached(views, texts, start: tuple[str, str],
             published: dict[tuple[str, str], str]) -> tuple[set[str], set, set[tuple[str, str]] | None]:
    """The steps whose published relation the view `start` reads, through other views (not
    through a step's own relation: what it reads is that step's upstream); the views on
    the way; and the tables they read beside those (None: a text sqlglot cannot read)."""
    steps: set[str] = set()
    seen: set[tuple[str, str]] = set()
    tables: set[tuple[str, str]] | None = set()
    stack = [start]
    while stack:
        at = stack.pop()
        if at in seen:
            continue
        if at not in texts:
            if tables is not None and at != start:
                tables.add(at)  # a table (or a relation the engine keeps no text of)
            continue
        seen.add(at)
        reads = views.reads_of(at, texts)
        if reads is None:
            tables = None
        for relation in reads or ():
            if relation in published:
                steps.add(published[relation])
            else:
                stack.append(relation)
    return steps, seen, tables


def upstream_through_views(compiled, by_source: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """Step -> the steps it reads through view sources (`by_source`). Not itself, nor one
    that reads it (through its upstream or another view source): the view reads its published
    rows as they were, and waiting for it would be a cycle."""
    if not by_source:
        return {}
    graph = {name: set(parents) for name, parents in compiled.dag.upstream.items()}
    found: dict[str, set[str]] = {}
    for name in sorted(compiled.steps):
        for read in sorted(set().union(*(by_source.get(key, ()) for key in _sources_read(compiled, name)))):
            if read != name and not _depends(graph, read, name):
                graph[name].add(read)
                found.setdefault(name, set()).add(read)
    return {name: frozenset(reads) for name, reads in found.items()}


def _sources_read(compiled, name: str) -> set[str]:
    """The sources a step reads, also through the ephemeral steps inlined into it."""
    keys: set[str] = set()
    seen: set[str] = set()
    stack = [name]
    while stack:
        at = stack.pop()
        if at not in seen:
            seen.add(at)
            keys.update(compiled.steps[at].sources)
            stack += [up for up in compiled.steps[at].upstream if compiled.steps[up].strategy.inlined]
    return keys


def _depends(graph: dict[str, set[str]], name: str, on: str) -> bool:
    """Whether `name` is built after `on` in `graph` (step -> what it waits for)."""
    seen, stack = set(), [name]
    while stack:
        at = stack.pop()
        if at == on:
            return True
        if at not in seen:
            seen.add(at)
            stack.extend(graph.get(at, ()))
    return False


def order(compiled, through: dict[str, frozenset[str]]) -> list[str]:
    """The steps in dependency order, a step after those it reads through view sources too."""
    if not through:
        return compiled.dag.order()
    graph = {name: sorted(parents | through.get(name, frozenset())) for name, parents in sorted(compiled.dag.upstream.items())}
    return list(TopologicalSorter(graph).static_order())


def with_view_reads(source_prints: dict[str, str], step, found: ViewSources, through: frozenset[str], prints: dict) -> dict[str, str]:
    """The source prints `step` is fingerprinted with: a view source's print with the data
    fingerprint of each step it reads (`through`, planned before it: `prints`), so that a
    change there is a change of the source for its readers. A view reading nothing but those
    steps and tables: its views' texts and those tables' prints instead of its rows (ViewSources.by_texts)."""
    mixed = {}
    for key in step.sources:
        steps = sorted(found.steps.get(key, frozenset()) & through)
        if steps:
            reads = hashlib.sha256("|".join(f"{name}={prints[name].data}" for name in steps).encode()).hexdigest()[:16]
            whole = key in found.by_texts and found.steps[key] <= through
            own = f"{VIEW}texts:{found.by_texts[key]}" if whole else source_prints.get(key, "")
            mixed[key] = f"{own}|reads:{reads}"
    return {**source_prints, **mixed} if mixed else source_prints


def named(reason: Reason | None, by_source: dict[str, frozenset[str]], through: frozenset[str]) -> Reason | None:
    """The reason with each view source it names as changed told as the view over the steps it reads."""
    if reason is None:
        return None
    detail = reason.detail
    if reason.kind is ReasonKind.SOURCE_CHANGED and detail:
        detail = ", ".join(_note(key, by_source, through) for key in detail.split(", "))
    return Reason(reason.kind, detail, named(reason.then, by_source, through))


def _note(key: str, by_source: dict[str, frozenset[str]], through: frozenset[str]) -> str:
    steps = sorted(by_source.get(key, frozenset()) & through)
    return f"{key}: a view reading {', '.join(steps)}" if steps else key


def unheld(view_reads: dict[str, frozenset[str]], holds: dict, compiled) -> dict[str, frozenset[str]]:
    """view_reads without a wait that could never end: a step whose publish is held for a custom
    test run with the reader, or with a step built from it (planning.held_publishes), is
    published only after the reader was built (held_by_own_tests: such a reader is not built)."""
    found = {}
    for name, reads in view_reads.items():
        kept = frozenset(reads) - {read for read, _ in _own_holds(name, reads, holds, compiled)}
        if kept:
            found[name] = kept
    return found


@dataclass(frozen=True)
class HeldRead:
    """A step a reader reads through a view source (`source`) whose publish waits for a test
    (`hold`, a planning.Hold) run with the reader or a step built from it: a cycle. Built
    first, the reader reads the old rows under a print claiming the new ones (published
    stale with exit 0, and reused as such); so it is not built (execute._Runner._execute),
    the test does not run and the held step is not published either: nothing published
    differs from what its plan says, and the message says how to break the cycle."""

    step: str
    source: str
    hold: object

    def error(self, reader: str) -> ProjectError:
        line = self.hold.where.rsplit(":", 1)[1] if ":" in self.hold.where else None
        return ProjectError(
            f"{reader} reads {self.step} through the view source {self.source} (its published rows), but "
            f"{self.step}'s publish waits for {self.hold.text()}, which runs only after {reader} is built: "
            f"{reader} would read {self.step}'s old rows, so it is not built",
            self.hold.file, int(line) if line and line.isdigit() else None,
            hint=f'read {self.step} with ref("{self.step}") in {reader}, or split the test: none reading both '
                 f'{self.step} and {self.hold.owner}')


def held_by_own_tests(view_reads: dict[str, frozenset[str]], holds: dict, compiled,
                      by_source: dict[str, frozenset[str]]) -> dict[str, tuple[HeldRead, ...]]:
    """Reader -> the HeldRead of each step it reads through a view source whose publish waits
    for a test run with it or after it (what unheld leaves out of view_reads)."""
    found = {}
    for name, reads in view_reads.items():
        own = _own_holds(name, reads, holds, compiled)
        if own:
            sources = sorted(_sources_read(compiled, name))
            found[name] = tuple(HeldRead(read, next(key for key in sources if read in by_source.get(key, ())), hold)
                                for read, hold in own)
    return found


def _own_holds(name: str, reads, holds: dict, compiled) -> list[tuple[str, object]]:
    """(step, hold) of each step in `reads` held by a test run with `name` or a step built from it."""
    after = compiled.dag.descendants(name) | {name}
    found = []
    for read in sorted(reads):
        hold = next((hold for hold in holds.get(read, ()) if hold.owner in after), None)
        if hold is not None:
            found.append((read, hold))
    return found

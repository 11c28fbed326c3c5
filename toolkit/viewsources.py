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

Cheap when nothing mentions a written schema: no view source read, no catalog query;
views whose texts name no schema a step publishes into, nothing parsed.
"""

from __future__ import annotations

import hashlib
from graphlib import TopologicalSorter

from toolkit.actions import Reason, ReasonKind
from toolkit.sourceprints import VIEW


def steps_read(compiled, views, prints: dict[str, str], relation_of) -> dict[str, frozenset[str]]:
    """Source key -> the steps whose published relation (`relation_of(step)`, in the plan's
    environment) the view source reads, directly or through other views; only sources that
    are views and read one."""
    keys = [key for key, value in prints.items() if value.startswith(VIEW)]
    if not keys:
        return {}
    published = _published(compiled, relation_of)
    texts = views.every_text()
    if not texts or not _mentioned(texts, {schema for schema, _ in published}):
        return {}
    found = {}
    for key in keys:
        source = compiled.project.sources[key]
        steps = _reached(views, texts, (source.schema.casefold(), source.table.casefold()), published)
        if steps:
            found[key] = frozenset(steps)
    return found


def _published(compiled, relation_of) -> dict[tuple[str, str], str]:
    """(schema, name) casefolded of each step's published relation -> the step."""
    found = {}
    for name, step in compiled.steps.items():
        if step.strategy.inlined:  # an ephemeral step publishes nothing a view could read
            continue
        relation = relation_of(step)
        found[(relation.db.casefold(), relation.name.casefold())] = name
    return found


def _mentioned(texts: dict[tuple[str, str], str], schemas: set[str]) -> bool:
    """Whether some view may read a published relation: its text names a schema steps publish
    into, or it lives in one (an unqualified name there is of its own schema)."""
    return any(view_schema in schemas for view_schema, _ in texts) or any(
        schema in text.casefold() for text in texts.values() for schema in schemas)


def _reached(views, texts, start: tuple[str, str], published: dict[tuple[str, str], str]) -> set[str]:
    """The steps whose published relation the view `start` reads, through other views (not
    through a step's own relation: what it reads is that step's upstream). A view text
    sqlglot cannot read names no step."""
    steps: set[str] = set()
    seen: set[tuple[str, str]] = set()
    stack = [start]
    while stack:
        at = stack.pop()
        if at in seen or at not in texts:
            continue
        seen.add(at)
        for relation in views.reads_of(at, texts) or ():
            if relation in published:
                steps.add(published[relation])
            else:
                stack.append(relation)
    return steps


def upstream_through_views(compiled, by_source: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """Step -> the steps it reads through view sources (`by_source`). Not itself, nor one
    that reads it (through its upstream or another view source): the view reads its published
    rows as they were, and waiting for it would be a cycle."""
    if not by_source:
        return {}
    graph = {name: set(parents) for name, parents in compiled.dag.upstream.items()}
    found: dict[str, set[str]] = {}
    for name in sorted(compiled.steps):
        for read in sorted(set().union(*(by_source.get(key, ()) for key in compiled.steps[name].sources))):
            if read != name and not _depends(graph, read, name):
                graph[name].add(read)
                found.setdefault(name, set()).add(read)
    return {name: frozenset(reads) for name, reads in found.items()}


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


def with_view_reads(source_prints: dict[str, str], step, by_source: dict[str, frozenset[str]], through: frozenset[str],
                    prints: dict) -> dict[str, str]:
    """The source prints `step` is fingerprinted with: a view source's print with the data
    fingerprint of each step it reads (`through`, planned before it: `prints`), so that a
    change there is a change of the source for its readers."""
    mixed = {}
    for key in step.sources:
        steps = sorted(by_source.get(key, frozenset()) & through)
        if steps:
            reads = "|".join(f"{name}={prints[name].data}" for name in steps)
            mixed[key] = f"{source_prints.get(key, '')}|reads:" + hashlib.sha256(reads.encode()).hexdigest()[:16]
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
    published only after the reader was built; that reader reads it as published before."""
    found = {}
    for name, reads in view_reads.items():
        after = compiled.dag.descendants(name) | {name}
        kept = frozenset(read for read in reads if not any(hold.owner in after for hold in holds.get(read, ())))
        if kept:
            found[name] = kept
    return found

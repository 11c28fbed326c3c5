"""Publishing never takes over a relation toolkit did not make.

A step's published name (config schema/alias, a seed's or a model's name, in its
environment's schema; a model's `<name>_history` too) may already exist in the
warehouse: a view or table made by hand, by dbt before `toolkit import-dbt`, by another
tool. Publishing would replace that view (CREATE OR REPLACE VIEW), deleting the step
later would drop it, and a table would fail the publish on every run. The plan refuses
instead: exit 2 at the step's config line, before anything is built.

"Toolkit made it" means the state of this warehouse records the name: a published row
of any environment, or a saved state (published_history, what rollback restores).

Cost: only names the plan publishes where its environment's own row does not already
(a new step, a changed alias, an environment's first run) are looked up, one catalog
query per schema; a no-op run looks up none. The state is read only on a clash.
"""

from __future__ import annotations

from sqlglot import exp

from toolkit.errors import ProjectError, line_of
from toolkit.state import SCHEMA


def check(compiled, engine, state, steps: dict, env: str) -> None:
    """Refuse (ProjectError) the first planned step that would publish over a relation the
    state does not record as toolkit's. `steps`: step name -> planning.Planned."""
    new = [(p, p.relation, p.step.strategy.published_suffixes) for p in steps.values() if _publishes_anew(p, env)]
    clash = _first_unowned(engine, state, new)
    if clash is not None:
        planned, relation, kind = clash
        raise _refusal(compiled, planned, relation, kind)


def check_promote(engine, state, targets: list[tuple[str, exp.Table, str]], source: str, destination: str) -> None:
    """The same for a promote: (step, relation, materialized) it publishes anew in `destination`."""
    from toolkit.materializations import REGISTRY

    clash = _first_unowned(engine, state, [(step, relation, _suffixes(REGISTRY, kind)) for step, relation, kind in targets])
    if clash is not None:
        step, relation, kind = clash
        raise ProjectError(
            f"cannot promote {source} -> {destination}: {step} would be published as {relation}, which already exists in the "
            f"warehouse and was not published by toolkit (a {kind}); nothing was changed",
            hint=f"drop or rename that {kind} (one dbt built? drop it: toolkit publishes the step there), or give the step another name",
        )


def _first_unowned(engine, state, targets: list[tuple]) -> tuple | None:
    """(payload, "schema.name", kind) of the first target name that exists and is not
    toolkit's; targets: (payload, relation, the suffixes it publishes)."""
    catalog: dict[str, dict[str, tuple[str, str]]] = {}
    clashes = [(payload, relation, found) for payload, relation, suffixes in targets
               for found in _existing(engine, catalog, relation, suffixes)]
    if not clashes:
        return None
    owned = _owned(state)
    for payload, relation, (name, kind) in clashes:
        key = (relation.db.casefold(), name.casefold())
        if key not in owned and not _history_of_own_model(state, payload, relation, name):
            return payload, f"{relation.db}.{name}", kind
    return None


def _publishes_anew(planned, env: str) -> bool:
    """Whether the step publishes a name its environment's row does not record: a row
    without a relation (an older toolkit's) published the step where it is."""
    if not planned.step.strategy.published_suffixes:  # ephemeral: publishes nothing
        return False
    row = planned.current
    if row is None or row.env != env:
        return True
    return bool(row.relation) and not _same(row.relation, planned.relation)


def _same(text: str, relation: exp.Table) -> bool:
    """Whether recorded `text` names `relation`; the plain-name case without generating
    SQL (~70 us a step: a no-op run over 500 steps asks for every one)."""
    plain = f"{relation.db}.{relation.name}"
    return text.casefold() == plain.casefold() or text.casefold() == relation.sql().casefold()


def _existing(engine, catalog: dict, relation: exp.Table, suffixes) -> list[tuple[str, str]]:
    """(stored name, 'table' | 'view') of each name published at `relation` that exists."""
    schema = relation.db
    if schema.casefold() not in catalog:
        catalog[schema.casefold()] = {n.casefold(): (n, k) for n, k in engine.relations(schema).items()}
    found = catalog[schema.casefold()]
    names = [relation.name + suffix for suffix in suffixes]
    return [found[name.casefold()] for name in names if name.casefold() in found]


def _owned(state) -> set[tuple[str, str]]:
    """(schema, name) case-folded of every relation the state records as published, with
    the names each one's materialization publishes beside it (a model's _history)."""
    from toolkit.materializations import REGISTRY

    if not state.exists():
        return set()
    tables = state.engine.catalog(SCHEMA)
    owned = set()
    for name in ("published", "published_history"):
        if not {"relation", "materialized"} <= {c.lower() for c in tables.get(name, {})}:
            continue
        rows = state.engine.fetch_rows(exp.select("relation", "materialized").distinct().from_(exp.table_(name, db=SCHEMA)))
        for relation, materialized in rows:
            table = _parsed(relation)
            for suffix in _suffixes(REGISTRY, materialized):
                if table is not None:
                    owned.add((table.db.casefold(), (table.name + suffix).casefold()))
    return owned


def _suffixes(registry: dict, materialized: str | None) -> tuple[str, ...]:
    strategy = registry.get(materialized)
    return strategy.published_suffixes if strategy is not None else ("",)


def _parsed(relation: str | None) -> exp.Table | None:
    try:
        return exp.to_table(relation) if relation else None
    except Exception:  # noqa: BLE001 - a row written by hand: it names nothing toolkit publishes
        return None


def _history_of_own_model(state, payload, relation: exp.Table, name: str) -> bool:
    """A model's <name>_history outlives its published view (a deleted model's rows stay):
    toolkit made it when a model of this name ran here before."""
    step = payload if isinstance(payload, str) else payload.step.name
    if name.casefold() == relation.name.casefold() or not state.exists():
        return False
    ran = exp.select("step").from_(exp.table_("step_runs", db=SCHEMA)).where(exp.and_(
        exp.column("step").eq(exp.Literal.string(step)), exp.column("materialized").eq(exp.Literal.string("model")))).limit(1)
    return bool(state.engine.fetch_rows(ran))


def _refusal(compiled, planned, relation: str, kind: str) -> ProjectError:
    step = planned.step
    template = step.template or ""
    model = compiled.project.models.get(step.name)
    line = line_of(template, "alias") or line_of(template, "schema") or (model.line if model is not None else None) or 1
    if step.kind == "seed":
        fix = "rename the seed's file"
    elif step.kind == "model":
        fix = "rename the model"
    else:
        fix = "give the step another name: config(alias=...) or config(schema=...)"
    return ProjectError(
        f"{step.name} publishes {relation}, which already exists in the warehouse and was not published by toolkit (a {kind})",
        step.file, line,
        hint=f"drop or rename that {kind} (one dbt built? drop it: toolkit builds the step there), or {fix}",
    )


def droppable(deleted: dict[str, str], planned: dict, env: str, current: dict) -> dict[str, str]:
    """The deleted steps' relations (step -> relation) a run may drop: not one a step of
    the project publishes now (a step renamed with its alias kept: dropping the name
    after its publish would leave it published nowhere). A kept one maps to "": the
    step is forgotten, nothing dropped."""
    if not deleted:  # the common run: nothing to work out
        return {}
    taken = {p.relation.sql().casefold() for p in planned.values()}
    taken |= {row.relation.casefold() for name, row in current.items() if row.env == env and name not in deleted and row.relation}
    return {step: "" if relation.casefold() in taken else relation for step, relation in deleted.items()}

"""Publishing never takes over a relation toolkit did not make.

A step's published name (config schema/alias, a seed's or a model's name, in its
environment's schema; a model's `<name>_history` too) may already exist in the
warehouse: a view or table made by hand, by dbt before `toolkit import-dbt`, by another
tool. Publishing would replace that view (CREATE OR REPLACE VIEW), deleting the step
later would drop it, and a table would fail the publish on every run. The plan refuses
instead: exit 2 at the step's config line, before anything is built.

"Toolkit made it" means the state of this warehouse records the name (a published row
of any environment, or a saved state: what rollback restores) AND what is there still
looks like toolkit's: a view reading one relation of toolkit_physical and nothing else
(a model's `_history` is a table: the state alone). A name toolkit published that the
user since replaced (`drop view app.report; create table app.report as ...`, or a view
of their own) is theirs: a rebuild, a rollback and a promote refuse it like any foreign
object, and deleting the step leaves it alone (`droppable`: the run warns, naming it).
Where the engine does not show a view's SQL (Spark), the state alone decides.

Names are compared as the engine compares them: without case on DuckDB and Spark, as
spelt on PostgreSQL (toolkit quotes every name: config(alias="Orders") publishes "Orders",
a relation other than orders there). A step's own name is lower case; an alias keeps its case.

A reused step is checked too: a name the user took since would go on serving their rows
while plan and run say "reused". A dropped view is published again, silently.

Cost: one catalog query per schema (Engine.definitions), the plan's own: it reads the
schemas of the reused steps' names anyway (a dropped view is published again), so a
no-op run queries nothing more; a reused name costs a regex match of its view's SQL.
The state is read only on a clash.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from toolkit.actions import Action
from toolkit.errors import ProjectError, line_of
from toolkit.state import PHYSICAL_SCHEMA, SCHEMA


def check(compiled, engine, state, steps: dict, env: str, catalog: Catalog | None = None) -> None:
    """Refuse (ProjectError) the first planned step that would publish over a relation
    toolkit did not make, or that the user put in place of toolkit's since, and the first
    reused step whose name the user took since (it would go on serving their rows).
    `steps`: step name -> planning.Planned; `catalog`: the plan's, which read the schemas
    of the reused steps' names already (a no-op run queries nothing more)."""
    with_names = [p for p in steps.values() if p.step.strategy.published_suffixes]
    publishing = [p for p in with_names if _publishes(p)]
    reused = [p for p in with_names if not _publishes(p) and p.action is Action.REUSE]
    if not publishing and not reused:
        return
    catalog = catalog or Catalog(engine)
    new, again = [], []  # a name its environment's row does not record / one toolkit published there before
    for planned in publishing:
        (new if _publishes_anew(planned, env, catalog.fold) else again).append(planned)
    clash = _first_unowned(catalog, state, [(p, p.relation, p.step.strategy.published_suffixes) for p in new])
    if clash is not None:
        raise _refusal(compiled, *clash)
    clash = _first_replaced(catalog, [(p, p.relation, _recorded_physical(p)) for p in again + reused])
    if clash is not None:
        raise _refusal(compiled, *clash, replaced=True)


def check_promote(engine, state, targets: list[tuple[str, exp.Table, str]], source: str, destination: str,
                  kept: list[tuple[str, exp.Table, str | None]] = ()) -> None:
    """The same for a promote: `targets`, (step, relation, materialized) it publishes anew in
    `destination`; `kept`, (step, relation, physical) every name the destination publishes
    already and keeps, re-pointed or left as it is (`physical`: the table its state row says
    the view reads): refused when the user replaced toolkit's view there since. A name left
    as it is counts too: the promote would record the user's object as the source's step."""
    from toolkit.materializations import REGISTRY

    targets = [(step, relation, _suffixes(REGISTRY, kind)) for step, relation, kind in targets]
    catalog = Catalog(engine)
    _refuse_replaced(catalog, list(kept), f"promote {source} -> {destination}", "promote")
    clash = _first_unowned(catalog, state, targets) if targets else None
    if clash is not None:
        step, relation, kind = clash
        raise ProjectError(
            f"cannot promote {source} -> {destination}: {step} would be published as {relation}, which already exists in the "
            f"warehouse and was not published by toolkit (a {kind}); nothing was changed",
            hint=f"drop or rename that {kind} (one dbt built? drop it: toolkit publishes the step there), or give the step another name",
        )


def check_rollback(engine, relations: dict[str, exp.Table], env: str, current: dict) -> None:
    """Refuse a rollback that would re-point a published name (step -> relation) that is
    not toolkit's view any more: the user replaced it since. `current`: the environment's
    state rows now (step -> Published): what each name's view reads, if toolkit's."""
    reads = recorded_reads(current, fold_for(engine))
    names = [(step, relation, reads.get(_key(relation, fold_for(engine)), "")) for step, relation in relations.items()]
    _refuse_replaced(Catalog(engine), names, f"roll back {env}", "roll back")


def recorded_reads(rows: dict, fold) -> dict[str, str]:
    """Folded "schema.name" -> the physical table its view reads, by state rows (step -> Published)."""
    return {_key(table, fold): row.physical_name for row in rows.values() if row.relation and row.physical_name
            for table in [_parsed(row.relation)] if table is not None}


def _key(relation: exp.Table, fold) -> str:
    return fold(f"{relation.db}.{relation.name}")


def _refuse_replaced(catalog: Catalog, names: list[tuple[str, exp.Table, str | None]], doing: str, retry: str) -> None:
    """Refuse (ProjectError) a promote or rollback (`doing`: "promote dev -> prod", "roll back
    prod") that would publish again one of `names`, (step, relation, physical or None), which
    the user replaced since toolkit published it. Before anything changed: `retry` once fixed."""
    replaced = _first_replaced(catalog, names) if names else None
    if replaced is not None:
        step, relation, kind = replaced
        raise ProjectError(
            f"cannot {doing}: {step} would be published again as {relation}, which is now a {kind} toolkit did not make "
            f"(replaced by hand since toolkit published it); nothing was changed",
            hint=f"drop or rename that {kind}, then {retry} again",
        )


def foreign(engine, relations: list[tuple[exp.Table, str | None]]) -> dict[str, str]:
    """"schema.name" -> kind of those of `relations`, (relation, the physical table the state
    says its view reads, None where it does not say), that exist and are not that view any more (replaced by hand since
    toolkit published them, or pointed elsewhere): to be left alone, not dropped."""
    catalog, found = Catalog(engine), {}
    for relation, physical in relations:
        there = catalog.at(relation.db, relation.name)
        if there is not None and not _looks_published(catalog, there, physical):
            found[f"{relation.db}.{there[0]}"] = there[1]
    return found


def moved_away(planned: dict, env: str, engine) -> dict[str, str]:
    """recorded relation -> kind, of the names that steps published elsewhere now (a changed
    alias or schema) move away from, which the user replaced since: left, not dropped."""
    fold = fold_for(engine)
    old = {p.current.relation: (table, p.current.physical_name) for p in planned.values()
           if p.step.strategy.published_suffixes and _publishes(p) and p.current is not None and p.current.env == env
           and p.current.relation and not _same(p.current.relation, p.relation, fold)
           for table in [_parsed(p.current.relation)] if table is not None}
    theirs = {fold(name): kind for name, kind in (foreign(engine, list(old.values())) if old else {}).items()}
    old = {text: table for text, (table, _) in old.items()}
    return {text: theirs[fold(f"{table.db}.{table.name}")] for text, table in old.items() if fold(f"{table.db}.{table.name}") in theirs}


class Catalog:
    """What is at the names a check asks about: (stored name, kind, view SQL), read with
    one Engine.definitions query per schema, names matched as the engine matches them."""

    def __init__(self, engine):
        self.engine = engine
        self.fold = fold_for(engine)
        self._schemas: dict[str, dict[str, tuple[str, str, str | None]]] = {}
        self._physical: dict[str, set[str]] | None = None

    def at(self, schema: str, name: str) -> tuple[str, str, str | None] | None:
        key = self.fold(schema)
        if key not in self._schemas:
            self._schemas[key] = {self.fold(n): (n, kind, sql) for n, (kind, sql) in self.engine.definitions(schema).items()}
        return self._schemas[key].get(self.fold(name))

    def physical_columns(self, physical: str) -> set[str] | None:
        """The columns of a table of toolkit_physical (one query for the schema, the first
        time a view lists columns instead of `*`: PostgreSQL shows every view so)."""
        if self._physical is None:
            self._physical = {self.fold(name): set(columns) for name, columns in self.engine.catalog(PHYSICAL_SCHEMA).items()}
        return self._physical.get(self.fold(physical))


def fold_for(engine):
    """How the engine tells two relation names apart: str.casefold where case does not count."""
    return str.casefold if getattr(engine, "NAMES_FOLD_CASE", True) else _as_spelt


def _as_spelt(text: str) -> str:
    return text


# Toolkit's views as the engines show them: DuckDB's `CREATE VIEW app.x AS SELECT * FROM
# toolkit_physical.y;`, PostgreSQL's ` SELECT y.a, y.b FROM toolkit_physical.y;`. Matched
# first without parsing (0.5 ms a view: a full rebuild of 500 steps looks at 500).
# The columns: `*` or plain (qualified) names; a renamed one (`region AS country`) is parsed.
_TOOLKIT_VIEW = re.compile(r'\s*(?:create\s+view\s+[^;]*?\s+as\s+)?select\s+(?P<columns>\*|[\w."]+(?:\s*,\s*[\w."]+)*)\s+from\s+'
                           r'(?P<schema>"?toolkit_physical"?)\.(?P<physical>"?[a-z0-9_]+"?)\s*;?\s*', re.IGNORECASE)


def _looks_published(catalog: Catalog, there: tuple[str, str, str | None], physical: str | None = None) -> bool:
    """Whether what is at a published name is a view as toolkit publishes it: all the
    columns, not renamed, of one relation of toolkit_physical (`physical`, where the state
    records which; "" where no table of toolkit's belongs there), nothing else. A table, a
    view of the user's that filters, joins, computes, renames or leaves columns out, or one
    pointed at another of toolkit's tables, is not. Names compare as the engine compares
    them ("TOOLKIT_PHYSICAL" is another schema on PostgreSQL). A view whose SQL the engine
    does not tell passes: the state decides there."""
    _, kind, sql = there
    if kind != "view":
        return False
    if sql is None:
        return True
    fold = catalog.fold
    match = _TOOLKIT_VIEW.fullmatch(sql)
    if match is not None:
        columns = None if match.group("columns") == "*" else [_unquoted(c.strip().rsplit(".", 1)[-1]) for c in match.group("columns").split(",")]
        return (fold(_unquoted(match.group("schema"))) == fold(PHYSICAL_SCHEMA)
                and _reads(catalog, _unquoted(match.group("physical")), physical, columns))
    try:
        tree = sqlglot.parse_one(sql, read=catalog.engine.dialect)
    except Exception:  # noqa: BLE001 - toolkit's own views always parse
        return False
    query = tree.expression if isinstance(tree, exp.Create) else tree
    clauses = {key for key, value in query.args.items() if value} if isinstance(query, exp.Select) else {"not a select"}
    if clauses != {"expressions", "from_"}:  # sqlglot's key for FROM
        return False
    source = query.args["from_"].this
    if not (isinstance(source, exp.Table) and fold(source.db) == fold(PHYSICAL_SCHEMA)
            and all(_plain_column(column) for column in query.expressions)):
        return False
    star = any(isinstance(column, exp.Star) for column in query.expressions)
    return _reads(catalog, source.name, physical, None if star else [column.alias_or_name for column in query.expressions])


def _reads(catalog: Catalog, table: str, physical: str | None, columns: list[str] | None) -> bool:
    """Whether a view reading `table` (listing `columns`, None for `*`) shows exactly the
    recorded `physical` table (None: any of toolkit's, the state does not say)."""
    if physical is None:
        return True
    if catalog.fold(table) != catalog.fold(physical):
        return False
    return columns is None or sorted(columns) == sorted(catalog.physical_columns(physical) or ())


def _unquoted(name: str) -> str:
    return name[1:-1] if len(name) > 1 and name[0] == name[-1] == '"' else name


def _plain_column(node: exp.Expression) -> bool:
    """`*`, `a`, `t.a`, or `t.a AS a` (PostgreSQL spells some so): a column under its own name."""
    if isinstance(node, exp.Alias):
        return isinstance(node.this, exp.Column) and node.this.name == node.alias
    return isinstance(node, (exp.Star, exp.Column))


def _publishes(planned) -> bool:
    """Whether the run points the step's name at a table (built, re-tested, or published
    again): a reused or inlined step touches nothing."""
    return not (planned.action is Action.INLINE or (planned.action is Action.REUSE and not planned.publish))


def _first_replaced(catalog: Catalog, targets: list[tuple]) -> tuple | None:
    """(payload, "schema.name", kind) of the first relation, published by toolkit before,
    that now holds something else; targets: (payload, relation, the physical relation its
    view reads by the state, None where not known)."""
    for payload, relation, physical in targets:
        there = catalog.at(relation.db, relation.name)
        if there is not None and not _looks_published(catalog, there, physical):
            return payload, f"{relation.db}.{there[0]}", there[1]
    return None


def _recorded_physical(payload) -> str | None:
    """The physical relation a planned step's published view points at, by its environment's
    state row (publishing and the state commit are one transaction where views tell their
    SQL); None where that is not known."""
    row = payload.current
    return row.physical_name if row is not None and row.physical_name else None


def _first_unowned(catalog: Catalog, state, targets: list[tuple]) -> tuple | None:
    """(payload, "schema.name", kind) of the first target name that exists and is not
    toolkit's; targets: (payload, relation, the suffixes it publishes)."""
    clashes = [(payload, relation, suffix, there) for payload, relation, suffixes in targets for suffix in suffixes
               for there in [catalog.at(relation.db, relation.name + suffix)] if there is not None]
    if not clashes:
        return None
    owned = _owned(state, catalog.fold)
    for payload, relation, suffix, there in clashes:
        name, kind = there[0], there[1]
        recorded = (catalog.fold(relation.db), catalog.fold(name)) in owned or _history_of_own_model(state, payload, relation, name)
        if not recorded or (not suffix and not _looks_published(catalog, there)):
            return payload, f"{relation.db}.{name}", kind
    return None


def _publishes_anew(planned, env: str, fold) -> bool:
    """Whether the step publishes a name its environment's row does not record: a row
    without a relation (an older toolkit's) published the step where it is."""
    row = planned.current
    if row is None or row.env != env:
        return True
    return bool(row.relation) and not _same(row.relation, planned.relation, fold)


def _same(text: str, relation: exp.Table, fold) -> bool:
    """Whether recorded `text` names `relation` on this engine (an alias changed only in
    case is another relation on PostgreSQL); the plain-name case without generating SQL."""
    plain = f"{relation.db}.{relation.name}"
    return fold(text) == fold(plain) or fold(text) == fold(relation.sql())


def _owned(state, fold) -> set[tuple[str, str]]:
    """(schema, name), folded as the engine compares names, of every relation the state
    records as published, with the names each one's materialization publishes beside it
    (a model's _history)."""
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
                    owned.add((fold(table.db), fold(table.name + suffix)))
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


def _refusal(compiled, planned, relation: str, kind: str, replaced: bool = False) -> ProjectError:
    """`replaced`: toolkit published the name, the user put their own object there since."""
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
    what = (f"which is now a {kind} toolkit did not make (replaced by hand since toolkit published it)" if replaced
            else f"which already exists in the warehouse and was not published by toolkit (a {kind})")
    return ProjectError(
        f"{step.name} publishes {relation}, {what}",
        step.file, line,
        hint=f"drop or rename that {kind} (one dbt built? drop it: toolkit builds the step there), or {fix}",
    )


def droppable(deleted: dict[str, str], planned: dict, env: str, current: dict, engine=None) -> tuple[dict[str, str], dict[str, str]]:
    """The deleted steps' relations (step -> relation) a run may drop: not one a step of
    the project publishes now (a step renamed with its alias kept: dropping the name
    after its publish would leave it published nowhere), nor one the user replaced since
    toolkit published it. A kept one maps to "": the step is forgotten, nothing dropped.
    Second: the replaced ones, "schema.name" -> kind, for the run to say it left them."""
    if not deleted:  # the common run: nothing to work out
        return {}, {}
    fold = fold_for(engine)
    taken = {fold(p.relation.sql()) for p in planned.values()}
    taken |= {fold(row.relation) for name, row in current.items() if row.env == env and name not in deleted and row.relation}
    relations = {step: "" if fold(relation) in taken else relation for step, relation in deleted.items()}
    tables = {step: table for step, relation in relations.items() if relation for table in [_parsed(relation)] if table is not None}
    reads = {step: row.physical_name or None for step, row in current.items() if row.env == env}
    replaced = foreign(engine, [(table, reads.get(step)) for step, table in tables.items()]) if engine is not None and tables else {}
    theirs = {fold(name) for name in replaced}
    left = {step for step, table in tables.items() if fold(f"{table.db}.{table.name}") in theirs}
    return {step: "" if step in left else relation for step, relation in relations.items()}, replaced

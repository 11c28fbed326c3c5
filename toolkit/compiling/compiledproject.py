"""What compile_project returns and what every command reads: CompiledProject (the
steps, their DAG, the renderer and name index), with the queries made from it later:
a step rendered again with extra template values (variant_tree, incremental_tree) and
a tree with ephemeral steps inlined and steps read under their published or physical
names (inline_ephemeral, with_published_names), and tests reading an ephemeral step given
its inlined query (inline_ephemeral_reads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING

from sqlglot import exp

from toolkit import sql
from toolkit.compiling.compiledstep import CompiledStep
from toolkit.compiling.nameindex import _NameIndex
from toolkit.compiling.sqlsteps import _input_schema
from toolkit.compiling.stepparse import _parse, resolve_references, stored_names
from toolkit.dag import Dag
from toolkit.datatests import PARENT_QUERY, DataTest
from toolkit.project import Project

if TYPE_CHECKING:
    from toolkit.templating import Renderer


@dataclass
class CompiledProject:
    project: Project
    steps: dict[str, CompiledStep]
    dag: Dag
    renderer: "Renderer"
    names: "_NameIndex"
    source_tests: dict[str, list[DataTest]] = field(default_factory=dict)
    reads: dict = field(default_factory=dict)  # env vars and target the templates read (dbtnames.Context.reads)
    disabled: list[str] = field(default_factory=list)  # steps with config enabled=false: not compiled, not built
    # (step, render values) -> variant tree made ahead (prepare_variants), for the workers
    variants: dict = field(default_factory=dict, repr=False, compare=False)
    cast_typer: object = field(default=None, repr=False, compare=False)  # cast_types(self), made once

    def inlined(self, tree: exp.Expression, relation_of) -> exp.Expression:
        """inline_ephemeral for code the compiler imports (materializations): no import back."""
        return inline_ephemeral(self, tree, relation_of)

    @property
    def dialect(self) -> str:
        return self.project.config.dialect

    def prepare_variants(self, wanted: list[tuple[CompiledStep, dict]]) -> None:
        """Render the variants a run will build now, in this (the main) thread: a template
        that never ends is then stopped by the render time limit (limits.py), which only
        the main thread gets; a worker thread would hang the run. Workers take them from
        `variants` (this run's only: a long-lived process keeps no old intervals)."""
        self.variants = {}
        made = {(step.name, tuple(sorted(render.items()))): self.variant_tree(step, **render) for step, render in wanted}
        self.variants = made

    def variant_tree(self, step: CompiledStep, **render) -> exp.Query:
        """The step's query rendered again with extra template values (is_incremental());
        `this` reads the step itself."""
        made = self.variants.get((step.name, tuple(sorted(render.items()))))
        if made is not None:
            return made.copy()
        path = self.project.root / step.file
        rendered, _, bindings = self.renderer.render(path, step.name, this=step.relation.sql(), **render)
        variant = CompiledStep(step.name, step.kind, step.file, step.materialized, step.relation, template=step.template, rendered=rendered)
        tree = _parse(rendered, self.project.steps[step.name], step.file, self.dialect, bindings, self.project.config.allowed_functions)
        tree = sql.normalize(resolve_references(variant, tree, self.names, self.dialect, allow_self=True), self.dialect)
        return self._spell_stored_names(step, tree)

    def _spell_stored_names(self, step: CompiledStep, tree: exp.Query) -> exp.Query:
        """A variant reading a source stored in mixed case ("UserId") reads it quoted as stored,
        like the step's own tree (_check_columns): qualified first, so that its columns are
        known to be the source's. One that cannot be qualified runs as written."""
        stored = stored_names(self.project, step.sources)
        schema = _input_schema([*step.upstream, step.name], step.sources, self.steps, self.project) if stored else None
        if schema is None:  # the step itself is in it: `this`
            return tree
        try:
            qualified = sql.qualify_step(tree.copy(), schema, self.dialect)
        except sql.SqlError:
            return tree
        if qualified is None:
            return tree
        sql.quote_stored_names(qualified[0], stored, columns=True)
        return qualified[0]


def with_published_names(compiled: "CompiledProject", tree: exp.Expression) -> exp.Expression:
    """The tree reading every step under its published name (config alias/schema), an
    ephemeral step inlined as the CTE a build runs (it has no table): SQL shown to people
    (`toolkit compile`, docs); builds read physical relations instead."""
    moved = {name: s.published for name, s in compiled.steps.items() if s.published is not s.relation}
    return inline_ephemeral(compiled, tree, moved.get)


def relation_index(compiled: "CompiledProject") -> dict[tuple[str, str], str]:
    """(schema, name) of each step's catalog relation, case-folded -> the step's name."""
    return {(s.relation.db.casefold(), s.relation.name.casefold()): name for name, s in compiled.steps.items()}


def inline_ephemeral(compiled: "CompiledProject", tree: exp.Expression, relation_of, by_relation: dict | None = None) -> exp.Expression:
    """The query that runs for `tree`: each ephemeral step it reads (and they read) inlined
    as a CTE, every other step read as `relation_of(name)` (None: as written). A run reads
    physical tables; `toolkit compile` reads published names, so it prints what runs."""
    by_relation = relation_index(compiled) if by_relation is None else by_relation
    inlined: dict[str, exp.Expression] = {}

    def rename(table: exp.Table) -> exp.Table | None:
        name = by_relation.get((table.db.casefold(), table.name.casefold()))
        if name is None:
            return None
        if not compiled.steps[name].strategy.inlined:
            return relation_of(name)
        if name not in inlined:
            inlined[name] = inline_ephemeral(compiled, compiled.steps[name].tree, relation_of, by_relation)
        return exp.table_(sql.inlined_name(name))

    return sql.with_inlined(sql.replace_tables(tree, rename), inlined)  # compiled trees are already normalized


def inline_ephemeral_reads(steps: dict[str, CompiledStep]) -> None:
    """A test reading an ephemeral step reads its query, inlined as its readers read it: the
    step has no relation (looked up at run time, it failed the step with a bare KeyError). A
    relationships test toward one gets the parent's query (datatests.PARENT_QUERY), a custom
    test reading one its query with the step inlined; both with `relations`, the steps they
    then read, which a run reads where relation_of says. Done once the trees are final."""
    inlined = {name for name, step in steps.items() if step.strategy.inlined}
    if not inlined:
        return
    compiled = SimpleNamespace(steps=steps)
    index = relation_index(compiled)

    def read_inlined(tree: exp.Expression) -> tuple[exp.Expression, dict]:
        query = inline_ephemeral(compiled, tree, lambda name: None, index)  # other steps as written: renamed at run time
        relations = {(table.db, table.name): index[(table.db.casefold(), table.name.casefold())] for table in query.find_all(exp.Table)
                     if index.get((table.db.casefold(), table.name.casefold())) not in (None, *inlined)}
        return query, relations

    for step in steps.values():
        for test in step.data_tests:
            if test.name == "relationships" and test.args["to"] in inlined:
                test.args[PARENT_QUERY], test.args["relations"] = read_inlined(steps[test.args["to"]].tree)
            elif test.name == "custom" and inlined & set(test.args["relations"].values()):
                test.args["query"], test.args["relations"] = read_inlined(test.args["query"])


def incremental_tree(compiled: CompiledProject, step: CompiledStep) -> exp.Query:
    """The step's query rendered with is_incremental() true; `this` reads the step itself."""
    return compiled.variant_tree(step, incremental=True)

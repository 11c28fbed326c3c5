"""Compile a project: render every step, parse it, resolve what it reads, order the
DAG and check columns against upstream schemas. No warehouse is touched.

A compiled step holds its SQL as a syntax tree whose table references use
canonical published names (features.x, raw.x, <schema>.<table>); the executor
swaps those for physical tables just before running.

This module is the entry point: compile_project (and assemble, for the compile
cache) runs the stages below in order; every name other modules import from
toolkit.compiler is re-exported here (__all__).

  compiling/nameindex.py        names a template may read; the Jinja renderer
  compiling/stepparse.py        rendered SQL -> guarded tree -> canonical table names
  compiling/sqlsteps.py         a SQL step: render, parse, reuse, qualify, check, hash
  compiling/pythonsteps.py      ibis steps, in the order their ref()s need
  compiling/steptests.py        relationships and custom tests: where they run, what they read
  compiling/modelsteps.py       model steps and their column, monitor and tag checks
  compiling/stepchecks.py       keys, tests, cycles and published names (exit 2)
  compiling/steptypes.py        column types inferred through the DAG (cast_types)
  compiling/compiledstep.py     CompiledStep / CachedStep: what each stage fills in
  compiling/compiledproject.py  CompiledProject and the queries made from it later
"""

from __future__ import annotations

import threading

from toolkit import heap, seeds, sourcecolumns
from toolkit.compiling.compiledproject import CompiledProject, incremental_tree, inline_ephemeral, inline_ephemeral_reads, relation_index, with_published_names
from toolkit.compiling.compiledstep import CachedStep, CompiledStep, catalog_relation
from toolkit.compiling.modelsteps import _check_model_columns, _check_model_tags, _compile_model
from toolkit.compiling.nameindex import _LazyRenderer, _NameIndex, make_renderer
from toolkit.compiling.pythonsteps import _PythonSteps
from toolkit.compiling.sqlsteps import _check_columns, _check_custom_tests, _check_incremental_branch, _compile_step, _fingerprint_content, _reused
from toolkit.compiling.stepchecks import _check_cycles, _check_published_names, _reference_line
from toolkit.compiling.stepparse import resolve_references, stored_names
from toolkit.compiling.steptests import _attach_custom_tests, _order_test_parents, _source_tests
from toolkit.compiling.steptypes import cast_types
from toolkit.dag import Dag
from toolkit.errors import ProjectError
from toolkit.project import SEED_SCHEMA, Project, load_project
from toolkit.seeds import published_name, seed_header

__all__ = [
    "CachedStep", "CompileAfresh", "CompiledProject", "CompiledStep", "assemble", "cast_types", "catalog_relation",
    "compile_project", "incremental_tree", "inline_ephemeral", "make_renderer", "relation_index", "resolve_references",
    "stored_names", "with_published_names",
]


@heap.growing()
def compile_project(root, vars_override: dict | None = None, project: Project | None = None, target: str | None = None,
                    reuse: dict | None = None) -> CompiledProject:
    """`target` (default: the config's) is what templates see as target.name/type.

    `reuse`: the previous compile's records of SQL steps (compilecache.py), given only
    when nothing but the text of SQL step files changed since. A step whose rendered
    SQL, config and var() bindings are the same, and whose upstream steps have the same
    columns, is taken from its record instead of parsed, qualified and hashed again
    (one edited step of 500: the other 499). Not with Python steps or custom tests,
    which read and change other steps while they compile."""
    project = project or load_project(root, vars_override)
    project.sources = sourcecolumns.resolve(project.sources, project.root, target or project.config.default_target)
    names = _NameIndex(project)
    renderer = make_renderer(project, names, target)
    if reuse and (project.custom_tests or any(f.path.suffix == ".py" for f in project.steps.values())):
        reuse = None
    fresh = CompileAfresh(root, vars_override, target)
    steps: dict[str, CompiledStep] = {}
    for seed in project.seeds.values():
        header = seed_header(seed, project.root)
        steps[seed.name] = CompiledStep(
            name=seed.name,
            kind="seed",
            file=project.relative(seed.path),
            materialized="seed",
            relation=catalog_relation(seed.name, SEED_SCHEMA),
            columns=[published_name(name) for name in header],
            content_hash=seeds.content_hash(seed, header),
        )
    for step_file in project.steps.values():
        if step_file.path.suffix == ".sql":
            record = (reuse or {}).get(step_file.name)
            steps[step_file.name] = _compile_step(step_file, project, renderer, names, record, fresh)
    checked = _PythonSteps(project, names, steps, renderer.context.reads).compile()
    disabled = _drop_disabled(steps)
    _order_test_parents(steps, project.config.dialect)
    for spec in project.models.values():
        steps[spec.name] = _compile_model(spec, steps)
    dag = Dag({name: set(step.upstream) for name, step in steps.items()}, {n: s.tags for n, s in steps.items()})
    _check_cycles(dag, steps)
    _check_published_names(steps, project)
    probes = []
    if project.custom_tests:
        probes = _attach_custom_tests(project, renderer, names, steps, dag.order())
        dag = Dag({name: set(step.upstream) for name, step in steps.items()}, {n: s.tags for n, s in steps.items()})
    for name in dag.order():
        if name in checked:
            continue
        if steps[name].strategy.from_template:
            if not _reused(steps[name], steps, project, names):
                _check_columns(steps[name], steps, project, names)
                steps[name].content_hash = _fingerprint_content(steps[name], project.config.dialect)
            # a reused step too: its SQL rendered the same, its is_incremental() branch may not have
            _check_incremental_branch(steps[name], steps, project, renderer, names)
        elif name in project.models:
            _check_model_columns(project.models[name], steps)
    _check_custom_tests(probes, steps, project, names)
    inline_ephemeral_reads(steps)
    _tag_columns(project, steps, dag.order())
    for spec in project.models.values():
        _check_model_tags(spec, steps)
    return CompiledProject(project, steps, dag, renderer, names, _source_tests(project), reads=renderer.context.reads,
                           disabled=disabled)


def _tag_columns(project: Project, steps: dict[str, CompiledStep], order: list[str]) -> None:
    """Carry the tags of source and seed columns to every column derived from them."""
    from toolkit import columntags

    tagged = {f"{s.schema}.{s.table}".lower(): columntags.origins(s.column_tags, f"{s.schema}.{s.table}")
              for s in project.sources.values() if s.column_tags}
    for seed in project.seeds.values():
        if seed.column_tags:
            steps[seed.name].column_tags = columntags.origins(seed.column_tags, steps[seed.name].relation.sql())
            tagged[steps[seed.name].relation.sql().lower()] = steps[seed.name].column_tags
    if not tagged:
        return
    schema = columntags.schema_of(steps, project.sources)
    for name in order:
        step = steps[name]
        if step.strategy.from_template and step.tree is not None:
            step.column_tags = columntags.derive(step, tagged, schema, project.config.dialect)
            if step.column_tags:
                tagged[step.relation.sql().lower()] = step.column_tags


def assemble(project: Project, steps: dict[str, CompiledStep], source_tests: dict, reads: dict | None = None,
             target: str | None = None, disabled: list[str] | None = None, models: dict | None = None,
             files_read: dict | None = None) -> CompiledProject:
    """A compiled project from already compiled seed and feature steps (the compile
    cache's), the DAG rebuilt. `models`: the model steps compiled with them (the graph
    and the models were checked then, on the same inputs); else each model step is
    compiled again and the graph and models checked. `files_read`: the columns of file
    sources read when they were compiled (sourcecolumns.resolve)."""
    project.sources = sourcecolumns.resolve(project.sources, project.root, target or project.config.default_target, files_read)
    names = _NameIndex(project)
    for spec in project.models.values():
        steps[spec.name] = models[spec.name] if models is not None else _compile_model(spec, steps)
    dag = Dag({name: set(step.upstream) for name, step in steps.items()}, {n: s.tags for n, s in steps.items()})
    if models is None:
        _check_cycles(dag, steps)
        for name in dag.order():
            if name in project.models:
                _check_model_columns(project.models[name], steps)
                _check_model_tags(project.models[name], steps)
    renderer = _LazyRenderer(lambda: make_renderer(project, names, target))
    return CompiledProject(project, steps, dag, renderer, names, source_tests, reads=dict(reads or {}), disabled=list(disabled or ()))


class CompileAfresh:
    """compile_project once more, from scratch and at most once: what a cached or
    carried-over step falls back to if its SQL text does not read back to the same tree
    (CachedStep.tree)."""

    def __init__(self, root, vars_override, target):
        self.args, self.compiled = (root, vars_override, target), None
        self.lock = threading.Lock()  # build workers and the runner's preparer read trees at once

    def __call__(self):
        with self.lock:
            if self.compiled is None:
                root, vars_override, target = self.args
                self.compiled = compile_project(root, vars_override, target=target)
        return self.compiled


def _drop_disabled(steps: dict[str, CompiledStep]) -> list[str]:
    """Steps with config(enabled=false) leave the project; reading one is exit 2 naming it."""
    disabled = sorted(name for name, step in steps.items() if step.config.get("enabled") is False)
    for name in disabled:
        del steps[name]
    for step in steps.values():
        parents = [t.args["to"] for t in step.data_tests if t.name == "relationships"]
        for parent in [*step.upstream, *parents]:
            if parent in disabled:
                raise ProjectError(f"{step.name} reads {parent}, which is disabled (config enabled=false)", step.file,
                                   _reference_line(step.template, parent), hint=f"enable {parent}, or stop reading it")
    return disabled

"""Compiling a SQL step (features/**/*.sql): render -> check config -> parse and resolve
(stepparse.py) in _compile_step, or take the previous compile's record when nothing it
was made from changed (_reused); then, in DAG order once its upstream columns are known,
qualify against them (_check_columns), check keys and tests (stepchecks.py) and hash
its canonical SQL and data config (_fingerprint_content).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from toolkit import sql
from toolkit.compiling.compiledstep import CachedStep, CompiledStep, catalog_relation
from toolkit.compiling.nameindex import _NameIndex
from toolkit.compiling.stepchecks import _check_tests_and_key
from toolkit.compiling import querychecks
from toolkit.compiling.stepparse import _guarded_tree, _located, _parse, resolve_references, stored_names
from toolkit.compiling.steptests import _add_test_dependencies
from toolkit.errors import ProjectError, SourceColumnsUnknown, line_of
from toolkit.project import STEP_SCHEMA, Project, StepFile
from toolkit.stepconfig import METADATA_KEYS, check_config

if TYPE_CHECKING:
    from toolkit.templating import Renderer


def _compile_step(step_file: StepFile, project: Project, renderer: "Renderer", names: _NameIndex,
                  record: dict | None = None, fresh=None) -> CompiledStep:
    relative = project.relative(step_file.path)
    rendered, config, bindings = renderer.render(step_file.path, step_file.name, this=f"{STEP_SCHEMA}.{step_file.name}")
    data_tests = check_config(config, step_file.text, relative, project.config.dialect)
    fields = dict(
        name=step_file.name,
        kind="feature",
        file=relative,
        materialized=config.get("materialized", "table"),
        relation=catalog_relation(step_file.name, STEP_SCHEMA),
        config=config,
        template=step_file.text,
        rendered=rendered,
        bindings=bindings,
    )
    if record is not None and (record["rendered"], record["config"], record["bindings"]) == (rendered, config, bindings):
        # The same SQL as last time: what it reads is known; whether its compiled tree
        # still holds depends on its upstream columns (_reused, in DAG order).
        step = CachedStep(**fields, upstream=list(record["reads_upstream"]), sources=list(record["sources"]))
        step.sql_text, step.canonical, step.dialect = record["sql"], record["canonical"], project.config.dialect
        step.shape = record["shape"]
        step.fallback, step.record = fresh, record
        step.reads_upstream = list(step.upstream)
    else:
        step = CompiledStep(**fields)
        step.tree = resolve_references(step, _parse(rendered, step_file, relative, project.config.dialect, bindings,
                                                    project.config.allowed_functions), names, project.config.dialect)
        step.reads_upstream = list(step.upstream)
    step.data_tests = data_tests
    _add_test_dependencies(step, names, line_of(step_file.text, "relationships") or 1)
    return step


def _reused(step: CompiledStep, steps: dict[str, CompiledStep], project: Project, names: _NameIndex) -> bool:
    """Take a step carried over from the previous compile (_compile_step) as it was, when
    its upstream columns are what it was qualified against; else parse it after all."""
    record = getattr(step, "record", None)
    if record is None:
        return False
    step.record = None
    now = _upstream_columns(step, steps)
    if now != record["upstream_columns"]:
        kept = step.upstream, step.sources  # resolving again would drop the parents tests added
        tree = _parse(step.rendered, project.steps[step.name], step.file, project.config.dialect, step.bindings,
                      project.config.allowed_functions)
        step.tree = resolve_references(step, tree, names, project.config.dialect)
        step.upstream, step.sources = kept
        return False
    step.columns, step.content_hash, step.lineage = record["columns"], record["content_hash"], record["lineage"]
    step.volatile = list(record["volatile"])
    step.upstream_columns = now
    step.stored_names = stored_names(project, step.sources)
    _check_tests_and_key(step, steps, project)
    return True


def _upstream_columns(step: CompiledStep, steps: dict[str, CompiledStep]) -> dict:
    return {name: (list(steps[name].columns) if steps[name].columns is not None else None) for name in step.upstream}


def _check_columns(step: CompiledStep, steps: dict[str, CompiledStep], project: Project, names: _NameIndex) -> None:
    """Qualify the step's tree in place against its inputs' columns; record its output columns.

    The qualified tree (identifiers normalized, columns qualified, stars expanded) is
    what runs and what is fingerprinted. If sqlglot cannot qualify the query, the
    tree is rebuilt from the rendered text and runs unchecked.
    """
    dialect = project.config.dialect
    # Unknown columns upstream (an unqualifiable step, a table source that declares
    # none) leave the step unchecked: it runs as written and the engine judges it.
    schema = _input_schema(step.upstream, step.sources, steps, project)
    qualified = _qualified(step, step.tree, schema, project, names) if schema is not None else None
    if qualified is None:
        # parsed again from the text: var() values are bound again too (else placeholders ran as names and text)
        tree = _parse(step.rendered, project.steps[step.name], step.file, dialect, step.bindings, project.config.allowed_functions)
        try:
            sql.check_named_outputs(tree)
        except sql.SqlError as error:
            raise _located(error, step.template, step.rendered, step.file) from None
        kept = step.upstream, step.sources  # resolving again would drop the parents tests added
        step.tree = sql.normalize(resolve_references(step, tree, names, dialect), dialect)
        step.upstream, step.sources = kept
        step.columns = None
    else:
        step.tree, step.columns = qualified
    stored = stored_names(project, step.sources)
    if stored:
        try:
            sql.quote_stored_names(step.tree, stored, columns=step.columns is not None)
        except sql.SqlError as error:
            raise _located(error, step.template, step.rendered, step.file) from None
    sql.drop_positions(step.tree)  # checked: from here on the tree is only copied and generated
    step.volatile = sql.volatile_calls(step.tree)
    step.upstream_columns = _upstream_columns(step, steps)
    _check_tests_and_key(step, steps, project)


def _qualified(step: CompiledStep, tree, schema: dict, project: Project, names: _NameIndex) -> tuple | None:
    """sql.qualify_step of `tree` (the step's, or a custom test's), its errors located in
    the step's template: an unknown `alias.column` at that very reference (sqlglot names
    the column only), and a set operation of unequal widths once stars are expanded, or
    a star's EXCLUDE / REPLACE / RENAME naming a column its tables lack."""
    places = querychecks.set_operation_places(tree)
    modifiers = querychecks.star_modifiers(tree)  # qualifying expands the stars, dropping their lists
    try:
        qualified = sql.qualify_step(tree, schema, project.config.dialect)
    except sql.SqlError as error:
        if not error.message.startswith("output column"):  # a column unknown, ambiguous or out of scope
            error = querychecks.unknown_qualified_column(_reparsed(step, project, names), schema) or error
            raise _refused(_located(error, step.template, step.rendered, step.file), step.sources, project) from None
        raise _located(error, step.template, step.rendered, step.file) from None
    try:
        if qualified is not None:
            querychecks.check_set_operations(qualified[0], places)
            querychecks.check_compared_subqueries(qualified[0], places)
            querychecks.check_star_modifiers(qualified[0], modifiers, schema)
            querychecks.check_having_columns(qualified[0], schema)
    except sql.SqlError as error:
        raise _refused(_located(error, step.template, step.rendered, step.file), step.sources, project) from None
    return qualified


def _refused(error: ProjectError, sources: list[str], project: Project) -> ProjectError:
    """A query refused for its columns: SourceColumnsUnknown when it reads table sources whose
    columns were remembered from an earlier catalog read (sourcecolumns.py), which the
    source may have gained since; the command reads them anew and compiles again
    (cli._compile), and the error stands only if the catalog lacks the column too."""
    remembered = tuple(key for key in sources if project.sources[key].inferred and not project.sources[key].path)
    if not remembered:
        return error
    return SourceColumnsUnknown(remembered, error.message, error.file, error.line, hint=error.hint, col=error.col)


def _check_incremental_branch(step: CompiledStep, steps: dict[str, CompiledStep], project: Project, renderer: "Renderer",
                              names: _NameIndex) -> None:
    """The columns the step's `{% if is_incremental() %}` branch reads, checked now as its
    other columns are ({{ this }} is the step itself: its output columns): an unknown one
    there failed only at the second run, the first to render that branch."""
    step.volatile_update = list(step.volatile)
    if step.materialized != "incremental" or "is_incremental" not in step.template:
        return
    dialect = project.config.dialect
    rendered, _, bindings = renderer.render(project.steps[step.name].path, step.name, this=step.relation.sql(), incremental=True)
    if rendered == step.rendered:
        return
    variant = CompiledStep(step.name, step.kind, step.file, step.materialized, step.relation, template=step.template, rendered=rendered)
    tree = resolve_references(variant, _parse(rendered, project.steps[step.name], step.file, dialect, bindings,
                                              project.config.allowed_functions), names, dialect, allow_self=True)
    step.volatile_update = sql.volatile_calls(tree)  # what an update runs: `where ts > now() - interval 1 day`
    if step.columns is None:
        return
    schema = _input_schema(variant.upstream, variant.sources, steps, project)
    if schema is None:  # it reads a step or source whose columns are unknown: the engine judges it
        return
    schema.setdefault(step.relation.db, {})[step.relation.name] = dict.fromkeys(step.columns, "unknown")
    written = tree.copy()  # qualify_step rewrites the tree it checks
    try:
        sql.qualify_step(tree, schema, dialect)
    except sql.SqlError as error:
        error = querychecks.unknown_qualified_column(written, schema) or error
        raise _refused(_located(error, step.template, rendered, step.file), variant.sources, project) from None


def _reparsed(step: CompiledStep, project: Project, names: _NameIndex):
    """The step's tree parsed again from its rendered text, tables resolved, positions kept
    (a failed qualify leaves the tree half-rewritten); what it reads stays as it was."""
    kept = step.upstream, step.sources  # resolving again would drop the parents tests added
    dialect = project.config.dialect
    tree = sql.bind_values(_guarded_tree(step.rendered, dialect, project.config.allowed_functions), step.bindings)
    try:
        return resolve_references(step, tree, names, dialect)
    finally:
        step.upstream, step.sources = kept


def _check_custom_tests(probes: list[CompiledStep], steps: dict[str, CompiledStep], project: Project, names: _NameIndex) -> None:
    """Qualify each custom test's query (steptests._attach_custom_tests made `probes`, one a
    test) against the columns of what it reads, like a step's: an unknown column is exit 2
    at the test's file:line:col, not the engine's error when the step it runs with is built.
    Its query runs as written (wrapped in `select * from (...)`, where output names may repeat)."""
    for probe in probes:
        schema = _input_schema(probe.upstream, probe.sources, steps, project)
        if schema is None:
            continue
        try:
            _qualified(probe, _reparsed(probe, project, names), schema, project, names)
        except ProjectError as error:
            if not error.message.startswith("output column"):
                raise


def _input_schema(upstream: list[str], sources: list[str], steps: dict[str, CompiledStep], project: Project) -> dict | None:
    """db -> table -> column -> type of the steps and sources a query reads, for sqlglot's
    qualify; None when the columns of one of them are not known."""
    if any(steps[name].columns is None for name in upstream) or not all(project.sources[key].columns_known for key in sources):
        return None
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for name in upstream:
        table = steps[name].relation
        schema.setdefault(table.db, {})[table.name] = dict.fromkeys(steps[name].columns, "unknown")
    for key in sources:
        source = project.sources[key]
        schema.setdefault(source.schema.lower(), {})[source.table.lower()] = dict(source.columns)
    return schema


def _fingerprint_content(step: CompiledStep, dialect: str) -> str:
    """sha256 of the step's canonical SQL (no comments; identifiers and keywords
    normalized) and its data-relevant config: what decides whether data changes."""
    data_config = {k: v for k, v in sorted(step.config.items()) if k not in METADATA_KEYS}
    canonical = sql.canonical_text(step.tree, dialect)
    step.__dict__["_canonical_of"] = (step.tree, canonical)  # the compile cache stores it (for this very tree)
    text = canonical + json.dumps(data_config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()

"""Rendered SQL -> a guarded syntax tree -> canonical table names: the parse stage
shared by SQL steps (sqlsteps.py), ibis steps (pythonsteps.py), custom tests
(steptests.py) and re-rendered variants (CompiledProject.variant_tree). Errors are
located back in the template (file:line:col).

Also stored_names: how the catalog spells a source stored in mixed case, which the
checked tree then quotes as stored.
"""

from __future__ import annotations

from sqlglot import exp

from toolkit import sql, sqlguard
from toolkit.compiling import querychecks
from toolkit.compiling.compiledstep import CompiledStep
from toolkit.compiling.nameindex import _NameIndex
from toolkit.errors import ProjectError, did_you_mean
from toolkit.project import Project, StepFile


def _parse(rendered: str, step_file: StepFile, relative: str, dialect: str, bindings: dict, allowed_functions=()) -> exp.Query:
    try:
        return sql.bind_values(_guarded_tree(rendered, dialect, allowed_functions), bindings)
    except sql.SqlError as error:
        raise _located(error, step_file.text, rendered, relative) from None


def _guarded_tree(rendered: str, dialect: str, allowed_functions=()) -> exp.Query:
    """One SELECT, parsed strictly, reading no files or system tables (else SqlError),
    with no set operation of unequal widths and no table read twice under one name
    (querychecks.py: the engines refuse both, at run time and without a line)."""
    tokens = sql.tokenize(rendered, dialect)  # once, for the parser and the strict checks
    tree = sql.parse_select(rendered, dialect, tokens)
    problem = sqlguard.guard(tree, rendered, dialect, allowed_functions, tokens)
    if problem is not None:
        raise problem
    querychecks.check_set_operations(tree)
    querychecks.check_compared_subqueries(tree)
    querychecks.check_repeated_tables(tree)
    return tree


def _located(error: sql.SqlError, template: str, rendered: str, relative: str, hint: str | None = None) -> ProjectError:
    line, col = sql.template_position(template, rendered, error.line, error.col, error.token)
    if hint is None and error.token and error.candidates:
        hint = did_you_mean(error.token, error.candidates)
    hint = hint or error.hint
    return ProjectError(error.message, relative, line, col, hint=hint)


def resolve_references(step: CompiledStep, tree: exp.Query, names: _NameIndex, dialect: str, allow_self: bool = False) -> exp.Query:
    """Rewrite every table the step reads to its canonical name; record what it reads."""
    upstream: set[str] = set()
    sources: set[str] = set()

    def rename(table: exp.Table) -> exp.Table:
        found = names.lookup(table)
        if found is None:
            raise _located(
                sql.SqlError(f"unknown table '{table.sql()}': not a step, seed or declared source", *sql.written_at(table), table.name),
                step.template,
                step.rendered,
                step.file,
                hint=did_you_mean(table.sql(), names.all_names()) or "declare sources in warehouse/sources.toml",
            )
        kind, key = found
        if kind == "source":
            sources.add(key)
            source = names.project.sources[key]
            return exp.table_(exp.to_identifier(source.table), db=exp.to_identifier(source.schema))
        if key == step.name and allow_self:
            return step.relation
        upstream.add(key)
        return exp.table_(key, db=names.refs[key])

    canonical = sql.replace_tables(tree, rename, copy=False)
    step.upstream, step.sources = sorted(upstream), sorted(sources)
    return canonical


def stored_names(project: Project, sources: list[str]) -> dict[tuple[str, str], sql.StoredNames]:
    """(schema, table) in lower case -> how the catalog spells them and their columns,
    for the `sources` with a name that is not lower case (sql.quote_stored_names). A
    declared schema or table is the catalog's spelling: the run checks it as written."""
    found = {}
    for source in map(project.sources.get, sources):
        schema = source.schema if source.schema != source.schema.lower() else None
        table = source.table if source.table != source.table.lower() else None
        if schema or table or source.stored_names or source.ambiguous:
            found[(source.schema.lower(), source.table.lower())] = sql.StoredNames(schema, table, source.stored_names,
                                                                                    source.ambiguous)
    return found

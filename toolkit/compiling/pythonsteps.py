"""Compiling Python (ibis) feature steps (features/**/*.py): _PythonSteps runs each
step's function on typed inputs (ibissteps.py) in the order its ref()s need, guards and
resolves the SQL ibis made (stepparse.py), and checks and hashes it like a SQL step
(sqlsteps.py) as soon as its inputs are checked.

Data flow: compiler.compile_project, after the SQL steps are parsed and before the
rest are checked in DAG order.
"""

from __future__ import annotations

from toolkit import sql
from toolkit.compiling.compiledstep import CompiledStep, catalog_relation
from toolkit.compiling.nameindex import _NameIndex
from toolkit.compiling.sqlsteps import _check_columns, _fingerprint_content
from toolkit.compiling.stepparse import _guarded_tree, resolve_references
from toolkit.compiling.steptests import _add_test_dependencies
from toolkit.compiling.steptypes import _output_types
from toolkit.errors import ProjectError, SourceColumnsUnknown, did_you_mean
from toolkit.project import SEED_SCHEMA, STEP_SCHEMA, Project, StepFile
from toolkit.seeds import seed_columns, seed_types
from toolkit.stepconfig import check_config


class _PythonSteps:
    """Compiles features/**/*.py (ibissteps.py) in the order their ref()s need: a step's
    inputs are checked first, so their columns and types are known when its function
    runs. Returns the steps it checked; compile_project checks the rest."""

    def __init__(self, project: Project, names: _NameIndex, steps: dict[str, CompiledStep], reads: dict | None = None):
        self.project, self.names, self.steps = project, names, steps
        self.reads = reads  # the environment variables the steps' Python read go with the templates' env_var() reads
        self.files = {n: f for n, f in project.steps.items() if f.path.suffix == ".py"}
        self.checked: set[str] = set()
        self.visiting: list[str] = []
        self.types: dict[str, dict[str, str | None]] = {}  # ibis steps' output types, exact
        self.sources_read: list[str] = []  # the table sources source() gave the step functions, in order

    def compile(self) -> set[str]:
        for name in self.files:
            self.ensure(name)
        return self.checked

    def ensure(self, name: str) -> bool:
        """Compile and check `name` and what it reads; False where that must wait (a model's predictions)."""
        if name in self.checked or name in self.project.seeds:
            return True
        if name in self.visiting:
            cycle = " -> ".join([*self.visiting[self.visiting.index(name):], name])
            first = self.files.get(self.visiting[0]) or self.project.steps[self.visiting[0]]
            raise ProjectError(f"dependency cycle: {cycle}", self.project.relative(first.path))
        if name not in self.files and name not in self.steps:
            return False
        self.visiting.append(name)
        if name in self.files:
            self.steps[name] = self._compile(self.files[name])
        step = self.steps[name]
        ready = all([self.ensure(parent) for parent in step.upstream])
        if ready and step.strategy.from_template:
            _check_columns(step, self.steps, self.project, self.names)
            step.content_hash = _fingerprint_content(step, self.project.config.dialect)
        self.visiting.pop()
        if ready:
            self.checked.add(name)
        return ready

    def _compile(self, step_file: StepFile) -> CompiledStep:
        from toolkit import ibissteps

        project, dialect = self.project, self.project.config.dialect
        relative = project.relative(step_file.path)
        inputs = ibissteps.Inputs(self._ref, self._source, self._var, self.reads)
        first = len(self.sources_read)
        try:
            text, config, line, types = ibissteps.compile_step(step_file.path, relative, dialect, inputs)
        except SourceColumnsUnknown:
            raise
        except ProjectError as error:
            # A column the remembered columns of a source lack (it gained one since): read
            # them anew and compile again (sqlsteps._refused); the error stands if it persists.
            remembered = tuple(dict.fromkeys(key for key in self.sources_read[first:]
                                             if project.sources[key].inferred and not project.sources[key].path))
            if remembered and error.message.startswith("the step function failed"):
                raise SourceColumnsUnknown(remembered, error.message, error.file, error.line, hint=error.hint, col=error.col) from None
            raise
        data_tests = check_config(config, step_file.text, relative, dialect, anchor="@feature(")
        if config.get("materialized", "table") == "incremental":
            raise ProjectError("an incremental step is written in SQL: a Python (ibis) step has no is_incremental() or this",
                               relative, line, hint="materialized='table' or 'view', or write the step as a .sql file")
        try:
            tree = _guarded_tree(text, dialect, project.config.allowed_functions)
        except sql.SqlError as error:
            raise ProjectError(f"the SQL ibis compiled is refused: {error.message}", relative, line, hint=error.hint) from None
        step = CompiledStep(step_file.name, "feature", relative, config.get("materialized", "table"),
                            catalog_relation(step_file.name, STEP_SCHEMA), config=config, template=step_file.text, rendered=text)
        step.tree = resolve_references(step, tree, self.names, dialect)
        step.reads_upstream = list(step.upstream)  # before tests add their parents
        step.data_tests = data_tests
        _add_test_dependencies(step, self.names, line)
        self.types[step.name] = types
        return step

    def _ref(self, name: str) -> tuple[str, str, dict[str, str | None]]:
        from toolkit.ibissteps import StepInputError

        if name not in self.names.refs:
            raise StepInputError(f"ref('{name}'): no step, seed or model has that name", did_you_mean(name, self.names.refs))
        if name in self.project.models:
            raise StepInputError(f"ref('{name}'): an ibis step cannot read a model's predictions yet", "read them in a SQL step")
        self.ensure(name)
        if name in self.project.seeds:
            seed, dialect = self.project.seeds[name], self.project.config.dialect
            columns = seed_columns(seed, self.project.root)  # checks the header first
            types = seed_types(seed, self.project.root, dialect)
            return SEED_SCHEMA, name, {c: types.get(c) for c in columns}
        step = self.steps[name]
        if step.columns is None:
            raise StepInputError(f"ref('{name}'): its output columns are unknown (toolkit could not qualify its SQL)",
                                 f"make {name}'s columns explicit (no select * over an undeclared source)")
        if name not in self.types:
            self.types[name] = _output_types(step, self.steps, self.project, self.types)
        return step.relation.db, step.relation.name, self.types[name]

    def _source(self, source: str, table: str) -> tuple[str, str, dict[str, str | None]] | None:
        from toolkit.ibissteps import StepInputError

        found = self.project.sources.get(f"{source}.{table}")
        if found is None:
            raise StepInputError(f"source('{source}', '{table}'): not a declared source table",
                                 did_you_mean(f"{source}.{table}", self.project.sources) or "declare it in warehouse/sources.toml")
        if not found.columns_known:  # toolkit's commands read them from the catalog and compile again
            raise StepInputError(f"source('{source}', '{table}'): its columns are not known yet",
                                 "declare them in warehouse/sources.toml", unknown_source=found.key)
        self.sources_read.append(found.key)
        return found.schema, found.table, dict(found.columns)

    def _var(self, name: str, *default):
        from toolkit.ibissteps import StepInputError

        variables = self.project.config.vars
        if name in variables:
            return variables[name]
        if default:
            return default[0]
        raise StepInputError(f"var('{name}') is not set", did_you_mean(name, variables) or "set it under [vars] or pass --vars")

"""Compile a project: render every step, parse it, resolve what it reads, order the
DAG and check columns against upstream schemas. No warehouse is touched.

A compiled step holds its SQL as a syntax tree whose table references use
canonical published names (features.x, raw.x, <schema>.<table>); the executor
swaps those for physical tables just before running.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from toolkit import seeds, sourcecolumns, sql, sqlguard
from toolkit.dag import Dag
from toolkit.datatests import DataTest, TestSpecError, parse_expressions, parse_tests
from toolkit.errors import ProjectError, did_you_mean, line_of
from toolkit.project import PREDICTIONS_SCHEMA, SEED_SCHEMA, STEP_SCHEMA, Project, StepFile, load_project
from toolkit.seeds import published_name, seed_columns, seed_header
from toolkit.materializations import Materialization, strategy
from toolkit.stepconfig import METADATA_KEYS, check_config

if TYPE_CHECKING:
    from toolkit.templating import Renderer



@dataclass
class CompiledStep:
    name: str
    kind: str  # what it is compiled from: "seed", "feature" (SQL) or "model" (Python)
    file: str
    materialized: str
    relation: exp.Table  # the canonical name: what compiled SQL reads; published there unless alias/schema say otherwise
    tree: exp.Query | None = None
    upstream: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    columns: list[str] | None = None
    config: dict[str, Any] = field(default_factory=dict)
    template: str = ""
    rendered: str = ""
    content_hash: str = ""  # normalized SQL + data-relevant config, or seed file bytes
    data_tests: list[DataTest] = field(default_factory=list)
    # fingerprint.Lineage computed from the tree (kept by the compile cache, so that
    # planning a cached step needs no tree)
    lineage: Any = field(default=None, compare=False, repr=False)
    # output column -> tag -> path back to a tagged source or seed column (columntags.py)
    column_tags: dict = field(default_factory=dict, compare=False, repr=False)
    # What else its compiled tree was made from, so that the next compile can reuse it
    # (compile_project's `reuse`): var() bindings, what the SQL itself reads (before
    # tests add their parents), and the upstream columns it was qualified against.
    bindings: dict = field(default_factory=dict, compare=False, repr=False)
    reads_upstream: list[str] = field(default_factory=list, compare=False, repr=False)
    upstream_columns: dict | None = field(default=None, compare=False, repr=False)

    @property
    def tags(self) -> set[str]:
        tags = self.config.get("tags", [])
        return {tags} if isinstance(tags, str) else set(tags)

    @property
    def published(self) -> exp.Table:
        """Where the step is published: config(schema=, alias=) (dbt's keys), else its canonical name."""
        schema, alias = self.config.get("schema"), self.config.get("alias")
        if not schema and not alias:
            return self.relation
        return exp.table_(alias or self.relation.name, db=schema or self.relation.db)

    @property
    def strategy(self) -> "Materialization":
        """How it is built, planned and published (toolkit/materializations/)."""
        return strategy(self.materialized)

    @property
    def key_columns(self) -> list[str]:
        """unique_key's columns as published: in lower case (the config may spell them as the
        query does, `Customer_Id`, which a quoted name in the merge would not find)."""
        key = self.config.get("unique_key", [])
        return [k.lower() for k in ([key] if isinstance(key, str) else key)]

    @property
    def time_column(self) -> str | None:
        """time_column as published, in lower case (see key_columns)."""
        value = self.config.get("time_column")
        return value.lower() if isinstance(value, str) else None


class CachedStep(CompiledStep):
    """A step loaded from the compile cache (compilecache.py): it holds its canonical SQL
    as text and parses it into a tree only when something asks for the tree (a build,
    a SQL diff, `toolkit compile`). The re-parsed tree must generate the same canonical
    text; if it does not, the project is compiled afresh and that step's tree is used.
    """

    sql_text: str | None = None  # the compiled tree generated in the project dialect, comments kept
    canonical: str | None = None  # sql.canonical_text of the compiled tree
    dialect: str = ""
    fallback: Any = None  # () -> CompiledProject compiled without the cache
    stored_names: dict | None = None  # as sql.quote_stored_names takes them, for the sources it reads

    @property
    def tree(self):
        tree = self.__dict__.get("_tree")
        if tree is None and self.sql_text is not None:
            tree = sql.reparse(self.sql_text, self.dialect)
            if tree is None or sql.canonical_text(tree, self.dialect) != self.canonical:
                tree = self.fallback().steps[self.name].tree
            elif self.stored_names:
                sql.quote_stored_names(tree, self.stored_names, columns=self.columns is not None)
            self.__dict__["_tree"] = tree
        return tree

    @tree.setter
    def tree(self, value):
        if value is not None:  # replaced: the cached text no longer describes it
            self.sql_text = self.canonical = None
        self.__dict__["_tree"] = value


class _LazyRenderer:
    """The project's Renderer, made on first use (a cached compile renders nothing)."""

    def __init__(self, make):
        self._make, self._renderer = make, None

    def __getattr__(self, name):
        if self._renderer is None:
            self._renderer = self._make()
        return getattr(self._renderer, name)


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
    project.sources = sourcecolumns.resolve(project.sources, project.root)
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
    checked = _PythonSteps(project, names, steps).compile()
    disabled = _drop_disabled(steps)
    _order_test_parents(steps, project.config.dialect)
    for spec in project.models.values():
        steps[spec.name] = _compile_model(spec, steps)
    dag = Dag({name: set(step.upstream) for name, step in steps.items()}, {n: s.tags for n, s in steps.items()})
    _check_cycles(dag, steps)
    _check_published_names(steps, project)
    if project.custom_tests:
        _attach_custom_tests(project, renderer, names, steps, dag.order())
        dag = Dag({name: set(step.upstream) for name, step in steps.items()}, {n: s.tags for n, s in steps.items()})
    for name in dag.order():
        if name in checked:
            continue
        if steps[name].strategy.from_template and not _reused(steps[name], steps, project, names):
            _check_columns(steps[name], steps, project, names)
            steps[name].content_hash = _fingerprint_content(steps[name], project.config.dialect)
        elif name in project.models:
            _check_model_columns(project.models[name], steps)
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


def _check_model_tags(spec, steps: dict[str, CompiledStep]) -> None:
    """A model may not learn from a column derived from a blocking tag (pii) unless it
    allows that tag: exit 2 naming the feature and its path back to the tagged column."""
    from toolkit import columntags
    from toolkit.models import feature_names

    training = steps[spec.training]
    if not training.column_tags or training.columns is None:
        return
    tags = {c.lower(): t for c, t in training.column_tags.items()}
    for feature in feature_names(spec, training.columns):
        for tag in columntags.BLOCKING:
            path = tags.get(feature.lower(), {}).get(tag)
            if path and tag not in {allowed.lower() for allowed in spec.allow_tags}:
                raise ProjectError(
                    f"model {spec.name}: feature '{feature}' derives from a {tag}-tagged column: {columntags.path_text(path)}",
                    spec.file, spec.line,
                    hint=f"drop the feature (exclude=[...]) or allow it: @model(..., allow_tags=[\"{tag}\"])",
                )


def catalog_relation(name: str, schema: str) -> exp.Table:
    """Where a step, seed or model's predictions live: in toolkit's lower-case catalog,
    the name every reader's SQL resolves to once its identifiers are normalized. A step
    file CustomerNames.sql is the table customernames, on PostgreSQL too (names that
    differ only in case are refused: project.py)."""
    return exp.table_(name.lower(), db=schema)


def make_renderer(project: Project, names: "_NameIndex", target: str | None = None) -> "Renderer":
    from toolkit import dbtnames
    from toolkit.templating import Renderer

    config = project.config
    target = target or config.default_target
    if target not in config.targets:
        config.target(target)  # exit 2: unknown target, with the known ones
    context = dbtnames.Context(project=config.name, dialect=config.dialect, target=target,
                               engine=str(config.targets[target].get("engine", "")), schema=STEP_SCHEMA,
                               relation_columns=names.relation_columns)
    return Renderer(
        project.root,
        project.config.vars,
        resolve_ref=names.ref_relation,
        resolve_source=names.source_relation,
        ref_names=lambda: sorted(names.refs),
        source_names=lambda: sorted(project.sources),
        context=context,
    )


def assemble(project: Project, steps: dict[str, CompiledStep], source_tests: dict, reads: dict | None = None,
             target: str | None = None, disabled: list[str] | None = None, models: dict | None = None) -> CompiledProject:
    """A compiled project from already compiled seed and feature steps (the compile
    cache's), the DAG rebuilt. `models`: the model steps compiled with them (the graph
    and the models were checked then, on the same inputs); else each model step is
    compiled again and the graph and models checked."""
    project.sources = sourcecolumns.resolve(project.sources, project.root)
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


class _NameIndex:
    """Maps every way a step can name a relation to (kind, name)."""

    def __init__(self, project: Project):
        self.project = project
        self._texts: dict[tuple[str, str], str] = {}  # (schema, name) -> _text's
        self.refs = {
            **{n: STEP_SCHEMA for n in project.steps},
            **{n: SEED_SCHEMA for n in project.seeds},
            **{n: PREDICTIONS_SCHEMA for n in project.models},  # a step may read a model's predictions
        }
        self.tables: dict[tuple[str | None, str], tuple[str, str]] = {}
        bare_sources: dict[str, list[str]] = {}
        for key, source in project.sources.items():
            self.tables[(source.schema.lower(), source.table.lower())] = ("source", key)
            bare_sources.setdefault(source.table.lower(), []).append(key)
        for table, keys in bare_sources.items():
            if len(keys) == 1:
                self.tables[(None, table)] = ("source", keys[0])
        for name, schema in self.refs.items():
            self.tables[(schema, name.lower())] = ("step", name)
            self.tables[(None, name.lower())] = ("step", name)

    def ref_relation(self, name: str) -> str | None:
        schema = self.refs.get(name)
        return self._text(schema, name) if schema else None

    def source_relation(self, source: str, table: str) -> str | None:
        found = self.project.sources.get(f"{source}.{table}")
        return self._text(found.schema, found.table) if found else None

    def relation_columns(self, text: str) -> dict[str, str | None] | None:
        """{column: declared type or None} of a relation named in a template (ref()/source()
        text), when known before any step is compiled: a source's, a seed's; else None."""
        try:
            found = self.lookup(sqlglot.parse_one(text, read=self.project.config.dialect, into=exp.Table))
        except sqlglot.errors.SqlglotError:
            return None
        if found is None:
            return None
        kind, key = found
        if kind == "source":
            source = self.project.sources[key]
            return dict(source.columns) if source.columns_known else None
        seed = self.project.seeds.get(key)
        if seed is None:
            return None
        return {c: seed.column_types.get(c) for c in seed_columns(seed, self.project.root)}

    def _text(self, schema: str, name: str) -> str:
        """schema.name as the template's SQL text; a part that is a keyword of the project's
        dialect (a step named from.sql) or no plain identifier is quoted, so it parses.
        Made once per relation: a step read by many others is ref()'d many times."""
        key = (schema, name)
        if key not in self._texts:
            self._texts[key] = self._make_text(schema, name)
        return self._texts[key]

    def _make_text(self, schema: str, name: str) -> str:
        dialect = sql.dialect_of(self.project.config.dialect)
        keywords = dialect.tokenizer_class.KEYWORDS

        def part(text: str) -> exp.Identifier:
            plain = exp.SAFE_IDENTIFIER_RE.match(text) is not None and text.upper() not in keywords
            return exp.to_identifier(text, quoted=not plain)

        return exp.table_(part(name), db=part(schema)).sql(dialect=dialect)

    def lookup(self, table: exp.Table) -> tuple[str, str] | None:
        db = table.db.lower() if table.db else None
        return self.tables.get((db, table.name.lower()))

    def all_names(self) -> list[str]:
        return [f"{db}.{name}" if db else name for db, name in self.tables]


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
    step.upstream_columns = now
    step.stored_names = stored_names(project, step.sources)
    _check_tests_and_key(step, steps, project)
    return True


def _upstream_columns(step: CompiledStep, steps: dict[str, CompiledStep]) -> dict:
    return {name: (list(steps[name].columns) if steps[name].columns is not None else None) for name in step.upstream}


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


class _PythonSteps:
    """Compiles features/**/*.py (ibissteps.py) in the order their ref()s need: a step's
    inputs are checked first, so their columns and types are known when its function
    runs. Returns the steps it checked; compile_project checks the rest."""

    def __init__(self, project: Project, names: _NameIndex, steps: dict[str, CompiledStep]):
        self.project, self.names, self.steps = project, names, steps
        self.files = {n: f for n, f in project.steps.items() if f.path.suffix == ".py"}
        self.checked: set[str] = set()
        self.visiting: list[str] = []
        self.types: dict[str, dict[str, str | None]] = {}  # ibis steps' output types, exact

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
        inputs = ibissteps.Inputs(self._ref, self._source, self._var)
        text, config, line, types = ibissteps.compile_step(step_file.path, relative, dialect, inputs)
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
            seed = self.project.seeds[name]
            return SEED_SCHEMA, name, {c: seed.column_types.get(c) for c in seed_columns(seed, self.project.root)}
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
        return found.schema, found.table, dict(found.columns)

    def _var(self, name: str, *default):
        from toolkit.ibissteps import StepInputError

        variables = self.project.config.vars
        if name in variables:
            return variables[name]
        if default:
            return default[0]
        raise StepInputError(f"var('{name}') is not set", did_you_mean(name, variables) or "set it under [vars] or pass --vars")


def cast_types(compiled: CompiledProject):
    """step -> what its integer casts cast (meanings.cast_types, for sql.to_target), typed from
    the declared sources and seeds and the steps' inferred output types: `toolkit compile`
    shows the rounding a target adds (Spark) only where a run adds it too."""
    from toolkit import meanings

    if compiled.cast_typer is not None:
        return compiled.cast_typer
    known: dict[str, dict[str, str | None]] = {}
    position = {name: index for index, name in enumerate(compiled.dag.order())}

    def type_upstream(step: CompiledStep) -> None:
        """Infer the output types of the feature steps `step` reads, directly or not, in DAG
        order: a step's types are inferred from its inputs' only. Not every step before it
        (that typed, and parsed from the compile cache, steps nothing asked about: each of
        500 steps walked the DAG order up to itself)."""
        ancestors, stack = set(), list(step.upstream)
        while stack:
            name = stack.pop()
            if name not in ancestors and name not in known and name in compiled.steps:
                ancestors.add(name)
                stack.extend(compiled.steps[name].upstream)
        for name in sorted(ancestors, key=position.__getitem__):
            other = compiled.steps[name]
            if other.kind == "feature" and other.tree is not None and other.columns is not None:
                known[name] = _output_types(other, compiled.steps, compiled.project, known)

    def types(step: CompiledStep):
        if step.tree is None:
            return None
        if not any(meanings.typed(node) for node in step.tree.find_all(exp.Cast)):
            return None
        type_upstream(step)
        schema = _typed_inputs(step, compiled.steps, compiled.project, known)
        return meanings.cast_types(step.tree, schema, compiled.dialect)

    compiled.cast_typer = types
    return types


def _output_types(step: CompiledStep, steps: dict[str, CompiledStep], project: Project, known: dict) -> dict[str, str | None]:
    """{column: type in the project dialect, or None} of a checked SQL step, as far as
    sqlglot can infer them from the types of what it reads."""
    from sqlglot.optimizer.annotate_types import annotate_types

    dialect = project.config.dialect
    schema = _typed_inputs(step, steps, project, known)
    try:
        selects = annotate_types(step.tree.copy(), schema=schema, dialect=dialect).selects
    except Exception:  # inference is a help, not a check: unknown types are cast in the ibis step
        return {c: None for c in step.columns}
    unknown = (exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL)
    return {s.alias_or_name: None if s.type is None or s.type.this in unknown else s.type.sql(dialect) for s in selects}


def _typed_inputs(step: CompiledStep, steps: dict[str, CompiledStep], project: Project, known: dict) -> dict:
    """db -> table -> column -> type (or "unknown") of what `step` reads."""
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for name in step.upstream:
        parent = steps[name]
        if parent.kind == "seed":
            seed = project.seeds[name]
            types = {c: seed.column_types.get(c) for c in parent.columns or ()}
        else:
            types = known.get(name) or {c: None for c in parent.columns or ()}
        schema.setdefault(parent.relation.db, {})[parent.relation.name] = {c: t or "unknown" for c, t in types.items()}
    for key in step.sources:
        source = project.sources[key]
        schema.setdefault(source.schema.lower(), {})[source.table.lower()] = {c: t or "unknown" for c, t in source.columns.items()}
    return schema


def _compile_model(spec, steps: dict[str, CompiledStep]) -> CompiledStep:
    """A model is a DAG node after its training and scoring tables; it publishes
    predictions.<model>. Its content is its code, declaration and the candidates'
    parameters (ModelSpec.params_hash); training data enters through its upstream.
    A change of any of them rebuilds it; only what trains makes a new version (model.py)."""
    roles = [("training", spec.training), ("scoring", spec.scoring_table)] + ([("outcomes", spec.outcomes)] if spec.outcomes else [])
    for role, table in roles:
        if table in steps and steps[table].strategy.inlined:
            raise ProjectError(f"model {spec.name}: {role} table '{table}' is ephemeral (never built)", spec.file, spec.line,
                               hint=f"materialize {table} as a table or view")
        if table not in steps or not steps[table].strategy.readable_by_models:
            hint = did_you_mean(table, [n for n, s in steps.items() if s.strategy.readable_by_models])
            raise ProjectError(f"model {spec.name}: {role} table '{table}' is not a step or seed", spec.file, spec.line, hint=hint)
    return CompiledStep(
        name=spec.name,
        kind="model",
        file=spec.file,
        materialized="model",
        relation=catalog_relation(spec.name, PREDICTIONS_SCHEMA),
        upstream=sorted({spec.training, spec.scoring_table} | ({spec.outcomes} if spec.outcomes else set())),
        content_hash=spec.declaration_hash(),
    )


def _check_model_columns(spec, steps: dict[str, CompiledStep]) -> None:
    """Label, key and declared features exist in the training table (when its columns are known)."""
    columns = steps[spec.training].columns
    if columns is None:
        return
    wanted = [spec.label, *spec.key, *(spec.features or []), *filter(None, [spec.split_column, spec.as_of]), *spec.feature_times,
              *spec.exclude, *spec.segments]
    for column in wanted:
        if column not in columns:
            raise ProjectError(
                f"model {spec.name}: column '{column}' is not in the training table {spec.training}",
                spec.file, spec.line, hint=did_you_mean(column, columns),
            )
    from toolkit.models import feature_names

    _check_monitors(spec, feature_names(spec, columns))
    outcomes = steps[spec.outcomes].columns if spec.outcomes else None
    for column in [*spec.key, spec.label] if outcomes is not None else ():
        if column not in outcomes:
            raise ProjectError(
                f"model {spec.name}: column '{column}' is not in the outcomes table {spec.outcomes}",
                spec.file, spec.line, hint="outcomes hold the model's key columns and its label, as they arrive",
            )
    scoring = steps[spec.scoring_table].columns
    for column in feature_names(spec, columns) if scoring is not None else ():
        if column not in scoring:
            raise ProjectError(
                f"model {spec.name}: feature '{column}' is not in the scoring table {spec.scoring_table}",
                spec.file, spec.line, hint="the scoring table needs every column the model is trained on",
            )


def _check_monitors(spec, features: list[str]) -> None:
    """Thresholds name known features and metrics (drift metrics, the model's own metrics)
    and have a valid shape: exit 2 at the @model line, before anything trains."""
    if not spec.monitors:
        return
    from toolkit.monitoring.thresholds import evaluate
    from toolkit.monitoring.watch import performance_metrics

    # Prediction columns are monitored as predictions.<column>; proba_<class> names are known only after training.
    checked = {k: v for k, v in spec.monitors.items() if not k.startswith("predictions.proba_")}
    try:
        evaluate([], checked, features=[*features, "predictions.prediction"], metric_names=performance_metrics())
    except ProjectError as error:
        raise ProjectError(f"model {spec.name}: monitors: {error.message}", spec.file, spec.line, hint=error.hint) from None


def _add_test_dependencies(step: CompiledStep, names: "_NameIndex", line: int) -> None:
    """A relationships test reads its parent, so the parent is built first."""
    for test in step.data_tests:
        if test.name != "relationships":
            continue
        parent = test.args["to"]
        if parent in names.refs:
            if parent not in names.project.steps and parent != step.name and parent not in step.upstream:
                step.upstream = sorted(step.upstream + [parent])  # a seed or a model: never downstream
        elif parent in names.project.sources:
            # read like any source: its data fingerprint makes the step re-test when it changes
            step.sources = sorted(set(step.sources) | {parent})
        else:
            hint = did_you_mean(parent, list(names.refs) + list(names.project.sources))
            raise ProjectError(f"relationships: '{parent}' is not a step, seed or source (name.table)", step.file, line, hint=hint)


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


def _order_test_parents(steps: dict[str, CompiledStep], dialect: str) -> None:
    """A relationships test reads its parent step, so the parent is built first. When the
    parent reads the tested step (a test toward a downstream step, which dbt allows), the
    test moves to the parent instead: it runs when the parent is built, on the parent's
    unpublished table and the step's table, and blocks the parent's publish."""
    from toolkit.datatests import failing_rows

    def reads(start: str, wanted: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            name = stack.pop()
            if name == wanted:
                return True
            if name not in seen and name in steps:
                seen.add(name)
                stack.extend(steps[name].upstream)
        return False

    for step in list(steps.values()):
        for test in list(step.data_tests):
            parent = test.args.get("to") if test.name == "relationships" else None
            if parent not in steps or parent == step.name or parent in step.upstream or steps[parent].kind != "feature":
                continue
            if not reads(parent, step.name):
                step.upstream = sorted(step.upstream + [parent])
                continue
            owner = steps[parent]
            if not owner.strategy.testable:
                raise ProjectError(f"relationships: {parent} reads {step.name}, so the test runs with {parent}, which is "
                                   f"{owner.materialized} (never built)", step.file, line_of(step.template, "relationships"),
                                   hint=f"materialize {parent} as a table or view, or test toward a step {step.name} does not feed")
            query = failing_rows(test, step.relation, dialect, lambda name: steps[name].relation.copy())
            relations = {(step.relation.db, step.relation.name): step.name, (owner.relation.db, owner.relation.name): parent}
            name = f"relationships {step.name}.{test.column} -> {parent}.{test.args['field']}"
            step.data_tests.remove(test)
            # It fails in the step that declares it, not in the parent it runs with.
            where = f"{step.file}:{line_of(step.template, 'relationships') or 1}"
            owner.data_tests.append(DataTest("custom", None, {"name": name, "query": query, "relations": relations}, test.severity, where=where))


def _attach_custom_tests(project: Project, renderer: "Renderer", names: "_NameIndex", steps: dict, order: list[str]) -> None:
    """Each custom test (features/tests/*.sql) runs with the last step it reads, on
    that step's unpublished table, so it blocks that step's publish."""
    position = {name: index for index, name in enumerate(order)}
    for test_file in project.custom_tests.values():
        relative = project.relative(test_file.path)
        rendered, config, bindings = renderer.render(test_file.path, test_file.name)
        unknown = set(config) - {"severity", "description"}
        if unknown:
            raise ProjectError(f"unknown config key '{sorted(unknown)[0]}' in a custom test", relative, line_of(test_file.text, "config("), hint="a custom test takes severity and description")
        probe = CompiledStep(test_file.name, "test", relative, "test", exp.table_(test_file.name), template=test_file.text, rendered=rendered)
        tree = sql.normalize(resolve_references(probe, _parse(rendered, test_file, relative, project.config.dialect, bindings, project.config.allowed_functions), names, project.config.dialect), project.config.dialect)
        if not probe.upstream:
            raise ProjectError("a custom test must read at least one step or seed with ref()", relative, 1)
        stored = stored_names(project, probe.sources)
        if stored:  # a source stored in mixed case, read as stored (its columns where qualified: e.UserId)
            sql.quote_stored_names(tree, stored, columns=True)
        owner = steps[max(probe.upstream, key=position.__getitem__)]
        if not owner.strategy.testable:
            raise ProjectError(f"a custom test runs with the last step it reads, and {owner.name} is {owner.materialized} (never built)",
                               relative, 1, hint=f"materialize {owner.name} as a table or view to test it")
        relations = {(steps[n].relation.db, steps[n].relation.name): n for n in probe.upstream}
        args = {"name": test_file.name, "query": tree, "relations": relations}
        try:
            owner.data_tests.append(DataTest("custom", None, args, _severity(config.get("severity", "error")), where=_query_place(relative, test_file.text)))
        except TestSpecError as error:
            raise ProjectError(str(error), relative, line_of(test_file.text, "severity")) from None
        owner.upstream = sorted(set(owner.upstream) | set(probe.upstream) - {owner.name})


def _query_place(relative, text: str) -> str:
    """file:line where a custom test's query starts (after its comments and config)."""
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(r"\s*(select|with|from)\b", line, re.IGNORECASE):
            return f"{relative}:{number}"
    return str(relative)


def _severity(value: str) -> str:
    if value not in ("error", "warn"):
        raise TestSpecError(f"severity must be 'error' or 'warn', got {value!r}")
    return value


def _source_tests(project: Project) -> dict[str, list[DataTest]]:
    tests = {}
    for key, source in project.sources.items():
        def fail(message: str, hint: str | None = None):
            raise ProjectError(f"source {key}: {message}", source.file, source.line, hint=hint)

        try:
            tests[key] = parse_tests(source.tests, source.table_tests)
            parse_expressions(tests[key], project.config.dialect)
        except TestSpecError as error:
            fail(str(error))
        for test in tests[key]:
            missing = [c for c in test.columns() if c.lower() not in source.columns]
            if missing and source.columns_known:
                fail(f"test {test.label} reads undeclared column '{missing[0]}'", did_you_mean(missing[0], source.columns))
            if test.name == "relationships":
                parent = project.sources.get(test.args["to"])
                if parent is None:  # sources are checked before any step is built
                    fail(f"relationships: '{test.args['to']}' is not a source; a source's parent must be another source (name.table)",
                         did_you_mean(test.args["to"], project.sources))
                if parent.columns_known and test.args["field"].lower() not in parent.columns:
                    fail(f"relationships: {test.args['to']} has no column '{test.args['field']}'", did_you_mean(test.args["field"], parent.columns))
    return tests


def _fingerprint_content(step: CompiledStep, dialect: str) -> str:
    """sha256 of the step's canonical SQL (no comments; identifiers and keywords
    normalized) and its data-relevant config: what decides whether data changes."""
    data_config = {k: v for k, v in sorted(step.config.items()) if k not in METADATA_KEYS}
    canonical = sql.canonical_text(step.tree, dialect)
    step.__dict__["_canonical_of"] = (step.tree, canonical)  # the compile cache stores it (for this very tree)
    text = canonical + json.dumps(data_config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _parse(rendered: str, step_file: StepFile, relative: str, dialect: str, bindings: dict, allowed_functions=()) -> exp.Query:
    try:
        return sql.bind_values(_guarded_tree(rendered, dialect, allowed_functions), bindings)
    except sql.SqlError as error:
        raise _located(error, step_file.text, rendered, relative) from None


def _guarded_tree(rendered: str, dialect: str, allowed_functions=()) -> exp.Query:
    """One SELECT, parsed strictly, reading no files or system tables (else SqlError)."""
    tokens = sql.tokenize(rendered, dialect)  # once, for the parser and the strict checks
    tree = sql.parse_select(rendered, dialect, tokens)
    problem = sqlguard.guard(tree, rendered, dialect, allowed_functions, tokens)
    if problem is not None:
        raise problem
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


def _check_cycles(dag: Dag, steps: dict[str, CompiledStep]) -> None:
    cycle = dag.find_cycle()
    if cycle:
        first = steps[cycle[0]]
        hint = "a step cannot read itself; an incremental step reads {{ this }}" if len(cycle) == 2 else None
        raise ProjectError(
            f"dependency cycle: {' -> '.join(cycle)}", first.file, _reference_line(first.template, cycle[1]), hint=hint
        )


def _reference_line(template: str, name: str) -> int | None:
    """The template line that reads `name`: its ref('name'), else the first whole-word mention."""
    for pattern in (rf"ref\(\s*['\"]{re.escape(name)}['\"]", rf"\b{re.escape(name)}\b"):
        for number, text in enumerate(template.splitlines(), start=1):
            if re.search(pattern, text, re.IGNORECASE):
                return number
    return None


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
    try:
        qualified = sql.qualify_step(step.tree, schema, dialect) if schema is not None else None
    except sql.SqlError as error:
        raise _located(error, step.template, step.rendered, step.file) from None
    if qualified is None:
        # parsed again from the text: var() values are bound again too (else placeholders ran as names and text)
        tree = _parse(step.rendered, project.steps[step.name], step.file, dialect, step.bindings, project.config.allowed_functions)
        try:
            sql.check_named_outputs(tree)
        except sql.SqlError as error:
            raise _located(error, step.template, step.rendered, step.file) from None
        step.tree = sql.normalize(resolve_references(step, tree, names, dialect), dialect)
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
    step.upstream_columns = _upstream_columns(step, steps)
    _check_tests_and_key(step, steps, project)


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


def _check_tests_and_key(step: CompiledStep, steps: dict[str, CompiledStep], project: Project) -> None:
    """The unique key, the columns its data tests read and those config(columns=...)
    describes are output columns."""
    _check_key_columns(step)
    _check_described_columns(step)
    for test in step.data_tests if step.columns is not None else ():
        for column in test.columns():
            if column.lower() not in step.columns:
                raise ProjectError(
                    f"tests: {test.label} reads '{column}', which is not an output column of {step.name}",
                    step.file,
                    line_of(step.template, column),
                    hint=did_you_mean(column, step.columns),
                )
        if test.name == "relationships":
            _check_parent_field(step, test, steps, project)


def _check_described_columns(step: CompiledStep) -> None:
    """config(columns={"x": "..."}) names output columns: a description of a column the
    step does not produce documents nothing. Unknown columns (a select * over a source
    with undeclared columns, before a run has seen them) are left to `toolkit docs`."""
    described = step.config.get("columns")
    if step.columns is None or not isinstance(described, dict):
        return
    for name in described:
        if name.lower() not in step.columns:
            raise ProjectError(
                f"config columns: '{name}' is not an output column of {step.name}",
                step.file, _quoted_line(step.template, name) or line_of(step.template, "columns"),
                hint=did_you_mean(name.lower(), step.columns) or f"its columns: {', '.join(step.columns)}",
            )


def _quoted_line(template: str, name: str) -> int | None:
    """The line where `name` is written as a string ("name" or 'name'), as a config key is."""
    return line_of(template, f'"{name}"') or line_of(template, f"'{name}'")


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


def _check_parent_field(step: CompiledStep, test: DataTest, steps: dict[str, CompiledStep], project: Project) -> None:
    parent, field_name = test.args["to"], test.args["field"].lower()
    source = project.sources.get(parent)
    columns = steps[parent].columns if parent in steps else (list(source.columns) if source.columns_known else None)
    if columns is not None and field_name not in columns:
        raise ProjectError(
            f"tests: {test.label}: {parent} has no column '{test.args['field']}'",
            step.file, line_of(step.template, "relationships"), hint=did_you_mean(field_name, columns),
        )


def _check_published_names(steps: dict[str, CompiledStep], project: Project) -> None:
    """Two steps published under one name (an alias, or a schema + alias, equal to another
    step's name) would replace each other's data, and one published over a declared source
    would replace the source: exit 2 naming both. Compared without case, as the engines do."""
    seen: dict[tuple[str, str], CompiledStep] = {}
    sources = {(s.schema.casefold(), s.table.casefold()): s for s in project.sources.values()}
    for step in steps.values():
        source = sources.get((step.published.db.casefold(), step.published.name.casefold()))
        if source is not None and step.kind == "seed":  # a seed has no config(): its file name is its table's
            raise ProjectError(f"seed {step.name} would be published as {source.schema}.{source.table}, the source "
                               f"{source.key} declared at {source.file}:{source.line}", step.file,
                               hint=f"rename the seed's file, or the source's table (seeds are published in schema {step.published.db})")
        if source is not None:
            raise ProjectError(f"{step.name} would be published as {source.schema}.{source.table}, the source {source.key}",
                               step.file, line_of(step.template or "", "alias") or line_of(step.template or "", "schema"),
                               hint="give config(alias=...)/config(schema=...) a name no source has")
        published = step.published
        for name in [published.name + suffix for suffix in step.strategy.published_suffixes]:
            key = (published.db.casefold(), name.casefold())
            other = seen.get(key)
            if other is not None:
                raise ProjectError(
                    f"{published.db}.{name} would be published by both {other.name} ({other.file}) and {step.name}",
                    step.file, line_of(step.template or "", "alias") or line_of(step.template or "", "schema"),
                    hint="config(alias=...) and config(schema=...) must give every step a name of its own",
                )
            seen[key] = step


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


def incremental_tree(compiled: CompiledProject, step: CompiledStep) -> exp.Query:
    """The step's query rendered with is_incremental() true; `this` reads the step itself."""
    return compiled.variant_tree(step, incremental=True)


def _check_key_columns(step: CompiledStep) -> None:
    """unique_key / time_column name output columns: a typo would pass the first build
    (nothing to merge yet) and fail, or merge wrongly, on the next. An incremental step
    with neither, no is_incremental() filter and no explicit strategy would append every
    row again on every run."""
    config = step.config
    if (step.materialized == "incremental" and not config.get("unique_key") and not config.get("time_column")
            and not config.get("incremental_strategy") and "is_incremental" not in step.template):
        raise ProjectError(
            f"incremental step {step.name} would append all of its rows again on every run",
            step.file, line_of(step.template, "incremental"),
            hint="give it unique_key=... (merge) or time_column=... (intervals), filter with {% if is_incremental() %}, "
                 "or say incremental_strategy='append'",
        )
    if step.columns is None:
        return
    for key in ("unique_key", "time_column"):
        value = step.config.get(key)
        for column in [value] if isinstance(value, str) else (value or []):
            if isinstance(column, str) and column.lower() not in step.columns:
                raise ProjectError(
                    f"config {key}='{column}' is not an output column of {step.name}",
                    step.file, line_of(step.template, column) or line_of(step.template, key),
                    hint=did_you_mean(column, step.columns) or f"its columns: {', '.join(step.columns)}",
                )

"""Render feature-step templates in a sandboxed Jinja environment.

The names are the ones dbt users know: ref, source, var, config, this,
is_incremental. Undefined names are errors. Project macros (features/macros/*.sql)
are callable from every step. Errors point at the template's own file and line.
"""

from __future__ import annotations

import contextvars
import dataclasses
import math
import os
import re
from datetime import date, datetime, time, timedelta
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import SandboxedEnvironment
from sqlglot import exp

from toolkit import asof, dbtnames, docblocks, limits, taint
from toolkit.errors import ProjectError, TemplateCallError, did_you_mean, line_of
from toolkit.taint import VarText, plain

MACROS_DIR = "features/macros"
PLACEHOLDER_PREFIX = taint.PLACEHOLDER_PREFIX  # a step's own text may not contain it (it would be bound)
# Bounds on one render (issue 18: lipsum(n=10**7) hung compile for minutes).
MAX_RENDERED_CHARS = 5_000_000
_MISSING = object()


@dataclass
class RenderState:
    """What one render of one step collects: its config() calls."""

    step: str
    path: Path
    incremental: bool
    config: dict[str, Any] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)  # placeholder -> var() string value


def _finalize(value: Any) -> Any:
    """Applied to every {{ ... }} output: var() strings (and strings made from them) become
    placeholders; values that are not text become SQL, never Python's spelling of them."""
    if isinstance(value, VarText):
        return str(value)  # its placeholder while rendering (taint.VarText.__str__)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if value is None:
        return "NULL"
    if isinstance(value, (date, time)):
        # A TOML date written out was `2024-01-31`: arithmetic, 1992. Its text is bound
        # like a var string: a literal bare, or the text inside the template's quotes.
        return str(VarText(value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()))
    if isinstance(value, float) and not math.isfinite(value):
        return f"CAST('{value!r}' AS DOUBLE)"  # nan, inf, -inf: not names
    if isinstance(value, (list, tuple)):
        # Python's repr put a var's text into SQL as it was (`["it's"]` a quoted name).
        return "[" + ", ".join(_item(item) for item in value) + "]"
    if isinstance(value, dict):
        raise _TemplateCallError("a dict cannot be written into SQL whole", "write its values: {{ d['key'] }}")
    if isinstance(value, timedelta):  # Python's text of it, `30 days, 0:00:00`, is no SQL
        raise _TemplateCallError("a time span (a date minus a date) cannot be written into SQL",
                                 "write a number of it: {{ (end - start).days }}")
    return value


def _item(value: Any) -> str:
    if isinstance(value, str) and not isinstance(value, VarText):
        return exp.Literal.string(value).sql()  # the template's own text: a literal, as its repr was
    return str(_finalize(value))


class ThisRelation(str):
    """`this`: the step's own relation, `features.x`, with the parts dbt's Relation has
    (`this.schema`, `this.identifier`, `this.name`, `this.table`); dbt projects read them."""

    __slots__ = ()

    @property
    def schema(self) -> str:
        return self.rpartition(".")[0]

    @property
    def identifier(self) -> str:
        return self.rpartition(".")[2]

    name = table = identifier


def _bind(state: RenderState) -> Callable[[str], str]:
    def bind(text: str) -> str:
        placeholder = f"{PLACEHOLDER_PREFIX}{len(state.bindings)}__"
        state.bindings[placeholder] = text
        return placeholder

    return bind


class _SlicingCodeGenerator(CodeGenerator):
    """Jinja's code generator, but `s[a:b]` goes through environment.getitem like `s[i]`
    does (Jinja writes slices as Python's own), where the sandbox sees a slice of text
    holding a var's placeholder (taint.carried)."""

    def visit_Getitem(self, node: nodes.Getitem, frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            return super().visit_Getitem(node, frame)
        self.write("environment.getitem(")
        self.visit(node.node, frame)
        self.write(", slice(")
        for index, part in enumerate((node.arg.start, node.arg.stop, node.arg.step)):
            self.write(", " if index else "")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write("))")


# `{{ ref("x") }}`, `{{ config(materialized='table', alias="y") }}`: quoted arguments only,
# with no backslash, brace or newline in them (Renderer._scanned_parts)
_ARGUMENT = r"""(?:([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*)?('[^'\\{}\n]*'|"[^"\\{}\n]*")"""
_SIMPLE_ARGUMENT = re.compile(_ARGUMENT)
_UNCAPTURED = re.sub(r"\((?!\?)", "(?:", _ARGUMENT)
_SIMPLE_CALL = re.compile(rf"\{{\{{[ \t]*(?P<name>ref|source|config)\("
                          rf"(?P<args>[ \t]*{_UNCAPTURED}(?:[ \t]*,[ \t]*{_UNCAPTURED})*)?[ \t]*\)[ \t]*\}}\}}")

ITERABLE_FILTER = "toolkit_loop_iterable"  # what _TaintingSandbox._parse wraps every loop's iterable in


class _TaintingSandbox(SandboxedEnvironment):
    """The sandbox, with method calls on var() values keeping their taint (taint.py),
    and bounds on the operators that can make one render take minutes or gigabytes."""

    intercepted_binops = frozenset({"*", "**"})
    code_generator_class = _SlicingCodeGenerator

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, int) and abs(right) > 1024:
            raise ValueError(f"exponent {right} is over the template limit of 1024")
        if operator == "*" and any(isinstance(side, (str, list, tuple)) for side in (left, right)):
            count = right if isinstance(right, int) else left
            size = len(left if not isinstance(left, int) else right)
            if isinstance(count, int) and count * size > MAX_RENDERED_CHARS:
                raise ValueError(f"repeating a value {count:,} times is over the template limit")
        return super().call_binop(context, operator, left, right)

    def _parse(self, source, name, filename):
        """Jinja's parse, with every {% for %} loop's iterable passed through
        taint.iterable (a loop is plain Python iteration, which the sandbox never sees)."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, ITERABLE_FILTER, [], [], None, None, lineno=loop.iter.lineno)
        return tree

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (Jinja's own signature)
        result = super().call(__context, __obj, *args, **kwargs)
        # Only methods of values (v.upper(), ", ".join(vs), "{}".format(v)): a macro or
        # ref() called with a var renders SQL whose var parts are placeholders already.
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, (str, list, tuple, dict)):
            taint.carried(getattr(__obj, "__name__", "a method"), (owner, *args, *kwargs.values()), result)
            if taint.tainted((owner, args, tuple(kwargs.values()))):
                return taint.taint_result(result)
        elif taint.tainted(owner):  # a var date's d.isoformat(), d.strftime(...): text of its own
            return taint.taint_result(result)
        return result

    def getitem(self, obj, argument):
        result = super().getitem(obj, argument)
        if isinstance(argument, (int, slice)):  # s[0], s[:-1] of text holding a var's placeholder
            taint.carried("slice", (obj,), result if isinstance(argument, slice) else ())
        return result


TEMPLATE_SUFFIX = ".sql"  # steps, macros and snippets a step includes
_current: contextvars.ContextVar[RenderState] = contextvars.ContextVar("toolkit_render")


class _RecordingLoader(jinja2.FileSystemLoader):
    """The project's templates, and only those: `{% include %}` of a .env file, or of a
    file a link in the project points at outside it, would paste its text into SQL."""

    def __init__(self, searchpath: str, loaded: set[str]):
        # utf-8-sig: a BOM an editor wrote is not the template's text (config.read_text agrees).
        super().__init__(searchpath, encoding="utf-8-sig")
        self._loaded = loaded
        self._root = os.path.realpath(searchpath)

    def get_source(self, environment, template):
        found = os.path.realpath(os.path.join(self._root, *template.split("/")))
        if not template.endswith(TEMPLATE_SUFFIX) or not found.startswith(self._root + os.sep):
            raise TemplateCallError(f"'{template}' is not a .sql template of the project: only those are included or imported")
        self._loaded.add(template)
        return super().get_source(environment, template)


class Renderer:
    """Renders steps of one project; `resolve_ref`/`resolve_source` map names to relation SQL."""

    def __init__(
        self,
        root: Path,
        vars: dict[str, Any],
        resolve_ref: Callable[[str], str | None],
        resolve_source: Callable[[str, str], str | None],
        ref_names: Callable[[], list[str]],
        source_names: Callable[[], list[str]],
        context: dbtnames.Context | None = None,
    ):
        self.root = root
        # target, dialect, ... for the dbt names (dbtnames.py); the same `reads` dict as the caller's
        self.context = dataclasses.replace(context or dbtnames.Context(), var_text=var_text)
        self.macros: dict[str, Any] = {}  # project macros by name; by package (features/macros/<pkg>/) below
        self.packages = dbtnames.package_folders(root / MACROS_DIR)  # filled by _load_macros
        self.vars = vars
        self._resolve_ref = resolve_ref
        self._resolve_source = resolve_source
        self._ref_names = ref_names
        self._source_names = source_names
        self.loaded: set[str] = set()  # every template file read (the compile cache checks the ones outside features/)
        self.env = _TaintingSandbox(
            loader=_RecordingLoader(str(root), self.loaded),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
            # Compiling a template to Python costs more than rendering it; the cache
            # (in the system temp folder, keyed by template source) makes re-runs cheap.
            # Its key is not the code generator's: files of toolkit's own name.
            bytecode_cache=jinja2.FileSystemBytecodeCache(pattern="__toolkit_jinja2_loops_%s.cache"),
            finalize=_finalize,
        )
        self.env.filters.update({name: taint.tainting(f, name) for name, f in self.env.filters.items()})
        self.env.filters.update(int=taint.strict_number(int), float=taint.strict_number(float), replace=taint.replace,
                                join=taint.join(jinja2.filters.FILTERS["join"]))
        self.env.filters[ITERABLE_FILTER] = taint.iterable
        self._docs = docblocks.load(root)  # {% docs %} blocks (a broken one is an error even if unused)
        self.env.globals.pop("lipsum", None)  # lorem ipsum has no place in SQL; lipsum(n=10**7) hung compile
        self.env.globals.update(
            ref=self._ref,
            source=self._source,
            var=self._var,
            config=self._config,
            is_incremental=self._is_incremental,
            as_of_join=asof.as_of_join,  # point-in-time join (toolkit/asof.py)
            doc=self._doc,  # a {% docs %} block of features/docs/*.md (docblocks.py)
            # Always None: a backfill reads the whole query and toolkit narrows it to the interval
            # by time_column (a filter of the template's own left rows out). Kept so that
            # templates written with `{% if start %}` still render.
            start=None,
            end=None,
        )
        self.env.globals.update(dbtnames.names(self.context, self.packages, self.macros.get))
        self._load_macros()

    # -- the dbt-familiar functions ------------------------------------------------

    def _ref(self, *names: Any, **options: Any) -> str:
        name = _name_argument("ref", dbtnames.ref_name(self.context, self.packages, names, options))
        relation = self._resolve_ref(name)
        if relation is None:
            hint = did_you_mean(name, self._ref_names())
            raise _TemplateCallError(f"ref('{name}'): no step or seed is named '{name}'", hint)
        return relation

    def _doc(self, name: str) -> VarText:
        name = _name_argument("doc", name)
        if name not in self._docs:
            hint = did_you_mean(name, self._docs) or f"write {{% docs {name} %}} ... {{% enddocs %}} in {docblocks.DOCS_DIR}/*.md"
            raise _TemplateCallError(f"doc('{name}'): no docs block is named '{name}'", hint)
        # in SQL, a literal: a project file's text is never SQL
        return VarText(taint.unreserved(f"doc('{name}')", self._docs[name].text))

    def _source(self, source: str, table: str) -> str:
        # 'orders' ~ var('suf') holds the var's placeholder: looked up by the var's text, so the
        # var selects one of the declared tables; the relation is the declaration's, never its text
        source, table = var_text(_name_argument("source", source)), var_text(_name_argument("source", table))
        relation = self._resolve_source(source, table)
        if relation is None:
            hint = did_you_mean(f"{source}.{table}", self._source_names())
            raise _TemplateCallError(
                f"source('{source}', '{table}') is not declared in warehouse/sources.toml", hint
            )
        return relation

    def _var(self, name: str, default: Any = _MISSING) -> Any:
        name = _name_argument("var", name)
        if name in self.vars:
            return taint.wrap(taint.unreserved(f"var('{name}')", self.vars[name]))
        if default is not _MISSING:
            return taint.wrap(taint.unreserved(f"var('{name}')'s default", default))
        hint = did_you_mean(name, self.vars) or "set it under [vars] in toolkit.toml ([tool.toolkit.vars] in pyproject.toml) or pass --vars"
        raise _TemplateCallError(f"var('{name}') is not defined", hint)

    def _config(self, **kwargs: Any) -> str:
        undefined = _first_undefined(kwargs)
        if undefined is not None:  # StrictUndefined raises only when used: a config value is stored, not used
            raise _TemplateCallError(f"config() uses an undefined name: '{undefined._undefined_name}'",
                                     "Jinja spells null as none" if undefined._undefined_name == "null" else None)
        config = _current.get().config
        clash = next((key for key, value in kwargs.items() if key in config and config[key] != value), None)
        if clash is not None:  # which one would win is an accident of the template's order
            raise _TemplateCallError(f"config() sets {clash} twice: {config[clash]!r}, then {kwargs[clash]!r}",
                                     "set each key once")
        config.update(kwargs)
        return ""

    def _is_incremental(self) -> bool:
        return _current.get().incremental

    # -- rendering -------------------------------------------------------------------

    def _load_macros(self) -> None:
        """Every name a macro file defines (a macro, or a top-level {% set %}) becomes a
        template global. One that would replace a built-in (ref, var, this, ...) or that
        another file of the same folder defines is exit 2: either was silent, the file read
        last winning. Across folders a package's name lives in its namespace (pkg.name);
        unqualified, the project's own (features/macros/*.sql) wins, as in dbt, and one
        two packages define is refused where it is called."""
        folder = self.root / MACROS_DIR
        builtin = set(self.env.globals) | {"this"}
        defined: dict[str, tuple[str | None, Path]] = {}  # global name -> (package, file) that defines it
        # Every macro file's names resolve in this one dict, filled as files load: a module's
        # own context copies the globals when it is made, so a macro calling one of a file
        # loaded later (dbt allows it) found it undefined.
        scope = dict(self.env.globals)
        for path in sorted(folder.glob("**/*.sql")) if folder.is_dir() else []:
            module = self._run(path, lambda: self._template(path).make_module(vars=scope, shared=True), state=None)
            package = path.relative_to(folder).parts[0] if len(path.relative_to(folder).parts) > 1 else None
            for name in dir(module):
                if name.startswith("_"):
                    continue
                value = getattr(module, name)
                if package:
                    self.packages.setdefault(package, {})[name] = value
                self._check_macro_name(name, path, package, defined.get(name), builtin)
                if name in defined and defined[name][0] is None:  # a package's name does not replace the project's
                    continue
                if name in defined and package is not None:  # two packages: pkg_a.name and pkg_b.name work, name alone is ambiguous
                    value = _ambiguous(name, sorted({defined[name][0], package}))
                defined[name] = (package, path)
                self.env.globals[name] = self.macros[name] = scope[name] = value

    def _check_macro_name(self, name: str, path: Path, package: str | None, earlier: tuple[str | None, Path] | None,
                          builtin: set[str]) -> None:
        what, line = _macro_definition(path, name)
        where = _relative(self.root, path)
        if name in self.packages and name in builtin:
            raise ProjectError(f"{what} '{name}' takes the name of the macro package features/macros/{name}/", where, line,
                               hint="rename it")
        if name in builtin:
            raise ProjectError(f"{what} '{name}' would replace toolkit's built-in {name}", where, line,
                               hint="rename it; templates call the built-in by this name")
        if earlier is not None and earlier[0] == package:
            other_what, other_line = _macro_definition(earlier[1], name)
            other = _relative(self.root, earlier[1]) + (f":{other_line}" if other_line else "")
            raise ProjectError(f"{what} '{name}' is defined twice: in {other} and here", where, line,
                               hint="rename one of them or delete it; the file read last would win")

    def _template(self, path: Path) -> jinja2.Template:
        return self.env.get_template(path.relative_to(self.root).as_posix())

    def render(self, path: Path, step: str, incremental: bool = False, this: str = "") -> tuple[str, dict, dict]:
        """Rendered SQL text, the config() the template declared, and var() bindings."""
        state = RenderState(step=step, path=path, incremental=incremental)
        text = self._refuse_placeholder_text(path)
        try:
            with limits.time_limit(limits.RENDER_SECONDS):
                sql, parts = None, self._plain_parts(path, text)
                if parts is not None:
                    try:
                        sql = self._run(path, lambda: _join(parts), state)
                    except ProjectError:  # Jinja renders it again and says at which line
                        state = RenderState(step=step, path=path, incremental=incremental)
                if sql is None:
                    sql = self._run(path, lambda: self._template(path).render(this=ThisRelation(this)), state)
        except limits.TimeLimitExceeded as error:
            raise ProjectError(f"rendering the template is {error}", _relative(self.root, path),
                               hint="a Jinja loop or macro that does not end") from None
        if len(sql) > MAX_RENDERED_CHARS:
            raise ProjectError(f"the rendered step is {len(sql):,} characters, over the limit of {MAX_RENDERED_CHARS:,}", _relative(self.root, path))
        if state.bindings:
            self._refuse_changed_placeholders(path, sql, state.bindings)
        return sql, self._bound_config(path, text, state), state.bindings

    def _bound_config(self, path: Path, text: str, state: RenderState) -> dict:
        from toolkit import sql as sqltrees  # the module parses SQL; rendering alone does not need it

        try:
            return sqltrees.bind_config(state.config, state.bindings, self.context.dialect)
        except sqltrees.SqlError as error:
            raise ProjectError(str(error), _relative(self.root, path), line_of(text, "post_hook"), hint=error.hint) from None

    def _refuse_changed_placeholders(self, path: Path, sql: str, bindings: dict) -> None:
        """Each placeholder in the rendered text is whole: one changed as text in a way no
        operation saw (a loop filtering its characters one by one) would be SQL of its own."""
        for found in re.finditer(re.escape(PLACEHOLDER_PREFIX), sql, re.IGNORECASE):
            whole = taint.PLACEHOLDER.match(sql, found.start())
            if whole is None or whole.group(0) not in bindings:
                raise ProjectError(f"a var() value's placeholder was changed as text ('{sql[found.start():found.start() + 20]}"
                                   "...'): apply filters to the var itself", _relative(self.root, path),
                                   sql.count("\n", 0, found.start()) + 1)

    def _refuse_placeholder_text(self, path: Path) -> str:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        at = text.lower().find(PLACEHOLDER_PREFIX)
        if at >= 0:
            raise ProjectError(
                f"the text '{PLACEHOLDER_PREFIX}' is reserved by toolkit (it marks var() values)",
                _relative(self.root, path), text.count("\n", 0, at) + 1,
            )
        return text

    def _plain_parts(self, path: Path, text: str) -> list | None:
        """A template that is only text and ref()/source()/config() calls with constant
        arguments (most steps), as text and (function, args, kwargs) parts; None for any
        other. Jinja parses it, but it is not compiled to Python: that costs Jinja about
        1 ms per template on a first run, where the bytecode cache is cold (0.5 s for 500
        steps). Rendering the parts calls the same functions and finalizes their values
        as Jinja's output does (tests/test_templating.py compares the two)."""
        name = path.relative_to(self.root).as_posix()
        scanned = self._scanned_parts(text)
        if scanned is not None:
            self.loaded.add(name)
            return scanned
        try:
            template = self.env.parse(text, name, str(path))
        except jinja2.TemplateSyntaxError:
            return None  # Jinja's path reports it
        context = nodes.EvalContext(self.env, name)
        parts: list = []
        for output in template.body:
            if not isinstance(output, nodes.Output):
                return None
            for node in output.nodes:
                if isinstance(node, nodes.TemplateData):
                    parts.append(node.data)
                    continue
                if isinstance(node, nodes.Const):  # {{ 'text' }}, {{ true }}
                    parts.append(str(_finalize(node.value)))
                    continue
                function = self._plain_call(node)
                if function is None:
                    return None
                try:
                    args = [argument.as_const(context) for argument in node.args]
                    kwargs = {keyword.key: keyword.value.as_const(context) for keyword in node.kwargs}
                except nodes.Impossible:
                    return None
                parts.append((function, args, kwargs))
        self.loaded.add(name)
        return parts

    def _scanned_parts(self, text: str) -> list | None:
        """_plain_parts of the simplest templates without Jinja's parser (~0.3 ms a step, a
        fifth of a 500-step compile): text whose only Jinja is `{{ ref/source/config(...) }}`
        with quoted string arguments. Anything else, or a doubt, is None: Jinja parses it.
        tests/test_templating.py checks the parts equal those of Jinja's parse."""
        if "\r" in text or "{%" in text or "{#" in text:  # Jinja turns \r\n into \n; blocks, comments
            return None
        parts: list = []
        at = 0
        for found in _SIMPLE_CALL.finditer(text):
            if text.find("{{", at) != found.start():
                return None  # an expression the pattern does not read (or `{{{`: Jinja starts one brace earlier)
            call = self._simple_call(found)
            if call is None:
                return None
            if found.start() > at:
                parts.append(text[at:found.start()])
            parts.append(call)
            at = found.end()
        if "{{" in text[at:]:
            return None
        if at < len(text):
            parts.append(text[at:])
        return parts

    def _simple_call(self, found: re.Match) -> tuple | None:
        """(function, args, kwargs) of one `{{ name('a', key="b") }}`; None when a project
        macro took the name, or the arguments are not plain (a keyword twice, one before a
        positional argument, a character Jinja's string literals would unescape)."""
        function = self.env.globals.get(found.group("name"))
        if function != getattr(self, f"_{found.group('name')}") or not found.group(0).isascii():
            return None
        args: list = []
        kwargs: dict = {}
        for key, value in _SIMPLE_ARGUMENT.findall(found.group("args") or ""):
            if not key and kwargs or key in kwargs:
                return None
            if key:
                kwargs[key] = value[1:-1]
            else:
                args.append(value[1:-1])
        return function, args, kwargs

    def _plain_call(self, node) -> Callable | None:
        """ref, source or config called directly, when no project macro took the name."""
        if not isinstance(node, nodes.Call) or node.dyn_args is not None or node.dyn_kwargs is not None:
            return None
        if not isinstance(node.node, nodes.Name) or node.node.name not in ("ref", "source", "config"):
            return None
        function = self.env.globals.get(node.node.name)
        return function if function == getattr(self, f"_{node.node.name}") else None

    def _run(self, path: Path, render: Callable[[], Any], state: RenderState | None):
        token = _current.set(state) if state else None
        bound = taint.binder.set(_bind(state)) if state else None
        try:
            return render()
        except jinja2.TemplateSyntaxError as error:
            raise ProjectError(
                f"template syntax error: {error.message}", _relative(self.root, error.filename or path), error.lineno
            ) from None
        except _TemplateCallError as error:
            raise ProjectError(error.message, *self._location(error, path), hint=error.hint) from None
        except jinja2.UndefinedError as error:
            raise ProjectError(f"undefined name: {error.message}", *self._location(error, path)) from None
        except jinja2.TemplateError as error:
            raise ProjectError(f"template error: {error}", *self._location(error, path)) from None
        except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError, RecursionError, MemoryError) as error:
            # Python raised inside the template's own expressions ({{ 1/0 }}, 'x' * 'y', ref()):
            # the user's mistake, at the template line that made it.
            raise ProjectError(f"template error: {type(error).__name__}: {error}", *self._location(error, path)) from None
        finally:
            if token is not None:
                _current.reset(token)
            if bound is not None:
                taint.binder.reset(bound)

    def _location(self, error: BaseException, path: Path) -> tuple[str, int | None]:
        """The innermost template frame of the traceback: a macro's file, else the step's.
        Jinja rewrites a traceback through render() to template lines, not one through a
        template's .module (a macro file's top level runs there): its frames are lines of
        the generated Python, which the template's debug info maps back, as Jinja does."""
        frames: list[tuple[str, int | None]] = [(_relative(self.root, path), None)]
        traceback = error.__traceback__
        while traceback is not None:
            filename = traceback.tb_frame.f_code.co_filename
            if filename.endswith(".sql"):
                template = traceback.tb_frame.f_globals.get("__jinja_template__")
                line = template.get_corresponding_lineno(traceback.tb_lineno) if template is not None else traceback.tb_lineno
                frames.append((_relative(self.root, filename), line))
            traceback = traceback.tb_next
        if getattr(error, "at_caller", False):  # TemplateCallError.at_caller: the frame calling the innermost file's macro
            callers = [frame for frame in frames[1:] if frame[0] != frames[-1][0]]
            return callers[-1] if callers else frames[0]
        return frames[-1]


def _macro_definition(path: Path, name: str) -> tuple[str, int | None]:
    """("macro", line) of `{% macro name(` in a macro file, or ("'{% set %}' name", line) of a top-level set."""
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    found = re.search(rf"{{%[-+]?\s*(macro|set)\s+{re.escape(name)}\b", text)
    if found is None:
        return "macro", None
    return ("macro" if found.group(1) == "macro" else "{% set %} name"), text.count("\n", 0, found.start()) + 1


def _ambiguous(name: str, packages: list[str]) -> Callable:
    def refuse(*args, **kwargs):
        raise _TemplateCallError(f"{name}() is a macro of the packages {' and '.join(packages)}: which one is meant?",
                                 f"call {packages[0]}.{name}(...) or {packages[1]}.{name}(...)")
    return refuse


def _join(parts: list) -> str:
    """What Jinja's output of the parts is: text as is, each call's value finalized."""
    return "".join(part if isinstance(part, str) else str(_finalize(part[0](*part[1], **part[2]))) for part in parts)


def _name_argument(function: str, name: Any) -> str:
    if isinstance(name, jinja2.Undefined):
        raise _TemplateCallError(f"{function}() uses an undefined name: '{name._undefined_name}'",
                                 f"a name is a string: {function}('...')")
    if not isinstance(name, str):
        raise _TemplateCallError(f"{function}() takes names as strings, got {type(name).__name__} {name!r}")
    return plain(name)


def var_text(name: str) -> str:
    """`name` with the placeholder of each var() value in it replaced by the value's text, as
    `~` made it ('orders' ~ var('suf') renders 'orders__toolkit_var_0__'): for looking a
    declared name up while rendering, never for SQL."""
    state = _current.get(None)
    if state is None or PLACEHOLDER_PREFIX not in name:
        return name
    return taint.resolve(name, state.bindings)


_TemplateCallError = TemplateCallError  # raised by the functions templates call (errors.py)


def _first_undefined(value: Any) -> jinja2.Undefined | None:
    """The first undefined name inside config()'s values (dicts, lists, tuples), if any."""
    if isinstance(value, jinja2.Undefined):
        return value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return next((found for child in children if (found := _first_undefined(child)) is not None), None)


def _relative(root: Path, path: str | Path) -> str:
    path = Path(path)
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)

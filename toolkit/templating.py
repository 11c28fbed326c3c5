"""Render feature-step templates in a sandboxed Jinja environment.

The names are the ones dbt users know: ref, source, var, config, this,
is_incremental. Undefined names are errors. Project macros (features/macros/*.sql)
are callable from every step. Errors point at the template's own file and line.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from toolkit.errors import ProjectError, did_you_mean

MACROS_DIR = "features/macros"
_MISSING = object()


@dataclass
class RenderState:
    """What one render of one step collects: its config() calls."""

    step: str
    path: Path
    incremental: bool
    config: dict[str, Any] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)  # placeholder -> var() string value


class VarText(str):
    """A string that came from var(): it reaches SQL as a literal, never as SQL text.

    `{{ var("start") }}` renders a placeholder that the SQL pass `sql.bind_values`
    turns into a string literal built by sqlglot after parsing, whether the template
    wrote it bare or inside quotes. Jinja logic sees an ordinary string.
    """


def _finalize(value: Any) -> Any:
    """Applied to every {{ ... }} output: var() strings become placeholders."""
    if isinstance(value, VarText):
        state = _current.get(None)
        if state is not None:
            placeholder = f"__toolkit_var_{len(state.bindings)}__"
            state.bindings[placeholder] = str(value)
            return placeholder
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if value is None:
        return "NULL"
    return value


_current: contextvars.ContextVar[RenderState] = contextvars.ContextVar("toolkit_render")


class _RecordingLoader(jinja2.FileSystemLoader):
    def __init__(self, searchpath: str, loaded: set[str]):
        super().__init__(searchpath)
        self._loaded = loaded

    def get_source(self, environment, template):
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
    ):
        self.root = root
        self.vars = vars
        self._resolve_ref = resolve_ref
        self._resolve_source = resolve_source
        self._ref_names = ref_names
        self._source_names = source_names
        self.loaded: set[str] = set()  # every template file read (the compile cache checks the ones outside features/)
        self.env = SandboxedEnvironment(
            loader=_RecordingLoader(str(root), self.loaded),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
            # Compiling a template to Python costs more than rendering it; the cache
            # (in the system temp folder, keyed by template source) makes re-runs cheap.
            bytecode_cache=jinja2.FileSystemBytecodeCache(),
            finalize=_finalize,
        )
        self.env.globals.update(
            ref=self._ref,
            source=self._source,
            var=self._var,
            config=self._config,
            is_incremental=self._is_incremental,
            start=None,  # a backfill's interval (toolkit run --start/--end), else None
            end=None,
        )
        self._load_macros()

    # -- the dbt-familiar functions ------------------------------------------------

    def _ref(self, name: str) -> str:
        relation = self._resolve_ref(name)
        if relation is None:
            hint = did_you_mean(name, self._ref_names())
            raise _TemplateCallError(f"ref('{name}'): no step or seed is named '{name}'", hint)
        return relation

    def _source(self, source: str, table: str) -> str:
        relation = self._resolve_source(source, table)
        if relation is None:
            hint = did_you_mean(f"{source}.{table}", self._source_names())
            raise _TemplateCallError(
                f"source('{source}', '{table}') is not declared in warehouse/sources.toml", hint
            )
        return relation

    def _var(self, name: str, default: Any = _MISSING) -> Any:
        if name in self.vars:
            return _as_var(self.vars[name])
        if default is not _MISSING:
            return _as_var(default)
        hint = did_you_mean(name, self.vars) or "set it under [vars] in toolkit.toml ([tool.toolkit.vars] in pyproject.toml) or pass --vars"
        raise _TemplateCallError(f"var('{name}') is not defined", hint)

    def _config(self, **kwargs: Any) -> str:
        _current.get().config.update(kwargs)
        return ""

    def _is_incremental(self) -> bool:
        return _current.get().incremental

    # -- rendering -------------------------------------------------------------------

    def _load_macros(self) -> None:
        folder = self.root / MACROS_DIR
        for path in sorted(folder.glob("**/*.sql")) if folder.is_dir() else []:
            module = self._run(path, lambda: self._template(path).module, state=None)
            for name in dir(module):
                if not name.startswith("_"):
                    self.env.globals[name] = getattr(module, name)

    def _template(self, path: Path) -> jinja2.Template:
        return self.env.get_template(path.relative_to(self.root).as_posix())

    def render(self, path: Path, step: str, incremental: bool = False, this: str = "", start=None, end=None) -> tuple[str, dict, dict]:
        """Rendered SQL text, the config() the template declared, and var() bindings.

        `start`/`end` (a backfill interval of an incremental step, else None) reach the
        template as strings that become SQL string literals, like var() strings.
        """
        state = RenderState(step=step, path=path, incremental=incremental)
        bounds = {k: (VarText(v) if v is not None else None) for k, v in (("start", start), ("end", end))}
        sql = self._run(path, lambda: self._template(path).render(this=this, **bounds), state)
        return sql, state.config, state.bindings

    def _run(self, path: Path, render: Callable[[], Any], state: RenderState | None):
        token = _current.set(state) if state else None
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
        finally:
            if token is not None:
                _current.reset(token)

    def _location(self, error: BaseException, path: Path) -> tuple[str, int | None]:
        """The innermost template frame of the traceback: a macro's file, else the step's."""
        found: tuple[str, int | None] = (_relative(self.root, path), None)
        traceback = error.__traceback__
        while traceback is not None:
            filename = traceback.tb_frame.f_code.co_filename
            if filename.endswith(".sql"):
                found = (_relative(self.root, filename), traceback.tb_lineno)
            traceback = traceback.tb_next
        return found


def _as_var(value: Any) -> Any:
    return VarText(value) if isinstance(value, str) else value


class _TemplateCallError(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def _relative(root: Path, path: str | Path) -> str:
    path = Path(path)
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)

"""Feature steps written in Python with ibis: `features/**/<name>.py`.

    from toolkit import feature

    @feature(materialized="table", tests={"customer_id": ["not_null", "unique"]})
    def customer_value(ref, source, var):
        orders = source("shop", "orders")
        paid = orders.filter(orders.status == var("paid_status"))
        return paid.group_by("customer_id").aggregate(revenue=paid.amount.sum())

toolkit calls the function with the parameters it names (`ref`, `source`, `var`); ref()
and source() return unbound ibis tables whose schemas toolkit knows (declared or
catalog types of sources, seed types, and the output types of upstream steps). ibis
compiles the returned expression to SQL in the project's dialect without any backend
connection; from there the step is a SQL step: parsed, guarded, qualified against its
inputs, fingerprinted by its canonical SQL (an edit that compiles to the same SQL
rebuilds nothing), transpiled to the target and published like any other.

What reaches SQL is only what ibis builds with sqlglot: var() values become literals
(also where ibis reads a plain str as a column name: ibisvars.py), names quoted identifiers. Raw SQL (`Table.sql`, `ibis.sql`), in-memory tables and tables
not obtained from ref()/source() are refused, so a step still reads only refs, sources
and seeds. Files whose name starts with `_` (`__init__.py`, `_shared.py`) are not steps: they are
helper modules a step imports relatively (`from ._shared import rate`; _import_step).
What the step's Python reads besides ref/source/var (the environment, the clock, files): ibispurity.py.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from toolkit import ibispurity, ibisslices, ibisvars, limits
from toolkit.errors import ProjectError, SourceColumnsUnknown, did_you_mean
from toolkit.models import import_file, user_line

# toolkit's dialect names -> ibis' compiler names. ibis' pyspark compiler needs a live
# session; its databricks compiler writes the same Spark SQL without one.
_IBIS_DIALECTS = {
    "duckdb": "duckdb", "postgres": "postgres", "spark": "databricks", "spark2": "databricks",
    "databricks": "databricks", "snowflake": "snowflake", "bigquery": "bigquery", "trino": "trino",
    "mysql": "mysql", "sqlite": "sqlite", "oracle": "oracle", "athena": "athena",
}
PARAMETERS = ("ref", "source", "var")


class StepInputError(Exception):
    """A ref()/source()/var() call the project cannot answer: exit 2 at the calling line."""

    def __init__(self, message: str, hint: str | None = None, unknown_source: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint
        self.unknown_source = unknown_source  # a table source whose columns are not known yet


def feature(**config: Any) -> Callable:
    """Declare the function of a Python feature step; `config` takes the keys of a SQL
    step's {{ config(...) }} (materialized, tests, tags, description, alias, ...)."""

    def declare(function: Callable) -> Callable:
        function.__toolkit_feature__ = dict(config)
        return function

    return declare


@dataclass
class Inputs:
    """What the step's function may read: callbacks into the compiler."""

    ref: Callable[[str], tuple[str, str, dict[str, str | None]]]  # name -> (schema, name, {column: type})
    source: Callable[[str, str], tuple[str, str, dict[str, str | None]] | None]
    var: Callable[..., Any]
    reads: dict | None = None  # environment variables the step's Python reads: "env:NAME" -> value (ibispurity.py)


def compile_step(path: Path, relative: str, dialect: str, inputs: Inputs) -> tuple[str, dict, int, dict[str, str | None]]:
    """(SQL text in `dialect`, config, line of the function, {column: type}) of the step file at `path`."""
    ibis_dialect = _IBIS_DIALECTS.get(dialect)
    if ibis_dialect is None:
        raise ProjectError(f"Python (ibis) feature steps need a dialect ibis compiles without a backend; '{dialect}' is not one",
                           relative, hint=f"dialects: {', '.join(sorted(_IBIS_DIALECTS))}; or write the step in SQL")
    import ibis  # only projects with Python steps pay for it (0.2-0.4 s)

    ibisvars.install_literal_binding(ibis)

    ibispurity.check_files(path, relative)
    with ibispurity.evaluating(inputs.reads):
        module = _import_step(path, relative)
    function, config, line = _declared(module, relative)
    made: set[int] = set()  # ids of the table ops ref()/source() built: the only leaves allowed
    readers = _Readers(ibis, inputs, made, relative, dialect)
    arguments = _arguments(function, relative, line, readers)
    try:
        with limits.time_limit(limits.PROJECT_CODE_SECONDS), ibispurity.evaluating(inputs.reads):
            expr = function(**arguments)
    except ProjectError:
        raise
    except StepInputError as error:
        where = (relative, user_line(error, path) or line)
        if error.unknown_source:
            raise SourceColumnsUnknown(error.unknown_source, error.message, *where, hint=error.hint) from None
        raise ProjectError(error.message, *where, hint=error.hint) from None
    except (Exception, SystemExit, KeyboardInterrupt, limits.TimeLimitExceeded) as error:
        if _called_memtable(error):  # it fails inside ibis for want of pyarrow_hotfix before _check_leaves sees it
            raise ProjectError("an in-memory table (ibis.memtable) is refused", relative, user_line(error, path) or line,
                               hint=_DATA_HINT) from None
        raise ProjectError(f"the step function failed: {_describe(error)}", relative, user_line(error, path) or line,
                           hint=_column_hint(error, ibis)) from None
    if not isinstance(expr, ibis.expr.types.Table):
        raise ProjectError(f"{function.__name__}() returned {type(expr).__name__}, not an ibis table expression", relative, line,
                           hint="return a table: e.g. t.select(...), t.group_by(...).aggregate(...)")
    _check_leaves(expr, made, relative, line)
    expr = _lower_case_names(expr, relative, line)
    try:
        if ibis_dialect == "duckdb":  # string slices as SUBSTRING, which every target runs (ibisslices.py)
            text = ibisslices.to_sql(expr)
        else:
            text = ibis.to_sql(expr, dialect=ibis_dialect, pretty=True)
    except Exception as error:  # an operation ibis cannot write for this dialect
        raise ProjectError(f"ibis cannot compile the step to {dialect} SQL: {_describe(error)}", relative, line) from None
    types = {name: readers.types.to_string(dtype) for name, dtype in expr.schema().items()}
    return str(text), config, line, types


def _import_step(path: Path, relative: str):
    """Import the step file as a module of a package made for its folder under features/,
    so that it imports its helper modules relatively (`from ._helpers import double`;
    `from .._shared import x` from a subfolder). The package is named after the project's
    features/ folder (two projects in one process never share helpers), and its modules
    are forgotten before each step imports: an edited helper is read again (it is in the
    compile cache's key like every file under features/; the step's fingerprint follows
    the SQL it compiles to)."""
    parts = Path(relative).with_suffix("").parts  # ("features", ..., step)
    folder = path.parents[len(parts) - 2]
    package = f"toolkit_features_{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]}"
    # list(): a snapshot taken at once; a comprehension over sys.modules raced the imports of
    # the thread opening the target meanwhile ("dictionary changed size during iteration")
    for name in [n for n in list(sys.modules) if n == package or n.startswith(package + ".")]:
        sys.modules.pop(name, None)
    _declare_package(package, folder)
    for part in parts[1:-1]:
        folder, package = folder / part, f"{package}.{part}"
        _declare_package(package, folder)
    try:
        return import_file(path, relative, f"{package}.{parts[-1]}", "the step file")
    except ProjectError as error:
        if "No module named '_" not in error.message or error.hint is not None:
            raise
        # `import _helpers` / `from features._helpers import`: features/ is on no import path
        raise ProjectError(error.message, error.file, error.line, error.col,
                           hint="import helper modules under features/ relatively: from ._helpers import name") from None


def _declare_package(name: str, folder: Path) -> None:
    """An empty package whose modules are the files of `folder` (its __init__.py, if any, is not run)."""
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module


class _Readers:
    """ref(), source() and var() as the step function sees them."""

    def __init__(self, ibis, inputs: Inputs, made: set[int], relative: str, dialect: str):
        self.ibis, self.inputs, self.made, self.relative = ibis, inputs, made, relative
        from ibis.backends.sql.datatypes import get_type_mapper

        self.types = get_type_mapper(_IBIS_DIALECTS[dialect])

    def ref(self, name, *more, **options):
        if more or options or not isinstance(name, str):
            raise TypeError("ref() takes one step, seed or model name")
        schema, table, columns = self.inputs.ref(name)
        return self._table(schema, table, columns)

    def source(self, source, table, *more, **options):
        if more or options or not isinstance(source, str) or not isinstance(table, str):
            raise TypeError("source() takes a source name and a table name")
        found = self.inputs.source(source, table)
        if found is None:
            raise LookupError(f"unknown source table '{source}.{table}'")
        return self._table(*found)

    def var(self, name, *default):
        # strings come back as VarText: a literal where ibis would read a str as a column name
        return ibisvars.marked(self.inputs.var(name, *default))

    def _table(self, schema: str, name: str, columns: dict[str, str | None]):
        table = self.ibis.table({c: self._dtype(t) for c, t in columns.items()}, name=name, database=schema)
        self.made.add(id(table.op()))
        return table

    def _dtype(self, text: str | None):
        import ibis.expr.datatypes as dt

        if not text:
            return dt.unknown
        try:
            return self.types.from_string(text)
        except Exception:  # a type ibis does not model: the column is usable after .cast()
            return dt.unknown


def _check_leaves(expr, made: set[int], relative: str, line: int) -> None:
    """Every table the expression reads came from ref()/source(); no raw SQL, no data."""
    import ibis.expr.operations as ops

    for node in expr.op().find(ops.Relation):
        if isinstance(node, (ops.SQLStringView, ops.SQLQueryResult)):
            raise ProjectError("raw SQL in an ibis step (Table.sql / ibis.sql) is refused", relative, line,
                               hint="express it with ibis, or write the step as a .sql file")
        if isinstance(node, ops.PhysicalTable) and id(node) not in made:
            what = "an in-memory table" if isinstance(node, ops.InMemoryTable) else f"table '{node.name}'"
            raise ProjectError(f"the step reads {what}, which did not come from ref() or source()", relative, line,
                               hint=_DATA_HINT)


_DATA_HINT = "feature steps read refs, sources and seeds only (data in the project: a seed under warehouse/seeds/)"


def _called_memtable(error: BaseException) -> bool:
    """The error was raised inside ibis' memtable(), however the step named it."""
    traceback = error.__traceback__
    while traceback is not None:
        code = traceback.tb_frame.f_code
        if code.co_name == "memtable" and "ibis" in Path(code.co_filename).parts:
            return True
        traceback = traceback.tb_next
    return False


def _arguments(function: Callable, relative: str, line: int, readers: _Readers) -> dict[str, Any]:
    offered = {"ref": readers.ref, "source": readers.source, "var": readers.var}
    arguments = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if name not in offered:
            raise ProjectError(f"{function.__name__}() takes a parameter '{name}' toolkit does not provide", relative, line,
                               hint=did_you_mean(name, PARAMETERS) or f"parameters: {', '.join(PARAMETERS)} (any of them)")
        arguments[name] = offered[name]
    return arguments


def _declared(module, relative: str) -> tuple[Callable, dict, int]:
    declared = [f for _, f in inspect.getmembers(module, inspect.isfunction)
                if hasattr(f, "__toolkit_feature__") and f.__module__ == module.__name__]
    if len(declared) != 1:
        found = "no function" if not declared else f"{len(declared)} functions ({', '.join(f.__name__ for f in declared)})"
        raise ProjectError(f"a Python feature step declares exactly one @feature function; this file has {found}",
                           relative, None if not declared else inspect.getsourcelines(declared[1])[1],
                           hint="from toolkit import feature, then @feature() on the function returning the table; "
                                "helper modules start with _ (from ._helpers import name)")
    function = declared[0]
    return function, function.__toolkit_feature__, inspect.getsourcelines(function)[1]


def _lower_case_names(expr, relative: str, line: int):
    """The output columns as toolkit's catalog names them: lower case. ibis quotes every
    name, so `TotalSpend=` would publish a case-sensitive "TotalSpend" on PostgreSQL that
    no reader resolves (SQL steps write it unquoted; ibis steps see `totalspend`)."""
    columns = list(expr.columns)
    if all(name == name.lower() for name in columns):
        return expr  # the SQL stays as ibis wrote it
    lowered = [name.lower() for name in columns]
    if len(set(lowered)) != len(lowered):
        twins = sorted({name for name in columns if lowered.count(name.lower()) > 1})
        raise ProjectError(f"output columns {', '.join(twins)} differ only in case; toolkit's names are lower case",
                           relative, line, hint="rename one of them")
    return expr.rename({name.lower(): name for name in columns if name != name.lower()})


def _column_hint(error: BaseException, ibis) -> str | None:
    """`orders.CustomerId` where the table has it as `customerid`: toolkit's names are
    lower case, as SQL steps write them unquoted (the stored spelling is quoted for them).
    A column typed `unknown` compared or called on: how to give it a type."""
    if _UNKNOWN_TYPED.search(str(error)):
        return _UNKNOWN_HINT
    table, name = getattr(error, "obj", None), getattr(error, "name", None)
    if not isinstance(error, AttributeError) or not isinstance(table, ibis.expr.types.Table) or not isinstance(name, str):
        return None
    if name != name.lower() and name.lower() in table.columns:
        return f"column names are lower case in toolkit: {name.lower()}"
    return None


# what ibis says of a column typed `unknown`: "a:unknown and Literal(paid):string are not
# comparable", "'UnknownColumn' object has no attribute 'upper'"
_UNKNOWN_TYPED = re.compile(r":unknown\b|\bUnknownColumn\b")
_UNKNOWN_HINT = ("a column's type is unknown to toolkit: declare it (warehouse/sources.toml or warehouse/seeds.toml columns = "
                 "{ name = \"varchar\" }), or .cast() it in the step, e.g. t.status.cast(\"string\")")


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__

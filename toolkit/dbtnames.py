"""The dbt names analysts' SQL uses, for templates written for dbt.

    target.name / .type / .schema / .profile_name   the active target (compile follows --target)
    env_var("X", default)       an environment variable, as a var() string: it reaches SQL as a
                                literal, never as text; missing without a default is exit 2
    dbt.<macro>(...)            cross-database macros (date_trunc, dateadd, datediff, type_string,
                                hash, concat, safe_cast, split_part, last_day, listagg, ...)
    dbt_utils.<macro>(...)      generate_surrogate_key, star, pivot, unpivot, date_spine,
                                union_relations, deduplicate
    adapter.dispatch("m", "pkg")(...)   <target engine>__m, <project dialect>__m, then default__m
    <pkg>.<macro>(...)          project macros under features/macros/<pkg>/ (a folder is a package)
    ref("pkg", "step")          a step of this project or of one of its packages
    execute                     true, as when dbt compiles what it runs
    dbt_import_lookup(...)      dbt's source names -> toolkit's, for the macro import-dbt writes

Every macro builds a sqlglot tree and generates it in the PROJECT dialect: the
compiler parses the rendered step like any other and transpiles it to the target.
Arguments that dbt takes as SQL (column expressions, `"','"`) are the analyst's SQL,
parsed as one expression each (a statement is refused); date parts, aggregate names
and comparison operators are checked against fixed sets; values (pivot values,
string_literal) become literals built by the generator. A var() or env_var() string
passed as an argument stays a bound value (taint.py).

Names that need the warehouse while rendering (dbt_utils.get_column_values,
adapter.get_columns_in_relation, run_query) are refused with exit 2: toolkit renders
without a connection. Column lists (star, unpivot, union_relations) are known while
rendering for sources and seeds; for a step, star() renders `* EXCLUDE (...)` that
the compiler expands from the upstream's columns, and unpivot/union_relations say so.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlglot
from sqlglot import exp

from toolkit import taint
from toolkit.errors import did_you_mean
from toolkit.sql import quiet_parse
from toolkit.taint import VarText, plain, unreserved

DATEPARTS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond", "microsecond")
AGGREGATES = ("sum", "count", "avg", "min", "max")
COMPARISONS = {"=": exp.EQ, "!=": exp.NEQ, "<>": exp.NEQ, "<": exp.LT, ">": exp.GT, "<=": exp.LTE, ">=": exp.GTE}
NULL_KEY = "_dbt_utils_surrogate_key_null_"  # dbt_utils' own, so keys equal dbt's
_MISSING = object()


@dataclass
class Context:
    """What the dbt names know about the project being rendered."""

    project: str = "project"
    dialect: str = "duckdb"
    target: str = "dev"
    engine: str = "duckdb"
    schema: str = "features"  # where steps publish
    # relation text -> {column: declared type or None}, when known while rendering (sources, seeds)
    relation_columns: Callable[[str], dict[str, str | None] | None] = lambda relation: None
    # What rendering read from outside the project files: "env:X" -> value (None: unset),
    # "target" -> name. The compile cache is valid only while these still hold.
    reads: dict[str, str | None] = field(default_factory=dict)
    # A name holding var() placeholders -> the text they stand for (templating.var_text, set by
    # the renderer: dbt_import_lookup looks names up by it without importing the renderer)
    var_text: Callable[[str], str] = lambda name: name


def current(reads: dict[str, str | None], target: str) -> bool:
    """Whether what a compile read (Context.reads) still holds for `target` and this environment."""
    for key, value in reads.items():
        if key == "target" and value != target:
            return False
        if key.startswith("env:") and os.environ.get(key[4:]) != value:
            return False
    return True


def _fail(message: str, hint: str | None = None, at_caller: bool = False):
    from toolkit.errors import TemplateCallError as _TemplateCallError

    raise _TemplateCallError(message, hint, at_caller)


class Namespace:
    """`name.macro(...)`: a package's macros, then built-in ones; an unknown name is exit 2."""

    def __init__(self, name: str, macros: dict[str, Any], builtin: "Namespace | None" = None,
                 refused: dict[str, str] | None = None):
        self._name, self._macros, self._builtin, self._refused = name, macros, builtin, refused or {}

    def _find(self, attribute: str) -> Any:
        if attribute in self._macros:
            return self._macros[attribute]
        return self._builtin._find(attribute) if self._builtin is not None else None

    def _names(self) -> list[str]:
        return sorted(set(self._macros) | set(self._builtin._names() if self._builtin else ()))

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        found = self._find(attribute)
        if found is not None:
            return found
        reason = self._refused.get(attribute) or (self._builtin._refused.get(attribute) if self._builtin else None)
        if reason:
            _fail(f"{self._name}.{attribute} is not supported: {reason}")
        _fail(f"{self._name}.{attribute} is not a macro toolkit knows",
              did_you_mean(attribute, self._names()) or f"known: {', '.join(self._names())}")

    def __repr__(self) -> str:
        return f"<macros {self._name}>"


def names(ctx: Context, packages: dict[str, dict[str, Any]], project_macros: Callable[[str], Any]) -> dict[str, Any]:
    """The template globals: target, env_var, dbt, dbt_utils, adapter and one namespace per package."""
    sql = _Sql(ctx)
    builtin = {
        "dbt": Namespace("dbt", _dbt_macros(sql), refused=_NEEDS_WAREHOUSE),
        "dbt_utils": Namespace("dbt_utils", _dbt_utils_macros(sql, ctx), refused=_NEEDS_WAREHOUSE),
    }
    spaces = dict(builtin)
    for package, macros in packages.items():
        spaces[package] = Namespace(package, macros, builtin.get(package))
    return {
        **spaces,
        "target": _Target(ctx),
        "env_var": _env_var(ctx),
        "adapter": _Adapter(ctx, spaces, project_macros),
        "run_query": _refuse("run_query"),
        "dbt_import_lookup": functools.partial(dbt_import_lookup, ctx.var_text),
        # dbt's "is this the execution phase": true whenever dbt compiles the SQL it runs, so a
        # template renders the branch dbt builds. Under `{% if execute %}` sit the calls that
        # query the warehouse (run_query, get_column_values): those stay exit 2 at their line,
        # where `execute = false` took the else branch and built something else, silently.
        "execute": True,
    }


def package_folders(folder) -> dict[str, dict[str, Any]]:
    """One (still empty) macro table per package: each folder of features/macros/ holding macros."""
    if not folder.is_dir():
        return {}
    return {path.name: {} for path in sorted(folder.iterdir()) if path.is_dir() and any(path.glob("**/*.sql"))}


def ref_name(ctx: Context, packages, args: tuple, kwargs: dict) -> str:
    """The step name of ref('step') / ref('pkg', 'step'); versions and other options are exit 2."""
    shown = ", ".join([repr(plain(a) if isinstance(a, str) else a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    if "v" in kwargs or "version" in kwargs:
        _fail(f"ref({shown}): model versions are not supported", "ref the step by its name; a version is another step")
    if kwargs:
        _fail(f"ref({shown}): ref() takes no option '{next(iter(kwargs))}'", "ref('step') or ref('package', 'step')")
    if len(args) == 2:
        package = plain(args[0]) if isinstance(args[0], str) else args[0]
        known = [ctx.project, *packages]
        if package not in known:
            _fail(f"ref({shown}): '{package}' is neither this project ({ctx.project}) nor a package of it",
                  did_you_mean(str(package), known) or "packages are the folders of features/macros/; or ref('step')")
        return args[1]
    if len(args) != 1:
        _fail(f"ref({shown}): ref() takes a step name, or a package and a step name")
    return args[0]


def dbt_import_lookup(var_text: Callable[[str], str], declared: Any, source_name: Any, table_name: Any) -> Any:
    """For the macro `toolkit import-dbt` writes (features/macros/dbt_import_source.sql):
    `declared[source][table]`, what dbt's source(source_name, table_name) reads, from the
    macro's table of every source table the dbt project declares. A name made with ~ from a
    var() ('orders' ~ var('suf')) is looked up by the var's text, so the var selects one of
    the declared tables and never becomes SQL. A name dbt does not declare is exit 2, where
    dbt stops too: reported at the line calling that macro (the user's source() call), not the
    macro's own line."""
    if not isinstance(declared, dict) or not all(isinstance(n, str) for n in (source_name, table_name)):
        _fail("source() takes names as strings", at_caller=True)
    source, table = var_text(plain(source_name)), var_text(plain(table_name))
    tables = declared.get(source)
    if not isinstance(tables, dict):
        _fail(f"source('{source}', '{table}'): the dbt project declares no source '{source}'",
              did_you_mean(source, list(declared)) or "dbt stops at this call too", at_caller=True)
    if table not in tables:
        _fail(f"source('{source}', '{table}'): the dbt project declares no table '{table}' in source '{source}'",
              did_you_mean(table, list(tables)) or "dbt stops at this call too", at_caller=True)
    return tables[table]


# -- target, env_var, adapter --------------------------------------------------------------


class _Target:
    def __init__(self, ctx: Context):
        self._ctx = ctx

    def _read(self, value: str) -> VarText:
        self._ctx.reads["target"] = self._ctx.target
        return VarText(value)

    @property
    def name(self) -> VarText:
        return self._read(self._ctx.target)

    @property
    def type(self) -> VarText:
        return self._read(self._ctx.engine)

    @property
    def schema(self) -> VarText:
        return VarText(self._ctx.schema)

    @property
    def profile_name(self) -> VarText:
        return VarText(self._ctx.project)

    def __getattr__(self, attribute: str):
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        _fail(f"target.{attribute} is not known to toolkit", "target has name, type (the engine), schema and profile_name")


def _env_var(ctx: Context):
    def env_var(name: Any, default: Any = _MISSING) -> Any:
        if not isinstance(name, str):
            _fail(f"env_var() takes a name as a string, got {type(name).__name__}")
        name = plain(name)
        value = os.environ.get(name)
        ctx.reads[f"env:{name}"] = value
        if value is not None:
            return VarText(unreserved(f"env_var('{name}')", value))
        if default is _MISSING:
            _fail(f"env_var('{name}'): the environment variable {name} is not set",
                  f"export {name}=..., or give a default: env_var('{name}', '...')")
        return taint.wrap(default)

    return env_var


class _Adapter:
    def __init__(self, ctx: Context, spaces: dict[str, Namespace], project_macros: Callable[[str], Any]):
        self._ctx, self._spaces, self._project_macros = ctx, spaces, project_macros

    def dispatch(self, macro_name: Any, macro_namespace: Any = None) -> Any:
        name = plain(macro_name) if isinstance(macro_name, str) else _fail("adapter.dispatch() takes a macro name as a string")
        space = plain(macro_namespace) if isinstance(macro_namespace, str) else None
        self._ctx.reads["target"] = self._ctx.target
        prefixes = list(dict.fromkeys([self._ctx.engine, self._ctx.dialect, "default"]))
        tried = []
        for prefix in prefixes:
            candidate = f"{prefix}__{name}"
            tried.append(candidate)
            package = self._spaces.get(space) if space else None
            found = package._macros.get(candidate) if package is not None else None
            found = found if found is not None else self._project_macros(candidate)
            if found is not None:
                return found
        builtin = self._spaces.get(space or "dbt")
        if builtin is not None and builtin._find(name) is not None:
            return builtin._find(name)
        where = f"'{space}' or " if space else ""
        _fail(f"adapter.dispatch('{name}'{', ' + repr(space) if space else ''}): no macro {' or '.join(tried)} in {where}features/macros/",
              f"define {{% macro default__{name}(...) %}} in features/macros/")

    def quote(self, identifier: Any) -> str:
        return exp.to_identifier(plain(str(identifier)) if not isinstance(identifier, VarText) else str(identifier),
                                 quoted=True).sql(dialect=self._ctx.dialect)

    def __getattr__(self, attribute: str):
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        _fail(f"adapter.{attribute} is not supported: it would query the warehouse while rendering, and toolkit renders without one",
              "adapter.dispatch and adapter.quote are available")


def _refuse(name: str):
    def refused(*args, **kwargs):
        _fail(f"{name}() is not supported: toolkit renders templates without a warehouse connection")

    return refused


_NEEDS_WAREHOUSE = {
    name: "it queries the warehouse while rendering, and toolkit renders without a connection; write the values out"
    for name in ("get_column_values", "get_relations_by_pattern", "get_relations_by_prefix", "get_filtered_columns_in_relation",
                 "get_query_results_as_dict", "get_single_value", "get_tables_by_pattern_sql", "get_intervals_between")
}


# -- building SQL in the project dialect ---------------------------------------------------------


class _Sql:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.dialect = ctx.dialect

    def expr(self, value: Any, what: str) -> exp.Expression:
        """An argument dbt takes as SQL: the analyst's expression (a var() string: its placeholder)."""
        if isinstance(value, bool):
            return exp.Boolean(this=value)
        if isinstance(value, (int, float)):
            return exp.Literal.number(value)
        if isinstance(value, exp.Expression):
            return value.copy()
        if not isinstance(value, str):
            _fail(f"{what} must be SQL text, got {type(value).__name__} {value!r}")
        text = str(value)  # a VarText: its placeholder, bound as a literal after parsing
        try:
            with quiet_parse():  # a statement is refused below
                parsed = [e for e in sqlglot.parse(text, read=self.dialect) if e is not None]
        except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as error:
            _fail(f"{what}: '{plain(value)}' is not a SQL expression ({_first_error(error)})")
        if len(parsed) != 1 or isinstance(parsed[0], (exp.Query, exp.DDL, exp.DML, exp.Command, exp.Use, exp.Set)) \
                and not isinstance(parsed[0], exp.Subquery):
            _fail(f"{what}: '{plain(value)}' must be one SQL expression, not a statement")
        return parsed[0]

    def type(self, value: Any, what: str) -> exp.DataType:
        try:
            return exp.DataType.build(plain(str(value)) if not isinstance(value, exp.DataType) else value, dialect=self.dialect)
        except Exception:  # sqlglot raises ParseError or ValueError for a type it cannot read
            _fail(f"{what}: '{value}' is not a SQL type")

    def text(self, node: exp.Expression) -> str:
        return node.sql(dialect=self.dialect)

    def relation(self, value: Any, what: str) -> exp.Table:
        if isinstance(value, VarText) or not isinstance(value, str):
            _fail(f"{what} must be a relation: ref('...') or source('...', '...')")
        try:
            table = sqlglot.parse_one(plain(value), read=self.dialect, into=exp.Table)
        except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
            _fail(f"{what}: '{plain(value)}' is not a relation: pass ref('...') or source('...', '...')")
        return table

    def columns(self, relation: Any, what: str) -> dict[str, str | None] | None:
        return self.ctx.relation_columns(self.text(self.relation(relation, what)))


def _first_error(error: Exception) -> str:
    errors = getattr(error, "errors", None)
    return errors[0]["description"] if errors else str(error).splitlines()[0]


def _part(value: Any, what: str = "datepart") -> exp.Var:
    text = plain(value).strip().lower() if isinstance(value, str) else None
    if text not in DATEPARTS:
        _fail(f"{what} {value!r} is not a date part", did_you_mean(str(text), DATEPARTS) or f"one of {', '.join(DATEPARTS)}")
    return exp.var(text.upper())


def _interval(amount: exp.Expression, part: exp.Var) -> exp.Expression:
    """`amount` units of `part`: INTERVAL 'n' PART for a number, else (amount) * INTERVAL '1' PART."""
    if isinstance(amount, exp.Literal) and not amount.is_string:
        return exp.Interval(this=exp.Literal.string(amount.this), unit=part.copy())
    one = exp.Interval(this=exp.Literal.string("1"), unit=part.copy())
    return exp.Mul(this=exp.paren(amount, copy=False), expression=one)


def _list(value: Any, what: str) -> list:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        _fail(f"{what} must be a list, got {type(value).__name__}")
    return list(value)


def _binder(function: str, spec: list[tuple[str, Any]]):
    """(args, kwargs) -> dict of dbt's parameter names; unknown or missing ones are exit 2."""

    def bind(args: tuple, kwargs: dict) -> dict[str, Any]:
        names = [name for name, _ in spec]
        if len(args) > len(spec):
            _fail(f"{function}() takes at most {len(spec)} arguments ({', '.join(names)}), got {len(args)}")
        bound = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                _fail(f"{function}() has no argument '{key}'", did_you_mean(key, names) or f"arguments: {', '.join(names)}")
            if key in bound:
                _fail(f"{function}() got '{key}' twice")
            bound[key] = value
        for name, default in spec:
            if name not in bound:
                if default is _MISSING:
                    _fail(f"{function}() needs '{name}'", f"arguments: {', '.join(names)}")
                bound[name] = default
        return bound

    return bind


def _macro(function: str, *spec: tuple[str, Any]):
    """A decorator: the function receives dbt's named arguments as a dict."""

    def wrap(body):
        bind = _binder(function, list(spec))

        def call(*args, **kwargs):
            return body(bind(args, kwargs))

        call.__name__ = function.rsplit(".", 1)[-1]
        return call

    return wrap


M = _MISSING


def _dbt_macros(s: _Sql) -> dict[str, Callable]:
    text = s.text

    def typed(name: str):
        return lambda: text(exp.DataType.build(name))

    @_macro("dbt.date_trunc", ("datepart", M), ("date", M))
    def date_trunc(a):
        return text(exp.TimestampTrunc(this=s.expr(a["date"], "date"), unit=_part(a["datepart"])))

    @_macro("dbt.dateadd", ("datepart", M), ("interval", M), ("from_date_or_timestamp", M))
    def dateadd(a):
        start = s.expr(a["from_date_or_timestamp"], "from_date_or_timestamp")
        return text(exp.Add(this=start, expression=_interval(s.expr(a["interval"], "interval"), _part(a["datepart"]))))

    @_macro("dbt.datediff", ("first_date", M), ("second_date", M), ("datepart", M))
    def datediff(a):
        """Boundaries crossed from first_date to second_date, as dbt counts them on every
        engine: both ends truncated to the part first (a day diff of 23:00 -> 01:00 is 1)."""
        part = _part(a["datepart"])
        first, second = s.expr(a["first_date"], "first_date"), s.expr(a["second_date"], "second_date")
        unit = {"WEEK": "DAY", "QUARTER": "MONTH"}.get(part.name, part.name)
        if part.name in ("MILLISECOND", "MICROSECOND", "SECOND"):
            ends = first, second
        else:
            ends = tuple(exp.TimestampTrunc(this=e, unit=part.copy()) for e in (first, second))
        diff: exp.Expression = exp.DateDiff(this=ends[1], expression=ends[0], unit=exp.var(unit))
        if part.name in ("WEEK", "QUARTER"):
            diff = exp.Cast(this=exp.Div(this=diff, expression=exp.Literal.number(7 if part.name == "WEEK" else 3)),
                            to=exp.DataType.build("bigint"))
        return text(diff)

    @_macro("dbt.last_day", ("date", M), ("datepart", M))
    def last_day(a):
        part = _part(a["datepart"])
        start = exp.TimestampTrunc(this=s.expr(a["date"], "date"), unit=part)
        end = exp.Sub(this=exp.Add(this=start, expression=_interval(exp.Literal.number(1), part)),
                      expression=_interval(exp.Literal.number(1), exp.var("DAY")))
        return text(exp.Cast(this=end, to=exp.DataType.build("date")))

    @_macro("dbt.concat", ("fields", M))
    def concat(a):
        parts = [s.expr(f, "fields") for f in _list(a["fields"], "fields")] or _fail("dbt.concat() needs at least one field")
        node = parts[0]
        for part in parts[1:]:
            node = exp.DPipe(this=node, expression=part)
        return text(node)

    def _hash(node: exp.Expression) -> exp.Expression:
        return exp.MD5(this=exp.Cast(this=node, to=exp.DataType.build("text")))

    @_macro("dbt.hash", ("field", M))
    def hash_(a):
        return text(_hash(s.expr(a["field"], "field")))

    @_macro("dbt.safe_cast", ("field", M), ("type", M))
    def safe_cast(a):
        return text(exp.TryCast(this=s.expr(a["field"], "field"), to=s.type(a["type"], "type")))

    @_macro("dbt.cast", ("field", M), ("type", M))
    def cast(a):
        return text(exp.Cast(this=s.expr(a["field"], "field"), to=s.type(a["type"], "type")))

    @_macro("dbt.cast_bool_to_text", ("field", M))
    def cast_bool_to_text(a):
        return text(exp.Cast(this=s.expr(a["field"], "field"), to=exp.DataType.build("text")))

    @_macro("dbt.split_part", ("string_text", M), ("delimiter_text", M), ("part_number", M))
    def split_part(a):
        return text(exp.SplitPart(this=s.expr(a["string_text"], "string_text"), delimiter=s.expr(a["delimiter_text"], "delimiter_text"),
                                  part_index=s.expr(a["part_number"], "part_number")))

    @_macro("dbt.listagg", ("measure", M), ("delimiter_text", "','"), ("order_by_clause", None), ("limit_num", None))
    def listagg(a):
        if a["limit_num"] is not None:
            _fail("dbt.listagg(limit_num=...) is not supported", "aggregate a subquery that keeps the rows you want")
        measure = s.expr(a["measure"], "measure")
        if a["order_by_clause"]:
            try:
                order = sqlglot.parse_one(f"SELECT 1 {plain(str(a['order_by_clause']))}", read=s.dialect).args.get("order")
            except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
                order = None
            if order is None:
                _fail(f"dbt.listagg: order_by_clause '{a['order_by_clause']}' is not an ORDER BY clause")
            measure = exp.Order(this=measure, expressions=order.expressions)
        return text(exp.GroupConcat(this=measure, separator=s.expr(a["delimiter_text"], "delimiter_text")))

    @_macro("dbt.string_literal", ("value", M))
    def string_literal(a):
        return text(exp.Literal.string(plain(str(a["value"])) if not isinstance(a["value"], VarText) else plain(a["value"])))

    @_macro("dbt.escape_single_quotes", ("expression", M))
    def escape_single_quotes(a):
        value = a["expression"]
        escaped = plain(str(value)).replace("'", "''") if not isinstance(value, VarText) else plain(value).replace("'", "''")
        return VarText(escaped) if isinstance(value, VarText) else escaped

    def one(name: str, make: Callable[[exp.Expression], exp.Expression], argument: str = "expression"):
        @_macro(f"dbt.{name}", (argument, M))
        def macro(a):
            return text(make(s.expr(a[argument], argument)))

        return macro

    @_macro("dbt.right", ("string_text", M), ("length_expression", M))
    def right(a):
        return text(exp.Right(this=s.expr(a["string_text"], "string_text"), expression=s.expr(a["length_expression"], "length_expression")))

    @_macro("dbt.position", ("substring_text", M), ("string_text", M))
    def position(a):
        return text(exp.StrPosition(this=s.expr(a["string_text"], "string_text"), substr=s.expr(a["substring_text"], "substring_text")))

    @_macro("dbt.replace", ("field", M), ("old_chars", M), ("new_chars", M))
    def replace(a):
        return text(exp.Replace(this=s.expr(a["field"], "field"), expression=s.expr(a["old_chars"], "old_chars"),
                                replacement=s.expr(a["new_chars"], "new_chars")))

    @_macro("dbt.date", ("year", M), ("month", M), ("day", M))
    def date(a):
        return text(exp.DateFromParts(year=s.expr(a["year"], "year"), month=s.expr(a["month"], "month"), day=s.expr(a["day"], "day")))

    return {
        "date_trunc": date_trunc, "dateadd": dateadd, "datediff": datediff, "last_day": last_day,
        "concat": concat, "hash": hash_, "safe_cast": safe_cast, "cast": cast, "cast_bool_to_text": cast_bool_to_text,
        "split_part": split_part, "listagg": listagg, "string_literal": string_literal,
        "escape_single_quotes": escape_single_quotes, "right": right, "position": position, "replace": replace, "date": date,
        "any_value": one("any_value", lambda e: exp.AnyValue(this=e)),
        "bool_or": one("bool_or", lambda e: exp.LogicalOr(this=e)),
        "length": one("length", lambda e: exp.Length(this=e)),
        "current_timestamp": lambda: text(exp.CurrentTimestamp()),
        "current_timestamp_backcompat": lambda: text(exp.CurrentTimestamp()),
        "type_string": typed("text"), "type_int": typed("int"), "type_bigint": typed("bigint"),
        "type_float": typed("double"), "type_numeric": typed("numeric(28, 6)"), "type_timestamp": typed("timestamp"),
        "type_boolean": typed("boolean"),
        "except": lambda: "except", "intersect": lambda: "intersect",
    }


def _identifier(name: str, quote: bool = True) -> exp.Identifier:
    return exp.to_identifier(name, quoted=quote)


def _dbt_utils_macros(s: _Sql, ctx: Context) -> dict[str, Callable]:
    text = s.text

    @_macro("dbt_utils.generate_surrogate_key", ("field_list", M))
    def generate_surrogate_key(a):
        fields = _list(a["field_list"], "field_list") or _fail("generate_surrogate_key() needs at least one field")
        parts: list[exp.Expression] = []
        for index, name in enumerate(fields):
            if index:
                parts.append(exp.Literal.string("-"))
            as_text = exp.Cast(this=s.expr(name, "field_list"), to=exp.DataType.build("text"))
            parts.append(exp.Coalesce(this=as_text, expressions=[exp.Literal.string(NULL_KEY)]))
        node = parts[0]
        for part in parts[1:]:
            node = exp.DPipe(this=node, expression=part)
        return text(exp.MD5(this=exp.Cast(this=node, to=exp.DataType.build("text"))))

    @_macro("dbt_utils.star", ("from", M), ("relation_alias", False), ("except", []), ("prefix", ""), ("suffix", ""),
            ("quote_identifiers", True))
    def star(a):
        excluded = [plain(str(c)).lower() for c in _list(a["except"], "except")]
        alias = plain(str(a["relation_alias"])) if a["relation_alias"] else None
        columns = s.columns(a["from"], "from")
        if columns is not None:
            kept = [c for c in columns if c.lower() not in excluded]
            if not kept:
                _fail("dbt_utils.star(): every column is excluded")
            nodes = []
            for column in kept:
                node = exp.column(_identifier(column, a["quote_identifiers"]), table=_identifier(alias) if alias else None)
                renamed = f"{plain(str(a['prefix']))}{column}{plain(str(a['suffix']))}"
                nodes.append(exp.alias_(node, _identifier(renamed, a["quote_identifiers"])) if renamed != column else node)
            return ", ".join(text(node) for node in nodes)
        if a["prefix"] or a["suffix"]:
            _fail(f"dbt_utils.star(prefix/suffix): the columns of {plain(str(a['from']))} are not known while rendering",
                  "prefix and suffix work for sources that declare their columns and for seeds")
        if excluded and not sqlglot.Dialect.get_or_raise(s.dialect).generator().STAR_EXCEPT:
            _fail(f"dbt_utils.star(except=...): the columns of {plain(str(a['from']))} are not known while rendering, "
                  f"and {s.dialect} has no SELECT * EXCLUDE", "list the columns")
        star_node = exp.Star(except_=[exp.column(_identifier(c, False)) for c in excluded]) if excluded else exp.Star()
        return text(exp.Column(this=star_node, table=_identifier(alias)) if alias else star_node)

    @_macro("dbt_utils.pivot", ("column", M), ("values", M), ("alias", True), ("agg", "sum"), ("cmp", "="), ("prefix", ""),
            ("suffix", ""), ("then_value", 1), ("else_value", 0), ("quote_identifiers", True), ("distinct", False))
    def pivot(a):
        agg = plain(str(a["agg"])).lower()
        if agg not in AGGREGATES:
            _fail(f"dbt_utils.pivot(agg='{agg}') is not an aggregate toolkit knows", f"one of {', '.join(AGGREGATES)}")
        cmp = plain(str(a["cmp"]))
        if cmp not in COMPARISONS:
            _fail(f"dbt_utils.pivot(cmp='{cmp}') is not a comparison", f"one of {' '.join(COMPARISONS)}")
        column = s.expr(a["column"], "column")
        nodes = []
        for value in _list(a["values"], "values"):
            raw = plain(value) if isinstance(value, str) else value
            case = exp.Case(ifs=[exp.If(this=COMPARISONS[cmp](this=column.copy(), expression=exp.convert(raw)),
                                        true=s.expr(a["then_value"], "then_value"))],
                            default=s.expr(a["else_value"], "else_value"))
            aggregate = exp.func(agg, exp.Distinct(expressions=[case]) if a["distinct"] else case)
            if a["alias"]:
                name = f"{plain(str(a['prefix']))}{raw}{plain(str(a['suffix']))}"
                aggregate = exp.alias_(aggregate, _identifier(name, a["quote_identifiers"]))
            nodes.append(aggregate)
        return ",\n  ".join(text(node) for node in nodes)

    def _known(relation: Any, what: str, function: str) -> dict[str, str | None]:
        columns = s.columns(relation, what)
        if columns is None:
            _fail(f"dbt_utils.{function}(): the columns of {plain(str(relation))} are not known while rendering",
                  "it works on sources that declare their columns and on seeds; for a step, write the SELECT out")
        return columns

    @_macro("dbt_utils.unpivot", ("relation", M), ("cast_to", "varchar"), ("exclude", []), ("remove", []),
            ("field_name", "field_name"), ("value_name", "value"), ("quote_identifiers", False))
    def unpivot(a):
        columns = _known(a["relation"], "relation", "unpivot")
        exclude = [plain(str(c)).lower() for c in _list(a["exclude"], "exclude")]
        remove = [plain(str(c)).lower() for c in _list(a["remove"], "remove")]
        kept = [c for c in columns if c.lower() in exclude]
        to = s.type(a["cast_to"], "cast_to")
        selects = []
        for column in columns:
            if column.lower() in exclude or column.lower() in remove:
                continue
            selects.append(exp.select(
                *[exp.column(_identifier(k)) for k in kept],
                exp.alias_(exp.Cast(this=exp.Literal.string(column), to=exp.DataType.build("text")), _identifier(plain(str(a["field_name"])))),
                exp.alias_(exp.Cast(this=exp.column(_identifier(column)), to=to.copy()), _identifier(plain(str(a["value_name"])))),
            ).from_(s.relation(a["relation"], "relation")))
        if not selects:
            _fail("dbt_utils.unpivot(): no column is left to unpivot")
        node = selects[0]
        for other in selects[1:]:
            node = exp.union(node, other, distinct=False)
        return text(node)

    @_macro("dbt_utils.union_relations", ("relations", M), ("column_override", None), ("include", []), ("exclude", []),
            ("source_column_name", "_dbt_source_relation"), ("where", None))
    def union_relations(a):
        relations = _list(a["relations"], "relations") or _fail("union_relations() needs at least one relation")
        if a["include"] and a["exclude"]:
            _fail("dbt_utils.union_relations(): give include or exclude, not both")
        include = [plain(str(c)).lower() for c in _list(a["include"], "include")]
        exclude = [plain(str(c)).lower() for c in _list(a["exclude"], "exclude")]
        found = [(plain(str(r)), _known(r, "relations", "union_relations")) for r in relations]
        overrides = {plain(str(k)).lower(): v for k, v in (a["column_override"] or {}).items()}
        union: dict[str, str] = {}
        for _, columns in found:
            for column in columns:
                union.setdefault(column.lower(), column)
        wanted = [c for c in union if (not include or c in include) and c not in exclude]
        selects = []
        for relation, columns in found:
            have = {c.lower(): c for c in columns}
            items: list[exp.Expression] = []
            if a["source_column_name"]:
                items.append(exp.alias_(exp.Literal.string(relation), _identifier(plain(str(a["source_column_name"])))))
            for column in wanted:
                value = exp.column(_identifier(have[column])) if column in have else exp.Null()
                to = s.type(overrides[column], "column_override") if column in overrides else _known_type(s, found, column)
                if to is not None and (column in overrides or column not in have):
                    value = exp.Cast(this=value, to=to)
                items.append(exp.alias_(value, _identifier(union[column])))
            select = exp.select(*items).from_(s.relation(relation, "relations"))
            if a["where"]:
                select = select.where(s.expr(a["where"], "where"))
            selects.append(select)
        node = selects[0]
        for other in selects[1:]:
            node = exp.union(node, other, distinct=False)
        return text(node)

    @_macro("dbt_utils.deduplicate", ("relation", M), ("partition_by", M), ("order_by", M))
    def deduplicate(a):
        relation = s.relation(a["relation"], "relation")
        if isinstance(a["partition_by"], VarText) or isinstance(a["order_by"], VarText):
            _fail("dbt_utils.deduplicate(): partition_by and order_by are SQL; a var() string cannot be one")
        try:
            window = sqlglot.parse_one(
                f"ROW_NUMBER() OVER (PARTITION BY {plain(str(a['partition_by']))} ORDER BY {plain(str(a['order_by']))})", read=s.dialect)
        except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as error:
            _fail(f"dbt_utils.deduplicate(): partition_by/order_by are not SQL ({_first_error(error)})")
        columns = s.columns(a["relation"], "relation")
        items = [exp.column(_identifier(c)) for c in columns] if columns else [exp.Star()]
        query = exp.select(*items).from_(relation).qualify(exp.EQ(this=window, expression=exp.Literal.number(1)))
        return text(query)

    @_macro("dbt_utils.date_spine", ("datepart", M), ("start_date", M), ("end_date", M))
    def date_spine(a):
        part = _part(a["datepart"])
        start, end = s.expr(a["start_date"], "start_date"), s.expr(a["end_date"], "end_date")
        name = _identifier(f"date_{part.name.lower()}", False)
        series = exp.Unnest(expressions=[exp.GenerateSeries(start=start, end=end.copy(), step=_interval(exp.Literal.number(1), part))])
        inner = exp.select(exp.alias_(series, name)).subquery("spine")
        query = exp.select(exp.column(name.copy())).from_(inner).where(exp.LT(this=exp.column(name.copy()), expression=end))
        return text(query)

    return {
        "generate_surrogate_key": generate_surrogate_key, "star": star, "pivot": pivot, "unpivot": unpivot,
        "union_relations": union_relations, "deduplicate": deduplicate, "date_spine": date_spine,
    }


def _known_type(s: _Sql, found: list, column: str) -> exp.DataType | None:
    """The declared type of `column` in the first relation that has one (a NULL standing for
    it elsewhere is cast to it); None: a bare NULL, which engines type from the other branches."""
    for _, columns in found:
        kind = next((t for c, t in columns.items() if c.lower() == column), None)
        if kind:
            return s.type(kind, "column type")
    return None

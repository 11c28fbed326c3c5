"""dbt generic tests (schema.yml `tests:` / `data_tests:`) as toolkit data tests.

A test toolkit has built in becomes a `tests` / `table_tests` entry of the step's
config() (or of the source in sources.toml); one that needs SQL toolkit has no built-in
for (not_null_proportion, equal_rowcount, a test with `where:`, ...) becomes a custom
test, features/tests/<name>.sql: a SELECT of the failing rows, as dbt compiles it.
dbt passes a row whose expression is NULL (`where not (expr)`), toolkit's expression
test fails it, so expressions are written `coalesce((expr), true)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF = re.compile(r"""^\s*(?:{{\s*)?ref\(\s*(['"])(\w+)\1(?:\s*,\s*(['"])(\w+)\3)?\s*\)(?:\s*}})?\s*$""")
_SOURCE = re.compile(r"""^\s*(?:{{\s*)?source\(\s*(['"])(\w+)\1\s*,\s*(['"])(\w+)\3\s*\)(?:\s*}})?\s*$""")
_CONFIG_KEYS = ("name", "severity", "where", "enabled", "tags", "limit", "warn_if", "error_if", "store_failures", "fail_calc",
                "meta", "store_failures_as", "alias", "schema", "database", "description")
_IGNORED_NOTES = {"limit", "warn_if", "error_if", "store_failures", "fail_calc", "store_failures_as"}


@dataclass
class Target:
    """What the tests are on: a model (`ref`) or a source table (`source`)."""

    kind: str  # "model" | "seed" | "source"
    name: str  # step or seed name, or source key "src.table"
    where: str  # file of the declaration, for the report
    columns: dict = field(default_factory=dict)  # column -> tests (toolkit form)
    table: list = field(default_factory=list)
    custom: list[tuple[str, str]] = field(default_factory=list)  # (test name, SQL)


@dataclass
class Context:
    report: Any
    relation: Callable[[str], str | None]  # dbt "ref('x')" / "source('a','b')" text -> toolkit name, None if unknown
    reads: Callable[[str, str], bool]  # whether step a reads step b (transitively)
    names: set[str] = field(default_factory=set)  # custom test names taken
    seeds: set[str] = field(default_factory=set)  # converted seeds
    severity: str = "error"  # dbt_project.yml `data_tests: +severity:`
    dialect: str = "duckdb"  # the models' SQL dialect, for quoted column names


def add_test(ctx: Context, target: Target, spec: Any, column: str | None, quote: bool = False) -> None:
    """Convert one dbt test declaration onto `target` (quote: the column's `quote: true`,
    so dbt's tests name it as a quoted identifier: only a custom SQL test can)."""
    name, args = _split(spec)
    if name is None:
        ctx.report.skip("test", repr(spec)[:60], target.where, "not a test declaration dbt reads")
        return
    config = dict(args.pop("config", None) or {})
    for key in _CONFIG_KEYS:
        if key in args:
            config.setdefault(key, args.pop(key))
    if isinstance(args.get("arguments"), dict):  # dbt 1.10: arguments nested
        args.update(args.pop("arguments"))
    if config.get("enabled") is False:
        return
    column = args.pop("column_name", column)
    named = _quoted(column, ctx.dialect) if quote and column else column  # the column as SQL
    severity = str(config.get("severity", ctx.severity)).lower()
    severity = "warn" if severity == "warn" else "error"
    for key in sorted(set(config) & _IGNORED_NOTES):
        ctx.report.skip("test config", key, target.where, "toolkit counts failing rows: a test fails at one (warn: records only)")
    short = name.split(".")[-1]
    handler = _HANDLERS.get(short) if name.split(".")[0] in ("dbt_utils", "dbt_expectations", short) else None
    if handler is None:
        ctx.report.skip("test", name, f"{target.where} ({target.name})", "toolkit has no such test; write it as a custom test in features/tests/")
        return
    where = config.get("where")
    try:
        outcome = handler(args, named, where is not None)
    except (KeyError, TypeError, ValueError) as error:
        ctx.report.skip("test", name, f"{target.where} ({target.name})", f"arguments not understood: {error}")
        return
    kind, body = outcome
    native = target.kind != "seed"  # seeds.toml holds no tests: a seed's are custom tests
    if kind == "relationships":
        parent = ctx.relation(str(body["to"]))
        if parent is None:
            ctx.report.skip("test", f"relationships to {body['to']}", target.where, "the parent is not a converted model, seed or source")
            return
        native = {"relationships": {"to": parent, "field": body["field"]}}
        if target.kind == "source" and "." not in parent:
            ctx.report.skip("test", f"relationships to {body['to']}", f"{target.where} ({target.name})",
                            "a source is tested before any step is built: its parent must be a source")
            return
        if where is None and native and (target.kind == "source" or not ctx.reads(parent, target.name)) and _IDENT.match(column or "") and not quote:
            kind, body = "column", native
        else:
            kind, body = "sql", _relationships_sql(named, parent, body["field"])
    if kind in ("column", "table") and where is None and native and (kind == "table" or (_IDENT.match(column or "") and not quote)):
        test = dict(body) if isinstance(body, dict) else body
        if severity == "warn":
            test = _with_severity(test)
        if kind == "column":
            target.columns.setdefault(column.lower(), []).append(test)
        else:
            target.table.append(test)
        ctx.report.count("data tests")
        return
    if kind in ("column", "table"):
        body = _native_sql(kind, body, named)
    if target.kind == "source":
        ctx.report.skip("test", name, f"{target.where} ({target.name})",
                        "needs a custom SQL test, and a custom test must read a step: sources take built-in tests only")
        return
    relation = "{{ ref('" + target.name + "') }}"
    if where is not None:
        relation = f"(select * from {relation} where {where})"
    test_name = _unique(ctx, f"{target.name}__{short}" + (f"__{column}" if column and _IDENT.match(column) else ""))
    header = "{{ config(severity='warn') }}\n" if severity == "warn" else ""
    sql = f"-- dbt test {name} on {target.name}" + (f".{column}" if column else "") + f" ({target.where})\n"
    target.custom.append((test_name, sql + header + body.replace("{model}", relation).replace("{column}", named or "") + "\n"))
    ctx.report.count("custom tests (from generic tests)")


def _quoted(column: str, dialect: str) -> str:
    from sqlglot import exp

    return exp.to_identifier(column, quoted=True).sql(dialect=dialect)


def _split(spec: Any) -> tuple[str | None, dict]:
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, dict) and "test_name" in spec:
        args = {k: v for k, v in spec.items() if k not in ("test_name", "name")}
        return str(spec["test_name"]), args
    if isinstance(spec, dict) and len(spec) == 1:
        name, args = next(iter(spec.items()))
        return str(name), dict(args) if isinstance(args, dict) else {}
    return None, {}


def _with_severity(test: Any) -> Any:
    if isinstance(test, str):
        return {test: {"severity": "warn"}}
    name, args = next(iter(test.items()))
    if not isinstance(args, dict):
        args = {{"accepted_values": "values", "unique": "columns", "expression": "expression"}[name]: args}
    return {name: {**args, "severity": "warn"}}


def _unique(ctx: Context, name: str) -> str:
    base = re.sub(r"\W", "_", name)[:120]
    candidate, n = base, 1
    while candidate.lower() in ctx.names:
        n += 1
        candidate = f"{base}_{n}"
    ctx.names.add(candidate.lower())
    return candidate


def literal(value: Any, quote: bool = True) -> str:
    """A SQL literal for a YAML value (quote=False: dbt's `quote: false`, the value is SQL)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) or not quote:
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _expression(text: str) -> str:
    return f"coalesce(({text}), true)"


# -- one handler per dbt test: (kind, body); kinds column/table (toolkit built-ins), sql, relationships


def _not_null(args, column, where):
    return "column", "not_null"


def _unique_test(args, column, where):
    return "column", "unique"


def _accepted_values(args, column, where):
    values = args["values"]
    if not isinstance(values, list) or not values:
        raise ValueError("values must be a non-empty list")
    if args.get("quote", True) is False:
        if any(isinstance(v, str) for v in values):
            return "sql", "select * from {model} as t where {column} is not null and {column} not in (" + ", ".join(literal(v, False) for v in values) + ")"
        return "column", {"accepted_values": values}
    # dbt quotes each value as it renders ('{{ value }}'): 1 is '1' (so '01' fails on a text
    # column), a YAML null is 'None', true is 'True'.
    return "column", {"accepted_values": [_rendered(v) for v in values]}


def _rendered(value: Any) -> str:
    """A YAML value as dbt's Jinja renders it: Python's str()."""
    return str(value)


def _relationships(args, column, where):
    return "relationships", {"to": args["to"], "field": args["field"]}


def _expression_is_true(args, column, where):
    text = str(args["expression"])
    return "table", {"expression": _expression(f"{column} {text}" if column else text)}


def _unique_combination(args, column, where, ignore_row_if=None):
    """dbt_utils groups by the columns, so rows with NULL keys are one group and can fail;
    toolkit's `unique: [a, b]` skips any row with a NULL key: written as dbt_utils' query.
    dbt_expectations leaves out rows whose columns are all (or any) NULL: `ignore_row_if`."""
    columns = args["combination_of_columns"]
    if not isinstance(columns, list) or not columns:
        raise ValueError("combination_of_columns must be a non-empty list")
    keys = ", ".join(_sql_expression(c) for c in columns)
    rows = "{model} as t"
    nulls = [f"{_sql_expression(c)} is null" for c in columns]
    if ignore_row_if == "all_values_are_missing":
        rows += " where not (" + " and ".join(nulls) + ")"
    elif ignore_row_if == "any_value_is_missing":
        rows += " where not (" + " or ".join(nulls) + ")"
    elif ignore_row_if is not None:
        raise ValueError(f"ignore_row_if {ignore_row_if!r}")
    return "sql", f"select {keys}, count(*) as occurrences from {rows} group by {keys} having count(*) > 1"


def _sql_expression(text: Any) -> str:
    """A column argument dbt pastes as SQL: parsed as one expression and generated by sqlglot."""
    import sqlglot

    try:
        node = sqlglot.parse_one(str(text))
    except sqlglot.errors.SqlglotError:
        raise ValueError(f"{text!r} is not a SQL expression") from None
    if isinstance(node, (sqlglot.exp.Query, sqlglot.exp.DDL, sqlglot.exp.DML, sqlglot.exp.Command)):
        raise ValueError(f"{text!r} is not a SQL expression")
    return node.sql()


def _accepted_range(args, column, where):
    low, high = args.get("min_value"), args.get("max_value")
    if low is None and high is None:
        raise ValueError("min_value or max_value is needed")
    inclusive = args.get("inclusive", True)
    if inclusive and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in (low, high)):
        return "column", {"between": {k: v for k, v in (("min", low), ("max", high)) if v is not None}}
    ops = (">=", "<=") if inclusive else (">", "<")
    parts = [f"{column} {op} {value}" for op, value in zip(ops, (low, high)) if value is not None]
    return "table", {"expression": _expression(" and ".join(parts))}


def _not_accepted_values(args, column, where):
    quote = args.get("quote", True)
    values = ", ".join(literal(_rendered(v) if quote else v, quote) for v in args["values"])
    return "table", {"expression": _expression(f"{column} not in ({values})")}


def _not_empty_string(args, column, where):
    value = f"trim({column})" if args.get("trim_whitespace", True) else column
    return "table", {"expression": _expression(f"{value} <> ''")}


def _not_null_proportion(args, column, where):
    low, high = float(args["at_least"]), float(args.get("at_most", 1.0))
    return "sql", ("select * from (select sum(case when {column} is not null then 1 else 0 end) * 1.0 / count(*) as not_null_proportion"
                   " from {model} as t) as p where not_null_proportion < " + repr(low) + " or not_null_proportion > " + repr(high))


def _at_least_one(args, column, where):
    return "sql", "select * from (select count({column}) as filled from {model} as t) as c where filled = 0"


def _not_constant(args, column, where):
    return "sql", "select * from (select count(distinct {column}) as distinct_values from {model} as t) as c where distinct_values <= 1"


def _recency(args, column, where):
    unit, interval = str(args["datepart"]).lower(), int(args["interval"])
    return "table", {"freshness": {"column": args["field"], "max_age": f"{interval} {unit}"}}


def _compare_counts(op):
    def handler(args, column, where):
        other = args["compare_model"]
        return "sql", ("select * from (select count(*) as n from {model} as t) as a cross join (select count(*) as m from "
                       + _relation_text(other) + " as o) as b where n " + op + " m")
    return handler


def _equality(args, column, where):
    other = _relation_text(args["compare_model"])
    columns = ", ".join(args.get("compare_columns") or []) or "*"
    return "sql", (f"(select {columns} from {{model}} as t except select {columns} from {other} as o) union all "
                   f"(select {columns} from {other} as o except select {columns} from {{model}} as t)")


def _relation_text(text: str) -> str:
    if _REF.match(str(text)) or _SOURCE.match(str(text)):
        return "{{ " + str(text).strip().removeprefix("{{").removesuffix("}}").strip() + " }}"
    raise ValueError(f"compare_model {text!r} is not ref() or source()")


def _row_count_between(args, column, where):
    bounds = {k: args[d] for k, d in (("min", "min_value"), ("max", "max_value")) if args.get(d) is not None}
    return "table", {"row_count": bounds}


def _values_between(args, column, where):
    return _accepted_range({"min_value": args.get("min_value"), "max_value": args.get("max_value"),
                            "inclusive": not args.get("strictly", False)}, column, where)


_HANDLERS = {
    "not_null": _not_null, "unique": _unique_test, "accepted_values": _accepted_values, "relationships": _relationships,
    "expression_is_true": _expression_is_true, "unique_combination_of_columns": _unique_combination,
    "accepted_range": _accepted_range, "not_accepted_values": _not_accepted_values, "not_empty_string": _not_empty_string,
    "not_null_proportion": _not_null_proportion, "at_least_one": _at_least_one, "not_constant": _not_constant,
    "recency": _recency, "equal_rowcount": _compare_counts("<>"), "fewer_rows_than": _compare_counts(">"),
    "equality": _equality,
    # dbt_expectations' most used, where they mean the same
    "expect_column_values_to_not_be_null": _not_null, "expect_column_values_to_be_unique": _unique_test,
    "expect_column_values_to_be_in_set": lambda a, c, w: _accepted_values({"values": a["value_set"], "quote": a.get("quote_values", True)}, c, w),
    "expect_column_values_to_be_between": _values_between, "expect_table_row_count_to_be_between": _row_count_between,
    "expect_compound_columns_to_be_unique": lambda a, c, w: _unique_combination(
        {"combination_of_columns": a["column_list"]}, c, w, a.get("ignore_row_if", "all_values_are_missing")),
}


def _native_sql(kind: str, body: Any, column: str | None) -> str:
    """A built-in test as the SELECT dbt runs (for a `where:` or a column that is an expression)."""
    name, args = (body, {}) if isinstance(body, str) else next(iter(body.items()))
    if name == "not_null":
        return "select * from {model} as t where {column} is null"
    if name == "unique":
        keys = ", ".join(args) if isinstance(args, list) else "{column}"
        return f"select {keys}, count(*) as occurrences from {{model}} as t group by {keys} having count(*) > 1"
    if name == "accepted_values":  # a None (NULL) only accepts NULL rows, which pass anyway
        values = ", ".join(literal(v) for v in args if v is not None)
        return "select * from {model} as t where {column} is not null" + (f" and {{column}} not in ({values})" if values else "")
    if name == "between":
        parts = [f"{{column}} {op} {args[k]}" for k, op in (("min", "<"), ("max", ">")) if k in args]
        return "select * from {model} as t where " + " or ".join(parts)
    if name == "expression":
        return "select * from {model} as t where not " + args
    if name == "row_count":
        parts = [f"n {op} {args[k]}" for k, op in (("min", "<"), ("max", ">")) if k in args]
        return "select * from (select count(*) as n from {model} as t) as c where " + " or ".join(parts)
    if name == "freshness":
        raise ValueError("recency with where: is not supported")
    raise ValueError(name)


def _relationships_sql(column: str | None, parent: str, field: str) -> str:
    parent_text = "{{ source('" + "', '".join(parent.split(".", 1)) + "') }}" if "." in parent else "{{ ref('" + parent + "') }}"
    return ("select t.* from {model} as t left join " + parent_text + f" as p on t.{{column}} = p.{field} "
            f"where t.{{column}} is not null and p.{field} is null")


def relation_name(text: str, models: set[str], sources: dict[tuple[str, str], str]) -> str | None:
    """toolkit's name for a dbt "ref('x')" / "source('a', 'b')" text, if it was converted."""
    ref = _REF.match(text)
    if ref:
        name = ref.group(4) or ref.group(2)
        return name if name in models else None
    source = _SOURCE.match(text)
    if source:
        return sources.get((source.group(2), source.group(4)))
    return None

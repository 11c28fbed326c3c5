"""Fixture tables in an in-memory DuckDB, built as syntax trees from TOML values.

Every statement is a sqlglot expression whose values are literals; it is
generated through `sql.to_target` from the project's dialect, so table and column
names are normalized the way the step's compiled SQL names them (UPPERCASE for
Snowflake, lowercase for PostgreSQL) and quoted by the generator.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from typing import Any

from sqlglot import exp

from toolkit import sql
from toolkit.compiler import CompiledProject
from toolkit.unittests.spec import Given, UnitTest, column_order

Columns = dict[str, exp.DataType | None]  # lowercased name -> type (None: unknown)


def connect(time_zone: str = "UTC"):
    """A fresh in-memory DuckDB that never reads Python variables as tables, in the
    project's time zone (what its runs use)."""
    import duckdb

    con = duckdb.connect()
    con.execute("set python_enable_replacements = false")
    con.execute(f"set TimeZone = {exp.Literal.string(time_zone).sql(dialect='duckdb')}")
    # The rows come from the test's fixtures only: no file, extension or URL is readable,
    # whatever a step that the guard let through (allowed_functions) would call.
    con.execute("set enable_external_access = false")
    return con


class Schemas:
    """Column names and DuckDB types of the relations tested steps read and write.

    Found by building the sources and seeds as empty tables (declared types) and
    the steps as views over them in a scratch in-memory DuckDB. A step that cannot
    be built there falls back to its compiled column names with unknown types.
    """

    def __init__(self, compiled: CompiledProject, steps: set[str]):
        self.compiled = compiled
        self.found: dict[str, Columns | None] = {}
        needed = set(steps).union(*(compiled.dag.ancestors(s) for s in steps))
        con = connect(compiled.project.config.time_zone)
        try:
            for key, source in compiled.project.sources.items():
                self.found[key] = {c: parse_type(t, compiled.dialect) for c, t in source.columns.items()}
                relation = exp.table_(exp.to_identifier(source.table), db=exp.to_identifier(source.schema))
                if all(self.found[key].values()):
                    self._build(con, key, create_table(relation, self.found[key]))
            for name in [n for n in compiled.dag.order() if n in needed]:
                step = compiled.steps[name]
                if step.kind == "seed":
                    self.found[name] = self._seed_types(con, name)
                    self._build(con, name, create_table(step.relation, self.found[name]))
                else:
                    self.found[name] = {c: None for c in step.columns} if step.columns is not None else None
                    self._build(con, name, exp.Create(this=step.relation.copy(), kind="VIEW", expression=step.tree.copy()))
        finally:
            con.close()

    def columns(self, key: str) -> Columns | None:
        return self.found.get(key)

    def _seed_types(self, con, name: str) -> Columns:
        from toolkit.seeds import read_seed

        con.register("__toolkit_seed", read_seed(self.compiled.project.seeds[name], self.compiled.project.root).slice(0, 0))
        try:
            return {row[0].lower(): parse_type(row[1], "duckdb") for row in con.execute("describe __toolkit_seed").fetchall()}
        finally:
            con.unregister("__toolkit_seed")

    def _build(self, con, key: str, create: exp.Create) -> None:
        import duckdb

        relation = create.this.this if isinstance(create.this, exp.Schema) else create.this
        try:
            con.execute(sql.to_target(create_schema(relation), self.compiled.dialect, "duckdb"))
            con.execute(sql.to_target(postgres_meanings(con, create, self.compiled.dialect), self.compiled.dialect, "duckdb"))
            rows = con.execute(sql.to_target(exp.Describe(this=relation.copy()), self.compiled.dialect, "duckdb")).fetchall()
        except (duckdb.Error, sql.SqlError):
            return  # e.g. a function DuckDB lacks: keep what compiling found
        self.found[key] = {row[0].lower(): parse_type(row[1], "duckdb") for row in rows}


def postgres_meanings(con, statement: exp.Expression, dialect: str) -> exp.Expression:
    """`statement` with PostgreSQL's integer division and rounding kept on DuckDB, for a
    project written for PostgreSQL (pgdialectmeanings.py), typed from the tables in `con`."""
    from toolkit import pgdialectmeanings

    if dialect != "postgres" or not pgdialectmeanings.needs_typing(statement):
        return statement

    def columns(table: exp.Table) -> dict[str, str] | None:
        query = exp.select("column_name", "data_type").from_("information_schema.columns").where(
            exp.column("table_schema").eq(exp.Literal.string(table.db)),
            exp.column("table_name").eq(exp.Literal.string(table.name))).order_by("ordinal_position")
        return dict(con.execute(query.sql(dialect="duckdb")).fetchall()) or None
    return pgdialectmeanings.repair(statement, columns)


def load_given(con, dialect: str, given: Given, known: Columns | None, test: UnitTest) -> None:
    """Create `given.relation` with every known column (NULL where the rows leave one out) and insert the rows."""
    import duckdb

    columns = dict(known or {})
    columns.update({c: None for c in column_order(given.rows) if c not in columns})
    for column, kind in columns.items():
        if kind is None:
            columns[column] = _infer_type(test, given, column)
    statements = [create_schema(given.relation), create_table(given.relation, columns)]
    for row in given.rows:  # DuckDB casts a list to its text: ['DE'] became the string "['DE']"
        for column, value in row.items():
            if isinstance(value, list) and not columns[column].is_type(exp.DataType.Type.ARRAY, exp.DataType.Type.LIST):
                raise test.fail(f"the rows given for '{given.key}': column {column} is {columns[column].sql('duckdb')}, "
                                f"not a list: {value!r}", given.line)
    if given.rows:
        values = [exp.Tuple(expressions=[_literal(row.get(c), columns[c]) for c in columns]) for row in given.rows]
        statements.append(exp.insert(exp.Values(expressions=values), given.relation.copy(), columns=list(columns)))
    for statement in statements:
        try:
            con.execute(sql.to_target(statement, dialect, "duckdb"))
        except duckdb.Error as error:
            first = str(error).strip().splitlines()[0]  # not DuckDB's LINE 1 ... ^^^ block
            raise test.fail(f"cannot load the rows given for '{given.key}': {first}", given.line) from None


def cast_expected(con, rows: list[dict[str, Any]], types: dict[str, str]) -> list[dict[str, Any]]:
    """Expected rows with each value cast to its output column's DuckDB type, as dbt does;
    numbers against numeric columns, dates and ISO text against temporal columns, and
    lists are left to compare by value (compare.py), and keep showing as written."""
    casts: dict[tuple[int, str], exp.Expression] = {}
    for index, row in enumerate(rows):
        for column, value in row.items():
            kind = parse_type(types[column], "duckdb") if column in types else None
            if value is None or kind is None or isinstance(value, list):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and kind.is_type(*exp.DataType.NUMERIC_TYPES):
                continue
            if isinstance(value, str) and kind.is_type(*exp.DataType.TEXT_TYPES):
                continue
            if isinstance(value, (str, date, time)) and kind.is_type(*exp.DataType.TEMPORAL_TYPES):
                continue  # compare.same reads ISO text and compares dates with timestamps already
            casts[(index, column)] = exp.Cast(this=_plain_literal(value), to=kind)
    if not casts:
        return rows
    query = exp.select(*[node.as_(f"c{n}") for n, node in enumerate(casts.values())])
    values = con.sql(query.sql(dialect="duckdb")).to_arrow_table().to_pylist()[0]
    result = [dict(row) for row in rows]
    for n, (index, column) in enumerate(casts):
        result[index][column] = values[f"c{n}"]
    return result


def create_schema(relation: exp.Table) -> exp.Create:
    return exp.Create(this=exp.Table(db=relation.args["db"].copy()), kind="SCHEMA", exists=True)


def create_table(relation: exp.Table, columns: Columns) -> exp.Create:
    definitions = [exp.ColumnDef(this=exp.to_identifier(c), kind=t.copy()) for c, t in columns.items()]
    return exp.Create(this=exp.Schema(this=relation.copy(), expressions=definitions), kind="TABLE")


def parse_type(text: str, dialect: str) -> exp.DataType | None:
    for read in dict.fromkeys((dialect, "duckdb")):
        try:
            return exp.DataType.build(text, dialect=read)
        except Exception:  # sqlglot raises ParseError or ValueError for a type it cannot read
            continue
    return None


def _literal(value: Any, kind: exp.DataType) -> exp.Expression:
    """CAST(<literal> AS kind) for a TOML value, or NULL."""
    return exp.Null() if value is None else exp.Cast(this=_plain_literal(value), to=kind.copy())


def _plain_literal(value: Any) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):  # nan and inf as strings: CAST('nan' AS DOUBLE)
        return exp.Literal.number(repr(value)) if math.isfinite(value) else exp.Literal.string(str(value))
    if isinstance(value, datetime):
        return exp.Literal.string(value.isoformat(sep=" "))
    if isinstance(value, (date, time)):
        return exp.Literal.string(value.isoformat())
    if isinstance(value, list):
        return exp.Array(expressions=[exp.Null() if v is None else _plain_literal(v) for v in value])
    return exp.Literal.string(str(value))


_TYPES = ((bool, "BOOLEAN"), (int, "BIGINT"), (float, "DOUBLE"), (str, "VARCHAR"), (datetime, "TIMESTAMP"), (date, "DATE"), (time, "TIME"))


def _infer_type(test: UnitTest, given: Given, column: str) -> exp.DataType:
    """The type of a column whose input type is unknown, from its values (VARCHAR when all are NULL)."""
    kinds = {_type_name(row[column]) for row in given.rows if row.get(column) is not None}
    if kinds == {"BIGINT", "DOUBLE"}:
        kinds = {"DOUBLE"}
    if len(kinds) > 1:
        raise test.fail(f"column '{column}' of '{given.key}' mixes {' and '.join(sorted(kinds))} values", test.key_line(column, given.line))
    return exp.DataType.build(kinds.pop() if kinds else "VARCHAR", dialect="duckdb")


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        inner = {_type_name(v) for v in value if v is not None}
        return f"{inner.pop() if len(inner) == 1 else 'VARCHAR'}[]"
    if isinstance(value, datetime) and value.tzinfo is not None:
        return "TIMESTAMPTZ"
    return next(name for kind, name in _TYPES if isinstance(value, kind))

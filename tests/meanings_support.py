"""One small table evaluated on DuckDB (the reference), Spark and PostgreSQL, for the
meaning tests (tests/test_spark_meanings.py, tests/test_meanings_more.py).

A test module names its table's schema, columns and types as SCHEMA, ROWS ({column:
values}) and TYPES ({column: arrow type}), and imports the fixtures, which read them:

    from meanings_support import duck, postgres, query, reference, same, spark  # noqa: F401

`duck` is a DuckDB connection holding SCHEMA.m; `spark` the process's shared embedded
Spark (spark_support) and `postgres` a PostgreSQL engine (TOOLKIT_TEST_POSTGRES_URL),
each with SCHEMA.m loaded. Queries run through each engine's own generate(): the path a
step's SQL takes when it runs.
"""

from __future__ import annotations

import math
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from postgres_support import SERVER_URL
from spark_support import SKIP_REASON, shared_engine


def table(module) -> pa.Table:
    """The module's ROWS as an arrow table of its TYPES."""
    return pa.table({name: pa.array(values, module.TYPES[name]) for name, values in module.ROWS.items()})


def query(schema: str, expression: str) -> exp.Expression:
    """`select k, <expression> as v from <schema>.m order by k`, read as DuckDB's SQL."""
    return sqlglot.parse_one(f"select k, {expression} as v from {schema}.m order by k", read="duckdb")


def reference(duck, schema: str, expression: str) -> list[tuple]:
    """The rows DuckDB computes: what every target must compute."""
    return duck.execute(query(schema, expression).sql("duckdb")).fetchall()


def _plain(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    return value


def _number(text: str):
    """PostgreSQL's NUMERIC (EXTRACT) can read as text: its float when it is one."""
    try:
        return float(text)
    except ValueError:
        return text


def same(got: list[tuple], want: list[tuple], rel_tol: float = 1e-15, abs_tol: float = 0.0) -> bool:
    """Equal (k, v) rows; floats within the tolerances (the default tells a decimal's
    0.333333 from DuckDB's double)."""
    if len(got) != len(want):
        return False
    for (_, a), (_, b) in zip(got, want):
        a, b = _plain(a), _plain(b)
        if isinstance(a, str) and isinstance(b, float):
            a = _number(a)
        if isinstance(a, float) and isinstance(b, float):
            if not math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol):
                return False
        elif a != b:
            return False
    return True


def assert_refused_at_line(schema: str, expression: str, targets: list[str], message: str) -> None:
    """`expression`, on the second line of a step, is refused at compile for each target,
    with `message` in the error and the error pointing at line 2."""
    from toolkit import portability

    text = f"select k,\n  {expression} as v\nfrom {schema}.m\n"
    tree = sqlglot.parse_one(text, read="duckdb")
    for target in targets:
        with pytest.raises(portability.Untranslatable) as caught:
            portability.check(tree, "duckdb", target, None, text)
        assert message in caught.value.message, caught.value.message
        assert caught.value.line == 2, (target, caught.value.message)


def _load(engine, module) -> None:
    engine.create_schema(module.SCHEMA)
    name = exp.table_("m", db=module.SCHEMA)
    engine.drop(name)
    engine.create_table_from_arrow(name, table(module))


@pytest.fixture(scope="module")
def duck(request):
    module = request.module
    connection = duckdb.connect()
    connection.execute(f"create schema {module.SCHEMA}")
    data = table(module)  # noqa: F841 (read by name below)
    connection.execute(f"create table {module.SCHEMA}.m as select * from data")
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def spark(request):
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)
    engine = shared_engine()
    try:
        _load(engine, request.module)
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="module")
def postgres(request, tmp_path_factory):
    if not SERVER_URL:
        pytest.skip("TOOLKIT_TEST_POSTGRES_URL is not set: no PostgreSQL server to test against")
    from toolkit.config import Target
    from toolkit.engines import connect

    engine = connect(Target("meanings", "postgres", {"url": SERVER_URL}), tmp_path_factory.mktemp("pg"), exclusive=False)
    try:
        _load(engine, request.module)
        yield engine
    finally:
        engine.execute(f"drop schema if exists {request.module.SCHEMA} cascade")
        engine.close()

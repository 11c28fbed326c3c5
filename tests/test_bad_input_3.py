"""Bad input found late (exit 1 at run time, or a silent choice) that is now refused at
compile time with exit 2 and one line naming file and line; and the valid SQL next to
each mistake, which must still run. DuckDB, and PostgreSQL where the engine matters
(skipped, saying why, without TOOLKIT_TEST_POSTGRES_URL)."""

from __future__ import annotations

import json

import pytest
from _projects import cli, make_project, run
from postgres_support import pg_url  # noqa: F401 (a fixture)
from test_environments import PG_CONFIG

pytestmark = pytest.mark.slow  # end-to-end runs


@pytest.fixture(params=["duckdb", "postgres"])
def engine_project(request, tmp_path, monkeypatch):
    """project(files) -> root of a project with `files`, on DuckDB or PostgreSQL."""

    def project(files: dict[str, str]):
        if request.param == "duckdb":
            return make_project(tmp_path / "proj", files)
        monkeypatch.setenv("TOOLKIT_ENVS_PG_URL", request.getfixturevalue("pg_url"))
        return make_project(tmp_path / "proj", {**files, "toolkit.toml": PG_CONFIG})

    project.engine = request.param
    return project


def error_message(result) -> str:
    return json.loads(result.err)["message"]  # run() logs JSON


def assert_refused(result, where: str, *phrases: str) -> None:
    assert result.code == 2, result
    assert "Traceback" not in result.out + result.err, result
    assert result.err.strip().count("\n") == 0, result
    message = error_message(result)
    assert message.startswith(where), result
    for phrase in phrases:
        assert phrase in message, result


# -- an ambiguous column in HAVING or QUALIFY -----------------------------------------------

TWO_TABLES = {
    "features/left_side.sql": "select 1 as id, 2 as x\n",
    "features/right_side.sql": "select 1 as id, 3 as y, 5 as x\n",
}
ON = "from {{ ref('left_side') }} as a join {{ ref('right_side') }} as b on a.id = b.id\n"
USING = "from {{ ref('left_side') }} as a left join {{ ref('right_side') }} as b using (id)\n"


@pytest.mark.parametrize("text, where", [
    (f"select a.x, count(*) as n\n{ON}group by a.x\nhaving max(id) > 0\n", "features/q.sql:4:12"),
    (f"select a.x\n{ON}qualify row_number() over (partition by id order by a.x) = 1\n", "features/q.sql:3:41"),
    (f"select a.x\n{ON}qualify max(id) over () > 0\n", "features/q.sql:3:13"),
], ids=["having", "qualify-partition-by", "qualify-argument"])
def test_an_ambiguous_column_in_having_or_qualify_is_refused_at_compile(engine_project, text, where):
    """It compiled, then the engine refused it (DuckDB: 'Ambiguous reference to column
    name "id"', exit 1): sqlglot neither qualifies nor checks HAVING and QUALIFY names."""
    root = engine_project({**TWO_TABLES, "features/q.sql": text})
    assert_refused(run(root), where, "column 'id' is ambiguous: a and b both have it", "qualify it with a table alias, e.g. a.id")


def test_the_message_is_the_one_where_and_group_by_give(tmp_path):
    """Same wording, position and hint as an ambiguous column of WHERE (checked before)."""
    results = {}
    for clause in ("where id > 0\ngroup by a.x", "group by a.x\nhaving max(id) > 0"):
        root = make_project(tmp_path / str(len(results)), {**TWO_TABLES, "features/q.sql": f"select a.x\n{ON}{clause}\n"})
        results[clause] = error_message(run(root)).split(": ", 1)[1]  # without file:line:col
    assert len(set(results.values())) == 1, results


@pytest.mark.parametrize("text", [
    f"select a.x, count(*) as n\n{ON}group by a.x\nhaving n > 0 and max(y) > 0\n",  # an output alias, a column one table has
    f"select a.x, row_number() over (partition by a.id order by b.y) as rn\n{ON}qualify rn = 1\n",
    f"select a.x as id\n{ON}order by id\n",  # ORDER BY an output alias
    f"select id, count(*) as n\n{USING}group by id\nhaving max(id) > 0\norder by id\n",
    f"select a.x\n{USING}qualify row_number() over (partition by id order by a.x) = 1\n",
    "select count(*) as n\nfrom {{ ref('left_side') }} as a natural join {{ ref('right_side') }} as b\nhaving max(id) > 0 and max(x) > 0\n",
    f"select count(*) as n\n{ON}having max(a.id) > 0 and list_count(list_filter([1, 2], id -> id > 1)) > 0\n",
], ids=["having-alias-and-one-table", "qualify-alias", "order-by-alias", "using-having-order-by", "using-qualify",
        "natural-having", "lambda-parameter"])
def test_valid_sql_next_to_it_still_runs(engine_project, text):
    """Not refused: output aliases, lambda parameters, and USING and NATURAL columns (one
    column each). The last failed before (exit 1): sqlglot rewrote the join to ON and
    left QUALIFY's or HAVING's `id` unqualified, which the engine then called ambiguous;
    the others ran before too and must keep running."""
    if "list_filter" in text and engine_project.engine == "postgres":
        pytest.skip("list_filter and lambdas are DuckDB's")
    root = engine_project({**TWO_TABLES, "features/q.sql": text})
    result = run(root)
    assert result.code == 0, result


# -- text that is no date, on a DATE or TIMESTAMP column --------------------------------------

DATED = ('{{ config(tests={"%s": [%s]}) }}\n'
         "select date '2024-06-01' as day, timestamp '2024-06-01 10:00:00' as ts\n")


@pytest.mark.parametrize("column, test, phrase", [
    ("day", '{"accepted_values": ["2024-06-01", "soon"]}', "accepted_values(day): 'soon' is not a date the warehouse reads"),
    ("ts", '{"accepted_values": ["2024-06-01 10:00:00", "None"]}', "accepted_values(ts): 'None' is not a date the warehouse reads"),
    ("ts", '{"accepted_values": ["2024-02-30"]}', "accepted_values(ts): '2024-02-30' is not a date the warehouse reads"),
    ("day", '{"accepted_values": [20240601]}', "accepted_values(day): 20240601 is a number, not a date"),
    ("day", '{"between": {"min": "2024-01-01", "max": "2024-W52"}}', "between(day): max '2024-W52' is not a date the warehouse reads"),
], ids=["date-soon", "timestamp-None", "no-such-day", "number", "between-week-date"])
def test_text_that_is_no_date_on_a_date_column_is_exit_2_at_the_test(engine_project, column, test, phrase):
    """The run failed (exit 1) with the engine's conversion error ('invalid date field
    format: "soon"'), naming no test."""
    if "W52" in test and engine_project.engine == "postgres":
        pytest.skip("text with digits in no ISO form is left to PostgreSQL, which reads many date styles (exit 1 there)")
    result = run(engine_project({"features/d.sql": DATED % (column, test)}))
    assert result.code == 2, result
    assert f"features/d.sql:1: tests: {phrase}" in result.out + result.err, result
    assert "Conversion Error" not in result.out + result.err and "Traceback" not in result.err, result


@pytest.mark.parametrize("column, test", [
    ("day", '{"accepted_values": ["2024-06-01", "2024-06-01 00:00:00", "infinity", "epoch"]}'),
    ("ts", '{"accepted_values": ["2024-06-01 10:00:00", "2024-06-01T10:00:00Z", "2024-06-01 10:00:00.000+00:00"]}'),
    ("day", '{"between": {"min": "2024-01-01", "max": "2024-12-31 23:59:59"}}'),
], ids=["dates", "timestamps", "between"])
def test_dates_the_warehouse_reads_still_pass(engine_project, column, test):
    result = run(engine_project({"features/d.sql": DATED % (column, test)}))
    assert result.code == 0, result


def test_other_date_styles_are_left_to_an_engine_that_reads_them(engine_project):
    """PostgreSQL reads '20240601' and 'Jun 1 2024' as dates; DuckDB reads ISO only."""
    result = run(engine_project({"features/d.sql": DATED % ("day", '{"accepted_values": ["20240601", "Jun 1 2024"]}')}))
    if engine_project.engine == "postgres":
        assert result.code == 0, result
    else:
        assert result.code == 2 and "'20240601' is not a date the warehouse reads" in result.out, result


def test_toolkit_test_refuses_text_that_is_no_date_as_a_run_does(tmp_path):
    root = make_project(tmp_path / "proj", {"features/d.sql": DATED % ("day", '{"accepted_values": ["2024-06-01"]}')})
    assert run(root).code == 0
    (root / "features/d.sql").write_text(DATED % ("day", '{"accepted_values": ["2024-06-01", "soon"]}'))
    result = cli("test", "-p", str(root))
    assert result.code == 2, result
    assert "features/d.sql:1: tests: accepted_values(day): 'soon' is not a date the warehouse reads" in result.out + result.err, result


# -- monitoring: a feature holding infinities, or values near the double's limits -------------


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request, tmp_path):
    from toolkit.config import Target
    from toolkit.engines import connect

    if request.param == "duckdb":
        target = Target("monitoring", "duckdb", {"path": "warehouse.duckdb"})
    else:
        target = Target("monitoring", "postgres", {"url": request.getfixturevalue("pg_url")})
    engine = connect(target, tmp_path, 5.0)
    engine.create_schema("m")
    yield engine
    engine.close()


def _table(engine, name: str, values: list[float]):
    import pyarrow as pa
    from sqlglot import exp

    table = exp.Table(this=exp.to_identifier(name, quoted=True), db=exp.to_identifier("m", quoted=True))
    engine.create_table_from_arrow(table, pa.table({"x": pa.array(values, type=pa.float64())}))
    return table


INF = float("inf")


def test_infinities_leave_the_edges_finite_and_count_as_out_of_range(engine):
    """percentile_cont over the infinities made an edge inf, or NaN between -inf and inf
    (both engines); the profile's JSON then held Infinity/NaN, which no JSON reader takes."""
    import math

    import numpy as np
    from toolkit import monitoring

    finite = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    baseline = monitoring.profile(engine, _table(engine, "tr", finite + [INF, INF, -INF, float("nan")]), [("x", "numeric")], bins=4)
    (feature,) = baseline.features
    assert feature.edges == sorted(set(np.quantile(finite, [0.25, 0.5, 0.75]).tolist()))  # the finite values' quantiles
    assert (feature.low, feature.high) == (1.0, 8.0)
    assert all(math.isfinite(e) for e in feature.edges)
    assert sum(feature.counts) == 11 and feature.counts[0] == 3 and feature.counts[-1] == 4  # -inf in the first bin, inf in the last
    assert "Infinity" not in baseline.to_json() and "NaN" not in baseline.to_json()
    got = {metric: value for _, metric, value in monitoring.drift(engine, _table(engine, "sc", finite + [INF, -INF]), baseline)}
    assert got["out_of_range"] == pytest.approx(2 / 10)  # the infinities are outside the finite training range


@pytest.mark.parametrize("bins, edges", [(2, [0.0]), (4, [-8.5e307, 0.0, 8.5e307])])
def test_values_near_the_limits_do_not_overflow_an_edge(engine, bins, edges):
    """PostgreSQL's interpolation a + (b - a) * f overflowed to Infinity between -1.7e308
    and 1.7e308 (DuckDB's did not)."""
    from toolkit import monitoring

    (feature,) = monitoring.profile(engine, _table(engine, "big", [-1.7e308, 1.7e308]), [("x", "numeric")], bins=bins).features
    assert feature.edges == pytest.approx(edges, rel=1e-15) and (feature.low, feature.high) == (-1.7e308, 1.7e308)


def test_a_feature_of_infinities_only_has_one_bin_and_no_range(engine):
    """Its edges were [inf, inf] (DuckDB and PostgreSQL); drift against it still runs."""
    from toolkit import monitoring

    baseline = monitoring.profile(engine, _table(engine, "inf", [INF, -INF, INF]), [("x", "numeric")], bins=4)
    (feature,) = baseline.features
    assert (feature.edges, feature.counts, feature.low, feature.high, feature.mean) == ([], [3], None, None, None)
    got = {metric: value for _, metric, value in monitoring.drift(engine, _table(engine, "sc", [1.0, INF]), baseline)}
    assert got["psi"] == 0.0 and "out_of_range" not in got


# -- PostgreSQL: (b).email, a field of a row, reads one column ---------------------------------

PG_DIALECT = 'name = "t"\ndialect = "postgres"\ntarget = "pg"\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'


def test_a_field_of_a_row_reads_only_that_column(tmp_path, pg_url):  # noqa: F811
    """`(b).n` was read as the whole row b: its lineage (and so its tags) named email too."""
    root = make_project(tmp_path / "p", {
        "toolkit.toml": PG_DIALECT.format(url=pg_url),
        "features/base.sql": "select id, email, 1 as n from (values (1, 'a@x'), (2, 'b@x')) t(id, email)\n",
        "features/d.sql": "select b.id, (b).n as m, row_to_json(b) as s from {{ ref('base') }} b\n",
    })
    assert run(root).code == 0
    field = cli("lineage", "d.m", "-p", str(root))
    assert field.code == 0 and "features.base.n" in field.out and "email" not in field.out, field
    whole = cli("lineage", "d.s", "-p", str(root))  # the whole row still reads every column
    assert "features.base.email" in whole.out, whole

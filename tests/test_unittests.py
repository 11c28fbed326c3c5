"""unittests.py: SQL unit tests (fixture rows in, expected rows out) on an in-memory
DuckDB, for projects written in DuckDB, Snowflake and PostgreSQL SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.compiler import compile_project
from toolkit.errors import ProjectError
from toolkit.unittests import format_results, run_unit_tests

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

REPOSITORY = Path(__file__).resolve().parents[1]


def config(dialect: str) -> str:
    return f"""\
        name = "unit"
        dialect = "{dialect}"

        [targets.dev]
        engine = "duckdb"
        path = "warehouse/unit.duckdb"
        """


SOURCES = """\
    [shop]
    [shop.tables.orders]
    columns = { order_id = "bigint", customer_id = "bigint", ordered_at = "timestamp", status = "varchar", amount = "double" }
    """

TOTALS = """\
    select customer_id, count(*) as orders, sum(amount) as revenue
    from {{ source("shop", "orders") }}
    where status <> 'cancelled'
    group by customer_id
    """

TOTALS_TEST = """\
    [[test]]
    name = "cancelled orders do not count"
    [test.given."shop.orders"]
    rows = [
        { order_id = 1, customer_id = 1, status = "completed", amount = 10.0 },
        { order_id = 2, customer_id = 1, status = "cancelled", amount = 5.0 },
        { order_id = 3, customer_id = 2, status = "completed", amount = 2.5 },
    ]
    [test.expect]
    rows = [ { customer_id = 2, orders = 1, revenue = 2.5 }, { customer_id = 1, orders = 1, revenue = 10.0 } ]
    """


def duckdb_project(make_project, tests: dict[str, str], steps: dict[str, str] | None = None, name: str = "project") -> Path:
    files = {"toolkit.toml": config("duckdb"), "warehouse/sources.toml": SOURCES, "features/totals.sql": TOTALS}
    return make_project({**files, **(steps or {}), **tests}, name=name)


def run(root: Path, select: set[str] | None = None):
    return run_unit_tests(compile_project(root), select)


# -- the demo project ---------------------------------------------------------------


def test_the_demo_projects_unit_tests_pass():
    results = run_unit_tests(compile_project(REPOSITORY))
    assert {r.step for r in results} >= {"customer_rfm", "customer_labels"}
    assert len(results) >= 5
    assert all(r.passed for r in results), format_results(results)


# -- passing and failing ------------------------------------------------------------


def test_a_passing_test_ignores_row_order_and_unnamed_columns(make_project):
    results = run(duckdb_project(make_project, {"features/totals.unit.toml": TOTALS_TEST}))
    assert [(r.step, r.test, r.passed, r.diff) for r in results] == [("totals", "cancelled orders do not count", True, "")]
    assert results[0].file == "features/totals.unit.toml" and results[0].line == 1 and results[0].seconds > 0


def test_a_wrong_expectation_fails_with_a_row_level_diff(make_project):
    wrong = TOTALS_TEST.replace("orders = 1, revenue = 10.0", "orders = 2, revenue = 15.0")
    [result] = run(duckdb_project(make_project, {"features/totals.unit.toml": wrong}))
    assert not result.passed
    lines = result.diff.splitlines()
    assert lines[0] == "expected 2 rows, got 2 rows"
    assert lines[2].split() == ["customer_id", "orders", "revenue"]
    assert lines[3].split() == ["-", "1", "2", "15.0"]
    assert lines[4].split() == ["+", "1", "1", "10.0"]
    assert len(lines) == 5  # the matching row is not shown
    text = format_results([result])
    assert text.splitlines()[0].startswith("FAIL totals: cancelled orders do not count")
    assert "features/totals.unit.toml:1" in text and text.endswith("0 passed, 1 failed in %.2fs" % result.seconds)


def test_missing_and_unexpected_rows_are_counted(make_project):
    fewer = TOTALS_TEST.replace("{ customer_id = 2, orders = 1, revenue = 2.5 }, ", "").replace(
        "revenue = 10.0 } ]", "revenue = 10.0 }, { customer_id = 3, orders = 1, revenue = 1.0 } ]"
    )
    [result] = run(duckdb_project(make_project, {"features/totals.unit.toml": fewer}))
    assert "missing from the output (1)" in result.diff and "not expected (1)" in result.diff
    assert any(line.split() == ["-", "3", "1", "1.0"] for line in result.diff.splitlines())
    assert any(line.split() == ["+", "2", "1", "2.5"] for line in result.diff.splitlines())


def test_order_matters_reports_the_first_differing_position(make_project):
    steps = {"features/ranked.sql": "select customer_id, amount from {{ source('shop', 'orders') }} order by amount desc"}
    test = """\
        [[test]]
        name = "largest first"
        order_matters = true
        [test.given."shop.orders"]
        rows = [ { customer_id = 1, amount = 1.0 }, { customer_id = 2, amount = 3.0 }, { customer_id = 3, amount = 2.0 } ]
        [test.expect]
        rows = [ { customer_id = 2 }, { customer_id = %s }, { customer_id = %s } ]
        """
    [good] = run(duckdb_project(make_project, {"features/ranked.unit.toml": test % (3, 1)}, steps))
    assert good.passed, good.diff
    [bad] = run(duckdb_project(make_project, {"features/ranked.unit.toml": test % (1, 3)}, steps, "bad"), {"ranked"})
    assert not bad.passed
    assert "order matters: first difference at row 2" in bad.diff
    assert "missing from the output" not in bad.diff  # same rows, another order


def test_floats_compare_within_the_documented_tolerance(make_project):
    steps = {"features/ratio.sql": "select 1.0 / 3 as third, 0.1 + 0.2 as sum, 1e300 * 10 as big from {{ source('shop', 'orders') }}"}
    test = """\
        [[test]]
        name = "floats"
        [test.given."shop.orders"]
        rows = [ {} ]
        [test.expect]
        rows = [ { third = %s, sum = 0.3, big = 1e301 } ]
        """
    [close] = run(duckdb_project(make_project, {"features/ratio.unit.toml": test % "0.3333333333333"}, steps))
    assert close.passed, close.diff
    [far] = run(duckdb_project(make_project, {"features/ratio.unit.toml": test % "0.3334"}, steps, "far"))
    assert not far.passed and "0.3334" in far.diff


def test_omitted_columns_are_null_with_the_declared_type(make_project):
    """returned_at is never given; it is still a TIMESTAMP, so comparing it with a date works."""
    steps = {
        "features/late.sql": """\
            select customer_id, count(ordered_at) as dated, max(ordered_at) as last_at,
                   count(case when ordered_at < date '2025-01-01' then 1 end) as early
            from {{ source('shop', 'orders') }} group by customer_id
            """,
    }
    test = """\
        [[test]]
        name = "null timestamps"
        [test.given."shop.orders"]
        rows = [ { customer_id = 1 }, { customer_id = 1, ordered_at = "2024-05-01 10:00:00" }, { customer_id = 2 } ]
        [test.expect]
        rows = [
            { customer_id = 1, dated = 1, last_at = 2024-05-01T10:00:00, early = 1 },
            { customer_id = 2, dated = 0, early = 0 },
        ]
        """
    [result] = run(duckdb_project(make_project, {"features/late.unit.toml": test}, steps))
    assert result.passed, result.diff


def test_upstream_steps_and_seeds_are_given_by_name(make_project):
    steps = {
        "features/enriched.sql": """\
            select t.customer_id, t.revenue, r.region
            from {{ ref('totals') }} as t join {{ ref('regions') }} as r on r.customer_id = t.customer_id
            """,
        "warehouse/seeds/regions.csv": "customer_id,region\n1,EU\n",
    }
    test = """\
        [[test]]
        name = "joins the seed"
        step = "enriched"
        [test.given.totals]
        rows = [ { customer_id = 1, revenue = 3 }, { customer_id = 2, revenue = 4 } ]
        [test.given.regions]
        rows = [ { customer_id = 1, region = "EU" } ]
        [test.expect]
        rows = [ { customer_id = 1, revenue = 3.0, region = "EU" } ]
        """
    results = run(duckdb_project(make_project, {"features/joins.unit.toml": test}, steps))
    assert [(r.step, r.passed) for r in results] == [("enriched", True)], format_results(results)


def test_select_runs_only_the_selected_steps(make_project):
    root = duckdb_project(make_project, {"features/totals.unit.toml": TOTALS_TEST})
    assert run(root, {"other"}) == []
    assert format_results([]).startswith("no unit tests selected")
    assert len(run(root, {"totals"})) == 1


def test_a_step_that_fails_on_duckdb_is_a_failed_test_not_a_crash(make_project):
    steps = {"features/broken.sql": "select cast(status as integer) as code from {{ source('shop', 'orders') }}"}
    test = """\
        [[test]]
        name = "bad cast"
        [test.given."shop.orders"]
        rows = [ { status = "not a number" } ]
        [test.expect]
        rows = []
        """
    [result] = run(duckdb_project(make_project, {"features/broken.unit.toml": test}, steps))
    assert not result.passed and result.diff.startswith("the step failed on DuckDB:")


def test_the_unit_test_database_reads_no_file_even_through_an_allowed_function(make_project, tmp_path):
    """Its rows come from the fixtures: a function the project allows (for its runs) gets
    no file here, and the file's contents never reach the diff."""
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t-from-outside", encoding="utf-8")
    steps = {"features/peek.sql": f"select o.order_id, f.content from {{{{ source('shop', 'orders') }}}} as o, "
                                  f"read_text('{secret.as_posix()}') as f"}
    test = """\
        [[test]]
        name = "peek"
        [test.given."shop.orders"]
        rows = [ { order_id = 1 } ]
        [test.expect]
        rows = [ { order_id = 1, content = "x" } ]
        """
    root = duckdb_project(make_project, {"features/peek.unit.toml": test}, steps)
    (root / "toolkit.toml").write_text('allowed_functions = ["read_text"]\n' + (root / "toolkit.toml").read_text())
    [result] = run(root, {"peek"})
    assert not result.passed and "s3cr3t" not in result.diff, result.diff
    assert "Permission Error" in result.diff, result.diff


# -- other dialects -------------------------------------------------------------------

SNOWFLAKE = {
    "toolkit.toml": config("snowflake"),
    "warehouse/sources.toml": """\
        [shop]
        schema = "raw_shop"
        [shop.tables.orders]
        columns = { order_id = "number(38,0)", customer_id = "number(38,0)", ordered_at = "timestamp_ntz", status = "varchar", amount = "float" }
        """,
    "features/last_order.sql": """\
        select customer_id, order_id, ordered_at::date as order_date,
               iff(status = 'cancelled', 0, amount) as paid,
               dateadd(day, 30, ordered_at::date) as follow_up,
               datediff(day, ordered_at, '2025-03-01'::timestamp_ntz) as age_days
        from {{ source("shop", "orders") }}
        qualify row_number() over (partition by customer_id order by ordered_at desc) = 1
        """,
    "features/paid_totals.sql": """\
        select customer_id, sum(paid)::number(10,2) as paid, zeroifnull(max(age_days)) as age_days
        from {{ ref("last_order") }} group by customer_id
        """,
}

SNOWFLAKE_TESTS = """\
    [[test]]
    name = "the latest order per customer; a cancelled one pays nothing"
    step = "last_order"
    [test.given."shop.orders"]
    rows = [
        { order_id = 1, customer_id = 1, ordered_at = 2025-01-01T10:00:00, status = "completed", amount = 10.5 },
        { order_id = 2, customer_id = 1, ordered_at = 2025-01-05T10:00:00, status = "cancelled", amount = 99.0 },
        { order_id = 3, customer_id = 2, ordered_at = 2025-02-01T08:00:00, status = "completed", amount = 3.25 },
    ]
    [test.expect]
    rows = [
        { customer_id = 1, order_id = 2, order_date = 2025-01-05, paid = 0, follow_up = 2025-02-04, age_days = 55 },
        { customer_id = 2, order_id = 3, order_date = 2025-02-01, paid = 3.25, follow_up = %s, age_days = 28 },
    ]

    [[test]]
    name = "totals read the upstream step"
    step = "paid_totals"
    [test.given.last_order]
    rows = [ { customer_id = 1, paid = 2.5 }, { customer_id = 1, paid = 1 }, { customer_id = 2 } ]
    [test.expect]
    rows = [ { customer_id = 1, paid = 3.5, age_days = 0 }, { customer_id = 2, age_days = 0 } ]
    """


def test_a_snowflake_project_is_unit_tested_on_duckdb(make_project):
    root = make_project({**SNOWFLAKE, "features/snowflake.unit.toml": SNOWFLAKE_TESTS % "2025-03-03"})
    results = run(root)
    assert [r.passed for r in results] == [True, True], format_results(results)


def test_a_wrong_snowflake_expectation_fails_with_a_readable_diff(make_project):
    root = make_project({**SNOWFLAKE, "features/snowflake.unit.toml": SNOWFLAKE_TESTS % "2025-03-02"})
    first, second = run(root)
    assert second.passed and not first.passed
    lines = first.diff.splitlines()
    assert lines[2].split() == ["customer_id", "order_id", "order_date", "paid", "follow_up", "age_days"]  # as written
    assert lines[3].split() == ["-", "2", "3", "2025-02-01", "3.25", "2025-03-02", "28"]
    assert lines[4].split()[:6] == ["+", "2", "3", "2025-02-01", "3.25", "2025-03-03"]


POSTGRES = {
    "toolkit.toml": config("postgres"),
    "warehouse/sources.toml": """\
        [app]
        [app.tables.events]
        columns = { user_id = "integer", happened_at = "timestamp", kind = "text", value = "numeric(12,2)" }
        """,
    "features/latest_event.sql": """\
        select distinct on (user_id)
               user_id, kind, value::float8 as value,
               happened_at::date + 7 as review_on,
               (happened_at + interval '2 days')::date as settle_on,
               ('2025-03-01'::date - happened_at::date) as age_days
        from {{ source("app", "events") }}
        where kind <> 'noise'
        order by user_id, happened_at desc
        """,
}

POSTGRES_TESTS = """\
    [[test]]
    name = "the latest event per user"
    step = "latest_event"
    order_matters = true
    [test.given."app.events"]
    rows = [
        { user_id = 1, happened_at = 2025-02-01T09:00:00, kind = "click", value = 1.5 },
        { user_id = 1, happened_at = 2025-02-03T09:00:00, kind = "buy", value = 20 },
        { user_id = 1, happened_at = 2025-02-04T09:00:00, kind = "noise", value = 0 },
        { user_id = 2, happened_at = 2025-02-27T23:00:00, kind = "click", value = 0.25 },
    ]
    [test.expect]
    rows = [
        { user_id = 1, kind = "buy", value = %s, review_on = 2025-02-10, settle_on = 2025-02-05, age_days = 26 },
        { user_id = 2, kind = "click", value = 0.25, review_on = 2025-03-06, settle_on = 2025-03-01, age_days = 2 },
    ]
    """


def test_a_postgres_project_is_unit_tested_on_duckdb(make_project):
    [result] = run(make_project({**POSTGRES, "features/latest_event.unit.toml": POSTGRES_TESTS % "20.0"}))
    assert result.passed, result.diff


def test_a_wrong_postgres_expectation_fails_with_a_readable_diff(make_project):
    [result] = run(make_project({**POSTGRES, "features/latest_event.unit.toml": POSTGRES_TESTS % "21.0"}))
    assert not result.passed
    assert "order matters: first difference at row 1" in result.diff
    assert any(line.split()[:4] == ["-", "1", "'buy'", "21.0"] for line in result.diff.splitlines())
    assert any(line.split()[:4] == ["+", "1", "'buy'", "20.0"] for line in result.diff.splitlines())


# -- mistakes in a unit-test file: ProjectError (exit 2) with file and line -----------

GOOD = TOTALS_TEST


@pytest.mark.parametrize(
    "text, message, line",
    [
        pytest.param(GOOD.replace('name = "cancelled', 'name = cancelled'), "invalid TOML", 2, id="toml-syntax"),
        pytest.param(
            GOOD.replace("amount = 10.0 },", "amount = 10.0,\n      status = 1 },"), "invalid TOML", 5, id="toml-multiline-inline-table"
        ),
        pytest.param("[[tests]]\nname = 'x'\n", "unknown key 'tests'", 1, id="unknown-top-key"),
        pytest.param(GOOD.replace('name = "cancelled orders do not count"\n', ""), "needs a name", 1, id="no-name"),
        pytest.param(GOOD.replace("count\"\n", "count\"\nordered = true\n"), "unknown key 'ordered'", 3, id="unknown-test-key"),
        pytest.param(GOOD.replace("[[test]]\n", '[[test]]\nstep = "totalz"\n'), "unknown step 'totalz'", 2, id="unknown-step"),
        pytest.param(GOOD.replace('"shop.orders"', '"shop.order"'), "unknown input 'shop.order'", 3, id="unknown-input"),
        pytest.param(
            GOOD.replace("[test.expect]", "[test.given.other]\nrows = []\n[test.expect]"), "does not read 'other'", 9, id="input-not-read"
        ),
        pytest.param(GOOD.replace('"shop.orders"]', "nothing]"), "unknown input 'nothing'", 3, id="unknown-bare-input"),
        pytest.param(GOOD.replace("status = \"completed\", amount = 10.0", "state = \"completed\", amount = 10.0"),
                     "'shop.orders' has no column 'state'", 5, id="unknown-given-column"),
        pytest.param(GOOD.replace("orders = 1, revenue = 2.5", "orderz = 1, revenue = 2.5"),
                     "expected column 'orderz' is not an output column of totals", 10, id="unknown-expected-column"),
        pytest.param(GOOD.replace("[test.expect]\n", "[test.expected]\n"), "unknown key 'expected'", 9, id="misspelt-expect"),
        pytest.param(GOOD.replace("rows = [ { customer_id = 2", "row = [ { customer_id = 2"), "expect must be a table", 9, id="expect-without-rows"),
        pytest.param(GOOD.replace("rows = [\n", "rows = 3\nx = [\n", 1), "must be a table holding only rows", 3, id="given-not-rows"),
        pytest.param(GOOD.replace("amount = 10.0 },", "amount = \"ten\" },"), "cannot load the rows given for 'shop.orders'", 3, id="bad-value-for-type"),
        pytest.param(GOOD.replace("amount = 10.0 },", "amount = { x = 1 } },"), "nested tables are not supported", 5, id="nested-value"),
    ],
)
def test_a_malformed_unit_test_file_is_a_project_error(make_project, text, message, line):
    root = duckdb_project(make_project, {"features/totals.unit.toml": text}, {"features/other.sql": "select 1 as x"})
    with pytest.raises(ProjectError) as caught:
        run(root)
    error = caught.value
    assert error.exit_code == 2
    assert message in error.message, str(error)
    assert (error.file, error.line) == ("features/totals.unit.toml", line), str(error)


def test_an_input_the_step_reads_must_be_given(make_project):
    text = """\
        [[test]]
        name = "forgot the orders"
        [test.expect]
        rows = []
        """
    with pytest.raises(ProjectError) as caught:
        run(duckdb_project(make_project, {"features/totals.unit.toml": text}))
    assert "no rows given for 'shop.orders', which totals reads" in str(caught.value)
    assert "rows = [] for an empty input" in str(caught.value)
    assert (caught.value.file, caught.value.line) == ("features/totals.unit.toml", 1)


@pytest.mark.parametrize("value, message", [
    ('["completed"]', "column status is TEXT, not a list: ['completed']"),
    ('"x"', "cannot load the rows given for 'shop.orders': Conversion Error"),
], ids=["a-list-for-a-text-column", "text-for-a-number-column"])
def test_given_rows_that_do_not_fit_their_columns_are_one_line_errors(make_project, value, message):
    """A list became its text ("['completed']"); a load error printed DuckDB's LINE 1 ... ^^^ block."""
    column = "status" if value.startswith("[") else "amount"
    text = f"""\
        [[test]]
        name = "misfit"
        [test.given."shop.orders"]
        rows = [ {{ order_id = 1, customer_id = 1, {column} = {value} }} ]
        [test.expect]
        rows = []
        """
    with pytest.raises(ProjectError) as caught:
        run(duckdb_project(make_project, {"features/totals.unit.toml": text}))
    assert message in str(caught.value) and "\n" not in str(caught.value), str(caught.value)
    assert (caught.value.file, caught.value.line) == ("features/totals.unit.toml", 3)


def test_a_file_not_named_after_a_step_must_name_it(make_project):
    root = duckdb_project(make_project, {"features/misc.unit.toml": GOOD})
    with pytest.raises(ProjectError, match=r'features/misc.unit.toml:1: .*step = "..."'):
        run(root)


def test_the_multiline_inline_table_mistake_gets_a_hint(make_project):
    text = GOOD.replace("amount = 10.0 },", "amount = 10.0,\n      status = 1 },")
    with pytest.raises(ProjectError) as caught:
        run(duckdb_project(make_project, {"features/totals.unit.toml": text}))
    assert "on one line" in caught.value.hint


def test_unit_test_files_are_not_steps(make_project):
    root = duckdb_project(make_project, {"features/totals.unit.toml": GOOD})
    assert set(compile_project(root).steps) == {"totals"}


def test_inputs_may_be_named_as_the_sql_names_them_and_timestamptz_compares(make_project):
    steps = {"features/stamped.sql": "select order_id, ordered_at::timestamptz as at_utc from shop.orders"}
    test = """\
        [[test]]
        name = "unquoted source name and an aware timestamp"
        [test.given.shop.orders]
        rows = [ { order_id = 1, ordered_at = 2025-01-01T10:00:00 } ]
        [test.expect]
        rows = [ { order_id = 1, at_utc = 2025-01-01T11:00:00+01:00 } ]
        """
    [result] = run(duckdb_project(make_project, {"features/stamped.unit.toml": test}, steps))
    assert result.passed, result.diff


def test_value_equality_rules():
    from datetime import date, datetime
    from decimal import Decimal

    from toolkit.unittests.compare import same

    assert same(1, Decimal("1")) and not same(1, Decimal("1.5")) and same(1.5, Decimal("1.5"))
    assert same(0, 0.0) and same(float("nan"), float("nan")) and not same(True, 1)
    assert same(date(2025, 1, 1), datetime(2025, 1, 1)) and not same(date(2025, 1, 1), datetime(2025, 1, 1, 1))
    assert same("2025-01-01", date(2025, 1, 1)) and not same("1", 1) and not same(None, 0)


def test_the_diff_example_in_the_docstring():
    import doctest

    from toolkit.unittests import compare

    assert doctest.testmod(compare).failed == 0


# -- as dbt users write them (issue 15) ---------------------------------------------


def test_expected_values_are_cast_to_the_output_types(make_project):
    steps = {"features/labels.sql": "select cast(order_id as varchar) as order_id, cast(amount as decimal(10, 2)) as amount, "
                                    "status = 'completed' as done, cast(ordered_at as date) as day from {{ source('shop', 'orders') }}"}
    test = """\
        [[test]]
        name = "numbers against text, text against numbers and booleans"
        [test.given."shop.orders"]
        rows = [ { order_id = 1, status = "completed", amount = 2.5, ordered_at = 2025-03-01T10:00:00 } ]
        [test.expect]
        rows = [ { order_id = %s, amount = "2.50", done = "true", day = "2025-03-01" } ]
        """
    [result] = run(duckdb_project(make_project, {"features/labels.unit.toml": test % "1"}, steps))
    assert result.passed, result.diff
    [wrong] = run(duckdb_project(make_project, {"features/labels.unit.toml": test % "2"}, steps, "wrong"))
    assert not wrong.passed and "'2'" in wrong.diff and "'1'" in wrong.diff


def test_a_number_is_not_rounded_into_an_integer_column(make_project):
    steps = {"features/counts.sql": "select count(*) as n from {{ source('shop', 'orders') }}"}
    test = """\
        [[test]]
        name = "one row"
        [test.given."shop.orders"]
        rows = [ { order_id = 1 } ]
        [test.expect]
        rows = [ { n = 1.4 } ]
        """
    [result] = run(duckdb_project(make_project, {"features/counts.unit.toml": test}, steps))
    assert not result.passed


def test_an_expected_value_that_does_not_fit_fails_the_test(make_project):
    steps = {"features/counts.sql": "select count(*) as n from {{ source('shop', 'orders') }}"}
    test = """\
        [[test]]
        name = "text into a number"
        [test.given."shop.orders"]
        rows = [ { order_id = 1 } ]
        [test.expect]
        rows = [ { n = "one" } ]
        """
    [result] = run(duckdb_project(make_project, {"features/counts.unit.toml": test}, steps))
    assert not result.passed and "does not fit its output column" in result.diff


def test_null_is_written_as_null_true(make_project):
    steps = {"features/statuses.sql": "select order_id, status, coalesce(status, 'none') as shown from {{ source('shop', 'orders') }}"}
    test = """\
        [[test]]
        name = "a NULL status shows as none"
        [test.given."shop.orders"]
        rows = [ { order_id = 1, status = { null = true } }, { order_id = 2, status = "open" } ]
        [test.expect]
        rows = [ { order_id = 1, status = { null = true }, shown = "none" }, { order_id = 2, status = "open", shown = "open" } ]
        """
    [result] = run(duckdb_project(make_project, {"features/statuses.unit.toml": test}, steps))
    assert result.passed, result.diff


def test_another_inline_table_is_still_refused(make_project):
    test = TOTALS_TEST.replace('status = "completed", amount = 10.0', 'status = { nil = 1 }, amount = 10.0')
    with pytest.raises(ProjectError) as caught:
        run(duckdb_project(make_project, {"features/totals.unit.toml": test}))
    assert "nested tables are not supported" in caught.value.message and "null = true" in caught.value.hint


RELATED = {
    "features/customers.sql": "select distinct customer_id from {{ source('shop', 'orders') }}",
    "features/orders_clean.sql": """\
        {{ config(tests={"customer_id": [{"relationships": {"to": "customers", "field": "customer_id"}}]}) }}
        select order_id, customer_id from {{ source('shop', 'orders') }}""",
}


def test_a_relationships_parent_the_sql_does_not_read_needs_no_rows(make_project):
    test = """\
        [[test]]
        name = "passes orders through"
        [test.given."shop.orders"]
        rows = [ { order_id = 1, customer_id = 7 } ]
        [test.expect]
        rows = [ { order_id = 1, customer_id = 7 } ]
        """
    root = duckdb_project(make_project, {"features/orders_clean.unit.toml": test}, RELATED)
    assert "customers" in compile_project(root).steps["orders_clean"].upstream  # still built first
    [result] = run(root)
    assert result.passed, result.diff


def test_a_relationships_test_toward_a_downstream_step(make_project, run_cli):
    steps = {
        "features/customers.sql": """\
            {{ config(tests={"customer_id": [{"relationships": {"to": "customer_totals", "field": "customer_id"}}]}) }}
            select distinct customer_id from {{ source('shop', 'orders') }}""",
        "features/customer_totals.sql": "select customer_id, count(*) as n from {{ ref('customers') }} group by customer_id",
    }
    root = duckdb_project(make_project, {}, steps)
    compiled = compile_project(root)
    assert compiled.steps["customer_totals"].upstream == ["customers"]
    assert compiled.steps["customers"].data_tests == []
    [moved] = compiled.steps["customer_totals"].data_tests
    assert moved.label == "custom(relationships customers.customer_id -> customer_totals.customer_id)"
    import duckdb

    with duckdb.connect(str(root / "warehouse/unit.duckdb")) as con:
        con.execute("create schema shop; create table shop.orders as select 1::bigint as order_id, 7::bigint as customer_id, "
                    "now()::timestamp as ordered_at, 'open' as status, 1.0::double as amount")
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    (root / "features/customer_totals.sql").write_text(
        "select customer_id, count(*) as n from {{ ref('customers') }} where customer_id <> 7 group by customer_id")
    code, out, err = run_cli("run", cwd=root)
    assert code == 1 and "relationships customers.customer_id -> customer_totals.customer_id" in out + err, out + err
    # It runs with customer_totals but is declared in customers.sql: the failure points there.
    assert "features/customers.sql:1: data tests failed on customer_totals" in out, out

"""Mistakes that passed `toolkit plan` and failed only at run time with the engine's error
(exit 1, no line): each is now exit 2 at the file:line(:col) where it is written, before
anything runs. The scaffolded project (toolkit init) reads app.events (declared columns,
country varchar) and the countries seed (country, region)."""

from __future__ import annotations

import textwrap

import pytest

from _projects import cli, make_test_project, write_files
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from toolkit.compiler import compile_project
from toolkit.errors import ProjectError

CONFIG_LINE = '{{ config(materialized="table") }}'


def refused(root) -> ProjectError:
    with pytest.raises(ProjectError) as caught:
        compile_project(root)
    return caught.value


def write(root, files: dict[str, str]) -> None:
    write_files(root, {path: textwrap.dedent(text).lstrip("\n") for path, text in files.items()})


def with_config(root, config: str) -> None:
    """country_totals.sql with its first line (its config) replaced."""
    path = root / "features" / "country_totals.sql"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([config, *lines[1:]]) + "\n")


# -- 1. a custom test naming an unknown column ------------------------------------------------------


def test_a_custom_test_naming_an_unknown_column_is_refused_at_its_file_line_and_column(scaffold_project):
    """It compiled; the run failed the step with DuckDB's Binder Error, `toolkit test` said "internal error"."""
    write(scaffold_project, {"features/tests/bad.sql": """
        -- big countries
        select t.country
        from {{ ref("country_totals") }} as t
        where t.nosuch > 10
        """})
    error = refused(scaffold_project)
    assert error.location == "features/tests/bad.sql:4:9"
    assert "unknown column 'nosuch' of t (country_totals has: country, region, total_amount, users)" in error.message


def test_a_custom_test_unqualified_unknown_column_and_a_valid_one(scaffold_project):
    write(scaffold_project, {"features/tests/bad.sql": 'select * from {{ ref("country_totals") }} where nosuch > 10\n'})
    error = refused(scaffold_project)
    assert (error.location, error.message, error.hint) == ("features/tests/bad.sql:1:49", "unknown column 'nosuch'", None)
    # valid, and one whose output repeats a name (it runs inside `select * from (...)`, which allows it)
    write(scaffold_project, {"features/tests/bad.sql": 'select * from {{ ref("country_totals") }} where users > 10\n',
                             "features/tests/twice.sql": 'select * from {{ ref("country_totals") }} as a\n'
                                                         'join {{ ref("countries") }} as c on c.country = a.country\n'})
    compiled = compile_project(scaffold_project)
    assert {t.args["name"] for t in compiled.steps["country_totals"].data_tests if t.name == "custom"} == {"bad", "twice"}


@pytest.mark.slow
def test_run_and_test_exit_2_on_a_custom_test_naming_an_unknown_column(scaffold_project):
    """The tester's repro: after a good run, `run` failed the step (exit 1) and `test` printed
    "internal error: BinderException" (exit 1)."""
    assert cli("run", "-p", str(scaffold_project)).code == 0
    write(scaffold_project, {"features/tests/bad.sql": 'select * from {{ ref("country_totals") }} where nosuch > 10\n'})
    for command in ("plan", "run", "test"):
        done = cli(command, "-p", str(scaffold_project))
        said = done.out + done.err
        assert done.code == 2 and "features/tests/bad.sql:1:49: unknown column 'nosuch'" in said, done
        assert "internal error" not in said and "Binder Error" not in said, done


# -- 2. a set operation of unequal widths, one table twice under one name --------------------------


@pytest.mark.parametrize("text, location, message", [
    ("select 1 as a union all select 2 as a, 3 as b", "1:37", "UNION ALL of queries with different numbers of columns: 1 before it, 2 after it"),
    # a star is counted once qualifying has expanded it (countries has two columns)
    ('select * from {{ ref("countries") }}\nexcept\nselect e.country from {{ source("app", "events") }} as e',
     "3:10", "EXCEPT of queries with different numbers of columns: 2 before it, 1 after it"),
    ('select 1 as a\nunion\nselect 1 as a\nunion\nselect 2 as a, 3 as b', "5:13", "UNION of queries with different numbers"),
])
def test_a_set_operation_of_queries_with_different_widths_is_refused(scaffold_project, text, location, message):
    write(scaffold_project, {"features/x.sql": text + "\n"})
    error = refused(scaffold_project)
    assert error.location == f"features/x.sql:{location}" and error.message.startswith(message), error


@pytest.mark.parametrize("text, location, name", [
    ('select * from {{ ref("countries") }}, {{ ref("countries") }}', "1:47", "countries"),  # the second, repeated one
    ('select c.region from {{ ref("countries") }} as c\njoin {{ ref("country_totals") }} as c on true', "2:37", "c"),
    ('select c.region from {{ ref("countries") }} as c\njoin {{ ref("countries") }} on true\njoin {{ ref("countries") }} on true',
     "3:", "countries"),
])
def test_one_name_for_two_tables_of_one_from_is_refused(scaffold_project, text, location, name):
    """DuckDB: 'Binder Error: Ambiguous reference to table "countries" (duplicate alias ...)' at run time."""
    write(scaffold_project, {"features/x.sql": text + "\n"})
    error = refused(scaffold_project)
    assert error.location.startswith(f"features/x.sql:{location}"), error
    assert error.message.startswith(f"'{name}' names two tables of one FROM"), error


def test_what_the_engines_run_is_not_refused(scaffold_project):
    write(scaffold_project, {
        "features/x.sql": 'select a.country from {{ ref("countries") }} as a, {{ ref("countries") }} as b\n'
                          'union all select country from {{ ref("countries") }}\n',
        # a star is counted once qualifying expanded it: x gives one column
        "features/y.sql": 'select * from {{ ref("x") }}\nunion all\nselect 1 as country\n',
        # a CTE and a subquery may reuse a name an outer query uses
        "features/z.sql": 'with c as (select country from {{ ref("countries") }})\n'
                          'select c.country from c where c.country in (select c.country from {{ ref("countries") }} as c)\n',
    })
    compiled = compile_project(scaffold_project)
    assert compiled.steps["x"].columns == ["country"] and compiled.steps["y"].columns == ["country"]


@pytest.mark.slow
def test_run_exits_2_before_building_on_either_mistake(scaffold_project):
    for text in ("select 1 as a union all select 2 as a, 3 as b", 'select * from {{ ref("countries") }}, {{ ref("countries") }}'):
        write(scaffold_project, {"features/x.sql": text + "\n"})
        done = cli("run", "-p", str(scaffold_project))
        assert done.code == 2 and "features/x.sql:1:" in done.err and "Binder Error" not in done.out + done.err, done


# -- 3. data tests that can never run ------------------------------------------------------------------


def test_freshness_on_a_column_that_is_no_date_or_timestamp_is_refused(scaffold_project):
    """It failed at every run: 'Conversion Error: invalid timestamp field format: "US"'."""
    with_config(scaffold_project, '{{ config(materialized="table", table_tests=[{"freshness": {"column": "country", "max_age": "1 day"}}]) }}')
    error = refused(scaffold_project)
    assert error.location == "features/country_totals.sql:1"
    assert error.message == "tests: freshness(country): column 'country' is text, not a date or timestamp", error
    with_config(scaffold_project, '{{ config(materialized="table", table_tests=[{"freshness": {"column": "users", "max_age": "1 day"}}]) }}')
    assert "column 'users' is bigint, not a date or timestamp" in refused(scaffold_project).message


def test_freshness_types_are_inferred_through_steps_and_unknown_ones_are_left_alone(scaffold_project):
    write(scaffold_project, {
        "features/latest.sql": """
            {{ config(materialized="table", table_tests=[{"freshness": {"column": "at", "max_age": "3 days"}}]) }}
            select e.user_id, max(e.happened_at) as at from {{ ref("events_copy") }} as e group by e.user_id
            """,
        "features/events_copy.sql": 'select * from {{ source("app", "events") }}\n',
        "features/untyped.sql": """
            {{ config(materialized="table", table_tests=[{"freshness": {"column": "at", "max_age": "3 days"}}]) }}
            select t.region as at from {{ ref("countries") }} as t
            """,
    })
    compiled = compile_project(scaffold_project)  # seed columns of no declared type: left to the run
    assert [t.name for t in compiled.steps["latest"].data_tests] == ["freshness"]
    write(scaffold_project, {"features/events_copy.sql": 'select e.user_id, cast(e.happened_at as varchar) as happened_at '
                                                         'from {{ source("app", "events") }} as e\n'})
    error = refused(scaffold_project)
    assert (error.location, error.message) == ("features/latest.sql:1", "tests: freshness(at): column 'at' is text, not a date or timestamp")


def test_freshness_on_a_source_column_declared_as_text_is_refused(scaffold_project):
    sources = scaffold_project / "warehouse" / "sources.toml"
    sources.write_text(sources.read_text() + 'table_tests = [{ freshness = { column = "country", max_age = "1 day" } }]\n')
    error = refused(scaffold_project)
    assert error.file == "warehouse/sources.toml" and "freshness(country): column 'country' is declared varchar, not a date" in error.message


@pytest.mark.parametrize("expression, what", [("sum(users) > 0", "the aggregate sum()"), ("count(*) > 1", "the aggregate count()"),
                                              ("row_number() over () = 1", "a window function")])
def test_an_expression_test_holding_an_aggregate_is_refused_at_its_config_line(scaffold_project, expression, what):
    """It failed at every run: 'Binder Error: WHERE clause cannot contain aggregates!'."""
    with_config(scaffold_project, f'{{{{ config(materialized="table", table_tests=[{{"expression": "{expression}"}}]) }}}}')
    error = refused(scaffold_project)
    assert error.location == "features/country_totals.sql:1"
    assert error.message.startswith(f"tests: expression '{expression}' uses {what}, but an expression test checks each row"), error


# -- 4. an unknown qualified column is reported where it is ---------------------------------------


def test_an_unknown_qualified_column_is_reported_at_its_reference_naming_its_table(scaffold_project):
    """After the seed's header renamed country to nation, the error pointed at line 4:7
    (e.country, a valid column of app.events) and called it "ambiguous or not in scope"."""
    (scaffold_project / "warehouse" / "seeds" / "countries.csv").write_text("nation,region\nDE,Europe\n")
    error = refused(scaffold_project)
    assert error.location == "features/country_totals.sql:9:44", error
    assert error.message == "unknown column 'country' of c (countries has: nation, region)"


def test_an_unknown_column_of_a_table_named_without_alias_in_a_subquery(scaffold_project):
    write(scaffold_project, {"features/x.sql": """
        select e.country
        from {{ source("app", "events") }} as e
        where e.country in (select countries.nation from {{ ref("countries") }})
        """})
    error = refused(scaffold_project)
    assert error.location == "features/x.sql:3:38"
    assert error.message == "unknown column 'nation' of countries (countries has: country, region)"


# -- on PostgreSQL: nothing runs ----------------------------------------------------------------------

PG_FILES = {
    "toolkit.toml": """
        name = "proj"
        dialect = "postgres"
        target = "pg"

        [targets.pg]
        engine = "postgres"
        url = "${TOOLKIT_ENVS_PG_URL}"
        """,
    "warehouse/seeds/countries.csv": "country,region\nDE,Europe\nUS,Americas\n",
    "features/regions.sql": 'select c.region, count(*) as countries from {{ ref("countries") }} as c group by c.region\n',
}


@pytest.mark.slow
@pytest.mark.parametrize("path, text, where", [
    ("features/tests/bad.sql", 'select * from {{ ref("regions") }} as r where r.nosuch > 1', "features/tests/bad.sql:1:49: unknown column 'nosuch' of r"),
    ("features/x.sql", 'select r.region from {{ ref("regions") }} as r\nunion\nselect r.region, r.countries from {{ ref("regions") }} as r',
     "features/x.sql:3:10: UNION of queries with different numbers of columns"),
    ("features/x.sql", 'select r.region from {{ ref("regions") }} as r, {{ ref("countries") }} as r', "features/x.sql:1:"),
])
def test_on_postgres_the_mistakes_exit_2_before_anything_is_built(tmp_path, monkeypatch, pg_url, path, text, where):  # noqa: F811
    monkeypatch.setenv("TOOLKIT_ENVS_PG_URL", pg_url)
    root = make_test_project(tmp_path / "proj", {k: textwrap.dedent(v).lstrip("\n") for k, v in {**PG_FILES, path: text + "\n"}.items()})
    done = cli("run", "-p", str(root))
    assert done.code == 2 and where in done.err, done
    assert pg_query(pg_url, "select count(*) from information_schema.schemata where schema_name = 'features'") == [(0,)]

"""Bad input that compiled and then failed (or, worse, ran and published the wrong thing):
each is now exit 2 at the file:line(:col) where it is written, before anything runs. The
scaffolded project (toolkit init) reads app.events (declared columns) and the countries
seed (country, region); country_totals gives country, region, users, total_amount."""

from __future__ import annotations

import re
import textwrap

import pytest

from _projects import cli, write_files
from toolkit.compiler import compile_project


def write(root, files: dict[str, str]) -> None:
    write_files(root, {path: textwrap.dedent(text).lstrip("\n") for path, text in files.items()})


def assert_refused(root, location: str, message: str) -> None:
    """`toolkit plan` (compiles, runs nothing) exits 2 naming `location` and `message`."""
    done = cli("plan", "-p", str(root))
    said = done.out + done.err
    assert done.code == 2, done
    assert f"{location}: {message}" in said, done
    assert "Traceback" not in said and "internal error" not in said, done


# -- 1. a star's EXCLUDE / REPLACE / RENAME naming a column none of its tables has ---------------


USERS = "select 1 as id, 'a@b.c' as email\n"


@pytest.mark.parametrize("query, location, clause", [
    ('select * exclude (emial) from {{ ref("users") }}', "1:19", "EXCLUDE"),
    ('select * replace (upper(email) as emial) from {{ ref("users") }}', "1:35", "REPLACE"),
    ('select * rename (emial as contact) from {{ ref("users") }}', "1:18", "RENAME"),
    ('select u.* exclude (emial), 1 as n from {{ ref("users") }} as u', "1:21", "EXCLUDE"),
])
def test_a_star_modifier_naming_an_unknown_column_is_refused_where_it_is_written(scaffold_project, query, location, clause):
    """`* exclude (emial)` (a typo for email) compiled and published email, the column it was
    written to drop: sqlglot's star expansion skips a name no table has (DuckDB refuses it)."""
    write(scaffold_project, {"features/users.sql": USERS, "features/public_users.sql": query + "\n"})
    assert_refused(scaffold_project, f"features/public_users.sql:{location}",
                   f"unknown column 'emial' in the star's {clause} list (did you mean 'email'?)")


def test_a_star_modifier_over_a_subquery_and_a_join_checks_the_star_tables_columns(scaffold_project):
    write(scaffold_project, {"features/users.sql": USERS, "features/public_users.sql": """
        select *
            exclude (email, region)
        from (select * from {{ ref("users") }}) as u
        join {{ ref("countries") }} as c on true
        """})
    compile_project(scaffold_project)  # email from the subquery, region from the seed
    write(scaffold_project, {"features/public_users.sql": """
        select c.* exclude (email)
        from (select * from {{ ref("users") }}) as u
        join {{ ref("countries") }} as c on true
        """})
    assert_refused(scaffold_project, "features/public_users.sql:1:21", "unknown column 'email' in the star's EXCLUDE list")


def test_valid_star_modifiers_still_compile_and_publish_what_they_say(scaffold_project):
    write(scaffold_project, {"features/users.sql": USERS,
                             "features/public_users.sql": 'select * exclude (email) rename (id as user_id) from {{ ref("users") }}\n'})
    compiled = compile_project(scaffold_project)
    assert compiled.steps["public_users"].columns == ["user_id"]


# -- 2. IN / ANY / ALL over a subquery of another width ---------------------------------------------


def test_an_in_subquery_of_two_columns_is_refused_at_its_line(scaffold_project):
    """It compiled; the run failed with DuckDB's "Subquery returns 2 columns - expected 1" (exit 1, no line)."""
    write(scaffold_project, {"features/c1.sql": """
        select country
        from {{ ref("country_totals") }}
        where users in (select country, users from {{ ref("country_totals") }})
        """})
    assert_refused(scaffold_project, "features/c1.sql:3:24", "the subquery of IN gives 2 columns; it is compared with 1")


def test_an_in_subquery_whose_star_gives_four_columns_is_refused_at_the_compared_value(scaffold_project):
    write(scaffold_project, {"features/c1.sql": """
        select country
        from {{ ref("country_totals") }}
        where users not in (select * from {{ ref("country_totals") }})
        """})
    assert_refused(scaffold_project, "features/c1.sql:3:7", "the subquery of IN gives 4 columns; it is compared with 1")


def test_all_and_any_subqueries_and_rows_compared_with_rows(scaffold_project):
    """A row `(a, b) IN (select x, y ...)` compares two columns (valid); `> ALL (select a, 1)`
    is pointed at its own `users`, not the line's first one."""
    write(scaffold_project, {"features/c1.sql": """
        select country
        from {{ ref("country_totals") }}
        where (users, country) in (select users, country from {{ ref("country_totals") }})
          and users = any (select users from {{ ref("country_totals") }}) and users > all (select users, 1 from {{ ref("country_totals") }})
        """})
    assert_refused(scaffold_project, "features/c1.sql:4:91", "the subquery of ALL gives 2 columns; it is compared with 1")
    write(scaffold_project, {"features/c1.sql": """
        select country
        from {{ ref("country_totals") }}
        where (users, country) in (select users, country from {{ ref("country_totals") }})
          and users = any (select users from {{ ref("country_totals") }})
          and row(users, country) in (select users, country from {{ ref("country_totals") }})
          and ((users, country)) in (select users, country from {{ ref("country_totals") }})
        """})
    assert compile_project(scaffold_project).steps["c1"].columns == ["country"]


# -- 3. a comment after the closing semicolon ---------------------------------------------------------


def test_a_comment_after_the_closing_semicolon_is_not_a_second_statement(scaffold_project):
    """`select 1 as a;` then `-- end of file` was refused as "found 2 statements"."""
    write(scaffold_project, {"features/c1.sql": "select 1 as a;\n-- end of file\n",
                             "features/c2.sql": "select 1 as b; /* done */\n"})
    done = cli("plan", "-p", str(scaffold_project))
    assert done.code == 0, done
    compiled = compile_project(scaffold_project)
    assert (compiled.steps["c1"].columns, compiled.steps["c2"].columns) == (["a"], ["b"])


def test_a_second_statement_after_a_comment_is_still_refused(scaffold_project):
    write(scaffold_project, {"features/c1.sql": "select 1 as a;\n-- end\nselect 2 as b;\n"})
    assert_refused(scaffold_project, "features/c1.sql:3:1", "a step must be exactly one SELECT statement; found 2 statements")


# -- 4. between (and row_count) with min greater than max ---------------------------------------------


def test_a_between_whose_min_is_greater_than_its_max_is_refused_at_the_config_line(scaffold_project):
    """No value passes such a test: it was accepted, then failed every run (exit 1)."""
    write(scaffold_project, {"features/c1.sql": """
        -- a step
        {{ config(tests={"a": [{"between": {"min": 5, "max": 1}}]}) }}
        select 3 as a
        """})
    assert_refused(scaffold_project, "features/c1.sql:2", "tests: between: min 5 is greater than max 1: no value can pass")
    write(scaffold_project, {"features/c1.sql": '{{ config(tests={"a": [{"between": [1, 5]}, {"between": {"min": 3, "max": 3}}]}) }}\nselect 3 as a\n'})
    assert cli("plan", "-p", str(scaffold_project)).code == 0


def test_a_source_between_of_dates_whose_min_is_after_its_max_is_refused(scaffold_project):
    path = scaffold_project / "warehouse" / "sources.toml"
    text = path.read_text()
    declared = 'tests = { happened_at = [{ between = { min = 2024-02-01, max = "2024-01-31 10:00" } }] }\n'
    path.write_text(text + declared)
    done = cli("plan", "-p", str(scaffold_project))
    assert done.code == 2, done
    assert re.search(r"warehouse/sources\.toml:\d+: source app\.events: between: min 2024-02-01 is greater than max 2024-01-31 10:00", done.err), done
    path.write_text(text + declared.replace("2024-02-01", "2024-01-31"))  # the same day, before 10:00: valid
    assert cli("plan", "-p", str(scaffold_project)).code == 0


# -- 5. unknown names that qualifying let through ----------------------------------------------------


@pytest.mark.parametrize("query, location, message", [
    ('select country, count(*) as n from {{ ref("country_totals") }}\ngroup by country\nhaving sum(userz) > 1 and n > 0',
     "3:12", "unknown column 'userz' (did you mean 'users'?)"),
    ('select country from {{ ref("country_totals") }}\nqualify userz = 1', "2:9", "unknown column 'userz'"),
    ('select t.country, x.* from {{ ref("country_totals") }} as t', "1:19",
     "unknown table 'x' in 'x.*': 'x' is not a table or alias of this query"),
    ('select t.country from {{ ref("country_totals") }} t\njoin {{ ref("countries") }} c using (nocol)', "2:38",
     "unknown column 'nocol' in USING: both joined tables need a column 'nocol'"),
])
def test_unknown_names_in_having_star_qualifiers_and_using_are_refused(scaffold_project, query, location, message):
    """Each compiled, then failed the build with DuckDB's Binder Error (exit 1, no line):
    sqlglot's check skips HAVING / QUALIFY names, and gives up on `x.*` and USING."""
    write(scaffold_project, {"features/c1.sql": query + "\n"})
    assert_refused(scaffold_project, f"features/c1.sql:{location}", message)


def test_valid_having_qualify_and_using_still_compile(scaffold_project):
    write(scaffold_project, {"features/c1.sql": """
        select country, count(*) as n, max(c.region) as region
        from {{ ref("country_totals") }} t
        join {{ ref("countries") }} c using (country)
        group by country
        having n > 0 and sum(users) > 1 and max(c.region) is not null
          and list_count(list_filter([1, 2], x -> x > 1)) > 0
        qualify row_number() over (order by n) = 1
        """})
    assert compile_project(scaffold_project).steps["c1"].columns == ["country", "n", "region"]

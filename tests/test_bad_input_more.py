"""More user mistakes, with tests/test_bad_input.py's contract and fixtures (exit 2,
one line naming file and line, no traceback, the warehouse untouched): a described
column the step does not produce, a data test's bound that is not a number; and a seed
column with no values, which is text on every engine."""

from __future__ import annotations

import pytest
from _projects import make_project, query, run
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from test_bad_input import project, published_template, rejected  # noqa: F401 (fixtures)
from test_environments import PG_CONFIG

pytestmark = pytest.mark.slow  # end-to-end runs, as test_bad_input's

DESCRIBED = """\
{{ config(description="One total.",
          columns={"totl": "the total"}) }}
select 1 as total
"""


# -- config(columns=...) ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["compile", "plan", "run"])
def test_a_described_column_the_step_does_not_produce(project, rejected, command):
    """Only `toolkit docs` refused it: plan, compile and run passed (exit 0)."""
    project.write({"features/described.sql": DESCRIBED})
    rejected("features/described.sql:2", "config columns: 'totl' is not an output column of described",
             "did you mean 'total'?", args=(command,))


def test_a_described_column_of_a_step_whose_columns_are_unknown_is_left_to_docs(make_project, run_cli):
    """select * over a source that declares no columns: compile, before any run, cannot
    know them, so it does not refuse; a run (which reads them from the catalog) and docs do."""
    root = make_project({
        "warehouse/sources.toml": "[crm.tables.people]\n",
        "features/people.sql": '{{ config(columns={"nope": "x"}) }}\nselect * from {{ source("crm", "people") }}\n',
    }, source_rows={"crm.people": "select 1 as id"})
    code, out, err = run_cli("compile", cwd=root)
    assert code == 0, out + err
    for args in (["run"], ["docs", "--out", str(root / "site")]):
        code, out, err = run_cli(*args, cwd=root)
        assert code == 2 and "Traceback" not in err, out + err
        assert err.startswith("error: features/people.sql:1: config columns: 'nope' is not an output column of people"), err


# -- data test arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    "config, phrase",
    [
        ('table_tests=[{"row_count": {"min": "a"}}]', "row_count: min needs a number, got 'a'"),
        ('table_tests=[{"row_count": {"min": 1, "max": true}}]', "row_count: max needs a number, got True"),
        ('tests={"total": [{"between": {"max": "ten"}}]}', "between: max needs a number (or a date"),
        ('tests={"total": [{"between": [0, "a"]}]}', "between: max needs a number (or a date"),
    ],
    ids=["row_count-text", "row_count-bool", "between-text", "between-list"],
)
def test_a_test_bound_that_is_not_a_number(project, rejected, config, phrase):
    """The run failed with exit 1: 'Conversion Error: Could not convert string 'a' to INT64'."""
    project.write({"features/bounded.sql": f"{{{{ config({config}) }}}}\nselect 1 as total\n"})
    rejected("features/bounded.sql:1", f"tests: {phrase}", args=("run",))


def test_a_source_test_bound_that_is_not_a_number(project, rejected):
    sources = project.read("warehouse/sources.toml") + 'table_tests = [{ row_count = { min = "a" } }]\n'
    project.write({"warehouse/sources.toml": sources})
    line = len(sources.splitlines())  # its table_tests line, not the table's header
    rejected(f"warehouse/sources.toml:{line}", "source app.events: row_count: min needs a number, got 'a'", args=("run",))


def test_a_between_on_a_date_column_takes_dates(project, run_cli):
    project.write({
        "features/dated.sql": """\
            {{ config(tests={"day": [{"between": {"min": "2024-01-01", "max": "2024-12-31 23:59:59"}}]}) }}
            select date '2024-06-01' as day
        """,
        "warehouse/sources.toml": project.read("warehouse/sources.toml")
        + 'tests = { happened_at = [{ between = { min = 2000-01-01 } }] }\n',  # a TOML date
    })
    code, out, err = run_cli("run", cwd=project.root)
    assert code == 0, out + err


# -- seeds: a column with no values ---------------------------------------------------------

SEED_STEPS = {
    "warehouse/seeds/empty.csv": "id,x\n",
    "warehouse/seeds/half.csv": "id,x\n1,\n2,\n",
    "features/plus_one.sql": "select id + 1 as y from {{ ref('empty') }}\n",
}


@pytest.fixture(params=["duckdb", "postgres"])
def seed_engine(request, tmp_path, monkeypatch):
    """The SEED_STEPS project on DuckDB or PostgreSQL: (root, read(sql) -> rows)."""
    if request.param == "duckdb":
        root = make_project(tmp_path / "proj", SEED_STEPS)
        return root, lambda sql: query(root, sql)
    url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("TOOLKIT_ENVS_PG_URL", url)
    root = make_project(tmp_path / "proj", {**SEED_STEPS, "toolkit.toml": PG_CONFIG})
    return root, lambda sql: pg_query(url, sql)


def test_a_seed_column_with_no_values_is_text_on_every_engine(seed_engine):
    """A header-only seed was published with DuckDB's NULL type (id + 1 built) and
    PostgreSQL's text (id + 1 failed): the same project now behaves alike on both."""
    root, read = seed_engine
    result = run(root)
    assert result.code == 1, result  # id + 1 on text, on both engines
    assert "plus_one" in result.out + result.err, result
    types = dict(read("select table_name || '.' || column_name, lower(data_type) from information_schema.columns "
                      "where table_schema = 'raw' and table_name in ('empty', 'half')"))
    text = {"character varying", "varchar", "text"}
    assert types["empty.id"] in text and types["empty.x"] in text, types
    assert types["half.x"] in text and types["half.id"] == "bigint", types
    assert types["empty.x"] == types["half.x"]


# -- models: the function's signature, a name declared twice -------------------------------

MODEL_HEAD = """\
from sklearn.linear_model import LinearRegression
from toolkit import model

"""


def declared(name: str, signature: str = "") -> str:
    return f"""
@model(training="country_totals", label="users", key=["country"])
def {name}({signature}):
    return LinearRegression()
"""


def test_a_model_function_with_parameters_is_refused_at_its_def_line(project, rejected):
    """toolkit calls it with no arguments: the run trained it and failed there (exit 1, no line)."""
    project.write({"models/m.py": MODEL_HEAD + declared("m", "x, *rest, y=1")})
    rejected("models/m.py:6", "model m: the model function takes no parameters, but it has 'x'")


def test_a_model_function_whose_parameters_have_defaults_is_accepted(project, run_cli):
    project.write({"models/m.py": MODEL_HEAD + declared("m", "*args, alpha=1.0, **kwargs")})
    code, out, err = run_cli("compile", cwd=project.root)
    assert code == 0, out + err


@pytest.mark.parametrize("files, where, first", [
    ({"models/m.py": MODEL_HEAD + declared("m") + declared("m")}, "models/m.py:10", "models/m.py:6"),
    ({"models/a.py": MODEL_HEAD + declared("m"), "models/b.py": MODEL_HEAD + "\n" + declared("m")}, "models/b.py:7", "models/a.py:6"),
], ids=["one-file", "two-files"])
def test_a_model_name_declared_twice_names_both_places(project, rejected, files, where, first):
    """One file: the second def replaced the first unseen (exit 0); two files: no line."""
    project.write(files)
    rejected(where, f"duplicate model name 'm': declared at {first} and at {where}")


# -- config: trusted_types and allowed_functions are lists of names -------------------------


@pytest.mark.parametrize("entry, got", [
    ('trusted_types = [\n  "sklearn.x.Y",\n  3, {a = 1}]', "got 3"),
    ('trusted_types = [{a = 1}]', "got {'a': 1}"),
    ('allowed_functions = ["read_csv", 5]', "got 5"),
])
def test_a_list_of_type_or_function_names_holding_something_else(project, rejected, entry, got):
    """trusted_types = [3, {a = 1}] was accepted (and allowed_functions = [5] made '5')."""
    key = entry.split(" ", 1)[0]
    project.write({"toolkit.toml": entry + "\n" + project.read("toolkit.toml")})
    rejected("toolkit.toml:1", f"'{key}' must be a list of names (strings), {got}")


# -- a statement sqlglot reads as a Command --------------------------------------------------


@pytest.mark.parametrize("statement, kind", [("call foo()", "CALL"), ("load x", "LOAD")])
def test_a_command_step_prints_only_toolkits_message(project, rejected, statement, kind):
    """sqlglot's "... contains unsupported syntax. Falling back to parsing as a 'Command'."
    was printed above toolkit's own error."""
    project.write({"features/cmd.sql": f"-- a comment\n{statement}\n"})
    message = rejected("features/cmd.sql:2", f"a step must be one SELECT statement; found {kind}", args=("compile",))
    assert "Falling back" not in message


# -- an unqualified column: ambiguous, or unknown in its scope ------------------------------

TWO_TABLES = {
    "features/left_side.sql": "select 1 as id, 2 as x\n",
    "features/right_side.sql": "select 1 as id, 3 as y\n",
}


def test_an_ambiguous_column_is_named_at_its_unqualified_use_with_its_tables(project, rejected):
    project.write({**TWO_TABLES, "features/joined.sql": """\
        select a.x
        from {{ ref("left_side") }} as a join {{ ref("right_side") }} as b on a.id = b.id
        where id = 1
        """})
    message = rejected("features/joined.sql:3:7", "column 'id' is ambiguous: a and b both have it")
    assert "e.g. a.id" in message


@pytest.mark.parametrize("text, where, phrase", [
    # y is right_side's, read in the subquery only: it was "ambiguous or not in scope"
    ("select a.x from {{ ref('left_side') }} as a\nwhere exists (select 1 from {{ ref('right_side') }} as b where b.id = a.id)\nand y = 1\n",
     "features/q.sql:3:5", "unknown column 'y'"),
    # id is left_side's, which the CTE reads; the outer query reads only x
    ("with c as (select x from {{ ref('left_side') }})\nselect id from c\n", "features/q.sql:2:8", "unknown column 'id'"),
    ("with c as (select x from {{ ref('left_side') }})\nselect xx from c\n", "features/q.sql:2:8", "unknown column 'xx' (did you mean 'x'?)"),
], ids=["outside-the-subquery", "outside-the-cte", "did-you-mean-in-scope"])
def test_a_column_no_table_in_scope_has_is_unknown(project, rejected, text, where, phrase):
    project.write({**TWO_TABLES, "features/q.sql": text})
    message = rejected(where, phrase)
    assert "ambiguous" not in message and "'y'?" not in message


# -- COLUMNS(* EXCLUDE (...)) names columns its tables have -----------------------------------


@pytest.mark.parametrize("text, where, phrase", [
    ("select coalesce(*columns(* exclude (nope))) as c from {{ ref('left_side') }}\n", "1:37", "'nope'"),
    ("select id from {{ ref('left_side') }} where columns(* exclude (idd)) is not null\n", "1:64", "'idd'"),
    ("select coalesce(*columns(a.* exclude (y))) as c\nfrom {{ ref('left_side') }} as a join {{ ref('right_side') }} as b on a.id = b.id\n",
     "1:39", "'y'"),
], ids=["unpacked", "in-where", "one-table-of-a-join"])
def test_an_unknown_name_in_columns_star_exclude_is_refused(project, rejected, text, where, phrase):
    """Compiled and ran into DuckDB's binder error (exit 1, no line)."""
    project.write({**TWO_TABLES, "features/q.sql": text})
    rejected(f"features/q.sql:{where}", f"unknown column {phrase} in the star's EXCLUDE list", args=("compile",))


def test_a_known_name_in_columns_star_exclude_compiles(project, run_cli):
    project.write({**TWO_TABLES, "features/q.sql": "select coalesce(*columns(* exclude (x))) as c from {{ ref('left_side') }}\n"})
    code, out, err = run_cli("compile", cwd=project.root)
    assert code == 0, out + err


# -- the is_incremental() branch -------------------------------------------------------------

INCREMENTAL = """\
{{ config(materialized="incremental", unique_key="country") }}
select country, users from {{ ref("country_totals") }}
{% if is_incremental() %}
where users > (select max(BRANCH) from {{ this }} as t)
{% endif %}
"""


@pytest.mark.parametrize("branch, where, phrase", [
    ("userz", "features/inc.sql:4:27", "unknown column 'userz' (did you mean 'users'?)"),
    ("t.total_amount", "features/inc.sql:4:29", "unknown column 'total_amount' of t (inc has: country, users)"),
], ids=["unqualified", "of-this"])
def test_an_unknown_column_in_the_incremental_branch_is_refused_at_compile(project, rejected, run_cli, branch, where, phrase):
    """It compiled and built; the second run, the first with is_incremental() true, failed (exit 1)."""
    project.write({"features/inc.sql": INCREMENTAL.replace("BRANCH", "users")})
    code, out, err = run_cli("run", cwd=project.root)
    assert code == 0, out + err
    project.write({"features/inc.sql": INCREMENTAL.replace("BRANCH", branch)})  # the first render is the same text
    rejected(where, phrase)


def test_an_unresolved_bare_column_without_a_position_is_placed_at_its_bare_use():
    """When sqlglot gives no position, toolkit looked for the first column of that name:
    `a.id`, which resolved, rather than the bare `id` that did not."""
    from toolkit import sql

    tree = sql.parse_select("select a.id,\n  id\nfrom f.a as a join f.b as b on a.id = b.id", "duckdb")
    unresolved = sql._UNRESOLVED.search("Column 'id' could not be resolved.")
    assert sql._column_position(tree, unresolved) == (2, 4)

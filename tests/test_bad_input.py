"""Every kind of user mistake, run through the CLI in a subprocess.

Each test starts from a scaffolded project that one successful `toolkit run` has
already published, introduces one mistake and checks the contract of DESIGN.md
"Bad input": exit code 2, one short message on stderr naming the file and line
(and column for SQL), no traceback, and nothing in the warehouse changed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

DATABASE = "warehouse/warehouse.duckdb"


@dataclass
class Published:
    """A copy of the scaffolded project after one successful run."""

    root: Path
    snapshot: object  # the warehouse_snapshot fixture

    @property
    def database(self) -> Path:
        return self.root / DATABASE

    def write(self, files: dict[str, str]) -> None:
        for relative, text in files.items():
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")

    def read(self, relative: str) -> str:
        return (self.root / relative).read_text(encoding="utf-8")

    def file_state(self) -> tuple[str, int]:
        return hashlib.sha256(self.database.read_bytes()).hexdigest(), self.database.stat().st_mtime_ns


@pytest.fixture(scope="module")
def published_template(tmp_path_factory, run_cli):
    from toolkit.scaffold import scaffold

    root = scaffold(tmp_path_factory.mktemp("bad_input") / "shop", "shop")
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    return root


@pytest.fixture
def project(published_template, tmp_path, warehouse_snapshot) -> Published:
    root = tmp_path / "shop"
    shutil.copytree(published_template, root)
    published = Published(root, warehouse_snapshot)
    snapshot = warehouse_snapshot(published.database)
    assert snapshot["features.country_totals"][0] == 4  # the first run published real rows
    return published


@pytest.fixture
def rejected(project, run_cli):
    """rejected(where, *phrases, args=("run",), opens_warehouse=False) -> stderr.

    Runs the CLI and checks the whole bad-input contract; `where` is the
    `file:line[:col]` the message must start with.
    """

    def check(where: str | None, *phrases: str, args=("run",), opens_warehouse: bool = False, env=None) -> str:
        before_tables = project.snapshot(project.database)
        before_file = project.file_state()
        code, out, err = run_cli(*args, cwd=project.root, env=env)
        assert code == 2, f"exit {code}\nstdout: {out}\nstderr: {err}"
        assert "Traceback" not in out + err
        message = err.strip()
        assert message.count("\n") == 0, f"expected one short line, got:\n{err}"
        if where is not None:
            assert re.search(rf"^error: {re.escape(where)}(:|\b)", message), f"expected {where} in: {message}"
        for phrase in phrases:
            assert phrase in message, f"expected {phrase!r} in: {message}"
        assert project.snapshot(project.database) == before_tables
        if not opens_warehouse:
            assert project.file_state() == before_file
        return message

    return check


# -- config -----------------------------------------------------------------------------


def test_bad_toml_syntax(project, rejected):
    project.write({"toolkit.toml": project.read("toolkit.toml").replace("[targets.local]", "[targets.local")})
    rejected("toolkit.toml:5:15", "invalid TOML")


@pytest.mark.parametrize(
    "old, new, where, phrases",
    [
        ('dialect = "duckdb"', 'dialetc = "duckdb"', "toolkit.toml:2", ("unknown key 'dialetc'", "did you mean 'dialect'?")),
        ("path =", "paht =", "toolkit.toml:7", ("unknown key 'targets.local.paht'", "did you mean 'path'?")),
    ],
    ids=["top-level", "in-target"],
)
def test_unknown_config_key(project, rejected, old, new, where, phrases):
    project.write({"toolkit.toml": project.read("toolkit.toml").replace(old, new)})
    rejected(where, *phrases)


def test_missing_env_var_in_target(project, rejected, monkeypatch):
    monkeypatch.delenv("NOT_SET_VAR", raising=False)
    text = project.read("toolkit.toml").replace('path = "warehouse/warehouse.duckdb"', 'path = "${NOT_SET_VAR}/x.duckdb"')
    project.write({"toolkit.toml": text})
    rejected("toolkit.toml:7", "environment variable NOT_SET_VAR is not set", "export NOT_SET_VAR=")


def test_unknown_target(project, rejected):
    rejected("toolkit.toml:5", "unknown target 'prod'", "targets: local", args=("run", "--target", "prod"))


# -- templates ----------------------------------------------------------------------------


def test_jinja_syntax_error(project, rejected):
    project.write({"features/b.sql": "select 1 as x\n{% if %}\n"})
    rejected("features/b.sql:2", "template syntax error")


def test_undefined_name(project, rejected):
    project.write({"features/b.sql": "select\n  1 as x,\n  {{ nope }} as y\n"})
    rejected("features/b.sql:3", "'nope' is undefined")


def test_undefined_var(project, rejected):
    project.write({"features/b.sql": "select\n  1 as x,\n  {{ var('min_amout') }} as y\n"})
    rejected("features/b.sql:3", "var('min_amout') is not defined", "did you mean 'min_amount'?")


def test_undefined_name_in_macro_points_at_the_macro(project, rejected):
    project.write({
        "features/macros/money.sql": "{% macro cents(x) %}\n  {{ x }} * {{ factor }}\n{% endmacro %}\n",
        "features/b.sql": "select\n  {{ cents(1) }} as y\n",
    })
    rejected("features/macros/money.sql:2", "'factor' is undefined")


@pytest.mark.parametrize("text, line", [("{% set x = 1/0 %}", 1), ("{# money #}\n\n{% set rate = 1 %}\n{% set x = rate / 0 %}\n", 4)])
def test_an_error_at_the_top_of_a_macro_file_names_its_line(project, rejected, text, line):
    """It named a line of Jinja's generated Python (m.sql:12 for a one-line file)."""
    project.write({"features/macros/m.sql": text})
    rejected(f"features/macros/m.sql:{line}", "ZeroDivisionError")


@pytest.mark.parametrize("files, where, phrases", [
    ({"features/macros/a.sql": "{% macro cents(x) %}{{ x }}{% endmacro %}\n",
      "features/macros/b.sql": "-- also\n{% macro cents(x) %}{{ x }} * 100{% endmacro %}\n"},
     "features/macros/b.sql:2", ("macro 'cents' is defined twice", "features/macros/a.sql:1")),
    ({"features/macros/pkg/a.sql": "{% macro cents(x) %}{{ x }}{% endmacro %}\n",
      "features/macros/pkg/b.sql": "{% macro cents(x) %}{{ x }}{% endmacro %}\n"},
     "features/macros/pkg/b.sql:1", ("macro 'cents' is defined twice", "features/macros/pkg/a.sql:1")),
    ({"features/macros/m.sql": "\n{% macro ref(name) %}x{% endmacro %}\n"}, "features/macros/m.sql:2",
     ("macro 'ref' would replace toolkit's built-in ref",)),
    ({"features/macros/m.sql": "{% macro is_incremental() %}{{ true }}{% endmacro %}\n"}, "features/macros/m.sql:1",
     ("macro 'is_incremental' would replace",)),
    ({"features/macros/m.sql": "{% macro this() %}x{% endmacro %}\n"}, "features/macros/m.sql:1", ("macro 'this' would replace",)),
    ({"features/macros/m.sql": "{% macro env_var(x) %}x{% endmacro %}\n"}, "features/macros/m.sql:1", ("macro 'env_var' would replace",)),
    ({"features/macros/m.sql": "{# vars #}\n{% set var = 'x' %}\n"}, "features/macros/m.sql:2",
     ("{% set %} name 'var' would replace toolkit's built-in var",)),
    ({"features/macros/m.sql": "{% macro pkg() %}x{% endmacro %}\n", "features/macros/pkg/a.sql": "{% macro f() %}x{% endmacro %}\n"},
     "features/macros/m.sql:1", ("macro 'pkg' takes the name of the macro package features/macros/pkg/",)),
], ids=["two-files", "two-files-of-a-package", "ref", "is_incremental", "this", "env_var", "set-var", "package-name"])
def test_a_macro_name_taken_twice_or_from_a_builtin(project, rejected, files, where, phrases):
    """The file read last silently won, over another macro or over a built-in."""
    project.write(files)
    rejected(where, *phrases)


def test_sandbox_blocks_python_internals(project, rejected):
    project.write({"features/b.sql": "select 1 as x\n-- {{ ''.__class__.__mro__ }}\n"})
    rejected("features/b.sql:2", "unsafe")


# -- SQL -----------------------------------------------------------------------------------


def test_sql_syntax_error(project, rejected):
    project.write({"features/b.sql": "select 1 as x,\n  from from\n"})
    rejected("features/b.sql:2:8", "SQL syntax error", "near 'from'")


def test_unclosed_quote(project, rejected):
    project.write({"features/b.sql": "select\n  'abc as x\n"})
    rejected("features/b.sql:2:3", "unclosed quote '")


@pytest.mark.parametrize(
    "text, line",
    [("select 1 as x;\nselect 2 as y\n", 2), ("select 1 as x; drop table features.country_totals\n", 1)],
    ids=["two-selects", "select-then-drop"],
)
def test_two_statements(project, rejected, text, line):
    project.write({"features/b.sql": text})
    rejected(f"features/b.sql:{line}", "exactly one SELECT statement; found 2 statements")


@pytest.mark.parametrize(
    "statement, kind",
    [
        ("create table features.x as select 1 as y", "CREATE"),
        ("attach 'other.duckdb' as other", "ATTACH"),
        ("copy (select 1) to 'out.csv'", "COPY"),
        ("pragma version", "PRAGMA"),
        ("drop table features.country_totals", "DROP"),
        ("insert into raw.countries values ('XX', 'Nowhere')", "INSERT"),
        ("delete from raw.countries", "DELETE"),
    ],
)
def test_not_a_select(project, rejected, statement, kind):
    project.write({"features/b.sql": f"-- {kind.lower()} is not allowed\n{statement}\n"})
    rejected("features/b.sql:2", f"a step must be one SELECT statement; found {kind}")


def test_data_modifying_cte(project, rejected):
    # DuckDB would run the DELETE and empty the source; the snapshot check proves it did not
    project.write({
        "features/b.sql": """\
            with gone as (
                delete from {{ source('app', 'events') }} returning *
            )
            select count(*) as n from gone
            """
    })
    rejected("features/b.sql:2", "found DELETE inside it")


def test_unknown_column(project, rejected):
    project.write({"features/b.sql": "select\n  country,\n  regoin\nfrom {{ ref('countries') }}\n"})
    rejected("features/b.sql:3:3", "unknown column 'regoin'", "did you mean 'region'?")


def test_unknown_column_below_jinja_lines(project, rejected):
    # The loop renders to more lines than the template has: rendered line 8, template line 6.
    project.write({
        "features/b.sql": """\
            {% set columns = ['country', 'region'] %}
            select
            {% for c in columns %}
                {{ c }},
            {% endfor %}
                regoin
            from {{ ref('countries') }}
            """
    })
    rejected("features/b.sql:6:5", "unknown column 'regoin'", "did you mean 'region'?")


def test_unknown_qualified_column(project, rejected):
    project.write({
        "features/b.sql": """\
            {{ config(materialized="table") }}
            {% set unused = 1 %}
            select c.country,
                   c.regoin
            from {{ ref('countries') }} as c
            """
    })
    rejected("features/b.sql:4:10", "unknown column 'regoin'", "did you mean 'region'?")


def test_unknown_column_from_a_macro(project, rejected):
    # the bad name is in the macro, and the step's lines shift: point at the step's macro call
    project.write({
        "features/macros/columns.sql": "{% macro geo() %}\n  country,\n  regoin\n{% endmacro %}\n",
        "features/b.sql": "{% for i in range(3) %}\n-- part {{ i }}\n{% endfor %}\nselect\n  {{ geo() }}\nfrom {{ ref('countries') }}\n",
    })
    rejected("features/b.sql:5", "unknown column 'regoin'", "did you mean 'region'?")


@pytest.mark.parametrize(
    "text, where",
    [
        # DuckDB would publish `id` and `id_1`: a test or a model reading ID would read another column
        ("select\n  country as id,\n  region as ID\nfrom {{ ref('countries') }}\n", "features/b.sql:3:13"),
        ("select\n  country,\n  country\nfrom {{ ref('countries') }}\n", "features/b.sql:3:3"),
        ("select\n  a.country,\n  b.COUNTRY\nfrom {{ ref('countries') }} as a\n"
         "join {{ ref('countries') }} as b on a.region = b.region\n", "features/b.sql:3:5"),
        ("select\n  *\nfrom {{ ref('countries') }} as a\njoin {{ ref('countries') }} as b using (region)\n",
         "features/b.sql:2"),
        ("select\n{% for c in ['country', 'Country'] %}\n  {{ c }},\n{% endfor %}\n  region\nfrom {{ ref('countries') }}\n",
         "features/b.sql:2"),
    ],
    ids=["aliases-differ-in-case", "same-column-twice", "qualified-twice", "star-over-a-join", "from-a-jinja-loop"],
)
def test_output_column_twice(project, rejected, text, where):
    project.write({"features/b.sql": text})
    message = rejected(where, "output column 'country' appears twice" if "id" not in text else "output column 'id' appears twice")
    assert "rename one with AS" in message


@pytest.mark.parametrize("item", ["min(columns(*))", "columns('c.*')", "columns(*) + 1 as shifted"])
def test_columns_expression_in_the_select_list(project, rejected, item):
    """DuckDB names COLUMNS(...)'s columns when it runs (an alias repeats as c, c_1): the
    step's columns would not be the ones toolkit recorded."""
    project.write({"features/b.sql": f"select\n  country,\n  {item}\nfrom {{{{ ref('countries') }}}}\n"})
    message = rejected("features/b.sql:3:", "COLUMNS(...) in a SELECT list makes as many columns as it matches")
    assert "list the columns" in message


def test_columns_unpacked_into_one_value_is_allowed(project, run_cli):
    project.write({"features/b.sql": "select coalesce(*columns(['country'])) as c\nfrom {{ ref('countries') }}\n"})
    code, out, err = run_cli("compile", "b", cwd=project.root)
    assert code == 0, out + err


def test_compile_of_a_seed_says_it_has_no_sql(project, run_cli):
    """It printed nothing, exit 0."""
    code, out, err = run_cli("compile", "countries", cwd=project.root)
    assert (code, out.strip()) == (0, "-- countries: a seed (warehouse/seeds/countries.csv), no SQL of its own"), out + err


@pytest.mark.parametrize("name", ["features/up.SQL", "features/sub/up.Py", "features/macros/m.SQL"])
def test_a_step_file_with_an_upper_case_extension_is_named_not_ignored(project, rejected, name):
    project.write({name: "select 1 as x\n"})
    message = rejected(name, "a step file's name ends in upper case, so it is not read as a step")
    assert "rename it to" in message


def test_missing_ref(project, rejected):
    project.write({"features/b.sql": "select\n  *\nfrom {{ ref('countrys') }}\n"})
    rejected("features/b.sql:3", "no step or seed is named 'countrys'", "did you mean 'countries'?")


def test_missing_source(project, rejected):
    project.write({"features/b.sql": "select\n  *\nfrom {{ source('app', 'event') }}\n"})
    rejected("features/b.sql:3", "source('app', 'event') is not declared", "did you mean 'app.events'?")


def test_undeclared_table(project, rejected):
    project.write({"features/b.sql": "select\n  *\nfrom app.users\n"})
    rejected("features/b.sql:3:", "unknown table 'app.users'", "did you mean 'app.events'?")


# -- the DAG ---------------------------------------------------------------------------------


def test_duplicate_step_name(project, rejected):
    project.write({"features/more/country_totals.sql": "select 1 as x\n"})
    rejected("features/more/country_totals.sql:1", "duplicate step name 'country_totals'", "features/country_totals.sql")


def test_self_cycle(project, rejected):
    project.write({"features/a.sql": "{{ config(materialized='table') }}\nselect\n  *\nfrom {{ ref('a') }}\n"})
    rejected("features/a.sql:4", "dependency cycle: a -> a")


def test_three_step_cycle(project, rejected):
    # a reads b, b reads c, c reads a; a sits in a subfolder so discovery order is not a, b, c.
    project.write({
        "features/z/a.sql": "{{ config(materialized='table') }}\nselect\n  *\nfrom {{ ref('b') }}\n",
        "features/b.sql": "select *\nfrom {{ ref('c') }}\n",
        "features/c.sql": "select * from features.a\n",
    })
    message = rejected("features/z/a.sql:4", "dependency cycle: a -> b -> c -> a")
    assert "dependency cycle: a -> b -> c -> a" in message and "-> a ->" not in message


def test_unknown_select(project, rejected):
    rejected(None, "selector 'country_total'", "did you mean 'country_totals'?", args=("run", "--select", "country_total"))


# -- seeds and sources -----------------------------------------------------------------------


def test_seed_wrong_column_count(project, rejected):
    project.write({"warehouse/seeds/countries.csv": "country,region\nDE,Europe\nFR,Europe,extra\nUS,Americas\n"})
    rejected("warehouse/seeds/countries.csv:3", "expected 2 columns, got 3")


def test_seed_value_not_matching_declared_type(project, rejected):
    project.write({
        "warehouse/seeds/prices.csv": "sku,price\n1,2.50\n2,abc\n3,4\n",
        "warehouse/seeds.toml": '[prices]\ncolumns = { sku = "bigint", price = "double" }\n',
    })
    rejected("warehouse/seeds/prices.csv:3", "column 'price' value 'abc' is not a valid double")


def test_seed_not_utf8(project, rejected):
    (project.root / "warehouse/seeds/countries.csv").write_bytes(b"country,region\nDE,Europe\nFR,Eur\xffpe\n")
    rejected("warehouse/seeds/countries.csv:3", "not UTF-8")


@pytest.mark.parametrize("entry, where, phrases", [
    ('columns = { country = "int; select 1" }', 3, ("[countries] column 'country'", "'int; select 1' is not a SQL type")),
    ('columns = { country = "decimal(50,2)" }', 3, ("column 'country'", "'decimal(50,2)'", "precision of 1 to 38")),
    ('column_types = { country = "bigint" }', 3, ("[countries]: unknown key 'column_types'", "did you mean 'columns'?")),
    ('delimiter = ";"', 3, ("[countries]: unknown key 'delimiter'", "known keys: columns, tags")),
    ('schema = "ref"', 3, ("[countries]: unknown key 'schema'",)),
    ('tags = { nope = ["pii"] }', 3, ("[countries]: tags name column 'nope', which countries.csv does not have", "country, region")),
    ('tags = { country = 1 }', 3, ("[countries]: the tags of column 'country' must be a list of names",)),
    (None, 2, ("[countries] must be a table of settings",)),
], ids=["statement-as-type", "decimal-precision", "column_types", "delimiter", "schema", "tag-unknown-column", "tag-not-a-name",
        "entry-not-a-table"])
def test_bad_seeds_toml(project, rejected, entry, where, phrases):
    """A bad type was an internal error (exit 1); unknown keys and bad tags were ignored."""
    text = f"# types\n[countries]\n{entry}\n" if entry else "# types\ncountries = 3\n"
    project.write({"warehouse/seeds.toml": text})
    rejected(f"warehouse/seeds.toml:{where}", *phrases)


def test_declared_source_missing_in_warehouse(project, rejected):
    sources = project.read("warehouse/sources.toml") + '\n[app.tables.users]\ncolumns = { user_id = "bigint" }\n'
    project.write({"warehouse/sources.toml": sources, "features/b.sql": "select user_id from {{ source('app', 'users') }}\n"})
    line = sources.splitlines().index("[app.tables.users]") + 1
    rejected(f"warehouse/sources.toml:{line}", "source app.users is declared but table app.users does not exist", opens_warehouse=True)


# -- config() in a step ----------------------------------------------------------------------


def test_unknown_step_config_key(project, rejected):
    project.write({"features/b.sql": "-- b\n{{ config(materalized='view') }}\nselect 1 as x\n"})
    rejected("features/b.sql:2", "unknown config key 'materalized'", "did you mean 'materialized'?")


def test_unknown_materialization(project, rejected):
    project.write({"features/b.sql": "-- b\n{{ config(materialized='tabel') }}\nselect 1 as x\n"})
    rejected("features/b.sql:2", "unknown materialization 'tabel'", "did you mean 'table'?")


def test_unknown_data_test(project, rejected):
    project.write({"features/b.sql": "-- b\n{{ config(tests={'x': ['not_nul']}) }}\nselect 1 as x\n"})
    rejected("features/b.sql:2", "unknown test 'not_nul'", "did you mean 'not_null'?")


def test_step_names_differing_only_in_case(project, rejected):
    """Issue 18: DuckDB resolves quoted names case-insensitively, so CUSTOMER.sql beside
    customer.sql would publish one step's rows under the other's name."""
    project.write({"features/COUNTRY_TOTALS.sql": "select 1 as x\n"})
    rejected("features/country_totals.sql:1", "duplicate step name 'country_totals'", "features/COUNTRY_TOTALS.sql", "only in case")


def test_seed_and_step_differing_only_in_case(project, rejected):
    project.write({"features/Countries.sql": "select 1 as x\n"})
    rejected("features/Countries.sql:1", "duplicate name 'Countries'", "warehouse/seeds/countries.csv", "only in case")


# -- SQL sqlglot would read leniently (issue 18 item 10) --------------------------------------


@pytest.mark.parametrize("text, where, phrase", [
    ("select country,\n  , count(*) as n\nfrom {{ ref('country_totals') }}\ngroup by country\n", "features/b.sql:2", "empty item between two commas"),
    ("select country, count(*) as n\nfrom {{ ref('country_totals') }}\ngroup by country,, n\n", "features/b.sql:3", "empty item between two commas"),
    ("select country\nfrom {{ ref('country_totals') }} order\n", "features/b.sql:2", "'order' is read as an alias"),
    ("select\nfrom {{ ref('country_totals') }}\n", "features/b.sql:2", "SELECT names no column"),
    ("select country\nfrom {{ ref('country_totals') }}\ngroup by\n", "features/b.sql:", "GROUP BY names no expression"),
    ("select country\nfrom {{ ref('country_totals') }}\nwhere country in ()\n", "features/b.sql:3", "IN () lists no value"),
])
def test_malformed_sql_is_not_repaired(project, rejected, text, where, phrase):
    project.write({"features/b.sql": text})
    rejected(where, phrase)


# -- a step reads refs, sources and seeds, not the machine (issue 18 item 6) ------------------


@pytest.mark.parametrize("text, where, name", [
    ("select *\nfrom read_text('/etc/passwd')\n", "features/b.sql:2", "read_text()"),
    ("select *\nfrom read_csv('/etc/passwd')\n", "features/b.sql:2", "read_csv()"),
    ("select *\nfrom glob('/etc/*')\n", "features/b.sql:2", "glob()"),
    ("select *\nfrom duckdb_settings()\n", "features/b.sql:2", "duckdb_settings()"),
    ("select 1 as x,\n  read_text('/etc/hostname') as secret\n", "features/b.sql:2", "read_text()"),
    ("select 1 as x,\n  pg_read_file('/etc/hostname') as secret\n", "features/b.sql:2", "pg_read_file()"),
    ("select 1 as x,\n  current_setting('data_directory') as d\n", "features/b.sql:2", "current_setting()"),
    # after LATERAL sqlglot keeps the call in a Lateral node, not a Table: any name is refused
    ("select *\nfrom (select 1 as x) as c, lateral read_ndjson_auto('/etc/x.json') as j\n", "features/b.sql:2",
     "read_ndjson_auto()"),
    ("select *\nfrom (select 1 as x) as c\ncross join lateral read_json_objects_auto('/etc/x.json')\n", "features/b.sql:3",
     "read_json_objects_auto()"),
    ("select *\nfrom (select 1 as x) as c join lateral some_extension_reader('/etc') on true\n", "features/b.sql:2",
     "some_extension_reader()"),
    ("select 1 as x,\n  read_ndjson_objects('/etc/x.json') as j\n", "features/b.sql:2", "read_ndjson_objects()"),
])
def test_step_cannot_read_files_or_the_server(project, rejected, text, where, name):
    project.write({"features/b.sql": text})
    rejected(where, f"a step reads refs, sources and seeds only: {name}", "allowed_functions")


def test_custom_test_cannot_read_files_either(project, rejected):
    project.write({"features/tests/peek.sql": "select *\nfrom {{ ref('country_totals') }}, glob('/etc/*')\n"})
    rejected("features/tests/peek.sql:2", "glob()")


def test_a_project_may_allow_a_function_by_name(project, run_cli):
    data = project.root / "data.csv"
    data.write_text("a\n1\n2\n", encoding="utf-8")
    config = project.read("toolkit.toml")
    project.write({"toolkit.toml": 'allowed_functions = ["read_csv"]\n' + config,
                   "features/b.sql": f"select *\nfrom read_csv('{data.as_posix()}')\n"})
    code, out, err = run_cli("run", cwd=project.root)
    assert code == 0, out + err


# -- template expressions that raise, bounds, reserved text (issue 18 items 3, 7, 8) -----------


@pytest.mark.parametrize("expression, phrase", [
    ("{{ 1/0 }}", "ZeroDivisionError"),
    ("{{ 'x' * 'y' }}", "TypeError"),
    ("{{ ref() }}", "ref()"),
    ("{{ ref(1) }}", "ref() takes names as strings"),
    ("{{ source('shop') }}", "source()"),
    ("{{ var() }}", "var()"),
    ("{{ 'x' | int }}", "'x' is not an integer"),
])
def test_template_expression_that_raises(project, rejected, expression, phrase):
    project.write({"features/b.sql": f"select 1 as x\n-- {expression}\n"})
    rejected("features/b.sql:2", phrase)


def test_placeholder_text_is_reserved(project, rejected):
    project.write({"features/b.sql": "select 1 as x,\n  '__toolkit_var_1__' as y\n"})
    rejected("features/b.sql:2", "'__toolkit_var_' is reserved")


@pytest.mark.parametrize("expression, phrase", [
    ("{{ lipsum(n=10**7) | length }}", "lipsum"),
    ("{{ range(10**9) | list | length }}", "range"),
    ("{{ 'x' * 10**10 }}", "over the template limit"),
    ("{{ 10 ** (10 ** 10) }}", "over the template limit"),
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "RecursionError"),
])
def test_template_bombs_stop_with_the_step_named(project, rejected, expression, phrase):
    project.write({"features/b.sql": f"select 1 as x\n-- {expression}\n"})
    rejected("features/b.sql", phrase)


def test_var_of_the_wrong_kind(project, rejected):
    """Issue 18 item 3: a string where the config's default is a number would build every
    row wrong ('x' | int was 0); it is refused before anything runs."""
    rejected("toolkit.toml:", "var 'min_amount' must be a number", args=("run", "--vars", '{"min_amount": "x"}'))


@pytest.mark.parametrize("data, phrase", [
    ("select 1 as x\n".encode("utf-16"), "UTF-16"),
    (b"select 1 as x,\n 'caf\xe9' as y\n", "not UTF-8 text (byte 0xe9)"),
    (b"select 1 as x\n\x00\x01\x02", "NUL byte"),
])
def test_step_file_in_the_wrong_encoding(project, rejected, data, phrase):
    (project.root / "features/b.sql").write_bytes(data)
    rejected("features/b.sql:", phrase)


@pytest.mark.parametrize("config", ['unique_key="nope"', 'time_column="nope"'])
def test_incremental_key_that_is_not_a_column(project, rejected, config):
    """Issue 18 item 13: the first build would pass (nothing to merge), later ones not."""
    project.write({"features/inc.sql": f"{{{{ config(materialized='incremental', {config}) }}}}\nselect country, users\nfrom {{{{ ref('country_totals') }}}}\n"})
    rejected("features/inc.sql:1", "is not an output column of inc", "its columns: country, users")


def test_declared_source_type_that_is_not_a_type(project, rejected):
    """Issue 18 item 12: `varchr` used to pass unchecked."""
    text = project.read("warehouse/sources.toml")
    assert "varchar" in text
    project.write({"warehouse/sources.toml": text.replace("varchar", "varchr", 1)})
    rejected("warehouse/sources.toml:", "is not a SQL type", "did you mean 'varchar'?")


@pytest.mark.parametrize("damage", ["random", "truncated"])
def test_corrupt_duckdb_file_is_not_busy(project, run_cli, damage):
    """Issue 18 item 9: a corrupt file was reported as "busy ... safe to retry" (exit 3)
    because "lock" matched inside "block"; a scheduler would retry forever."""
    data = project.database.read_bytes()
    project.database.write_bytes(os.urandom(len(data)) if damage == "random" else data[: len(data) // 3])
    code, out, err = run_cli("run", cwd=project.root)
    assert code == 2, out + err
    assert "busy" not in err and "Traceback" not in err
    assert "cannot open" in err and "warehouse.duckdb" in err


def test_duckdb_path_that_cannot_be_created(project, rejected):
    (project.root / "blocker").write_text("a file, not a folder\n", encoding="utf-8")
    config = project.read("toolkit.toml").replace('path = "warehouse/warehouse.duckdb"', 'path = "blocker/shop.duckdb"')
    project.write({"toolkit.toml": config})
    rejected(None, "cannot create the folder of", "blocker/shop.duckdb")

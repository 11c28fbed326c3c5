"""What data tests mean: accepted_values with a NULL in its list, compared in the column's
type on DuckDB and PostgreSQL, dbt's quoting kept by import-dbt, the message of a failed
test on a view over a source, and tags on source columns known only from the catalog."""

from __future__ import annotations

import duckdb
import pytest

from _projects import cli, create_tables, database_path, make_test_project, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

CONFIG = 'name = "t"\ndialect = "duckdb"\ntarget = "dev"\n\n[targets.dev]\nengine = "duckdb"\npath = "warehouse/t.duckdb"\n'
POSTGRES = 'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'


def _project(tmp_path, files, config=CONFIG, source_rows=None):
    return make_test_project(tmp_path / "p", {"toolkit.toml": config, **files}, source_rows)


def _published(root, relation):
    with duckdb.connect(str(database_path(root)), read_only=True) as con:
        return sorted(con.execute(f"select * from {relation}").fetchall(), key=repr)


def _is_published(root, relation):
    with duckdb.connect(str(database_path(root)), read_only=True) as con:
        schema, name = relation.split(".")
        return bool(con.execute("select count(*) from duckdb_tables() where schema_name = ? and table_name = ?", [schema, name]).fetchone()[0]
                    + con.execute("select count(*) from duckdb_views() where schema_name = ? and view_name = ?", [schema, name]).fetchone()[0])


# -- 1. a NULL in accepted_values ----------------------------------------------------------


def test_a_null_in_accepted_values_accepts_null_rows_but_still_checks_the_others(tmp_path):
    root = _project(tmp_path, {"features/a.sql": '{{ config(tests={"s": [{"accepted_values": ["a", none]}]}) }}\n'
                                                  "select * from (values ('a'), ('zzz'), (null)) t(s)\n"})
    result = cli("run", cwd=root)
    assert result.code == 1, result.out + result.err
    assert "accepted_values(s): 1 failing row (e.g. s=zzz)" in result.out
    assert not _is_published(root, "features.a")


def test_accepted_values_of_only_null_fails_every_value(tmp_path):
    root = _project(tmp_path, {"features/a.sql": '{{ config(tests={"s": [{"accepted_values": [none]}]}) }}\n'
                                                  "select * from (values ('a'), (null)) t(s)\n"})
    result = cli("run", cwd=root)
    assert result.code == 1 and "accepted_values(s): 1 failing row" in result.out, result.out + result.err


def test_a_null_in_accepted_values_passes_the_listed_values_and_null(tmp_path):
    root = _project(tmp_path, {"features/a.sql": '{{ config(tests={"s": [{"accepted_values": ["a", none]}]}) }}\n'
                                                  "select * from (values ('a'), (null)) t(s)\n"})
    result = cli("run", cwd=root)
    assert result.code == 0, result.out + result.err
    assert _published(root, "features.a") == [("a",), (None,)]


# -- 2. import-dbt keeps dbt's quoting -------------------------------------------------------

DBT = {
    "dbt_project.yml": 'name: d\nversion: "1.0"\nprofile: d\nmodel-paths: ["models"]\n',
    "profiles.yml": "d:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: dev.duckdb\n",
    "models/m.sql": "select * from (values ('1'), ('01'), ('2.0'), (' 1'), ('zzz'), (null)) t(s)\n",
}


def _schema(values: str, quote: str = "") -> str:
    return ("version: 2\nmodels:\n  - name: m\n    config: {materialized: table}\n    columns:\n      - name: s\n"
            f"        tests:\n          - accepted_values:\n              values: {values}\n{quote}")


def _import(tmp_path, schema):
    write(tmp_path / "dbt", {**DBT, "models/s.yml": schema})
    imported = cli("import-dbt", str(tmp_path / "dbt"), str(tmp_path / "tk"))
    assert imported.code == 0, imported.out + imported.err
    return tmp_path / "tk", (tmp_path / "tk" / "features" / "m.sql").read_text()


def test_import_dbt_quotes_accepted_values_as_dbt_does(tmp_path):
    root, text = _import(tmp_path, _schema("[1, 2]"))
    assert "'accepted_values': ['1', '2']" in text
    result = cli("run", cwd=root)
    # as in dbt: '01', '2.0', ' 1' and 'zzz' are not '1' or '2'
    assert result.code == 1 and "accepted_values(s): 4 failing rows" in result.out, result.out + result.err


def test_import_dbt_null_in_accepted_values_is_dbts_none(tmp_path):
    root, text = _import(tmp_path, _schema("['1', null]"))
    assert "'accepted_values': ['1', 'None']" in text
    result = cli("run", cwd=root)
    assert result.code == 1 and "accepted_values(s): 4 failing rows" in result.out, result.out + result.err


def test_import_dbt_quote_false_keeps_numbers(tmp_path):
    _, text = _import(tmp_path, _schema("[1, 2]", "              quote: false\n"))
    assert "'accepted_values': [1, 2]" in text


def test_import_dbt_quoted_numbers_still_pass_on_a_number_column(tmp_path):
    files = {**DBT, "models/m.sql": "select * from (values (1), (2), (null)) t(s)\n", "models/s.yml": _schema("[1, 2]")}
    write(tmp_path / "dbt", files)
    assert cli("import-dbt", str(tmp_path / "dbt"), str(tmp_path / "tk")).code == 0
    result = cli("run", cwd=tmp_path / "tk")
    assert result.code == 0, result.out + result.err


# -- 3. accepted_values compares in the column's type, alike on both engines ------------------

CODES = ('{{ config(tests={"s": [{"accepted_values": %s}]}) }}\n'
         "select * from (values ('1'), ('01'), (' 1'), ('1.0'), ('2')) t(s)\n")


def _numbers_on_text_is_exit_2(root):
    result = cli("run", cwd=root)
    assert result.code == 2, result.out + result.err
    assert "features/codes.sql:1: tests: accepted_values(s): 1 is not text, but column 's' is string" in result.out + result.err


def _text_values_compare_as_text(root):
    result = cli("run", cwd=root)
    assert result.code == 1, result.out + result.err
    assert "accepted_values(s): 3 failing rows" in result.out


def test_numbers_on_a_text_column_are_exit_2_on_duckdb(tmp_path):
    root = _project(tmp_path, {"features/codes.sql": CODES % "[1, 2]"})
    _numbers_on_text_is_exit_2(root)
    assert not _is_published(root, "features.codes")


def test_text_values_on_a_text_column_compare_as_text_on_duckdb(tmp_path):
    _text_values_compare_as_text(_project(tmp_path, {"features/codes.sql": CODES % '["1", "2"]'}))


def test_numbers_on_a_text_column_are_exit_2_on_postgres(tmp_path, pg_url):
    _numbers_on_text_is_exit_2(_project(tmp_path, {"features/codes.sql": CODES % "[1, 2]"}, POSTGRES.format(url=pg_url)))


def test_text_values_on_a_text_column_compare_as_text_on_postgres(tmp_path, pg_url):
    _text_values_compare_as_text(_project(tmp_path, {"features/codes.sql": CODES % '["1", "2"]'}, POSTGRES.format(url=pg_url)))


def test_numbers_and_a_null_on_a_number_column_pass_on_postgres(tmp_path, pg_url):
    step = ('{{ config(tests={"n": [{"accepted_values": [1, 2, none]}], "m": [{"accepted_values": ["1", "2"]}]}) }}\n'
            "select * from (values (1, 1), (2, 2), (null, null)) t(n, m)\n")
    result = cli("run", cwd=_project(tmp_path, {"features/nums.sql": step}, POSTGRES.format(url=pg_url)))
    assert result.code == 0, result.out + result.err


def test_a_null_in_accepted_values_still_checks_the_others_on_postgres(tmp_path, pg_url):
    step = ('{{ config(tests={"s": [{"accepted_values": ["a", none]}]}) }}\n'
            "select * from (values ('a'), ('zzz'), (null)) t(s)\n")
    result = cli("run", cwd=_project(tmp_path, {"features/a.sql": step}, POSTGRES.format(url=pg_url)))
    assert result.code == 1 and "accepted_values(s): 1 failing row (e.g. s=zzz)" in result.out, result.out + result.err
    assert pg_query(pg_url, "select count(*) from information_schema.tables where table_schema = 'features'") == [(0,)]


# -- 4. a failed test on a view over a source says what readers see ---------------------------


def test_a_failed_test_on_a_view_over_a_source_says_the_published_view_serves_it(tmp_path):
    root = _project(tmp_path, {
        "warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.ev]\n',
        "features/v.sql": '{{ config(materialized="view", tests={"id": ["not_null"]}) }}\nselect id from {{ source("app", "ev") }}\n',
    }, source_rows={"app.ev": "select * from (values (1), (2)) t(id)"})
    assert cli("run", cwd=root).code == 0
    create_tables(database_path(root), {"app.ev": "select * from (values (1), (2), (null)) t(id)"})
    result = cli("run", cwd=root)
    assert result.code == 1, result.out + result.err
    assert "not published" not in result.out
    assert "data tests failed, not re-published; the view published before (features.v) reads app.ev as it is now" in result.out


def test_a_failed_test_on_a_new_view_still_says_not_published(tmp_path):
    root = _project(tmp_path, {
        "warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.ev]\n',
        "features/v.sql": '{{ config(materialized="view", tests={"id": ["not_null"]}) }}\nselect id from {{ source("app", "ev") }}\n',
    }, source_rows={"app.ev": "select * from (values (1), (null)) t(id)"})
    result = cli("run", cwd=root)
    assert result.code == 1 and "data tests failed, not published: not_null(id)" in result.out, result.out + result.err


# -- 5. tags on a source's columns, once the catalog names them --------------------------------


@pytest.mark.parametrize("command", ["run", "plan"])
def test_a_tag_on_a_column_the_source_does_not_have_is_exit_2_once_its_columns_are_known(tmp_path, command):
    root = _project(tmp_path, {
        "warehouse/sources.toml": '[crm]\nschema = "crm"\n[crm.tables.users]\ntags = { salry = ["pii"] }\n',
        "features/tr.sql": "select * from {{ source('crm', 'users') }}\n",
    }, source_rows={"crm.users": "select 1::bigint as id, 1000.0::double as salary"})
    result = cli(command, cwd=root)
    assert result.code == 2, result.out + result.err
    assert ("warehouse/sources.toml:4: source crm.users: tags name column 'salry', which crm.users does not have "
            "(did you mean 'salary'?)") in result.err
    again = cli("ls", "--tag", "pii", cwd=root)  # the catalog's columns are remembered
    assert again.code == 2 and "salry" in again.err, again.out + again.err


def test_a_tag_on_a_column_the_source_has_is_kept(tmp_path):
    root = _project(tmp_path, {
        "warehouse/sources.toml": '[crm]\nschema = "crm"\n[crm.tables.users]\ntags = { Salary = ["pii"] }\n',
        "features/tr.sql": "select * from {{ source('crm', 'users') }}\n",
    }, source_rows={"crm.users": "select 1::bigint as id, 1000.0::double as salary"})
    assert cli("run", cwd=root).code == 0
    listed = cli("ls", "--tag", "pii", cwd=root)
    assert listed.code == 0 and "features.tr.salary" in listed.out, listed.out + listed.err


# -- text that is no number, on a number column (tester D) -----------------------------------

NUMS = ('{{ config(tests={"code": [{"accepted_values": %s}]}) }}\n'
        "select * from (values (1), (2)) t(code)\n")


@pytest.mark.parametrize("values, odd", [('["A1", "2"]', "'A1' is not a whole number"), ('["1", "None"]', "'None' is not a whole number"),
                                         ('["1.5"]', "'1.5' is not a whole number")])
def test_text_that_is_no_number_on_a_number_column_is_exit_2_on_duckdb(tmp_path, values, odd):
    result = cli("run", cwd=_project(tmp_path, {"features/nums.sql": NUMS % values}))
    assert result.code == 2, result.out + result.err
    assert f"features/nums.sql:1: tests: accepted_values(code): {odd}" in result.out + result.err
    assert "Conversion Error" not in result.out + result.err


def test_text_that_is_no_number_on_a_number_column_is_exit_2_on_postgres(tmp_path, pg_url):
    result = cli("run", cwd=_project(tmp_path, {"features/nums.sql": NUMS % '["A1", "2"]'}, POSTGRES.format(url=pg_url)))
    assert result.code == 2, result.out + result.err
    assert "features/nums.sql:1: tests: accepted_values(code): 'A1' is not a whole number" in result.out + result.err


def test_numbers_written_as_text_still_pass_on_a_number_column(tmp_path):
    result = cli("run", cwd=_project(tmp_path, {"features/nums.sql": NUMS % '["1", " 2"]'}))
    assert result.code == 0, result.out + result.err


def test_toolkit_test_refuses_values_of_another_kind_as_a_run_does(tmp_path):
    """`toolkit test` runs today's tests on what is published: a number list on a text column
    made DuckDB cast the column there ('01' passing as 1), exit 0."""
    root = _project(tmp_path, {"features/codes.sql": CODES % '["1", "01", " 1", "1.0", "2"]'})
    assert cli("run", cwd=root).code == 0
    write(root, {"features/codes.sql": CODES % "[1, 2]"})
    result = cli("test", cwd=root)
    assert result.code == 2, result.out + result.err
    assert "features/codes.sql:1: tests: accepted_values(s): 1 is not text" in result.out + result.err

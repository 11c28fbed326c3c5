"""`toolkit import-dbt`: every dbt source() call of the converted project reads the table
dbt reads, and a model the converted project cannot compile is listed as not converted.

sources.toml names a source table by its dbt `identifier`, so dbt's table names are mapped:
a literal source('app', 'orders') is rewritten, a source() whose names are Jinja values (a
loop variable, a {% set %}, a macro's arguments) calls the macro the import writes, and two
dbt names of one table both read it. Each test runs the converted project on DuckDB."""

from __future__ import annotations

import duckdb

from _projects import cli, write
from toolkit.dbtimport import import_dbt

PROJECT = "name: s\nversion: '1.0'\nprofile: s\nmodels:\n  s:\n    +materialized: table\n"


def _import(tmp_path, files: dict[str, str], check: bool = True):
    write(tmp_path / "dbt", {"dbt_project.yml": PROJECT, **files})
    report, out = import_dbt(tmp_path / "dbt", tmp_path / "out", check=check)
    return report, out, (out / "IMPORT_REPORT.md").read_text()


def _skipped(report) -> list[tuple[str, str, str, str]]:
    return [(kind, what, where, why) for (kind, why), items in report.skipped.items() for what, where in items]


def _tables(out, statements: list[str]) -> None:
    with duckdb.connect(str(out / "warehouse" / "s.duckdb")) as con:
        con.execute("create schema if not exists app")
        for statement in statements:
            con.execute(statement)


def _rows(out, relation: str) -> list[tuple]:
    with duckdb.connect(str(out / "warehouse" / "s.duckdb"), read_only=True) as con:
        return con.execute(f"select * from {relation} order by 1").fetchall()


RENAMED = """\
version: 2
sources:
  - name: app
    tables:
      - name: orders
        identifier: orders_v2
      - name: orders_old
        identifier: orders
"""


def test_a_source_call_of_jinja_names_reads_the_table_dbt_reads(tmp_path):
    files = {
        "models/src.yml": RENAMED,
        "models/via_loop.sql": "{% for t in ['orders'] %}\nselect v from {{ source('app', t) }}\n{% endfor %}\n",
        "models/via_set.sql": "{% set name = 'orders_old' %}\nselect v from {{ source('app', name) }}\n",
        "models/via_macro.sql": "select v from {{ read_app('orders') }}\n",
        "models/literal.sql": "select v from {{ source('app', 'orders') }}\n",
        "macros/read_app.sql": "{% macro read_app(table) %}{{ source('app', table) }}{% endmacro %}\n",
    }
    report, out, text = _import(tmp_path, files)
    assert "compiles" in report.check, report.check
    assert "dbt_import_source('app', t)" in (out / "features" / "via_loop.sql").read_text()
    assert "source('app', 'orders_v2')" in (out / "features" / "literal.sql").read_text()
    assert (out / "features" / "macros" / "dbt_import_source.sql").is_file()
    _tables(out, ["create table app.orders_v2 as select 'NEW: dbt source(app, orders)' as v",
                  "create table app.orders as select 'OLD: dbt source(app, orders_old)' as v"])
    result = cli("run", "-p", str(out))
    assert result.code == 0, result
    assert _rows(out, "features.via_loop") == [("NEW: dbt source(app, orders)",)]
    assert _rows(out, "features.via_macro") == [("NEW: dbt source(app, orders)",)]
    assert _rows(out, "features.literal") == [("NEW: dbt source(app, orders)",)]
    assert _rows(out, "features.via_set") == [("OLD: dbt source(app, orders_old)",)]


def test_without_renamed_tables_source_calls_stay_as_written(tmp_path):
    source = "version: 2\nsources:\n  - name: app\n    tables:\n      - name: orders\n"
    model = "{% for t in ['orders'] %}\nselect v from {{ source('app', t) }}\n{% endfor %}\n"
    report, out, text = _import(tmp_path, {"models/src.yml": source, "models/m.sql": model})
    assert "source('app', t)" in (out / "features" / "m.sql").read_text()
    assert not (out / "features" / "macros" / "dbt_import_source.sql").exists()


def test_a_project_macro_of_that_name_keeps_its_name(tmp_path):
    files = {
        "models/src.yml": RENAMED,
        "models/m.sql": "{% set t = 'orders' %}select v from {{ source('app', t) }} where {{ dbt_import_source() }}\n",
        "macros/mine.sql": "{% macro dbt_import_source() %}true{% endmacro %}\n",
    }
    report, out, text = _import(tmp_path, files)
    assert "compiles" in report.check, report.check
    assert "dbt_import_source_('app', t)" in (out / "features" / "m.sql").read_text()
    _tables(out, ["create table app.orders_v2 as select 'NEW' as v", "create table app.orders as select 'OLD' as v"])
    assert cli("run", "-p", str(out)).code == 0
    assert _rows(out, "features.m") == [("NEW",)]


def test_two_dbt_names_of_one_identifier_each_read_that_table(tmp_path):
    source = """\
        version: 2
        sources:
          - name: app
            tables:
              - name: current
                identifier: t_current
              - name: legacy
                identifier: t_legacy
              - name: t_current
                identifier: t_legacy
              - name: old
                identifier: t_legacy
                columns:
                  - name: v
                    tests: [not_null]
        """
    files = {
        "models/src.yml": source,
        "models/m.sql": "select v from {{ source('app', 't_current') }}\n",
        "models/c.sql": "select v from {{ source('app', 'current') }}\n",
        "models/dyn.sql": "{% set t = 't_current' %}select v from {{ source('app', t) }}\n",
    }
    report, out, text = _import(tmp_path, files)
    assert "compiles" in report.check, report.check
    assert "source app.t_current reads the table 't_legacy'" in text
    assert any(what == "app.old" and "tests, columns and freshness are not" in why for _, what, _, why in _skipped(report)), text
    _tables(out, ["create table app.t_current as select 'CURRENT' as v",
                  "create table app.t_legacy as select 'LEGACY' as v"])
    result = cli("run", "-p", str(out))
    assert result.code == 0, result
    assert _rows(out, "features.m") == [("LEGACY",)]
    assert _rows(out, "features.dyn") == [("LEGACY",)]
    assert _rows(out, "features.c") == [("CURRENT",)]


def test_each_model_that_does_not_compile_is_listed_at_its_line(tmp_path):
    files = {
        "seeds/base.csv": "id,v\n1,10\n",
        "models/m_do.sql": "{% set xs = [] %}{% do xs.append('id') %}\nselect {{ xs | join(', ') }} from {{ ref('base') }}\n",
        "models/m_log.sql": "{{ log('hello', info=True) }}\nselect 1 as x\n",
        "models/m_run_started.sql": "select '{{ run_started_at.strftime(\"%Y\") }}' as yr\n",
        "models/m_identifier.sql": "select '{{ ref(\"base\").identifier }}' as t\n",
        "models/m_modules.sql": "select '{{ modules.datetime.date.today() }}' as d\n",
        "models/m_macro.sql": "select {{ noisy() }} as a\n",
        "models/m_down.sql": "select a from {{ ref('m_macro') }}\n",
        "models/fine.sql": "select id from {{ ref('base') }}\n",
        "macros/noisy.sql": "{% macro noisy() %}{{ log('x') }}1{% endmacro %}\n",
    }
    report, out, text = _import(tmp_path, files)
    found = {what: (where, why) for kind, what, where, why in _skipped(report) if kind == "model"}
    assert found["m_do"][0] == "models/m_do.sql:1" and "unknown tag 'do'" in found["m_do"][1], text
    assert found["m_log"][0] == "models/m_log.sql:1" and "'log' is undefined" in found["m_log"][1], text
    assert "run_started_at" in found["m_run_started"][1] and "identifier" in found["m_identifier"][1], text
    assert "'modules' is undefined" in found["m_modules"][1], text
    assert found["m_macro"][0] == "models/m_macro.sql" and "(at macros/noisy.sql:1)" in found["m_macro"][1], text
    assert found["m_down"][1].startswith("reads m_macro, which does not compile"), text
    assert "fine" not in found and "Everything was converted" not in text
    assert "7 steps do not compile" in report.check and "without them it compiles: 1 steps" in report.check, report.check
    assert all((out / "features" / f"{name}.sql").is_file() for name in found)  # put back, as converted
    assert cli("compile", "-p", str(out)).code == 2


def test_freshness_toolkit_cannot_say_is_reported_and_the_rest_converted(tmp_path):
    source = """\
        version: 2
        sources:
          - name: app
            tables:
              - name: c
                loaded_at_field: "cast(ts as timestamp)"
                freshness: {warn_after: {count: 1, period: day}}
              - name: d
                loaded_at_field: loaded_at
                freshness:
                  warn_after: {count: 3, period: hour}
                  filter: "kind = 'x'"
              - name: e
                loaded_at_field: loaded_at
                freshness:
                  warn_after: {count: 3, period: hour}
                  error_after: {count: 1, period: day}
        """
    model = "select 1 as x from {{ source('app','c') }} union all select 1 from {{ source('app','d') }} union all select 1 from {{ source('app','e') }}\n"
    report, out, text = _import(tmp_path, {"models/src.yml": source, "models/m.sql": model})
    found = {what: why for _, what, _, why in _skipped(report)}
    assert "is an expression" in found["freshness of app.c"] and "not converted" in found["freshness of app.c"], text
    assert "freshness filter" in found["freshness of app.d"] and "not converted" in found["freshness of app.d"], text
    assert "error_after is not converted" in found["freshness of app.e"], text
    sources = (out / "warehouse" / "sources.toml").read_text()
    assert sources.count("freshness") == 1 and 'max_age = "3 hours"' in sources, sources
    _tables(out, ["create table app.c as select '2020-01-01' as ts",
                  "create table app.d as select * from (values ('x', timestamp '2020-01-01'), ('y', now()::timestamp)) t(kind, loaded_at)",
                  "create table app.e as select timestamp '2020-01-01' as loaded_at"])
    result = cli("run", "-p", str(out))
    assert result.code == 0, result  # the expression is not written as a column name (it was exit 2 every run)
    tested = cli("test", "-p", str(out))
    assert "source app.e: freshness(loaded_at): 1 failing row" in tested.out, tested  # the one converted, a warning
    assert "app.c" not in tested.out and "app.d" not in tested.out, tested

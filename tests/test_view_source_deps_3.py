"""View sources over toolkit's own steps on PostgreSQL (viewsources.py), continued.

A view reading nothing but steps is printed, for its readers, by its texts over those steps'
data (ViewSources.by_texts), but only where the engine says its views are stable
(engine.stable_views). PostgreSQL said nothing: the view's print was its rows, hashed while
planning, before the run rebuilt the step it reads; the next run hashed the new rows and
rebuilt the reader a second time with nothing changed. A view whose rows can change over the
same step data (a function of the database reading a table) keeps being hashed.
"""

from __future__ import annotations

from _projects import run, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from test_view_source_deps_2 import pg_view_project

SOURCES = '[app]\nschema = "app"\n[app.tables.orders]\n[app.tables.v2]\n'
READER = 'select count(*) as n, max(id) as top from {{ source("app", "v2") }}'
A_EDITED = 'select id from {{ source("app", "orders") }} union all select 10'


def pg_project(tmp_path, url: str, *view_sql: str):
    """a over app.orders, published; then the DBA's view (`view_sql`, making app.v2 over features.a); then b reading it."""
    return pg_view_project(tmp_path, url, *view_sql, sources=SOURCES, reader=READER)


def step_statuses(result) -> dict[str, str]:
    return {event["step"]: event["status"] for event in result.events() if event.get("event") == "step_finished"}


def test_reader_of_a_view_over_a_step_is_rebuilt_once(tmp_path, pg_url):  # noqa: F811
    """The run that rebuilds a rebuilds b after it (b reads a's new rows); the next run, nothing
    changed, reuses b (it rebuilt b again: 'source data changed (app.v2: a view reading a)')."""
    root = pg_project(tmp_path, pg_url, "create view app.v2 as select id * 2 as id from features.a")
    write(root, {"features/a.sql": A_EDITED})
    first = run(root, "--target", "pg")
    assert first.code == 0, first
    assert step_statuses(first) == {"a": "success", "b": "success"}, first
    assert pg_query(pg_url, "select n, top from features.b") == [(2, 20)]
    again = run(root, "--target", "pg")
    assert again.code == 0, again
    assert step_statuses(again) == {"a": "reused", "b": "reused"}, again


def test_reader_of_a_view_over_views_over_a_step_is_rebuilt_once(tmp_path, pg_url):  # noqa: F811
    root = pg_project(tmp_path, pg_url, "create view app.v1 as select * from features.a",
                                        "create view app.v2 as select id * 2 as id from app.v1")
    write(root, {"features/a.sql": A_EDITED})
    assert run(root, "--target", "pg").code == 0
    again = run(root, "--target", "pg")
    assert step_statuses(again) == {"a": "reused", "b": "reused"}, again


def test_view_calling_a_function_that_reads_a_table_is_still_hashed(tmp_path, pg_url):  # noqa: F811
    """app.v2 reads features.a and, through a (stable) function, app.extra: pg_depend names only
    features.a as a relation it reads, so its texts over a's data do not say its rows; a new row
    in app.extra changes them, and b is rebuilt."""
    root = pg_project(tmp_path, pg_url, "create table app.extra as select 5 as id",
                                        "create function app.extra_top() returns integer stable language sql "
                                        "as 'select max(id) from app.extra'",
                                        "create view app.v2 as select id + app.extra_top() as id from features.a")
    assert pg_query(pg_url, "select n, top from features.b") == [(1, 6)]
    assert step_statuses(run(root, "--target", "pg")) == {"a": "reused", "b": "reused"}
    pg_query(pg_url, "insert into app.extra values (50)")
    changed = run(root, "--target", "pg")
    assert changed.code == 0, changed
    assert step_statuses(changed) == {"a": "reused", "b": "success"}, changed
    assert pg_query(pg_url, "select n, top from features.b") == [(1, 51)]


def _stable_views(tmp_path, url: str):
    """engine.stable_views() of the database at `url`."""
    from toolkit.config import Target
    from toolkit.engines import connect

    engine = connect(Target("pg", "postgres", {"url": url}), tmp_path, 5.0)
    try:
        return engine.stable_views()
    finally:
        engine.close()


def test_views_reading_the_clock_or_a_sequence_are_not_stable(tmp_path, pg_url):  # noqa: F811
    """PostgreSQL's own functions are pinned: pg_depend records no view calling now(); the text does."""
    for statement in ("create schema app", "create table app.t as select 1 as id", "create sequence app.s",
                      "create view app.v as select id * 2 as id from app.t"):
        pg_query(pg_url, statement)
    assert set(_stable_views(tmp_path, pg_url)) == {("app", "v")}
    for volatile in ("select id from app.t where now() > '2000-01-01'::timestamptz", "select nextval('app.s') as n",
                     "select current_date as d", "select random() as r"):
        pg_query(pg_url, f"create view app.w as {volatile}")
        assert _stable_views(tmp_path, pg_url) is None, volatile
        pg_query(pg_url, "drop view app.w")


# -- import-dbt: a source() name made from a var() that dbt does not declare ---------------------

DBT_PROJECT = "name: s\nversion: '1.0'\nprofile: s\nvars:\n  suf: '_v2'\nmodels:\n  s:\n    +materialized: table\n"
DBT_SOURCES = ("version: 2\nsources:\n  - name: app\n    tables:\n      - name: orders\n      - name: orders_v2\n"
               "      - name: legacy\n        identifier: orders_legacy_tbl\n")


def test_refused_var_source_name_is_reported_at_the_steps_source_call(tmp_path):
    """The converted step calls the macro import-dbt wrote (dbt_import_source); the name the var
    made is refused there, but the user's call is the step's line 2 (a macro's: its own line)."""
    from toolkit.dbtimport import import_dbt

    from _projects import cli

    write(tmp_path / "dbt", {"dbt_project.yml": DBT_PROJECT, "models/src.yml": DBT_SOURCES,
                             "models/m.sql": "-- orders\nselect v from {{ source('app', 'orders' ~ var('suf')) }}\n",
                             "models/via.sql": "select v from {{ src_t('orders') }}\n",
                             "macros/m.sql": "{% macro src_t(t) %}\n{{ source('app', t ~ var('suf')) }}\n{% endmacro %}\n"})
    _, out = import_dbt(tmp_path / "dbt", tmp_path / "out", check=False)
    line = next(number for number, text in enumerate((out / "features" / "m.sql").read_text().splitlines(), 1)
                if "dbt_import_source(" in text)
    (out / "features" / "via.sql").rename(tmp_path / "via.sql")  # one failing step at a time
    result = cli("compile", "-p", str(out), "--vars", '{"suf": "_legacy_tbl"}')
    assert result.code == 2, result
    assert f"features/m.sql:{line}: source('app', 'orders_legacy_tbl')" in result.err, result
    assert "dbt_import_source.sql" not in result.err and "Traceback" not in result.err, result
    (out / "features" / "m.sql").unlink()
    (tmp_path / "via.sql").rename(out / "features" / "via.sql")
    result = cli("compile", "-p", str(out), "--vars", '{"suf": "_legacy_tbl"}')
    assert result.code == 2, result
    assert "features/macros/m.sql:2: source('app', 'orders_legacy_tbl')" in result.err, result

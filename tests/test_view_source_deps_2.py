"""View sources over toolkit's own steps (viewsources.py), continued.

A reader of a view source whose upstream's publish is held by a custom test (planning.
held_publishes): the reader reads the published relation, so it waits for that publish;
when the test holding it runs with the reader (or a step built from it), the publish can
only follow the reader, which would then read the old rows under a print claiming the new
ones: the reader is not built, and says why.

On PostgreSQL what a view reads is what pg_depend says, not its text's names (an unqualified
name there was found through the search_path, not in the view's schema).
"""

from __future__ import annotations

from _projects import cli, execute, make_project, rows, run, run_in_process, statuses, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

SOURCES = '[app]\nschema = "app"\n[app.tables.orders]\n[app.tables.v]\n'
READER = 'select count(*) as n, max(id) as top from {{ source("app", "v") }}'


def view_project(tmp_path, files: dict[str, str]):
    """a over app.orders, the DBA's view app.v over features.a, b reading app.v; `files`: more."""
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES,
                                         "features/a.sql": 'select id from {{ source("app", "orders") }}'},
                        "create schema app; create table app.orders as select 1 as id")
    assert run_in_process(root).ok
    execute(root, "create view app.v as select * from features.a")
    write(root, {"features/b.sql": READER, **files})
    assert run_in_process(root).ok
    return root


def test_reader_whose_own_test_holds_the_step_it_reads_is_not_built_from_old_rows(tmp_path):
    """tests/b_and_a.sql reads a and b: it runs with b and holds a's publish until it passed, but
    b reads a through the view, that is a's published rows: b cannot read a's new rows before its
    own test ran. Built anyway, b published a's old rows under a print claiming the new ones (and
    was reused with them from then on). Now b is not built and names the conflict; a, whose
    test did not run, is not published either: nothing published disagrees with its plan."""
    test = 'select b.n from {{ ref("b") }} as b where b.n < 0 and exists (select 1 from {{ ref("a") }})'
    root = view_project(tmp_path, {"features/tests/b_and_a.sql": test})
    assert rows(root, "features.b") == [(1, 1)]
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 10'})
    planned = cli("plan", "-p", str(root))
    assert "b would read a's old rows, so it is not built" in planned.out, planned
    result = run(root)
    assert result.code == 2, result
    assert statuses(root) == {"a": "failed", "b": "failed"}
    assert "app.v" in result.err + result.out and "b_and_a.sql" in result.err + result.out, result
    assert rows(root, "features.b") == [(1, 1)]
    assert rows(root, "features.a") == [(1,)]
    again = run(root)
    assert again.code == 2, again
    assert rows(root, "features.b") == [(1, 1)]


def test_reader_whose_descendants_test_holds_the_step_it_reads_is_not_built(tmp_path):
    """The test holding a runs with c, built from b: the same cycle, one step further."""
    test = 'select c.n from {{ ref("c") }} as c where c.n < 0 and exists (select 1 from {{ ref("a") }})'
    root = view_project(tmp_path, {"features/c.sql": 'select n from {{ ref("b") }}', "features/tests/c_and_a.sql": test})
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 10'})
    result = run(root)
    assert result.code == 2, result
    assert statuses(root) == {"a": "failed", "b": "failed", "c": "skipped"}
    assert rows(root, "features.b") == [(1, 1)]
    assert rows(root, "features.a") == [(1,)]


def test_reader_waits_for_a_publish_held_by_another_steps_test(tmp_path):
    """d (built from a) has a custom test reading a and d: a's publish waits for it, and b, reading
    a through the view, waits for that publish: b reads a's new rows."""
    test = 'select d.id from {{ ref("d") }} as d where d.id < 0 and exists (select 1 from {{ ref("a") }})'
    root = view_project(tmp_path, {"features/d.sql": 'select id from {{ ref("a") }}', "features/tests/d_and_a.sql": test})
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 10'})
    result = run(root)
    assert result.code == 0, result
    assert rows(root, "features.b") == [(2, 10)]


def test_reader_is_skipped_when_the_held_publish_is_refused(tmp_path):
    test = 'select d.id from {{ ref("d") }} as d where d.id > 5 and exists (select 1 from {{ ref("a") }})'
    root = view_project(tmp_path, {"features/d.sql": 'select id from {{ ref("a") }}', "features/tests/d_and_a.sql": test})
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 10'})
    result = run(root)
    assert result.code == 1, result
    assert statuses(root) == {"a": "failed", "b": "skipped", "d": "failed"}
    assert rows(root, "features.b") == [(1, 1)]


def pg_view_project(tmp_path, url: str, *view_sql: str, sources: str = SOURCES, reader: str = READER):
    """The same project on PostgreSQL: a published, then the views (`view_sql`), then b (`reader`) reading one."""
    pg_query(url, "create schema app")
    pg_query(url, "create table app.orders as select 1 as id")
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": sources,
                                         "features/a.sql": 'select id from {{ source("app", "orders") }}'})
    config = (root / "toolkit.toml").read_text()
    (root / "toolkit.toml").write_text(config + f'\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n')
    assert run(root, "--target", "pg").code == 0
    for statement in view_sql:
        pg_query(url, statement)
    write(root, {"features/b.sql": reader})
    assert run(root, "--target", "pg").code == 0
    return root


def test_postgres_view_naming_a_step_through_the_search_path_is_followed(tmp_path, pg_url):  # noqa: F811
    """The database's search_path holds features: app.v's definition, as PostgreSQL prints it
    (pg_get_viewdef), names `a` with no schema. Taken as app.a, b was not made to wait for a and
    read its old rows; PostgreSQL's own dependencies (pg_depend) say which relation it reads."""
    database = pg_url.rsplit("/", 1)[1]
    pg_query(pg_url, f'alter database "{database}" set search_path = features, public')
    root = pg_view_project(tmp_path, pg_url, "create view app.v as select * from a")
    write(root, {"features/a.sql": 'select id from {{ source("app", "orders") }} union all select 6'})
    result = run(root, "--target", "pg")
    assert result.code == 0, result
    assert pg_query(pg_url, "select n, top from features.b") == [(2, 6)]

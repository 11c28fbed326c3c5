"""Labels of two relationships tests on one column; what rollback puts back of a view's comments and grants.

The project of test_custom_test_holds.py (a from a_src, u from u_src, ...) with z, whose rows
come from u and whose relationships test says every z.id is an a.id.

- Two relationships tests on z.id (to a and to u) were both labelled relationships(id): in
  `toolkit test` output and toolkit.test_results the failing one could not be told from the
  passing one. Each now names its parent; a single test keeps its label.
- rollback restored a promote's tables but kept the comments and grants the promoted
  post_hooks set on the views (it ran the project's hooks as they are now): it now puts back
  those the promote found (toolkit/viewmeta.py), and warns of what it cannot.
"""

from __future__ import annotations

import pytest
import test_custom_test_holds as holds  # the module, not its names: pytest would collect its tests here too
from postgres_support import pg_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow  # end-to-end runs

DAILY_Z = ('{{ config(tests={"id": [{"relationships": {"to": "a", "field": "id"}}]}) }}\n'
           'select id from {{ ref("u") }}\n')
TWO_PARENTS_Z = ('{{ config(tests={"id": [{"relationships": {"to": "a", "field": "id"}}, '
                 '{"relationships": {"to": "u", "field": "id"}}]}) }}\nselect id from {{ ref("u") }}\n')


def test_two_relationships_tests_on_one_column_have_their_own_labels(tmp_path):
    w = holds.Warehouse(tmp_path, None, z=TWO_PARENTS_Z)
    assert w.toolkit("run").code == 0
    w.sql("delete from app.a_src")  # a loses id 1, which z refers to; u keeps it
    assert w.toolkit("run", "--select", "a").code == 0  # z left out: a is published without its test

    tested = w.toolkit("test", "--select", "z")

    assert tested.code == 1, tested.out + tested.err
    assert "relationships(id to a): 1 failing row" in tested.out, tested.out
    assert "pass  step z: relationships(id to u)" in tested.out and "relationships(id)" not in tested.out, tested.out
    results = w.rows("select test, status from toolkit.test_results where run_id = 3 and step = 'z' order by test")
    assert results == [("relationships(id to a)", "fail"), ("relationships(id to u)", "pass")], results


def test_a_single_relationships_test_keeps_its_label(tmp_path):
    w = holds.Warehouse(tmp_path, None, z=DAILY_Z)
    assert w.toolkit("run").code == 0
    assert w.rows("select test, status from toolkit.test_results where run_id = 1 and step = 'z'") == [("relationships(id)", "pass")]


# -- rollback puts back the comments and grants the promote found (toolkit/viewmeta.py) -------

ROLES = ("fixer_envplan_before", "fixer_envplan_promoted")


def hooked(*hooks: str, extra: str = "") -> str:
    listed = ", ".join('"' + hook.replace("THIS", "{{ this }}") + '"' for hook in hooks)
    return "{{ config(post_hook=[" + listed + "]) }}\nselect 1 as id, 10 as amount" + extra + "\n"


def promote_then_rollback(root, before: str, promoted: str, target: tuple = ()) -> str:
    """prod runs `before`, dev runs `promoted`, promote dev prod, then rollback (with the
    project as promoted, as a user rolling back a bad release has it): rollback's output."""
    from _projects import cli_tuple

    step = root / "features" / "daily.sql"
    for text, env in ((before, "prod"), (promoted, "dev")):
        step.write_text(text)
        code, out, err = cli_tuple("run", *target, "--env", env, "-p", str(root), cwd=root)
        assert code == 0, out + err
    code, out, err = cli_tuple("promote", "dev", *target, "-p", str(root), cwd=root)
    assert code == 0, out + err
    code, out, err = cli_tuple("rollback", *target, "-p", str(root), cwd=root)
    assert code == 0, out + err
    return out


def duckdb_comments(root):
    from _projects import query

    view = query(root, "select comment from duckdb_views() where schema_name = 'features' and view_name = 'daily'")
    columns = query(root, "select column_name, comment from duckdb_columns() where schema_name = 'features' "
                          "and table_name = 'daily' order by column_index")
    return view[0][0], dict(columns)


@pytest.mark.parametrize("before, was", [
    (hooked("comment on table THIS is 'v1'", "comment on column THIS.amount is 'cents'"), ("v1", {"id": None, "amount": "cents"})),
    (hooked(), (None, {"id": None, "amount": None})),
], ids=["earlier-comment", "no-comment-before"])
def test_rollback_on_duckdb_puts_the_earlier_comments_back(tmp_path, before, was):
    from _projects import make_project

    root = make_project(tmp_path / "p", {"features/daily.sql": before})
    promoted = hooked("comment on table THIS is 'v2'", "comment on column THIS.id is 'key'", extra=", 2 as extra")

    out = promote_then_rollback(root, before, promoted)

    assert duckdb_comments(root) == was, out
    assert "rolled back prod" in out and "could not undo" not in out, out


@pytest.fixture
def roles(pg_url):  # noqa: F811 (fixture)
    """Two roles of the server, made for the test and dropped after it (with what they were granted)."""
    from postgres_support import pg_query

    for role in ROLES:
        if not pg_query(pg_url, f"select 1 from pg_roles where rolname = '{role}'"):
            pg_query(pg_url, f"create role {role}")
    yield pg_url
    for role in ROLES:
        pg_query(pg_url, f"drop owned by {role}")  # its grants in the test's database; the database goes too
    from postgres_support import _admin

    for role in ROLES:
        try:
            _admin(f"drop role if exists {role}")
        except Exception:  # noqa: BLE001 (granted in another test's database still): the next test drops it
            pass


def pg_view_meta(url: str) -> tuple:
    from postgres_support import pg_query

    comments = pg_query(url, "select obj_description('features.daily'::regclass), col_description('features.daily'::regclass, 1), "
                             "col_description('features.daily'::regclass, 2)")[0]
    grants = pg_query(url, "select grantee, privilege_type from information_schema.table_privileges where table_schema = 'features' "
                           "and table_name = 'daily' and grantee <> grantor order by 1, 2")
    return comments, grants


@pytest.mark.parametrize("extra", ["", ", 2 as extra"], ids=["same-columns", "columns-added"])
def test_rollback_on_postgres_puts_the_earlier_grants_and_comments_back(tmp_path, roles, extra):
    from _projects import make_project

    url = roles
    root = make_project(tmp_path / "p", {"features/daily.sql": hooked()})
    with open(root / "toolkit.toml", "a") as config:
        config.write(f'\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n')
    before = hooked("comment on table THIS is 'v1'", f"grant select on THIS to {ROLES[0]}")
    promoted = hooked("comment on table THIS is 'v2'", "comment on column THIS.amount is 'cents'",
                      f"grant select on THIS to {ROLES[1]}", f"revoke select on THIS from {ROLES[0]}", extra=extra)

    out = promote_then_rollback(root, before, promoted, ("--target", "pg"))

    assert pg_view_meta(url) == (("v1", None, None), [(ROLES[0], "SELECT")]), out
    assert "could not undo" not in out, out


def test_rollback_of_a_state_saved_without_a_record_says_what_it_could_not_undo(tmp_path):
    from _projects import execute, make_project

    before = hooked("comment on table THIS is 'v1'")
    root = make_project(tmp_path / "p", {"features/daily.sql": before})
    from _projects import cli_tuple

    assert cli_tuple("run", "-p", str(root), cwd=root)[0] == 0
    (root / "features" / "daily.sql").write_text(hooked("comment on table THIS is 'v2'"))
    assert cli_tuple("run", "--env", "dev", "-p", str(root), cwd=root)[0] == 0
    assert cli_tuple("promote", "dev", "-p", str(root), cwd=root)[0] == 0
    execute(root, "update toolkit.published_history set view_meta = null")  # as an older toolkit saved it

    code, out, err = cli_tuple("rollback", "-p", str(root), cwd=root)

    assert code == 0, out + err
    assert ("warning: rollback could not undo everything: no record of the comments and grants of daily before the promote: "
            "their views got the post_hooks of the project as it is now") in out, out
    assert duckdb_comments(root)[0] == "v2"

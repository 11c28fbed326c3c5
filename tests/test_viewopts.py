"""PostgreSQL: what a published view keeps when toolkit re-points it (PostgresEngine.replace_view),
found wanting:

- options a DBA set with ALTER VIEW ... SET (security_barrier, security_invoker, check_option)
  were lost at the next publish: CREATE OR REPLACE VIEW without WITH (...) resets them, and
  a view re-created for new column types (DROP + CREATE) had none. A security_barrier view
  silently stopped being one. Now read from pg_class.reloptions and given again in the same
  statement, on both paths, by a run, a promote and a rollback;
- a view handed to another role (ALTER VIEW ... OWNER TO) reads its tables with its owner's
  privileges: re-pointed at a new physical table, the run passed and every reader of the view
  got "permission denied for table ...". Now the owner is granted SELECT on what the view
  reads (said, a warning, where that is refused);
- a rollback that retypes a view said restore's notes twice (as the engine's warning and as
  the rollback's own)."""

from __future__ import annotations

import json
import uuid

import pytest

from postgres_support import SERVER_URL, SKIP_REASON, _admin, pg_query, two_target_project, with_database

SEED = {"warehouse/seeds/src.csv": "id,v\n1,2\n"}
FIRST = "select id, v * 3 as v2 from {{ ref('src') }}\n"
CHANGED = "select id, v * 4 as v2 from {{ ref('src') }}\n"  # same column types: CREATE OR REPLACE VIEW
RETYPED = "select id, (v * 3)::double as v2 from {{ ref('src') }}\n"  # DROP + CREATE


@pytest.fixture
def url():
    """A fresh database fixer_viewopts_*, dropped after the test."""
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    database = f"fixer_viewopts_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{database}"')
    try:
        yield with_database(SERVER_URL, database)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def new_role():
    """new_role() -> a role made for the test (fixer_viewopts_*), dropped after the database
    (requested before `url`)."""
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    made: list[str] = []

    def make() -> str:
        name = f"fixer_viewopts_{uuid.uuid4().hex[:8]}"
        _admin(f'CREATE ROLE "{name}"')
        made.append(name)
        return name

    yield make
    for name in reversed(made):
        _admin(f'DROP ROLE IF EXISTS "{name}"')


def _cli(run_cli, root, *args: str) -> str:
    code, out, err = run_cli(*args, "--target", "pg", cwd=root)
    assert code == 0, out + err
    return out + err


def _published(run_cli, root, url: str) -> None:
    two_target_project(root, url, {**SEED, "features/y.sql": FIRST})
    _cli(run_cli, root, "run")


def _republish(run_cli, root, text: str, *args: str) -> str:
    (root / "features/y.sql").write_text(text, encoding="utf-8")
    return _cli(run_cli, root, "run", *args)


def _options(url: str, view: str = "features.y") -> set[str]:
    return set(pg_query(url, f"select coalesce(reloptions, '{{}}')::text from pg_class where oid = '{view}'::regclass")[0][0]
               .strip("{}").split(",")) - {""}


def _physical(url: str) -> str:
    return pg_query(url, "select t.relname from pg_depend d join pg_rewrite r on r.oid = d.objid "
                         "join pg_class t on t.oid = d.refobjid where r.ev_class = 'features.y'::regclass "
                         "and t.oid <> 'features.y'::regclass")[0][0]


def _v2_type(url: str) -> str:
    return pg_query(url, "select format_type(atttypid, atttypmod) from pg_attribute "
                         "where attrelid = 'features.y'::regclass and attname = 'v2'")[0][0]


def _as_role(url: str, role: str, sql: str):
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(f'set role "{role}"')
        cursor.execute(sql)
        return cursor.fetchall() if cursor.description else []


OPTIONS = {"security_barrier=true", "check_option=local"}


@pytest.mark.parametrize("text", [CHANGED, RETYPED], ids=["replaced", "retyped"])
def test_a_republished_view_keeps_its_options(tmp_path, url, run_cli, text):
    root = tmp_path / "p"
    _published(run_cli, root, url)
    pg_query(url, "alter view features.y set (security_barrier = true, check_option = local)")
    before = _physical(url)

    out = _republish(run_cli, root, text)
    assert _physical(url) != before  # re-pointed
    assert _v2_type(url) == ("double precision" if text == RETYPED else "bigint")
    assert _options(url) == OPTIONS
    assert "warning" not in out


def test_security_invoker_is_kept_too(tmp_path, url, run_cli):
    root = tmp_path / "p"
    _published(run_cli, root, url)
    pg_query(url, "alter view features.y set (security_invoker = on)")  # PostgreSQL keeps the spelling: on
    _republish(run_cli, root, CHANGED)
    assert _options(url) in ({"security_invoker=true"}, {"security_invoker=on"})


def test_a_promote_and_its_rollback_keep_the_options(tmp_path, url, run_cli):
    """prod's view is re-pointed (retyped) by the promote and again by the rollback."""
    root = tmp_path / "p"
    _published(run_cli, root, url)
    pg_query(url, "alter view features.y set (security_barrier = true)")
    (root / "features/y.sql").write_text(RETYPED, encoding="utf-8")
    _cli(run_cli, root, "run", "--env", "dev")
    _cli(run_cli, root, "promote", "dev", "prod")
    assert _v2_type(url) == "double precision"
    assert _options(url) == {"security_barrier=true"}
    _cli(run_cli, root, "rollback", "prod")
    assert _v2_type(url) == "bigint"
    assert _options(url) == {"security_barrier=true"}


@pytest.mark.parametrize("text", [CHANGED, RETYPED], ids=["replaced", "retyped"])
def test_a_view_owned_by_another_role_is_still_readable_after_a_republish(tmp_path, new_role, url, run_cli, text):
    owner, reader = new_role(), new_role()
    root = tmp_path / "p"
    _published(run_cli, root, url)
    pg_query(url, f'grant usage on schema features to "{reader}"')
    pg_query(url, f'grant select on features.y to "{reader}"')
    pg_query(url, f'alter view features.y owner to "{owner}"')
    pg_query(url, f'grant select on toolkit_physical.{_physical(url)} to "{owner}"')  # the DBA's: the view reads as its owner
    assert _as_role(url, reader, "select v2 from features.y") == [(6,)]

    out = _republish(run_cli, root, text)
    assert pg_query(url, "select pg_get_userbyid(relowner) from pg_class where oid = 'features.y'::regclass") == [(owner,)]
    assert _as_role(url, reader, "select v2 from features.y") == [(8,) if text == CHANGED else (6.0,)]
    assert "warning" not in out


def test_a_rollback_that_retypes_a_view_says_each_note_once(tmp_path, new_role, url, run_cli):
    """A grant another role gave comes back given by toolkit's user: one warning, not two."""
    granting, reader = new_role(), new_role()
    root = tmp_path / "p"
    _published(run_cli, root, url)
    pg_query(url, f'grant usage on schema features to "{granting}"')
    pg_query(url, f'grant select on features.y to "{granting}" with grant option')
    _as_role(url, granting, f'grant select on features.y to "{reader}"')
    (root / "features/y.sql").write_text(RETYPED, encoding="utf-8")
    _cli(run_cli, root, "run", "--env", "dev")
    _cli(run_cli, root, "promote", "dev", "prod")  # retyped: the grant to `reader` is given again, by toolkit's user
    _as_role(url, granting, f'grant select on features.y to "{reader}"')  # and by `granting` again since

    out = _cli(run_cli, root, "rollback", "prod", "--log-format", "json")
    assert _v2_type(url) == "bigint"
    warnings = [event["message"] for event in map(json.loads, filter(None, out.splitlines())) if event.get("event") == "warning"]
    about_reader = [message for message in warnings if f"SELECT to {reader} by" in message]
    assert len(about_reader) == 1, warnings

"""PostgreSQL: a step whose output column changes type is published by dropping and re-creating
its view (CREATE OR REPLACE VIEW cannot retype a column); replace_view then gives the view back
its comments and grants (viewmeta.restore). Found wanting:

- the view's owner was lost: an analyst's ALTER VIEW ... OWNER TO left it owned by toolkit's
  user again. Now it is given back (its grants pass to it, grantor and all, as before); an
  owner role that no longer exists, or that toolkit's user may not hand the view to, is said
  (a warning) and the view stays toolkit's user's;
- what restore could not put back (its notes) was discarded: the user was not told. Now each
  is a warning on the console, as `toolkit rollback` shows restore's notes."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlglot import exp

from postgres_support import SERVER_URL, SKIP_REASON, _admin, pg_query, pg_url, two_target_project, with_database  # noqa: F401 (a fixture)

SEED = {"warehouse/seeds/src.csv": "id,v\n1,2\n"}
RETYPED = "select id, (v * 3)::double as v2 from {{ ref('src') }}\n"


@pytest.fixture
def new_role():
    """new_role(login=False) -> the name of a role made for the test (roles are the server's);
    requested before pg_url, each is dropped after the database."""
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    made: list[str] = []

    def make(login: bool = False) -> str:
        name = f"toolkit_test_role_{uuid.uuid4().hex[:8]}"
        _admin(f'CREATE ROLE "{name}"' + (" LOGIN" if login else ""))
        made.append(name)
        return name

    yield make
    for name in reversed(made):
        _admin(f'DROP ROLE IF EXISTS "{name}"')


def _as_role(url: str, role: str, statement: str) -> None:
    """`statement` run by `role` (SET ROLE: the test's connection is a superuser's)."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(url, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(f'set role "{role}"')
        cursor.execute(statement)


def _owner(url: str) -> str:
    return pg_query(url, "select pg_get_userbyid(relowner) from pg_class where oid = 'features.y'::regclass")[0][0]


def _grants(url: str) -> set[tuple[str, str, str]]:
    return set(pg_query(url, "select grantee, privilege_type, grantor from information_schema.table_privileges "
                             "where table_schema = 'features' and table_name = 'y' and grantee <> grantor"))


def _retyped(url: str) -> bool:
    return pg_query(url, "select format_type(atttypid, atttypmod) from pg_attribute "
                         "where attrelid = 'features.y'::regclass and attname = 'v2'") == [("double precision",)]


def _published(run_cli, root, url: str) -> None:
    two_target_project(root, url, {**SEED, "features/y.sql": "select id, v * 3 as v2 from {{ ref('src') }}\n"})
    code, out, err = run_cli("run", "--target", "pg", cwd=root)
    assert code == 0, out + err


def _retype(run_cli, root, *args: str) -> str:
    (root / "features/y.sql").write_text(RETYPED, encoding="utf-8")
    code, out, err = run_cli("run", "--target", "pg", *args, cwd=root)
    assert code == 0, out + err
    return out + err


def test_a_retyped_view_keeps_its_owner_and_its_grants_stay_the_owners(tmp_path, new_role, pg_url, run_cli):  # noqa: F811
    owner, reader = new_role(), new_role()
    root = tmp_path / "p"
    _published(run_cli, root, pg_url)
    pg_query(pg_url, f'grant select on features.y to "{reader}"')
    pg_query(pg_url, f'alter view features.y owner to "{owner}"')  # toolkit's grant passes to the owner
    before = _grants(pg_url)
    assert before == {(reader, "SELECT", owner)}

    out = _retype(run_cli, root)
    assert _retyped(pg_url)
    assert _owner(pg_url) == owner
    assert _grants(pg_url) == before
    assert "warning" not in out


def test_what_a_retyped_view_did_not_get_back_is_a_warning(tmp_path, new_role, pg_url, run_cli):  # noqa: F811
    """A grant another role gave (with the grant option toolkit's user gave it) comes back
    given by the owner: said, on the console, as text and as a JSON event."""
    granting, reader = new_role(), new_role()
    root = tmp_path / "p"
    _published(run_cli, root, pg_url)
    pg_query(pg_url, f'grant usage on schema features to "{granting}"')
    pg_query(pg_url, f'grant select on features.y to "{granting}" with grant option')
    _as_role(pg_url, granting, f'grant select on features.y to "{reader}"')
    assert (reader, "SELECT", granting) in _grants(pg_url)

    out = _retype(run_cli, root, "--log-format", "json")
    assert _retyped(pg_url)
    assert {grantee for grantee, _, _ in _grants(pg_url)} == {granting, reader}
    warnings = [event for event in map(json.loads, filter(None, out.splitlines())) if event.get("event") == "warning"]
    assert len(warnings) == 1, out
    message = warnings[0]["message"]
    assert message.startswith("warning: view re-created for its new column types, not all as it was: ")
    assert "grants not as before it was dropped and re-created" in message and f"SELECT to {reader} by {granting}" in message


def test_an_owner_toolkits_user_may_not_hand_the_view_to_is_a_warning(tmp_path, new_role, pg_url, run_cli):  # noqa: F811
    """toolkit's user (not a superuser) may drop the view it is a member of the owner of; the
    owner, without CREATE on the schema, may not own a new one: the run goes on, and says so."""
    owner, toolkit_user = new_role(), new_role(login=True)
    pg_query(pg_url, f'grant create on database "{pg_url.rsplit("/", 1)[1]}" to "{toolkit_user}"')
    pg_query(pg_url, f'grant "{owner}" to "{toolkit_user}"')
    as_user = pg_url.replace("postgres@", f"{toolkit_user}@", 1)
    assert as_user != pg_url
    root = tmp_path / "p"
    _published(run_cli, root, as_user)
    pg_query(pg_url, f'alter view features.y owner to "{owner}"')  # a superuser may, without CREATE on the schema

    out = _retype(run_cli, root)
    assert _retyped(pg_url)
    assert _owner(pg_url) == toolkit_user
    assert f"warning: view re-created for its new column types, not all as it was: features.y: owner {owner} not given back (" in out
    assert "(permission denied for schema features)" in out


def test_what_a_drop_takes_that_toolkit_does_not_make_again_is_a_warning(tmp_path, pg_url, run_cli):  # noqa: F811
    """A rule and a column's default (CREATE OR REPLACE VIEW keeps them, a DROP takes them):
    not re-created from the catalog's SQL text, but said."""
    root = tmp_path / "p"
    _published(run_cli, root, pg_url)
    pg_query(pg_url, "alter view features.y alter column id set default 0")
    pg_query(pg_url, "create rule no_updates as on update to features.y do instead nothing")

    out = _retype(run_cli, root)
    assert _retyped(pg_url)
    said = "warning: view re-created for its new column types, not all as it was: features.y: its "
    assert f"{said}default of column id was dropped with it, not made again (make it again by hand)" in out
    assert f"{said}rule no_updates was dropped with it, not made again (make it again by hand)" in out


def test_restore_skips_an_owner_role_that_no_longer_exists_and_says_so(tmp_path, pg_url):  # noqa: F811
    """An owner recorded before its role was dropped (or renamed): the rest is restored."""
    from toolkit import viewmeta
    from toolkit.config import Target
    from toolkit.engines import connect

    engine = connect(Target("pgowner", "postgres", {"url": pg_url}), tmp_path, exclusive=False)
    try:
        engine.execute("create schema s")
        engine.execute("create view s.v as select 1 as a")
        view = exp.to_table("s.v")
        saved = viewmeta.snapshot_one(engine, view)
        assert saved["owner"] == "postgres"
        gone = f"toolkit_test_role_{uuid.uuid4().hex[:8]}"  # never made
        with engine.transaction():
            notes = viewmeta.restore(engine, view, {**saved, "comment": "kept", "owner": gone}, since="it was dropped and re-created")
        assert notes == [f"s.v: owner {gone} not given back (role {gone} no longer exists: dropped or renamed since)"]
        assert viewmeta.snapshot_one(engine, view) == {**saved, "comment": "kept"}
    finally:
        engine.close()

"""PostgreSQL: what `rollback` puts back of a view's grants (toolkit/viewmeta.py), found wanting:

- a recorded grant to a role renamed or dropped since the promote made the whole rollback
  fail ("role ... does not exist; nothing was changed", exit 2): prod stayed on the promoted
  state. Now that grant is skipped and said (a warning), the rest is rolled back;
- a column-level grant (GRANT SELECT (id) ON view) was not recorded: a view the promote
  dropped came back without it, silently. Now recorded (pg_attribute.attacl: a column's own
  grants, not the table's) and given back, or revoked when given since; a retyped view
  (dropped and re-created by replace_view) keeps it too."""

from __future__ import annotations

import uuid

import pytest

from postgres_support import SERVER_URL, SKIP_REASON, _admin, pg_query, pg_url, two_target_project  # noqa: F401 (a fixture)

SEED = {"warehouse/seeds/src.csv": "id,v\n1,2\n"}


@pytest.fixture
def new_role():
    """new_role() -> the name of a role made for the test (roles are the server's); requested
    before pg_url, each is dropped after the database, under its name or a name `renamed` says."""
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    made: list[str] = []

    def make() -> str:
        name = f"toolkit_test_role_{uuid.uuid4().hex[:8]}"
        _admin(f'CREATE ROLE "{name}"')
        made.extend([name, f"{name}_renamed"])
        return name

    yield make
    for name in made:
        _admin(f'DROP ROLE IF EXISTS "{name}"')


def _cli(run_cli, root, *args: str) -> str:
    code, out, err = run_cli(*args, "--target", "pg", cwd=root)
    assert code == 0, out + err
    return out + err


def _promote_dropping_gone(run_cli, root, url: str, granted: list[str]) -> None:
    """prod publishes `gone` (and the seed), `granted` is run on it, then dev (without `gone`)
    is promoted to prod: the promote drops the view, with its grants."""
    two_target_project(root, url, {**SEED, "features/gone.sql": "select id, v from {{ ref('src') }}\n"})
    _cli(run_cli, root, "run")
    for statement in granted:
        pg_query(url, statement)
    (root / "features/gone.sql").unlink()
    (root / "features/z.sql").write_text("select 1 as one\n", encoding="utf-8")
    _cli(run_cli, root, "run", "--env", "dev")
    _cli(run_cli, root, "promote", "dev", "prod")
    assert not _views(url) & {"gone"}


def _views(url: str) -> set[str]:
    return {name for name, in pg_query(url, "select table_name from information_schema.views where table_schema = 'features'")}


def _table_grants(url: str, view: str) -> set[tuple[str, str]]:
    return set(pg_query(url, "select grantee, privilege_type from information_schema.table_privileges "
                             f"where table_schema = 'features' and table_name = '{view}' and grantee <> grantor"))


def _column_acls(url: str, view: str) -> dict[str, str | None]:
    """column -> its own ACL (attacl: column-level grants only), as PostgreSQL prints it."""
    return dict(pg_query(url, "select attname, attacl::text from pg_attribute "
                              f"where attrelid = 'features.{view}'::regclass and attnum > 0 and not attisdropped"))


@pytest.mark.parametrize("gone_how", ["renamed", "dropped"])
def test_rollback_skips_a_grant_to_a_role_that_no_longer_exists_and_says_so(tmp_path, new_role, pg_url, run_cli, gone_how):  # noqa: F811
    lost, kept = new_role(), new_role()
    root = tmp_path / "p"
    _promote_dropping_gone(run_cli, root, pg_url, [f'grant select on features.gone to "{lost}"',
                                                     f'grant select on features.gone to "{kept}"'])
    if gone_how == "renamed":  # the DBA renamed it meanwhile
        _admin(f'ALTER ROLE "{lost}" RENAME TO "{lost}_renamed"')
    else:  # no grant holds it any more: the promote dropped the view
        _admin(f'DROP ROLE "{lost}"')

    out = _cli(run_cli, root, "rollback", "prod")

    assert _views(pg_url) == {"gone"}, out  # rolled back: gone is back, z removed
    assert pg_query(pg_url, "select * from features.gone") == [(1, 2)]
    assert _table_grants(pg_url, "gone") == {(kept, "SELECT")}, out
    assert f"SELECT to {lost} not given back (role {lost} no longer exists: dropped or renamed since)" in out, out


def test_rollback_skips_a_column_grant_to_a_role_that_no_longer_exists(tmp_path, new_role, pg_url, run_cli):  # noqa: F811
    lost = new_role()
    root = tmp_path / "p"
    _promote_dropping_gone(run_cli, root, pg_url, [f'grant select (id) on features.gone to "{lost}"'])
    _admin(f'DROP ROLE "{lost}"')

    out = _cli(run_cli, root, "rollback", "prod")

    assert _views(pg_url) == {"gone"}, out
    assert _column_acls(pg_url, "gone") == {"id": None, "v": None}
    assert f"SELECT (id) to {lost} not given back (role {lost} no longer exists" in out, out


def test_rollback_gives_back_a_column_grant_of_a_view_the_promote_dropped(tmp_path, new_role, pg_url, run_cli):  # noqa: F811
    role = new_role()
    root = tmp_path / "p"
    _promote_dropping_gone(run_cli, root, pg_url, [f'grant select (id) on features.gone to "{role}"',
                                                     f'grant update (v) on features.gone to "{role}" with grant option',
                                                     "grant select on features.gone to public"])

    out = _cli(run_cli, root, "rollback", "prod")

    # the table-level grant to PUBLIC stays a table-level one: no column grant made of it
    assert _table_grants(pg_url, "gone") == {("PUBLIC", "SELECT")}, out
    assert _column_acls(pg_url, "gone") == {"id": f"{{{role}=r/postgres}}", "v": f"{{{role}=w*/postgres}}"}, out
    assert "could not undo" not in out, out


def test_rollback_revokes_a_column_grant_given_since_the_promote(tmp_path, new_role, pg_url, run_cli):  # noqa: F811
    before, since = new_role(), new_role()
    root = tmp_path / "p"
    two_target_project(root, pg_url, {**SEED, "features/y.sql": "select id, v from {{ ref('src') }}\n"})
    _cli(run_cli, root, "run")
    pg_query(pg_url, f'grant select (id) on features.y to "{before}"')
    (root / "features/y.sql").write_text("select id, v, v + 1 as w from {{ ref('src') }}\n", encoding="utf-8")
    _cli(run_cli, root, "run", "--env", "dev")
    _cli(run_cli, root, "promote", "dev", "prod")  # CREATE OR REPLACE VIEW: the grant stays
    pg_query(pg_url, f'grant select (v) on features.y to "{since}"')

    out = _cli(run_cli, root, "rollback", "prod")

    assert _column_acls(pg_url, "y") == {"id": f"{{{before}=r/postgres}}", "v": None}, out
    assert "could not undo" not in out, out


def test_a_retyped_steps_view_keeps_its_column_grants(tmp_path, new_role, pg_url, run_cli):  # noqa: F811
    role = new_role()
    root = tmp_path / "p"
    two_target_project(root, pg_url, {**SEED, "features/y.sql": "select id, v * 3 as v2, v as gone from {{ ref('src') }}\n"})
    _cli(run_cli, root, "run")
    pg_query(pg_url, f'grant select (id, v2, gone) on features.y to "{role}"')

    (root / "features/y.sql").write_text("select id, (v * 3)::double as v2 from {{ ref('src') }}\n", encoding="utf-8")
    _cli(run_cli, root, "run")

    assert pg_query(pg_url, "select format_type(atttypid, atttypmod) from pg_attribute "
                            "where attrelid = 'features.y'::regclass and attname = 'v2'") == [("double precision",)]  # it was retyped
    # the grant on a column the view no longer has is left behind
    assert _column_acls(pg_url, "y") == {"id": f"{{{role}=r/postgres}}", "v2": f"{{{role}=r/postgres}}"}

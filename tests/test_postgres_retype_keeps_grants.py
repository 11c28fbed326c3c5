"""PostgreSQL: a step whose columns change type is published by dropping and re-creating its
view (CREATE OR REPLACE VIEW cannot retype a column). The DROP took with it what an analyst
or a post_hook had put on the view, a GRANT or a COMMENT, silently. The re-created view gets
them back; a comment of a column the view no longer has is left behind."""

from __future__ import annotations

import uuid

import pytest

from postgres_support import SERVER_URL, SKIP_REASON, _admin, pg_query, pg_url, two_target_project  # noqa: F401 (a fixture)

SEED = {"warehouse/seeds/src.csv": "id,v\n1,2\n"}


@pytest.fixture
def role():
    """A role of its own (roles are the server's): requested before pg_url, it is dropped after the database."""
    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    name = f"toolkit_test_role_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE ROLE "{name}"')
    try:
        yield name
    finally:
        _admin(f'DROP ROLE IF EXISTS "{name}"')


def _grantees(url: str) -> set[tuple[str, str]]:
    return set(pg_query(url, "select grantee, privilege_type from information_schema.table_privileges "
                             "where table_schema = 'features' and table_name = 'y' and grantee <> grantor"))


def _comments(url: str) -> tuple:
    view = pg_query(url, "select obj_description('features.y'::regclass, 'pg_class')")[0][0]
    columns = dict(pg_query(url, "select a.attname, col_description(a.attrelid, a.attnum) from pg_attribute a "
                                 "where a.attrelid = 'features.y'::regclass and a.attnum > 0 and col_description(a.attrelid, a.attnum) is not null"))
    return view, columns


def test_a_retyped_steps_view_keeps_its_grants_and_comments(tmp_path, role, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "p"
    two_target_project(root, pg_url, {**SEED, "features/y.sql": "select id, v * 3 as v2, v as gone from {{ ref('src') }}\n"})
    code, out, err = run_cli("run", "--target", "pg", cwd=root)
    assert code == 0, out + err
    pg_query(pg_url, f'grant select on features.y to "{role}"')
    pg_query(pg_url, "comment on view features.y is 'owned by BI'")
    pg_query(pg_url, "comment on column features.y.v2 is 'three times v'")
    pg_query(pg_url, "comment on column features.y.gone is 'to be dropped'")

    (root / "features/y.sql").write_text("select id, (v * 3)::double as v2 from {{ ref('src') }}\n", encoding="utf-8")
    code, out, err = run_cli("run", "--target", "pg", cwd=root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select format_type(atttypid, atttypmod) from pg_attribute "
                            "where attrelid = 'features.y'::regclass and attname = 'v2'") == [("double precision",)]  # it was retyped
    assert _grantees(pg_url) == {(role, "SELECT")}
    assert _comments(pg_url) == ("owned by BI", {"v2": "three times v"})
    assert pg_query(pg_url, "select * from features.y") == [(1, 6.0)]

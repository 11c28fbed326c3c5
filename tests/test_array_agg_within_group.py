"""Snowflake's `array_agg(x) within group (order by k)` runs on PostgreSQL with DuckDB's rows.

Tester N: a snowflake-dialect step `array_to_string(array_agg(name) within group (order by
name), ',')` ran on DuckDB and was "internal error: ParseError ... ArrayToString" on a
PostgreSQL target (sqlglot wrote the WITHIN GROUP as read, which PostgreSQL has no such
form of). It is written `array_agg(name ORDER BY name)` there, the key collated "C".
"""

from __future__ import annotations

import duckdb

from postgres_support import icu_url, pg_query, two_target_project  # noqa: F401 (a fixture)

STEP = ("select grp, array_to_string(array_agg(name) within group (order by name), ',') as j,\n"
        "       array_to_string(array_agg(name) within group (order by id desc), ',') as by_id\n"
        "from {{ ref('t') }} group by grp")


def _project(root, url: str) -> None:
    two_target_project(root, url, {
        "warehouse/seeds/t.csv": "id,name,grp\n1,a,x\n2,B,x\n4,c,y\n",
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", name = "varchar", grp = "varchar" }\n',
        "features/j.sql": STEP + "\n",
    }, "snowflake", "aw")


def test_array_agg_within_group_publishes_duckdbs_rows_on_postgres(tmp_path, icu_url, run_cli):  # noqa: F811
    root = tmp_path / "p"
    _project(root, icu_url)
    for target in ("local", "pg"):
        code, out, err = run_cli("run", "--target", target, cwd=root)
        assert code == 0, out + err
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as con:
        expected = sorted(con.execute("select * from features.j").fetchall())
    assert expected == [("x", "B,a", "B,a"), ("y", "c", "c")]
    assert sorted(pg_query(icu_url, "select * from features.j")) == expected

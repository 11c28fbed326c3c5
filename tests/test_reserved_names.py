"""Step and seed names that are SQL keywords (features/from.sql, seeds select.csv) work:
ref() writes them quoted (issue 18 item 13)."""

from __future__ import annotations

import duckdb


def test_keyword_names_build_and_read(make_project, run_cli):
    root = make_project({
        "features/from.sql": "select 1 as x",
        "features/order.sql": 'select x + 1 as x from {{ ref("from") }}',
        "warehouse/seeds/select.csv": "k,v\n1,a\n",
        "features/uses.sql": 'select o.x, s.v from {{ ref("order") }} as o join {{ ref("select") }} as s on s.k = o.x - 1',
    })
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    with duckdb.connect(str(root / "warehouse" / "test.duckdb"), read_only=True) as con:
        assert con.execute('select * from features."uses"').fetchall() == [(2, "a")]
        assert con.execute('select x from features."from"').fetchall() == [(1,)]
    code, out, err = run_cli("run", cwd=root)
    assert code == 0 and "4 reused" in out, out + err

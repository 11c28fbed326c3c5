"""DuckDB's range() and generate_series() in FROM on PostgreSQL (pgmeanings._series_column_named):
DuckDB names the column after the function (`r.range`, `generate_series`) and counts in BIGINTs;
sqlglot wrote GENERATE_SERIES(...) AS r, whose column PostgreSQL names after the alias, so
`r.range` failed the build (exit 1, tester U) and `select *` published a column named
otherwise, of INTEGERs; a series of dates was of TIMESTAMPTZs; and sqlglot's inclusive end
(end - 1) was wrong for a descending range or a step of hours.

Each step runs through `toolkit run` on DuckDB and on PostgreSQL (TOOLKIT_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import duckdb
from postgres_support import pg_query, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)

STEPS = {
    "features/aliased.sql": "select count(*) as n, sum(r.range) as s from range(10) r where r.range > 3\n",
    "features/bare.sql": "select range from range(2, 5)\n",
    "features/star.sql": "select * from generate_series(1, 3)\n",
    "features/series.sql": "select g.generate_series as v from generate_series(0, 6, 3) as g\n",
    "features/named.sql": "select x from range(3) as t(x)\n",
    "features/days.sql": "select d.range as day from range(date '2024-01-01', date '2024-01-04', interval 1 day) d\n",
    "features/down.sql": "select range as v from range(10, 1, -3)\n",  # 10, 7, 4: sqlglot's end - 1 counted 1 too
    "features/hours.sql": "select range as t from range(timestamp '2024-01-01', timestamp '2024-01-02', interval 6 hour)\n",
}


def published(root, url: str, step: str) -> tuple[dict, list, dict, list]:
    """`step`'s column types and sorted rows on DuckDB, then on PostgreSQL."""
    columns = ("select column_name, data_type from information_schema.columns "
               f"where table_schema = 'features' and table_name = '{step}' order by ordinal_position")
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as duck:
        want_types, want = dict(duck.sql(columns).fetchall()), sorted(duck.sql(f"select * from features.{step}").fetchall())
    return want_types, want, dict(pg_query(url, columns)), sorted(pg_query(url, f"select * from features.{step}"))


def test_range_and_generate_series_columns_are_duckdbs(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, STEPS, "duckdb", "pgrange")
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=root)
        assert code == 0, out + err
    expected = {
        "aliased": ({"n": "BIGINT", "s": "HUGEINT"}, [(6, 39)]),
        "bare": ({"range": "BIGINT"}, [(2,), (3,), (4,)]),
        "star": ({"generate_series": "BIGINT"}, [(1,), (2,), (3,)]),
        "series": ({"v": "BIGINT"}, [(0,), (3,), (6,)]),
        "named": ({"x": "BIGINT"}, [(0,), (1,), (2,)]),
        "down": ({"v": "BIGINT"}, [(4,), (7,), (10,)]),
    }
    for step, (types, rows) in expected.items():
        want_types, want, got_types, got = published(root, pg_url, step)
        assert want_types == types and want == rows, step
        assert [tuple(int(v) for v in row) for row in got] == rows, step
        assert list(got_types) == list(types), step
        assert all(kind in ("bigint", "numeric") for kind in got_types.values()), (step, got_types)
    want_types, want, got_types, got = published(root, pg_url, "days")
    assert want_types == {"day": "TIMESTAMP"} and got_types == {"day": "timestamp without time zone"}
    assert got == want and len(got) == 3
    want_types, want, got_types, got = published(root, pg_url, "hours")
    assert got == want and len(got) == 4  # 00:00 to 18:00: sqlglot's end - 1 took a day off (00:00 alone)


def test_a_series_of_times_whose_step_is_computed_is_refused_at_its_line(tmp_path, pg_url, run_cli):  # noqa: F811
    """Its end cannot be made inclusive without the step's sign: exit 2 at the line, where
    sqlglot's end - 1 failed the build (timestamp - integer)."""
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "features/h.sql": "select 1 as one,\n  range as t from range(timestamp '2024-01-01', timestamp '2024-01-02', interval (1 + 1) hour)\n",
    }, "duckdb", "pgrange")

    code, out, err = run_cli("run", "--target", "pg", cwd=root)

    assert code == 2, out + err
    assert "features/h.sql:2" in out + err and "generate_series(a, b - interval '1 microsecond', step)" in out + err

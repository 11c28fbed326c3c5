"""DuckDB's values kept on PostgreSQL (toolkit/pgmeanings.py) for corr and regr_slope over a
constant x (NaN in DuckDB, NULL there), split_part at field 0 ('' in DuckDB, an error there)
and a division by zero (inf, -inf or NaN in DuckDB 2, an error there); a % of doubles (no
such operator there, and no same-value rewrite) is refused at compile, exit 2 at the user's line.

The tests run steps through `toolkit run` on DuckDB and on PostgreSQL (a fresh database,
TOOLKIT_TEST_POSTGRES_URL) and compare the published rows and column types.
"""

from __future__ import annotations

import math

from postgres_support import built_on_both, pg_query, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)


def _comparable(rows: list[tuple]) -> list[tuple]:
    """Rows with NaN written "NaN" (NaN equals nothing, itself neither)."""
    return [tuple("NaN" if isinstance(value, float) and math.isnan(value) else value for value in row) for row in rows]


# g 1: x constant; 2: one pair; 3: a line; 4: no pair (x NULL); 5: x constant, one y NULL
PAIRS = "id,g,x,y\n1,1,2,1\n2,1,2,3\n3,1,2,8\n4,2,5,5\n5,3,1,2\n6,3,2,4\n7,4,,1\n8,5,3,\n9,5,3,4\n10,5,3,6\n"


def test_corr_and_regr_slope_of_a_constant_are_nan(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": PAIRS,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", g = "integer", x = "double", y = "double" }\n',
        "features/a.sql": "select g as id, corr(y, x) as c, corr(x, y) as cx, regr_slope(y, x) as s, regr_slope(x, y) as sx,\n"
                          "  corr(y, x) filter (where id > 1) as cf, regr_intercept(y, x) as i, regr_r2(y, x) as r2,\n"
                          "  covar_pop(y, x) as cp\nfrom {{ ref('t') }}\ngroup by g\n",
        "features/w.sql": "select id, corr(y, x) over (partition by g) as c,\n"
                          "  regr_slope(y, x) over (partition by g order by id rows between unbounded preceding and current row) as s\n"
                          "from {{ ref('t') }}\n",
    }, "duckdb", "pgv9")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "a")
    assert _comparable(got) == _comparable(want)
    assert _comparable(want)[0][1:5] == ("NaN", "NaN", "NaN", 0.0)  # x constant; y on a constant x: slope 0
    assert _comparable(want)[3][1] is None  # no pair: NULL on both
    assert got_types["c"] == "double precision"
    _, want, _, got = built_on_both(run_cli, root, pg_url, "w")
    assert _comparable(got) == _comparable(want)
    assert _comparable(want)[0][2] == "NaN" and _comparable(want)[4][2] == "NaN"  # one pair read so far


def test_split_part_at_field_zero_is_empty(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": "id,s,n\n1,\"a,b,c\",0\n2,\"a,,\",-1\n3,,0\n4,abc,\n5,\"x,y\",-3\n",
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", s = "varchar", n = "integer" }\n',
        "features/v.sql": "select id, split_part(s, ',', 0) as p0, split_part(s, ',', n) as pn, split_part(s, ',', -1) as pl,\n"
                          "  split_part(s, ',', n + 1) as pn1, split_part(nullif(s, ''), ',', 0) as pnull\nfrom {{ ref('t') }}\n",
    }, "duckdb", "pgv9")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert got == want
    assert want[0] == (1, "", "", "c", "a", "")
    assert want[2][-1] is None  # s NULL: NULL at field 0 too


DIVISIONS = "id,a,b,i,j\n1,1.5,0,3,0\n2,-2,0.0,-3,0\n3,0,0,0,0\n4,1,-0.0,7,2\n5,,0,,0\n6,7,2,-7,2\n"


def test_a_division_by_zero_is_infinite(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": DIVISIONS,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", a = "double", b = "double", i = "integer", j = "integer" }\n',
        "features/v.sql": "select id, a / b as ab, i / j as ij, a / 0 as a0, cast(i as decimal(4, 1)) / j as dj,\n"
                          "  sum(a) over (order by id) / b as sb, (i + 1) / (j - j) / 2 as nested, a / nullif(b, 0) as an\n"
                          "from {{ ref('t') }}\n",
    }, "duckdb", "pgv9")
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert _comparable(got) == _comparable(want)
    assert _comparable(want)[0][1:4] == (math.inf, math.inf, math.inf)
    assert _comparable(want)[1][1:3] == (-math.inf, -math.inf)
    assert _comparable(want)[2][1:3] == ("NaN", "NaN")
    assert want[3][1] == -math.inf  # 1 / -0.0
    assert want[5][1:3] == (3.5, -3.5)
    assert got_types["ab"] == got_types["ij"] == got_types["dj"] == "double precision"


def test_a_remainder_of_doubles_is_refused_at_the_line(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": DIVISIONS,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", a = "double", b = "double", i = "integer", j = "integer" }\n',
        "features/v.sql": "select id,\n  i % 2 as im,\n  a % 2 as am\nfrom {{ ref('t') }}\n",
    }, "duckdb", "pgv9")
    code, out, err = run_cli("run", "--target", "pg", cwd=root)
    assert code == 2, out + err
    assert "v.sql:3:" in out + err and "of doubles cannot run on postgres" in out + err, out + err
    assert "Traceback" not in out + err


DOCUMENTS = 'id,s,n\n1,"{""a"": [1, 2, [3]]}",-1\n2,"{""a"": 3}",5\n3,"[1, 2, 3]",0\n4,"{""a"": null}",-128\n5,"{""b"": 1}",127\n'


def test_bit_count_date_sub_and_json_array_length_run_with_duckdbs_values(tmp_path, pg_url, run_cli):  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": DOCUMENTS,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", s = "varchar", n = "integer" }\n',
        "features/v.sql": "select id, bit_count(cast(n as tinyint)) as b8, bit_count(cast(n as smallint)) as b16,\n"
                          "  bit_count(cast(n as integer)) as b32, bit_count(cast(n as bigint)) as b64, bit_count(-1) as lit,\n"
                          "  date_sub('day', date '2024-03-01', date '2024-03-01' + id) as dd,\n"
                          "  date_sub('hour', timestamptz '2024-03-30 12:00+01', timestamptz '2024-03-31 12:00+02') as th,\n"
                          "  date_sub('day', timestamptz '2024-03-30 12:00+01', timestamptz '2024-03-31 12:00+02') as td,\n"
                          "  date_sub('days', timestamp '2024-03-02 12:00', timestamp '2024-03-01 11:00:01' - id * interval 1 hour) as wd,\n"
                          "  date_sub('minute', timestamp '2024-03-01 12:00:59', timestamp '2024-03-01 12:01:00' + id * interval 1 minute) as dm,\n"
                          "  json_array_length(s) as j, json_array_length(s, '$.a') as ja, json_array_length(s, '$.a[2]') as ja2\n"
                          "from {{ ref('t') }}\n",
    }, "duckdb", "pgv9", settings='time_zone = "Europe/Berlin"\n')
    want_types, want, got_types, got = built_on_both(run_cli, root, pg_url, "v")
    assert got == want
    assert want[0][1:6] == (8, 16, 32, 64, 32)  # -1 at each width
    assert want[0][7:9] == (23, 1)  # hours elapsed, calendar days, over a spring-forward night
    assert [row[-3:] for row in want] == [(0, 3, 1), (0, 0, None), (3, None, None), (0, 0, None), (0, None, None)]
    assert got_types["b8"] == "smallint" and got_types["dd"] == "bigint"


def _refused(tmp_path, pg_url, run_cli, select: str) -> str:  # noqa: F811
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": DOCUMENTS,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", s = "varchar", n = "integer" }\n',
        "features/v.sql": f"select id,\n  {select} as v\nfrom {{{{ ref('t') }}}}\n",
    }, "duckdb", "pgv9")
    code, out, err = run_cli("run", "--target", "pg", cwd=root)
    assert code == 2, out + err
    assert "Traceback" not in out + err
    return out + err


def test_calls_without_an_exact_postgres_spelling_are_refused_at_the_line(tmp_path, pg_url, run_cli):  # noqa: F811
    for select, said in [("bit_count(n)", "v.sql:2: bit_count(t.n) cannot run on postgres"),
                         ("date_sub('month', date '2024-01-31', date '2024-02-29')", "v.sql:2: date_sub('month', ...)")]:
        message = _refused(tmp_path / select.split("(")[0].strip(), pg_url, run_cli, select)
        assert said in message, message
        assert "with DuckDB's value" in message, message


def test_like_any_of_a_list_runs_on_postgres_without_a_duckdb_run_first(tmp_path, pg_url, run_cli):  # noqa: F811
    """s LIKE ANY ('a%', 'x'): sqlglot writes the list as a tuple, a syntax error there (a
    DuckDB run first hid it: the compile cache read the step back as ORs)."""
    root = tmp_path / "project"
    two_target_project(root, pg_url, {
        "warehouse/seeds/t.csv": "id,s\n1,abc\n2,x\n3,y\n",
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", s = "varchar" }\n',
        "features/v.sql": "select id, s like any ('a%', 'x') as hit, s not like any ('a%', 'x') as miss,\n"
                          "  s ilike any ('A%', 'Y') as ihit\nfrom {{ ref('t') }}\n",
    }, "duckdb", "pgv9")
    code, out, err = run_cli("run", "--target", "pg", cwd=root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select id, hit, miss, ihit from features.v order by id") == [
        (1, True, True, True), (2, True, True, False), (3, False, True, True)]


def test_a_divisor_that_cannot_be_zero_keeps_one_division():
    """toolkit's own round() divides by CAST(100 AS DOUBLE PRECISION): no CASE for it; a cast
    that can make 0 of a literal (to an integer, a decimal, a REAL) still gets one."""
    import sqlglot

    from toolkit.pgmeanings import _never_zero

    def divisor(sql: str):
        return sqlglot.parse_one(f"select x / {sql}", read="postgres").selects[0].expression

    assert all(_never_zero(divisor(sql)) for sql in ["100", "cast(100 as double precision)", "(-2.5)", "null", "nullif(y, 0)"])
    assert not any(_never_zero(divisor(sql)) for sql in ["0", "y", "cast(0.4 as int)", "cast(0.4 as decimal(1, 0))",
                                                         "cast(1e-50 as real)", "cast(0 as double precision)", "1e-400"])

"""DuckDB's own spellings on PostgreSQL, end to end.

extract / date_part: a compiled step's text is
DuckDB's own spelling (sqlglot writes extract(dow ...) back as EXTRACT(DAYOFWEEK ...)),
which PostgreSQL refused when the step was built (exit 1, no line); and PostgreSQL's
EXTRACT is a NUMERIC (date_part a double) where DuckDB's is a BIGINT (a DOUBLE for epoch
and julian), with the second's fraction kept where DuckDB counts whole units.
GROUP BY ALL / ORDER BY ALL: PostgreSQL has neither (the step failed when built)."""

from __future__ import annotations

import duckdb
import pytest
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

pytestmark = pytest.mark.slow  # two end-to-end runs

PARTS = ["dow", "dayofweek", "weekday", "doy", "dayofyear", "isodow", "dayofmonth", "weekofyear", "week", "isoyear",
         "quarter", "hour", "second", "millisecond", "microsecond", "epoch", "julian"]
STEP = ("select id,\n"
        + ",\n".join(f"       extract({part} from ts) as x_{part}" for part in PARTS)
        + ",\n       date_part('year', ts) as dp_year,\n       date_part('dow', ts) as dp_dow\n"
        + "from {{ ref('t') }}\n")
SEED = "id,ts\n1,2024-01-07 10:00:01.7\n2,2024-12-30 23:59:59.999\n3,2021-01-03 00:00:00\n"


def _project(root, pg_url):
    files = {
        "toolkit.toml": ('name = "x"\ndialect = "duckdb"\ntarget = "local"\n[targets.local]\nengine = "duckdb"\n'
                         f'path = "warehouse/w.duckdb"\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n'),
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", ts = "timestamp" }\n',
        "features/parts.sql": STEP,
    }
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)


def test_extract_publishes_duckdbs_values_and_types_on_postgres(tmp_path, pg_url, run_cli):  # noqa: F811
    _project(tmp_path, pg_url)
    for target in ("local", "pg"):
        code, out, err = run_cli("run", "--target", target, cwd=tmp_path)
        assert code == 0, out + err
    with duckdb.connect(str(tmp_path / "warehouse/w.duckdb"), read_only=True) as duck:
        want = duck.execute("select * from features.parts order by id").fetchall()
        want_types = duck.execute("select column_name, data_type from information_schema.columns "
                                  "where table_name = 'parts' order by ordinal_position").fetchall()
    got = pg_query(pg_url, "select * from features.parts order by id")
    got_types = pg_query(pg_url, "select column_name, data_type from information_schema.columns "
                                 "where table_name = 'parts' order by ordinal_position")
    as_postgres = {"INTEGER": "integer", "BIGINT": "bigint", "DOUBLE": "double precision"}
    assert [(name, as_postgres[kind]) for name, kind in want_types] == got_types
    assert [tuple(row) for row in got] == want


def test_a_part_postgres_has_no_equivalent_of_is_exit_2_at_compile(tmp_path, pg_url, run_cli):  # noqa: F811
    _project(tmp_path, pg_url)
    (tmp_path / "features/parts.sql").write_text("select id,\n       extract(yearweek from ts) as yw\nfrom {{ ref('t') }}\n")
    code, out, err = run_cli("run", "--target", "pg", cwd=tmp_path)
    assert code == 2 and "Traceback" not in err, out + err
    assert "features/parts.sql:2" in err and "extract(yearweek from ...) has no equivalent on postgres" in err, err


GROUPED = """\
select upper(s) as u, count(*) as n, sum(id) + 1 as total
from {{ ref('g') }}
group by all
order by all desc
"""


def test_group_by_all_and_order_by_all_publish_duckdbs_rows_on_postgres(tmp_path, pg_url, run_cli):  # noqa: F811
    _project(tmp_path, pg_url)
    (tmp_path / "warehouse/seeds/g.csv").write_text("id,s\n1,a\n2,a\n3,b\n4,\n5,B\n")
    (tmp_path / "features/grouped.sql").write_text(GROUPED)
    (tmp_path / "features/ordered.sql").write_text("select * from (select * from {{ ref('grouped') }} order by all limit 2)\n")
    for target in ("local", "pg"):
        code, out, err = run_cli("run", "--target", target, cwd=tmp_path)
        assert code == 0, out + err
    with duckdb.connect(str(tmp_path / "warehouse/w.duckdb"), read_only=True) as duck:
        want = {name: duck.execute(f"select * from features.{name} order by u nulls last").fetchall()
                for name in ("grouped", "ordered")}
    assert want["grouped"] == [("", 1, 5), ("A", 2, 4), ("B", 2, 9)]  # a seed's empty text is '' on both
    for name in ("grouped", "ordered"):
        got = pg_query(pg_url, f"select * from features.{name} order by u nulls last")
        assert [(u, n, int(total)) for u, n, total in got] == want[name]  # sum(bigint) is a NUMERIC there, a HUGEINT here


def test_group_by_all_over_select_star_groups_by_every_column_on_postgres(tmp_path, pg_url, run_cli):  # noqa: F811
    """The star is expanded at compile (the seed's columns are known), then grouped by position."""
    _project(tmp_path, pg_url)
    (tmp_path / "warehouse/seeds/d.csv").write_text("id,s\n1,a\n1,a\n2,b\n")
    (tmp_path / "features/parts.sql").write_text("select *\nfrom {{ ref('d') }}\ngroup by all\n")
    for target in ("local", "pg"):
        code, out, err = run_cli("run", "--target", target, cwd=tmp_path)
        assert code == 0, out + err
    assert [tuple(row) for row in pg_query(pg_url, "select * from features.parts order by id")] == [(1, "a"), (2, "b")]

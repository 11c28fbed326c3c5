"""A DuckDB-dialect step run on PostgreSQL writes an interval as text as DuckDB does ('1 month',
'2 months 3 days', '-1 day', '-1 year -1 month', '-1 day 01:00:00'), not as PostgreSQL does
('1 mon', '-1 days', '-1 years -1 mons', '-1 days +01:00:00'): a cast to text, ::text, || and
concat (pgmeanings.duckdb_interval_text). The values themselves agree (a timestamp difference
is '1 day 02:00:00' on both), so only the text is rewritten."""

from __future__ import annotations

from urllib.parse import urlsplit

import duckdb
from sqlglot import exp
from postgres_support import built_on_both, pg_query, pg_url, two_target_project  # noqa: F401 (pg_url is a fixture)

from toolkit import pgmeanings

# written on both engines; (PostgreSQL's text of each differs for most)
LITERALS = ("1 month", "2 months 3 days", "-1 day", "-1 year -1 month", "-11 years", "1 year -1 month", "21 days",
            "101 months", "-1 days 1 hour", "1 day -1 hour", "0 seconds", "-1 year 1 day", "-1 month 1 day -1 hour",
            "1 month -1 day", "1 year", "-2 years -3 months -4 days", "36 hours", "1.5 seconds", "-4 hours -5 minutes -6 seconds",
            "1 microsecond", "1000000 hours", "-21 days", "-101 months", "11 days", "1 day")


def test_postgres_text_of_each_interval_is_rewritten_to_duckdbs(pg_url):  # noqa: F811
    duck = [duckdb.sql(f"select cast(interval '{text}' as varchar)").fetchall()[0][0] for text in LITERALS]
    written = [pgmeanings.duckdb_interval_text(exp.cast(exp.Interval(this=exp.Literal.string(text)), "text")).sql("postgres")
               for text in LITERALS]
    raw = pg_query(pg_url, "select " + ", ".join(f"cast(interval '{text}' as text)" for text in LITERALS))[0]
    got = pg_query(pg_url, "select " + ", ".join(written))[0]
    assert list(raw) != duck  # PostgreSQL's own text differs ('1 mon', '-1 days')
    assert list(got) == duck


SEEDS = {
    "warehouse/seeds/t.csv": ("id,k,a,b\n1,1,2024-01-01 00:00:00,2024-01-02 02:00:00\n2,-1,2024-01-01 00:00:00,2024-03-02 05:00:00\n"
                              "3,2,2024-03-02 00:00:00,2024-01-01 00:00:00\n4,-11,2024-01-01 00:00:00,2024-01-01 00:00:01.5\n"
                              "5,13,2024-01-01 00:00:00,2024-01-01 00:00:00\n6,21,2024-01-01 00:00:00,2023-12-31 20:00:00\n"
                              "7,101,2024-01-01 00:00:00,2024-02-01 00:00:00\n8,0,2024-01-01 00:00:00,2025-01-01 00:00:00\n"
                              "9,-2,2024-01-01 00:00:00,2024-01-01 00:00:00.000001\n"),
    "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", k = "integer", a = "timestamp", b = "timestamp" }\n',
    # intervals published by one step: the next reads them from the catalog (typed there at run)
    "features/iv.sql": ("select id, interval (k) month as m, interval (k) day as d, interval (k) year + interval (-k) month as ym,\n"
                        "  b - a as span, interval (k) day + interval '1 hour' as dh, interval (k) month - interval (k) day as md\n"
                        "from {{ ref('t') }}\n"),
    "features/texts.sql": ("select id, cast(m as varchar) as m_cast, d::text as d_text, 'every ' || ym as ym_pipe,\n"
                           "  concat('x', span, '/', dh) as spans, cast(md as varchar) as md_cast,\n"
                           "  cast(interval '2 months 3 days' as varchar) as lit, concat('y', interval '-1 year -1 month') as lit_concat,\n"
                           "  interval '-1 day' || '' as lit_pipe, cast(interval (k) year as text) as computed,\n"
                           "  cast(b - a as varchar) as span_cast\n"
                           "from {{ ref('iv') }} join {{ ref('t') }} using (id)\n"),
}


def test_duckdb_step_publishes_duckdbs_interval_text_on_postgres(tmp_path, pg_url, run_cli):  # noqa: F811
    two_target_project(tmp_path, pg_url, SEEDS)
    _, duck_rows, _, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "texts")
    first, second = pg_rows[0], pg_rows[1]
    assert first[1:3] == ("1 month", "1 day") and second[1:3] == ("-1 month", "-1 day")
    assert second[3] == "every -11 months" and first[6:9] == ("2 months 3 days", "y-1 year -1 month", "-1 day")
    assert pg_rows == duck_rows  # the values agree too: b - a, m - d written alike
    assert len(pg_rows) == 9


def test_a_server_defaulting_to_another_interval_style_publishes_duckdbs_text(tmp_path, pg_url, run_cli):  # noqa: F811
    # toolkit's sessions set IntervalStyle postgres: sql_standard would write '-1-1' and '-1 +1:00:00'
    database = urlsplit(pg_url).path.lstrip("/")
    pg_query(pg_url, f"alter database \"{database}\" set IntervalStyle = 'sql_standard'")
    assert pg_query(pg_url, "select cast(interval '-1 year -1 month' as text)") == [("-1-1",)]
    two_target_project(tmp_path, pg_url, {**SEEDS, "features/texts.sql": (
        "select id, cast(m as varchar) as m_cast, concat('x', dh) as dh_text from {{ ref('iv') }}\n")})
    _, duck_rows, _, pg_rows = built_on_both(run_cli, tmp_path, pg_url, "texts")
    assert pg_rows[1] == (2, "-1 month", "x-1 day 01:00:00")
    assert pg_rows == duck_rows

"""Text ordered on PostgreSQL as in DuckDB, by code point ('B' < 'a'), whatever the
database's collation (toolkit/pgmeanings.py: COLLATE "C"): ORDER BY keys (of a query, a
DISTINCT query, a union, a window, an aggregate), min/max, comparisons, BETWEEN, GREATEST.

The PostgreSQL tests run the steps through `toolkit run` on DuckDB and on a fresh database
created with an ICU en-US collation ('a' < 'B' there) and compare the published rows.
"""

from __future__ import annotations


import duckdb
import sqlglot

from postgres_support import icu_url, pg_query, two_target_project  # noqa: F401 (a fixture)

SEED = "id,name\n1,a\n2,B\n3,c\n4,A\n5,b\n6,Z\n7,é\n"
# step -> SQL over the seed t; each published on both engines and compared
STEPS = {
    "first_two": "select name from {{ ref('t') }} order by name limit 2",
    "extremes": "select min(name) as lo, max(name) as hi, greatest(min(name), 'b') as g, least(max(name), 'a') as l,\n"
                "  string_agg(name, '' order by name) as joined\nfrom {{ ref('t') }}",
    "ranked": "select name, row_number() over (order by name) as r, min(name) over (order by id) as low\nfrom {{ ref('t') }}",
    "below_b": "select name from {{ ref('t') }} where name < 'b' and name between 'B' and 'z'",
    "by_alias": "select upper(name) as shout, id from {{ ref('t') }} order by shout desc, 2 limit 3",
    "distinct_first": "select distinct name from {{ ref('t') }} order by name limit 3",
    "union_first": "select name from {{ ref('t') }} union all select 'Y' order by name limit 3",
    "downstream": "select min(lo) as lo, count(*) as n from {{ ref('extremes') }} where hi > 'Z'",
}
# ordered by what DuckDB returns for a LIMIT: the rows it kept
ROWS_KEPT = {"first_two", "by_alias", "distinct_first", "union_first"}




def _project(root, url: str) -> None:
    two_target_project(root, url, {
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", name = "varchar" }\n',
        **{f"features/{name}.sql": text + "\n" for name, text in STEPS.items()},
    }, "duckdb", "pgc")


def test_the_database_collation_differs_from_duckdbs(icu_url):
    """The premise: this database sorts 'a' before 'B' (DuckDB: 'B' first)."""
    assert pg_query(icu_url, "select 'a' < 'B'") == [(True,)]


def test_text_ordered_by_code_point_as_in_duckdb(tmp_path, icu_url, run_cli):
    root = tmp_path / "project"
    _project(root, icu_url)
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=root)
        assert code == 0, out + err
    duck = duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True)
    problems = []
    for name in STEPS:
        want = duck.sql(f"select * from features.{name}").fetchall()
        got = pg_query(icu_url, f"select * from features.{name}")
        if sorted(want, key=repr) != sorted(got, key=repr):
            problems.append(f"{name}: postgres {sorted(got, key=repr)}, duckdb {sorted(want, key=repr)}")
    assert not problems, "\n".join(problems)


def _compiled_for_postgres(step_sql: str, tmp_path) -> str:
    from toolkit import sql
    from toolkit.compiler import cast_types, compile_project

    _project(tmp_path, "postgresql://unused/none")
    (tmp_path / "features/probe.sql").write_text(step_sql + "\n", encoding="utf-8")
    compiled = compile_project(tmp_path)
    step = compiled.steps["probe"]
    return sql.to_target(step.tree, compiled.dialect, "postgres", cast_types(compiled)(step, "postgres"))


def test_compiled_sql_collates_text_only(tmp_path):
    """`toolkit compile` for PostgreSQL shows the collation where text is ordered, typed from
    the declared seed; integers and a date compared with a string literal are left alone."""
    text = _compiled_for_postgres("select name, id from {{ ref('t') }} where id < 3 and name >= 'a' "
                                  "and cast('2024-01-01' as date) > '2023-01-01' order by name, id", tmp_path)
    tree = sqlglot.parse_one(text, read="postgres")
    collated = sorted(node.this.name for node in tree.find_all(sqlglot.exp.Collate))
    assert collated == ["name", "name"], text
    assert all(node.expression.sql("postgres") == '"C"' for node in tree.find_all(sqlglot.exp.Collate)), text

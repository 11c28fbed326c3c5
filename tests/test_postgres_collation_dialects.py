"""Text ordered on PostgreSQL by code point ('B' < 'a'), as in DuckDB, for a project written
in any dialect whose own text order is code point (Snowflake, BigQuery, Spark, Trino ...),
not only DuckDB's: toolkit/meanings.py applies pgmeanings' COLLATE "C" for each of them.

Each project runs through `toolkit run` on DuckDB and on a fresh database created with an
ICU en-US collation ('a' < 'B' there); the published rows are compared.
"""

from __future__ import annotations


import duckdb
import pytest

from postgres_support import icu_url, pg_query, published_differences, two_target_project  # noqa: F401 (a fixture)

SEED = "id,name\n1,a\n2,B\n3,c\n4,A\n5,b\n6,Z\n7,é\n"
# the steps every dialect spells alike
COMMON = {
    "first_two": "select name from {{ ref('t') }} order by name limit 2",
    "extremes": "select min(name) as lo, max(name) as hi, greatest(min(name), 'b') as g, least(max(name), 'a') as l\n"
                "from {{ ref('t') }}",
    "ranked": "select name, row_number() over (order by name) as r, min(name) over (order by id) as low\n"
              "from {{ ref('t') }}",
    "below_b": "select name from {{ ref('t') }} where name < 'b' and name between 'B' and 'z'",
    "by_alias": "select upper(name) as shout, id from {{ ref('t') }} order by shout desc, 2 limit 3",
    "distinct_first": "select distinct name from {{ ref('t') }} order by name limit 3",
    "union_first": "select name from {{ ref('t') }} union all select 'Y' order by name limit 3",
    "downstream": "select min(lo) as lo, count(*) as n from {{ ref('extremes') }} where hi > 'Z'",
    "case_below": "select id, case when name < 'b' then 'low' else 'high' end as side from {{ ref('t') }}",
    # a * has no select-list position to collate: ordered outside, in a derived table
    "distinct_star": "select distinct * from {{ ref('t') }} order by name limit 3",
    "distinct_star_qualified": "select distinct s.* from {{ ref('t') }} as s order by s.name desc limit 3",
    "joined_star": "select distinct * from {{ ref('t') }} as a join {{ ref('u') }} as b on a.id = b.uid\n"
                   "order by a.name limit 2",
    "distinct_expression": "select distinct lower(name) as low, id from {{ ref('t') }} order by lower(name), id limit 3",
    "union_star": "select * from {{ ref('t') }} union all select * from {{ ref('t') }} where id > 5 order by name limit 4",
}
PAGED = "with c as (select * from {{ ref('t') }}) select distinct * from c order by name limit 3 offset 2"
# each dialect's own spelling of more text orders
OWN = {
    "duckdb": {"distinct_star_paged": PAGED},
    "snowflake": {
        "distinct_star_paged": PAGED,
        "joined": "select listagg(name, '') within group (order by name) as joined from {{ ref('t') }}",
        "qualified": "select id, name from {{ ref('t') }} qualify row_number() over (order by name) <= 2",
        "iff": "select id, iff(name < 'b', 'low', 'high') as side from {{ ref('t') }}",
    },
    "bigquery": {
        "joined": "select string_agg(name, '' order by name) as joined from {{ ref('t') }}",
        "qualified": "select id, name from {{ ref('t') }} where true qualify row_number() over (order by name) <= 2",
        "iff": "select id, if(name < 'b', 'low', 'high') as side from {{ ref('t') }}",
    },
    "spark": {
        "iff": "select id, if(name < 'b', 'low', 'high') as side from {{ ref('t') }}",
    },
    "trino": {
        "iff": "select id, if(name < 'b', 'low', 'high') as side from {{ ref('t') }}",
    },
}




def _project(root, url: str, dialect: str, steps: dict[str, str]) -> None:
    two_target_project(root, url, {
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds/u.csv": "uid,label\n1,x\n2,Y\n6,z\n",
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", name = "varchar" }\n'
                                '[u]\ncolumns = { uid = "integer", label = "varchar" }\n',
        **{f"features/{name}.sql": text + "\n" for name, text in steps.items()},
    }, dialect, "pgd")



def test_the_database_collation_differs_from_duckdbs(icu_url):
    """The premise: this database sorts 'a' before 'B' (DuckDB: 'B' first)."""
    assert pg_query(icu_url, "select 'a' < 'B'") == [(True,)]


@pytest.mark.parametrize("dialect", sorted(OWN))
def test_text_ordered_by_code_point_for_each_dialect(dialect, tmp_path, icu_url, run_cli):
    root = tmp_path / "project"
    steps = {**COMMON, **OWN[dialect]}
    _project(root, icu_url, dialect, steps)
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=root)
        assert code == 0, out + err
    problems = published_differences(root, icu_url, steps)
    assert not problems, "\n".join(problems)


def test_compiled_snowflake_sql_collates_text_only(tmp_path):
    """`toolkit compile` for PostgreSQL of a Snowflake step shows the collation where text is
    ordered (typed from the declared seed); an integer comparison is left alone."""
    import sqlglot

    from toolkit import sql
    from toolkit.compiler import cast_types, compile_project

    _project(tmp_path, "postgresql://unused/none", "snowflake",
             {"probe": "select name, id from {{ ref('t') }} where id < 3 and name >= 'a' order by name, id"})
    compiled = compile_project(tmp_path)
    step = compiled.steps["probe"]
    text = sql.to_target(step.tree, compiled.dialect, "postgres", cast_types(compiled)(step, "postgres"))
    collated = sorted(node.this.name for node in sqlglot.parse_one(text, read="postgres").find_all(sqlglot.exp.Collate))
    assert collated == ["name", "name"], text


def test_a_postgres_dialect_project_keeps_the_database_collation(tmp_path):
    """A step written for PostgreSQL means PostgreSQL's order there: nothing collated."""
    from toolkit import sql
    from toolkit.compiler import cast_types, compile_project

    _project(tmp_path, "postgresql://unused/none", "postgres", {"probe": "select name from {{ ref('t') }} order by name"})
    compiled = compile_project(tmp_path)
    step = compiled.steps["probe"]
    text = sql.to_target(step.tree, compiled.dialect, "postgres", cast_types(compiled)(step, "postgres"))
    assert "COLLATE" not in text, text



# a * that stays in the statement (compile names the columns when it knows them: a statement
# typed only when it runs, from the catalog): ordered outside, in a derived table
STARS = {
    "distinct": "select distinct * from raw.t order by name limit 3",
    "qualified": "select distinct s.* from raw.t as s order by s.name desc, id limit 3 offset 1",
    "union": "select * from raw.t union select * from raw.t where id > 5 order by name limit 4",
    "parenthesized": "(select distinct * from raw.t where id > 1) order by name limit 3",
    "nested": "select count(*) as n, min(name) as lo from (select distinct * from raw.t order by name limit 3) as f",
}
SCHEMA = {"raw": {"t": {"id": "int", "name": "varchar"}, "u": {"uid": "int", "label": "varchar"}}}


def _seeded(url: str) -> None:
    rows = ", ".join(f"({number}, '{name}')" for number, name in (line.split(",") for line in SEED.splitlines()[1:]))
    pg_query(url, "create schema raw")
    pg_query(url, f"create table raw.t as select id, cast(name as varchar) as name from (values {rows}) as v(id, name)")
    pg_query(url, "create table raw.u as select id as uid, name as label from raw.t")


def _star_sql(text: str, dialect: str) -> str:
    import sqlglot

    from toolkit import meanings, sql

    tree = sqlglot.parse_one(text, read=dialect)
    types = meanings.cast_types(tree, SCHEMA, dialect, texts=False, orders=True)  # as engines/postgres.py types it
    return sql.to_target(tree, dialect, "postgres", types)


@pytest.mark.parametrize("dialect", ["duckdb", "snowflake"])
def test_a_star_query_ordered_by_text_is_ordered_outside(dialect, icu_url):
    _seeded(icu_url)
    duck = duckdb.connect()
    duck.execute("create schema raw")
    duck.execute("create table raw.t (id integer, name varchar)")
    duck.executemany("insert into raw.t values (?, ?)", [line.split(",") for line in SEED.splitlines()[1:]])
    problems = []
    for name, text in STARS.items():
        written = _star_sql(text, dialect)
        assert 'COLLATE "C"' in written and "toolkit_ordered" in written, written
        want, got = duck.sql(text).fetchall(), pg_query(icu_url, written)
        if want != got:
            problems.append(f"{name}: postgres {got}, duckdb {want}\n  {written}")
    assert not problems, "\n".join(problems)


def test_a_joins_star_ordered_by_a_qualified_text_key_is_refused():
    """Its key cannot be collated in the select list (a *) nor named outside it (the join's *
    may repeat the name): refused, saying what to write."""
    from toolkit import sql

    text = "select distinct * from raw.t as a join raw.u as b on a.id = b.uid order by a.name limit 2"
    with pytest.raises(sql.SqlError, match="name the selected columns"):
        _star_sql(text, "snowflake")

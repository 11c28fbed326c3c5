"""What the QUALIFY rewrite (toolkit/qualifyfilter.py) and two ordered aggregates leave
for a target without them (PostgreSQL, Spark): DuckDB's published rows and columns, or
exit 2 at the user's line.

- `select * ... qualify ...` whose `*` toolkit cannot expand (it reads a table whose
  columns it has not read): sqlglot's filtering query selected `*` over the subquery
  holding the window's value, publishing a column `_w` DuckDB does not; now refused.
- DuckDB's ORDER BY ALL with QUALIFY: on Spark it became `ALL AS _o` inside (a column
  named all); it stays ORDER BY ALL on the filtering query.
- arg_min / arg_max (min_by / max_by): refused on PostgreSQL as "ARG_MIN"; now the first
  of array_agg(x ORDER BY k) over the rows where x and k are not NULL, a text k in code
  point order; on Spark (whose min_by keeps a NULL x) the same rows as DuckDB.
- Spark's and Snowflake's `collect_list/array_agg(x) within group (order by k)` on
  PostgreSQL.
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from _projects import write_files
from postgres_support import icu_url, pg_query, published_differences, two_target_project  # noqa: F401 (a fixture)
from spark_support import SKIP_REASON as SPARK_SKIP, duck_and_spark_config, run_here

FIRST = "row_number() over (partition by grp order by id)"
# x: a NULL name at the least k (DuckDB skips it), 'B' < 'b' < 'a' by code point ('a' < 'b' < 'B'
# in ICU en-US); z: no name at all (NULL)
SEED = "id,name,grp,k\n1,a,x,3\n2,B,x,\n5,,x,1\n7,b,x,2\n3,c,y,1\n4,A,y,5\n6,f,y,0\n8,,z,4\n"
SEED_TYPES = '[t]\ncolumns = { id = "integer", name = "varchar", grp = "varchar", k = "integer" }\n'
# (a seed's empty text is '': the names of 5 and 8 are NULL here)
BY = ("with s as (select id, nullif(name, '') as name, grp, k from {{ ref('t') }})\n"
      "select grp,\n"
      "  min_by(name, k) as least_k, max_by(name, k) as most_k,\n"
      "  min_by(id, name) as least_name, max_by(id, name) as most_name,\n"
      "  max_by(k, cast(id as varchar)) as by_text_cast\n"
      "from s group by grp")
BY_EXPECTED = [("x", "b", "a", 2, 7, 2), ("y", "f", "A", 4, 6, 0), ("z", None, None, None, None, 4)]
# DuckDB's own spelling, with a FILTER of the call's own (joined to the rows kept)
ARG = BY.replace("min_by", "arg_min").replace("max_by", "arg_max").replace(
    "\nfrom s group by grp", ",\n  arg_min(name, k) filter (where id <> 7) as filtered\nfrom s group by grp")


def _project(root, url: str, dialect: str, steps: dict[str, str], extra: dict[str, str] | None = None) -> None:
    two_target_project(root, url, {
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds.toml": SEED_TYPES,
        **{f"features/{name}.sql": text + "\n" for name, text in steps.items()},
        **(extra or {}),
    }, dialect, "qm")


def _run_both(run_cli, root) -> None:
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=root)
        assert code == 0, out + err


# -- 1. a star toolkit could not expand -------------------------------------------------


@pytest.mark.parametrize("query", [
    f"select * from t qualify {FIRST} = 1",
    f"select *, {FIRST} as rn from t qualify rn = 1",
    f"select t.* from t qualify {FIRST} = 1 order by id limit 1",
])
@pytest.mark.parametrize("write", ["postgres", "spark"])
def test_unexpanded_star_with_qualify_is_refused(query, write):
    """sqlglot wrote `SELECT * FROM (SELECT *, ROW_NUMBER() ... AS _w ...) WHERE _w = 1`:
    one more column than DuckDB publishes (and `rn` twice with `*, ... as rn`)."""
    from toolkit import sql

    with pytest.raises(sql.SqlError) as refused:
        sql.to_target(sqlglot.parse_one(query, read="duckdb"), "duckdb", write)
    assert "QUALIFY over select *" in refused.value.message and refused.value.token == "qualify"


def test_star_with_qualify_on_a_source_of_unknown_columns(tmp_path, icu_url, run_cli):  # noqa: F811
    """A table source declaring no columns: before a run read its catalog, `compile --target pg`
    wrote the star unexpanded (a `_w` column published); now exit 2 at the step's line. A run
    reads the catalog first: the star is expanded and both engines publish (id, grp)."""
    root = tmp_path / "p"
    step = f"select *\nfrom {{{{ source('app', 'users') }}}}\nqualify {FIRST} = 1\n"
    _project(root, icu_url, "duckdb", {}, {"warehouse/sources.toml": "[app.tables.users]\n", "features/s.sql": step})
    rows = "select * from (values (1, 'x'), (2, 'x'), (3, 'y')) as v(id, grp)"
    with duckdb.connect(str(root / "warehouse/w.duckdb")) as con:
        con.execute(f"create schema app; create table app.users as {rows}")
    pg_query(icu_url, "create schema app")
    pg_query(icu_url, f"create table app.users as {rows}")
    code, out, err = run_cli("compile", "--target", "pg", cwd=root)
    assert code == 2, out + err
    assert "features/s.sql:3" in err and "QUALIFY over select *" in err and "Traceback" not in err, err
    _run_both(run_cli, root)
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as con:
        assert con.sql("select * from features.s").columns == ["id", "grp"]
    assert pg_query(icu_url, "select column_name from information_schema.columns where table_schema = 'features' "
                             "and table_name = 's' order by ordinal_position") == [("id",), ("grp",)]
    assert not published_differences(root, icu_url, ["s"])


# -- 2. ORDER BY ALL with QUALIFY -------------------------------------------------------

ORDER_ALL = {
    "all_limited": f"select grp, name from {{{{ ref('t') }}}} qualify {FIRST} <= 2 order by all limit 3",
    "all_desc": f"select name, id from {{{{ ref('t') }}}} qualify {FIRST} = 1 order by all desc limit 2",
    "all_distinct": "select distinct grp from {{ ref('t') }} qualify rank() over (partition by grp order by id) <= 2\n"
                    "order by all desc limit 1",
}
ORDER_ALL_EXPECTED = {
    "all_limited": [("x", "B"), ("x", "a"), ("y", "A")],
    "all_desc": [("c", 3), ("a", 1)],
    "all_distinct": [("z",)],
}


def test_order_by_all_with_qualify_on_postgres(tmp_path, icu_url, run_cli):  # noqa: F811
    root = tmp_path / "p"
    _project(root, icu_url, "duckdb", ORDER_ALL)
    _run_both(run_cli, root)
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as con:
        for name, rows in ORDER_ALL_EXPECTED.items():
            assert sorted(con.sql(f"select * from features.{name}").fetchall(), key=repr) == sorted(rows, key=repr), name
    assert not published_differences(root, icu_url, ORDER_ALL)


def test_order_by_all_stays_on_the_filtering_query():
    """Spark's text: ORDER BY ALL outside, nothing named all computed inside."""
    from toolkit import sql

    query = ORDER_ALL["all_limited"].replace("{{ ref('t') }}", "t")
    text = sql.to_target(sqlglot.parse_one(query, read="duckdb"), "duckdb", "spark")
    outer = sqlglot.parse_one(text, read="spark")
    assert outer.args.get("where") is not None and outer.args.get("limit") is not None, text
    assert [key.this.name.upper() for key in outer.args["order"].expressions] == ["ALL"], text
    inner = outer.args["from_"].this.this if "from_" in outer.args else outer.args["from"].this.this
    assert inner.args.get("order") is None and "_o" not in inner.named_selects, text


# -- 4. arg_min / arg_max ---------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["snowflake", "duckdb"])
def test_min_by_and_max_by_publish_duckdbs_rows_on_postgres(dialect, tmp_path, icu_url, run_cli):  # noqa: F811
    root = tmp_path / "p"
    steps = {"by": BY}
    if dialect == "duckdb":
        steps["arg"] = ARG
    _project(root, icu_url, dialect, steps)
    _run_both(run_cli, root)
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as con:
        assert sorted(con.sql("select * from features.by").fetchall()) == BY_EXPECTED
        if dialect == "duckdb":
            assert sorted(con.sql("select grp, filtered from features.arg").fetchall()) == [("x", "a"), ("y", "f"), ("z", None)]
    assert not published_differences(root, icu_url, steps)


def test_min_by_over_a_window_is_refused_on_postgres_at_its_line(tmp_path, run_cli):
    """PostgreSQL has no ORDER BY in a window's aggregate: left as written, refused by name."""
    root = tmp_path / "p"
    _project(root, "postgresql://unused/none", "snowflake",
             {"w": "select id,\n  min_by(name, k) over (partition by grp) as m\nfrom {{ ref('t') }}"})
    code, out, err = run_cli("compile", "--target", "pg", cwd=root)
    assert code == 2 and "features/w.sql:2" in err and "min_by" in err and "Traceback" not in err, out + err


# -- 3. within group, Spark's spelling --------------------------------------------------


def test_spark_collect_list_within_group_on_postgres(tmp_path, icu_url, run_cli):  # noqa: F811
    root = tmp_path / "p"
    steps = {"lists": "select grp,\n"
                      "  array_join(collect_list(name) within group (order by k), ',') as by_k,\n"
                      "  array_join(array_agg(name) within group (order by name desc), ',') as by_name,\n"
                      "  size(collect_list(name) within group (order by id)) as n\n"
                      "from {{ ref('t') }} group by grp"}
    _project(root, icu_url, "spark", steps)
    _run_both(run_cli, root)
    with duckdb.connect(str(root / "warehouse/w.duckdb"), read_only=True) as con:
        assert sorted(con.sql("select * from features.lists").fetchall(), key=repr) == sorted([
            ("x", "B,,b,a", "b,a,B,", 4), ("y", "f,c,A", "f,c,A", 3), ("z", "", "", 1)], key=repr)  # Spark: NULLS FIRST
    assert not published_differences(root, icu_url, steps)


# -- Spark -------------------------------------------------------------------------------

@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(bool(SPARK_SKIP), reason=SPARK_SKIP or "")
def test_order_by_all_and_arg_min_publish_duckdbs_rows_on_spark(tmp_path):
    from toolkit.config import load_config
    from toolkit.engines import connect

    steps = {**{f"qm_{name}": text.replace("ref('t')", "ref('qm_t')") for name, text in ORDER_ALL.items()},
             "qm_by": ARG.replace("ref('t')", "ref('qm_t')")}
    write_files(tmp_path, {
        "toolkit.toml": duck_and_spark_config("qualify_more", tmp_path / "spark_state.duckdb"),
        "warehouse/seeds.toml": SEED_TYPES.replace("[t]", "[qm_t]"),
        "warehouse/seeds/qm_t.csv": SEED,
        **{f"features/{name}.sql": text + "\n" for name, text in steps.items()},
    })
    for target in ("duck", "spark"):
        code, out = run_here(tmp_path, "run", "--target", target)
        assert code == 0, out
    engine = connect(load_config(tmp_path).target("spark"), tmp_path, exclusive=False)
    problems = []
    try:
        with duckdb.connect(str(tmp_path / "warehouse/w.duckdb"), read_only=True) as con:
            for name in steps:
                want = sorted(con.sql(f"select * from features.{name}").fetchall(), key=repr)
                query = sqlglot.parse_one(f"select * from features.{name}", read="spark")
                got = sorted((tuple(row) for row in engine.fetch_rows(query)), key=repr)
                if got != want:
                    problems.append(f"{name}: spark {got}, duckdb {want}")
    finally:
        engine.close()
    assert not problems, "\n".join(problems)

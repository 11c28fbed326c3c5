"""Text ordered by code point on PostgreSQL the same when a step runs as `toolkit compile`
shows it: the run types its statement from the PostgreSQL catalog (engines/postgres.py,
PostgreSQL's typing), compile from the declared seeds (the project dialect's typing). A
conditional sqlglot leaves untyped in one of them (Snowflake's decode, nvl2: a CASE there)
or a call only PostgreSQL's typing types (DuckDB's left, replace, lpad) is typed alike in
both (meanings._ordered_value_family). And a DISTINCT query's or a set operation's ORDER BY
expression (lower(name), which PostgreSQL refuses there) is ordered outside, in a derived
table, or refused at compile with its file and line.

Each project runs on DuckDB and on a fresh database created with an ICU en-US collation
('a' < 'B' there); the published rows are compared.
"""

from __future__ import annotations


import pytest

from postgres_support import icu_url, pg_query, published_differences, two_target_project  # noqa: F401 (a fixture)

SEED = "id,name\n1,a\n2,B\n3,c\n4,A\n5,b\n6,Z\n"
SNOWFLAKE = {
    "decode_order": "select name from {{ ref('t') }} order by decode(id, 1, name, name) limit 2",
    "decode_min": "select min(decode(id, 0, 'x', name)) as lo, max(decode(id, 0, 'x', name)) as hi from {{ ref('t') }}",
    "nvl2_order": "select name from {{ ref('t') }} order by nvl2(id, name, name) limit 2",
    "decode_window": "select id, row_number() over (order by decode(id, 1, name, name)) as r from {{ ref('t') }}",
    "decode_literals": "select id from {{ ref('t') }} order by decode(id, 1, 'b', 2, 'a', 'B'), id limit 3",
    "iff_order": "select name from {{ ref('t') }} order by iff(id > 0, name, 'x') limit 2",
    "nvl_order": "select name from {{ ref('t') }} order by nvl(name, 'x') limit 2",
    "ifnull_min": "select min(ifnull(name, 'x')) as lo from {{ ref('t') }}",
    "coalesce_order": "select name from {{ ref('t') }} order by coalesce(name, 'x') limit 2",
    "case_order": "select name from {{ ref('t') }} order by case when id > 0 then name end limit 2",
    "zeroifnull_order": "select id from {{ ref('t') }} order by zeroifnull(id) desc limit 2",
    "decode_below": "select id from {{ ref('t') }} where decode(id, 1, name, name) < 'b'",
}
DUCKDB = {
    "left_order": "select name from {{ ref('t') }} order by left(name, 1) limit 2",
    "replace_order": "select name from {{ ref('t') }} order by replace(name, 'x', 'y') limit 2",
    "lpad_min": "select min(lpad(name, 2, '_')) as lo from {{ ref('t') }}",
    # a DISTINCT query's or a set operation's ORDER BY expression: ordered outside
    "distinct_star_lower": "select distinct * from {{ ref('t') }} order by lower(name), id limit 2",
    "union_star_lower": "select * from {{ ref('t') }} union all select * from {{ ref('t') }} order by lower(name) limit 1",
    "distinct_named_upper": "select distinct id, name from {{ ref('t') }} order by upper(name) desc, id limit 2",
    "union_lower_desc": "select name from {{ ref('t') }} union select 'Y' order by lower(name) desc, name limit 3",
    "distinct_number_key": "select distinct * from {{ ref('t') }} order by -id limit 2",
}




def _project(root, url: str, dialect: str, steps: dict[str, str]) -> None:
    two_target_project(root, url, {
        "warehouse/seeds/t.csv": SEED,
        "warehouse/seeds.toml": '[t]\ncolumns = { id = "integer", name = "varchar" }\n',
        **{f"features/{name}.sql": text + "\n" for name, text in steps.items()},
    }, dialect, "pgr")



@pytest.mark.parametrize("dialect, steps", [("snowflake", SNOWFLAKE), ("duckdb", DUCKDB)])
def test_a_run_on_postgres_publishes_duckdbs_rows(dialect, steps, tmp_path, icu_url, run_cli):
    assert pg_query(icu_url, "select 'a' < 'B'") == [(True,)]  # the premise: not DuckDB's order
    root = tmp_path / "project"
    _project(root, icu_url, dialect, steps)
    for target in ([], ["--target", "pg"]):
        code, out, err = run_cli("run", *target, cwd=root)
        assert code == 0, out + err
    problems = published_differences(root, icu_url, steps)
    assert not problems, "\n".join(problems)


TEXT_STEPS = {**{name: text for name, text in SNOWFLAKE.items() if name != "zeroifnull_order"}}


@pytest.mark.parametrize("dialect, steps", [("snowflake", TEXT_STEPS),
                                            ("duckdb", {name: DUCKDB[name] for name in ("left_order", "replace_order",
                                                                                        "lpad_min")})])
def test_compile_and_run_collate_the_same_text(dialect, steps, tmp_path):
    """What `toolkit compile` types (the declared seed, the project dialect's typing) and what
    the run types (the catalog's column types, PostgreSQL's typing) collate the same keys."""
    import sqlglot

    from toolkit import meanings, sql
    from toolkit.compiler import cast_types, compile_project

    _project(tmp_path, "postgresql://unused/none", dialect, steps)
    compiled = compile_project(tmp_path)
    problems = []
    for name in steps:
        step = compiled.steps[name]
        shown = sql.to_target(step.tree, compiled.dialect, "postgres", cast_types(compiled)(step, "postgres"))
        tree = step.tree.copy()
        catalog = {"raw": {"t": {"id": "integer", "name": "text"}}}  # as engines/postgres.py types a run
        run = sql.to_target(tree, compiled.dialect, "postgres",
                            meanings.cast_types(tree, catalog, "postgres", texts=False, orders=True))
        collations = [len(list(sqlglot.parse_one(text, read="postgres").find_all(sqlglot.exp.Collate)))
                      for text in (shown, run)]
        if collations[0] != collations[1] or not collations[0]:
            problems.append(f"{name}: compile {collations[0]}, run {collations[1]}\n{shown}\n{run}")
    assert not problems, "\n".join(problems)


def test_a_distinct_key_reading_an_unselected_column_is_refused_at_compile(tmp_path, run_cli):
    """order by lower(name) of a DISTINCT query not selecting name: PostgreSQL refuses it
    (and it cannot be ordered outside): exit 2 at compile, naming the file and line."""
    _project(tmp_path, "postgresql://unused/none", "duckdb",
             {"bad": "select distinct id from {{ ref('t') }}\norder by lower(name)"})
    code, out, err = run_cli("compile", "bad", "--target", "pg", cwd=tmp_path)
    assert code == 2, out + err
    assert "features/bad.sql:2" in out + err and "Traceback" not in out + err, out + err
    code, out, err = run_cli("compile", "bad", cwd=tmp_path)  # DuckDB runs it
    assert code == 0, out + err

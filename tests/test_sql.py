"""sql.py: each pass takes a syntax tree (or text) and returns one."""

from __future__ import annotations

import pytest
from sqlglot import exp, parse_one

from toolkit import sql

D = "duckdb"
SCHEMA = {"raw": {"countries": {"country": "varchar", "region": "varchar"}}, "features": {"orders": {"id": "bigint", "country": "varchar", "amount": "double"}}}


def parse(text: str) -> exp.Query:
    return sql.parse_select(text, D)


def sql_error(function, *args) -> sql.SqlError:
    with pytest.raises(sql.SqlError) as caught:
        function(*args)
    return caught.value


# -- parse_select ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "select 1 as x",
        "with a as (select 1 as x) select x from a",
        "select 1 as x union all select 2",
        "(select 1 as x)",
        "select 1 as x;",
        "-- only a comment before\nselect 1 as x",
    ],
)
def test_parse_select_accepts_one_query(text):
    assert isinstance(parse(text), exp.Query)


def test_parse_select_rejects_two_statements_at_the_second():
    error = sql_error(parse, "select 1 as x;\n\nselect 2 as y")
    assert "found 2 statements" in error.message
    assert error.line == 3


@pytest.mark.parametrize(
    "text, kind",
    [
        ("create table t as select 1", "CREATE"),
        ("create or replace view v as select 1", "CREATE"),
        ("attach 'x.duckdb' as x", "ATTACH"),
        ("copy t to 'out.csv'", "COPY"),
        ("pragma enable_profiling", "PRAGMA"),
        ("insert into t select 1", "INSERT"),
        ("update t set a = 1", "UPDATE"),
        ("delete from t", "DELETE"),
        ("drop table t", "DROP"),
        ("set threads = 1", "SET"),
        ("install httpfs", "INSTALL"),
        ("load httpfs", "LOAD"),
    ],
)
def test_parse_select_rejects_everything_but_a_select(text, kind):
    error = sql_error(parse, "\n" + text)
    assert error.message == f"a step must be one SELECT statement; found {kind}"
    assert error.line == 2


@pytest.mark.parametrize(
    "text, kind",
    [
        ("with gone as (delete from t returning *) select * from gone", "DELETE"),
        ("with new as (insert into t values (1) returning *) select * from new", "INSERT"),
        ("with changed as (update t set a = 1 returning *) select * from changed", "UPDATE"),
        ("select * from t where a in (with d as (delete from t returning a) select a from d)", "DELETE"),
        ("select * into copy_of_t from t", "INTO"),
    ],
)
def test_parse_select_rejects_writes_inside_a_query(text, kind):
    # DuckDB and PostgreSQL run data-modifying CTEs: a step could empty a source table
    for dialect in ("duckdb", "postgres"):
        error = sql_error(sql.parse_select, text, dialect)
        assert error.message == f"a step must be one SELECT statement; found {kind} inside it"


def test_parse_select_empty():
    assert "empty" in sql_error(parse, "  -- nothing\n").message


def test_syntax_error_position_and_readable_message():
    error = sql_error(parse, "select a,\n  from from")
    assert (error.line, error.col, error.token) == (2, 11, "from")
    assert error.message == "SQL syntax error: Expected table name near 'from'"
    assert "<" not in sql_error(parse, "select a from t where").message  # no Python reprs


def test_unclosed_quote_position():
    error = sql_error(parse, "select 1 as x,\n  'abc as y")
    assert (error.line, error.col) == (2, 3)
    assert "unclosed quote '" in error.message


# -- table_refs / replace_tables ----------------------------------------------------------


def test_table_refs_skip_ctes_and_table_functions():
    tree = parse(
        "with recent as (select * from features.orders), x as (select 1 as a) "
        "select * from recent join raw.countries c on true join x on true, range(3) r, features.x"
    )
    assert sorted(t.sql() for t in sql.table_refs(tree)) == ["features.orders", "features.x", "raw.countries AS c"]


def test_table_refs_in_subqueries_and_joins():
    tree = parse("select * from (select * from a) s where exists (select 1 from b where b.id = s.id)")
    assert sorted(t.name for t in sql.table_refs(tree)) == ["a", "b"]


def test_replace_tables_keeps_aliases():
    tree = parse("with recent as (select * from orders) select o.id, orders.amount from orders as o, orders join recent on true")
    renamed = sql.replace_tables(tree, lambda t: exp.table_("orders__v1", db="physical"))
    assert renamed.sql() == (
        "WITH recent AS (SELECT * FROM physical.orders__v1 AS orders) "
        "SELECT o.id, orders.amount FROM physical.orders__v1 AS o, physical.orders__v1 AS orders JOIN recent ON TRUE"
    )
    assert tree.sql().startswith("WITH recent AS (SELECT * FROM orders)")  # the input is not changed


def test_replace_tables_none_keeps_a_reference():
    tree = parse("select * from a join b on true")
    renamed = sql.replace_tables(tree, lambda t: exp.table_("b2", db="x") if t.name == "b" else None)
    assert renamed.sql() == "SELECT * FROM a JOIN x.b2 AS b ON TRUE"


# -- qualify_step ----------------------------------------------------------------------------


def test_qualify_step_output_columns():
    tree = parse("select o.country, Region as REGION_NAME, sum(amount) as total from features.orders o join raw.countries c using (country) group by all")
    assert sql.qualify_step(tree, SCHEMA, D)[1] == ["country", "region_name", "total"]


def test_qualify_step_expands_star():
    assert sql.qualify_step(parse("select *, 1 as one from raw.countries"), SCHEMA, D)[1] == ["country", "region", "one"]


def test_qualify_step_through_ctes():
    tree = parse("with t as (select country, amount * 2 as doubled from features.orders) select country, doubled from t")
    assert sql.qualify_step(tree, SCHEMA, D)[1] == ["country", "doubled"]


def test_unknown_column_position_and_candidates():
    error = sql_error(sql.qualify_step, parse("select\n  country,\n  regoin\nfrom raw.countries"), SCHEMA, D)
    assert error.message == "unknown column 'regoin'"
    assert (error.line, error.token) == (3, "regoin")
    assert "region" in error.candidates


def test_unknown_column_with_a_space_in_its_name_is_named_whole():
    schema = {"seeds": {"regions": {"customerid": "int", "region name": "text"}}}
    error = sql_error(sql.qualify_step, parse_one('select\n  r."Region Nme"\nfrom seeds.regions as r', read="postgres"), schema, "postgres")
    assert error.message == "unknown column 'Region Nme'"  # as written, though the catalog compares it folded
    assert error.line == 2 and "region name" in error.candidates


def test_a_quoted_mixed_case_name_in_the_postgres_dialect_reads_the_catalog_column():
    # "Region Name" kept its case in the postgres dialect and missed the catalog's region name
    schema = {"seeds": {"regions": {"customerid": "int", "region name": "text"}}}
    tree, columns = sql.qualify_step(parse_one('select r."Region Name" as "Label" from seeds.regions as r', read="postgres"),
                                     schema, "postgres")
    assert columns == ["label"] and tree.sql(dialect="postgres") == 'SELECT r."region name" AS "label" FROM seeds.regions AS r'


@pytest.mark.parametrize(
    "text, line",
    [
        ("select country\nfrom raw.countries\nwhere regoin = 'x'", 3),
        ("select c.country,\n  c.regoin\nfrom raw.countries c", 2),  # a qualified column
        ("with t as (select country from raw.countries)\nselect t.regoin from t", 2),
    ],
)
def test_unknown_column_is_found_everywhere(text, line):
    error = sql_error(sql.qualify_step, parse(text), SCHEMA, D)
    assert "regoin" in error.message
    assert error.line == line


def test_unknown_table_alias():
    error = sql_error(sql.qualify_step, parse("select x.region from raw.countries c"), SCHEMA, D)
    assert "'x' is not a table or alias" in error.message


def test_ambiguous_column_is_not_called_unknown():
    tree = parse("select country from features.orders o join raw.countries c on o.country = c.country")
    error = sql_error(sql.qualify_step, tree, SCHEMA, D)
    assert "unknown" not in error.message and "ambiguous" in error.message
    assert error.hint


# -- normalized -------------------------------------------------------------------------------

BASE = "select a, sum(b) as total from features.orders where c > 1 group by a"


@pytest.mark.parametrize(
    "edited",
    [
        "-- totals per a\nSELECT   a,\n    SUM(b) AS total  /* the total */\nFROM features.orders\nWHERE c > 1\nGROUP BY a",
        "select a, sum(b) as total from features.orders where c > 1 group by a;",
        "SELECT A, SUM(B) AS TOTAL FROM FEATURES.ORDERS WHERE C > 1 GROUP BY A",
        "select\ta,\n\n\nsum( b )   as total\nfrom features.orders\n-- where nothing\nwhere c>1 group by a",
    ],
    ids=["comments-and-layout", "trailing-semicolon", "case", "whitespace"],
)
def test_normalized_ignores_formatting(edited):
    assert sql.normalized(parse(edited), D) == sql.normalized(parse(BASE), D)


@pytest.mark.parametrize(
    "changed",
    [
        "select a, sum(b) as total from features.orders where c > 2 group by a",
        "select a, sum(b) as totals from features.orders where c > 1 group by a",
        "select a, sum(b) as total from features.orders where c > 1 group by a order by a",
        "select a, sum(b) as total from features.orders where c > '1' group by a",
    ],
)
def test_normalized_sees_real_changes(changed):
    assert sql.normalized(parse(changed), D) != sql.normalized(parse(BASE), D)


def test_normalized_keeps_string_case():
    assert sql.normalized(parse("select 'A' as x"), D) != sql.normalized(parse("select 'a' as x"), D)


# -- to_target ---------------------------------------------------------------------------------


def test_to_target_duckdb_to_postgres():
    tree = parse("select o.id, strftime(o.ts, '%Y-%m') as month, o.x::int as n from features.orders o where o.name ilike '%a%'")
    assert sql.to_target(tree, D, "postgres") == (
        'SELECT "o"."id", TO_CHAR("o"."ts", \'YYYY"-"MM\') AS "month", CAST("o"."x" AS INT) AS "n" '
        'FROM "features"."orders" AS "o" WHERE "o"."name" ILIKE \'%a%\''
    )


def test_to_target_quotes_every_identifier():
    # DuckDB resolves names case-insensitively, so they are normalized to lower case first
    text = sql.to_target(parse('select "Select", Mixed from "weird table"'), D, "postgres")
    assert text == 'SELECT "select", "mixed" FROM "weird table"'


def test_to_target_untranslatable_raises():
    tree = parse("select * from t pivot (sum(a) for b in (1, 2))")
    assert "cannot translate to postgres" in sql_error(sql.to_target, tree, D, "postgres").message


# -- template_position -------------------------------------------------------------------------


def test_template_position_maps_rendered_lines_back():
    template = "{% set cols = ['a', 'b'] %}\nselect\n{% for c in cols %}\n    {{ c }},\n{% endfor %}\n    regoin\nfrom t\n"
    rendered = "\nselect\n\n    a,\n\n    b,\n\n    regoin\nfrom t\n"
    assert rendered.splitlines()[7].strip() == "regoin"
    # sqlglot points at the token's last character (col 10); the template line is 6 and the token starts at 5
    assert sql.template_position(template, rendered, 8, 10, "regoin") == (6, 5)


def test_template_position_falls_back_to_the_token():
    template = "select {{ cols() }}, regoin\nfrom t"
    rendered = "select a, b, regoin\nfrom t"
    assert sql.template_position(template, rendered, 1, 19, "regoin") == (1, 22)


def test_template_position_of_text_a_macro_produced():
    # neither the line nor the token is in the template: the {{ ... }} line that rendered it is
    template = "{% for i in range(3) %}\n-- {{ i }}\n{% endfor %}\nselect\n  {{ cols() }}\nfrom {{ ref('t') }}\n"
    rendered = "\n-- 0\n\n-- 1\n\n-- 2\n\nselect\n  country,\n  regoin\n\nfrom features.t\n"
    assert rendered.splitlines()[9].strip() == "regoin"
    assert sql.template_position(template, rendered, 10, 8, "nothing_like_it") == (5, None)


# -- bind_values -------------------------------------------------------------------------------


def test_bind_values_makes_literals():
    tree = parse("select __toolkit_var_0__ as a, 'x-__toolkit_var_0__' as b from t where c = __toolkit_var_1__")
    bound = sql.bind_values(tree, {"__toolkit_var_0__": "it's", "__toolkit_var_1__": "1; drop table t"})
    assert bound.sql() == "SELECT 'it''s' AS a, 'x-it''s' AS b FROM t WHERE c = '1; drop table t'"


def test_drop_positions_leaves_no_empty_containers_to_copy():
    """A checked tree is copied at every generation (content hash, lineage, each build);
    sqlglot deep-copies a node's comment list and metadata dict even when empty, and the
    parser and qualify leave empty ones on ~20% of a compiled tree's nodes."""
    schema = {"f": {"a": {"id": "int", "num": "double"}}}
    tree, _ = sql.qualify_step(parse("/* kept */ select id, upper(cast(num as varchar)) as n from f.a as a limit 3"), schema, "duckdb")
    before = tree.sql(dialect="duckdb")
    assert any(node.comments == [] or node._meta == {} for node in tree.walk())  # what there is to drop
    sql.drop_positions(tree)
    assert not any(node.comments == [] or node._meta == {} for node in tree.walk())
    assert tree.sql(dialect="duckdb") == before and "/* kept */" in before


def test_a_table_replaced_by_a_subquery_keeps_the_join_it_carries():
    """FROM (a JOIN b ON ...) parses as table a carrying its join: replacing a by a subquery
    (a source read through its lower-case names) dropped the join to b."""
    import sqlglot
    from sqlglot import exp

    from toolkit.sql import replace_tables

    def rename(table):
        return exp.select("*").from_(f"src.{table.name}_src").subquery() if table.name in ("a", "b") else None

    for text, expected in [
        ("select * from (a join b on a.id = b.id)",
         "SELECT * FROM ((SELECT * FROM src.a_src) AS a JOIN (SELECT * FROM src.b_src) AS b ON a.id = b.id)"),
        ("select * from (a join c on a.id = c.id) join b using (id)",
         "SELECT * FROM ((SELECT * FROM src.a_src) AS a JOIN c ON a.id = c.id) JOIN (SELECT * FROM src.b_src) AS b USING (id)"),
        ("select * from a join b on a.id = b.id",
         "SELECT * FROM (SELECT * FROM src.a_src) AS a JOIN (SELECT * FROM src.b_src) AS b ON a.id = b.id"),
    ]:
        assert replace_tables(sqlglot.parse_one(text, read="duckdb"), rename).sql("duckdb") == expected

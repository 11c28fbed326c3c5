"""dbtnames.py: the dbt names analysts' SQL uses (target, env_var, dbt.*, dbt_utils.*,
adapter.dispatch, package namespaces, ref('pkg', 'step')) compiled in-process on DuckDB,
the date macros checked against PostgreSQL, and every unsupported construct exit 2 at
its template line."""

from __future__ import annotations

import textwrap
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from toolkit import sql
from toolkit.compilecache import compile_cached
from toolkit.compiler import compile_project
from toolkit.errors import ProjectError

CONFIG = """\
name = "shop"
dialect = "duckdb"
target = "dev"

[targets.dev]
engine = "duckdb"
path = "warehouse/shop.duckdb"

[targets.prod]
engine = "postgres"
url = "postgresql://nobody@127.0.0.1:1/none"
"""

ORDERS = """\
order_id,customer_id,ordered_at,amount,status
1,1,2024-01-01 23:00:00,10.5,done
2,1,2024-01-02 01:00:00,3,done
3,2,2024-02-15 12:00:00,7,open
"""

SOURCES = """\
[shop]
[shop.tables.payments]
columns = { payment_id = "bigint", order_id = "bigint", method = "varchar" }
"""


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "p"
    base = {"toolkit.toml": CONFIG, "warehouse/seeds/orders.csv": ORDERS, "warehouse/sources.toml": SOURCES}
    for relative, text in {**base, **files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def rows(root: Path, step: str, target: str | None = None) -> list[tuple]:
    """The step's compiled SQL run on an in-memory DuckDB holding the orders seed."""
    compiled = compile_project(root, target=target)
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(f"create table raw.orders as select * from read_csv('{root / 'warehouse/seeds/orders.csv'}')")
    con.execute("create schema shop; create table shop.payments (payment_id bigint, order_id bigint, method varchar)")
    return con.execute(sql.to_target(compiled.steps[step].tree, "duckdb", "duckdb")).fetchall()


def error(tmp_path: Path, text: str, files: dict[str, str] | None = None, env: dict | None = None) -> ProjectError:
    root = project(tmp_path, {"features/step.sql": text, **(files or {})})
    with pytest.raises(ProjectError) as caught:
        compile_project(root)
    return caught.value


# -- ref() -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "message", "line"), [
    ("select 1 as a,\n{{ ref('shop_utils', 'orders') }}", "'shop_utils' is neither this project (shop) nor a package", 2),
    ("select *\nfrom {{ ref('orders', v=1) }}", "model versions are not supported", 2),
    ("select *\nfrom {{ ref('orders', version=2) }}", "model versions are not supported", 2),
    ("select *\nfrom {{ ref('orders', flavour=2) }}", "ref() takes no option 'flavour'", 2),
    ("select *\nfrom {{ ref('a', 'b', 'c') }}", "ref() takes a step name, or a package and a step name", 2),
    ("select *\nfrom {{ ref('shop', 'nope') }}", "no step or seed is named 'nope'", 2),
])
def test_ref_mistakes_are_exit_2_at_the_line(tmp_path, text, message, line):
    caught = error(tmp_path, text)
    assert message in caught.message and caught.file == "features/step.sql" and caught.line == line
    assert "TypeError" not in caught.message and caught.exit_code == 2


def test_ref_with_the_project_or_a_package_name(tmp_path):
    root = project(tmp_path, {
        "features/macros/finance/m.sql": "{% macro cents(x) %}cast({{ x }} * 100 as bigint){% endmacro %}",
        "features/a.sql": "select order_id from {{ ref('shop', 'orders') }}",
        "features/b.sql": "select order_id, {{ finance.cents('amount') }} as c from {{ ref('finance', 'orders') }}",
    })
    assert sorted(rows(root, "a")) == [(1,), (2,), (3,)]
    assert sorted(rows(root, "b")) == [(1, 1050), (2, 300), (3, 700)]


# -- target, env_var -------------------------------------------------------------------------


def test_target_names_follow_the_chosen_target(tmp_path):
    root = project(tmp_path, {"features/t.sql": """\
        select '{{ target.name }}' as name, '{{ target.type }}' as type, '{{ target.schema }}' as schema,
        {% if target.name == 'prod' %}1{% else %}0{% endif %} as is_prod
        """})
    assert rows(root, "t") == [("dev", "duckdb", "features", 0)]
    assert rows(root, "t", target="prod") == [("prod", "postgres", "features", 1)]


def test_target_values_are_literals_not_sql(tmp_path):
    root = project(tmp_path, {"features/t.sql": "select {{ target.name }} as name"})
    assert rows(root, "t") == [("dev",)]  # a bare value becomes a string literal, like a var() string


def test_env_var_is_a_literal_and_its_change_recompiles(tmp_path, monkeypatch):
    root = project(tmp_path, {"features/e.sql": "select '{{ env_var(\"TK_TEST_REGION\", \"eu\") }}' as region, {{ env_var('TK_TEST_REGION', 'x') }} as bare"})
    monkeypatch.delenv("TK_TEST_REGION", raising=False)
    first = compile_cached(root, disk=True)
    assert "'eu' AS region" in first.steps["e"].tree.sql("duckdb")
    assert compile_cached(root, disk=True) is first  # unchanged: reused
    monkeypatch.setenv("TK_TEST_REGION", "us' or 1=1 --")
    second = compile_cached(root, disk=True)
    assert second is not first
    assert rows(root, "e") == [("us' or 1=1 --", "us' or 1=1 --")]  # a literal, never SQL text


def test_env_var_change_misses_the_disk_cache_too(tmp_path, monkeypatch):
    from toolkit import compilecache

    root = project(tmp_path, {"features/e.sql": "select '{{ env_var(\"TK_TEST_TIER\", \"free\") }}' as tier"})
    monkeypatch.delenv("TK_TEST_TIER", raising=False)
    compile_cached(root, disk=True)
    compilecache._cache.clear()  # a new process
    monkeypatch.setenv("TK_TEST_TIER", "gold")
    assert "'gold'" in compile_cached(root, disk=True).steps["e"].tree.sql("duckdb")
    compilecache._cache.clear()
    assert "'gold'" in compile_cached(root, disk=True).steps["e"].tree.sql("duckdb")
    compilecache._cache.clear()
    assert "'gold'" in compile_cached(root, disk=True, target="prod").steps["e"].tree.sql("duckdb")


def test_target_change_recompiles_only_when_read(tmp_path):
    root = project(tmp_path, {"features/t.sql": "select '{{ target.name }}' as name"})
    dev = compile_cached(root, disk=True)
    prod = compile_cached(root, disk=True, target="prod")
    assert "'prod'" in prod.steps["t"].tree.sql("duckdb") and "'dev'" in dev.steps["t"].tree.sql("duckdb")
    plain = project(tmp_path / "other", {"features/t.sql": "select 1 as one"})
    first = compile_cached(plain, disk=True)
    assert compile_cached(plain, disk=True, target="prod") is first


def test_env_var_missing_without_default(tmp_path, monkeypatch):
    monkeypatch.delenv("TK_TEST_MISSING", raising=False)
    caught = error(tmp_path, "select 1 as a,\n  '{{ env_var('TK_TEST_MISSING') }}' as b")
    assert "TK_TEST_MISSING is not set" in caught.message and caught.line == 2 and "export" in caught.hint


def test_unknown_target_attribute(tmp_path):
    caught = error(tmp_path, "select\n'{{ target.database }}' as d")
    assert "target.database is not known" in caught.message and caught.line == 2


# -- dbt.* -------------------------------------------------------------------------------------

DATES = """\
select order_id,
  {{ dbt.date_trunc('month', 'ordered_at') }} as month_start,
  {{ dbt.dateadd('day', 7, 'ordered_at') }} as week_later,
  {{ dbt.dateadd('month', 'order_id', 'ordered_at') }} as months_later,
  {{ dbt.datediff("timestamp '2024-01-01 23:00:00'", 'ordered_at', 'day') }} as days,
  {{ dbt.datediff("timestamp '2024-01-01 23:00:00'", 'ordered_at', 'hour') }} as hours,
  {{ dbt.datediff("timestamp '2023-12-31 00:00:00'", 'ordered_at', 'month') }} as months,
  {{ dbt.datediff("timestamp '2023-12-31 00:00:00'", 'ordered_at', 'week') }} as weeks,
  {{ dbt.last_day('ordered_at', 'month') }} as month_end
from {{ ref('orders') }}
"""

EXPECTED_DATES = [
    # days and hours count boundaries crossed (23:00 -> 01:00 is one day); weeks start on Monday
    (1, datetime(2024, 1, 1), datetime(2024, 1, 8, 23), datetime(2024, 2, 1, 23), 0, 0, 1, 1, date(2024, 1, 31)),
    (2, datetime(2024, 1, 1), datetime(2024, 1, 9, 1), datetime(2024, 3, 2, 1), 1, 2, 1, 1, date(2024, 1, 31)),
    (3, datetime(2024, 2, 1), datetime(2024, 2, 22, 12), datetime(2024, 5, 15, 12), 45, 1069, 2, 7, date(2024, 2, 29)),
]


def test_date_macros_on_duckdb(tmp_path):
    root = project(tmp_path, {"features/d.sql": DATES})
    assert sorted(rows(root, "d")) == EXPECTED_DATES


def test_date_macros_transpiled_to_postgres(tmp_path):
    from postgres_support import SERVER_URL, SKIP_REASON, pg_query

    if not SERVER_URL:
        pytest.skip(SKIP_REASON)
    root = project(tmp_path, {"features/d.sql": DATES})
    compiled = compile_project(root)
    query = sql.to_target(compiled.steps["d"].tree, "duckdb", "postgres")
    values = "(1, timestamp '2024-01-01 23:00:00'), (2, timestamp '2024-01-02 01:00:00'), (3, timestamp '2024-02-15 12:00:00')"
    query = query.replace('"raw"."orders" AS "orders"', f'(values {values}) as "orders"(order_id, ordered_at)', 1)
    got = sorted(pg_query(SERVER_URL, query))
    assert [tuple(int(v) if isinstance(v, int) else v for v in row) for row in got] == EXPECTED_DATES


def test_type_and_string_macros(tmp_path):
    root = project(tmp_path, {"features/s.sql": """\
        select order_id,
          cast(amount as {{ dbt.type_string() }}) as amount_text,
          {{ dbt.safe_cast('status', dbt.type_int()) }} as not_a_number,
          cast(order_id as {{ dbt.type_numeric() }}) as n,
          {{ dbt.concat(['status', "'-'", 'order_id']) }} as label,
          {{ dbt.hash('status') }} = md5('done') as hashed,
          {{ dbt.split_part('status', "'o'", 1) }} as head,
          {{ dbt.string_literal("it's") }} as quoted,
          {{ dbt.cast_bool_to_text('amount > 5') }} as big,
          {{ dbt.right('status', 2) }} as tail,
          {{ dbt.length('status') }} as len,
          {{ dbt.position("'o'", 'status') }} as pos,
          {{ dbt.replace('status', "'o'", "'0'") }} as rep,
          {{ dbt.date(2024, 2, 29) }} as leap,
          {{ dbt.current_timestamp() }} is not null as has_now
        from {{ ref('orders') }}
        where order_id = 1
        """})
    assert rows(root, "s") == [(1, "10.5", None, 1, "done-1", True, "d", "it's", "true", "ne", 4, 2, "d0ne", date(2024, 2, 29), True)]


def test_aggregate_macros(tmp_path):
    root = project(tmp_path, {"features/a.sql": """\
        select customer_id,
          {{ dbt.listagg('status', "','", 'order by order_id desc') }} as statuses,
          {{ dbt.bool_or('amount > 5') }} as any_big,
          {{ dbt.any_value('customer_id') }} as any_customer
        from {{ ref('orders') }} group by customer_id
        """})
    assert sorted(rows(root, "a")) == [(1, "done,done", True, 1), (2, "open", True, 2)]


@pytest.mark.parametrize(("call", "message"), [
    ("dbt.date_trunc('fortnight', 'ordered_at')", "datepart 'fortnight' is not a date part"),
    ("dbt.dateadd('day', 1, 'ordered_at; drop table x')", "must be one SQL expression, not a statement"),
    ("dbt.dateadd('day', 1, 'ordered_at +')", "is not a SQL expression"),
    ("dbt.datediff('a', 'b')", "dbt.datediff() needs 'datepart'"),
    ("dbt.dateadd(datepart='day', interval=1, from_date='x')", "dbt.dateadd() has no argument 'from_date'"),
    ("dbt.listagg('status', limit_num=3)", "limit_num=...) is not supported"),
    ("dbt.no_such_macro()", "dbt.no_such_macro is not a macro toolkit knows"),
    ("dbt_utils.get_column_values(ref('orders'), 'status')", "dbt_utils.get_column_values is not supported"),
    ("adapter.get_columns_in_relation(ref('orders'))", "adapter.get_columns_in_relation is not supported"),
    ("run_query('select 1')", "run_query() is not supported"),
    ("dbt_utils.pivot('status', ['a'], agg='median')", "agg='median') is not an aggregate"),
    ("dbt_utils.pivot('status', ['a'], cmp='; drop')", "is not a comparison"),
    ("dbt_utils.star(from=ref('orders'), prefix='x_') }} from {{ ref('a') ", "the columns of features.a are not known"),
    ("dbt_utils.unpivot(ref('a'))", "the columns of features.a are not known while rendering"),
    ("adapter.dispatch('nothing_here')()", "no macro duckdb__nothing_here or default__nothing_here"),
])
def test_bad_dbt_calls_are_exit_2_at_the_line(tmp_path, call, message):
    if "ref('a')" in call:
        call = call.replace("prefix='x_') }} from {{ ref('a') ", "prefix='x_')").replace("ref('orders')", "ref('a')")
    caught = error(tmp_path, f"select 1 as one,\n  {{{{ {call} }}}} as x\nfrom {{{{ ref('orders') }}}}",
                   {"features/a.sql": "select 1 as one"})
    assert message in caught.message, caught.message
    assert caught.file == "features/step.sql" and caught.line == 2


def test_a_var_argument_stays_a_literal(tmp_path):
    root = project(tmp_path, {
        "toolkit.toml": CONFIG + '\n[vars]\nevil = "status) from raw.orders; drop table raw.orders --"\n',
        "features/v.sql": "select {{ dbt.concat(['status', var('evil')]) }} as s from {{ ref('orders') }} where order_id = 1",
    })
    assert rows(root, "v") == [("donestatus) from raw.orders; drop table raw.orders --",)]


# -- dbt_utils ---------------------------------------------------------------------------------


def test_generate_surrogate_key_equals_dbts(tmp_path):
    import hashlib

    root = project(tmp_path, {"features/k.sql": """\
        select order_id, {{ dbt_utils.generate_surrogate_key(['order_id', 'null', 'status']) }} as sk
        from {{ ref('orders') }} where order_id = 1
        """})
    expected = hashlib.md5(b"1-_dbt_utils_surrogate_key_null_-done").hexdigest()
    assert rows(root, "k") == [(1, expected)]


def test_star_known_and_deferred(tmp_path):
    root = project(tmp_path, {
        "features/a.sql": "select order_id, status, amount from {{ ref('orders') }}",
        "features/s1.sql": "select {{ dbt_utils.star(from=ref('orders'), except=['ordered_at', 'amount'], prefix='o_') }} from {{ ref('orders') }}",
        "features/s2.sql": "select {{ dbt_utils.star(from=ref('a'), except=['amount']) }} from {{ ref('a') }}",
        "features/s3.sql": "select {{ dbt_utils.star(ref('a'), relation_alias='x') }} from {{ ref('a') }} as x join {{ ref('orders') }} as o using (order_id)",
        "features/s4.sql": "select {{ dbt_utils.star(source('shop', 'payments'), except=['method']) }} from {{ source('shop', 'payments') }}",
    })
    compiled = compile_project(root)
    assert compiled.steps["s1"].columns == ["o_order_id", "o_customer_id", "o_status"]
    assert compiled.steps["s2"].columns == ["order_id", "status"]  # * EXCLUDE expanded from a's columns
    assert compiled.steps["s3"].columns == ["order_id", "status", "amount"]
    assert compiled.steps["s4"].columns == ["payment_id", "order_id"]
    postgres = sql.to_target(compiled.steps["s2"].tree, "duckdb", "postgres")
    assert "EXCLUDE" not in postgres.upper() and '"status"' in postgres


def test_pivot_unpivot_union_deduplicate_date_spine(tmp_path):
    root = project(tmp_path, {
        "features/pv.sql": """\
            select customer_id, {{ dbt_utils.pivot('status', ['done', "it's"], prefix='n_') }}
            from {{ ref('orders') }} group by customer_id""",
        "features/up.sql": "{{ dbt_utils.unpivot(ref('orders'), exclude=['order_id'], remove=['ordered_at', 'customer_id', 'amount'], field_name='f', value_name='v') }}",
        "features/un.sql": "{{ dbt_utils.union_relations([ref('orders'), source('shop', 'payments')], include=['order_id', 'method']) }}",
        "features/dd.sql": "{{ dbt_utils.deduplicate(ref('orders'), 'customer_id', 'order_id desc') }}",
        "features/sp.sql": "{{ dbt_utils.date_spine('day', \"cast('2024-01-30' as date)\", \"cast('2024-02-02' as date)\") }}",
    })
    assert sorted(rows(root, "pv")) == [(1, 2, 0), (2, 0, 0)]
    assert sorted(rows(root, "up")) == [(1, "status", "done"), (2, "status", "done"), (3, "status", "open")]
    assert sorted(rows(root, "un")) == [("raw.orders", 1, None), ("raw.orders", 2, None), ("raw.orders", 3, None)]
    assert sorted(row[:2] for row in rows(root, "dd")) == [(2, 1), (3, 2)]
    assert [row[0].date() for row in rows(root, "sp")] == [date(2024, 1, 30), date(2024, 1, 31), date(2024, 2, 1)]
    assert compile_project(root).steps["pv"].columns == ["customer_id", "n_done", "n_it's"]


# -- adapter.dispatch, package namespaces -------------------------------------------------------


def test_dispatch_and_namespaces(tmp_path):
    root = project(tmp_path, {
        "features/macros/finance/money.sql": """\
            {% macro cents(x) %}{{ adapter.dispatch('cents', 'finance')(x) }}{% endmacro %}
            {% macro default__cents(x) %}cast({{ x }} * 100 as bigint){% endmacro %}
            {% macro postgres__cents(x) %}round({{ x }} * 100){% endmacro %}
            """,
        "features/macros/dbt_utils/override.sql": "{% macro generate_surrogate_key(fields) %}'mine'{% endmacro %}",
        "features/m.sql": """\
            select order_id, {{ finance.cents('amount') }} as c, {{ dbt_utils.generate_surrogate_key(['order_id']) }} as k,
              {{ adapter.dispatch('date_trunc', 'dbt')('month', 'ordered_at') }} as m
            from {{ ref('orders') }} where order_id = 3""",
    })
    assert rows(root, "m") == [(3, 700, "mine", datetime(2024, 2, 1))]
    assert "ROUND" in compile_project(root, target="prod").steps["m"].tree.sql("duckdb").upper()


def test_unknown_package_macro(tmp_path):
    caught = error(tmp_path, "select\n {{ finance.dollars('x') }} as d",
                   {"features/macros/finance/money.sql": "{% macro cents(x) %}{{ x }}{% endmacro %}"})
    assert "finance.dollars is not a macro" in caught.message and caught.line == 2 and "cents" in caught.hint


def test_cli_exit_2_without_traceback(tmp_path, run_cli):
    root = project(tmp_path, {"features/step.sql": "select 1 as a\nfrom {{ ref('orders', v=2) }}"})
    code, out, err = run_cli("compile", cwd=root)
    assert code == 2, out + err
    assert "features/step.sql:2" in err and "versions are not supported" in err and "Traceback" not in err


# -- config keys ---------------------------------------------------------------------------------


def test_meta_docs_tags_and_accepted_on_schema_change(tmp_path):
    root = project(tmp_path, {"features/i.sql": """\
        {{ config(materialized='incremental', unique_key='order_id', on_schema_change='append_new_columns',
                  meta={'owner': 'ana'}, docs={'show': false}, tags=['finance']) }}
        select order_id, amount from {{ ref('orders') }}"""})
    step = compile_project(root).steps["i"]
    assert step.config["meta"] == {"owner": "ana"} and step.tags == {"finance"}


def test_editing_meta_does_not_change_the_content_hash(tmp_path):
    first = compile_project(project(tmp_path / "a", {"features/m.sql": "{{ config(meta={'owner': 'ana'}) }}select 1 as one"}))
    second = compile_project(project(tmp_path / "b", {"features/m.sql": "{{ config(meta={'owner': 'bo'}) }}select 1 as one"}))
    assert first.steps["m"].content_hash == second.steps["m"].content_hash


def test_a_disabled_step_is_not_built_and_reading_it_is_exit_2(tmp_path):
    files = {"features/old.sql": "{{ config(enabled=false) }}\nselect 1 as one", "features/new.sql": "select 2 as two"}
    root = project(tmp_path, files)
    compiled = compile_cached(root, disk=True)
    assert "old" not in compiled.steps and compiled.disabled == ["old"]
    from toolkit import compilecache

    compilecache._cache.clear()
    assert "old" not in compile_cached(root, disk=True).steps  # from the disk cache
    caught = error(tmp_path / "c", "select *\nfrom {{ ref('old') }}", files)
    assert "reads old, which is disabled" in caught.message and caught.line == 2 and caught.file == "features/step.sql"


@pytest.mark.parametrize(("config", "message"), [
    ("alias='orders v2'", "config alias='orders v2' is not a plain name"),  # alias/schema: tests/test_published_names.py
    ("schema='toolkit'", "config schema='toolkit' is reserved"),
    ("pre_hook='drop table raw.orders'", "config pre_hook= is not supported: hooks would run analyst SQL"),
    ("post_hook=['analyze {{ this }}', 'drop table raw.orders']", "config post_hook 2 of 2 ('drop table raw.orders'): DROP is not allowed"),
    ("materialized='incremental', unique_key='one', on_schema_change='fail'", "on_schema_change='fail' is not supported"),
    ("materialized='incremental', unique_key='one', on_schema_change='sometimes'", "unknown on_schema_change 'sometimes'"),
    ("on_schema_change='ignore'", "on_schema_change applies to incremental steps only"),
    ("enabled='no'", "config enabled='no' has the wrong type"),
    ("flavour='mint'", "unknown config key 'flavour'"),
])
def test_unsupported_config_keys_are_exit_2(tmp_path, config, message):
    caught = error(tmp_path, f"select 1 as one\n{{{{ config({config}) }}}}")
    assert message in caught.message, caught.message
    assert caught.file == "features/step.sql" and caught.line == 2

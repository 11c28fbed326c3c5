"""Feature steps written in Python with ibis (features/*.py): compiled to SQL by ibis with
no backend, then checked, fingerprinted and published like SQL steps, on every engine."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlglot
from sqlglot import exp

from _projects import cli_tuple, make_project, query, run_in_process, write
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)

SOURCES = """
[shop.tables.orders]
columns = { order_id = "bigint", customer_id = "bigint", amount = "decimal(10,2)", status = "varchar", note = "json" }
"""
SETUP = """
create schema shop;
create table shop.orders (order_id bigint, customer_id bigint, amount decimal(10,2), status varchar, note json);
insert into shop.orders values (1, 1, 10.50, 'paid', '{}'), (2, 1, 4.50, 'paid', '{}'), (3, 2, 7.00, 'refunded', '{}'),
  (4, 2, 1.25, 'paid', '{}'), (5, 3, 99.99, 'paid', '{}');
"""
CUSTOMER_SPEND = """
from toolkit import feature


@feature(materialized="table", tests={"customer_id": ["not_null", "unique"]}, description="Paid spend per customer.")
def customer_spend(source, var):
    orders = source("shop", "orders")
    paid = orders.filter(orders.status == var("status"))
    return paid.group_by("customer_id").aggregate(spend=paid.amount.sum(), orders=paid.count())
"""
# an ibis step reading an ibis step (exact types) and a SQL step (types inferred by sqlglot)
TIERS = """
import ibis

from toolkit import feature


@feature(materialized="view")
def tiers(ref):
    spend, ranked = ref("customer_spend"), ref("ranked")
    joined = spend.join(ranked, "customer_id")
    return joined.select("customer_id", "rank", tier=ibis.cases((joined.spend > 50, "gold"), else_="basic"))
"""
RANKED = "select customer_id, row_number() over (order by spend desc) as rank from {{ ref('customer_spend') }}\n"
# the same as customer_spend, written in SQL
SQL_TWIN = "select customer_id, sum(amount) as spend, count(*) as orders from shop.orders where status = 'paid' group by 1\n"
FILES = {
    "warehouse/sources.toml": SOURCES,
    "features/customer_spend.py": CUSTOMER_SPEND,
    "features/ranked.sql": RANKED,
    "features/tiers.py": TIERS,
    "features/sql_twin.sql": SQL_TWIN,
}


def project(tmp_path, **extra):
    root = make_project(tmp_path / "p", {**FILES, **extra}, SETUP)
    with open(root / "toolkit.toml", "a") as config:
        config.write('\n[vars]\nstatus = "paid"\n')
    return root


def test_an_ibis_step_builds_the_same_rows_as_its_sql_twin_and_feeds_sql_and_ibis_steps(tmp_path):
    root = project(tmp_path)
    summary = run_in_process(root)
    assert summary.ok, summary
    assert query(root, "select * from features.customer_spend order by 1") == query(root, "select * from features.sql_twin order by 1")
    assert query(root, "select * from features.tiers order by 1") == [(1, 2, "basic"), (2, 3, "basic"), (3, 1, "gold")]
    types = dict(query(root, "select column_name, data_type from information_schema.columns where table_name = 'customer_spend'"))
    assert types == {"customer_id": "BIGINT", "spend": "DECIMAL(38,2)", "orders": "BIGINT"}
    assert query(root, "select count(*) from toolkit.test_results where step = 'customer_spend' and status = 'pass'")[0][0] >= 2


def test_an_edit_that_compiles_to_the_same_sql_rebuilds_nothing_and_a_var_does(tmp_path):
    root = project(tmp_path)
    assert run_in_process(root).ok
    path = root / "features/customer_spend.py"
    path.write_text(path.read_text().replace("paid = orders", "# kept rows\n    kept = orders").replace("paid.", "kept."))
    assert {r.step: r.status for r in run_in_process(root).results}["customer_spend"] == "reused"
    with open(root / "toolkit.toml", "a") as config:
        config.write("")
    code, out, err = cli_tuple("run", "--vars", '{"status": "refunded"}', "-p", str(root), cwd=root)
    assert code == 0, out + err
    assert query(root, "select customer_id, spend from features.customer_spend") == [(2, 7)]


def test_var_text_reaches_sql_only_as_a_literal(tmp_path):
    hostile = "paid' or 1=1 --"
    root = project(tmp_path)
    code, out, err = cli_tuple("compile", "customer_spend", "--vars", f'{{"status": "{hostile}"}}', "-p", str(root), cwd=root)
    assert code == 0, out + err
    tree = sqlglot.parse_one(out, read="duckdb")
    literals = [node for node in tree.find_all(exp.Literal) if node.is_string]
    assert [node.this for node in literals] == [hostile]
    assert "1=1" not in tree.sql(dialect="duckdb").replace(literals[0].sql(dialect="duckdb"), "")
    code, out, err = cli_tuple("run", "--vars", f'{{"status": "{hostile}"}}', "-p", str(root), cwd=root)
    assert code == 0, out + err
    assert query(root, "select count(*) from features.customer_spend") == [(0,)]  # no row has that status


LABELLED = """
from toolkit import feature


@feature()
def labelled(source, var):
    orders = source("shop", "orders")
    shout = var("label").upper() if var("label") == "status" else var("label") + "!"
    return orders.filter(orders.status == "refunded").select(orders.order_id, label=var("label"), shout=shout,
                                                               tags=var("tags")[0], kind=f"{var('label')}".startswith("s"))
"""


@pytest.mark.parametrize("label", ["status", "paid"])  # a column of orders, and a name no column has
def test_a_var_string_is_a_literal_where_ibis_reads_a_str_as_a_column_name(tmp_path, label):
    root = project(tmp_path, **{"features/labelled.py": LABELLED})
    with open(root / "toolkit.toml", "a") as config:
        config.write(f'label = "{label}"\ntags = ["a"]\n')
    shout = "STATUS" if label == "status" else "paid!"
    assert run_in_process(root, select=("labelled",)).ok
    assert query(root, "select * from features.labelled") == [(3, label, shout, "a", label == "status")]


def test_a_no_op_run_does_not_import_ibis(tmp_path):
    root = project(tmp_path)
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 0, out + err
    probe = ("import sys\nfrom toolkit.cli import main\nsys.argv = ['toolkit', 'run', '-p', sys.argv[1]]\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\nprint('IBIS' if 'ibis' in sys.modules else 'NO-IBIS')\n")
    done = subprocess.run([sys.executable, "-c", probe, str(root)], capture_output=True, text=True, cwd=root, timeout=120)
    assert done.stdout.strip().endswith("NO-IBIS"), done.stdout + done.stderr
    assert "reused" in done.stdout


def test_the_ibis_step_on_postgres_equals_duckdb(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = project(tmp_path)
    with open(root / "toolkit.toml", "a") as config:
        config.write(f'\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n')
    pg_query(pg_url, "drop schema if exists shop cascade")
    for statement in SETUP.split(";")[:-1]:
        pg_query(pg_url, statement)
    for target in ("pg", "dev"):
        code, out, err = cli_tuple("run", "--target", target, "-p", str(root), cwd=root)
        assert code == 0, out + err
    duck = [(c, float(s), n) for c, s, n in query(root, "select * from features.customer_spend order by 1")]
    pg = [(c, float(s), n) for c, s, n in pg_query(pg_url, "select * from features.customer_spend order by 1")]
    assert pg == duck and len(pg) == 3
    assert pg_query(pg_url, "select * from features.tiers order by 1") == query(root, "select * from features.tiers order by 1")


BAD = [
    ("no_function.py", "x = 1\n", "exactly one @feature function; this file has no function", None),
    ("two.py", "from toolkit import feature\n@feature()\ndef a(ref):\n    return ref('customer_spend')\n\n"
               "@feature()\ndef b(ref):\n    return ref('customer_spend')\n", "this file has 2 functions (a, b)", 6),
    ("typo_ref.py", "from toolkit import feature\n\n@feature()\ndef s(ref):\n    return ref('customer_spnd')\n",
     "ref('customer_spnd'): no step, seed or model has that name", 5),
    ("typo_source.py", "from toolkit import feature\n\n@feature()\ndef s(source):\n    t = source('shop', 'order')\n    return t\n",
     "source('shop', 'order'): not a declared source table", 5),
    ("typo_var.py", "from toolkit import feature\n\n@feature()\ndef s(ref, var):\n    t = ref('customer_spend')\n"
                    "    return t.filter(t.spend > var('min_spnd'))\n", "var('min_spnd') is not set", 6),
    ("typo_column.py", "from toolkit import feature\n\n@feature()\ndef s(ref):\n    t = ref('customer_spend')\n"
                       "    return t.select(t.spnd)\n", "the step function failed: AttributeError", 6),
    ("not_a_table.py", "from toolkit import feature\n\n@feature()\ndef s(ref):\n    return 'select 1'\n",
     "s() returned str, not an ibis table expression", 3),
    ("raw_sql.py", "from toolkit import feature\n\n@feature()\ndef s(ref):\n    t = ref('customer_spend')\n"
                   "    return t.sql(\"select * from read_text('/etc/passwd')\")\n", "the step function failed: IbisError", 6),
    ("memtable.py", "import ibis\nfrom toolkit import feature\n\n@feature()\ndef s(ref):\n    return ibis.memtable({'a': [1]})\n",
     "an in-memory table (ibis.memtable) is refused", 6),
    ("memtable_named.py", "from ibis import memtable\nfrom toolkit import feature\n\n@feature()\ndef s(ref):\n"
                          "    t = memtable({'a': [1]})\n    return t\n", "an in-memory table (ibis.memtable) is refused", 6),
    ("join_var.py", "from toolkit import feature\n\n@feature()\ndef s(ref, source, var):\n    t = source('shop', 'orders')\n"
                    "    return t.join(ref('customer_spend'), var('status'))\n", "join key var() 'paid' is a literal in SQL", 6),
    # a literal makes one group and orders nothing; before vars were literals these named a column
    ("group_var.py", "from toolkit import feature\n\n@feature()\ndef s(source, var):\n    t = source('shop', 'orders')\n"
                     "    return t.group_by(var('status')).aggregate(n=t.count())\n", "group_by var() 'paid' is a literal in SQL", 6),
    ("order_var.py", "from toolkit import feature\n\n@feature()\ndef s(source, var):\n    t = source('shop', 'orders')\n"
                     "    return t.order_by([t.order_id, var('status')])\n", "order_by var() 'paid' is a literal in SQL", 6),
    # methods taking only column names: ibis failed with a bare KeyError ('paid') or TypeError
    ("drop_var.py", "from toolkit import feature\n\n@feature()\ndef s(source, var):\n    t = source('shop', 'orders')\n"
                    "    return t.drop(var('status'))\n", "drop var() 'paid' is a literal in SQL", 6),
    ("relocate_var.py", "from toolkit import feature\n\n@feature()\ndef s(source, var):\n    t = source('shop', 'orders')\n"
                        "    return t.relocate('amount', after=var('status'))\n", "relocate var() 'paid' is a literal in SQL", 6),
    ("drop_null_var.py", "from toolkit import feature\n\n@feature()\ndef s(source, var):\n    t = source('shop', 'orders')\n"
                         "    return t.drop_null([var('status')])\n", "drop_null var() 'paid' is a literal in SQL", 6),
    ("getitem_var.py", "from toolkit import feature\n\n@feature()\ndef s(source, var):\n    t = source('shop', 'orders')\n"
                       "    return t.select(t[var('status')])\n", "t[...] var() 'paid' is a literal in SQL", 6),
    ("aggregate_by_var.py", "from toolkit import feature\n\n@feature()\ndef s(source, var):\n    t = source('shop', 'orders')\n"
                            "    return t.aggregate(n=t.count(), by=var('status'))\n", "aggregate by= var() 'paid' is a literal in SQL", 6),
    # a window partitioned by a literal is one partition: PARTITION BY 'paid'
    ("over_var.py", "from toolkit import feature\n\n@feature()\ndef s(source, var):\n    t = source('shop', 'orders')\n"
                    "    return t.mutate(n=t.amount.sum().over(group_by=var('status')))\n", "over() group_by/order_by var() 'paid'", 6),
    ("window_var.py", "import ibis\nfrom toolkit import feature\n\n@feature()\ndef s(source, var):\n    t = source('shop', 'orders')\n"
                      "    w = ibis.window(group_by=[var('status')])\n    return t.mutate(n=t.amount.sum().over(w))\n",
     "ibis.window() group_by/order_by var() 'paid'", 7),
    ("own_table.py", "import ibis\nfrom toolkit import feature\n\n@feature()\ndef s(ref):\n"
                     "    return ibis.table({'a': 'int64'}, name='secrets', database='main')\n",
     "the step reads table 'secrets', which did not come from ref() or source()", 4),
    ("parameter.py", "from toolkit import feature\n\n@feature()\ndef s(refs):\n    return refs('x')\n",
     "s() takes a parameter 'refs' toolkit does not provide", 3),
    ("incremental.py", "from toolkit import feature\n\n@feature(materialized='incremental')\ndef s(ref):\n"
                       "    return ref('customer_spend')\n", "an incremental step is written in SQL", 3),
    ("bad_config.py", "from toolkit import feature\n\n@feature(materialised='view')\ndef s(ref):\n"
                      "    return ref('customer_spend')\n", "unknown config key 'materialised'", 3),
    ("syntax.py", "from toolkit import feature\n\n@feature()\ndef s(ref):\n    return ref('customer_spend'\n",
     "Python syntax error", None),
    ("import_fails.py", "import not_a_module_anywhere\n", "importing the step file failed: ModuleNotFoundError", 1),
    ("exits.py", "import sys\nsys.exit(0)\n", "importing the step file failed: SystemExit", 2),
    ("raises.py", "from toolkit import feature\n\n@feature()\ndef s(ref):\n    t = ref('customer_spend')\n    raise ValueError('no')\n",
     "the step function failed: ValueError: no", 6),
    ("predictions.py", "from toolkit import feature\n\n@feature()\ndef s(ref):\n    return ref('churn')\n",
     "ref('churn'): an ibis step cannot read a model's predictions yet", 5),
    ("json_column.py", "from toolkit import feature\n\n@feature()\ndef s(source):\n    t = source('shop', 'orders')\n"
                       "    return t.select(n=t.note.sum())\n", "the step function failed: AttributeError", 6),
]
MODEL = """
from sklearn.linear_model import LogisticRegression
from toolkit import model

@model(training="customer_spend", label="orders", key="customer_id", metrics=None)
def churn():
    return LogisticRegression()
"""


@pytest.mark.parametrize(("name", "text", "message", "line"), BAD, ids=[b[0] for b in BAD])
def test_bad_python_steps_are_exit_2_at_the_file_and_line(tmp_path, name, text, message, line):
    extra = {f"features/{name}": text}
    if name == "predictions.py":
        extra["models/churn.py"] = MODEL
    root = project(tmp_path, **extra)
    code, out, err = cli_tuple("compile", "-p", str(root), cwd=root)
    assert code == 2, out + err
    assert message in err, err
    location = f"features/{name}:{line}" if line else f"features/{name}"
    assert location in err and "Traceback" not in err, err


def test_a_cycle_through_a_python_step_and_a_sql_step_is_exit_2(tmp_path):
    root = project(tmp_path, **{
        "features/a.py": "from toolkit import feature\n\n@feature()\ndef a(ref):\n    return ref('b')\n",
        "features/b.sql": "select * from {{ ref('a') }}\n",
    })
    code, out, err = cli_tuple("compile", "-p", str(root), cwd=root)
    assert code == 2 and "dependency cycle: a -> b -> a" in err, out + err


def test_a_python_and_a_sql_step_of_one_name_are_exit_2(tmp_path):
    root = project(tmp_path, **{"features/marts/customer_spend.sql": SQL_TWIN})
    code, out, err = cli_tuple("compile", "-p", str(root), cwd=root)
    assert code == 2 and "duplicate step name 'customer_spend'" in err, out + err


def test_helper_modules_are_not_steps(tmp_path):
    root = project(tmp_path, **{"features/_helpers.py": "RATE = 2\n", "features/__init__.py": ""})
    code, out, err = cli_tuple("ls", "-p", str(root), cwd=root)
    assert code == 0 and "_helpers" not in out and "__init__" not in out, out + err


HELPED = """
from toolkit import feature
from {dots}_helpers import scaled


@feature()
def {name}(source):
    orders = source("shop", "orders")
    return orders.select(orders.order_id, scaled=scaled(orders.amount))
"""


def test_a_step_imports_its_helper_modules_relatively_and_a_helper_edit_rebuilds_it(tmp_path):
    root = project(tmp_path, **{"features/_helpers.py": "def scaled(column):\n    return column * 2\n",
                                "features/helped.py": HELPED.format(dots=".", name="helped"),
                                "features/marts/nested.py": HELPED.format(dots="..", name="nested")})
    assert run_in_process(root, select=("helped", "nested")).ok
    assert query(root, "select order_id, scaled from features.nested where order_id = 1") == [(1, 21)]
    (root / "features/_helpers.py").write_text("def scaled(column):\n    return column * 3\n")
    assert run_in_process(root, select=("helped",)).ok  # in one process: the edited helper is imported again
    assert query(root, "select order_id, scaled from features.helped where order_id = 1") == [(1, 31.5)]
    (root / "features/_helpers.py").write_text("def scaled(column):\n    return column * 4\n")
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root)  # a new process: the compile cache misses
    assert code == 0, out + err
    assert query(root, "select order_id, scaled from features.nested where order_id = 1") == [(1, 42)]


def test_a_helper_imported_as_a_top_level_module_is_told_the_relative_import(tmp_path):
    root = project(tmp_path, **{"features/_helpers.py": "def scaled(column):\n    return column\n",
                                "features/helped.py": HELPED.format(dots="", name="helped")})
    code, out, err = cli_tuple("compile", "-p", str(root), cwd=tmp_path)
    assert code == 2 and "features/helped.py:2" in err and "from ._helpers import name" in err, out + err


def test_a_failed_python_step_leaves_published_data_alone(tmp_path):
    root = project(tmp_path)
    assert run_in_process(root).ok
    before = query(root, "select * from features.customer_spend order by 1")
    (root / "features/customer_spend.py").write_text(CUSTOMER_SPEND.replace("return paid", "raise RuntimeError('x')\n    return paid"))
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 2, out + err
    assert query(root, "select * from features.customer_spend order by 1") == before


def test_unit_tests_run_on_a_python_step(tmp_path):
    unit = """
[[test]]
name = "refunds do not count"
[test.given.orders]
rows = [ { order_id = 1, customer_id = 7, amount = 2.5, status = "paid" },
         { order_id = 2, customer_id = 7, amount = 9.0, status = "refunded" } ]
[test.expect]
rows = [ { customer_id = 7, spend = 2.5, orders = 1 } ]
"""
    root = project(tmp_path, **{"features/customer_spend.unit.toml": unit})
    code, out, err = cli_tuple("test", "--unit", "--select", "customer_spend", "-p", str(root), cwd=root)
    assert code == 0 and "1 passed" in out + err, out + err
    (root / "features/customer_spend.unit.toml").write_text(unit.replace("spend = 2.5", "spend = 11.5"))
    code, out, err = cli_tuple("test", "--unit", "--select", "customer_spend", "-p", str(root), cwd=root)
    assert code == 1 and "refunds do not count" in out + err, out + err


UNDECLARED = """
[shop.tables.orders]
"""
MIXED_CASE_SETUP = """
create schema shop;
create table shop.orders ("OrderId" bigint, "CustomerId" bigint, "Amount" decimal(10,2));
insert into shop.orders values (1, 1, 10.5), (2, 1, 4.5), (3, 2, 7.0);
"""
SPEND_BY = """
from toolkit import feature


@feature()
def spend(source):
    orders = source("shop", "orders")
    return orders.group_by(orders.{customer}).aggregate(spend=orders.amount.sum())
"""


def test_an_ibis_step_on_a_source_that_declares_no_columns_builds_on_the_first_run(tmp_path):
    # the columns come from the catalog: the command reads them before compiling the step
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": UNDECLARED,
                                         "features/spend.py": SPEND_BY.format(customer="customerid")}, MIXED_CASE_SETUP)
    code, out, err = cli_tuple("compile", "spend", cwd=root)
    assert code == 0, out + err
    assert '"t0"."CustomerId"' in out, out
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    assert query(root, "select * from features.spend order by 1") == [(1, 15.0), (2, 7.0)]


def test_an_ibis_step_on_a_declared_table_that_does_not_exist_is_refused_by_name(tmp_path):
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": UNDECLARED,
                                         "features/spend.py": SPEND_BY.format(customer="customerid")}, "select 1;")
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 2, out + err
    assert "warehouse/sources.toml" in err and "source shop.orders is declared but table shop.orders does not exist" in err, err
    assert "Traceback" not in err


def test_a_column_named_in_its_stored_case_gets_a_hint(tmp_path):
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": UNDECLARED,
                                         "features/spend.py": SPEND_BY.format(customer="CustomerId")}, MIXED_CASE_SETUP)
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 2, out + err
    assert "features/spend.py:7" in err and "no attribute 'CustomerId'" in err, err
    assert "column names are lower case in toolkit: customerid" in err, err


def test_an_ibis_output_named_in_mixed_case_is_published_in_lower_case_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    # ibis quotes every name: "TotalSpend" was published case-sensitive, and every reader failed
    for statement in SETUP.split(";")[:-1]:
        pg_query(pg_url, statement)
    config = f'name = "shop"\ndialect = "postgres"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n'
    spend = CUSTOMER_SPEND.replace("spend=paid.amount.sum()", "TotalSpend=paid.amount.sum()")
    files = {"toolkit.toml": config, "warehouse/sources.toml": SOURCES, "features/customer_spend.py": spend,
             "features/big.sql": "select customer_id, TotalSpend from {{ ref('customer_spend') }} where TotalSpend > 10\n"}
    root = tmp_path / "pg"
    write(root, files)
    with open(root / "toolkit.toml", "a") as file:
        file.write('\n[vars]\nstatus = "paid"\n')
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select customer_id, totalspend from features.big order by 1") == [(1, "15.00"), (3, "99.99")]
    assert [r[0] for r in pg_query(pg_url, "select column_name from information_schema.columns where table_name = 'customer_spend' "
                                           "order by ordinal_position")] == ["customer_id", "totalspend", "orders"]


def test_ibis_outputs_differing_only_in_case_are_refused(tmp_path):
    twins = CUSTOMER_SPEND.replace("spend=paid.amount.sum()", "Spend=paid.amount.sum(), spend=paid.amount.max()")
    root = project(tmp_path, **{"features/customer_spend.py": twins})
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 2, out + err
    assert "features/customer_spend.py:4: output columns Spend, spend differ only in case" in err, err

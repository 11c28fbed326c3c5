"""The types an ibis step's ref()/source() tables carry: those the warehouse will give the
columns (upstream SQL steps' types as DuckDB/PostgreSQL compute them, seed types); and the
line of the .py file a refusal for the target names."""

from __future__ import annotations

import pytest

from _projects import cli_tuple, make_project, query, write
from postgres_support import pg_url  # noqa: F401 (fixture)

SEEDS_TOML = '[orders]\ncolumns = { customer_id = "bigint", ordered_at = "timestamp", status = "varchar" }\n'
ORDERS_CSV = "customer_id,ordered_at,status\n1,2024-01-01 10:00:00,paid\n1,2024-01-03 12:00:00,paid\n2,2024-01-02 00:00:00,new\n"
SPANS = ("select customer_id, max(ordered_at) - min(ordered_at) as span, median(customer_id) as mid,\n"
         "  first(status) as first_status, cast(max(ordered_at) as date) - cast(min(ordered_at) as date) as days\n"
         "from {{ ref('orders') }} group by 1\n")
SHOW_TYPES = """
from toolkit import feature


@feature()
def shown(ref):
    t = ref("spans")
    raise ValueError(" ".join(f"{c}={t[c].type()}" for c in t.columns))
"""
SPAN_SECONDS = """
from toolkit import feature


@feature()
def span_seconds(ref):
    t = ref("spans")
    return t.select("customer_id", secs=t.span.epoch_seconds())
"""


def _project(tmp_path, files):
    return make_project(tmp_path / "p", {"warehouse/seeds.toml": SEEDS_TOML, "warehouse/seeds/orders.csv": ORDERS_CSV,
                                         "features/spans.sql": SPANS, **files})


def test_an_upstream_sql_steps_interval_and_aggregates_are_typed_as_duckdb_types_them(tmp_path):
    root = _project(tmp_path, {"features/shown.py": SHOW_TYPES})
    code, out, err = cli_tuple("compile", "shown", cwd=root)
    assert code == 2, out + err
    assert "span=interval" in err and "mid=float64" in err and "first_status=string" in err and "days=int64" in err, err


def test_a_timestamp_method_on_an_interval_is_refused_at_compile_not_at_run(tmp_path):
    root = _project(tmp_path, {"features/span_seconds.py": SPAN_SECONDS})
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 2, out + err  # it was a run-time "Conversion Error: INTERVAL -> TIMESTAMP"
    assert "features/span_seconds.py:7" in err and "epoch_seconds" in err, err
    # the types the ibis step saw are the warehouse's
    (root / "features/span_seconds.py").unlink()
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    described = dict(r[:2] for r in query(root, "describe features.spans"))
    assert described == {"customer_id": "BIGINT", "span": "INTERVAL", "mid": "DOUBLE", "first_status": "VARCHAR", "days": "BIGINT"}


UNDECLARED_ORDERS = "order_id,status,amount,ordered_on\n1,paid,10.5,2024-01-01\n2,refunded,3.0,2024-01-02\n3,paid,1.25,2024-01-03\n"
PAID = """
from toolkit import feature


@feature()
def paid(ref):
    o = ref("orders")
    return o.filter(o.status == "paid").aggregate(s=o.amount.sum(), n=o.order_id.count(), last=o.ordered_on.max())
"""


def test_a_seed_without_declared_types_has_the_types_it_is_loaded_with(tmp_path):
    root = make_project(tmp_path / "p", {"warehouse/seeds/orders.csv": UNDECLARED_ORDERS, "features/paid.py": PAID})
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err  # was exit 2: "status:unknown and Literal(paid):string are not comparable"
    assert query(root, "select s, n, last from features.paid") == [(11.75, 2, __import__("datetime").date(2024, 1, 3))]
    loaded = dict(r[:2] for r in query(root, "describe raw.orders"))
    code, out, err = cli_tuple("compile", "paid", cwd=root)
    assert code == 0 and loaded == {"order_id": "BIGINT", "status": "VARCHAR", "amount": "DOUBLE", "ordered_on": "DATE"}, out + err


def test_a_comparison_with_a_column_of_unknown_type_says_how_to_type_it(tmp_path):
    files = {"warehouse/seeds/orders.csv": UNDECLARED_ORDERS, "features/paid.py": PAID.replace('ref("orders")', 'ref("typeless")'),
             "features/typeless.sql": "select order_id, null as status, amount, ordered_on from {{ ref('orders') }}\n"}
    root = make_project(tmp_path / "p", files)
    code, out, err = cli_tuple("compile", "paid", cwd=root)
    assert code == 2, out + err
    assert "features/paid.py:7" in err and "not comparable" in err, err
    assert "declare it" in err and "seeds.toml" in err and ".cast()" in err, err


PG_STEP = """from toolkit import feature

@feature()
def s(ref):
    o = ref("orders")
    return o.select(
        o.order_id,
        a=o.amount + 1,
        b=o.amount * 2,
        c=o.amount - 1,
        t=o.amount.cast("string"),
        sub=o.status.split(",").sort(),
    )
"""


@pytest.mark.parametrize("drop, line, message", [
    (None, 11, "of a double writes other text on postgres"),  # was line 8, where `amount` is first written
    ('        t=o.amount.cast("string"),\n', 11, "list_sort(...)"),  # was line 1 (a string slice, refused before ibisslices.py)
])
def test_a_refusal_for_postgres_names_the_line_of_the_ibis_expression(tmp_path, pg_url, drop, line, message):  # noqa: F811 (fixture)
    config = f'name = "r"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n'
    step = PG_STEP.replace(drop, "") if drop else PG_STEP
    root = tmp_path / "pg"
    write(root, {"toolkit.toml": config, "features/s.py": step,
                 "warehouse/seeds.toml": '[orders]\ncolumns = { order_id = "bigint", status = "varchar", amount = "double" }\n',
                 "warehouse/seeds/orders.csv": "order_id,status,amount\n1,paid,3.0\n"})
    for command in ("compile", "run"):
        code, out, err = cli_tuple(command, cwd=root)
        assert code == 2, out + err
        assert f"features/s.py:{line}:" in err and message in err, err


PADDED = """
from toolkit import feature


@feature()
def padded(ref):
    o = ref("orders")
    return o.select("order_id", lp=o.status.lpad(8, "*"))
"""


def test_lpad_of_a_postgres_project_runs_on_duckdb(tmp_path):
    # PostgreSQL's length() is an integer, DuckDB's a BIGINT, which DuckDB's lpad does not bind
    files = {"warehouse/seeds.toml": '[orders]\ncolumns = { order_id = "bigint", status = "varchar" }\n',
             "warehouse/seeds/orders.csv": "order_id,status\n1,paid\n", "features/padded.py": PADDED,
             "features/padded_sql.sql": "select order_id, rpad(status, length(status) + 2, '-') as rp from {{ ref('orders') }}\n"}
    root = make_project(tmp_path / "p", files)
    config = (root / "toolkit.toml").read_text()
    (root / "toolkit.toml").write_text(config.replace('dialect = "duckdb"', 'dialect = "postgres"'))
    assert 'dialect = "postgres"' in (root / "toolkit.toml").read_text()
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err  # was: Binder Error ... lpad(VARCHAR, BIGINT, STRING_LITERAL)
    assert query(root, "select * from features.padded") == [(1, "****paid")]
    assert query(root, "select * from features.padded_sql") == [(1, "paid--")]

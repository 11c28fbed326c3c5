"""Apache Spark as a live engine (issue 12): embedded local[2] with a Hive metastore.

One project for the whole module, run in this process on the process's shared Spark
warehouse (tests/spark_support.py), so the JVM starts once (about 5-10 s). The same project is run on DuckDB and every
published relation must be equal row for row (numbers to 1e-9), predictions of SQL
and Python scoring included; then new source rows arrive and the incremental steps
(copied on write on Spark) must still agree.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

from toolkit.config import Target
from toolkit.engines import connect
from toolkit.engines.conformance import CHECKS

pytestmark = pytest.mark.slow

from spark_support import SKIP_REASON, run_here, shared_warehouse

if SKIP_REASON:
    pytest.skip(SKIP_REASON, allow_module_level=True)

CONFIG = f"""\
name = "sparky"
dialect = "duckdb"
target = "spark"

[targets.spark]
engine = "spark"
master = "local[2]"
warehouse = "{shared_warehouse()}"

[targets.local]
engine = "duckdb"
path = "warehouse/local.duckdb"
"""

SOURCES = """\
[app]
[app.tables.customers]
columns = { customer_id = "bigint", segment = "varchar" }
[app.tables.events]
columns = { customer_id = "bigint", amount = "double", at = "timestamp" }
"""

FILES = {
    "toolkit.toml": CONFIG,
    "warehouse/sources.toml": SOURCES,
    "warehouse/seeds/segments.csv": "segment,weight\na,1.5\nb,2.0\nc,0.5\n",
    "features/customer_stats.sql": """\
{{ config(materialized="table", tests={"customer_id": ["not_null", "unique"]}) }}
select c.customer_id, c.segment, s.weight,
       count(e.amount) as events, coalesce(sum(e.amount), 0) as spend,
       avg(e.amount) as mean_amount, max(e.at) as last_at
from {{ source("app", "customers") }} as c
join {{ ref("segments") }} as s on s.segment = c.segment
left join {{ source("app", "events") }} as e on e.customer_id = c.customer_id
group by c.customer_id, c.segment, s.weight
""",
    "features/recent.sql": """\
{{ config(materialized="view") }}
select customer_id, spend from {{ ref("customer_stats") }} where events > 2
""",
    "features/daily.sql": """\
{{ config(materialized="incremental", time_column="day", lookback="1 day") }}
select cast(at as date) as day, count(*) as events, sum(amount) as amount
from {{ source("app", "events") }}
{% if is_incremental() %}where cast(at as date) >= (select max(day) from {{ this }}){% endif %}
group by 1
""",
    "features/latest_event.sql": """\
{{ config(materialized="incremental", unique_key="customer_id") }}
select customer_id, max(at) as at, count(*) as events from {{ source("app", "events") }} group by customer_id
""",
    # an ibis step: compiled by ibis in the project's dialect, transpiled to Spark SQL like the rest
    "features/segment_spend.py": """\
import ibis

from toolkit import feature


@feature(materialized="table")
def segment_spend(ref):
    stats = ref("customer_stats")
    return stats.group_by("segment").aggregate(
        customers=stats.count(), spend=stats.spend.sum(), heavy=(stats.spend > 60).sum(),
        last_at=stats.last_at.max(), label=ibis.literal("seg-") + stats.segment.upper().max())
""",
    "features/training.sql": """\
{{ config(materialized="table") }}
select customer_id, segment, weight, events, spend, mean_amount,
       case when spend > 60 then 1 else 0 end as big
from {{ ref("customer_stats") }}
""",
    "models/big.py": """\
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from toolkit import model

ENCODE = make_column_transformer(
    (OneHotEncoder(handle_unknown="ignore"), ["segment"]),
    remainder=make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
)
FEATURES = dict(training="training", label="big", key="customer_id", scoring_table="training", metrics=None)


@model(scoring="sql", **FEATURES)
def big_sql():
    return make_pipeline(ENCODE, LogisticRegression(max_iter=500))


@model(scoring="python", **FEATURES)
def big_python():
    return make_pipeline(ENCODE, LogisticRegression(max_iter=500))


@model(scoring="sql", **FEATURES)
def big_tree():
    return make_pipeline(ENCODE, DecisionTreeClassifier(max_depth=4, random_state=0))
""",
}

PUBLISHED = ["raw.segments", "features.customer_stats", "features.recent", "features.daily", "features.latest_event",
             "features.segment_spend", "features.training", "predictions.big_sql", "predictions.big_python",
             "predictions.big_tree", "predictions.big_sql_history"]


def customers() -> pa.Table:
    n = 240
    return pa.table({"customer_id": pa.array(range(n), pa.int64()), "segment": [["a", "b", "c"][i % 3] for i in range(n)]})


def events(start: int, count: int) -> pa.Table:
    from datetime import datetime, timedelta

    ids = [(i * 7) % 240 for i in range(start, start + count)]
    amounts = [None if i % 17 == 0 else round(((i * 37) % 1000) / 10.0, 2) for i in range(start, start + count)]
    at = [datetime(2025, 1, 1) + timedelta(hours=3 * i) for i in range(start, start + count)]
    return pa.table({"customer_id": pa.array(ids, pa.int64()), "amount": pa.array(amounts, pa.float64()), "at": pa.array(at, pa.timestamp("us"))})


def write_sources(root: Path, target: str, tables: dict[str, pa.Table], append: bool = False) -> None:
    from toolkit.config import load_config

    engine = connect(load_config(root).target(target), root)
    try:
        engine.create_schema("app")
        for name, data in tables.items():
            relation = exp.table_(name, db="app")
            if append:
                engine.insert_arrow(relation, data)
            else:
                engine.drop(relation)
                engine.create_table_from_arrow(relation, data)
    finally:
        engine.close()


def read(root: Path, target: str, relation: str) -> list[tuple]:
    from toolkit.config import load_config

    engine = connect(load_config(root).target(target), root, exclusive=False)
    try:
        data = engine.fetch_arrow(exp.select("*").from_(exp.to_table(relation)))
    finally:
        engine.close()
    rows = [tuple(_plain(v) for v in row.values()) for row in data.to_pylist()]
    return sorted(rows, key=lambda row: tuple((v is None, str(v)) for v in row))


def _plain(value):
    if hasattr(value, "year") and not hasattr(value, "hour"):  # a date
        return value.isoformat()
    if hasattr(value, "hour"):
        return value.replace(tzinfo=None).isoformat()
    return value


def assert_equal_rows(spark: list[tuple], duck: list[tuple], relation: str) -> None:
    assert len(spark) == len(duck), f"{relation}: {len(spark)} rows on Spark, {len(duck)} on DuckDB"
    for got, want in zip(spark, duck):
        assert len(got) == len(want), f"{relation}: {got} vs {want}"
        for a, b in zip(got, want):
            if isinstance(a, float) or isinstance(b, float):
                assert a is not None and b is not None and (math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))), \
                    f"{relation}: {got} vs {want}"
            else:
                assert a == b, f"{relation}: {got} vs {want}"


@pytest.fixture(scope="module", autouse=True)
def one_clock():
    """Both engines' runs score at the same instant (scored_at columns compare equal)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOOLKIT_NOW", "2026-01-15T12:00:00")
        yield


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from _projects import write_files

    root = tmp_path_factory.mktemp("spark") / "project"
    write_files(root, FILES)
    for target in ("spark", "local"):
        write_sources(root, target, {"customers": customers(), "events": events(0, 600)})
    return root


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_engine_conformance_on_spark(check, project):
    target = Target("conformance", "spark", {"warehouse": str(shared_warehouse())})
    check(lambda lock_timeout=5.0, exclusive=True, stop_waiting=None: connect(target, project, lock_timeout, exclusive=exclusive, stop_waiting=stop_waiting))


@pytest.fixture(scope="module")
def first_runs(project):
    return {target: run_here(project, "run", "--target", target) for target in ("spark", "local")}


def test_the_project_on_spark_equals_duckdb(project, first_runs):
    for target, (code, out) in first_runs.items():
        assert code == 0, f"{target}: {out}"
    for relation in PUBLISHED:
        assert_equal_rows(read(project, "spark", relation), read(project, "local", relation), relation)


def test_monitoring_on_spark_equals_duckdb(project, first_runs):
    """Drift of each model's scoring against its training baseline, computed in Spark
    SQL, equals DuckDB's: same features, metrics and statuses, values to 1e-9."""
    import duckdb

    def recorded(path: Path) -> list[tuple]:
        with duckdb.connect(str(path), read_only=True) as connection:
            return connection.execute(
                "select model, version, feature, metric, value, status from toolkit.monitoring order by all"
            ).fetchall()

    spark, duck = recorded(shared_warehouse() / "state.duckdb"), recorded(project / "warehouse/local.duckdb")
    assert {row[0] for row in duck} == {"big_sql", "big_python", "big_tree"}
    assert_equal_rows(spark, duck, "toolkit.monitoring")


def test_state_lives_in_the_state_store_not_in_spark(project, first_runs):
    from toolkit.config import load_config

    engine = connect(load_config(project).target("spark"), project)
    try:
        assert "toolkit" not in {row[0] for row in engine.fetch_rows("SHOW DATABASES")}
    finally:
        engine.close()
    assert (shared_warehouse() / "state.duckdb").exists()


def test_new_rows_update_incremental_steps_like_duckdb(project, first_runs):
    for target in ("spark", "local"):
        write_sources(project, target, {"events": events(600, 90)}, append=True)
        code, out = run_here(project, "run", "--target", target)
        assert code == 0, f"{target}: {out}"
        assert "incremental" in out, out
    for relation in ("features.daily", "features.latest_event", "features.customer_stats"):
        assert_equal_rows(read(project, "spark", relation), read(project, "local", relation), relation)


def test_a_failing_data_test_publishes_nothing_on_spark(project, first_runs):
    before = read(project, "spark", "features.customer_stats")
    twice = pa.table({"customer_id": pa.array([0], pa.int64()), "segment": ["b"]})  # customer 0 in two segments
    write_sources(project, "spark", {"customers": pa.concat_tables([customers(), twice])})
    try:
        code, out = run_here(project, "run", "--target", "spark", "--select", "customer_stats")
        assert code == 1 and "unique" in out, out
        assert read(project, "spark", "features.customer_stats") == before
    finally:
        write_sources(project, "spark", {"customers": customers()})


def test_one_run_at_a_time_through_the_state_store(project, first_runs):
    """The run lock of a Spark target is its state store's: a second run waits, then exits 3
    naming the holder, before it starts a JVM of its own."""
    from _projects import cli_tuple
    from toolkit.config import load_config
    from toolkit.session import Access, open_session

    with open_session(load_config(project), "spark", access=Access.WRITE) as session:
        session.start_run("run")
        code, out, err = cli_tuple("run", "--target", "spark", "--lock-timeout", "1", cwd=project)
    assert code == 3, out + err
    assert "target spark (state) is busy: run " in err and "holds it" in err, err


def test_a_run_that_died_mid_publish_leaves_every_name_readable(project, first_runs):
    """Spark publishes without a transaction: a run that died after pointing a view at
    its new table, before the state recorded it, leaves the view on a table the state
    does not know. The next run points the view back at what the state records before
    it drops unreferenced tables (else the name would read a dropped table)."""
    from toolkit.config import load_config
    from toolkit.engines.base import Swap
    from toolkit.session import Access, open_session
    from toolkit.state import PHYSICAL_SCHEMA

    before = read(project, "spark", "features.customer_stats")
    with open_session(load_config(project), "spark", access=Access.WRITE) as session:
        session.start_run("run")  # never finished: its process "died" after the swap
        unrecorded = exp.table_("customer_stats__r999999", db=PHYSICAL_SCHEMA)
        published = exp.to_table("features.customer_stats")
        session.engine.create_table_as(unrecorded, exp.select("*").from_(published).where("spend > 100"))
        session.engine.publish([Swap(published, unrecorded)])
    partial = read(project, "spark", "features.customer_stats")
    assert 0 < len(partial) < len(before)  # readers see the complete new table
    code, out = run_here(project, "run", "--target", "spark")
    assert code == 0, out
    assert read(project, "spark", "features.customer_stats") == before


def test_a_publish_that_fails_half_way_points_its_views_back(project, first_runs):
    """Without a transaction the swaps before a failing one are applied; the state never
    records them, so they are pointed back (or dropped, if the state never published the
    name) at once, before the run drops their tables."""
    from toolkit import materialize
    from toolkit.config import load_config
    from toolkit.engines.base import Swap
    from toolkit.session import Access, open_session
    from toolkit.state import PHYSICAL_SCHEMA

    def fail(_engine):
        raise RuntimeError("boom")

    before = read(project, "spark", "features.training")
    with open_session(load_config(project), "spark", access=Access.WRITE) as session:
        engine, training = session.engine, exp.to_table("features.training")
        unrecorded = exp.table_("training__r999998", db=PHYSICAL_SCHEMA)
        engine.create_table_as(unrecorded, exp.select("*").from_(training).where("events > 3"))
        swaps = [Swap(training, unrecorded), Swap(exp.to_table("features.brand_new"), unrecorded, extras=fail)]
        with pytest.raises(RuntimeError, match="boom"):
            materialize.commit(engine, session.state, swaps, record=lambda: pytest.fail("recorded a failed publish"))
        assert "brand_new" not in engine.relations("features")
        engine.drop(unrecorded)
    assert read(project, "spark", "features.training") == before

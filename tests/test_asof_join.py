"""Point-in-time joins: as_of_join(...) and hand-written ASOF JOINs give DuckDB's ASOF
LEFT JOIN result on DuckDB (native), PostgreSQL and Spark (the window rewrite of toolkit/asof.py).

The data has the cases that go wrong: an event at exactly the spine's time (counts),
only later events (NULL), a NULL spine key or time (NULL), an event with a NULL time
(never matches), a duplicated spine row (kept twice), a multi-column key with a NULL
part, and a tie (two events of one key at one time: one of them, unspecified which).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from sqlglot import exp

from spark_support import SKIP_REASON as SPARK_SKIP
from postgres_support import SERVER_URL, pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

SPINE = """\
customer_id,region,snapshot_date
1,1,2025-01-10
1,1,2025-01-10
1,1,2025-01-07
1,1,2025-01-01
1,2,2025-01-10
2,1,2025-01-10
,1,2025-01-10
3,1,
3,1,2025-01-10
4,,2025-01-10
5,1,2025-01-05
"""
EVENTS = """\
customer_id,region,event_ts,amount
1,1,2025-01-05 12:00:00,10
1,1,2025-01-10 00:00:00,20
1,1,2025-01-10 00:00:01,21
1,2,2025-01-09 00:00:00,30
2,1,2025-01-11 00:00:00,31
3,1,,99
3,1,2025-01-02 00:00:00,40
4,,2025-01-03 00:00:05,41
,1,2025-01-01 00:00:00,50
5,1,2025-01-03 00:00:00,60
5,1,2025-01-03 00:00:00,61
"""
SEEDS_TOML = """\
[spine]
columns = { customer_id = "integer", region = "integer", snapshot_date = "date" }
[events]
columns = { customer_id = "integer", region = "integer", event_ts = "timestamp", amount = "integer" }
"""
SELECT = "s.customer_id, s.region, s.snapshot_date, e.amount, e.event_ts"
PROJECT = {
    "toolkit.toml": """\
        name = "pit"
        dialect = "duckdb"
        target = "dev"

        [targets.dev]
        engine = "duckdb"
        path = "warehouse/test.duckdb"

        [targets.pg]
        engine = "postgres"
        url = "${PG_URL}"
        """,
    "warehouse/seeds/spine.csv": SPINE,
    "warehouse/seeds/events.csv": EVENTS,
    "warehouse/seeds.toml": SEEDS_TOML,
    "features/pit.sql": f"select {SELECT}\n"
    "from {{ as_of_join(ref('spine'), 'snapshot_date', ref('events'), 'event_ts', by=['customer_id', 'region']) }}\n",
    "features/pit_one_key.sql": "select sp.customer_id, sp.region, sp.snapshot_date, ev.amount, ev.event_ts\n"
    "from {{ as_of_join(ref('spine'), 'snapshot_date', ref('events'), 'event_ts', by='customer_id',\n"
    "                   spine_alias='sp', events_alias='ev') }}\n",
    "features/pit_time_only.sql": f"select {SELECT}\n"
    "from {{ as_of_join(ref('spine'), 'snapshot_date', ref('events'), 'event_ts', by={}) }}\n",
    "features/hand.sql": f"select {SELECT}\nfrom spine as s asof left join events as e\n"
    "  on s.customer_id = e.customer_id and s.region = e.region and s.snapshot_date >= e.event_ts\n",
}
TIE = {60, 61}  # customer 5's two events at one time


def _rows(text: str) -> list[dict]:
    header, *lines = text.splitlines()
    names = header.split(",")
    parse = {"customer_id": int, "amount": int, "region": int,
             "snapshot_date": dt.date.fromisoformat, "event_ts": dt.datetime.fromisoformat}
    return [{n: (parse[n](v) if v else None) for n, v in zip(names, line.split(","))} for line in lines]


def expected(keys: tuple[str, ...]) -> list[tuple]:
    """The point-in-time rows computed in Python (latest event_ts <= snapshot_date, same keys);
    a tie yields the first tied event (compare with `same`)."""
    events = _rows(EVENTS)
    out = []
    for s in _rows(SPINE):
        start = dt.datetime.combine(s["snapshot_date"], dt.time()) if s["snapshot_date"] else None
        found = [e for e in events if start is not None and e["event_ts"] is not None and e["event_ts"] <= start
                 and all(s[k] is not None and s[k] == e[k] for k in keys)]
        best = max(found, key=lambda e: e["event_ts"], default=None)
        out.append((s["customer_id"], s["region"], s["snapshot_date"], best and best["amount"], best and best["event_ts"]))
    return _sorted(out)


def _sorted(rows) -> list[tuple]:
    return sorted((tuple(row) for row in rows), key=lambda row: tuple((v is None, str(v)) for v in row))


def same(got: list[tuple], want: list[tuple]) -> None:
    """Equal rows, except that a spine row with a tie may carry any one of the tied events."""
    def settle(rows):
        return _sorted((c, r, d, 60 if a in TIE else a, t) for c, r, d, a, t in rows)

    assert len(got) == len(want), (got, want)
    assert settle(got) == settle(want), (got, want)


def duck(root, relation: str) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse" / "test.duckdb"), read_only=True) as con:
        return _sorted(con.execute(f"select * from {relation}").fetchall())


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from _projects import make_test_project

    return make_test_project(tmp_path_factory.mktemp("asof") / "project", PROJECT)


@pytest.fixture(scope="module")
def duck_run(project, run_cli):
    return run_cli("run", cwd=project)


def test_the_macro_equals_a_hand_written_asof_join_on_duckdb(project, duck_run):
    code, out, err = duck_run
    assert code == 0, out + err
    hand = duck(project, "features.hand")
    same(hand, expected(("customer_id", "region")))
    same(duck(project, "features.pit"), hand)
    same(duck(project, "features.pit_one_key"), expected(("customer_id",)))
    same(duck(project, "features.pit_time_only"), expected(()))


def test_compile_shows_the_native_join_with_quoted_names_and_the_rewrite_per_dialect(project, run_cli, duck_run):
    code, out, err = run_cli("compile", "pit_one_key", cwd=project)
    assert code == 0, out + err
    assert 'ASOF LEFT JOIN "raw"."events" AS "ev"' in out and 'ON "sp"."customer_id" = "ev"."customer_id"' in out
    code, out, err = run_cli("compile", "pit", "--dialect", "postgres", cwd=project)
    assert code == 0 and "DISTINCT ON" in out and "ASOF" not in out, out + err
    code, out, err = run_cli("compile", "pit", "--dialect", "spark", cwd=project)
    assert code == 0 and "OVER (" in out and "ASOF" not in out, out + err


BAD_CALLS = [
    ("as_of_join(ref('spine'), 'snapshot_date', ref('events'), 'event_ts')", "by= is missing"),
    ("as_of_join(ref('spine'), 'snapshot_date', ref('events'), 'event_ts', by=3)", "by must be a column name"),
    ("as_of_join(ref('spine'), 'snapshot_date', ref('events'), 'event_ts', by=['customer_id', None])", "by must be a column name (a string), got NoneType"),
    ("as_of_join(ref('spine'), 'snapshot_date', ref('events'), 7, by='customer_id')", "event_time must be a column name"),
    ("as_of_join('', 'snapshot_date', ref('events'), 'event_ts', by='customer_id')", "spine must be a relation"),
    ("as_of_join(ref('spine'), 'snapshot_date', var('t'), 'event_ts', by='customer_id')", "events must be a relation"),
    ("as_of_join(ref('spine'), 'snapshot_date', ref('events'), 'event_ts', by='customer_id', spine_alias='a b')", "spine_alias 'a b' is not a plain name"),
    ("as_of_join(ref('spine'), 'snapshot_date', ref('events'), 'event_ts', by='customer_id', events_alias='S')", "spine_alias 's' and events_alias 'S' name one alias"),
    ("as_of_join(ref('spine'), 'snapshot_date', ref('events'), 'event_ts', by='customer_id', alias='x')", "unexpected keyword argument 'alias'"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS, ids=[m for _, m in BAD_CALLS])
def test_bad_arguments_are_a_project_error_at_the_template_line(tmp_path, call, message):
    from _projects import make_test_project

    from toolkit.compiler import compile_project
    from toolkit.errors import ProjectError

    root = make_test_project(tmp_path / "p", {
        "toolkit.toml": PROJECT["toolkit.toml"] + '\n[vars]\nt = "raw.events"\n',
        "warehouse/seeds/spine.csv": SPINE, "warehouse/seeds/events.csv": EVENTS, "warehouse/seeds.toml": SEEDS_TOML,
        "features/bad.sql": f"select s.customer_id\n-- point in time\nfrom {{{{ {call} }}}}\n",
    })
    with pytest.raises(ProjectError) as raised:
        compile_project(root)
    assert (raised.value.file, raised.value.line) == ("features/bad.sql", 3), raised.value.message
    assert message in raised.value.message


def test_a_bad_argument_exits_2_with_file_and_line(make_project, run_cli):
    root = make_project({**PROJECT, "features/pit.sql": "select s.customer_id\nfrom {{ as_of_join(ref('spine'), 'snapshot_date', ref('events'), 'event_ts', by=42) }}\n"})
    code, out, err = run_cli("compile", cwd=root)
    assert code == 2
    assert "features/pit.sql:2" in err and "by must be a column name, a list of names or a dict, got int 42" in err
    assert "Traceback" not in out + err


# -- the leakage check (models.as_of / feature_times) over an as_of_join training table --

LEAKAGE_MODEL = """\
from sklearn.linear_model import LogisticRegression
from toolkit import model


@model(training="training", label="label", key=["customer_id", "snapshot_date"], split="random",
       metrics=["accuracy"], as_of="snapshot_date", feature_times=["event_ts"])
def pit_model():
    return LogisticRegression()
"""
TRAINING = """\
select s.customer_id, s.snapshot_date, coalesce(e.amount, 0) as amount, e.event_ts, s.customer_id % 2 as label
from {{ JOIN }}
"""


@pytest.mark.parametrize("join, leaks", [
    ("as_of_join(ref('spine'), 'snapshot_date', ref('events'), 'event_ts', by='customer_id') }}", 0),
    # a hand-made join on the key alone also takes events after the snapshot
    ("ref('spine') }} as s left join {{ ref('events') }} as e on s.customer_id = e.customer_id", 4),
], ids=["as_of_join", "hand-made"])
def test_the_leakage_check_passes_as_of_join_and_catches_a_future_event(make_project, run_cli, join, leaks):
    spine = "customer_id,snapshot_date\n" + "".join(f"{c},2025-01-{d:02d}\n" for c in range(1, 5) for d in (5, 10))
    events = "customer_id,region,event_ts,amount\n" + "".join(f"{c},1,2025-01-{d:02d} 00:00:00,{c * d}\n" for c in range(1, 5) for d in (3, 8))
    root = make_project({
        **PROJECT, "warehouse/seeds/spine.csv": spine, "warehouse/seeds/events.csv": events,
        "warehouse/seeds.toml": SEEDS_TOML.replace(' region = "integer",', ""),
        **{f"features/{name}.sql": "select 1 as x" for name in ("pit", "pit_one_key", "pit_time_only", "hand")},
        "features/training.sql": TRAINING.replace("{{ JOIN }}", "{{ " + join), "models/pit_model.py": LEAKAGE_MODEL,
    })
    code, out, err = run_cli("run", cwd=root)
    if leaks:
        assert code == 1 and f"leakage: {leaks} row(s) of training have event_ts later than snapshot_date" in out, out + err
    else:
        assert code == 0, out + err


@pytest.mark.skipif(not SERVER_URL, reason="TOOLKIT_TEST_POSTGRES_URL is not set")
def test_the_macro_and_every_asof_join_shape_on_postgres_equal_duckdb(project, duck_run, run_cli, pg_url):  # noqa: F811
    from toolkit import sql

    code, out, err = run_cli("run", "--target", "pg", cwd=project, env={"PG_URL": pg_url})
    assert code == 0, out + err
    for relation, keys in (("pit", ("customer_id", "region")), ("pit_one_key", ("customer_id",)), ("pit_time_only", ()), ("hand", ("customer_id", "region"))):
        got = _sorted(pg_query(pg_url, f"select * from features.{relation}"))
        same(got, expected(keys))
        same(got, duck(project, f"features.{relation}"))
    for variant, want in zip(VARIANTS, duckdb_variants(project)):  # the seeds are in raw.* on both
        text = sql.to_target(sql.parse_select(variant_sql(*variant), "duckdb"), "duckdb", "postgres")
        assert "OVER (" in text and "ASOF" not in text
        same(_sorted(pg_query(pg_url, text)), want)
    # a shape the rewrite cannot translate is a project error before anything runs
    (project / "features" / "bad.sql").write_text("select s.customer_id\nfrom spine as s asof join events as e on s.customer_id = e.customer_id\n")
    try:
        code, out, err = run_cli("run", "--target", "pg", cwd=project, env={"PG_URL": pg_url})
    finally:
        (project / "features" / "bad.sql").unlink()
    assert code == 2 and "features/bad.sql" in err and "0 inequalities (an ASOF join has exactly one)" in err, out + err


# -- the rewrite on its own: every inequality, inner and left, against DuckDB's own ASOF --

VARIANTS = [
    ("left", "s.snapshot_date >= e.event_ts"),
    ("left", "e.event_ts <= s.snapshot_date"),
    ("left", "s.snapshot_date > e.event_ts"),
    ("left", "s.snapshot_date <= e.event_ts"),
    ("left", "s.snapshot_date < e.event_ts"),
    ("", "s.snapshot_date >= e.event_ts"),
]


def variant_sql(side: str, inequality: str) -> str:
    return (f"select {SELECT} from raw.spine as s asof {side} join raw.events as e "
            f"on s.customer_id = e.customer_id and {inequality}")


def duckdb_variants(project) -> list[list[tuple]]:
    with duckdb.connect(str(project / "warehouse" / "test.duckdb"), read_only=True) as con:
        return [_sorted(con.execute(variant_sql(*v)).fetchall()) for v in VARIANTS]


@pytest.mark.skipif(bool(SPARK_SKIP), reason=str(SPARK_SKIP))
def test_the_macro_and_asof_join_shapes_on_spark_equal_duckdb(project, duck_run):
    """Through compile and SparkEngine.generate on the shared in-process JVM (a `toolkit
    run` on Spark costs a JVM of its own), the seeds as temporary views."""
    from spark_support import shared_engine

    from toolkit import sql
    from toolkit.compiler import compile_project

    engine = shared_engine()
    spark = engine._spark
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    spark.conf.set("spark.sql.shuffle.partitions", "1")  # 11 rows: 200 shuffle tasks per stage would take seconds
    try:
        with duckdb.connect(str(project / "warehouse" / "test.duckdb"), read_only=True) as con:
            for table in ("spine", "events"):
                spark.createDataFrame(con.execute(f"select * from raw.{table}").to_arrow_table()).createOrReplaceTempView(f"asof_{table}")
        compiled = compile_project(project)

        def rows(tree) -> list[tuple]:
            tree = sql.replace_tables(tree, lambda table: exp.table_(f"asof_{table.name}"))
            assert "ASOF" not in engine.generate(tree)
            return _sorted(tuple(row.values()) for row in engine.fetch_arrow(tree).to_pylist())

        for relation, keys in (("pit", ("customer_id", "region")), ("hand", ("customer_id", "region"))):
            same(rows(compiled.steps[relation].tree), expected(keys))
        for variant, want in list(zip(VARIANTS, duckdb_variants(project)))[4:]:  # <, inner (all shapes: the PostgreSQL test)
            same(rows(sql.parse_select(variant_sql(*variant), "duckdb")), want)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", partitions)
        engine.close()

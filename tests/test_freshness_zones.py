"""Freshness of toolkit's own clock columns in any project time_zone, and freshness on Spark.

toolkit stamps what it writes (a model's scored_at, the times in its toolkit.* tables)
with its clock, naive UTC. A freshness test read every timestamp without zone as a wall
time of the project's time_zone: in America/Los_Angeles predictions scored at 10:00 UTC
read as 10:00 Pacific (17:00 UTC) and passed max_age "1 hour" three hours later (stale
data, exit 0); in Europe/Berlin they read as 08:00 UTC and failed 59 minutes after
scoring. Now such a column (found through column lineage, or a source that is one of those
tables) is read as UTC. Every run sets TOOLKIT_NOW; scoring runs at T0 = 2024-07-01 10:00 UTC.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from _projects import cli_tuple, write_files
from postgres_support import pg_url  # noqa: F401 (a fixture)

T0 = "2024-07-01T10:00"
ZONES = ["America/Los_Angeles", "Europe/Berlin"]

MODEL = """\
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from toolkit import model


@model(training="training", label="y", key="id", scoring_table="scoring")
def m():
    return make_pipeline(StandardScaler(), LogisticRegression())
"""

FRESH = '{{{{ config(materialized="{kind}", table_tests=[{{"freshness": {{"column": "{column}", "max_age": "1 hour"}}}}]) }}}}\n'


def _rows() -> str:
    lines = ["id,x1,x2,y"]
    for i in range(120):
        x1, x2 = (i * 37 % 100) / 10.0, (i * 11 % 50) / 10.0
        lines.append(f"{i + 1},{x1},{x2},{int(x1 + x2 / 2 > 6)}")
    return "\n".join(lines) + "\n"


def _project(root: Path, zone: str, target: str, extra: dict[str, str]) -> Path:
    write_files(root, {
        "toolkit.toml": f'name = "fz"\ndialect = "duckdb"\ntarget = "t"\ntime_zone = "{zone}"\n{target}',
        "warehouse/seeds/d.csv": _rows(),
        "features/training.sql": 'select id, x1, x2, y from {{ ref("d") }}\n',
        "features/scoring.sql": 'select id, x1, x2 from {{ ref("d") }}\n',
        "models/m.py": MODEL,
        **extra,
    })
    return root


def duckdb_project(root: Path, zone: str, extra: dict[str, str]) -> Path:
    return _project(root, zone, '[targets.t]\nengine = "duckdb"\npath = "warehouse/w.duckdb"\n', extra)


READERS = {  # steps whose freshness column is carried from the predictions' scored_at
    "features/latest.sql": FRESH.format(kind="view", column="scored_at") + 'select id, prediction, scored_at from {{ ref("m") }}\n',
    "features/last_scored.sql": FRESH.format(kind="table", column="last_scored")
    + 'select cast(max(p.scored_at) as timestamp) as last_scored from {{ ref("m") }} as p\n',
}


def run_at(root: Path, now: str, *args: str) -> tuple[int, str]:
    code, out, err = cli_tuple("run", *args, cwd=root, env={"TOOLKIT_NOW": now})
    assert code in (0, 1) and "Traceback" not in err, out + err
    return code, out + err


def failed_tests(output: str) -> set[str]:
    return {name for name in ("scored_at", "last_scored", "created_at") if f"freshness({name})" in output}


@pytest.mark.parametrize("zone", ZONES)
def test_scored_at_is_fresh_for_exactly_max_age_in_any_zone(tmp_path, zone):
    """59 minutes after scoring both tests pass, 61 minutes after both fail (before: Los
    Angeles passed at 61 minutes, Berlin failed at 59)."""
    root = duckdb_project(tmp_path / "p", zone, READERS)
    code, output = run_at(root, T0)
    assert code == 0, output
    code, output = run_at(root, "2024-07-01T10:59")  # the model is reused: scored_at stays at T0
    assert code == 0 and not failed_tests(output), output
    code, output = run_at(root, "2024-07-01T11:01")
    assert code == 1 and failed_tests(output) == {"scored_at", "last_scored"}, output


def test_a_source_on_a_toolkit_table_reads_its_times_as_utc(tmp_path):
    """A source pointing at toolkit.model_versions (created_at: toolkit's clock) in Los
    Angeles: fresh 59 minutes after the version was trained, stale at 61 (before: fresh
    for 7 more hours)."""
    extra = {
        "warehouse/sources.toml": '[tk]\nschema = "toolkit"\n[tk.tables.model_versions]\n'
                                  'table_tests = [{ freshness = { column = "created_at", max_age = "1 hour" } }]\n',
        "features/versions.sql": 'select model, version, created_at from {{ source("tk", "model_versions") }}\n',
    }
    root = duckdb_project(tmp_path / "p", "America/Los_Angeles", extra)
    code, output = run_at(root, T0, "--exclude", "versions")
    assert code == 0, output
    code, output = run_at(root, "2024-07-01T10:59")
    assert code == 0 and not failed_tests(output), output
    code, output = run_at(root, "2024-07-01T11:01")
    assert code == 1 and failed_tests(output) == {"created_at"}, output


def test_a_column_computed_from_scored_at_keeps_the_project_zone():
    """Only a column carried from toolkit's clock (as it is, cast, truncated, max/min) is
    read as UTC; arithmetic on it, or another column mixed in, is the user's wall time."""
    import sqlglot

    from toolkit.compiling.clockcolumns import _CARRYING, _keeps_wall_time

    def carried(text: str) -> bool:
        tree = sqlglot.parse_one(text, read="duckdb")
        return all(isinstance(n, _CARRYING) and _keeps_wall_time(n) for n in tree.walk())

    assert carried("date_trunc('hour', max(p.scored_at))") and carried("cast(p.scored_at as date)")
    assert not carried("p.scored_at + interval 1 hour") and not carried("coalesce(p.scored_at, p.other)")
    assert not carried("cast(p.scored_at as timestamptz)") and not carried("p.scored_at at time zone 'UTC'")


def test_scored_at_freshness_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    """The same in Los Angeles on PostgreSQL (before: still fresh at 61 minutes)."""
    target = f'[targets.t]\nengine = "postgres"\nurl = "{pg_url}"\n'
    root = _project(tmp_path / "p", "America/Los_Angeles", target, READERS)
    code, output = run_at(root, T0)
    assert code == 0, output
    code, output = run_at(root, "2024-07-01T10:59")
    assert code == 0 and not failed_tests(output), output
    code, output = run_at(root, "2024-07-01T11:01")
    assert code == 1 and failed_tests(output) == {"scored_at", "last_scored"}, output


# -- Spark ----------------------------------------------------------------------------------

from spark_support import SKIP_REASON as SPARK_SKIP  # noqa: E402

PYTHON_MODEL = MODEL.replace('scoring_table="scoring")', 'scoring_table="scoring", scoring="python")').replace("def m():", "def mp():")


@pytest.mark.slow  # starts (or shares) the embedded Spark
@pytest.mark.skipif(SPARK_SKIP is not None, reason=SPARK_SKIP or "")
def test_freshness_on_spark_means_what_it_means_elsewhere(tmp_path):
    """Spark, Los Angeles, in this process on the shared warehouse: scored_at (SQL and
    Python scoring) is fresh 59 minutes after T0 and stale at 61 (before: fresh), and a
    source's wall time (TIMESTAMP_NTZ, 03:00 Pacific) and instant (TIMESTAMP_LTZ) of T0
    are judged as on DuckDB and PostgreSQL."""
    import os

    from spark_support import run_here, shared_warehouse

    from toolkit.config import load_config
    from toolkit.engines import connect

    root = tmp_path / "p"
    target = f'[targets.t]\nengine = "spark"\nmaster = "local[2]"\nwarehouse = "{shared_warehouse()}"\nstate = "{tmp_path / "state.duckdb"}"\n'
    _project(root, "America/Los_Angeles", target, {
        **READERS,
        "models/mp.py": PYTHON_MODEL,
        "features/latest_python.sql": FRESH.format(kind="view", column="scored_at") + 'select id, scored_at from {{ ref("mp") }}\n',
        "warehouse/sources.toml": '[app_fz]\n[app_fz.tables.t]\ncolumns = { id = "bigint", ts = "timestamp", tsz = "timestamptz" }\n'
                                  'table_tests = [{ freshness = { column = "ts", max_age = "1 hour" } }, '
                                  '{ freshness = { column = "tsz", max_age = "1 hour" } }]\n',
        "features/events.sql": 'select id, ts, tsz from {{ source("app_fz", "t") }}\n',
    })
    engine = connect(load_config(root).target(), root, exclusive=False)
    try:
        # The process's Spark catalog is shared with other files' tests (test_spark.py publishes
        # features.training too): what this project publishes must not exist before it.
        for relation in ["features.training", "features.scoring", "features.latest", "features.last_scored",
                         "features.latest_python", "features.events", "predictions.m", "predictions.mp",
                         "predictions.m_history", "predictions.mp_history"]:
            for kind in ("view", "table"):
                try:
                    engine._spark.sql(f"drop {kind} if exists {relation}").collect()
                except Exception:  # noqa: BLE001 (DROP VIEW of a table, or the reverse: the other one drops it)
                    pass
        for statement in ["create schema if not exists app_fz", "drop table if exists app_fz.t",
                          "create table app_fz.t (id bigint, ts timestamp_ntz, tsz timestamp_ltz)",
                          "insert into app_fz.t values (1, timestamp_ntz'2024-07-01 03:00:00', timestamp_ltz'2024-07-01 10:00:00+00:00')"]:
            engine._spark.sql(statement).collect()  # the test's own setup, in Spark SQL as written
    finally:
        engine.close()

    def run(now: str) -> tuple[int, str]:
        before = os.environ.get("TOOLKIT_NOW")
        os.environ["TOOLKIT_NOW"] = now
        try:
            return run_here(root, "run")
        finally:
            os.environ.pop("TOOLKIT_NOW") if before is None else os.environ.__setitem__("TOOLKIT_NOW", before)

    code, output = run(T0)
    assert code == 0, output
    code, output = run("2024-07-01T10:59")
    assert code == 0 and "freshness(" not in output, output
    code, output = run("2024-07-01T11:01")
    assert code == 1, output
    failed_steps = set(re.findall(r"failed\s+(\w+) \(test", output))
    assert failed_steps == {"latest", "last_scored", "latest_python"}, output
    assert "freshness(ts)" in output and "freshness(tsz)" in output, output  # the source's, as on DuckDB

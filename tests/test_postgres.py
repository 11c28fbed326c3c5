"""The same project on PostgreSQL: end to end, equal to DuckDB, crash-safe, locked.

Each test gets a fresh database (postgres_support.pg_url) on the server named by
TOOLKIT_TEST_POSTGRES_URL; without it these tests skip, saying why.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from postgres_support import pg_arrow, pg_query, pg_url  # noqa: F401 (pg_url is a fixture)

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = ["pyproject.toml", "features", "models", "warehouse/sources.toml", "warehouse/seeds", "warehouse/seeds.toml", "warehouse/generate.py"]


def copy_example(destination: Path) -> Path:
    for relative in EXAMPLE:
        source = REPO / relative
        if source.is_dir():
            shutil.copytree(source, destination / relative, ignore=shutil.ignore_patterns("__pycache__", "*.duckdb*"))
        elif source.exists():
            (destination / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, destination / relative)
    return destination


def duckdb_arrow(path: Path, sql: str) -> pa.Table:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.sql(sql).to_arrow_table()


def assert_same_rows(left: pa.Table, right: pa.Table, where: str) -> None:
    """Row for row (both sorted by every column); numbers to 1e-9, everything else exactly."""
    assert left.num_rows == right.num_rows, f"{where}: {left.num_rows} rows on DuckDB, {right.num_rows} on PostgreSQL"
    for name in left.column_names:
        a, b = left.column(name), right.column(name)
        numeric = any(pa.types.is_floating(t) or pa.types.is_decimal(t) for t in (a.type, b.type))
        if numeric:
            x = a.cast(pa.float64()).to_numpy(zero_copy_only=False)
            y = b.cast(pa.float64()).to_numpy(zero_copy_only=False)
            assert np.allclose(x, y, rtol=0, atol=1e-9, equal_nan=True), f"{where}.{name} differs"
        else:
            assert a.to_pylist() == b.to_pylist(), f"{where}.{name} differs"


def ordered_select(columns: list[str], relation: str) -> str:
    quoted = ", ".join(f'"{c}"' for c in columns)
    return f"select {quoted} from {relation} order by {quoted}"


def test_example_project_on_postgres_equals_duckdb(tmp_path, pg_url, run_cli):
    root = copy_example(tmp_path / "shop")
    env = {"TOOLKIT_PG_URL": pg_url}
    for args in (["warehouse/generate.py"], ["warehouse/generate.py", "--url", pg_url]):
        subprocess.run([sys.executable, *args], cwd=root, check=True, capture_output=True)
    code, out, err = run_cli("run", cwd=root, env=env)
    assert code == 0, out + err
    code, out, err = run_cli("run", "--target", "pg", cwd=root, env=env)
    assert code == 0, out + err
    assert "17 success" in out, out

    duck = root / "warehouse" / "shop.duckdb"
    features = [name for (name,) in pg_query(pg_url, "select table_name from information_schema.tables where table_schema = 'features' order by 1")]
    assert len(features) == 13
    for schema, names in (("features", features), ("predictions", ["churn", "spend"])):
        for name in names:
            columns = [c for (c,) in pg_query(pg_url, f"select column_name from information_schema.columns where table_schema = '{schema}' and table_name = '{name}' order by ordinal_position")]
            columns = [c for c in columns if c not in ("scored_at", "run_id")]  # differ by design
            query = ordered_select(columns, f'{schema}."{name}"')
            assert_same_rows(duckdb_arrow(duck, query), pg_arrow(pg_url, query), f"{schema}.{name}")

    # run records, registry and history live in the warehouse, as on DuckDB
    [(runs,)] = pg_query(pg_url, "select count(*) from toolkit.runs where status = 'success'")
    [(versions,)] = pg_query(pg_url, "select count(*) from toolkit.model_versions")
    assert runs == 1 and versions == 2
    # a second run reuses everything
    code, out, err = run_cli("run", "--target", "pg", cwd=root, env=env)
    assert code == 0 and "17 reused" in out, out + err  # the incremental step too: its source is unchanged
    # gc --history forgets the first run's step records but each step's latest
    code, out, err = run_cli("gc", "--target", "pg", "--history", "0s", cwd=root, env=env)
    assert code == 0 and "forgot 17 step record(s) of runs older than 0s" in out, out + err
    assert pg_query(pg_url, "select count(*), count(distinct step) from toolkit.step_runs") == [(17, 17)]


SLOW_PROJECT = {
    "toolkit.toml": """\
        name = "slow"
        dialect = "postgres"
        target = "pg"

        [targets.pg]
        engine = "postgres"
        url = "${PG_URL}"
        """,
    "features/numbers.sql": "select n from generate_series(1, 100) as t(n)",
    "features/slow.sql": "select n, {{ var('version', 1) }} as version from numbers, (select pg_sleep({{ var('sleep', 0) }})) as s",
}


def physical_relations(url: str) -> set[str]:
    return {name for (name,) in pg_query(url, "select table_name from information_schema.tables where table_schema = 'toolkit_physical'")}


def test_kill_during_run_leaves_published_data_and_no_orphans(make_project, run_cli, pg_url):
    root = make_project(SLOW_PROJECT)
    env = {"PG_URL": pg_url}
    code, out, err = run_cli("run", cwd=root, env=env)
    assert code == 0, out + err
    before = pg_query(pg_url, "select count(*), max(version) from features.slow")
    process = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "run", "--vars", "version=2,sleep=30", "--full-refresh"],
        cwd=root, env={**__import__("os").environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # wait until the slow step is running on the server
        if pg_query(pg_url, "select count(*) from pg_stat_activity where query like '%pg_sleep%' and pid <> pg_backend_pid()")[0][0]:
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert pg_query(pg_url, "select count(*), max(version) from features.slow") == before
    code, out, err = run_cli("run", "--vars", "version=2", cwd=root, env=env, timeout=60)  # lock recovered, no wait
    assert code == 0, out + err
    assert pg_query(pg_url, "select count(*), max(version) from features.slow") == [(100, 2)]
    published = {name for (name,) in pg_query(pg_url, "select physical_name from toolkit.published")}
    assert physical_relations(pg_url) == published, "orphan physical relations after the next run"
    assert pg_query(pg_url, "select status from toolkit.runs order by run_id") == [("success",), ("abandoned",), ("success",)]


# This database's advisory locks: pg_locks is the whole server's, and another test's run (another
# xdist worker, another database) holding one let the second run start before the first locked.
ADVISORY_HERE = ("select count(*) from pg_locks where locktype = 'advisory' "
                 "and database = (select oid from pg_database where datname = current_database())")


def test_concurrent_runs_are_serialized_by_the_advisory_lock(make_project, run_cli, pg_url):
    root = make_project(SLOW_PROJECT)
    env = {"PG_URL": pg_url}
    code, out, err = run_cli("run", cwd=root, env=env)
    assert code == 0, out + err
    import os

    environment = {**os.environ, **env, "NO_COLOR": "1"}
    first = subprocess.Popen([sys.executable, "-m", "toolkit", "run", "--vars", "version=3,sleep=8", "--full-refresh"], cwd=root, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not pg_query(pg_url, ADVISORY_HERE)[0][0]:
        time.sleep(0.05)
    started = time.monotonic()
    code, out, err = run_cli("run", "--lock-timeout", "0.5", cwd=root, env=env)
    waited = time.monotonic() - started
    assert code == 3, out + err
    assert "busy" in err and "toolkit run 2 host=" in err and "pid=" in err, err  # names the holding run
    assert "waiting for toolkit run 2" in err, err  # said while waiting, not only at the end
    assert waited >= 0.5, f"exit 3 after {waited:.1f}s, before the lock timeout"  # a lower bound holds under load (the holder sleeps 8 s so it outlasts the waiter)
    code, out, err = run_cli("run", "--vars", "version=4", "--lock-timeout", "60", cwd=root, env=env)  # waits, then runs
    assert code == 0, out + err
    assert first.wait(60) == 0, first.communicate()
    assert pg_query(pg_url, "select count(*), max(version) from features.slow") == [(100, 4)]
    run_ids = [r for (r,) in pg_query(pg_url, "select run_id from toolkit.runs order by started_at")]
    assert run_ids == sorted(run_ids), "run ids went backwards"


def test_password_never_printed(make_project, run_cli):
    root = make_project({**SLOW_PROJECT, "features/slow.sql": "select 1 as n"})
    code, out, err = run_cli("run", cwd=root, env={"PG_URL": "postgresql://someone:s3cr3t-pw@127.0.0.1:1/nowhere"})
    assert code == 2, out + err
    assert "s3cr3t-pw" not in out + err and "***" in err and "Traceback" not in err, err


def test_postgres_target_without_url_is_a_config_error(make_project, run_cli):
    root = make_project({"toolkit.toml": 'name = "x"\ntarget = "pg"\n[targets.pg]\nengine = "postgres"\n', "features/a.sql": "select 1 as a"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and "url" in err and "Traceback" not in err, err


def test_mask_password():
    from toolkit.engines.postgres import mask_password

    assert mask_password("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_password("postgresql://h/db?user=u&password=x&sslmode=require") == "postgresql://h/db?user=u&password=***&sslmode=require"
    assert mask_password("postgresql://u@h/db") == "postgresql://u@h/db"
    # libpq's keyword form printed the password as it was
    assert mask_password("host=h user=u password=s3cret dbname=db") == "host=h user=u password=*** dbname=db"
    assert mask_password("host=h password = 'a b' dbname=db") == "host=h password = *** dbname=db"


def test_a_keyword_connection_string_never_shows_its_password(make_project, run_cli):
    url = "host=127.0.0.1 port=1 user=postgres password=s3cretKW dbname=nonexist connect_timeout=2"
    config = f'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'
    root = make_project({"toolkit.toml": config, "features/a.sql": "select 1 as x"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and "cannot connect to" in err and "s3cretKW" not in out + err and "password=***" in err, out + err


LABELS_PROJECT = {
    "toolkit.toml": 'name = "labels"\ndialect = "postgres"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "${PG_URL}"\n',
    "features/tr.sql": "select n as id, (n % 100) / 10.0 as x, case when n % 100 >= 50 then 1 else 0 end as label from generate_series(1, 400) as t(n)\n",
    "features/sc.sql": "select n as id, n / 10.0 as x from generate_series(1, 10) as t(n)\n",
    "models/labels.py": ("from sklearn.linear_model import LogisticRegression\nfrom toolkit import model\n\n\n"
                         '@model(training="tr", label="label", key="id", scoring_table="sc", metrics=["accuracy"])\n'
                         "def labels():\n    return LogisticRegression()\n"),
}


def test_a_prediction_type_change_on_postgres_names_the_column_and_keeps_what_was_published(make_project, run_cli, pg_url):
    root = make_project(LABELS_PROJECT)
    env = {"PG_URL": pg_url}
    code, out, err = run_cli("run", cwd=root, env=env)
    assert code == 0, out + err
    before = pg_query(pg_url, "select * from predictions.labels order by id")
    history = pg_query(pg_url, "select * from predictions.labels_history order by id")
    (root / "features/tr.sql").write_text(LABELS_PROJECT["features/tr.sql"].replace("then 1 else 0 end", "then 'yes' else 'no' end"))
    code, out, err = run_cli("run", cwd=root, env=env)
    text = out + err
    assert code == 1 and "Traceback" not in text, text
    assert "model labels: column prediction of predictions.labels_history is integer" in text and "ALTER COLUMN prediction TYPE character varying" in text, text
    assert pg_query(pg_url, "select * from predictions.labels order by id") == before
    assert pg_query(pg_url, "select * from predictions.labels_history order by id") == history
    pg_query(pg_url, "ALTER TABLE predictions.labels_history ALTER COLUMN prediction TYPE character varying")  # what the message says
    code, out, err = run_cli("run", cwd=root, env=env)
    assert code == 0, out + err
    assert pg_query(pg_url, "select run_id, min(prediction) from predictions.labels_history group by 1 order by 1") == [(1, "0"), (3, "no")]

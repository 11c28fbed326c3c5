"""kill -9 during runs on embedded Spark (issue 12): every published name stays
readable and complete, and the next run recovers.

Spark has no transactional DDL. What a reader can observe (engines/spark.py): each
published name is a view, re-pointed by one ALTER VIEW ... AS at a table that was
complete and tested before; names of one run switch one by one, so right after a kill
some names may show the new build and others the old, each whole. What a kill leaves:
tables the state does not know (dropped by the next run) and, if the kill fell between
a swap and the state commit, views the state does not know (pointed back by the next
run before it drops anything: materialize.realign).

Each attempt is a process group of its own (python and its JVM, killed together, as a
machine would lose them): tests/spark_probe.py reads every published name, then runs
`toolkit run --vars version=N`. A name is complete when it holds its full row count,
all of one version. Kills are drawn within the window measured by the first run; only
kills that land mid-run count, until KILLS landed (at most ATTEMPTS tries).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _projects import write_files
from spark_support import SKIP_REASON

pytestmark = pytest.mark.slow

if SKIP_REASON:
    pytest.skip(SKIP_REASON, allow_module_level=True)

KILLS, ATTEMPTS = 3, 8
PROBE = Path(__file__).resolve().parent / "spark_probe.py"

FILES = {
    "toolkit.toml": """\
name = "killed"
dialect = "duckdb"
target = "spark"

[targets.spark]
engine = "spark"
master = "local[2]"
warehouse = "warehouse/spark"
""",
    "features/numbers.sql": """\
{{ config(materialized="table", tests={"id": ["unique", "not_null"]}) }}
select i as id, i % 7 as g, {{ var("version", 1) }} as version from generate_series(1, 20000) as t(i)
""",
    "features/groups.sql": """\
{{ config(materialized="table") }}
select g, version, count(*) as n, sum(id) as total from {{ ref("numbers") }} group by g, version
""",
    "features/evens.sql": """\
{{ config(materialized="view") }}
select id, version from {{ ref("numbers") }} where id % 2 = 0
""",
    "features/joined.sql": """\
{{ config(materialized="table", tests={"id": ["unique"]}) }}
select n.id, n.version, g.n from {{ ref("numbers") }} as n join {{ ref("groups") }} as g on g.g = n.g
""",
    "features/latest.sql": """\
{{ config(materialized="incremental", unique_key="id") }}
select id, version from {{ ref("numbers") }}
""",
    "features/summary.sql": """\
{{ config(materialized="table") }}
select version, count(*) as n from {{ ref("joined") }} group by version
""",
}
ROWS = {"numbers": 20000, "groups": 7, "evens": 10000, "joined": 20000, "latest": 20000, "summary": 1}


def start(root: Path, version: int) -> subprocess.Popen:
    arguments = ["run", "--log-format", "json", "--vars", f"version={version}"]
    return subprocess.Popen([sys.executable, str(PROBE), str(root), "spark", *arguments], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def read_probe(process: subprocess.Popen) -> dict:
    for line in process.stdout:
        if line.startswith("PROBE "):
            return json.loads(line.removeprefix("PROBE "))
    raise AssertionError(f"no probe: {process.stderr.read()[-2000:]}")


def await_start(process: subprocess.Popen) -> None:
    for line in process.stdout:
        if line.startswith("{") and json.loads(line).get("event") == "run_started":
            return
    raise AssertionError(f"no run_started event: {process.stderr.read()[-2000:]}")


def assert_complete(seen: dict, where: str) -> None:
    """Every name readable, each whole: its full row count, one version."""
    assert set(seen["relations"]) == set(ROWS), f"{where}: {seen}"
    for name, found in seen["relations"].items():
        assert "error" not in found, f"{where}: features.{name} unreadable: {found['error']}"
        assert found["rows"] == ROWS[name] and found["versions"] == 1, f"{where}: features.{name} is not one whole build: {found}"


def test_kill_9_during_spark_runs_leaves_every_name_whole(tmp_path):
    root = tmp_path / "killed"
    write_files(root, FILES)
    first = start(root, 1)
    read_probe(first)
    await_start(first)
    began = time.monotonic()
    out, err = first.communicate(timeout=600)
    window = time.monotonic() - began
    assert first.returncode == 0, out + err

    rng, landed, version = random.Random(12), 0, 1
    for attempt in range(ATTEMPTS):
        version += 1
        process = start(root, version)
        try:
            assert_complete(read_probe(process), f"before attempt {attempt}")
            await_start(process)
            time.sleep(rng.uniform(0, 0.8 * window))
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                landed += 1
            else:
                window *= 0.8  # the run was faster than the one measured
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.stdout.close()
            process.stderr.close()
        if landed >= KILLS:
            break
    assert landed >= KILLS, f"only {landed} of {attempt + 1} kills landed mid-run"

    last = start(root, version + 1)
    assert_complete(read_probe(last), "after the last kill")
    out, err = last.communicate(timeout=600)
    assert last.returncode == 0, out + err
    after = json.loads(next(line for line in reversed(out.splitlines()) if line.startswith("PROBE ")).removeprefix("PROBE "))
    assert_complete(after, "after the recovering run")
    assert {found["version"] for found in after["relations"].values()} == {version + 1}
    assert after["unknown_physical"] == [], "tables left behind by killed runs were not dropped"


SLOW = """\
{{ config(materialized="table") }}
select count(*) as n, {{ var("version", 1) }} as version
from generate_series(1, {{ var("n", 10) }}) as a(i), generate_series(1, {{ var("n", 10) }}) as b(i)
"""


def test_ctrl_c_during_a_spark_run_cancels_its_jobs(tmp_path):
    """SIGINT mid-build: the JVM's jobs are cancelled (pyspark installs no handler of its own
    when the session starts off the main thread, as toolkit's does), exit 130 without
    py4j's traceback, and the published tables stay whole."""
    from test_interrupt import HOURS, check_interrupted, interrupted_run

    root = tmp_path / "interrupted"
    write_files(root, {"toolkit.toml": FILES["toolkit.toml"], "features/numbers.sql": FILES["features/numbers.sql"],
                       "features/slow.sql": SLOW})
    first = subprocess.run([sys.executable, "-m", "toolkit", "run"], cwd=root, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    check_interrupted(*interrupted_run(root, "--vars", f"n={HOURS},version=2"))
    last = start(root, 1)  # the probe, then a run of what was published
    seen = read_probe(last)
    assert seen["relations"]["slow"] == {"rows": 1, "versions": 1, "version": 1}, seen
    assert seen["relations"]["numbers"] == {"rows": 20000, "versions": 1, "version": 1}, seen
    out, err = last.communicate(timeout=600)
    assert last.returncode == 0, out + err

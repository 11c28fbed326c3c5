"""The demo on Spark equals the demo on DuckDB row for row (issue 12), embedded and
over Spark Connect.

Each Spark build runs in a subprocess of its own (tests/spark_demo.py: one JVM
generates the sources, runs `toolkit run --target ...` unchanged and dumps what was
published), because this test process's JVM holds another embedded metastore. Every
relation of `features` and `predictions` must equal DuckDB's: numbers to 1e-9,
everything else exactly; `scored_at` and `run_id` differ by design.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from spark_support import SKIP_REASON
from test_postgres import assert_same_rows, copy_example

pytestmark = pytest.mark.slow

if SKIP_REASON:
    pytest.skip(SKIP_REASON, allow_module_level=True)

HERE = Path(__file__).resolve().parent
NOW = {"TOOLKIT_NOW": "2026-01-15T12:00:00"}  # both engines score at the same instant
VARYING = ("scored_at", "run_id")
CONNECT_TARGET = """
[tool.toolkit.targets.connect]
engine = "spark"
remote = "local[2]"
"""


def sorted_rows(table: pa.Table) -> pa.Table:
    table = table.drop_columns([name for name in VARYING if name in table.column_names])
    return table.sort_by([(name, "ascending") for name in table.column_names])


@pytest.fixture(scope="module")
def on_duckdb(tmp_path_factory, run_cli) -> dict[str, pa.Table]:
    root = copy_example(tmp_path_factory.mktemp("duck") / "shop")
    subprocess.run([sys.executable, "warehouse/generate.py"], cwd=root, check=True, capture_output=True)
    code, out, err = run_cli("run", cwd=root, env=NOW)
    assert code == 0 and "17 success" in out, out + err
    with duckdb.connect(str(root / "warehouse" / "shop.duckdb"), read_only=True) as connection:
        names = connection.execute(
            "select table_schema, table_name from information_schema.tables where table_schema in ('features', 'predictions')"
        ).fetchall()
        return {f"{schema}.{name}": connection.sql(f'select * from {schema}."{name}"').to_arrow_table() for schema, name in names}


class SparkBuild:
    """The demo built on a Spark target in a subprocess of its own (started at once, so
    the embedded and the Connect builds run side by side)."""

    def __init__(self, root: Path, target: str):
        self.out = root.parent / "published"
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "spark_demo.py"), str(root), target, str(self.out)],
            env={**os.environ, **NOW}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def published(self) -> dict[str, pa.Table]:
        stdout, stderr = self.process.communicate(timeout=900)
        assert self.process.returncode == 0 and "17 success" in stdout, stdout + stderr
        return {path.stem: pa.ipc.open_file(pa.memory_map(str(path))).read_all() for path in self.out.glob("*.arrow")}


@pytest.fixture(scope="module")
def spark_builds(tmp_path_factory) -> dict[str, SparkBuild]:
    embedded = copy_example(tmp_path_factory.mktemp("embedded") / "shop")
    builds = {"spark": SparkBuild(embedded, "spark")}
    if importlib.util.find_spec("grpc") is not None:
        connect = copy_example(tmp_path_factory.mktemp("connect") / "shop")
        with (connect / "pyproject.toml").open("a", encoding="utf-8") as config:
            config.write(CONNECT_TARGET)
        builds["connect"] = SparkBuild(connect, "connect")
    yield builds
    for build in builds.values():
        if build.process.poll() is None:
            build.process.kill()


def assert_same_demo(spark: dict[str, pa.Table], duck: dict[str, pa.Table]) -> None:
    assert sorted(spark) == sorted(duck)
    assert len(duck) >= 15, sorted(duck)  # 13 features, 2 prediction tables and their history
    for relation in sorted(duck):
        left, right = sorted_rows(duck[relation]), sorted_rows(spark[relation])
        assert left.column_names == right.column_names, relation
        assert_same_rows(left, right, relation)


def test_the_demo_on_spark_equals_duckdb(spark_builds, on_duckdb):
    assert_same_demo(spark_builds["spark"].published(), on_duckdb)


@pytest.mark.skipif(importlib.util.find_spec("grpc") is None, reason="Spark Connect's client needs pyspark[connect] (grpcio)")
def test_the_demo_over_spark_connect_equals_duckdb(spark_builds, on_duckdb):
    """remote = "local[2]" starts a Spark Connect server from the pyspark package; the
    run talks to it over gRPC as it would to a cluster's sc://host:15002."""
    assert_same_demo(spark_builds["connect"].published(), on_duckdb)

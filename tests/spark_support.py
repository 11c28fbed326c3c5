"""One embedded Spark for the whole test process.

A JVM costs 5-10 s to start and embedded Hive keeps its metastore (Derby) locked by
one JVM, so every in-process Spark test shares one warehouse folder: the
`SparkEngine` caches its session per (master, warehouse) and would otherwise stop one
session to start another.

    from spark_support import SKIP_REASON, shared_engine, shared_warehouse
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import io
import os
import shutil
import sys
import tempfile
from functools import cache
from pathlib import Path


def _skip_reason() -> str | None:
    if shutil.which("java") is None:
        return "no java on PATH: Spark needs a JVM (Java 17)"
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed: pip install 'toolkit[spark]'"
    return None


SKIP_REASON = _skip_reason()


@cache
def shared_warehouse() -> Path:
    """The process's Spark warehouse (tables and metastore), removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="toolkit-spark-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder / "spark"


def duck_and_spark_config(name: str, state: Path) -> str:
    """toolkit.toml of a DuckDB-dialect project with two targets: `duck` (the default,
    warehouse/w.duckdb) and `spark` on the shared warehouse, its state in `state`."""
    return (f'name = "{name}"\ndialect = "duckdb"\ntarget = "duck"\n\n'
            '[targets.duck]\nengine = "duckdb"\npath = "warehouse/w.duckdb"\n\n'
            f'[targets.spark]\nengine = "spark"\nmaster = "local[2]"\nwarehouse = "{shared_warehouse()}"\nstate = "{state}"\n')


def shared_engine(lock_timeout: float = 5.0, exclusive: bool = True):
    """A SparkEngine on the shared warehouse (open; close it when done)."""
    from toolkit.config import Target
    from toolkit.engines import connect

    warehouse = shared_warehouse()
    return connect(Target("tests", "spark", {"warehouse": str(warehouse)}), warehouse.parent, lock_timeout, exclusive=exclusive)


def run_here(root: Path, *args: str) -> tuple[int, str]:
    """toolkit in this process (the Spark session is the process's): exit code, output."""
    from toolkit.cli import main

    output, cwd, argv = io.StringIO(), os.getcwd(), sys.argv
    os.chdir(root)
    sys.argv = ["toolkit", *args]
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            main()
        code = 0
    except SystemExit as done:
        code = done.code or 0
    finally:
        os.chdir(cwd)
        sys.argv = argv
    return code, output.getvalue()

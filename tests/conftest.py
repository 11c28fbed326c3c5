"""Shared fixtures: write a project to disk, run the CLI, snapshot a warehouse.

    def test_something(make_project, run_cli):
        root = make_project({"features/a.sql": "select 1 as x"})
        code, out, err = run_cli("run", cwd=root)

`make_project` writes a default toolkit.toml (DuckDB at warehouse/test.duckdb)
unless `files` holds one (or a pyproject.toml); `source_rows` creates tables in
the project's DuckDB file before the first run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DEFAULT_CONFIG = """\
name = "test"
dialect = "duckdb"
target = "dev"

[targets.dev]
engine = "duckdb"
path = "warehouse/test.duckdb"
"""


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write `files` (relative path -> text, dedented) under `root`."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def database_path(root: Path, target: str | None = None) -> Path:
    """The DuckDB file of the project's (default) target."""
    from toolkit.config import load_config

    return root / load_config(root).target(target).settings["path"]


def create_tables(database: Path, tables: dict[str, str | list[dict]]) -> None:
    """Create `schema.table` in a DuckDB file from a SELECT text or a list of row dicts."""
    import duckdb
    import pyarrow as pa

    database.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database)) as connection:
        for name, rows in tables.items():
            schema, _, table = name.rpartition(".")
            if schema:
                connection.execute(f'create schema if not exists "{schema}"')
            target = f'"{schema}"."{table}"' if schema else f'"{table}"'
            if isinstance(rows, str):
                connection.execute(f"create or replace table {target} as {rows}")
            else:
                data = pa.Table.from_pylist(rows)  # noqa: F841 (read by DuckDB by name)
                connection.execute(f"create or replace table {target} as select * from data")


def _snapshot(database: Path) -> dict[str, tuple[int, int | None]] | None:
    """`schema.table` -> (row count, content checksum) for every table and view in a
    DuckDB file, or None when there is no file. Opened read-only: never changes it."""
    import duckdb

    if not database.exists():
        return None
    with duckdb.connect(str(database), read_only=True) as connection:
        names = connection.execute(
            "select table_schema, table_name from information_schema.tables order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": connection.execute(
                f'select count(*), sum(hash(t)) from "{schema}"."{name}" as t'
            ).fetchone()
            for schema, name in names
        }


@pytest.fixture
def make_project(tmp_path):
    """Factory: make_project(files, source_rows=None, name="project") -> project root."""

    def make(files: dict[str, str], source_rows: dict[str, str | list[dict]] | None = None, name: str = "project") -> Path:
        root = tmp_path / name
        root.mkdir()
        if "toolkit.toml" not in files and "pyproject.toml" not in files:
            files = {"toolkit.toml": DEFAULT_CONFIG, **files}
        write_files(root, files)
        if source_rows:
            create_tables(database_path(root), source_rows)
        return root

    return make


@pytest.fixture
def scaffold_project(tmp_path):
    """A fresh `toolkit init` project (not yet run); its DuckDB file holds app.events."""
    from toolkit.scaffold import scaffold

    return scaffold(tmp_path / "scaffolded", "shop")


def _cli(*args: str, cwd: str | Path, env: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, str, str]:
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "toolkit", *args],
        cwd=str(cwd),
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="session")
def run_cli():
    """run_cli(*args, cwd=..., env=None) -> (exit code, stdout, stderr) of `python -m toolkit`."""
    return _cli


@pytest.fixture(scope="session")
def warehouse_snapshot():
    """warehouse_snapshot(duckdb_file) -> {"schema.table": (rows, checksum)} or None; read-only."""
    return _snapshot

"""Shared fixtures, built on tests/_projects.py (the one set of project helpers).

    def test_something(make_project, run_cli):
        root = make_project({"features/a.sql": "select 1 as x"})
        code, out, err = run_cli("run", cwd=root)

`make_project` writes a default toolkit.toml (DuckDB at warehouse/test.duckdb)
unless `files` holds one (or a pyproject.toml); `source_rows` creates tables in
the project's DuckDB file before the first run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# re-exported: older tests import these from conftest
from _projects import DEFAULT_CONFIG, cli_tuple, create_tables, database_path, make_test_project, snapshot, write_files  # noqa: F401

_cli = cli_tuple
_snapshot = snapshot


@pytest.fixture
def make_project(tmp_path):
    """Factory: make_project(files, source_rows=None, name="project") -> project root."""

    def make(files: dict[str, str], source_rows: dict[str, str | list[dict]] | None = None, name: str = "project") -> Path:
        return make_test_project(tmp_path / name, files, source_rows)

    return make


@pytest.fixture
def scaffold_project(tmp_path):
    """A fresh `toolkit init` project (not yet run); its DuckDB file holds app.events."""
    from toolkit.scaffold import scaffold

    return scaffold(tmp_path / "scaffolded", "shop")


@pytest.fixture(scope="session")
def run_cli():
    """run_cli(*args, cwd=..., env=None) -> (exit code, stdout, stderr) of `python -m toolkit`."""
    return cli_tuple


@pytest.fixture(scope="session")
def warehouse_snapshot():
    """warehouse_snapshot(duckdb_file) -> {"schema.table": (rows, checksum)} or None; read-only."""
    return snapshot


@pytest.fixture
def fresh_compile_cache():
    """No compile kept in this process before or after the test: each compile_cached call
    then reads the disk cache (or compiles) as a new process would."""
    from toolkit import compilecache

    compilecache._cache.clear()
    yield
    compilecache._cache.clear()

"""On DuckDB a session may touch only the warehouse (issue 18 item 6): no file reads, no
other databases, and the setting cannot be turned back. A project that allow-lists a
file function keeps file access (test_bad_input.test_a_project_may_allow_a_function_by_name)."""

from __future__ import annotations

import pytest

from toolkit.config import load_config
from toolkit.session import Access, open_session


def test_a_session_cannot_read_files_or_unlock(make_project, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t")
    root = make_project({"features/a.sql": "select 1 as x"})
    with open_session(load_config(root), access=Access.WRITE) as session:
        for statement in (f"SELECT * FROM read_text('{secret}')", f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
                          f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'"):
            with pytest.raises(Exception, match="(?i)permission|file system operations are disabled"):
                session.engine.execute(statement)
        with pytest.raises(Exception, match="(?i)lock|configuration"):
            session.engine.execute("SET enable_external_access = true")
    assert not (tmp_path / "out.csv").exists()


def test_the_demo_style_project_runs_locked_down(make_project, run_cli):
    root = make_project({
        "warehouse/seeds/s.csv": "k,v\n1,a\n",
        "features/a.sql": 'select k, v, {"x": 1} as j from {{ ref("s") }}',
    })
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err


def test_a_source_that_is_a_view_reading_files_is_a_clear_error(tmp_path, run_cli):
    """It was 'internal error: PermissionException', exit 1."""
    from _projects import make_project as make

    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    root = make(tmp_path / "p", {"warehouse/sources.toml": '[app]\nschema = "app"\n\n[app.tables.v]\n',
                                 "features/d.sql": "select a from {{ source('app', 'v') }}\n"},
                setup_sql=f"create schema app; create view app.v as select * from read_csv('{data.as_posix()}')")
    code, out, err = run_cli("run", cwd=root)
    assert code == 2, out + err
    assert err.startswith("error: warehouse/sources.toml:4: source app.v: app.v cannot be read: Permission Error"), err
    assert "file source (path = ...)" in err and "Traceback" not in err

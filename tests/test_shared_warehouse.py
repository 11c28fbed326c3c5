"""Two projects pointed at one warehouse: the second is refused before it touches
anything, since its run would unpublish every step of the first as deleted."""

from __future__ import annotations

import duckdb

from _projects import CONFIG_TEMPLATE, write_files
from postgres_support import pg_query, requires_postgres, pg_url  # noqa: F401

PG_CONFIG = 'name = "{name}"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'


def project(root, name: str, config: str, seed: str):
    write_files(root, {"toolkit.toml": config, f"warehouse/seeds/{seed}.csv": "id\n1\n", f"features/{seed}_f.sql": f"select id from {{{{ ref('{seed}') }}}}\n"})
    return root


def refused(run_cli, root, command: str = "run") -> str:
    code, out, err = run_cli(command, cwd=root)
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    return out + err


def test_a_second_project_on_one_duckdb_file_is_refused_and_removes_nothing(tmp_path, run_cli):
    shared = (tmp_path / "shared.duckdb").as_posix()
    config = CONFIG_TEMPLATE.replace('"warehouse/{db}"', f'"{shared}"')
    first = project(tmp_path / "qa", "qa", config.format(name="qa"), "seed_a")
    second = project(tmp_path / "qb", "qb", config.format(name="qb"), "seed_b")
    assert run_cli("run", cwd=first)[0] == 0

    for command in ("run", "plan"):
        text = refused(run_cli, second, command)
        assert "toolkit.toml:1" in text and "project 'qa'" in text and "not of 'qb'" in text, text
    with duckdb.connect(shared, read_only=True) as con:
        assert con.execute("select count(*) from features.seed_a_f").fetchone() == (1,)
        assert con.execute("select count(*) from information_schema.tables where table_name like 'seed_b%'").fetchone() == (0,)
    assert run_cli("run", cwd=first)[0] == 0  # the owner still runs


@requires_postgres
def test_a_second_project_on_one_postgres_database_is_refused(tmp_path, run_cli, pg_url):  # noqa: F811
    first = project(tmp_path / "qa", "qa", PG_CONFIG.format(name="qa", url=pg_url), "seed_a")
    second = project(tmp_path / "qb", "qb", PG_CONFIG.format(name="qb", url=pg_url), "seed_b")
    assert run_cli("run", cwd=first)[0] == 0
    text = refused(run_cli, second)
    assert "project 'qa'" in text and "own database" in text, text
    assert pg_query(pg_url, "select count(*) from features.seed_a_f") == [(1,)]
    assert pg_query(pg_url, "select count(*) from raw.seed_a") == [(1,)]


def test_runs_that_name_no_project_claim_no_warehouse(tmp_path, run_cli):
    """A run row without a project (written by hand, a test, an old tool) is nobody's."""
    root = project(tmp_path / "qa", "qa", CONFIG_TEMPLATE.format(name="qa", db="w.duckdb"), "seed_a")
    assert run_cli("run", cwd=root)[0] == 0
    with duckdb.connect(str(root / "warehouse" / "w.duckdb")) as con:
        con.execute("insert into toolkit.runs (run_id, status) values (99, 'success')")
    assert run_cli("run", cwd=root)[0] == 0

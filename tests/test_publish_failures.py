"""A step whose publish fails keeps what it published before, and so does every step
built from its new table: readers start when a table is built, not when it is published,
and a reader published after its upstream's publish failed showed data that never went
live (PostgreSQL: an analyst's view on features.b made b's DROP VIEW fail, and c, built
from b's new table, published). A view others built on a step no longer blocks its
publish while its columns stay the same (CREATE OR REPLACE VIEW)."""

from __future__ import annotations

from _projects import cli_tuple, write_files
from postgres_support import pg_query, pg_url  # noqa: F401 (a fixture)


def project(tmp_path, url: str):
    root = tmp_path / "p"
    config = f'name = "p"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'
    write_files(root, {
        "toolkit.toml": config,
        "warehouse/seeds/src.csv": "id,x\n1,10\n2,20\n",
        "features/b.sql": "select id, x + 2 as v2, 'a' as extra from {{ ref('src') }}\n",
        "features/c.sql": "select id, v2 * 100 as w from {{ ref('b') }}\n",
    })
    return root


def test_a_view_on_a_step_keeps_its_publishes_and_readers_of_a_failed_publish_stay_as_they_were(tmp_path, pg_url):  # noqa: F811
    root = project(tmp_path, pg_url)
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    pg_query(pg_url, "create schema analyst")
    pg_query(pg_url, "create view analyst.report as select * from features.b")

    write_files(root, {"features/b.sql": "select id, x + 3 as v2, 'a' as extra from {{ ref('src') }}\n"})
    code, out, err = cli_tuple("run", cwd=root)  # same columns: replaced in place, the report follows
    assert code == 0, out + err
    assert pg_query(pg_url, "select id, v2 from analyst.report order by id") == [(1, 13), (2, 23)]
    assert pg_query(pg_url, "select id, w from features.c order by id") == [(1, 1300), (2, 2300)]

    # A dropped column needs DROP VIEW, which the report blocks: b fails to publish, and c,
    # built from b's new table, must not publish what b could not.
    write_files(root, {"features/b.sql": "select id, x + 4 as v2 from {{ ref('src') }}\n"})
    code, out, err = cli_tuple("run", "--threads", "2", cwd=root)
    assert code == 1, out + err
    assert "publish failed" in out + err and "depend" in out + err, out + err
    assert pg_query(pg_url, "select id, v2 from features.b order by id") == [(1, 13), (2, 23)]
    assert pg_query(pg_url, "select id, w from features.c order by id") == [(1, 1300), (2, 2300)]
    code, out, err = cli_tuple("plan", cwd=root)
    assert code == 0, out + err
    planned_c = [line for line in out.splitlines() if line.split()[:1] == ["c"]]
    assert planned_c and "reuse" not in planned_c[0], out  # it still has b's new data to take

    pg_query(pg_url, "drop view analyst.report")
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select id, w from features.c order by id") == [(1, 1400), (2, 2400)]


def test_a_physical_table_something_else_reads_is_kept_and_the_run_finishes(tmp_path, pg_url):  # noqa: F811
    """After `alter schema features rename to features_old` the old views still read the
    replaced physical tables: dropping them failed, and every later run ended in an
    internal error after publishing, its run record left 'running' with no step rows."""
    root = project(tmp_path, pg_url)
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    pg_query(pg_url, "alter schema features rename to features_old")
    write_files(root, {"features/b.sql": "select id, x + 3 as v2, 'a' as extra from {{ ref('src') }}\n"})
    for _ in range(2):  # and the run after it
        code, out, err = cli_tuple("run", cwd=root)
        assert code == 0, out + err
        assert "kept toolkit_physical.b__" in out + err and "reads it" in out + err, out + err
    assert pg_query(pg_url, "select id, w from features.c order by id") == [(1, 1300), (2, 2300)]
    assert pg_query(pg_url, "select status from toolkit.runs order by run_id desc limit 1") == [("success",)]
    code, out, err = cli_tuple("gc", "--retention", "0s", cwd=root)
    assert code == 0 and "kept toolkit_physical.b__" in out, out + err
    pg_query(pg_url, "drop schema features_old cascade")
    code, out, err = cli_tuple("gc", "--retention", "0s", cwd=root)
    assert code == 0 and "dropped table toolkit_physical.b__" in out and "kept toolkit_physical" not in out, out + err


def test_a_failed_publish_fails_only_its_step_and_readers_not_its_batch(tmp_path, pg_url, monkeypatch, capsys):  # noqa: F811
    """Steps finishing together are published in one commit; when one of them could not be
    published, the others failed with its error (`other`, reading only the seed, said
    "publish failed: ... DROP VIEW features.b"). Run in process, batching everything."""
    import sys

    from toolkit.cli import main
    from toolkit.execute import _Runner

    root = project(tmp_path, pg_url)
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    pg_query(pg_url, "create schema analyst")
    pg_query(pg_url, "create view analyst.report as select * from features.b")
    write_files(root, {"features/b.sql": "select id, x + 4 as v2 from {{ ref('src') }}\n",  # drops `extra`: DROP VIEW
                       "features/other.sql": "select id, x * 2 as doubled from {{ ref('src') }}\n"})
    monkeypatch.setattr(_Runner, "PUBLISH_INTERVAL", 60.0)  # one batch: b, other and c
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["toolkit", "run", "--threads", "2"])
    capsys.readouterr()
    try:
        main()
    except SystemExit as done:
        assert done.code == 1
    out = capsys.readouterr().out
    lines = {line.split()[1]: line.strip() for line in out.splitlines() if line.split()[:1] in (["success"], ["failed"], ["skipped"])}
    assert lines["other"].startswith("success"), out
    assert lines["b"].startswith("failed") and "view analyst.report depends on view features.b" in lines["b"], out
    assert lines["c"].startswith(("skipped", "failed")) and "depend" not in lines["c"], out
    assert pg_query(pg_url, "select id, doubled from features.other order by id") == [(1, 20), (2, 40)]
    assert pg_query(pg_url, "select id, w from features.c order by id") == [(1, 1200), (2, 2200)]

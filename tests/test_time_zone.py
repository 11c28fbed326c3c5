"""Every session runs in the project's time zone (`time_zone`, UTC unless set): a
TIMESTAMPTZ cast to a date or a TIMESTAMP is the same on every machine, every server and
in unit tests. Before, DuckDB used the process's zone (TZ), PostgreSQL the server's, unit
tests UTC; a zone change rebuilt nothing. Changing `time_zone` rebuilds every step."""

from __future__ import annotations

import datetime

from _projects import cli_tuple, query, write_files
from postgres_support import pg_query, pg_url  # noqa: F401 (a fixture)

CONFIG = """\
name = "zones"
dialect = "duckdb"
target = "dev"
{zone}
[targets.dev]
engine = "duckdb"
path = "warehouse/proj.duckdb"
"""

STEP = {
    # 03:00 UTC on New Year's Day: still 2023 in New York, noon in Tokyo.
    "features/moment.sql": """\
        select cast(timestamptz '2024-01-01 03:00:00+00' as date) as day,
               cast(timestamptz '2024-01-01 03:00:00+00' as timestamp) as local
        """,
}


def project(tmp_path, zone: str | None = None):
    root = tmp_path / "zones"
    write_files(root, {"toolkit.toml": CONFIG.format(zone=f'time_zone = "{zone}"\n' if zone else ""), **STEP})
    return root


def published(root):
    return query(root, "select day, local from features.moment")


def test_duckdb_runs_in_utc_whatever_the_machine_zone(tmp_path):
    root = project(tmp_path)
    code, out, err = cli_tuple("run", cwd=root, env={"TZ": "America/New_York"})
    assert code == 0, out + err
    assert published(root) == [(datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1, 3))]


def test_the_project_zone_is_used_and_changing_it_rebuilds(tmp_path):
    root = project(tmp_path, "Asia/Tokyo")
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    assert published(root) == [(datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1, 12))]
    write_files(root, {"toolkit.toml": CONFIG.format(zone='time_zone = "America/New_York"\n')})
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    assert published(root) == [(datetime.date(2023, 12, 31), datetime.datetime(2023, 12, 31, 22))]
    write_files(root, {"toolkit.toml": CONFIG.format(zone="")})  # back to the default: UTC
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    assert published(root) == [(datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1, 3))]


def test_compile_says_which_zone_its_sql_runs_in(tmp_path):
    """The printed SQL casts a TIMESTAMPTZ to a date: run in another zone it gives another day."""
    code, out, err = cli_tuple("compile", "moment", cwd=project(tmp_path / "utc"))
    assert code == 0 and "time zone" not in out, out + err  # UTC: the default, nothing to say
    code, out, err = cli_tuple("compile", "moment", cwd=project(tmp_path / "ny", "America/New_York"))
    assert code == 0, out + err
    assert out.startswith("-- toolkit runs this SQL in the time zone America/New_York (toolkit.toml time_zone)"), out
    code, out, err = cli_tuple("compile", "moment", "--log-format", "json", cwd=tmp_path / "ny" / "zones")
    assert code == 0 and '"time_zone": "America/New_York"' in out, out + err


def test_unit_tests_run_in_the_project_zone(tmp_path):
    root = project(tmp_path, "Asia/Tokyo")
    write_files(root, {"features/moment.unit.toml": """\
        [[test]]
        name = "noon in Tokyo"
        [test.expect]
        rows = [{ day = 2024-01-01, local = 2024-01-01T12:00:00 }]
        """})
    code, out, err = cli_tuple("test", "--unit", cwd=root)
    assert code == 0, out + err


def test_an_unknown_zone_is_exit_2_at_its_line(tmp_path):
    root = project(tmp_path, "Europe/Berln")
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 2, out + err
    assert "toolkit.toml:4" in err and "unknown time_zone 'Europe/Berln'" in err and "Europe/Berlin" in err, err
    assert "Traceback" not in err
    assert not (root / "warehouse" / "proj.duckdb").exists()


def test_postgres_sessions_use_the_project_zone_not_the_servers(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = tmp_path / "zones"
    config = f'name = "zones"\ndialect = "duckdb"\ntarget = "pg"\ntime_zone = "America/New_York"\n\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n'
    write_files(root, {"toolkit.toml": config, **STEP})
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select day, local from features.moment") == [(datetime.date(2023, 12, 31), datetime.datetime(2023, 12, 31, 22))]


def test_a_zone_in_the_wrong_case_is_told_its_spelling(tmp_path):
    root = project(tmp_path, "utc")
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 2 and "toolkit.toml:4" in err and "did you mean 'UTC'?" in err, err


def test_a_zone_an_engine_refuses_is_a_project_error(tmp_path, pg_url):  # noqa: F811 (fixture)
    """Python's zone database and the engines' differ at the edges: the engine's refusal
    is exit 2 naming the zone, not an internal error."""
    import pytest

    from toolkit.config import Target
    from toolkit.engines import connect
    from toolkit.errors import ProjectError

    for target in (Target("z", "duckdb", {"path": "z.duckdb"}, time_zone="Nowhere/Atlantis"),
                   Target("z", "postgres", {"url": pg_url}, time_zone="Nowhere/Atlantis")):
        with pytest.raises(ProjectError, match="time_zone 'Nowhere/Atlantis'"):
            connect(target, tmp_path, 5).close()

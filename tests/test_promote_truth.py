"""`toolkit promote` and `toolkit rollback` say what they did: the model versions a promote
made production, a promote that changes nothing says so and saves no state, predictions
prod re-scored since dev's run are not put back silently, and a rollback that replaces
tables prod's runs built since the promote warns."""

from __future__ import annotations

import json

import pytest

from _projects import cli, make_project, rows, run, scalar, write, write_files
from postgres_support import pg_url  # noqa: F401 (a fixture)
from test_env_models import FILES, MODEL, production, scored_with
from test_env_models import project as model_project  # noqa: F401 (a fixture: the churn project on DuckDB and PostgreSQL)
from test_environments import SETUP, STEPS, engine_project  # noqa: F401 (a fixture: the orders project on DuckDB and PostgreSQL)

pytestmark = pytest.mark.slow  # end-to-end runs in subprocesses

TRIPLED = {"features/doubled.sql": "select order_id, amount * 3 as amount2 from {{ ref('base') }}"}


def events(output: str, kind: str) -> list[dict]:
    return [e for e in map(json.loads, filter(str.strip, output.splitlines())) if e["event"] == kind]


def saved_states(read) -> int:
    return read("select count(distinct version) from toolkit.published_history where env = 'prod'")[0][0]


def test_a_promote_that_changes_nothing_says_so_and_saves_no_state(engine_project):
    """The second `promote dev prod` said '4 step(s) now read dev's tables' and saved
    another state: `rollback prod` then restored dev's tables, undoing nothing."""
    root, read = engine_project
    write(root, TRIPLED)
    assert cli("run", "-p", str(root), "--env", "dev").code == 0
    first = cli("promote", "dev", "prod", "-p", str(root))
    # doubled and the view over it are dev's own; base and other were prod's tables already
    assert first.code == 0 and "2 step(s) now read dev's tables (2 already did)" in first.out, first
    again = cli("promote", "dev", "prod", "-p", str(root), "--log-format", "json")
    assert again.code == 0, again
    [event] = events(again.out, "promoted")
    assert event["changed"] is False and event["steps"] == [] and event["unchanged"] == ["base", "doubled", "other", "report"], event
    assert saved_states(read) == 1
    text = cli("promote", "dev", "prod", "-p", str(root))
    assert text.code == 0 and "nothing to promote: prod already reads dev's tables (4 step(s)); no rollback state saved" in text.out, text
    back = cli("rollback", "prod", "-p", str(root))  # undoes the first promote: prod's own tables again
    assert back.code == 0 and "warning" not in back.out, back
    assert read("select order_id, amount2 from features.report order by 1") == [(1, 2.0), (2, 4.0)]


def test_promote_names_the_model_versions_it_made_production(model_project):
    """The promote's line listed steps only: not that churn's version 2 became production."""
    root, read, toolkit = model_project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run", "--env", "dev")
    assert "churn version 2 is production (was 1)" in toolkit("promote", "dev", "prod")
    toolkit("rollback", "prod")
    assert production(read) == [(1,)]
    [event] = events(toolkit("promote", "dev", "prod", "--log-format", "json"), "promoted")
    assert event["models"] == [{"model": "churn", "version": 2, "was": 1}] and event["changed"] is True, event
    assert production(read) == [(2,)]


def test_predictions_prod_rescored_with_the_same_version_are_not_put_back_silently(model_project):
    """dev scored prod's 10 rows with version 2; prod, with version 2 production, scored its
    12 rows since: the promote put dev's 10 predictions back over prod's 12 (it compared
    versions only). Refused, exit 2, nothing changed; --force promotes."""
    root, read, toolkit = model_project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run", "--env", "dev", "--select", "churn")  # version 2 scores prod's scoring table
    toolkit("promote", "dev", "prod")
    write_files(root, {"features/sc.sql": "select n as id, n / 10.0 as x from generate_series(1, 12) as t(n)\n"})
    toolkit("run")  # prod scores its 12 rows with version 2, its production
    assert scored_with(read, "predictions.churn") == [(2,)] and read("select count(*) from predictions.churn") == [(12,)]
    refused = toolkit("promote", "dev", "prod", expect=2)
    assert "prod changed since dev was last run" in refused and "scored churn with version 2 since dev's run" in refused, refused
    assert read("select count(*) from predictions.churn") == [(12,)] and production(read) == [(2,)]
    toolkit("promote", "dev", "prod", "--force")
    assert read("select count(*) from predictions.churn") == [(10,)]


def test_predictions_of_dev_s_own_upstream_code_are_not_older_data(model_project):
    """dev's scoring table has other code than prod's (12 rows, not 10): prod re-scoring its
    own 10 rows with the same version since is no reason to refuse dev's predictions, as for
    a step whose upstream code dev changed."""
    root, read, toolkit = model_project
    toolkit("run")
    twelve = "select n as id, n / 10.0 as x from generate_series(1, 12) as t(n)\n"
    write_files(root, {"models/churn.py": MODEL.format(c="0.5"), "features/sc.sql": twelve})
    toolkit("run", "--env", "dev")
    toolkit("promote", "dev", "prod")
    write_files(root, {"features/sc.sql": FILES["features/sc.sql"]})
    toolkit("run")  # prod's code again: its 10 rows, scored with version 2
    assert read("select count(*) from predictions.churn") == [(10,)] and scored_with(read, "predictions.churn") == [(2,)]
    toolkit("promote", "dev", "prod")
    assert read("select count(*) from predictions.churn") == [(12,)] and production(read) == [(2,)]


def test_rollback_warns_when_it_replaces_tables_prod_built_since_the_promote(engine_project):
    """Days after a promote, prod's runs had built newer tables; `rollback prod` put the
    promote's saved tables back over them without a word."""
    root, read = engine_project
    write(root, TRIPLED)
    assert cli("run", "-p", str(root), "--env", "dev").code == 0
    assert cli("promote", "dev", "prod", "-p", str(root)).code == 0
    read("insert into app.orders values (3, 3.0)")
    assert cli("run", "-p", str(root)).code == 0  # every step reads the orders: all rebuilt
    later = read("select max(run_id) from toolkit.runs")[0][0]
    back = cli("rollback", "prod", "-p", str(root), "--log-format", "json")
    assert back.code == 0, back
    [warning] = events(back.out, "warning")
    assert warning["steps"] == ["base", "doubled", "other", "report"] and warning["run_ids"] == [later], warning
    assert read("select count(*) from features.report") == [(2,)]  # rolled back all the same


def test_rollback_names_the_runs_and_steps_in_its_warning(tmp_path):
    """The text warning names the runs and the steps (a run of one step since the promote)."""
    root = make_project(tmp_path / "proj", STEPS, SETUP)
    assert run(root).code == 0
    write(root, TRIPLED)
    assert run(root, "--env", "dev").code == 0
    assert cli("promote", "dev", "prod", "-p", str(root)).code == 0
    write(root, {"features/other.sql": "select count(*) + 0 as n from {{ ref('base') }}"})
    assert run(root, "--select", "other").code == 0  # a new table of other only
    later = scalar(root, "select max(run_id) from toolkit.runs")
    back = cli("rollback", "prod", "-p", str(root))
    assert back.code == 0, back
    assert f"warning: prod's run(s) {later} published newer tables of 1 step(s) since the promote (other)" in back.out, back
    assert rows(root, "features.other") == [(2,)]

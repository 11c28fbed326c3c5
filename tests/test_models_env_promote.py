"""`toolkit models promote/rollback --env dev`: a person chooses the version dev's runs
score with (prod's production stays; `toolkit promote dev prod` after dev's next run makes
it production), recorded in the history with its env and in the audit log; `models
approve` refuses a version that is not a candidate before asking for --force over its
gates; a promote refused for a model says what prod scored since, not "rebuilt"."""

from __future__ import annotations

import pytest

from _projects import write_files
from models_env_support import FILES, MODEL, churn_project, production, scored_with
from postgres_support import pg_url  # noqa: F401 (a fixture)
from test_models_env_commands import manual

pytestmark = pytest.mark.slow  # model runs in subprocesses


@pytest.fixture(params=["duckdb", "postgres"])
def project(request, tmp_path, run_cli):
    """(root, read(sql) -> rows, toolkit(*args, expect=0) -> output) on DuckDB or PostgreSQL."""
    return churn_project(request, tmp_path, run_cli, FILES)


def dev_history(read) -> list[tuple]:
    return read("select version, status, action, env from toolkit.model_status_history "
                "where model = 'churn' and env = 'dev' order by seq")


def test_models_promote_and_rollback_in_dev_choose_dev_s_version(project):
    root, read, toolkit = project
    toolkit("run")  # version 1, production
    for c in ("0.5", "0.25"):  # versions 2 and 3, each chosen by dev's run
        write_files(root, {"models/churn.py": MODEL.format(c=c)})
        toolkit("run", "--env", "dev")
    assert scored_with(read, "predictions__dev.churn") == [(3,)] and production(read) == [(1,)]

    out = toolkit("models", "promote", "churn", "2", "--env", "dev")
    assert "churn version 2 is the version dev scores with" in out and "prod's production is unchanged" in out, out
    assert production(read) == [(1,)], "models promote --env dev changed prod's production"
    assert dev_history(read)[-1] == (2, "chosen", "promote", "dev")
    assert read("select count(*) from toolkit.audit_log where action = 'models promote' and subject = 'churn version 2 in env dev'") == [(1,)]
    assert "churn version 2 (candidate, in use (dev))" in toolkit("models", "show", "churn", "--env", "dev")
    assert "already" in toolkit("models", "promote", "churn", "2", "--env", "dev") and dev_history(read)[-1][2] == "promote"

    toolkit("run", "--env", "dev")  # dev's code is version 3's: the person's choice holds
    assert scored_with(read, "predictions__dev.churn") == [(2,)], "dev's run did not score with the version promoted in dev"
    toolkit("promote", "dev", "prod")
    assert production(read) == [(2,)] and scored_with(read, "predictions.churn") == [(2,)]

    out = toolkit("models", "rollback", "churn", "--env", "dev")  # dev chose 2, 3, then 2 by hand: back to 3
    assert "churn rolled back to version 3 in dev" in out, out
    assert dev_history(read)[-1] == (3, "chosen", "rollback", "dev") and production(read) == [(2,)]
    assert read("select count(*) from toolkit.audit_log where action = 'models rollback' and subject = 'churn version 3 in env dev'") == [(1,)]
    toolkit("run", "--env", "dev")
    assert scored_with(read, "predictions__dev.churn") == [(3,)]
    toolkit("models", "rollback", "churn", "--env", "dev")  # 2, 3: back to 2
    err = toolkit("models", "rollback", "churn", "--env", "dev", expect=2)
    assert "no earlier version chosen in dev" in err and "the only version dev chose" in err, err

    toolkit("models", "promote", "churn", "1")  # without --env: prod's production, as before
    assert production(read) == [(1,)] and dev_history(read)[-1][:3] == (2, "chosen", "rollback")


@pytest.mark.parametrize("project", ["duckdb"], indirect=True)  # the checks come before any engine-specific SQL
def test_models_promote_and_rollback_refuse_an_unknown_environment(project):
    root, read, toolkit = project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run", "--env", "dev")
    for command in (("promote", "churn", "1"), ("rollback", "churn")):
        err = toolkit("models", *command, "--env", "dve", expect=2)
        assert "environment 'dve' does not exist on this target" in err and "dev" in err, (command, err)
    assert "environment name 'Dev-1' is not valid" in toolkit("models", "promote", "churn", "1", "--env", "Dev-1", expect=2)
    assert "no version chosen in" not in toolkit("models", "rollback", "churn", expect=2)  # prod's wording stays
    assert dev_history(read) == [(2, "candidate", "register", "dev"), (2, "chosen", "choose", "dev")]


@pytest.mark.parametrize("project", ["duckdb"], indirect=True)
def test_approve_refuses_a_production_version_before_its_gates(project):
    """A production version failing a gate asked for --force, then with --force was
    refused as production: the status comes first."""
    root, read, toolkit = project
    write_files(root, {"models/churn.py": manual()})
    toolkit("run", expect=1)  # promote="manual": nothing to score with until a person approves
    toolkit("models", "approve", "churn", "1")
    toolkit("run", "--env", "dev")  # dev scores with prod's production, version 1
    write_files(root, {"models/churn.py": manual(gates='{"accuracy": 1.01}')})
    for env in ((), ("--env", "dev")):
        err = toolkit("models", "approve", "churn", "1", *env, expect=2)
        assert "churn version 1 is production, not a candidate waiting for approval" in err and "--force" not in err, err


def test_a_refused_promote_says_what_prod_scored_since(project):
    """The refusal read "run 3 rebuilt churn", a step's wording, for predictions prod scored."""
    root, read, toolkit = project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run", "--env", "dev")  # version 2 scores dev's rows
    dev_run = read("select max(run_id) from toolkit.runs")[0][0]
    write_files(root, {"models/churn.py": MODEL.format(c="1.0"),
                       "features/sc.sql": "select n as id, n / 10.0 as x from generate_series(1, 12) as t(n)\n"})
    toolkit("run")  # prod scores its new rows with version 1
    prod_run = read("select max(run_id) from toolkit.runs")[0][0]
    refused = toolkit("promote", "dev", "prod", expect=2)
    assert f"prod's run {prod_run} scored churn with version 1 since dev's run {dev_run} (version 2)" in refused, refused
    assert "rebuilt" not in refused and "dev's older predictions" in refused, refused

"""`toolkit models` commands per environment: `models approve --env dev` makes a
promote="manual" candidate the version dev's runs score with (prod's production stays
as it is, `toolkit promote dev prod` then makes it production); `models list/show/history
--env dev` say which version dev scores with; an unknown environment is exit 2."""

from __future__ import annotations

import json

import pytest

from _projects import write_files
from models_env_support import FILES, churn_project, churn_step, production, scored_with
from postgres_support import pg_url  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow  # model runs in subprocesses

MANUAL = """\
from sklearn.linear_model import LogisticRegression
from toolkit import model


@model(training="tr", label="label", key="id", scoring_table="sc", metrics=["accuracy"], promote="manual", gates={gates})
def churn():
    return LogisticRegression(C={c})
"""


def manual(c: str = "1.0", gates: str = "{}") -> str:
    return MANUAL.format(c=c, gates=gates)


@pytest.fixture(params=["duckdb", "postgres"])
def project(request, tmp_path, run_cli):
    """(root, read(sql) -> rows, toolkit(*args, expect=0) -> output) on DuckDB or PostgreSQL."""
    return churn_project(request, tmp_path, run_cli, {**FILES, "models/churn.py": manual()})


def statuses(toolkit, *args: str) -> dict[int, str]:
    """version -> the status column of `toolkit models list churn ...`."""
    header, *lines = toolkit("models", "list", "churn", *args).splitlines()
    start, end = header.index("status"), header.index("candidate")
    return {int(line.split()[1]): line[start:end].strip() for line in lines if line.startswith("churn ")}


def with_dev_candidate(root, read, toolkit) -> None:
    """Production version 1 (approved in prod); version 2, trained by a dev run, waits."""
    toolkit("run", expect=1)  # promote="manual": nothing to score with until a person approves
    toolkit("models", "approve", "churn", "1")
    toolkit("run")
    write_files(root, {"models/churn.py": manual(c="0.5")})
    toolkit("run", "--env", "dev")
    assert "waits for approval" in churn_step(read)[1]


def test_dev_approves_its_own_candidate_and_promote_makes_it_production(project):
    root, read, toolkit = project
    with_dev_candidate(root, read, toolkit)
    assert scored_with(read, "predictions__dev.churn") == [(1,)] and production(read) == [(1,)]
    assert statuses(toolkit, "--env", "dev") == {1: "production, in use (dev)", 2: "candidate"}

    out = toolkit("models", "approve", "churn", "2", "--env", "dev")
    assert "approved in dev" in out and "prod's production is unchanged" in out, out
    assert production(read) == [(1,)], "approving in dev changed prod's production"
    assert read("select status from toolkit.model_versions where model = 'churn' and version = 2") == [("candidate",)]
    assert read("select version, status, action, env from toolkit.model_status_history "
                "where model = 'churn' order by seq desc limit 1") == [(2, "chosen", "approve", "dev")]
    assert read("select count(*) from toolkit.audit_log where action = 'models approve' and subject like '%in env dev'")[0][0] == 1
    # dev's predictions hold version 1's scores until its next run (tests/test_repoint_rollback_more.py)
    assert statuses(toolkit, "--env", "dev") == {1: "production, still published (dev)", 2: "in use (dev)"}
    assert statuses(toolkit) == {1: "production", 2: "candidate"}
    events = [json.loads(line) for line in toolkit("models", "list", "churn", "--env", "dev", "--log-format", "json").splitlines()]
    assert [(e["version"], e["status"], e["env"], e["in_use"]) for e in events] == [(1, "production", "dev", False), (2, "candidate", "dev", True)]
    assert "churn version 2 (candidate, in use (dev))" in toolkit("models", "show", "churn", "--env", "dev")
    assert "churn version 1 (production)" in toolkit("models", "show", "churn")

    dev_history = toolkit("models", "history", "churn", "--env", "dev")
    assert "version 2 approve -> chosen (env dev)" in dev_history and "production" not in dev_history, dev_history
    assert "(env dev)" not in toolkit("models", "history", "churn", "--env", "prod")

    toolkit("run", "--env", "dev")  # dev's next run scores with the version approved for it
    assert scored_with(read, "predictions__dev.churn") == [(2,)], "dev's run did not score with the version approved in dev"
    assert production(read) == [(1,)] and scored_with(read, "predictions.churn") == [(1,)]

    toolkit("promote", "dev", "prod")
    assert production(read) == [(2,)]
    assert statuses(toolkit) == {1: "archived", 2: "production"}
    assert statuses(toolkit, "--env", "dev") == {1: "archived", 2: "production, in use (dev)"}


@pytest.mark.parametrize("project", ["duckdb"], indirect=True)  # the checks come before any engine-specific SQL
def test_approve_in_dev_checks_gates_and_refuses_mistakes(project):
    root, read, toolkit = project
    with_dev_candidate(root, read, toolkit)
    write_files(root, {"models/churn.py": manual(c="0.5", gates='{"accuracy": 1.01}')})  # the gates as declared now
    err = toolkit("models", "approve", "churn", "2", "--env", "dev", expect=2)
    assert "churn version 2 fails its gate accuracy" in err and "--env dev --force" in err, err
    out = toolkit("models", "approve", "churn", "2", "--env", "dev", "--force")
    assert "approved over its failed gate accuracy" in out and "in dev" in out, out
    [(reason,)] = read("select reason from toolkit.model_status_history where model = 'churn' and action = 'approve' and env = 'dev'")
    assert reason.startswith("toolkit models approve --env dev over its failed gate accuracy ") and reason.endswith("(--force)"), reason

    err = toolkit("models", "approve", "churn", "2", "--env", "dev", "--force", expect=2)
    assert "churn version 2 is already the version dev scores with" in err, err
    err = toolkit("models", "approve", "churn", "1", "--env", "dev", "--force", expect=2)
    assert "churn version 1 is production, not a candidate waiting for approval" in err, err
    for command in (("approve", "churn", "2"), ("list",), ("show", "churn"), ("history", "churn")):
        err = toolkit("models", *command, "--env", "dve", expect=2)
        assert "environment 'dve' does not exist on this target" in err and "dev" in err, (command, err)
    err = toolkit("models", "list", "--env", "Dev-1", expect=2)
    assert "environment name 'Dev-1' is not valid" in err, err
    assert production(read) == [(1,)] and read("select count(*) from toolkit.model_status_history "
                                                "where model = 'churn' and action = 'approve' and env = 'dev'")[0][0] == 1

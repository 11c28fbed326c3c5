"""Model versions per environment: a `--env dev` run chooses the version dev scores with
without touching prod's production; `toolkit promote dev prod` makes production the
version dev's published predictions were scored with, and prod's predictions history
gains the rows it now serves; `toolkit rollback prod` puts production back."""

from __future__ import annotations

import pytest

from _projects import write_files
from models_env_support import FILES, MODEL, churn_project, churn_step, production, scored_with
from postgres_support import pg_url  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow  # model runs in subprocesses


@pytest.fixture(params=["duckdb", "postgres"])
def project(request, tmp_path, run_cli):
    """(root, read(sql) -> rows, toolkit(*args, expect=0) -> output) on DuckDB or PostgreSQL."""
    return churn_project(request, tmp_path, run_cli, FILES)


def test_dev_chooses_its_own_version_and_promote_makes_it_production(project):
    root, read, toolkit = project
    toolkit("run")
    assert production(read) == [(1,)]

    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run", "--env", "dev")
    assert churn_step(read)[0] == "train"
    assert production(read) == [(1,)], "a dev run changed prod's production"
    assert scored_with(read, "predictions__dev.churn") == [(2,)] and scored_with(read, "predictions.churn") == [(1,)]
    assert read("select version, env from toolkit.model_status_history where model = 'churn' and env = 'dev'")[-1] == (2, "dev")
    assert "no earlier production version" in toolkit("models", "rollback", "churn", expect=2)
    assert "version 2 choose -> chosen (env dev)" in toolkit("models", "history", "churn")

    write_files(root, {"models/churn.py": MODEL.format(c="1.0")})
    toolkit("run")  # prod's code: version 1 stays, nothing flips
    assert production(read) == [(1,)] and scored_with(read, "predictions.churn") == [(1,)]

    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run", "--env", "dev")
    action, reason = churn_step(read)
    assert action == "reuse", (action, reason)  # dev's predictions of its version 2 (the plan knows dev's choice)
    assert scored_with(read, "predictions__dev.churn") == [(2,)] and production(read) == [(1,)]
    write_files(root, {"features/sc.sql": "select n as id, n / 10.0 as x from generate_series(1, 12) as t(n)\n"})
    toolkit("run", "--env", "dev")  # new rows to score: dev's version 2, found by its fingerprint, no training
    action, reason = churn_step(read)
    assert action == "score" and "version 2" in reason, (action, reason)
    assert scored_with(read, "predictions__dev.churn") == [(2,)] and production(read) == [(1,)]
    dev_run = read("select max(run_id) from toolkit.runs")[0][0]

    toolkit("promote", "dev", "prod")
    assert production(read) == [(2,)]
    last = read("select version, status, action, reason, env from toolkit.model_status_history "
                "where model = 'churn' order by seq desc limit 1")[0]
    assert last[:3] == (2, "production", "promote") and "promoted with environment dev" in last[3] and last[4] in (None, "prod"), last
    assert read("select count(*) from toolkit.audit_log where action = 'models promote' and detail like '%environment dev%'")[0][0] == 1
    # prod's history holds the rows it now serves (dev's run), besides its own runs'
    assert (dev_run,) in read("select distinct run_id from predictions.churn_history")
    assert read(f"select count(*) from predictions.churn_history where run_id = {dev_run}")[0][0] == 12

    toolkit("run")  # the changed code in prod: version 2 reused, no training, no flip
    assert churn_step(read)[0] != "train" and production(read) == [(2,)]
    assert scored_with(read, "predictions.churn") == [(2,)]
    assert read("select count(*) from toolkit.model_versions")[0][0] == 2

    toolkit("rollback", "prod")  # prod's predictions are version 1's again: so is production
    assert scored_with(read, "predictions.churn") == [(1,)] and production(read) == [(1,)]


def test_rollback_of_a_promote_restores_the_production_version_of_then(project):
    """Production after `rollback prod` is the version that was production when the promote
    saved prod's state, not the one prod's restored predictions were scored with: a person's
    `models rollback` before the promote was undone (version 2 came back)."""
    root, read, toolkit = project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run", "--env", "dev")  # version 2, dev's
    toolkit("models", "promote", "churn", "2")
    toolkit("run")  # prod scores with version 2
    toolkit("models", "rollback", "churn")  # a person goes back to version 1, before prod scores again
    assert production(read) == [(1,)] and scored_with(read, "predictions.churn") == [(2,)]
    toolkit("promote", "dev", "prod")
    assert production(read) == [(2,)]
    toolkit("rollback", "prod")
    assert production(read) == [(1,)], "rollback made production the version of the restored predictions"


def test_promote_is_refused_when_prod_rescored_with_another_version_since(project):
    """Prod's predictions scored after dev's with another version (new scoring rows, or a
    version a person made production): the promote put dev's older predictions and version
    back silently. Refused, exit 2, nothing changed; --force promotes."""
    root, read, toolkit = project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run", "--env", "dev")  # version 2 scores dev's rows
    write_files(root, {"models/churn.py": MODEL.format(c="1.0"),
                       "features/sc.sql": "select n as id, n / 10.0 as x from generate_series(1, 12) as t(n)\n"})
    toolkit("run")  # prod scores its new rows with version 1
    refused = toolkit("promote", "dev", "prod", expect=2)
    assert "prod changed since dev was last run" in refused and "churn" in refused, refused
    assert production(read) == [(1,)] and read("select count(*) from predictions.churn")[0][0] == 12
    toolkit("promote", "dev", "prod", "--force")
    assert production(read) == [(2,)] and scored_with(read, "predictions.churn") == [(2,)]


def test_a_dev_challenger_names_dev_s_version_not_production():
    """In dev, a challenger is compared with the version dev scores with (dev's choice): the
    run record said "vs production version 2" of a version prod never made production."""
    from types import SimpleNamespace

    from toolkit.modelrun import _apply_policy

    spec = SimpleNamespace(promote="challenger", margin=0.0, name="churn")
    result = SimpleNamespace(passed_gates=True, incumbent_metrics={"accuracy": 0.9}, metrics={"accuracy": 0.8}, incumbent_error=None)
    chosen, production = SimpleNamespace(version=2, status="candidate"), SimpleNamespace(version=1, status="production")
    assert "vs dev's version 2's 0.9" in _apply_policy(spec, result, 3, chosen, "dev")[0]
    assert "vs production version 1's 0.9" in _apply_policy(spec, result, 3, production, "dev")[0]
    assert "vs production version 1's 0.9" in _apply_policy(spec, result, 3, production)[0]

"""`toolkit plan` tells a retrain from a re-score: a model step it builds says whether the
run trains a new version or scores again with a registered one (which, and why), as the
run then does (materializations/model.py decides; modelplan.py asks the same, read-only).
It said "rebuild" for both, so a person could not tell before running."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from _projects import env, write_files
from models_env_support import FILES, MODEL, churn_project, churn_step, production, scored_with
from postgres_support import pg_url  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow  # model runs in subprocesses

SCORING_12 = "select n as id, n / 10.0 as x from generate_series(1, 12) as t(n)\n"
TRAINING_410 = FILES["features/tr.sql"].replace("400)", "410)")


@pytest.fixture(params=["duckdb", "postgres"])
def project(request, tmp_path, run_cli):
    """(root, read(sql) -> rows, toolkit(*args, expect=0) -> output) on DuckDB or PostgreSQL."""
    return churn_project(request, tmp_path, run_cli, FILES)


@pytest.fixture(params=["duckdb"])
def duck_project(request, tmp_path, run_cli):
    return churn_project(request, tmp_path, run_cli, FILES)


def planned(toolkit, *args: str) -> tuple[str, dict]:
    """(the churn line of `toolkit plan`, its JSON plan event)."""
    line = next(line for line in toolkit("plan", *args).splitlines() if line.startswith("churn "))
    events = [json.loads(e) for e in toolkit("plan", "--log-format", "json", *args).splitlines()]
    return line, next(e for e in events if e.get("event") == "plan" and e["step"] == "churn")


def versions(read) -> int:
    return read("select count(*) from toolkit.model_versions where model = 'churn'")[0][0]


def test_a_new_scoring_table_plans_a_re_score_with_version_1_and_the_run_trains_nothing(project):
    root, read, toolkit = project
    line, event = planned(toolkit)  # before the first run: no state, no registry
    assert "build" in line and "train a new version (no version registered yet)" in line, line
    assert event["model_action"] == "train" and event["model_version"] is None, event
    toolkit("run")

    write_files(root, {"features/sc.sql": SCORING_12})
    line, event = planned(toolkit)
    assert "rebuild" in line and "re-score with registered version 1, no training (scoring table changed: sc)" in line, line
    assert (event["action"], event["reason"]) == ("rebuild", "upstream changed (sc)"), event  # the step's reason as it was
    assert (event["model_action"], event["model_version"], event["model_matched_version"]) == ("score", 1, 1), event
    assert "re-score with registered version 1" in event["model_reason"], event
    forced, event = planned(toolkit, "--full-refresh")
    assert "train a new version (--full-refresh trains again)" in forced and event["model_action"] == "train", forced

    toolkit("run")
    assert churn_step(read)[0] == "score" and versions(read) == 1
    assert scored_with(read, "predictions.churn") == [(1,)]


def test_new_training_data_or_model_code_plans_training(duck_project):
    root, read, toolkit = duck_project
    toolkit("run")
    write_files(root, {"features/tr.sql": TRAINING_410})
    line, event = planned(toolkit)
    assert "train a new version (training data (tr) changed)" in line, line
    assert event["model_action"] == "train" and event["model_version"] is None, event
    write_files(root, {"models/churn.py": MODEL.format(c="2.0")})
    line, _ = planned(toolkit)
    assert "train a new version (training data (tr) and model code changed)" in line, line
    toolkit("run")
    assert churn_step(read)[0] == "train" and versions(read) == 2


def test_going_back_to_a_registered_version_plans_a_re_score_with_it(project):
    """The code reverted to version 1's: the plan says version 1 scores again (and becomes
    production again), no training. After `toolkit models rollback` to version 2, the
    code still finds version 1, but a person chose production: version 2 scores."""
    root, read, toolkit = project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run")
    assert versions(read) == 2 and production(read) == [(2,)]

    write_files(root, {"models/churn.py": MODEL.format(c="1.0")})
    line, event = planned(toolkit)
    assert ("re-score with registered version 1, no training (model code changed; version 1 has its training fingerprint), "
            "then promoted to production") in line, line
    assert (event["model_action"], event["model_version"], event["model_matched_version"]) == ("score", 1, 1), event
    toolkit("run")
    assert churn_step(read)[0] == "score" and versions(read) == 2
    assert production(read) == [(1,)] and scored_with(read, "predictions.churn") == [(1,)]

    toolkit("models", "rollback", "churn")
    assert production(read) == [(2,)]
    line, event = planned(toolkit)
    assert "production version is now 2: scored again -> re-score with registered version 2, no training" in line, line
    assert "version 1 has its training fingerprint, but production stays version 2 (set by `toolkit models rollback`)" in line, line
    assert (event["model_action"], event["model_version"], event["model_matched_version"]) == ("score", 2, 1), event
    toolkit("run")
    assert churn_step(read)[0] == "score" and versions(read) == 2 and scored_with(read, "predictions.churn") == [(2,)]


def test_after_an_environment_rollback_the_plan_names_toolkit_rollback(duck_project):
    """`toolkit rollback` (the environment's) chose production: the plan says so, not
    `toolkit models rollback`, a command nobody ran."""
    root, read, toolkit = duck_project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run", "--env", "dev")
    toolkit("promote", "dev", "prod")
    assert production(read) == [(2,)]
    toolkit("rollback")
    assert production(read) == [(1,)]
    line, _ = planned(toolkit)  # the code is still version 2's
    assert "production stays version 1 (set by `toolkit rollback`)" in line, line


PROBE = """\
import sys
from toolkit.cli import main
sys.argv = ['toolkit', 'plan']
code = 0
try:
    main()
except SystemExit as done:
    code = done.code or 0
print('IMPORTED', sorted(m for m in sys.modules if m.startswith(('sklearn', 'skops', 'toolkit_models_'))), code)
"""


def test_planning_a_re_score_imports_no_scikit_learn_nor_the_model_file(duck_project):
    """The lookup reads the registry's rows only: no artifact is loaded, nothing trains."""
    root, read, toolkit = duck_project
    toolkit("run")
    write_files(root, {"features/sc.sql": SCORING_12})
    toolkit("plan")  # a changed file compiles the project (importing the model file): the compile cache has it now
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=root, capture_output=True, text=True, env=env(), timeout=120)
    assert "re-score with registered version 1" in done.stdout, done.stdout + done.stderr
    assert "IMPORTED [] 0" in done.stdout, done.stdout + done.stderr

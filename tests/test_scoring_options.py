"""How a model's versions are scored and watched (scoring=, scoring_table=, monitors=,
outcomes=) is not what is fitted: changing it re-scores with the version already
trained, never trains another; a change of what trains still does."""

from __future__ import annotations

import hashlib
import json

import pytest

from test_models import add_prospects, build, declaration, edit, model_file, project_files, query, run, scalar, step_run, versions

pytestmark = pytest.mark.slow

DECLARED = declaration()


def test_scoring_and_monitor_options_rescore_with_the_trained_version(tmp_path, run_cli):
    root = build(tmp_path / "p", project_files())
    run(run_cli, root)
    assert versions(root) == [(1, "production")]

    edit(root, "models/churn.py", DECLARED, DECLARED + ', scoring="python"')
    run(run_cli, root)
    record = step_run(root)
    assert (record["action"], record["status"]) == ("score", "success"), record
    assert "reused version 1" in record["reason"] and json.loads(record["details"])["scored_in"] == "python"
    assert versions(root) == [(1, "production")]

    edit(root, "models/churn.py", 'scoring="python"', 'scoring="python", monitors={"psi": 0.3}')
    run(run_cli, root)
    record = step_run(root)
    assert (record["action"], record["status"]) == ("score", "success") and "reused version 1" in record["reason"], record
    assert versions(root) == [(1, "production")]
    assert query(root, "select distinct model_version from predictions.churn") == [(1,)]

    # a comment is not code: nothing to do (it re-scored before comments left the step's content)
    edit(root, "models/churn.py", "@model(", "# churn: who leaves next month\n@model(")
    run(run_cli, root)
    record = step_run(root)
    assert (record["action"], record["status"]) == ("reuse", "reused"), record

    # what is fitted still trains
    edit(root, "models/churn.py", "LogisticRegression(C=1.0", "LogisticRegression(C=0.05")
    run(run_cli, root)
    record = step_run(root)
    assert (record["action"], record["status"]) == ("train", "success") and "trained version 2" in record["reason"], record
    assert versions(root) == [(1, "archived"), (2, "production")]


def test_a_version_registered_under_the_whole_declaration_is_found_again(tmp_path, run_cli):
    """Before scoring options left the fingerprint, a model declaring one registered its
    versions under the whole declaration's digest: it is found, not trained again."""
    declared = DECLARED + ', scoring="python"'
    root = build(tmp_path / "p", project_files(**{"models/churn.py": model_file(declared=declared)}))
    run(run_cli, root)
    from toolkit.compiler import compile_project

    whole = compile_project(root).project.models["churn"].declaration_hash("file_before")  # the step's content hash then
    training = scalar(root, "select fingerprint from toolkit.published where step = 'training'")
    legacy = hashlib.sha256(f"{whole}|{training}".encode()).hexdigest()
    assert scalar(root, "select fingerprint from toolkit.model_versions where model = 'churn'") != legacy
    query_text = "update toolkit.model_versions set fingerprint = ? where model = 'churn'"
    import duckdb
    from conftest import database_path

    with duckdb.connect(str(database_path(root))) as con:
        con.execute(query_text, [legacy])

    add_prospects(root, 100, 120)  # new scoring rows: the model step runs again
    run(run_cli, root)
    record = step_run(root)
    assert (record["action"], record["status"]) == ("score", "success") and "reused version 1" in record["reason"], record
    assert versions(root) == [(1, "production")]

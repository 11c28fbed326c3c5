"""Model steps failing side by side, and model versions decided across environments.

1. "internal error: KeyError: 'best_of_two'" (seen once under load, two models training
   at once). Not a race on to_publish: a model step that failed with an error other than
   toolkit's own (an engine error, a scikit-learn ValueError) carries its run record as a
   JSON string in `details` (modelrun.held_back); errors.engine_message read `details` as
   ADBC's (key, value) pairs, raised ValueError inside _execute's handler, the worker's
   future held it unseen, and the scheduling thread found no built table to publish:
   KeyError with the model's name, the run left 'running', the real error lost. Here two
   such models fail at once on two threads; each fails its own step with the engine's message.
2. A version trained in dev after a person pinned prod's production (models promote):
   prod's next run with that code promotes it (as it would have, training it itself);
   one dev trained before the pin stays behind it.
3. In dev, the run's own choice ("choose") ends a person's earlier choice there, as a
   prod run's promotion does in prod: code going back to a version dev scored before
   brings that version back, rather than "dev stays on <the run's version> (set by `toolkit models promote`)".
"""

from __future__ import annotations

import json

import pytest

from conftest import create_tables, write_files
from models_env_support import FILES, MODEL, churn_project, churn_step, production, scored_with
from test_models import SOURCES, declaration, model_file, project_files, query, source_rows

pytestmark = pytest.mark.slow  # model runs in subprocesses

# A key the outcomes table holds as text, one value not a number: joining it to the
# predictions' BIGINT key is a DuckDB Conversion Error in the model step (monitoring's
# realized metrics, outcomes.py), an engine error rather than one of toolkit's.
TEXT_KEYED_OUTCOMES = '\n[raw.tables.outcomes]\ncolumns = { customer_id = "varchar", churned = "integer" }\n'


def two_models_with_bad_outcomes(tmp_path):
    declared = declaration(metrics='["roc_auc", "accuracy"]') + ', outcomes="outcomes"'
    root = tmp_path / "p"
    write_files(root, project_files(**{
        "models/churn.py": model_file("churn", declared),
        "models/churn_too.py": model_file("churn_too", declared),
        "warehouse/sources.toml": SOURCES + TEXT_KEYED_OUTCOMES,
        "features/outcomes.sql": 'select customer_id, churned from {{ source("raw", "outcomes") }}\n',
    }))
    create_tables(root / "warehouse" / "test.duckdb",
                  {**source_rows(), "raw.outcomes": "select 'x'::varchar as customer_id, 0::integer as churned"})
    return root


def test_two_models_failing_with_engine_errors_at_once_fail_their_steps_not_the_run(tmp_path, run_cli):
    root = two_models_with_bad_outcomes(tmp_path)
    code, out, err = run_cli("run", "--threads", "2", cwd=root)  # no history yet: the outcomes are not joined
    assert code == 0, out + err
    code, out, err = run_cli("run", "--threads", "2", "--full-refresh", cwd=root)
    text = out + err
    assert code == 1, text
    assert "internal error" not in text and "KeyError" not in text and "Traceback" not in text, text
    rows = query(root, "select step, status, error, details from toolkit.step_runs where run_id = 2 and step like 'churn%' order by step")
    assert [(step, status) for step, status, *_ in rows] == [("churn", "failed"), ("churn_too", "failed")], rows
    for step, _, error, details in rows:
        assert error == f"models/{step}.py: Conversion Error: Could not convert string 'x' to INT64 when casting from source column customer_id", error
        assert json.loads(details)["version"] == 2  # the version it trained, kept in the run record
    assert query(root, "select status from toolkit.runs where run_id = 2") == [("failed",)]  # recorded, not left 'running'
    # each version stays a candidate, its history saying why; production and the predictions stay version 1's
    assert query(root, "select model, version, status from toolkit.model_versions order by model, version") == [
        ("churn", 1, "production"), ("churn", 2, "candidate"), ("churn_too", 1, "production"), ("churn_too", 2, "candidate")]
    held = query(root, "select model, version from toolkit.model_status_history where action = 'hold' order by model")
    assert held == [("churn", 2), ("churn_too", 2)]
    assert query(root, "select distinct model_version from predictions.churn") == [(1,)]


@pytest.fixture
def duckdb_churn(request, tmp_path, run_cli):
    request.param = "duckdb"
    return churn_project(request, tmp_path, run_cli, FILES)


def versions_of(read) -> list[tuple]:
    return read("select version, status from toolkit.model_versions where model = 'churn' order by version")


def test_a_version_dev_trained_after_a_prod_pin_is_promoted_by_prods_run_with_its_code(duckdb_churn):
    root, read, toolkit = duckdb_churn
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run")
    toolkit("models", "promote", "churn", "1")  # a person pins prod's production to version 1
    assert production(read) == [(1,)]

    write_files(root, {"models/churn.py": MODEL.format(c="0.25")})
    toolkit("run", "--env", "dev")  # version 3, trained after the pin, in dev
    assert production(read) == [(1,)]
    toolkit("run")  # prod, the same code: version 3 found by its fingerprint, not trained again
    action, reason = churn_step(read)
    assert action == "score" and "promoted (trained in run" in reason and "of another environment)" in reason, (action, reason)
    assert versions_of(read) == [(1, "archived"), (2, "archived"), (3, "production")]
    assert scored_with(read, "predictions.churn") == [(3,)]


def test_a_version_dev_trained_before_a_prod_pin_stays_behind_it(duckdb_churn):
    root, read, toolkit = duckdb_churn
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run")  # prod: version 2
    write_files(root, {"models/churn.py": MODEL.format(c="0.25")})
    toolkit("run", "--env", "dev")  # version 3, in dev
    toolkit("models", "promote", "churn", "1")  # then a person pins prod's production to version 1
    toolkit("run")  # prod, dev's code: the person's choice holds against version 3, there when it was made
    action, reason = churn_step(read)
    assert "production stays version 1 (set by `toolkit models promote`)" in reason, (action, reason)
    assert production(read) == [(1,)] and scored_with(read, "predictions.churn") == [(1,)]


def test_in_dev_the_runs_own_choice_ends_a_persons_earlier_choice(duckdb_churn):
    root, read, toolkit = duckdb_churn
    toolkit("run")  # prod: version 1
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run", "--env", "dev")  # dev chooses version 2
    toolkit("models", "promote", "churn", "1", "--env", "dev")  # a person puts dev back on version 1
    write_files(root, {"models/churn.py": MODEL.format(c="0.25")})
    toolkit("run", "--env", "dev")  # version 3, trained since: dev's run chooses it
    assert scored_with(read, "predictions__dev.churn") == [(3,)]

    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run", "--env", "dev")  # the code goes back to version 2's: dev scores with it again
    action, reason = churn_step(read)
    assert "set by `toolkit models promote`" not in reason, reason  # the person chose version 1; version 3 ended that
    assert scored_with(read, "predictions__dev.churn") == [(2,)], reason
    last = read("select version, action, env from toolkit.model_status_history where model = 'churn' order by seq desc limit 1")
    assert last == [(2, "choose", "dev")]
    assert production(read) == [(1,)]  # prod's production never moved

    # The same in prod, for comparison: its run's promotion of a version trained after a
    # person's choice ends that choice; the code going back to version 2 brings it back.
    toolkit("run")  # version 2 (dev's), promoted in prod
    toolkit("models", "promote", "churn", "1")
    write_files(root, {"models/churn.py": MODEL.format(c="0.125")})
    toolkit("run")  # version 4, trained after the person's choice: promoted
    assert production(read) == [(4,)], churn_step(read)
    write_files(root, {"models/churn.py": MODEL.format(c="0.5")})
    toolkit("run")
    assert production(read) == [(2,)], churn_step(read)

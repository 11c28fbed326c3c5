"""Monitoring wired into model runs (issue 13): baselines when a version first scores,
drift of every scoring run in toolkit.monitoring, thresholds from @model(monitors=...),
`toolkit monitor` exit 1 on a breach, and bad thresholds as exit 2 at the @model line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import create_tables, write_files
from test_models import declaration, execute, last_run, model_file, project_files, query, source_rows, versions

pytestmark = pytest.mark.slow  # model runs in subprocesses (scikit-learn import per run)

# Prospects drawn exactly like the training customers: no drift until the test shifts one feature.
SAME_AS_TRAINING = """
select i::bigint as customer_id,
       ['a', 'b', 'c'][1 + i % 3] as segment,
       (i * 7 % 60)::integer as tenure,
       round((i * 37 % 1000) / 10.0, 2)::double as spend
from range(0, 300) t(i)
"""
MONITORS = 'monitors={"psi": 0.2, "spend": {"psi": {"max": 0.2, "severity": "error"}}}'


def monitored_project(tmp_path, monitors: str = MONITORS):
    root = tmp_path / "p"
    declared = declaration() + ", " + monitors
    write_files(root, project_files(**{"models/churn.py": model_file(declared=declared)}))
    create_tables(root / "warehouse" / "test.duckdb", source_rows(prospects=SAME_AS_TRAINING))
    return root


def monitoring_rows(root) -> list[dict]:
    names = ["version", "run_id", "feature", "metric", "value", "threshold", "status"]
    rows = query(root, f"select {', '.join(names)} from toolkit.monitoring order by run_id, feature, metric")
    return [dict(zip(names, row)) for row in rows]


def test_drift_is_recorded_and_a_shift_is_a_breach(tmp_path, run_cli):
    root = monitored_project(tmp_path)
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    baselines = query(root, "select model, version, kind from toolkit.model_baselines order by kind")
    assert baselines == [("churn", 1, "held_out"), ("churn", 1, "predictions"), ("churn", 1, "serving"), ("churn", 1, "training")]
    first = monitoring_rows(root)
    # The first scoring sets the serving baselines; only skew (against training) is measured,
    # for the predictions against the version's predictions on its held-out rows.
    outputs = {("predictions.prediction", "training_psi"), ("predictions.proba_0", "training_psi"), ("predictions.proba_1", "training_psi")}
    assert {(r["feature"], r["metric"]) for r in first} == {
        ("segment", "training_psi"), ("tenure", "training_psi"), ("spend", "training_psi"),
        ("tenure", "out_of_range"), ("spend", "out_of_range"), *outputs}
    features = [r for r in first if not r["feature"].startswith("predictions.")]
    assert all(r["status"] == "ok" and r["value"] < 1e-9 for r in features), first  # scored what it was trained on
    code, out, err = run_cli("monitor", cwd=root)
    assert code == 0 and "0 in breach" in out, out + err

    execute(root, "update raw.prospects set spend = spend + 1000")
    code, out, err = run_cli("run", cwd=root)
    assert code == 1, out + err  # published, but a breach of severity error
    assert "monitoring error: model churn: spend psi" in out  # which model: two can score one table
    second = [r for r in monitoring_rows(root) if r["run_id"] == max(r["run_id"] for r in monitoring_rows(root))]
    breached = {r["feature"] for r in second if r["status"] != "ok" and not r["feature"].startswith("predictions.")}
    assert breached == {"spend"}, second
    spend_psi = next(r for r in second if r["feature"] == "spend" and r["metric"] == "psi")
    assert spend_psi["status"] == "error" and spend_psi["threshold"] == 0.2 and spend_psi["value"] > 1
    skew = {r["feature"]: r["value"] for r in second if r["metric"] == "out_of_range" and not r["feature"].startswith("predictions.")}
    assert skew == {"spend": 1.0, "tenure": 0.0}  # train/serve skew: every spend is beyond training's maximum
    assert query(root, "select count(*) from predictions.churn") == [(300,)]  # published all the same

    code, out, err = run_cli("monitor", "churn", "--log-format", "json", cwd=root)
    assert code == 1
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1] == {"event": "monitor_summary", "env": "prod", "metrics": len(events) - 1,
                          "breaches": sum(e.get("status") != "ok" for e in events[:-1])}
    assert any(e["feature"] == "spend" and e["metric"] == "psi" and e["status"] == "error" for e in events[:-1])

    code, out, err = run_cli("monitor", "chrun", cwd=root)  # a typo is not "nothing monitored yet"
    assert code == 2 and "error: no model named 'chrun' in the registry (did you mean 'churn'?)" in err, out + err
    code, out, err = run_cli("monitor", "churn", "--since", "2999-01-01", cwd=root)
    assert code == 0 and "monitor: nothing monitored since 2999-01-01" in out, out + err


def test_an_empty_scoring_table_records_no_rate_change_and_no_baseline(tmp_path, run_cli):
    """0 rows have no NULL rate: no null_rate_change (it was the training rate), no skew,
    and no serving or predictions baseline (an empty one would make every later rate a
    change); the first run with rows takes them."""
    root = monitored_project(tmp_path)
    execute(root, "delete from raw.prospects")
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert query(root, "select count(*) from predictions.churn") == [(0,)]
    assert [r for r in monitoring_rows(root) if not r["feature"].startswith("predictions.")] == []
    assert not [r for r in monitoring_rows(root) if r["metric"] == "null_rate_change"]
    assert query(root, "select kind from toolkit.model_baselines order by kind") == [("held_out",), ("training",)]

    create_tables(root / "warehouse" / "test.duckdb", {"raw.prospects": SAME_AS_TRAINING})
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert query(root, "select kind from toolkit.model_baselines order by kind") == [
        ("held_out",), ("predictions",), ("serving",), ("training",)]


def test_predictions_are_compared_with_the_held_out_predictions(tmp_path, run_cli):
    """Issue 13: the baseline of what a version outputs is its predictions on its own
    held-out rows, profiled in the warehouse when it is trained; each scoring run's
    predictions get a training_psi against it, equal to NumPy's on the same numbers."""
    from test_monitoring import ref_psi

    root = monitored_project(tmp_path)
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    (profile,) = query(root, "select profile from toolkit.model_baselines where kind = 'held_out'")[0]
    evaluation = json.loads(query(root, "select evaluation from toolkit.model_versions where version = 1")[0][0])
    held = {f["name"]: f for f in json.loads(profile)["features"]}
    assert set(held) == {"prediction", "proba_0", "proba_1"}
    assert held["proba_1"]["rows"] == evaluation["split"]["test_rows"] == 60  # the held-out rows, not the 300 scored
    scored = np.array([v for (v,) in query(root, "select proba_1 from predictions.churn")], float)
    counts = np.bincount(np.searchsorted(held["proba_1"]["edges"], scored, side="right"), minlength=len(held["proba_1"]["edges"]) + 1)
    (recorded,) = [r["value"] for r in monitoring_rows(root) if r["feature"] == "predictions.proba_1" and r["metric"] == "training_psi"]
    assert recorded == pytest.approx(ref_psi(held["proba_1"]["counts"], counts), abs=1e-9)


def test_unknown_threshold_name_is_exit_2_at_the_model(tmp_path, run_cli):
    root = monitored_project(tmp_path, monitors='monitors={"spnd": {"psi": 0.1}}')
    code, out, err = run_cli("run", cwd=root)
    assert code == 2, out + err
    assert "models/churn.py:" in err and "monitors" in err and "spnd" in err and "did you mean 'spend'" in err, err
    assert "Traceback" not in err


def test_bad_threshold_shape_is_exit_2(tmp_path, run_cli):
    root = monitored_project(tmp_path, monitors='monitors={"psi": {"max": 0.2, "severity": "loud"}}')
    code, out, err = run_cli("plan", cwd=root)
    assert code == 2 and "models/churn.py:" in err and "severity" in err, out + err


OUTCOME_SOURCES = """
[raw.tables.outcomes]
columns = { customer_id = "bigint", churned = "integer" }
"""


def test_labels_that_arrive_later_give_realized_metrics(tmp_path, run_cli):
    from sklearn.metrics import roc_auc_score

    from test_models import SOURCES

    root = tmp_path / "p"
    declared = declaration(metrics='["roc_auc", "accuracy"]') + ', outcomes="outcomes", monitors={"roc_auc": {"min": 0.99}}'
    write_files(root, project_files(**{
        "models/churn.py": model_file(declared=declared),
        "warehouse/sources.toml": SOURCES + OUTCOME_SOURCES,
        "features/outcomes.sql": 'select customer_id, churned from {{ source("raw", "outcomes") }}\n',
    }))
    create_tables(root / "warehouse" / "test.duckdb", {
        **source_rows(), "raw.outcomes": "select 0::bigint as customer_id, 0::integer as churned where false",
    })
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert query(root, "select count(*) from toolkit.monitoring where feature is null") == [(0,)]  # no labels yet
    # Labels for every scored prospect arrive: churned when the tenure is short.
    execute(root, "insert into raw.outcomes select customer_id, (tenure < 20)::integer from raw.prospects")
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err  # a breach of a warn threshold does not fail the run
    realized = query(root, "select version, metric, value, threshold, status, scored_at from toolkit.monitoring "
                           "where feature is null order by metric")
    first_scoring = query(root, "select min(scored_at) from predictions.churn_history")[0][0]
    assert [(v, m) for v, m, *_ in realized] == [(1, "accuracy"), (1, "roc_auc")]
    assert all(row[5] == first_scoring for row in realized)  # the scoring run the labels belong to
    labelled = query(root, "select o.churned, h.proba_1, h.prediction from predictions.churn_history h "
                           "join raw.outcomes o using (customer_id) where h.scored_at = ?", [first_scoring])
    y = [r[0] for r in labelled]
    expected_auc = roc_auc_score(y, [r[1] for r in labelled])
    expected_accuracy = sum(int(r[0] == r[2]) for r in labelled) / len(labelled)
    values = {m: value for _, m, value, *_ in realized}
    assert values == {"accuracy": expected_accuracy, "roc_auc": expected_auc}  # the same scorers, bit for bit
    auc = next(row for row in realized if row[1] == "roc_auc")
    assert auc[3] == 0.99 and auc[4] == ("warn" if expected_auc < 0.99 else "ok")
    code, out, err = run_cli("run", "--full-refresh", "--select", "churn", cwd=root)
    assert code == 0, out + err
    again = query(root, "select count(*) from toolkit.monitoring where feature is null and scored_at = ?", [first_scoring])
    assert again == [(2,)]  # each scoring run is evaluated once


def test_a_version_held_at_training_keeps_the_training_rows_it_was_fitted_on_as_baseline(tmp_path, run_cli):
    """A version waiting for approval is profiled by the run that trains it: approved after
    its training table changed, its skew is measured against what it learned from."""
    root = monitored_project(tmp_path, monitors='monitors={"psi": 0.2}')
    assert run_cli("run", cwd=root)[0] == 0  # version 1, production
    churn = root / "models" / "churn.py"
    # a new gate trains version 2 (promote= alone changes nothing); it waits for approval, 1 keeps scoring
    churn.write_text(churn.read_text().replace('gates={"roc_auc": 0.6}', 'gates={"roc_auc": 0.55}, promote="manual"'))
    code, out, err = run_cli("run", cwd=root)
    assert code == 0 and versions(root)[-1][0] == 2, out + err
    taken = query(root, "select run_id from toolkit.model_baselines where version = 2 and kind = 'training'")
    assert taken == [(last_run(root),)]

    execute(root, "update raw.customers set spend = spend + 1000")  # version 3 is trained on these
    assert run_cli("run", cwd=root)[0] == 0
    code, out, err = run_cli("models", "approve", "churn", "2", cwd=root)
    assert code == 0, out + err
    code, out, err = run_cli("run", cwd=root)  # scores with version 2 for the first time
    assert code == 0, out + err
    scored = last_run(root)
    assert query(root, "select distinct version from toolkit.monitoring where run_id = ?", [scored]) == [(2,)]
    assert query(root, "select run_id from toolkit.model_baselines where version = 2 and kind = 'training'") == taken
    skew = dict(query(root, "select feature, value from toolkit.monitoring where run_id = ? and metric = 'out_of_range'", [scored]))
    assert skew["spend"] == 0.0  # prospects' spend is within what version 2 was fitted on (not the +1000 rows)

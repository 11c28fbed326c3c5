"""Governing models (issue 14): promotion policies (auto, challenger, manual), approval,
who changed what and why, and --full-refresh training a new version."""

from __future__ import annotations

import json

import pytest

from conftest import create_tables, write_files
from test_models import LOGISTIC, declaration, model_file, project_files, query, run, source_rows, step_run, versions

pytestmark = pytest.mark.slow  # model runs in subprocesses

ALICE = {"TOOLKIT_ACTOR": "alice"}
BLIND = "make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))"  # for features=["spend"]


def project(tmp_path, declared: str, body: str = LOGISTIC):
    root = tmp_path / "p"
    write_files(root, project_files(**{"models/churn.py": model_file(declared=declared, body=body)}))
    create_tables(root / "warehouse" / "test.duckdb", source_rows())
    return root


def set_model(root, declared: str, body: str = LOGISTIC) -> None:
    write_files(root, {"models/churn.py": model_file(declared=declared, body=body)})


def scored_with(root) -> set[int]:
    return {v for (v,) in query(root, "select distinct model_version from predictions.churn")}


def history(root) -> list[tuple]:
    return query(root, "select version, status, action, actor, reason from toolkit.model_status_history "
                       "where model = 'churn' order by seq")


def test_manual_versions_wait_for_approval(tmp_path, run_cli):
    manual = declaration() + ', promote="manual"'
    root = project(tmp_path, manual)
    out = run(run_cli, root, 1)  # nothing to score with until a person approves version 1
    assert "waits for approval (promote='manual'): toolkit models approve churn 1" in out, out
    assert versions(root) == [(1, "candidate")]

    code, out, err = run_cli("models", "approve", "churn", "1", cwd=root, env=ALICE)
    assert code == 0, out + err
    run(run_cli, root)
    assert scored_with(root) == {1}

    set_model(root, manual, LOGISTIC.replace("C=1.0", "C=0.5"))  # a new version is trained and waits
    out = run(run_cli, root)
    assert versions(root) == [(1, "production"), (2, "candidate")]
    assert "waits for approval" in step_run(root)["reason"] and scored_with(root) == {1}

    code, out, err = run_cli("models", "approve", "churn", "1", cwd=root)
    assert code == 2 and "version 1 is production, not a candidate waiting for approval" in err, out + err
    assert run_cli("models", "approve", "churn", "2", cwd=root, env=ALICE)[0] == 0
    run(run_cli, root)
    assert scored_with(root) == {2}
    approvals = [row for row in history(root) if row[2] == "approve" and row[1] == "production"]
    assert [(v, actor) for v, _, _, actor, _ in approvals] == [(1, "alice"), (2, "alice")]

    code, out, err = run_cli("models", "history", "churn", "--log-format", "json", cwd=root)
    assert code == 0, out + err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["action"] for e in events if e["status"] == "production"] == ["approve", "approve"]
    assert all(e["actor"] for e in events)
    # Version 1's archived line says why it was archived, not alice's reason for approving version 2.
    assert [(e["version"], e["reason"]) for e in events if e["status"] == "archived"] == [
        (1, "archived: version 2 became production (approve)")]
    code, out, err = run_cli("models", "history", "churm", cwd=root)
    assert code == 2 and "no model named 'churm'" in err and "churn" in err, out + err


def test_a_challenger_must_beat_production_on_the_same_rows(tmp_path, run_cli):
    """v1 sees only `spend` (no signal), v2 every feature (tenure decides churn): v2
    beats v1 and is promoted; v3, blind again, does not beat v2 and waits."""
    challenger = declaration(gates="{}") + ', promote="challenger", margin=0.01'
    root = project(tmp_path, challenger + ', features=["spend"]', BLIND)
    run(run_cli, root)
    assert versions(root) == [(1, "production")]  # nothing to beat yet

    set_model(root, challenger)
    run(run_cli, root)
    reason = step_run(root)["reason"]
    assert versions(root) == [(1, "archived"), (2, "production")], reason
    assert "beat it: roc_auc" in reason and "vs production version 1's" in reason and "margin 0.01" in reason
    details = json.loads(step_run(root)["details"])
    incumbent = next(c for c in details["candidates"] if c["name"] == "production version 1")
    assert details["metrics"]["roc_auc"] >= incumbent["metrics"]["roc_auc"] + 0.01

    set_model(root, challenger + ', features=["spend"]', BLIND.replace("C=1.0", "C=0.5"))
    run(run_cli, root)
    reason = step_run(root)["reason"]
    assert versions(root) == [(1, "archived"), (2, "production"), (3, "candidate")], reason
    assert "not promoted: roc_auc" in reason and "production version 2's" in reason
    assert scored_with(root) == {2}
    promoted = [row for row in history(root) if row[1] == "production"]
    assert promoted[-1][4].startswith("promote='challenger': beat it: roc_auc")


def test_approving_a_version_that_fails_its_gates_needs_force(tmp_path, run_cli):
    """approve made any candidate production, one that failed its gates (fairness gaps
    included) too, and neither the output nor the history said so."""
    root = project(tmp_path, declaration(gates='{"roc_auc": 0.99}') + ', promote="manual"')
    run(run_cli, root, 1)
    assert versions(root) == [(1, "candidate")]
    code, out, err = run_cli("models", "approve", "churn", "1", cwd=root)
    assert code == 2 and "churn version 1 fails its gate roc_auc " in err and "< 0.99" in err and "--force" in err, out + err
    assert versions(root) == [(1, "candidate")]
    code, out, err = run_cli("models", "approve", "churn", "1", "--force", cwd=root, env=ALICE)
    assert code == 0 and "approved over its failed gate roc_auc" in out, out + err
    assert versions(root) == [(1, "production")]
    [(actor, reason)] = [(row[3], row[4]) for row in history(root) if row[2] == "approve"]
    assert actor == "alice" and reason.startswith("toolkit models approve over its failed gate roc_auc ") and reason.endswith("(--force)")


def test_full_refresh_trains_a_new_version(tmp_path, run_cli):
    root = project(tmp_path, declaration())
    run(run_cli, root)
    out = run(run_cli, root, 0, "--select", "churn", "--full-refresh")
    assert versions(root) == [(1, "archived"), (2, "production")], out
    assert "(--full-refresh: trained again)" in step_run(root)["reason"]
    [(first, second)] = query(root, "select min(fingerprint), max(fingerprint) from toolkit.model_versions")
    assert first == second  # same code and data: only the flag made it train


@pytest.mark.parametrize("declared, message", [
    (', promote="sometimes"', "unknown promote policy 'sometimes'"),
    (', promote="challenger", margin=-0.1', "margin must be a number >= 0"),
    (', margin=0.05', "margin applies to promote='challenger' only"),
])
def test_bad_policies_are_exit_2_at_the_model(tmp_path, run_cli, declared, message):
    root = project(tmp_path, declaration() + declared)
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and message in err and "models/churn.py:" in err and "Traceback" not in err, out + err


@pytest.mark.parametrize("declared, message", [
    ('training="training", label="churned", key="customer_id", scoring_table="scoring", gates={"roc_auc": "high"}',
     "gate 'roc_auc' must be a number, got 'high'"),
    ('training="training", label="churned", key=["customer_id", "churned"], scoring_table="scoring"',
     "the label 'churned' is also a key column"),
    ('training="training", label="churned", key="customer_id", scoring_table="scoring", exclude=["spend", "nope"]',
     "column 'nope' is not in the training table training"),
    ('training="training", label="churned", key="customer_id", scoring_table="scoring", segments=["segmnt"]',
     "column 'segmnt' is not in the training table training"),
])
def test_bad_model_arguments_are_exit_2_at_the_model(tmp_path, run_cli, declared, message):
    """Each ran: a str gate failed after training ('>=' not supported), an unknown exclude
    or segment was ignored or failed at run time without a line, label = key trained."""
    root = project(tmp_path, declared)
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and message in err and "models/churn.py:" in err and "Traceback" not in err, out + err
    assert versions(root) == []


def test_a_gate_on_an_unknown_metric_is_exit_2_at_plan(tmp_path, run_cli):
    """It was found only by a run, after reading the training table; plan said nothing."""
    root = project(tmp_path, 'training="training", label="churned", key="customer_id", scoring_table="scoring", gates={"r3": 0.05}')
    code, out, err = run_cli("plan", cwd=root)
    assert code == 2 and "gate 'r3' names no metric" in err and "models/churn.py:" in err and "Traceback" not in err, out + err


def test_one_name_as_a_string_is_a_list_of_it(tmp_path, run_cli):
    """metrics="accuracy" was split into letters ("unknown metric 'a'"); exclude="spend"
    excluded nothing (the letters s, p, e, n, d)."""
    root = project(tmp_path, 'training="training", label="churned", key="customer_id", scoring_table="scoring", '
                             'metrics="accuracy", exclude="spend"')
    run(run_cli, root)
    record = step_run(root)
    assert list(json.loads(query(root, "select metrics from toolkit.model_versions")[0][0])) == ["accuracy"], record
    [(features,)] = query(root, "select features from toolkit.model_versions")
    assert "spend" not in [f["name"] for f in json.loads(features)], features


@pytest.mark.parametrize("body, message", [
    ("{}", "the model function returned no estimator"),
    ("None", "the model function returned NoneType None, not a scikit-learn estimator"),
    ("LogisticRegression", "the model function returned the class LogisticRegression, not a scikit-learn estimator"),
    ('{"a": LogisticRegression(), "b": "logreg"}', "the model function returned str 'logreg' as 'b', not a scikit-learn estimator"),
])
def test_a_model_function_returning_no_estimator_is_exit_2_at_the_model(tmp_path, run_cli, body, message):
    """Found only when the run calls the function: the step fails, the run exits 2 (it was
    exit 1 with scikit-learn's text, or 'models/churn.py: models/churn.py:9: ...')."""
    root = project(tmp_path, declaration(), body=body)
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and message in out and "Traceback" not in out + err, out + err
    assert "models/churn.py: models/churn.py" not in out and "models/churn.py:" in out
    assert versions(root) == []


def test_every_decision_about_what_is_live_is_in_the_audit_log(make_project, run_cli):
    """Environment promote and rollback, gc, and model status changes: who, when, what."""
    root = make_project({"features/a.sql": "select {{ var('v', 1) }} as v"})
    assert run_cli("run", cwd=root)[0] == 0
    assert run_cli("run", "--env", "dev", "--vars", "v=2", cwd=root)[0] == 0
    for command in (("promote", "dev", "prod"), ("rollback", "prod"), ("gc", "--retention", "0s")):
        code, out, err = run_cli(*command, cwd=root, env=ALICE)
        assert code == 0, out + err
    rows = query(root, "select action, subject, actor, logged_at is not null from toolkit.audit_log order by logged_at")
    assert [(a, s, who, stamped) for a, s, who, stamped in rows] == [
        ("promote", "environment prod", "alice", True),
        ("rollback", "environment prod", "alice", True),
        ("gc", "toolkit_physical", "alice", True),
    ]


def test_model_status_changes_are_audited_with_their_run(tmp_path, run_cli):
    root = project(tmp_path, declaration())
    run(run_cli, root)
    assert run_cli("models", "promote", "churn", "1", cwd=root, env=ALICE)[0] == 0  # already production: no change
    set_model(root, declaration(), LOGISTIC.replace("C=1.0", "C=0.5"))
    run(run_cli, root)
    assert run_cli("models", "rollback", "churn", cwd=root, env=ALICE)[0] == 0
    rows = query(root, "select action, subject, actor, run_id from toolkit.audit_log order by logged_at")
    assert [(a, s) for a, s, _, _ in rows] == [
        ("models promote", "churn version 1"), ("models promote", "churn version 2"), ("models rollback", "churn version 1"),
    ]
    assert rows[0][3] is not None and rows[1][3] is not None  # the runs' policy decisions name their run
    assert rows[2][2] == "alice" and rows[2][3] is None


SEGMENTED = declaration(gates='{"roc_auc": 0.6}') + ', segments=["segment"]'


def test_segment_metrics_equal_scikit_learn_per_group_on_the_same_split(tmp_path, run_cli):
    import numpy as np
    from sklearn.metrics import accuracy_score, roc_auc_score

    from test_models import arrow, split_like_toolkit

    root = project(tmp_path, SEGMENTED)
    run(run_cli, root)
    [(stored,)] = query(root, "select segments from toolkit.model_versions where model = 'churn'")
    segments = json.loads(stored)["segment"]
    data = arrow(root, "select customer_id, churned, segment, tenure, spend from features.training order by customer_id")
    _, test = split_like_toolkit(data, "churned")
    estimator = load_version(root, 1)
    frame = data.select(["segment", "tenure", "spend"]).to_pandas().iloc[test]
    y = np.asarray(data.column("churned").to_pylist())[test]
    groups = np.asarray(data.column("segment").to_pylist(), dtype=object)[test]
    rates = {}
    for value in ("a", "b", "c"):
        mask = groups == value
        got = segments["values"][value]
        assert got["rows"] == int(mask.sum())
        assert got["roc_auc"] == pytest.approx(roc_auc_score(y[mask], estimator.predict_proba(frame[mask])[:, 1]), abs=1e-12)
        predicted = estimator.predict(frame[mask])
        assert got["accuracy"] == pytest.approx(accuracy_score(y[mask], predicted), abs=1e-12)
        rates[value] = (predicted == 1).mean()
        assert got["positive_rate"] == pytest.approx(rates[value], abs=1e-12)
    aucs = [segments["values"][v]["roc_auc"] for v in ("a", "b", "c")]
    assert segments["max_gap"]["roc_auc"] == pytest.approx(max(aucs) - min(aucs), abs=1e-12)
    assert segments["max_gap"]["demographic_parity"] == pytest.approx(max(rates.values()) - min(rates.values()), abs=1e-12)
    code, out, err = run_cli("models", "show", "churn", cwd=root)
    assert code == 0 and "segments by segment (held-out rows); largest gaps: " in out, out + err
    assert f"roc_auc {segments['max_gap']['roc_auc']:.4f}" in out and "  a: " in out


def test_a_segment_gap_gate_keeps_a_version_from_production(tmp_path, run_cli):
    root = project(tmp_path, declaration(gates='{"roc_auc": 0.6, "max_gap.accuracy": 0.0001}') + ', segments=["segment"]')
    out = run(run_cli, root, 1)  # its only version failed a gate: nothing to score with
    assert "not promoted: gate max_gap.accuracy" in out and "between values of segment" in out, out
    for declared, message in (
        (declaration(gates='{"max_gap.roc_auc": 0.1}'), "gate 'max_gap.roc_auc' needs segments=[...]"),
        (SEGMENTED.replace('"roc_auc": 0.6', '"max_gap.roc_aux": 0.1'), "gate 'max_gap.roc_aux' names no metric"),
    ):
        set_model(root, declared)
        code, out, err = run_cli("run", cwd=root)
        assert code == 2 and message in err and "models/churn.py:" in err, out + err


def load_version(root, version: int):
    from toolkit.config import load_config
    from toolkit.session import Access, open_session

    with open_session(load_config(root), access=Access.READ) as session:
        return session.registry.load("churn", version)


def test_null_segment_values_are_a_group_of_their_own():
    import numpy as np
    import pyarrow as pa
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import get_scorer

    from toolkit.training import segment_metrics, to_frame

    data = pa.table({"x": [float(i % 10) for i in range(40)], "region": ["n", "s", None, "n"] * 10})
    y = np.array([int(i % 10 > 4) for i in range(40)])
    test = np.arange(0, 40, 2)
    X = to_frame(data, ["x"])
    estimator = LogisticRegression().fit(X, y)
    found = segment_metrics(estimator, data, ["region"], X.iloc[test], y[test], test, {"accuracy": get_scorer("accuracy")})
    groups = found["region"]["values"]
    assert list(groups) == ["n", "NULL"] and groups["n"]["rows"] == 10 and groups["NULL"]["rows"] == 10
    assert found["region"]["max_gap"]["accuracy"] == abs(groups["n"]["accuracy"] - groups["NULL"]["accuracy"])


def test_a_new_version_under_auto_replaces_a_manual_choice(tmp_path, run_cli):
    """Documented: a production version chosen by hand holds until a person or the
    policy, applied to a newly trained version, changes it."""
    root = project(tmp_path, declaration())
    run(run_cli, root)
    set_model(root, declaration(), LOGISTIC.replace("C=1.0", "C=0.5"))
    run(run_cli, root)
    assert run_cli("models", "rollback", "churn", cwd=root)[0] == 0
    run(run_cli, root)  # nothing new trained: the rollback holds
    assert scored_with(root) == {1}
    set_model(root, declaration(), LOGISTIC.replace("C=1.0", "C=0.25"))
    run(run_cli, root)  # version 3 is trained and passes its gates: "auto" promotes it
    assert versions(root) == [(1, "archived"), (2, "archived"), (3, "production")]
    assert "promoted (passed its gates)" in step_run(root)["reason"] and scored_with(root) == {3}


def test_code_reverted_to_a_version_passing_a_segment_gap_gate_makes_it_production_again(tmp_path, run_cli):
    """The revert check read max_gap gates as minimums of the overall metrics: never found,
    always failed, so version 1 never came back and nothing said why."""
    gated = declaration(gates='{"roc_auc": 0.6, "max_gap.roc_auc": 0.99}') + ', segments=["segment"]'
    root = project(tmp_path, gated)
    run(run_cli, root)
    set_model(root, gated, LOGISTIC.replace("C=1.0", "C=0.5"))
    run(run_cli, root)
    assert versions(root) == [(1, "archived"), (2, "production")]
    set_model(root, gated)  # the code of version 1 again
    run(run_cli, root)
    assert versions(root) == [(1, "production"), (2, "archived")]
    assert step_run(root)["reason"].endswith("promoted again"), step_run(root)
    assert scored_with(root) == {1}


def test_code_reverted_to_a_version_that_fails_its_gate_keeps_production_and_says_why(tmp_path, run_cli):
    strict = declaration(gates='{"roc_auc": 0.6, "max_gap.roc_auc": 0.0}') + ', segments=["segment"]'
    root = project(tmp_path, strict)
    run(run_cli, root, 1)  # version 1 fails its gap gate: nothing to score with
    set_model(root, SEGMENTED, LOGISTIC.replace("C=1.0", "C=0.5"))
    run(run_cli, root)
    set_model(root, strict)  # version 1's code again
    run(run_cli, root)
    assert dict(versions(root))[2] == "production" and scored_with(root) == {2}
    assert "production stays version 2: version 1 fails its gate max_gap.roc_auc" in step_run(root)["reason"], step_run(root)


def test_the_plan_after_a_hand_promote_says_the_production_version_changed(tmp_path, run_cli):
    """It said "definition changed"; nothing but the version to score with had."""
    root = project(tmp_path, declaration())
    run(run_cli, root)
    set_model(root, declaration(), LOGISTIC.replace("C=1.0", "C=0.5"))
    run(run_cli, root)
    assert run_cli("models", "promote", "churn", "1", cwd=root)[0] == 0
    code, out, err = run_cli("plan", "--log-format", "json", cwd=root)
    planned = {e["step"]: e for e in map(json.loads, out.splitlines()) if e.get("event") == "plan"}
    assert code == 0 and planned["churn"]["reason"] == "production version is now 1: scored again", planned["churn"]


def test_a_challenger_that_won_but_was_not_published_is_held_then_promoted(tmp_path, run_cli, monkeypatch, capsys):
    """The challenger hold path: v2 beats v1, its publish is interrupted: v1 stays
    production, a 'hold' row keeps why v2 was chosen, the next run promotes v2."""
    from test_models import interrupted_publish

    challenger = declaration(gates="{}") + ', promote="challenger", margin=0.01'
    root = project(tmp_path, challenger + ', features=["spend"]', BLIND)
    run(run_cli, root)
    set_model(root, challenger)
    interrupted_publish(root, monkeypatch, capsys)
    assert versions(root) == [(1, "production"), (2, "candidate")] and scored_with(root) == {1}
    (held,) = [row for row in history(root) if row[2] == "hold"]
    assert held[:3] == (2, "candidate", "hold") and "promote='challenger': beat it: roc_auc" in held[4], held
    run(run_cli, root)
    assert versions(root) == [(1, "archived"), (2, "production")] and scored_with(root) == {2}
    assert "promoted (held in run 2, published now)" in step_run(root)["reason"]


def test_a_challenger_that_lost_is_not_promoted_by_a_later_run(tmp_path, run_cli):
    """v2 loses to v1 (a 'challenge' row says so). New scoring rows run the step again with
    v2's fingerprint unchanged: v2 used to be promoted then, 'its fingerprint declared again'."""
    from test_models import add_prospects

    challenger = declaration(gates="{}") + ', promote="challenger", margin=0.01'
    root = project(tmp_path, challenger)
    run(run_cli, root)
    set_model(root, challenger + ', features=["spend"]', BLIND)
    run(run_cli, root)
    assert versions(root) == [(1, "production"), (2, "candidate")]
    (declined,) = [row for row in history(root) if row[2] == "challenge"]
    assert declined[0] == 2 and declined[4].startswith("not promoted: roc_auc"), declined
    add_prospects(root, 100, 110)
    run(run_cli, root)
    assert versions(root) == [(1, "production"), (2, "candidate")] and scored_with(root) == {1}
    reason = step_run(root)["reason"]
    assert reason.startswith("reused version 2") and "production stays version 1: version 2 not promoted: roc_auc" in reason, reason

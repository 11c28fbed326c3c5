"""What a change of each @model keyword makes the next run do: retrain, re-score, or
nothing (README, "Models"). Adding description= or promote= retrained ("model code
changed"): documentation and the policy for the next version changed no row, and yet a
new version was fitted and made production. Reverting the model file to the code
production was trained from planned "model file changed, not what it trains"."""

from __future__ import annotations

import inspect

import pytest

from _projects import write_files
from models_env_support import FILES, churn_project, churn_step, production, scored_with
from toolkit import models as models_module
from toolkit.models import discover_models

pytestmark = pytest.mark.slow  # model runs in subprocesses

MODEL = """\
from sklearn.linear_model import LogisticRegression
from toolkit import model


@model(training="tr", label="label", key="id", scoring_table="sc", metrics=["accuracy"]{extra})
def churn():
    return LogisticRegression(C={c})
"""
TRAINING_410 = FILES["features/tr.sql"].replace("400)", "410)")

# keyword -> (a value other than the default, as written in @model, and what changing it does)
TABLE = {
    "training": ('"tr2"', "retrain"), "label": ('"label2"', "retrain"), "key": ('["id", "x"]', "retrain"),
    "features": ('["x"]', "retrain"), "exclude": ('["x"]', "retrain"), "split": ('"time", split_column="x"', "retrain"),
    "split_column": ('"x", split="group"', "retrain"), "test_fraction": ("0.3", "retrain"), "seed": ("1", "retrain"),
    "metrics": ('["roc_auc"]', "retrain"), "gates": ('{"accuracy": 0.5}', "retrain"), "sample": ("0.5", "retrain"),
    "segments": ('["x"]', "retrain"), "as_of": ('"x", feature_times=["x"]', "retrain"),
    "feature_times": ('["x"], as_of="x"', "retrain"),
    "scoring": ('"python"', "re-score"), "scoring_table": ('"tr"', "re-score"), "monitors": ('{"psi": 0.5}', "re-score"),
    "outcomes": ('"tr"', "re-score"),
    "promote": ('"manual"', "nothing"), "margin": ('0.1, promote="challenger"', "nothing"),
    "description": ('"Who leaves next month"', "nothing"), "meta": ('{"owner": "ana"}', "nothing"),
    "allow_tags": ('["pii"]', "nothing"),
}


DECLARED = {"training": '"tr"', "label": '"label"', "key": '"id"', "scoring_table": '"sc"', "metrics": '["accuracy"]'}


def _spec(root, extra: str = "", c: str = "1.0", **changed: str):
    """The spec of MODEL with `extra` keywords and `changed` ones written instead of its own."""
    keywords = ", ".join(f"{k}={v}" for k, v in {**DECLARED, **changed}.items())
    text = MODEL.format(extra=extra, c=c).replace(", ".join(f"{k}={v}" for k, v in DECLARED.items()), keywords)
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "models" / "churn.py").write_text(text)
    return discover_models(root)["churn"]


def _what_changes(before, after) -> str:
    if before.declaration_hash("training") != after.declaration_hash("training"):
        return "retrain"
    return "re-score" if before.declaration_hash("content") != after.declaration_hash("content") else "nothing"


def test_every_model_keyword_is_classified_and_its_change_does_what_the_table_says(tmp_path):
    """Every keyword of @model is in the table (a new one must be classified), and changing
    it alone moves the training fingerprint (retrain), only the step's content (re-score),
    or neither (nothing). A comment or a new layout changes nothing either."""
    declared = set(inspect.signature(models_module.model).parameters)
    assert declared == set(TABLE), declared ^ set(TABLE)
    base = _spec(tmp_path / "base")
    found = {keyword: _what_changes(base, _spec(tmp_path / keyword, **{keyword: value})) for keyword, (value, _) in TABLE.items()}
    assert found == {keyword: does for keyword, (_, does) in TABLE.items()}, found
    assert _what_changes(base, _spec(tmp_path / "code", c="0.5")) == "retrain"
    commented = tmp_path / "commented" / "models"
    commented.mkdir(parents=True)
    (commented / "churn.py").write_text("# churn: who leaves\n" + MODEL.format(extra="", c="1.0").replace("key=", "\n       key="))
    assert _what_changes(base, discover_models(commented.parent)["churn"]) == "nothing"
    described = _spec(tmp_path / "described", ', description="first", promote="manual"')
    redescribed = _spec(tmp_path / "redescribed", ', description="second", promote="auto"')
    assert _what_changes(described, redescribed) == "nothing"


@pytest.fixture(params=["duckdb"])
def project(request, tmp_path, run_cli):
    return churn_project(request, tmp_path, run_cli, {**FILES, "models/churn.py": MODEL.format(extra="", c="1.0")})


def churn_line(toolkit) -> str:
    return next(line for line in toolkit("plan").splitlines() if line.startswith("churn "))


def versions(read) -> int:
    return read("select count(*) from toolkit.model_versions where model = 'churn'")[0][0]


def churn_ran(read) -> bool:
    """Whether the latest run trained or scored churn (toolkit.step_runs: not a reuse)."""
    return churn_step(read)[0] not in ("reuse",)


def test_a_new_description_and_meta_retrain_nothing_and_the_docs_show_them(project, tmp_path):
    root, read, toolkit = project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(extra=', description="Who leaves next month", meta={"owner": "ana"}', c="1.0")})
    line = churn_line(toolkit)
    assert "reuse" in line and "train" not in line, line
    toolkit("run")
    assert not churn_ran(read) and versions(read) == 1 and production(read) == [(1,)]
    toolkit("docs", "--out", str(tmp_path / "site"))
    assert any("Who leaves next month" in page.read_text(errors="replace") for page in (tmp_path / "site").rglob("*") if page.is_file())


def test_a_new_promote_policy_retrains_nothing_and_applies_to_the_next_version_trained(project):
    root, read, toolkit = project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(extra=', promote="manual"', c="1.0")})
    line = churn_line(toolkit)
    assert "reuse" in line and "train" not in line, line
    toolkit("run")
    assert not churn_ran(read) and versions(read) == 1 and production(read) == [(1,)]

    write_files(root, {"features/tr.sql": TRAINING_410})  # the next version trained waits for approval
    assert "train a new version (training data (tr) changed)" in churn_line(toolkit)
    toolkit("run")
    assert churn_step(read)[0] == "train" and versions(read) == 2
    assert production(read) == [(1,)] and scored_with(read, "predictions.churn") == [(1,)]


def test_a_new_monitor_re_scores_with_the_production_version_and_says_why(project):
    root, read, toolkit = project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(extra=', monitors={"psi": 0.5}', c="1.0")})
    line = churn_line(toolkit)
    assert ("re-score with registered version 1, no training "
            "(scoring, scoring_table, monitors or outcomes changed, not what the model trains)") in line, line
    toolkit("run")
    assert churn_step(read)[0] == "score" and versions(read) == 1


def test_reverting_the_model_file_to_production_s_code_plans_a_re_score_with_that_version(project):
    """promote="manual": version 2 waits, version 1 scores; the file goes back to version 1's code."""
    root, read, toolkit = project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(extra=', promote="manual"', c="0.5")})
    toolkit("run")
    assert versions(read) == 2 and production(read) == [(1,)]

    write_files(root, {"models/churn.py": MODEL.format(extra=', promote="manual"', c="1.0")})
    line = churn_line(toolkit)
    assert "re-score with registered version 1, no training (model code back to version 1's)" in line, line
    toolkit("run")
    assert churn_step(read)[0] == "score" and versions(read) == 2 and production(read) == [(1,)]


def test_a_candidate_waiting_for_approval_stays_one_when_promote_becomes_auto(project):
    """promote="manual": version 2 waits. promote="auto" changes nothing, and a later re-score
    (a new scoring table) finds version 2 by its fingerprint: it is no more production than
    before (it was not the next version trained), and the plan and run record say why."""
    root, read, toolkit = project
    toolkit("run")
    write_files(root, {"models/churn.py": MODEL.format(extra=', promote="manual"', c="0.5")})
    toolkit("run")
    assert versions(read) == 2 and production(read) == [(1,)]
    write_files(root, {"models/churn.py": MODEL.format(extra="", c="0.5"),
                       "features/sc.sql": "select n as id, n / 10.0 as x from generate_series(1, 12) as t(n)\n"})
    line = churn_line(toolkit)
    assert ("re-score with registered version 1, no training (scoring table changed: sc; version 2 has its training "
            "fingerprint, but production stays version 1: version 2 waits for approval (promote='manual')") in line, line
    toolkit("run")
    action, reason = churn_step(read)
    assert action == "score" and "version 2 waits for approval" in reason, reason
    assert versions(read) == 2 and production(read) == [(1,)] and scored_with(read, "predictions.churn") == [(1,)]

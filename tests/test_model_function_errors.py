"""What a model function raises, and what a model outputs that is no prediction.

A tester found three things, each through `toolkit run` on a real warehouse:

- `sys.exit()` or `raise KeyboardInterrupt` in a @model function's body (not at import)
  crashed the run with "internal error: KeyError: 'm'" (execute._collect), exit 1, and
  left the run record 'running'. It is a mistake in the project found while running:
  the step fails at its line, exit 2, the run is recorded failed, nothing of the model
  is published. os._exit() there too. A real Ctrl-C while the function runs (at import,
  on the main thread) still aborts the command: exit 130.
- Any other exception in the function was "models/m.py: name 'x' is not defined", exit 1:
  now `models/m.py:LINE: model m: NameError: ...`, exit 2, like an import's.
- A model outputting NaN for some rows (inverse_func=np.sqrt of a negative) published
  them, exit 0. Now the step fails counting them, in Python and in SQL (an overflow,
  3 * 1e308, is infinity in both), and the earlier predictions stay.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DEFAULT_CONFIG, write_files
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)
from test_models import LOGISTIC, SCORING_SQL, build, exists, model_file, project_files, query, run, step_run

pytestmark = pytest.mark.slow


def _with_statement(statement: str) -> str:
    """models/churn.py whose function runs `statement` before it returns the estimator."""
    return model_file().replace(f"    return {LOGISTIC}", f"    {statement}\n    return {LOGISTIC}")


def _line(source: str, statement: str) -> int:
    return source.splitlines().index(f"    {statement}") + 1


# -- the model function raises -----------------------------------------------------------


@pytest.mark.parametrize("statement, named", [
    ("import sys; sys.exit(0)", "SystemExit: 0"),
    ("raise SystemExit('bye')", "SystemExit: bye"),
    ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    ("import os; os._exit(3)", "ProcessExitCalled: os._exit(3) called"),
    ("x = undefined_name", "NameError: name 'undefined_name' is not defined"),
])
def test_what_a_model_function_raises_fails_the_step_at_its_line_exit_2(tmp_path, run_cli, statement, named):
    source = _with_statement(statement)
    root = build(tmp_path / "p", project_files(**{"models/churn.py": source}))
    text = run(run_cli, root, 2)  # no traceback, no "internal error"
    assert f"models/churn.py:{_line(source, statement)}: model churn: {named}" in text, text
    assert query(root, "select status from toolkit.runs") == [("failed",)]  # recorded finished, not left 'running'
    assert step_run(root)["status"] == "failed"
    assert query(root, "select step, status from toolkit.step_runs where step <> 'churn' order by step") == [
        ("scoring", "success"), ("training", "success")]
    assert not exists(root, "predictions", "churn")
    assert query(root, "select count(*) from toolkit.model_versions") == [(0,)]


def test_sys_exit_after_a_good_run_keeps_its_predictions_and_the_next_run_goes_on(tmp_path, run_cli):
    """The tester's case: the function and the scoring step change in one run."""
    root = build(tmp_path / "p", project_files())
    run(run_cli, root)
    before = query(root, "select customer_id, prediction, run_id from predictions.churn order by 1")
    source = _with_statement("import sys; sys.exit(0)")
    write_files(root, {"models/churn.py": source, "features/scoring.sql": SCORING_SQL.replace("spend ", "spend + 1 as spend ", 1)})
    text = run(run_cli, root, 2)
    assert f"models/churn.py:{_line(source, 'import sys; sys.exit(0)')}: model churn: SystemExit: 0" in text, text
    assert query(root, "select customer_id, prediction, run_id from predictions.churn order by 1") == before
    write_files(root, {"models/churn.py": model_file()})
    run(run_cli, root)
    assert query(root, "select status from toolkit.runs order by run_id") == [("success",), ("failed",), ("success",)]


@pytest.mark.parametrize("ends, named", [
    ("sys.exit(4)", "SystemExit: 4"),
    # any BaseException, not only the two Python raises for an exit or Ctrl-C
    ("raise GeneratorExit('closed')", "GeneratorExit: closed"),
])
def test_sys_exit_in_an_estimators_fit_fails_the_step_not_the_run(tmp_path, run_cli, ends, named):
    """Not the model function: scikit-learn code it returned. A fit that raises fails the
    step (exit 1); one that calls sys.exit() did the same thing to the run as above."""
    quitter = f"\nimport sys\n\n\nclass Quitter(LogisticRegression):\n    def fit(self, X, y):\n        {ends}\n"
    root = build(tmp_path / "p", project_files(**{"models/churn.py": model_file(body="Quitter()", extra=quitter)}))
    text = run(run_cli, root, 1)
    assert f"models/churn.py: {named} raised while the step ran (project code must not end the run)" in text, text
    assert query(root, "select status from toolkit.runs") == [("failed",)]
    assert not exists(root, "predictions", "churn")


SLEEPS_ON_THE_MAIN_THREAD = """\
import threading
import time
from pathlib import Path

from sklearn.linear_model import LogisticRegression
from toolkit import model


@model(training="training", label="churned", key="customer_id", scoring_table="scoring",
       features=["tenure", "spend"], metrics=["roc_auc"])
def churn():
    if threading.current_thread() is threading.main_thread():  # at import (its parameters' hash), not when it trains
        Path("sleeping").touch()
        time.sleep(120)
    return LogisticRegression()
"""


def test_a_real_ctrl_c_while_the_model_function_runs_aborts_the_command(tmp_path):
    """The function's own KeyboardInterrupt is the project's mistake; the user's Ctrl-C is
    not: it was taken for the function's (its parameters unavailable) and the run went on."""
    root = build(tmp_path / "p", project_files(**{"models/churn.py": SLEEPS_ON_THE_MAIN_THREAD}))
    process = subprocess.Popen([sys.executable, "-m", "toolkit", "run"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not (root / "sleeping").exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (root / "sleeping").exists(), process.communicate()[0] if process.poll() is not None else "never called"
        process.send_signal(signal.SIGINT)
        printed, _ = process.communicate(timeout=60)  # not after the 120 s sleep: the function is not called again
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, printed
    assert printed.rstrip().endswith("aborted") and "Traceback" not in printed, printed
    assert not exists(root, "predictions", "churn")


# -- predictions that are NaN or infinite --------------------------------------------------

TRUSTED = 'trusted_types = ["numpy.sqrt", "numpy.square", "sklearn.compose._target.TransformedTargetRegressor"]\n'
TRAIN_CSV = "id,x,y\n" + "".join(f"{i},{i / 10},{3 * i / 10 + 100}\n" for i in range(100))


def _score_csv(odd: float | None = None, count: int = 0) -> str:
    """10 rows to score; the first `count` have x = `odd`."""
    return "id,x\n" + "".join(f"{1000 + i},{odd if i < count else i / 2}\n" for i in range(10))


def _regressor(body: str, scoring: str) -> str:
    return (f"import numpy as np\nfrom sklearn.compose import TransformedTargetRegressor\nfrom sklearn.linear_model import LinearRegression\n"
            f"from toolkit import model\n\n\n@model(training=\"training\", label=\"y\", key=\"id\", scoring_table=\"scoring\", "
            f"features=[\"x\"], metrics=[\"r2\"], scoring=\"{scoring}\")\ndef m():\n    return {body}\n")


SQRT = "TransformedTargetRegressor(regressor=LinearRegression(), func=np.square, inverse_func=np.sqrt, check_inverse=False)"


def _seeded(root: Path, config: str, body: str, scoring: str, score_csv: str) -> Path:
    root.mkdir(parents=True)
    write_files(root, {
        "toolkit.toml": TRUSTED + config,
        "warehouse/seeds/train.csv": TRAIN_CSV,
        "warehouse/seeds/score.csv": score_csv,
        "features/training.sql": 'select id, x, y from {{ ref("train") }}\n',
        "features/scoring.sql": 'select id, x from {{ ref("score") }}\n',
        "models/m.py": _regressor(body, scoring),
    })
    return root


def test_nan_predictions_fail_the_step_and_the_earlier_predictions_stay(tmp_path, run_cli):
    """The tester's model: the square root of a negative prediction of y squared."""
    root = _seeded(tmp_path / "p", DEFAULT_CONFIG, SQRT, "python", _score_csv())
    run(run_cli, root)
    before = query(root, "select id, prediction from predictions.m order by id")
    assert len(before) == 10
    write_files(root, {"warehouse/seeds/score.csv": _score_csv(-1000.0, 3)})
    text = run(run_cli, root, 1)
    assert ("model m could not score features.scoring: it output NaN or infinity for 3 of 10 row(s) (prediction: 3); "
            "none of them is published (earlier predictions, if any, stay)") in text, text
    assert query(root, "select id, prediction from predictions.m order by id") == before
    assert query(root, "select count(*) from predictions.m_history where isnan(prediction)") == [(0,)]
    details = json.loads(step_run(root, "m")["details"])
    assert details["non_finite"] == {"prediction": 3} and details["scored_in"] == "python"
    assert query(root, "select status from toolkit.runs order by run_id") == [("success",), ("failed",)]


@pytest.mark.parametrize("scoring", ["sql", "python"])
def test_infinite_predictions_fail_the_step_in_sql_and_in_python(tmp_path, run_cli, scoring):
    """A LinearRegression the compiler takes: its input is finite (nothing to refuse), its
    output overflows (3 * 1e308), in the warehouse as in numpy."""
    root = _seeded(tmp_path / "p", DEFAULT_CONFIG, "LinearRegression()", scoring, _score_csv(1e308, 2))
    text = run(run_cli, root, 1)
    assert "model m could not score features.scoring: it output NaN or infinity for 2 of 10 row(s) (prediction: 2)" in text, text
    assert not exists(root, "predictions", "m")
    details = json.loads(step_run(root, "m")["details"])
    assert details["non_finite"] == {"prediction": 2} and details["scored_in"] == scoring
    physical = query(root, "select table_name from information_schema.tables where table_schema = 'toolkit_physical'")
    assert not [name for (name,) in physical if name.startswith("m__")], physical


def test_infinite_predictions_scored_in_sql_on_postgres(tmp_path, run_cli, pg_url):  # noqa: F811 (fixture)
    """The count's SQL on another engine: NaN and infinity compared as values."""
    config = 'name = "t"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "${PG_URL}"\n'
    root = _seeded(tmp_path / "p", config, "LinearRegression()", "sql", _score_csv(1e308, 2))
    code, out, err = run_cli("run", cwd=root, env={"PG_URL": pg_url})
    assert code == 1, out + err
    assert "it output NaN or infinity for 2 of 10 row(s) (prediction: 2)" in out + err, out + err
    assert pg_query(pg_url, "select count(*) from information_schema.tables where table_schema = 'predictions'") == [(0,)]
    [(details,)] = pg_query(pg_url, "select details from toolkit.step_runs where step = 'm'")
    assert json.loads(details)["scored_in"] == "sql"


def test_finite_predictions_in_sql_are_published(tmp_path, run_cli):
    """The count runs on every SQL scoring: with nothing to find, nothing changes."""
    root = _seeded(tmp_path / "p", DEFAULT_CONFIG, "LinearRegression()", "sql", _score_csv())
    run(run_cli, root)
    assert query(root, "select count(*), count(*) filter (where isfinite(prediction)) from predictions.m") == [(10, 10)]
    assert "non_finite" not in json.loads(step_run(root, "m")["details"])


@pytest.mark.parametrize("key", ["1", "''", "None"])
def test_a_candidate_name_that_is_not_text_is_exit_2(tmp_path, run_cli, key):
    """Tester L: `return {1: est}` was accepted (the name is recorded with the version)."""
    root = build(tmp_path / "p", project_files(**{"models/churn.py": model_file(body=f"{{{key}: LogisticRegression()}}")}))
    text = run(run_cli, root, 2)
    assert "models/churn.py:" in text and f"returned a dict with the key {eval(key)!r}: candidate names must be non-empty text" in text, text
    assert query(root, "select count(*) from toolkit.model_versions") == [(0,)]

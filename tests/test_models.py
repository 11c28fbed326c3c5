"""Model steps end to end, on real DuckDB: `toolkit run` in a subprocess, then SQL
on the DuckDB file (opened read-only, after the run) to check the predictions, the
registry (toolkit.model_versions) and the run records (toolkit.step_runs).

Projects are small: 300 generated customers in raw.customers (training) and 100
prospects in raw.prospects (scoring), one feature step per table, fast estimators.
Each `toolkit run` costs a few seconds (the subprocess imports scikit-learn), so
projects that several tests read are built once per module and copied (DuckDB file
included) by the tests that change them. The last test runs the repository's own
demo project (~20-30 s).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from conftest import DEFAULT_CONFIG, create_tables, database_path, write_files

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

REPO = Path(__file__).resolve().parent.parent

SOURCES = """\
[raw]
schema = "raw"

[raw.tables.customers]
columns = { customer_id = "bigint", segment = "varchar", tenure = "integer", spend = "double", churned = "integer", future_spend = "double" }

[raw.tables.prospects]
columns = { customer_id = "bigint", segment = "varchar", tenure = "integer", spend = "double" }
"""

CUSTOMERS_SQL = 'from {{ source("raw", "customers") }}'
PROSPECTS_SQL = 'from {{ source("raw", "prospects") }}'
TRAINING_SQL = f"select customer_id, segment, tenure, spend, churned {CUSTOMERS_SQL}\n"
SPEND_TRAINING_SQL = f"select customer_id, segment, tenure, spend, future_spend {CUSTOMERS_SQL}\n"
SCORING_SQL = f"select customer_id, segment, tenure, spend {PROSPECTS_SQL}\n"

# 300 labeled customers (100 churned, mostly those with a short tenure), 100 prospects.
CUSTOMERS = """
select i::bigint as customer_id,
       ['a', 'b', 'c'][1 + i % 3] as segment,
       (i * 7 % 60)::integer as tenure,
       round((i * 37 % 1000) / 10.0, 2)::double as spend,
       (case when (i * 7 % 60) < 20 and (i * 13 % 10) < 8 then 1 when (i * 13 % 10) < 1 then 1 else 0 end)::integer as churned,
       round(3 * (i * 7 % 60) + 0.5 * ((i * 37 % 1000) / 10.0) + (i * 17 % 11), 2)::double as future_spend
from range({start}, {stop}) t(i)
"""
PROSPECTS = """
select (100000 + i)::bigint as customer_id,
       ['a', 'b', 'c'][1 + i % 3] as segment,
       (i * 11 % 60)::integer as tenure,
       round((i * 29 % 1000) / 10.0, 2)::double as spend
from range({start}, {stop}) t(i)
"""

IMPORTS = """\
import numpy as np
from sklearn.compose import make_column_transformer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from toolkit import model
"""

ENCODE = 'make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["segment"]), remainder=StandardScaler())'
LOGISTIC = f"make_pipeline({ENCODE}, LogisticRegression(C=1.0, max_iter=500))"
RIDGE = f"make_pipeline({ENCODE}, Ridge(alpha=1.0))"


def declaration(training: str = "training", scoring: str = "scoring", label: str = "churned",
                metrics: str = '["roc_auc", "accuracy"]', gates: str = '{"roc_auc": 0.6}') -> str:
    return (
        f'training="{training}", label="{label}", key="customer_id", scoring_table="{scoring}", '
        f"metrics={metrics}, gates={gates}"
    )


def model_file(name: str = "churn", declared: str | None = None, body: str = LOGISTIC, extra: str = "") -> str:
    """A models/*.py file: imports, `extra` module code, one @model function named `name`."""
    return f"{IMPORTS}{extra}\n\n@model({declared or declaration()})\ndef {name}():\n    return {body}\n"


def project_files(**changes: str | None) -> dict[str, str]:
    """The base project (model churn); `changes` maps paths to new text, or None to drop."""
    files = {
        "toolkit.toml": DEFAULT_CONFIG,
        "warehouse/sources.toml": SOURCES,
        "features/training.sql": TRAINING_SQL,
        "features/scoring.sql": SCORING_SQL,
        "models/churn.py": model_file(),
    }
    for path, text in changes.items():
        if text is None:
            files.pop(path, None)
        else:
            files[path] = text
    return files


def source_rows(customers: str | None = None, prospects: str | None = None) -> dict[str, str]:
    return {
        "raw.customers": customers or CUSTOMERS.format(start=0, stop=300),
        "raw.prospects": prospects or PROSPECTS.format(start=0, stop=100),
    }


# -- helpers ---------------------------------------------------------------------------


def build(root: Path, files: dict[str, str], rows: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True)
    write_files(root, files)
    create_tables(database_path(root), rows or source_rows())
    return root


def query(root: Path, sql: str, params=None) -> list[tuple]:
    """Rows of `sql` on the project's DuckDB file, opened read-only and closed again."""
    with duckdb.connect(str(database_path(root)), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def scalar(root: Path, sql: str, params=None):
    return query(root, sql, params)[0][0]


def arrow(root: Path, sql: str) -> pa.Table:
    with duckdb.connect(str(database_path(root)), read_only=True) as con:
        return con.execute(sql).to_arrow_table()


def execute(root: Path, sql: str, params=None) -> None:
    """Change the warehouse between runs (read-write, closed before the next run)."""
    with duckdb.connect(str(database_path(root))) as con:
        con.execute(sql, params or [])


def exists(root: Path, schema: str, name: str) -> bool:
    sql = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return bool(scalar(root, sql, [schema, name]))


def run(run_cli, root: Path, expect: int = 0, *args: str) -> str:
    """`toolkit run`; asserts the exit code and that no traceback leaked; stdout + stderr."""
    code, out, err = run_cli("run", *args, cwd=root)
    text = out + err
    assert code == expect, f"exit {code}, expected {expect}:\n{text}"
    assert "Traceback" not in text and "internal error" not in text, text
    return text


def step_run(root: Path, step: str = "churn", run_id: int | None = None) -> dict:
    """The step's toolkit.step_runs row in `run_id` (default: the last run)."""
    run_id = run_id or last_run(root)
    names = ["action", "reason", "status", "error", "rows_written", "details"]
    sql = f"select {', '.join(names)} from toolkit.step_runs where run_id = ? and step = ?"
    found = query(root, sql, [run_id, step])
    assert len(found) == 1, found
    return dict(zip(names, found[0]))


def versions(root: Path, model: str = "churn") -> list[tuple]:
    """(version, status) of every registered version of `model`, in order."""
    if not exists(root, "toolkit", "model_versions"):
        return []
    return query(root, "select version, status from toolkit.model_versions where model = ? order by version", [model])


def last_run(root: Path) -> int:
    return scalar(root, "select max(run_id) from toolkit.runs")


def decorator_line(root: Path, relative: str = "models/churn.py") -> int:
    """The line of `@model(` in a model file: where errors about the declaration point."""
    lines = (root / relative).read_text().splitlines()
    return next(n for n, line in enumerate(lines, start=1) if line.startswith("@model"))


def edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text, (old, text)
    path.write_text(text.replace(old, new))


def add_prospects(root: Path, start: int, stop: int) -> None:
    execute(root, "insert into raw.prospects " + PROSPECTS.format(start=start, stop=stop))


def split_like_toolkit(data: pa.Table, label: str):
    """(train, test) indices from toolkit.training.split for the models' declared split
    (random, seed 0, test_fraction 0.2) on the same Arrow table."""
    from toolkit.models import ModelSpec
    from toolkit.training import split

    spec = ModelSpec(name="m", build=lambda: None, training="training", label=label, key=["customer_id"])
    return split(data, spec)


# -- the trained project, built once ---------------------------------------------------

# Three models in one project, one run: churn (classifier), spend (regressor),
# best_of_two (two candidates, the better declared second).
BEST_OF_TWO = f"""{{
        "constant": DummyClassifier(strategy="prior"),
        "logistic": {LOGISTIC},
    }}"""
TRAINED_FILES = project_files(**{
    "features/spend_training.sql": SPEND_TRAINING_SQL,
    "models/spend.py": model_file(
        "spend",
        declaration("spend_training", label="future_spend", metrics='["r2", "neg_mean_absolute_error"]', gates='{"r2": 0.5}'),
        RIDGE,
    ),
    "models/best_of_two.py": model_file("best_of_two", body=BEST_OF_TWO),
})


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory, run_cli) -> Path:
    """The trained project after its first run. Read it; copy it (`trained`) to change it."""
    root = build(tmp_path_factory.mktemp("trained") / "project", TRAINED_FILES)
    run(run_cli, root)
    return root


@pytest.fixture
def trained(trained_once, tmp_path) -> Path:
    """A private copy of the trained project, DuckDB file and all: the state after run 1."""
    return Path(shutil.copytree(trained_once, tmp_path / "trained"))


# -- 1. end to end ---------------------------------------------------------------------


def test_history_takes_each_runs_rows_by_column_name(tmp_path, run_cli):
    """A key renamed after the history was made: the rows were appended by position, the
    new key's values under prediction, the labels under proba_0 (or a Conversion Error).
    Now by name; a column the history lacks is added (NULL for earlier runs)."""
    root = build(tmp_path / "p", project_files())
    run(run_cli, root)
    renamed = {"features/training.sql": TRAINING_SQL.replace("customer_id,", "customer_id as cid,", 1),
               "features/scoring.sql": SCORING_SQL.replace("customer_id,", "customer_id as cid,", 1),
               "models/churn.py": model_file(declared=declaration().replace('key="customer_id"', 'key="cid"'))}
    write_files(root, renamed)
    run(run_cli, root)
    assert query(root, "select run_id, count(customer_id), count(cid), count(*) from predictions.churn_history group by 1 order by 1") == [
        (1, 100, 0, 100), (2, 0, 100, 100)]
    assert query(root, "select count(*) from predictions.churn_history h join predictions.churn p using (cid, prediction, proba_1) "
                       "where h.run_id = 2") == [(100,)]


def test_a_prediction_type_change_fails_the_publish_naming_the_column_and_what_to_do(trained, run_cli):
    """Labels 0/1 (prediction INTEGER in the history), then 'no'/'yes' (VARCHAR): not the
    engine's Conversion Error but the model, the column, both types and the fix; nothing
    published before changes; the widening the message gives makes the next run work."""
    root = trained
    before = query(root, "select * from predictions.churn order by customer_id")
    history = query(root, "select * from predictions.churn_history order by customer_id")
    labels = "case when churned = 1 then 'yes' else 'no' end as churned"
    write_files(root, {"features/training.sql": TRAINING_SQL.replace("churned", labels)})
    text = run(run_cli, root, 1)
    assert "Conversion Error" not in text, text
    message = step_run(root)["error"]
    assert "model churn: column prediction of predictions.churn_history is INTEGER" in message, message
    assert "make it VARCHAR" in message and "ALTER TABLE predictions.churn_history ALTER COLUMN prediction TYPE VARCHAR" in message
    assert query(root, "select * from predictions.churn order by customer_id") == before
    assert query(root, "select * from predictions.churn_history order by customer_id") == history
    assert versions(root) == [(1, "production"), (2, "candidate")]

    for model in ("churn", "best_of_two"):  # best_of_two trains on the same table
        execute(root, f"ALTER TABLE predictions.{model}_history ALTER COLUMN prediction TYPE VARCHAR")
    run(run_cli, root)
    assert query(root, "select run_id, min(prediction), count(*) from predictions.churn_history group by 1 order by 1") == [
        (1, "0", 100), (3, "no", 100)]
    assert versions(root) == [(1, "archived"), (2, "production")]


def test_end_to_end_predictions_registry_run_records_and_history(trained, run_cli):
    root = trained
    assert last_run(root) == 1

    # predictions.churn: key, prediction, one probability per class, lineage columns
    columns = [(name, kind) for name, kind, *_ in query(root, "describe predictions.churn")]
    assert columns == [
        ("customer_id", "BIGINT"), ("prediction", "INTEGER"), ("proba_0", "DOUBLE"), ("proba_1", "DOUBLE"),
        ("model_version", "BIGINT"), ("scored_at", "TIMESTAMP"), ("run_id", "BIGINT"),
    ]
    assert scalar(root, "select count(*) from predictions.churn") == 100
    assert scalar(root, "select count(distinct customer_id) from predictions.churn") == 100
    assert scalar(root, """
        select count(*) from raw.prospects p full join predictions.churn c using (customer_id)
        where p.customer_id is null or c.customer_id is null""") == 0  # every scoring row, once
    assert scalar(root, """
        select count(*) from predictions.churn
        where prediction is null or prediction not in (0, 1) or proba_0 is null or proba_1 is null
           or abs(proba_0 + proba_1 - 1) > 1e-9 or prediction <> (proba_1 > proba_0)::integer""") == 0
    assert query(root, "select distinct model_version, run_id from predictions.churn") == [(1, 1)]
    assert scalar(root, "select count(distinct scored_at) from predictions.churn where scored_at is not null") == 1
    assert scalar(root, "select count(distinct prediction) from predictions.churn") == 2  # it learned something

    # the registry: version 1, production, metrics, params, features, sha256, library versions
    (row,) = query(root, """
        select version, status, metrics, params, features, training_table, run_id, candidate,
               artifact_sha256, sha256(artifact), artifact_size, octet_length(artifact),
               python_version, sklearn_version, numpy_version, skops_version, fingerprint
        from toolkit.model_versions where model = 'churn'""")
    (version, status, metrics, params, features, training_table, registered_in, candidate, sha, actual_sha, size,
     actual_size, python_version, sklearn_version, numpy_version, skops_version, fingerprint) = row
    assert (version, status, training_table, registered_in, candidate) == (1, "production", "training", 1, "Pipeline")
    metrics = json.loads(metrics)
    assert set(metrics) == {"roc_auc", "accuracy"}
    assert 0.6 <= metrics["roc_auc"] <= 1 and 0 <= metrics["accuracy"] <= 1
    params = json.loads(params)
    assert params["logisticregression__C"] == 1.0 and params["logisticregression__max_iter"] == 500
    features = json.loads(features)
    assert [f["name"] for f in features] == ["segment", "tenure", "spend"]
    assert features[0]["categories"] == ["a", "b", "c"]
    assert len(sha) == 64 and sha == actual_sha and size == actual_size > 0
    import numpy
    import sklearn
    import skops

    assert python_version == ".".join(map(str, sys.version_info[:3]))
    assert (sklearn_version, numpy_version, skops_version) == (sklearn.__version__, numpy.__version__, skops.__version__)
    assert len(fingerprint) == 64
    assert query(root, "select version, status, action from toolkit.model_status_history where model = 'churn' order by seq") == [
        (1, "candidate", "register"), (1, "production", "promote"),
    ]

    # the run record says it trained, and what it scored
    record = step_run(root, "churn", 1)
    assert (record["action"], record["status"], record["rows_written"]) == ("train", "success", 100)
    assert "trained version 1" in record["reason"]
    assert json.loads(record["details"])["version"] == 1

    # history: each run that scores appends its rows; earlier runs stay as they were
    assert query(root, "select run_id, model_version, count(*) from predictions.churn_history group by all") == [(1, 1, 100)]
    first = query(root, "select * from predictions.churn_history order by customer_id")
    add_prospects(root, 100, 110)
    run(run_cli, root)
    assert query(root, "select run_id, count(*) from predictions.churn_history group by 1 order by 1") == [(1, 100), (2, 110)]
    assert query(root, "select * from predictions.churn_history where run_id = 1 order by customer_id") == first
    assert query(root, "select run_id, model_version, count(*) from predictions.churn group by all") == [(2, 1, 110)]
    assert step_run(root)["rows_written"] == 110
    # an unchanged run scores nothing and appends nothing
    run(run_cli, root)
    assert step_run(root)["status"] == "reused"
    assert query(root, "select run_id, count(*) from predictions.churn_history group by 1 order by 1") == [(1, 100), (2, 110)]
    assert scalar(root, "select distinct run_id from predictions.churn") == 2


# -- 2. equal to plain scikit-learn -----------------------------------------------------


def test_classifier_metrics_and_predictions_equal_plain_sklearn(trained_once):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    root = trained_once
    data = arrow(root, "select customer_id, churned, segment, tenure, spend from raw.customers order by customer_id")
    train, test = split_like_toolkit(data, "churned")
    assert (len(train), len(test)) == (240, 60) and not set(train) & set(test)
    X = data.select(["segment", "tenure", "spend"]).to_pandas()
    y = data.column("churned").to_numpy()
    estimator = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["segment"]), remainder=StandardScaler()),
        LogisticRegression(C=1.0, max_iter=500),
    ).fit(X.iloc[train], y[train])
    expected = {
        "roc_auc": roc_auc_score(y[test], estimator.predict_proba(X.iloc[test])[:, 1]),
        "accuracy": accuracy_score(y[test], estimator.predict(X.iloc[test])),
    }
    metrics = json.loads(scalar(root, "select metrics from toolkit.model_versions where model = 'churn' and version = 1"))
    assert metrics.keys() == expected.keys()
    for name, value in expected.items():
        assert abs(metrics[name] - value) <= 1e-12, (name, metrics[name], value)

    scoring = arrow(root, "select customer_id, segment, tenure, spend from raw.prospects order by customer_id")
    got = arrow(root, "select customer_id, prediction, proba_0, proba_1 from predictions.churn order by customer_id")
    assert got.column("customer_id").to_pylist() == scoring.column("customer_id").to_pylist()
    X_score = scoring.select(["segment", "tenure", "spend"]).to_pandas()
    np.testing.assert_array_equal(got.column("prediction").to_numpy(), estimator.predict(X_score))
    proba = estimator.predict_proba(X_score)
    np.testing.assert_allclose(got.column("proba_0").to_numpy(), proba[:, 0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.column("proba_1").to_numpy(), proba[:, 1], rtol=0, atol=1e-12)


# -- 3. a regressor --------------------------------------------------------------------


def test_regressor_predicts_a_number_and_equals_plain_sklearn(trained_once):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_absolute_error, r2_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    root = trained_once
    columns = [(name, kind) for name, kind, *_ in query(root, "describe predictions.spend")]
    assert columns == [
        ("customer_id", "BIGINT"), ("prediction", "DOUBLE"),
        ("model_version", "BIGINT"), ("scored_at", "TIMESTAMP"), ("run_id", "BIGINT"),
    ]  # no proba_ columns
    assert versions(root, "spend") == [(1, "production")]
    assert step_run(root, "spend", 1)["action"] == "train"
    assert scalar(root, "select count(*) from predictions.spend where prediction is not null") == 100

    data = arrow(root, "select customer_id, future_spend, segment, tenure, spend from raw.customers order by customer_id")
    train, test = split_like_toolkit(data, "future_spend")
    X = data.select(["segment", "tenure", "spend"]).to_pandas()
    y = data.column("future_spend").to_numpy()
    estimator = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["segment"]), remainder=StandardScaler()),
        Ridge(alpha=1.0),
    ).fit(X.iloc[train], y[train])
    predicted = estimator.predict(X.iloc[test])
    metrics = json.loads(scalar(root, "select metrics from toolkit.model_versions where model = 'spend'"))
    assert abs(metrics["r2"] - r2_score(y[test], predicted)) <= 1e-12
    assert abs(metrics["neg_mean_absolute_error"] + mean_absolute_error(y[test], predicted)) <= 1e-12

    scoring = arrow(root, "select segment, tenure, spend from raw.prospects order by customer_id")
    got = arrow(root, "select prediction from predictions.spend order by customer_id").column("prediction").to_numpy()
    np.testing.assert_allclose(got, estimator.predict(scoring.to_pandas()), rtol=0, atol=1e-12)


# -- 4. reuse and retraining -----------------------------------------------------------


def test_new_hyperparameter_new_training_data_and_new_scoring_data(trained, run_cli):
    root = trained
    assert versions(root) == [(1, "production")]

    # a changed hyperparameter trains version 2, which scores
    edit(root, "models/churn.py", "LogisticRegression(C=1.0", "LogisticRegression(C=0.05")
    run(run_cli, root)
    record = step_run(root)
    assert (record["action"], record["status"]) == ("train", "success") and "trained version 2" in record["reason"]
    assert versions(root) == [(1, "archived"), (2, "production")]
    assert json.loads(scalar(root, "select params from toolkit.model_versions where model = 'churn' and version = 2"))[
        "logisticregression__C"] == 0.05
    assert query(root, "select distinct model_version, run_id from predictions.churn") == [(2, 2)]
    assert step_run(root, "spend")["action"] != "train" and versions(root, "spend") == [(1, "production")]

    # changed training data trains version 3
    execute(root, "insert into raw.customers " + CUSTOMERS.format(start=300, stop=330))
    run(run_cli, root)
    record = step_run(root)
    assert (record["action"], record["status"]) == ("train", "success") and "trained version 3" in record["reason"]
    assert versions(root) == [(1, "archived"), (2, "archived"), (3, "production")]
    prints = [scalar(root, f"select fingerprint from toolkit.model_versions where model = 'churn' and version = {v}") for v in (1, 2, 3)]
    assert len(set(prints)) == 3

    # changed scoring data only: re-scored by version 3, nothing trained
    add_prospects(root, 100, 120)
    run(run_cli, root)
    record = step_run(root)
    assert (record["action"], record["status"], record["rows_written"]) == ("score", "success", 120)
    assert "reused version 3" in record["reason"]
    assert versions(root) == [(1, "archived"), (2, "archived"), (3, "production")]
    assert query(root, "select model_version, run_id, count(*) from predictions.churn group by all") == [(3, 4, 120)]

    # unchanged: nothing runs for the model
    run(run_cli, root)
    record = step_run(root)
    assert (record["action"], record["status"], record["reason"]) == ("reuse", "reused", "unchanged")
    assert versions(root) == [(1, "archived"), (2, "archived"), (3, "production")]
    assert scalar(root, "select distinct run_id from predictions.churn") == 4


def test_an_unchanged_rerun_right_after_training_is_reused(trained, run_cli):
    run(run_cli, trained)
    record = step_run(trained)
    assert (record["action"], record["status"]) == ("reuse", "reused"), record
    assert scalar(trained, "select count(*) from predictions.churn_history") == 100


# -- 5. gates --------------------------------------------------------------------------


def test_a_regression_metric_on_a_classifier_exits_2_at_the_model_line(tmp_path, run_cli):
    files = project_files(**{"models/churn.py": model_file(declared=declaration(metrics='["r2"]', gates="{}"))})
    root = build(tmp_path / "project", files)
    text = run(run_cli, root, 2)
    line = next(n for n, text in enumerate(files["models/churn.py"].splitlines(), 1) if text.startswith("@model("))
    assert f"churn.py:{line}" in text and "metric 'r2' is a regression metric" in text, text
    assert versions(root) == []


def test_a_gate_that_cannot_pass_on_the_first_run_fails_without_predictions(tmp_path, run_cli):
    files = project_files(**{"models/churn.py": model_file(declared=declaration(gates='{"roc_auc": 0.999}'))})
    root = build(tmp_path / "project", files)
    text = run(run_cli, root, 1)
    assert "model churn" in text and "gate roc_auc" in text and "< 0.999" in text
    assert "no production version" in text
    assert not exists(root, "predictions", "churn") and not exists(root, "predictions", "churn_history")
    assert versions(root) == [(1, "candidate")]  # recorded, not promoted
    record = step_run(root)
    assert record["status"] == "failed" and "gate roc_auc" in record["error"]
    assert record["action"] == "train", record  # what it was doing, not the plan's rebuild
    assert scalar(root, "select status from toolkit.runs where run_id = 1") == "failed"


def test_a_failing_gate_keeps_production_scoring_then_promote_and_rollback(trained, run_cli):
    root = trained
    before = query(root, "select customer_id, prediction, proba_1 from predictions.churn order by customer_id")

    edit(root, "models/churn.py", '"roc_auc": 0.6', '"roc_auc": 0.999')
    add_prospects(root, 100, 105)
    run(run_cli, root)
    assert versions(root) == [(1, "production"), (2, "candidate")]
    record = step_run(root)
    assert (record["action"], record["status"]) == ("train", "success")
    assert "not promoted: gate roc_auc" in record["reason"] and "scored with production version 1" in record["reason"]
    assert query(root, "select model_version, run_id, count(*) from predictions.churn group by all") == [(1, 2, 105)]
    again = query(root, "select customer_id, prediction, proba_1 from predictions.churn where customer_id < 100100 order by 1")
    assert again == before  # the same version scored the same rows the same way
    assert query(root, "select version, status, action from toolkit.model_status_history where model = 'churn' order by seq") == [
        (1, "candidate", "register"), (1, "production", "promote"), (2, "candidate", "register"), (2, "candidate", "gate"),
    ]

    # `models list` shows every metric whole (issue 18: columns were cut to "roc_a"), and a
    # version that failed its gates as such, not as a candidate waiting for approval
    code, out, err = run_cli("models", "list", cwd=root)
    assert code == 0, out + err
    assert "roc_auc" in out and out.count("churn") >= 2
    line = next(line for line in out.splitlines() if re.match(r"churn\s+2\s", line))
    assert re.split(r"\s{2,}", line)[2] == "failed gates", out
    code, out, err = run_cli("models", "list", "--log-format", "json", cwd=root)
    assert code == 0, out + err
    listed = {e["version"]: e for e in map(json.loads, out.splitlines()) if e.get("event") == "model_version"}
    assert listed[2]["status"] == "candidate" and listed[2]["failed_gate"].startswith("roc_auc "), listed
    assert listed[1]["failed_gate"] is None

    # promote and rollback change which version scores next
    code, out, err = run_cli("models", "promote", "churn", "2", cwd=root)
    assert code == 0, out + err
    run(run_cli, root)
    assert versions(root) == [(1, "archived"), (2, "production")]
    assert query(root, "select distinct model_version, run_id from predictions.churn") == [(2, 3)]
    assert step_run(root)["action"] == "score"

    code, out, err = run_cli("models", "rollback", "churn", cwd=root)
    assert code == 0, out + err
    run(run_cli, root)
    assert versions(root) == [(1, "production"), (2, "archived")]
    assert query(root, "select distinct model_version, run_id from predictions.churn") == [(1, 4)]
    assert query(root, "select run_id, model_version from predictions.churn_history group by all order by 1") == [
        (1, 1), (2, 1), (3, 2), (4, 1),
    ]


# -- 6. candidates ---------------------------------------------------------------------


def test_the_better_of_two_candidates_is_registered(trained_once):
    root = trained_once
    ((candidate, metrics, params),) = query(
        root, "select candidate, metrics, params from toolkit.model_versions where model = 'best_of_two'"
    )
    assert candidate == "logistic"  # declared second, better by roc_auc (the first metric)
    churn = json.loads(scalar(root, "select metrics from toolkit.model_versions where model = 'churn'"))
    assert json.loads(metrics) == churn  # the same estimator on the same split as model churn
    assert json.loads(params)["logisticregression__C"] == 1.0
    assert versions(root, "best_of_two") == [(1, "production")]
    assert "logistic" in step_run(root, "best_of_two", 1)["reason"]
    assert scalar(root, "select count(*) from predictions.best_of_two") == 100


def test_every_candidate_is_recorded(trained_once):
    root = trained_once
    record = step_run(root, "best_of_two", 1)
    registered = query(root, "select metrics::varchar, params::varchar from toolkit.model_versions where model = 'best_of_two'")
    assert "constant" in json.dumps([record["reason"], record["details"], registered])


# -- 7. bad input: compile time (exit 2) -----------------------------------------------


def test_label_column_missing_names_the_model_file_and_line(tmp_path, run_cli):
    files = project_files(**{"models/churn.py": model_file(declared=declaration(label="churnd"))})
    root = build(tmp_path / "project", files)
    text = run(run_cli, root, 2)
    assert f"models/churn.py:{decorator_line(root)}: model churn: column 'churnd' is not in the training table training" in text
    assert "did you mean 'churned'" in text
    assert not exists(root, "toolkit", "runs")  # nothing ran


def test_training_table_that_is_not_a_step(tmp_path, run_cli):
    files = project_files(**{"models/churn.py": model_file(declared=declaration(training="trainig"))})
    root = build(tmp_path / "project", files)
    text = run(run_cli, root, 2)
    assert f"models/churn.py:{decorator_line(root)}: model churn: training table 'trainig' is not a step" in text
    assert "did you mean 'training'" in text
    assert not exists(root, "toolkit", "runs")


def test_python_syntax_error_in_a_model_file(tmp_path, run_cli):
    source = model_file().replace("def churn():", "def churn()")
    root = build(tmp_path / "project", project_files(**{"models/churn.py": source}))
    line = source.splitlines().index("def churn()") + 1
    text = run(run_cli, root, 2)
    assert f"models/churn.py:{line}" in text and "syntax error" in text.lower()


def test_exception_while_importing_a_model_file(tmp_path, run_cli):
    source = model_file(extra="\nTHRESHOLD = 1 / 0\n")
    root = build(tmp_path / "project", project_files(**{"models/churn.py": source}))
    line = source.splitlines().index("THRESHOLD = 1 / 0") + 1
    text = run(run_cli, root, 2)
    assert f"models/churn.py:{line}" in text and "ZeroDivisionError" in text


@pytest.mark.parametrize(
    "statement, named",
    [
        ("import sys; sys.exit(0)", "SystemExit: 0"),
        ("raise SystemExit('bye')", "SystemExit: bye"),
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
        ("raise ValueError('bad')", "ValueError: bad"),
    ],
)
def test_any_exit_or_interrupt_while_importing_a_model_file_is_exit_2(tmp_path, run_cli, statement, named):
    source = model_file(extra=f"\n{statement}\n")
    root = build(tmp_path / "project", project_files(**{"models/churn.py": source}))
    line = source.splitlines().index(statement) + 1
    text = run(run_cli, root, 2)
    assert f"models/churn.py:{line}" in text and named in text and "Traceback" not in text, text


@pytest.fixture(scope="module")
def unknown_metric(tmp_path_factory, run_cli):
    """(exit code, output, root) of a run whose model declares metrics=["roc_acu", ...]."""
    files = project_files(**{"models/churn.py": model_file(declared=declaration(metrics='["roc_acu", "accuracy"]'))})
    root = build(tmp_path_factory.mktemp("metric") / "project", files)
    code, out, err = run_cli("run", cwd=root)
    return code, out + err, root


def test_unknown_metric_name_says_did_you_mean(unknown_metric):
    code, text, root = unknown_metric
    assert code in (1, 2) and "Traceback" not in text, text
    assert "model churn: unknown metric 'roc_acu'" in text and "did you mean 'roc_auc'" in text
    assert not exists(root, "predictions", "churn") and versions(root) == []


def test_unknown_metric_name_is_a_compile_time_project_error(unknown_metric):
    code, text, root = unknown_metric
    assert code == 2, text
    assert f"models/churn.py:{decorator_line(root)}" in text
    assert not exists(root, "toolkit", "runs")


# -- 7. bad input: data found while running (exit 1) -----------------------------------

# One project, one run: each model below meets one kind of bad data; independent
# models must not stop each other (unseen_category succeeds in the same run).
CUSTOM_FUNCTION = """

def log_spend(frame):
    return np.log1p(frame)
"""
WITH_FUNCTION = (
    'make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["segment"]), '
    '(FunctionTransformer(log_spend), ["tenure", "spend"])), LogisticRegression(max_iter=500))'
)
BAD_DATA_FILES = project_files(**{
    "features/t_null_label.sql": f"select customer_id, segment, tenure, spend, null::integer as churned {CUSTOMERS_SQL}\n",
    "features/t_one_class.sql": f"select customer_id, segment, tenure, spend, 0 as churned {CUSTOMERS_SQL}\n",
    "features/t_empty.sql": f"select customer_id, segment, tenure, spend, churned {CUSTOMERS_SQL} where customer_id < 0\n",
    "features/s_null_spend.sql": f"select customer_id, segment, tenure, null::double as spend {PROSPECTS_SQL}\n",
    "features/s_new_segments.sql": (
        "select customer_id, case when customer_id % 4 = 0 then 'zz' else segment end as segment, tenure, spend "
        f"{PROSPECTS_SQL}\n"
    ),
    "models/churn.py": None,
    "models/label_all_null.py": model_file("label_all_null", declaration("t_null_label")),
    "models/one_class.py": model_file("one_class", declaration("t_one_class")),
    "models/empty_training.py": model_file("empty_training", declaration("t_empty")),
    "models/null_feature.py": model_file("null_feature", declaration(scoring="s_null_spend")),
    "models/unseen_category.py": model_file("unseen_category", declaration(scoring="s_new_segments")),
    "models/disallowed_type.py": model_file("disallowed_type", body=WITH_FUNCTION, extra=CUSTOM_FUNCTION),
})

BAD_DATA = {
    "label_all_null": ["label column 'churned' of training table", "is all NULL"],
    "one_class": ["label column 'churned' of t_one_class has one class only (0)", "needs at least 2"],
    "empty_training": ["training table", "is empty"],
    "null_feature": ["feature column 'spend' of scoring table", "entirely NULL", "cannot score it honestly"],
    "disallowed_type": ["cannot register", "allow-list", "log_spend"],  # names the type
}
REGISTERS_NOTHING = {"label_all_null", "one_class", "empty_training", "disallowed_type"}


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory, run_cli):
    """(exit code, output, root) of the one run of the bad-data project."""
    root = build(tmp_path_factory.mktemp("bad_data") / "project", BAD_DATA_FILES)
    code, out, err = run_cli("run", cwd=root)
    return code, out + err, root


@pytest.mark.parametrize("model", sorted(BAD_DATA))
def test_bad_training_or_scoring_data_fails_the_step(bad_data, model):
    code, text, root = bad_data
    assert code == 1 and "Traceback" not in text, text
    record = step_run(root, model)
    assert (record["status"], record["action"]) == ("failed", "train"), record  # not the plan's "rebuild"
    error = record["error"]
    assert error.startswith(f"models/{model}.py: model {model}"), error
    for fragment in BAD_DATA[model]:
        assert fragment in error, (fragment, error)
    assert error in text  # and the user saw it
    assert not exists(root, "predictions", model) and not exists(root, "predictions", f"{model}_history")
    if model in REGISTERS_NOTHING:
        assert versions(root, model) == []


def test_unseen_category_at_scoring_is_counted_not_an_error(bad_data):
    code, text, root = bad_data
    record = step_run(root, "unseen_category")
    assert (record["action"], record["status"], record["rows_written"]) == ("train", "success", 100), record
    assert scalar(root, "select count(*) from predictions.unseen_category") == 100
    unseen = scalar(root, "select count(*) from features.s_new_segments where segment = 'zz'")
    assert unseen == 25
    details = json.loads(record["details"])
    assert details["unseen_counts"] == {"segment": unseen}
    assert details["null_counts"] == {"segment": 0, "tenure": 0, "spend": 0}
    # scored like a row of no known segment: the one-hot columns are all zero
    assert scalar(root, """
        select count(*) from predictions.unseen_category p join features.s_new_segments s using (customer_id)
        where s.segment = 'zz' and (p.prediction is null or p.proba_1 is null)""") == 0


def test_bad_data_messages_name_the_users_tables(bad_data):
    code, text, root = bad_data
    errors = {model: step_run(root, model)["error"] for model in BAD_DATA}
    assert not [e for e in errors.values() if "toolkit_physical" in e], errors
    assert "t_null_label" in errors["label_all_null"] and "t_empty" in errors["empty_training"]
    assert "s_null_spend" in errors["null_feature"]


def test_feature_missing_at_scoring(tmp_path, run_cli):
    files = project_files(**{"features/scoring.sql": f"select customer_id, segment, tenure {PROSPECTS_SQL}\n"})
    root = build(tmp_path / "project", files)
    code, out, err = run_cli("run", cwd=root)
    text = out + err
    # the scoring step lacks a training feature: a project mistake found at compile time
    assert code == 2 and "Traceback" not in text, text
    assert "models/churn.py" in text and "model churn: feature 'spend' is not in the scoring table scoring" in text
    assert not exists(root, "predictions", "churn")


def _flip_one_byte(root: Path, model: str = "churn", version: int = 1) -> None:
    where = "where model = ? and version = ?"
    data = bytearray(scalar(root, f"select artifact from toolkit.model_versions {where}", [model, version]))
    data[len(data) // 2] ^= 0x01
    execute(root, f"update toolkit.model_versions set artifact = ? {where}", [bytes(data), model, version])


def test_tampered_artifact_is_refused_and_nothing_is_published(trained, run_cli, warehouse_snapshot):
    root = trained
    _flip_one_byte(root)
    add_prospects(root, 100, 110)  # so that the model scores again
    before = warehouse_snapshot(database_path(root))
    text = run(run_cli, root, 1)
    assert "model churn version 1: artifact sha256 mismatch" in text and "refusing to load" in text
    record = step_run(root)
    assert record["status"] == "failed" and "sha256 mismatch" in record["error"]
    assert record["action"] == "score", record  # it reused version 1 and failed loading it to score
    assert re.search(r"\bchurn\s+score\s+failed\b", text), text  # the run table too
    after = warehouse_snapshot(database_path(root))
    for name in ("predictions.churn", "predictions.churn_history"):
        assert after[name] == before[name], name
    assert versions(root) == [(1, "production")]
    # the other models were not tampered with and scored the new rows
    assert scalar(root, "select count(*) from predictions.spend") == 110


# -- 8. the example project (repository root) ------------------------------------------

# Slow: generates the demo shop (~2,000 customers) and runs every feature step and both
# models; about 20-30 s.
def test_example_project_builds_churn_and_spend(tmp_path):
    root = tmp_path / "demo"
    root.mkdir()
    for folder in ("features", "models"):
        shutil.copytree(REPO / folder, root / folder)
    shutil.copytree(REPO / "warehouse", root / "warehouse", ignore=shutil.ignore_patterns("*.duckdb", "*.duckdb.wal", "__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")

    done = subprocess.run([sys.executable, "warehouse/generate.py"], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([sys.executable, "-m", "toolkit", "run"], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr

    assert scalar(root, "select count(*) from predictions.churn") > 0
    assert query(root, "select distinct model from toolkit.model_versions order by 1") == [("churn",), ("spend",)]
    assert scalar(root, "select count(*) from predictions.spend") > 0
    assert scalar(root, "select count(*) from toolkit.model_versions where status = 'production'") == 2
    assert query(root, "select step, action from toolkit.step_runs where step in ('churn', 'spend') order by 1") == [
        ("churn", "train"), ("spend", "train"),
    ]
    columns = {name for name, *_ in query(root, "describe predictions.churn")}
    assert {"customer_id", "snapshot_date", "prediction", "model_version", "scored_at", "run_id"} <= columns
    assert any(c.startswith("proba_") for c in columns)


def test_a_no_op_run_imports_no_model_file_nor_scikit_learn(trained, run_cli):
    """The compile cache keeps model specs without their functions: a run that trains
    nothing never imports models/*.py, and so never pays for importing scikit-learn;
    a run that must train imports the file then."""
    probe = (
        "import sys; from toolkit.cli import main\n"
        "sys.argv = ['toolkit', 'run']; code = 0\n"
        "try:\n    main()\nexcept SystemExit as done:\n    code = done.code or 0\n"
        "print('IMPORTED', sorted(m for m in sys.modules if m.startswith(('sklearn', 'toolkit_models_'))), code)\n"
    )

    def imported() -> str:
        done = subprocess.run([sys.executable, "-c", probe], cwd=trained, capture_output=True, text=True, timeout=300)
        line = next(line for line in done.stdout.splitlines() if line.startswith("IMPORTED"))
        assert line.endswith(" 0"), done.stdout + done.stderr
        return line

    run(run_cli, trained)  # the cache now holds this project
    assert imported() == "IMPORTED [] 0"
    create_tables(database_path(trained), {"raw.customers": CUSTOMERS.format(start=0, stop=320)})  # new training rows
    assert "toolkit_models_churn" in imported()
    assert scalar(trained, "select max(version) from toolkit.model_versions where model = 'churn'") == 2


def test_phases_name_the_training_table_by_its_published_name(trained, run_cli):
    """features.training was shown for a training step published as marts.train_rows."""
    (trained / "features/training.sql").write_text("{{ config(schema='marts', alias='train_rows') }}\n" + TRAINING_SQL)
    code, out, err = run_cli("run", cwd=trained)
    assert code == 0, out + err
    code, out, err = run_cli("run", "--full-refresh", "--select", "churn", "--log-format", "json", cwd=trained)
    assert code == 0, out + err
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    phases = [e["phase"] for e in events if e["event"] == "step_progress" and e["step"] == "churn"]
    assert "reading marts.train_rows" in phases and "reading features.training" not in phases, phases


def test_a_training_step_reports_its_phases_and_rows_trained_apart_from_rows_scored(trained, run_cli):
    code, out, err = run_cli("run", "--full-refresh", "--select", "churn", "--log-format", "json", cwd=trained)
    assert code == 0, out + err
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    phases = [e["phase"] for e in events if e["event"] == "step_progress" and e["step"] == "churn"]
    assert phases[1:3] == ["reading features.training", "read 300 labeled rows"], phases
    assert phases[3].startswith("fitting candidate 1 of 1 (Pipeline) on 240 rows, evaluating on 60"), phases
    assert phases[-1].startswith("scoring features.scoring in the warehouse (version 2)"), phases
    # where it scores is said once scoring="auto"'s cost model confirmed it (not "in the warehouse", then "in Python")
    assert phases[-2] == "scoring features.scoring (version 2): compiling the model to SQL", phases
    seconds = [e["seconds"] for e in events if e["event"] == "step_progress"]
    assert seconds == sorted(seconds)  # elapsed time since the step started
    finished = next(e for e in events if e["event"] == "step_finished" and e["step"] == "churn")
    assert (finished["rows_written"], finished["rows_trained"]) == (100, 300)
    code, out, err = run_cli("run", "--full-refresh", "--select", "churn", cwd=trained)
    assert "100 scored, 300 trained" in out, out


def test_a_parameter_read_from_a_file_beside_the_model_retrains_when_it_changes(tmp_path, run_cli):
    """models/churn.py reads C from models/params.json: the file's bytes never change,
    the candidates' parameters do, and they decide retraining like the code."""
    reads_c = "import json, pathlib\nC = json.loads((pathlib.Path(__file__).parent / 'params.json').read_text())['C']\n"
    body = f"make_pipeline({ENCODE}, LogisticRegression(C=C, max_iter=500))"
    root = build(tmp_path / "project", project_files(**{"models/params.json": '{"C": 1.0}', "models/churn.py": model_file(body=body, extra=reads_c)}))
    run(run_cli, root)
    run(run_cli, root)  # unchanged: reused
    assert versions(root) == [(1, "production")] and step_run(root)["action"] == "reuse"
    (root / "models" / "params.json").write_text('{"C": 0.001}')
    run(run_cli, root)
    assert step_run(root)["action"] == "train" and versions(root) == [(1, "archived"), (2, "production")], versions(root)
    params = json.loads(scalar(root, "select params from toolkit.model_versions where model = 'churn' and version = 2"))
    assert params["logisticregression__C"] == 0.001, params


def test_a_version_whose_scoring_fails_is_not_promoted_and_the_next_run_scores_with_it(trained, run_cli):
    """The registry never says what did not happen: a new version that trains and passes its
    gates but cannot score the scoring table stays a candidate (production, the audit log and
    the predictions stay version 1's); the next run, with the data fixed, does not train again:
    it scores with that version and promotes it then."""
    root = trained
    before = query(root, "select * from predictions.churn order by customer_id")
    edit(root, "models/churn.py", 'handle_unknown="ignore"', 'handle_unknown="error"')
    add_prospects(root, 100, 105)
    execute(root, "update raw.prospects set segment = 'zzz' where customer_id >= 100100")

    text = run(run_cli, root, 1)
    assert "could not score" in text and "'segment'" in text and "unseen in training" in text, text
    assert versions(root) == [(1, "production"), (2, "candidate")]
    history = query(root, "select version, status, action, run_id, reason from toolkit.model_status_history "
                          "where model = 'churn' order by seq")
    assert [h[:3] for h in history if h[1] == "production"] == [(1, "production", "promote")], history
    held = history[-1]
    assert held[:4] == (2, "candidate", "hold", 2) and "could not score" in held[4], history
    promoted = query(root, "select subject from toolkit.audit_log where action = 'models promote' and subject like 'churn %'")
    assert promoted == [("churn version 1",)], promoted
    assert query(root, "select * from predictions.churn order by customer_id") == before
    record = step_run(root)
    assert record["status"] == "failed" and "unseen in training" in record["error"]
    details = json.loads(record["details"])
    assert (details["version"], details["trained"]) == (2, True), details
    assert details["unseen_counts"] == {"segment": 5}
    assert "trained version 2" in record["reason"] and "not promoted" in record["reason"], record
    code, out, err = run_cli("models", "list", cwd=root)
    assert code == 0 and re.search(r"churn\s+1\s+production", out) and re.search(r"churn\s+2\s+candidate", out), out + err

    # the same data: the same failure, no version trained again, nothing promoted
    run(run_cli, root, 1)
    assert versions(root) == [(1, "production"), (2, "candidate")]
    record = step_run(root)
    assert record["action"] == "score" and json.loads(record["details"])["version"] == 2, record

    # the data fixed: version 2 scores, and only then becomes production
    execute(root, "update raw.prospects set segment = 'a' where segment = 'zzz'")
    run(run_cli, root)
    assert versions(root) == [(1, "archived"), (2, "production")]
    assert query(root, "select distinct model_version, run_id from predictions.churn") == [(2, 4)]
    assert query(root, "select version, status, action, run_id from toolkit.model_status_history "
                       "where model = 'churn' and status = 'production' order by seq") == [(1, "production", "promote", 1),
                                                                                           (2, "production", "promote", 4)]
    record = step_run(root)
    assert (record["action"], record["status"]) == ("score", "success") and "promoted" in record["reason"], record


def test_a_version_whose_predictions_fail_to_publish_is_not_promoted(trained, run_cli, monkeypatch, capsys):
    """Production changes once the new version's predictions are published, not when they
    are built: a publish that fails leaves version 1 production (a 'hold' in the history
    names the failure), and the next run publishes version 2's predictions and promotes it."""
    import sys

    from toolkit import materialize
    from toolkit.cli import main

    root = trained
    before = query(root, "select * from predictions.churn order by customer_id")
    edit(root, "models/churn.py", "C=1.0", "C=0.5")
    publish = materialize.publish

    def failing(engine, state, batch, *args, **kwargs):
        if any(item.relation.name == "churn" for item in batch):
            raise RuntimeError("injected: the warehouse went away")
        return publish(engine, state, batch, *args, **kwargs)

    monkeypatch.setattr(materialize, "publish", failing)
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["toolkit", "run", "--select", "churn"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main()
    out = capsys.readouterr()
    assert done.value.code == 1, out
    monkeypatch.setattr(materialize, "publish", publish)
    assert versions(root) == [(1, "production"), (2, "candidate")]
    assert query(root, "select * from predictions.churn order by customer_id") == before
    (held,) = query(root, "select version, status, action, reason from toolkit.model_status_history where seq > 2 "
                          "and model = 'churn' and action <> 'register'")
    assert held[:3] == (2, "candidate", "hold") and "injected" in held[3], held
    record = step_run(root)
    assert record["status"] == "failed" and "publish failed" in record["error"], record
    assert "not promoted" in record["reason"] and json.loads(record["details"])["version"] == 2, record

    run(run_cli, root)
    assert versions(root) == [(1, "archived"), (2, "production")]
    assert query(root, "select distinct model_version from predictions.churn") == [(2,)]
    assert "promoted" in step_run(root)["reason"]


def interrupted_publish(root, monkeypatch, capsys) -> None:
    """`toolkit run --select churn` in this process, Ctrl-C arriving as churn's predictions
    are about to be published (after its version was built and scored): exit 130."""
    import sys

    from toolkit import materialize
    from toolkit.cli import main

    publish = materialize.publish

    def interrupted(engine, state, batch, *args, **kwargs):
        if any(item.relation.name == "churn" for item in batch):
            raise KeyboardInterrupt
        return publish(engine, state, batch, *args, **kwargs)

    monkeypatch.setattr(materialize, "publish", interrupted)
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", ["toolkit", "run", "--select", "churn"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main()
    out = capsys.readouterr()
    assert done.value.code == 130 and "Traceback" not in out.err, out
    monkeypatch.setattr(materialize, "publish", publish)


def test_an_interrupted_publish_holds_the_version_and_the_next_run_says_so(trained, run_cli, monkeypatch, capsys):
    """Ctrl-C between a version's build and its publish: a 'hold' row names the interruption
    (there was none: the next run promoted it "for its fingerprint declared again")."""
    root = trained
    before = query(root, "select * from predictions.churn order by customer_id")
    edit(root, "models/churn.py", "C=1.0", "C=0.5")
    interrupted_publish(root, monkeypatch, capsys)
    assert versions(root) == [(1, "production"), (2, "candidate")]
    assert query(root, "select * from predictions.churn order by customer_id") == before
    (held,) = query(root, "select version, status, action, run_id, reason from toolkit.model_status_history "
                          "where model = 'churn' and action = 'hold'")
    assert held[:4] == (2, "candidate", "hold", 2) and "interrupted (Ctrl-C) before its predictions were published" in held[4], held

    run(run_cli, root)
    assert versions(root) == [(1, "archived"), (2, "production")]
    reason = step_run(root)["reason"]
    assert "promoted (held in run 2, published now)" in reason and "declared again" not in reason, reason
    (promoted,) = query(root, "select reason from toolkit.model_status_history where model = 'churn' and version = 2 "
                              "and status = 'production'")
    assert "not published in run 2: not promoted" in promoted[0] and "interrupted" in promoted[0], promoted


def test_a_version_left_unsettled_by_a_killed_run_is_promoted_saying_so(trained, run_cli, monkeypatch, capsys):
    """A run killed (SIGKILL) between build and publish writes no 'hold' row: here the row
    is deleted after an interrupted run to leave the state a kill leaves. The next run
    promotes the version its policy chose, saying that, not "fingerprint declared again"."""
    root = trained
    edit(root, "models/churn.py", "C=1.0", "C=0.5")
    interrupted_publish(root, monkeypatch, capsys)
    execute(root, "delete from toolkit.model_status_history where action = 'hold'")
    run(run_cli, root)
    assert versions(root) == [(1, "archived"), (2, "production")]
    reason = step_run(root)["reason"]
    assert "promoted (chosen in run 2, published now)" in reason and "declared again" not in reason, reason


def test_approving_a_held_candidate_makes_it_production_and_the_next_run_keeps_it(trained, run_cli, monkeypatch, capsys):
    root = trained
    edit(root, "models/churn.py", "C=1.0", "C=0.5")
    interrupted_publish(root, monkeypatch, capsys)
    code, out, err = run_cli("models", "approve", "churn", "2", cwd=root)
    assert code == 0 and "churn version 2 approved: it is production" in out, out + err
    assert versions(root) == [(1, "archived"), (2, "production")]
    run(run_cli, root)
    assert versions(root) == [(1, "archived"), (2, "production")]
    assert query(root, "select distinct model_version from predictions.churn") == [(2,)]
    actions = query(root, "select version, action from toolkit.model_status_history where model = 'churn' and version = 2 order by seq")
    assert actions == [(2, "register"), (2, "hold"), (2, "approve")], actions


def test_lineage_of_a_class_probability_reaches_the_features_it_was_scored_from(trained_once, run_cli):
    """proba_<class> exists once a version is trained: lineage reads it from the published
    table (it said "predictions.churn has no column 'proba_1'")."""
    code, out, err = run_cli("lineage", "predictions.churn.proba_1", cwd=trained_once)
    assert code == 0, out + err
    assert out.splitlines()[0] == "predictions.churn.proba_1"
    assert "features.scoring.spend" in out and "raw.prospects.spend" in out
    code, out, err = run_cli("lineage", "raw.prospects.tenure", "--downstream", cwd=trained_once)
    assert code == 0 and "predictions.churn.proba_1" in out, out + err

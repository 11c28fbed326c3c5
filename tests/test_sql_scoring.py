"""Scoring inside the warehouse, end to end: `scoring="sql" | "python" | "auto"`.

The same fitted pipelines score the same table once as compiled SQL and once in
Python; the predictions tables must agree to 1e-9 with identical labels. The
estimator-by-estimator exactness suite (DuckDB and PostgreSQL, NULL/NaN/unseen
categories) is tests/test_modelsql_*.py; this file checks the wiring: the run
record, the registry's stored SQL, the fallback and the errors.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from test_models import (
    CUSTOMERS,
    PROSPECTS,
    SCORING_SQL,
    SPEND_TRAINING_SQL,
    TRAINING_SQL,
    arrow,
    build,
    query,
)

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

IMPORTS = """\
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.dummy import DummyClassifier
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from toolkit import model

ENCODE = make_column_transformer(
    (OneHotEncoder(handle_unknown="ignore"), ["segment"]),
    remainder=make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
)
"""

BODIES = {
    "logistic": ('training="training", label="churned"', "make_pipeline(ENCODE, LogisticRegression(max_iter=500))"),
    "boosting": ('training="training", label="churned"', "make_pipeline(ENCODE, HistGradientBoostingClassifier(max_iter=30, random_state=0))"),
    "ridge": ('training="spend_training", label="future_spend"', "make_pipeline(ENCODE, Ridge(alpha=1.0))"),
}

UNSUPPORTED = "make_pipeline(ENCODE, DummyClassifier(strategy='prior'))"  # no SQL compiler for it


def models_file(pairs: dict[str, tuple[str, str, str]]) -> str:
    """One @model per entry: name -> (mode, declaration, body)."""
    parts = [IMPORTS]
    for name, (mode, declared, body) in pairs.items():
        parts.append(
            f'\n\n@model({declared}, key="customer_id", scoring_table="scoring", scoring="{mode}", metrics=None)\n'
            f"def {name}():\n    return {body}\n"
        )
    return "".join(parts)


# Prospects with NULL spend, NaN tenure-derived values and a segment never seen in training.
PROSPECTS_WITH_GAPS = PROSPECTS.replace(
    "['a', 'b', 'c'][1 + i % 3] as segment", "case when i % 7 = 0 then 'zz' when i % 11 = 0 then null else ['a', 'b', 'c'][1 + i % 3] end as segment"
).replace("round((i * 29 % 1000) / 10.0, 2)::double as spend", "case when i % 5 = 0 then null when i % 13 = 0 then 'nan'::double else round((i * 29 % 1000) / 10.0, 2)::double end as spend")


def project(tmp_path, models: str):
    from test_models import SOURCES, DEFAULT_CONFIG

    files = {
        "toolkit.toml": DEFAULT_CONFIG,
        "warehouse/sources.toml": SOURCES,
        "features/training.sql": TRAINING_SQL,
        "features/spend_training.sql": SPEND_TRAINING_SQL,
        "features/scoring.sql": SCORING_SQL,
        "models/all.py": models,
    }
    rows = {"raw.customers": CUSTOMERS.format(start=0, stop=300), "raw.prospects": PROSPECTS_WITH_GAPS.format(start=0, stop=200)}
    return build(tmp_path / "project", files, rows)


def details(root, step: str) -> dict:
    [(text,)] = query(root, "select details from toolkit.step_runs where step = ? order by run_id desc limit 1", [step])
    return json.loads(text)


@pytest.fixture(scope="module")
def paired(tmp_path_factory, run_cli):
    pairs = {}
    for name, (declared, body) in BODIES.items():
        pairs[f"{name}_sql"] = ("sql", declared, body)
        pairs[f"{name}_python"] = ("python", declared, body)
    root = project(tmp_path_factory.mktemp("paired"), models_file(pairs))
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    return root


@pytest.mark.parametrize("name", sorted(BODIES))
def test_sql_scores_equal_python_scores(paired, name):
    sql_scores = arrow(paired, f"select * exclude (scored_at, run_id, model_version) from predictions.{name}_sql order by customer_id")
    python_scores = arrow(paired, f"select * exclude (scored_at, run_id, model_version) from predictions.{name}_python order by customer_id")
    assert sql_scores.num_rows == python_scores.num_rows == 200
    assert sql_scores.column_names == python_scores.column_names
    for column in sql_scores.column_names:
        left, right = sql_scores.column(column), python_scores.column(column)
        if column.startswith("proba_") or (column == "prediction" and name == "ridge"):
            assert np.allclose(left.to_numpy(), right.to_numpy(), rtol=0, atol=1e-9), column
        else:
            assert left.to_pylist() == right.to_pylist(), column  # labels and keys exactly
    assert details(paired, f"{name}_sql")["scored_in"] == "sql"
    assert details(paired, f"{name}_python")["scored_in"] == "python"
    # NULLs and unseen categories are counted on both paths alike
    for key in ("null_counts", "unseen_counts"):
        assert details(paired, f"{name}_sql")[key] == details(paired, f"{name}_python")[key], key
    assert details(paired, f"{name}_sql")["unseen_counts"]["segment"] > 0


def test_the_registry_keeps_the_compiled_sql(paired):
    [(text,)] = query(paired, "select scoring_sql from toolkit.model_versions where model = 'logistic_sql'")
    assert text and '"features"."scoring"' in text and "proba_1" in text
    import duckdb

    rows = duckdb.connect(str(paired / "warehouse" / "test.duckdb"), read_only=True).execute(text).fetchall()
    assert len(rows) == 200  # an analyst can run it as it is


def test_auto_falls_back_to_python_and_says_why(tmp_path, run_cli):
    body = UNSUPPORTED
    root = project(tmp_path, models_file({"binned": ("auto", 'training="training", label="churned"', body)}))
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    record = details(root, "binned")
    assert record["scored_in"] == "python" and "dummyclassifier" in record["scoring_note"].lower(), record
    [(text,)] = query(root, "select scoring_sql from toolkit.model_versions where model = 'binned'")
    assert text is None


def test_unsupported_step_under_sql_fails_naming_it(tmp_path, run_cli):
    body = UNSUPPORTED
    root = project(tmp_path, models_file({"binned": ("sql", 'training="training", label="churned"', body)}))
    code, out, err = run_cli("run", cwd=root)
    assert code == 1, out + err
    assert "scoring='sql'" in out and "dummyclassifier" in out.lower() and "Traceback" not in out + err, out
    assert query(root, "select count(*) from information_schema.tables where table_schema = 'predictions'") == [(0,)]
    # refused before registering: no version, nothing promoted (issue 18)
    assert query(root, "select count(*) from toolkit.model_versions where model = 'binned'") == [(0,)]


def test_unknown_scoring_mode_is_a_project_error(tmp_path, run_cli):
    text = models_file({"churn": ("scoring", 'training="training", label="churned"', BODIES["logistic"][1])})
    root = project(tmp_path, text)
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and "models/all.py" in err and "unknown scoring 'scoring'" in err and "scoring_table=" in err, err


def test_models_show_sql_prints_a_runnable_select(paired, run_cli):
    code, out, err = run_cli("models", "show", "boosting_sql", "--sql", cwd=paired)
    assert code == 0, out + err
    import duckdb

    rows = duckdb.connect(str(paired / "warehouse" / "test.duckdb"), read_only=True).execute(out.rstrip().rstrip(";")).fetchall()
    assert len(rows) == 200
    code, out, err = run_cli("models", "show", "boosting_sql", cwd=paired)
    assert code == 0 and "compiled SQL" in out, out + err


# -- scoring="auto" chooses by cost (toolkit/modelsql/cost.py) --------------------------

FOREST = "make_pipeline(ENCODE, RandomForestClassifier(n_estimators=80, max_depth=8, random_state=0))"  # ~4,000 nodes


def test_auto_scores_an_ensemble_in_python_where_its_compile_would_not_pay_back(tmp_path, run_cli):
    text = models_file({
        "forest": ("auto", 'training="training", label="churned"', FOREST),
        "forest_sql": ("sql", 'training="training", label="churned"', FOREST),
        "small": ("auto", 'training="training", label="churned"', BODIES["logistic"][1]),
    }).replace("from sklearn.ensemble import", "from sklearn.ensemble import RandomForestClassifier,")
    root = project(tmp_path, text)
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    forest = details(root, "forest")
    rows = forest["rows_scored"]
    assert forest["scored_in"] == "python", forest
    assert re.fullmatch(rf"scored in Python: 80 tree\(s\) of [\d,]+ nodes, {rows:,} rows: estimated [\d.e+-]+ s in SQL on "
                        r"duckdb, [\d.e+-]+ s in Python \(modelsql/cost.py; scoring='sql' forces SQL\)", forest["scoring_note"]), forest
    assert details(root, "forest_sql")["scored_in"] == "sql"  # scoring="sql" still forces SQL
    small = details(root, "small")
    # its compiled SQL first counts the NULLs LogisticRegression would refuse: that query is costed too
    assert small["scored_in"] == "sql" and small["scoring_note"].startswith(
        f"scored in the warehouse: no trees, 2 refusal check(s), {rows:,} rows: estimated "), small
    assert not details(root, "forest_sql")["scoring_note"]  # scoring="sql": the spec decided, no cost model
    # Its SQL would win per row on a table large enough: it is stored for analysts (a model
    # that loses per row is never compiled: test_auto_weighs_the_rows_against_...)
    stored = dict(query(root, "select model, scoring_sql is not null from toolkit.model_versions"))
    assert stored == {"forest": True, "forest_sql": True, "small": True}
    # the two paths score alike
    assert query(root, "select count(*) from predictions.forest f join predictions.forest_sql s using (customer_id) "
                       "where f.prediction <> s.prediction or abs(f.proba_1 - s.proba_1) > 1e-9") == [(0,)]


def test_auto_does_not_count_the_rows_of_a_view(tmp_path, run_cli):
    """Counting a view would run its query once more: the per-row costs decide alone."""
    root = project(tmp_path, models_file({"small": ("auto", 'training="training", label="churned"', BODIES["logistic"][1])}))
    (root / "features" / "scoring.sql").write_text("{{ config(materialized='view') }}\n" + SCORING_SQL)
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    small = details(root, "small")
    assert small["scored_in"] == "sql" and re.match(r"scored in the warehouse: no trees, 2 refusal check\(s\): estimated [\d,]+ ns per row in SQL on "
                                                    r"duckdb, [\d,]+ ns in Python", small["scoring_note"]), small
    assert small["rows_scored"] == 200


def test_the_refusal_query_counts_against_sql():
    """SQL scoring first runs one scan counting the rows scikit-learn would refuse (a
    count per check); the Python path does not pay it. A wide table with many checks
    tips a model whose bare SQL wins to Python."""
    from sklearn.ensemble import GradientBoostingClassifier

    from toolkit.modelsql.cost import RATES, choose

    rng = np.random.default_rng(0)
    x = rng.random((2000, 4))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.random(2000) > 1.2).astype(int)
    boosted = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(x, y)
    bare = choose(boosted, "duckdb", rows=1_000_000)
    assert bare.sql and "refusal check" not in bare.reason
    assert bare.confirm(boosted, "duckdb", 0) == bare  # no checks: the same estimate
    few = bare.confirm(boosted, "duckdb", 12)
    assert few.sql and ", 12 refusal check(s), 1,000,000 rows" in few.reason
    seconds = [float(re.search(r"estimated ([\d.e+-]+) s in SQL", c.reason).group(1)) for c in (bare, few)]
    assert seconds[1] - seconds[0] == pytest.approx(1_000_000 * 12 * RATES["duckdb"].row_check, rel=0.05)
    wide = bare.confirm(boosted, "duckdb", 400)  # 200 nullable number columns: missing and infinite each
    assert not wide.sql and wide.reason.startswith("scored in Python: 100 tree(s) of ") and ", 400 refusal check(s)" in wide.reason


def test_auto_confirms_its_choice_once_the_checks_are_known(tmp_path, monkeypatch):
    """The checks are known only once compiled: a choice they tip scores in Python, says
    why in the run record, and runs no refusal query (the SQL path never starts)."""
    from dataclasses import replace

    from toolkit.modelsql import cost

    # price each check as if the 200-row table were wide and PostgreSQL-slow: only the
    # confirmation, which counts the 2 checks LogisticRegression needs here, can tip it
    monkeypatch.setitem(cost.RATES, "duckdb", replace(cost.RATES["duckdb"], row_check=0.01))
    from _projects import run_in_process

    root = project(tmp_path, models_file({"small": ("auto", 'training="training", label="churned"', BODIES["logistic"][1])}))
    assert run_in_process(root).ok  # in this process: the rates patched above apply
    small = details(root, "small")
    assert small["scored_in"] == "python", small
    assert re.fullmatch(r"scored in Python: no trees, 2 refusal check\(s\), 200 rows: estimated [\d.e+-]+ s in SQL on duckdb, "
                        r"[\d.e+-]+ s in Python \(modelsql/cost.py; scoring='sql' forces SQL\)", small["scoring_note"]), small
    assert small["rows_scored"] == 200 and not small.get("refused")


def test_node_counts_cover_pipelines_and_ensembles():
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from toolkit.modelsql.cost import choose

    rng = np.random.default_rng(0)
    x = rng.random((400, 3))
    y = (x[:, 0] + rng.random(400) > 1).astype(int)
    tree = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    assert choose(make_pipeline(StandardScaler(), tree), "duckdb").nodes == tree.tree_.node_count
    boosted = GradientBoostingClassifier(n_estimators=7, max_depth=2, random_state=0).fit(x, y)
    assert choose(boosted, "duckdb").trees == 7
    assert choose(boosted, "duckdb").nodes == sum(t.tree_.node_count for t in boosted.estimators_.ravel())
    hist = HistGradientBoostingClassifier(max_iter=5, early_stopping=False).fit(x, y)
    assert choose(hist, "duckdb").nodes == sum(len(p.nodes) for ps in hist._predictors for p in ps)
    forest = RandomForestRegressor(n_estimators=40, random_state=0).fit(x, x[:, 1])
    choice = choose(forest, "postgres")
    assert choice.trees == 40 and not choice.sql and " ns per row in SQL on postgres" in choice.reason
    assert choice.levels == sum(t.tree_.max_depth for t in forest.estimators_)
    assert choose(make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y), "duckdb").sql


def test_auto_weighs_the_rows_against_the_fixed_cost_of_compiling():
    """A 100-tree boosting model of ~1,500 nodes: compiling it and having DuckDB plan its
    SQL costs ~0.25 s, which a few thousand rows never pay back (measured: 0.21 s in SQL
    against 0.01 s in Python on 2,000 rows) and a million rows do (0.7 s against 1.9)."""
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

    from toolkit.modelsql.cost import choose

    rng = np.random.default_rng(0)
    x = rng.random((2000, 4))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.random(2000) > 1.2).astype(int)
    boosted = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0).fit(x, y)
    assert 1200 < choose(boosted, "duckdb").nodes < 1600
    few, many = choose(boosted, "duckdb", rows=2_000), choose(boosted, "duckdb", rows=1_000_000)
    assert not few.sql and few.reason.startswith("scored in Python: 100 tree(s) of ") and "2,000 rows: estimated" in few.reason
    assert many.sql and many.reason.startswith("scored in the warehouse: 100 tree(s) of ") and "1,000,000 rows" in many.reason
    assert not choose(boosted, "postgres", rows=1_000_000).sql  # PostgreSQL's CASE steps cost it 4x DuckDB's per node
    assert choose(boosted, "duckdb").sql  # no rows given: the per-row costs decide (the stored readable SQL)
    forest = RandomForestClassifier(n_estimators=50, max_depth=12, random_state=0).fit(x, y)
    assert not any(choose(forest, "duckdb", rows=n).sql for n in (None, 0, 10_000, 10_000_000))  # loses per row: never


# -- rows scikit-learn raises on: SQL refuses them too ----------------------------------

REFUSING = {  # name -> (mode, body); the declaration is the churn classifier's
    "nulls_to_logistic": ("auto", 'make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["segment"]), '
                                  'remainder="passthrough"), LogisticRegression(max_iter=500))'),
    "nulls_in_python": ("python", 'make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["segment"]), '
                                  'remainder="passthrough"), LogisticRegression(max_iter=500))'),
    "unseen_to_strict": ("auto", 'make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="error"), ["segment"]), '
                                 'remainder=SimpleImputer()), LogisticRegression(max_iter=500))'),
    "huge_to_tree": ("sql", "make_pipeline(ENCODE, DecisionTreeClassifier(max_depth=4, random_state=0))"),
    "accepts_all": ("sql", "make_pipeline(ENCODE, HistGradientBoostingClassifier(max_iter=10, random_state=0))"),
}
# run 2's prospects: tenure NULL in every 10th row, spend 1e300 in every 25th, segment 'zz' in every 7th
PROSPECTS_SCIKIT_LEARN_REFUSES = PROSPECTS.replace(
    "(i * 11 % 60)::integer as tenure", "case when i % 10 = 0 then null else (i * 11 % 60)::integer end as tenure"
).replace("round((i * 29 % 1000) / 10.0, 2)::double as spend", "case when i % 25 = 1 then 1e300 else round((i * 29 % 1000) / 10.0, 2)::double end as spend"
).replace("['a', 'b', 'c'][1 + i % 3] as segment", "case when i % 7 = 0 then 'zz' else ['a', 'b', 'c'][1 + i % 3] end as segment")


def test_sql_scoring_fails_where_scikit_learn_raises_and_keeps_the_published_predictions(tmp_path, run_cli, warehouse_snapshot):
    """A NULL reaching an estimator without NaN support, an unseen category under
    handle_unknown='error', a value past float32's range reaching a tree: scikit-learn
    raises, so the SQL path fails the step too (it published NULL scores), naming the
    column and the count; a pipeline that takes them all still scores."""
    from test_models import create_tables, database_path

    text = models_file({name: (mode, 'training="training", label="churned"', body) for name, (mode, body) in REFUSING.items()})
    text = text.replace("from sklearn.dummy import", "from sklearn.tree import DecisionTreeClassifier\nfrom sklearn.dummy import")
    root = project(tmp_path, text)
    create_tables(database_path(root), {"raw.prospects": PROSPECTS.format(start=0, stop=200)})  # run 1: clean data
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert details(root, "nulls_to_logistic")["scored_in"] == "sql" and details(root, "unseen_to_strict")["scored_in"] == "sql"
    create_tables(database_path(root), {"raw.prospects": PROSPECTS_SCIKIT_LEARN_REFUSES.format(start=0, stop=200)})
    before = warehouse_snapshot(database_path(root))
    code, out, err = run_cli("run", cwd=root)
    assert code == 1 and "Traceback" not in out + err, out + err
    errors = dict(query(root, "select step, error from toolkit.step_runs where run_id = (select max(run_id) from toolkit.runs) "
                              "and status = 'failed'"))
    assert sorted(errors) == ["huge_to_tree", "nulls_in_python", "nulls_to_logistic", "unseen_to_strict"], errors
    assert "'tenure' has 20 missing value(s) (NULL or NaN) that logisticregression cannot take" in errors["nulls_to_logistic"]
    assert "Input X contains NaN" in errors["nulls_in_python"] and "'tenure' has 20 NULL(s)" in errors["nulls_in_python"]
    assert "'segment' has 29 value(s) unseen in training (handle_unknown='error') that columntransformer.onehotencoder" \
        in errors["unseen_to_strict"], errors
    assert "'spend' has 8 value(s) beyond float32's range" in errors["huge_to_tree"], errors
    after = warehouse_snapshot(database_path(root))
    for name in ("huge_to_tree", "nulls_in_python", "nulls_to_logistic", "unseen_to_strict"):
        assert after[f"predictions.{name}"] == before[f"predictions.{name}"], name  # run 1's scores stay published
    # the counts stay in the run record of the failed step, on both paths
    assert details(root, "nulls_to_logistic")["null_counts"]["tenure"] == 20
    assert details(root, "nulls_to_logistic")["refused"] == {"tenure (missing)": 20}
    assert details(root, "nulls_in_python")["null_counts"]["tenure"] == 20
    assert details(root, "unseen_to_strict")["unseen_counts"] == {"segment": 29}
    assert query(root, "select count(*), count(prediction) from predictions.accepts_all") == [(200, 200)]


def test_a_key_repeated_in_the_scoring_table_fails_on_both_paths(tmp_path, run_cli, warehouse_snapshot):
    """Two rows of one key would get two different predictions: refused like in training."""
    from test_models import database_path, execute

    logistic = BODIES["logistic"][1]
    root = project(tmp_path, models_file({"in_sql": ("sql", 'training="training", label="churned"', logistic),
                                          "in_python": ("python", 'training="training", label="churned"', logistic)}))
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    execute(root, "insert into raw.prospects select customer_id, 'c', tenure + 5, spend from raw.prospects where customer_id = 100001")
    before = warehouse_snapshot(database_path(root))
    code, out, err = run_cli("run", cwd=root)
    assert code == 1 and "Traceback" not in out + err, out + err
    for name in ("in_sql", "in_python"):
        [(status, error)] = query(root, "select status, error from toolkit.step_runs where step = ? order by run_id desc limit 1", [name])
        assert status == "failed" and (f"model {name}: key customer_id repeats in scoring table features.scoring "
                                       "(customer_id = 100001)") in error, error
        assert warehouse_snapshot(database_path(root))[f"predictions.{name}"] == before[f"predictions.{name}"]

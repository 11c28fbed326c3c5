"""What a predictions table's columns mean, end to end (`toolkit run` in a subprocess):

- `proba_<class>` holds that class's probability on both scoring paths, in the held-out
  baseline and in `models show --sql`: -1 is proba_neg_1, never a suffixed proba_1;
- two classes that would name one column ('A' and 'a') fail the model step naming
  both and the column, before anything is registered or published;
- a key or label named like an output column (prediction, proba_*, model_version,
  scored_at, run_id) is exit 2 at the @model line, before anything runs.
"""

from __future__ import annotations

import duckdb
import pytest

from conftest import database_path
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from toolkit.mlcore import proba_columns

RAW = ("select i::bigint as id, (i % 100) / 10.0 as x, {label} as label from range(1000) r(i)")
SIGNS = "case when i % 100 >= 50 then 1 else -1 end"
CASES = "case when i % 100 >= 50 then 'a' else 'A' end"
SOURCES = """\
[raw]
schema = "raw"

[raw.tables.t]
columns = { id = "bigint", x = "double", label = "%s" }
"""


def model_file(scoring: str = "auto", key: str = '["id"]', label: str = "label", name: str = "signs") -> str:
    return (
        "from sklearn.linear_model import LogisticRegression\n"
        "from toolkit import model\n"
        "\n"
        "\n"
        f'@model(training="tr", label="{label}", key={key}, scoring_table="sc", metrics=["accuracy"], scoring="{scoring}")\n'
        f"def {name}():\n"
        "    return LogisticRegression()\n"
    )


def project(make_project, classes: str = SIGNS, label_type: str = "bigint", tr: str = "select id, x, label",
            sc: str = "select id, x", **model) -> object:
    return make_project({
        "warehouse/sources.toml": SOURCES % label_type,
        "features/tr.sql": tr + ' from {{ source("raw", "t") }}\n',
        "features/sc.sql": sc + ' from {{ source("raw", "t") }} where id < 10\n',
        "models/signs.py": model_file(**model),
    }, {"raw.t": RAW.format(label=classes)})


def query(root, sql: str) -> list[tuple]:
    with duckdb.connect(str(database_path(root)), read_only=True) as con:
        return con.execute(sql).fetchall()


def tables(root) -> set[str]:
    return {f"{s}.{t}" for s, t in query(root, "select table_schema, table_name from information_schema.tables")}


def test_class_names_keep_todays_columns_and_spell_a_minus_sign():
    assert proba_columns([0, 1]) == ["proba_0", "proba_1"]
    assert proba_columns(["yes", "no"]) == ["proba_yes", "proba_no"]
    assert proba_columns(["Yes!", "no way", 1, True, ""]) == ["proba_yes", "proba_no_way", "proba_1", "proba_true", "proba_class"]
    assert proba_columns([-1, 1]) == ["proba_neg_1", "proba_1"]
    assert proba_columns([-1, 0, 1]) == ["proba_neg_1", "proba_0", "proba_1"]
    assert proba_columns([-0.5, 0.5]) == ["proba_neg_0_5", "proba_0_5"]
    assert proba_columns(["-1", "1"]) == ["proba_neg_1", "proba_1"]


@pytest.mark.parametrize("classes, column", [(["A", "a"], "proba_a"), (["a b", "a_b"], "proba_a_b"), ([1, "1"], "proba_1")])
def test_two_classes_naming_one_column_are_refused_not_suffixed(classes, column):
    with pytest.raises(ValueError) as error:
        proba_columns(classes)
    message = str(error.value)
    assert f"{classes[0]!r} and {classes[1]!r}" in message and f"column {column} " in message, message


@pytest.mark.parametrize("scoring", ["sql", "python"])
def test_each_proba_column_holds_its_own_class(make_project, run_cli, scoring):
    root = project(make_project, scoring=scoring)
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    columns = [name for (name,) in query(root, "select column_name from information_schema.columns "
                                               "where table_schema = 'predictions' and table_name = 'signs' order by ordinal_position")]
    assert columns == ["id", "prediction", "proba_neg_1", "proba_1", "model_version", "scored_at", "run_id"]
    # x = id / 10 for id < 10: every row is far on the -1 side (label 1 from x >= 5)
    rows = query(root, "select prediction, proba_neg_1, proba_1 from predictions.signs order by id")
    assert len(rows) == 10
    for prediction, negative, positive in rows:
        assert prediction == -1 and negative > 0.5 > positive and abs(negative + positive - 1) < 1e-9, rows
    history = query(root, "select column_name from information_schema.columns where table_schema = 'predictions' "
                          "and table_name = 'signs_history' and column_name like 'proba%' order by ordinal_position")
    assert history == [("proba_neg_1",), ("proba_1",)]
    code, out, err = run_cli("models", "show", "signs", "--sql", cwd=root)
    if scoring == "sql":
        assert code == 0 and "proba_neg_1" in out and "proba_1_2" not in out, out + err


def test_held_out_baseline_names_the_class_of_each_probability(make_project, run_cli):
    root = project(make_project)
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    profiles = " ".join(p for (p,) in query(root, "select profile from toolkit.model_baselines where model = 'signs'"))
    assert "proba_neg_1" in profiles and "proba_1_2" not in profiles, profiles[:2000]


def test_classes_naming_one_column_fail_the_step_before_registering(make_project, run_cli):
    root = project(make_project, classes=CASES, label_type="varchar")
    code, out, err = run_cli("run", cwd=root)
    text = out + err
    assert code == 1 and "Traceback" not in text, text
    assert "model signs" in text and "classes 'A' and 'a' would both be published as column proba_a" in text, text
    assert "predictions.signs" not in tables(root) and "predictions.signs_history" not in tables(root)
    assert query(root, "select count(*) from toolkit.model_versions")[0][0] == 0


@pytest.mark.parametrize("key, label, tr, sc, role, column", [
    ('["prediction"]', "label", "select id as prediction, x, label", "select id as prediction, x", "key", "prediction"),
    ('["run_id"]', "label", "select id as run_id, x, label", "select id as run_id, x", "key", "run_id"),
    ('["id", "Model_Version"]', "label", 'select id, id as "Model_Version", x, label', 'select id, id as "Model_Version", x', "key", "Model_Version"),
    ('["proba_neg_1"]', "label", "select id as proba_neg_1, x, label", "select id as proba_neg_1, x", "key", "proba_neg_1"),
    ('["id"]', "scored_at", "select id, x, label as scored_at", "select id, x", "label", "scored_at"),
])
def test_a_key_or_label_named_like_an_output_column_is_exit_2_at_the_model_line(make_project, run_cli, key, label, tr, sc,
                                                                                 role, column):
    root = project(make_project, key=key, label=label, tr=tr, sc=sc)
    code, out, err = run_cli("run", cwd=root)
    text = out + err
    lines = (root / "models/signs.py").read_text().splitlines()
    line = next(n for n, s in enumerate(lines, start=1) if s.startswith("@model"))
    assert code == 2, text
    assert f"models/signs.py:{line}" in text and f"model signs: {role} column '{column}'" in text and "Traceback" not in text, text
    assert not {t for t in tables(root) if t.startswith(("toolkit.", "predictions."))}, tables(root)


def test_a_production_version_whose_classes_name_one_column_is_not_scored():
    """A version registered before names were checked (classes 'A' and 'a') fails the
    step before scoring, naming the version, the classes and the column."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    from toolkit.errors import StepFailed
    from toolkit.modelrun import check_proba_columns
    from toolkit.models import ModelSpec

    spec = ModelSpec(name="signs", build=None, training="tr", label="label", key=["id"])
    x, y = np.arange(10.0).reshape(-1, 1), np.array(["A"] * 5 + ["a"] * 5)
    with pytest.raises(StepFailed) as error:
        check_proba_columns(spec, LogisticRegression().fit(x, y), "production version 1")
    assert str(error.value).startswith("model signs: production version 1 cannot be published: classes 'A' and 'a' "
                                       "would both be published as column proba_a "), error.value
    check_proba_columns(spec, LinearSVC().fit(x, y), "production version 2")  # no predict_proba: no proba_ columns
    check_proba_columns(spec, LogisticRegression().fit(x, np.where(y == "A", -1, 1)), "production version 3")


def test_realized_metrics_read_each_classes_own_column_by_name():
    """A history written before a change of classes or names holds other proba_ columns
    too (here proba_1_2, the old name of class 1's); they were read by position."""
    import pyarrow as pa
    from sklearn.metrics import roc_auc_score

    from toolkit.monitoring.outcomes import scores

    label = [-1, 1, 1, -1, 1]
    p1 = [0.2, 0.9, 0.6, 0.4, 0.7]
    data = pa.table({"prediction": [-1, 1, 1, -1, 1], "proba_1_2": [0.9, 0.1, 0.2, 0.8, 0.3],  # stale: old rows' column
                     "proba_neg_1": [1 - p for p in p1], "proba_1": p1, "__toolkit_label": label})
    assert scores(data, ["roc_auc"], [-1, 1]) == {"roc_auc": roc_auc_score(label, p1)}


LONG = "customer_segment_with_a_rather_long_descriptive_name_version_1_"  # proba_ + this: 69 bytes


def test_a_name_longer_than_the_identifier_limit_is_refused_alone_or_not():
    """PostgreSQL cuts a name to 63 bytes silently: two classes cut to one column would mix
    their probabilities, and one cut alone is not the column realized metrics read by name."""
    classes = [LONG + "alpha", LONG + "beta"]
    assert proba_columns(classes) == [f"proba_{c}" for c in classes]  # no limit (DuckDB): two columns
    for given in (classes, [LONG + "alpha", "beta"]):
        with pytest.raises(ValueError) as error:
            proba_columns(given, 63)
        message = str(error.value)
        assert f"class {classes[0]!r} would be published as column proba_{classes[0]} (74 bytes)" in message, message
        assert "first 63 bytes" in message and "relabel it shorter" in message, message
    assert proba_columns([LONG[:57], "beta"], 63) == [f"proba_{LONG[:57]}", "proba_beta"]  # 63 bytes: kept whole


PG_PROJECT = {
    "toolkit.toml": 'name = "long"\ndialect = "postgres"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "${PG_URL}"\n',
    "features/tr.sql": (f"select n as id, (n % 100) / 10.0 as x, case when n % 100 >= 50 then '{LONG}alpha' else '{LONG}beta' end as label "
                        "from generate_series(1, 400) as t(n)\n"),
    "features/sc.sql": "select n as id, n / 10.0 as x from generate_series(1, 10) as t(n)\n",
    "models/signs.py": model_file(),
}


def test_on_postgres_classes_cut_to_one_column_fail_before_registering(make_project, run_cli, pg_url):
    """PostgreSQL keeps 63 bytes of an identifier: the two classes' proba_ columns would be
    one (or the CREATE fails on a duplicate column) had the step not refused them first.
    classes_ are sorted, so 'alpha' is the one named."""
    root = make_project(PG_PROJECT)
    code, out, err = run_cli("run", cwd=root, env={"PG_URL": pg_url})
    text = out + err
    assert code == 1 and "Traceback" not in text, text
    assert f"model signs: the trained LogisticRegression cannot be published: class '{LONG}alpha' would be published as column" in text, text
    assert "first 63 bytes" in text, text
    assert pg_query(pg_url, "select count(*) from information_schema.tables where table_schema = 'predictions'") == [(0,)]
    registered = pg_query(pg_url, "select count(*) from information_schema.tables where table_schema = 'toolkit' and table_name = 'model_versions'")
    if registered[0][0]:
        assert pg_query(pg_url, "select count(*) from toolkit.model_versions") == [(0,)]

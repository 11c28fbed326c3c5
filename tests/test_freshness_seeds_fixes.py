"""Freshness against toolkit's clock, like with like; seed integers past BIGINT kept exact;
every estimator README says is compiled to SQL also registers (artifact allow-list).

Before: a source freshness test compared with the warehouse's CURRENT_TIMESTAMP (a
TOOLKIT_NOW replay failed a source fresh at the replayed time), and cast a timestamptz to a
wall time of the project's zone before comparing it with UTC now (in Europe/Berlin every
timestamptz looked 1-2 hours fresher: 90 minutes old passed max_age "1 hour"); a seed column
with one integer past BIGINT was published as DOUBLE, every value rounded
(9007199254740993 -> 9007199254740992.0); MinMax/Robust/MaxAbs scalers, Lasso and ElasticNet,
listed as compiled in README, failed to register ("types outside toolkit's allow-list").
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pytest

from _projects import cli_tuple, write_files
from postgres_support import pg_query, pg_url  # noqa: F401 (a fixture)
from toolkit.artifacts import ALLOWED_TYPES
from toolkit.errors import ProjectError
from toolkit.project import discover_seeds
from toolkit.seeds import content_hash, read_seed, seed_columns

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")

# -- freshness ------------------------------------------------------------------------------

SOURCES = """\
[app]
schema = "app"
[app.tables.t]
columns = {{ id = "bigint", ts = "{kind}" }}
table_tests = [{{ freshness = {{ column = "ts", max_age = "{max_age}" }} }}]
"""


def freshness_project(root: Path, kind: str, value: str, max_age: str = "1 hour", pg: str | None = None) -> Path:
    """A Europe/Berlin project whose source app.t (ts of type `kind`) holds one row at `value`
    (SQL text of a literal: this test's own), read by step a."""
    target = f'[targets.pg]\nengine = "postgres"\nurl = "{pg}"\n' if pg else '[targets.dev]\nengine = "duckdb"\npath = "warehouse/w.duckdb"\n'
    config = f'name = "fresh"\ndialect = "duckdb"\ntarget = "{"pg" if pg else "dev"}"\ntime_zone = "Europe/Berlin"\n{target}'
    write_files(root, {"toolkit.toml": config, "warehouse/sources.toml": SOURCES.format(kind=kind, max_age=max_age),
                       "features/a.sql": 'select id, ts from {{ source("app", "t") }}\n'})
    setup = ["create schema app", f"create table app.t as select cast(1 as bigint) as id, cast({value} as {kind}) as ts"]
    if pg:
        for statement in setup:
            pg_query(pg, statement)
    else:
        with duckdb.connect(str(root / "warehouse" / "w.duckdb")) as connection:
            for statement in setup:
                connection.execute(statement)
    return root


def fresh(root: Path, now: str | None = None) -> bool:
    """Whether the run passed the source's freshness test (exit 0) or failed it (exit 1)."""
    code, out, err = cli_tuple("run", cwd=root, env={"TOOLKIT_NOW": now} if now else {"TOOLKIT_NOW": ""})
    assert code in (0, 1) and "Traceback" not in err, out + err
    assert code == 0 or "freshness(ts)" in out + err, out + err
    return code == 0


def _ago(minutes: int, kind: str) -> str:
    """A literal `minutes` before the real now: an instant (timestamptz), or a Berlin wall time."""
    instant = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=minutes)
    if kind == "timestamptz":
        return f"'{instant.isoformat(sep=' ')}'"
    return f"'{instant.astimezone(ZoneInfo('Europe/Berlin')).replace(tzinfo=None).isoformat(sep=' ')}'"


@pytest.mark.parametrize("kind", ["timestamptz", "timestamp"])
@pytest.mark.parametrize("minutes, expected", [(90, False), (30, True)])
def test_freshness_in_a_berlin_project_compares_like_with_like(tmp_path, kind, minutes, expected):
    """The real clock: 90 minutes old is stale for max_age 1 hour, 30 minutes is fresh, whether
    the column is an instant or a Berlin wall time (before: both 90-minute cases passed)."""
    root = freshness_project(tmp_path / "p", kind, _ago(minutes, kind))
    assert fresh(root) is expected


@pytest.mark.parametrize("kind, value", [
    ("timestamptz", "'2024-07-01 08:30:00+00'"),  # an instant: 90 minutes before 10:00 UTC
    ("timestamp", "'2024-07-01 10:30:00'"),       # a Berlin wall time (CEST, UTC+2): the same instant
    ("timestamptz", "'2024-01-01 07:30:00+01'"),  # winter: 06:30 UTC
])
def test_freshness_uses_toolkit_now(tmp_path, kind, value):
    """TOOLKIT_NOW is "now" for freshness too (before: the warehouse's clock, so a replay of
    2024 failed every source): the same row is fresh an hour after it, stale two hours after."""
    root = freshness_project(tmp_path / "p", kind, value, max_age="1 hour")
    first = datetime.datetime.fromisoformat(value.strip("'").replace("+00", "+00:00").replace("+01", "+01:00"))
    if first.tzinfo is None:
        first = first.replace(tzinfo=ZoneInfo("Europe/Berlin"))
    at = lambda minutes: (first + datetime.timedelta(minutes=minutes)).astimezone(datetime.timezone.utc).isoformat()  # noqa: E731
    assert fresh(root, at(59)) is True
    assert fresh(root, at(61)) is False


def test_freshness_on_a_date_column_reads_it_as_a_berlin_day(tmp_path):
    """A date starts at midnight in the project's zone: 2024-07-01 00:00 CEST is 2024-06-30 22:00 UTC."""
    root = freshness_project(tmp_path / "p", "date", "'2024-07-01'", max_age="1 day")
    assert fresh(root, "2024-07-01T21:59+00:00") is True
    assert fresh(root, "2024-07-01T22:01+00:00") is False


@pytest.mark.parametrize("kind", ["timestamptz", "timestamp"])
def test_freshness_on_postgres_compares_like_with_like(tmp_path, pg_url, kind):  # noqa: F811 (fixture)
    root = freshness_project(tmp_path / "p", kind, _ago(90, kind), pg=pg_url)
    assert fresh(root) is False
    pg_query(pg_url, f"update app.t set ts = cast({_ago(30, kind)} as {kind})")
    assert fresh(root) is True


def test_freshness_on_postgres_uses_toolkit_now(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = freshness_project(tmp_path / "p", "timestamptz", "'2024-07-01 08:30:00+00'", pg=pg_url)
    assert fresh(root, "2024-07-01T09:29+00:00") is True
    assert fresh(root, "2024-07-01T09:31+00:00") is False


# -- seeds: integers past BIGINT --------------------------------------------------------------

HUGE = "id,name\n9007199254740993,a\n12345678901234567890123,b\n-9223372036854775809,c\n\n7,d\n"


def seed_of(tmp_path: Path, text: str, declared: str | None = None):
    files = {"warehouse/seeds/s.csv": text, **({"warehouse/seeds.toml": declared} if declared else {})}
    for relative, content in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(content, encoding="utf-8")
    return discover_seeds(tmp_path)["s"]


def test_a_seed_integer_column_past_bigint_is_an_exact_decimal(tmp_path):
    table = read_seed(seed_of(tmp_path, HUGE.replace("\n\n", "\n,e\n")), tmp_path)
    assert table.schema.field("id").type == pa.decimal128(38, 0)
    assert table.column("id").to_pylist() == [Decimal("9007199254740993"), Decimal("12345678901234567890123"),
                                              Decimal("-9223372036854775809"), None, Decimal(7)]


def test_numbers_that_are_not_all_integers_stay_double(tmp_path):
    table = read_seed(seed_of(tmp_path, "x\n1.5\n12345678901234567890123\n"), tmp_path)
    assert table.schema.field("x").type == pa.float64()


def test_an_integer_past_38_digits_is_exit_2_naming_file_line_and_column(tmp_path):
    seed = seed_of(tmp_path, "id\n1\n\"1234567890123456789012345678901234567890\"\n")
    with pytest.raises(ProjectError) as caught:
        seed_columns(seed, tmp_path)
    error = caught.value
    assert (error.file, error.line) == ("warehouse/seeds/s.csv", 3)
    assert "column 'id'" in str(error) and "38 digits" in str(error) and 'id = "varchar"' in (error.hint or "")
    declared = seed_of(tmp_path, "id\n1\n1234567890123456789012345678901234567890\n", '[s]\ncolumns = { id = "varchar" }\n')
    assert read_seed(declared, tmp_path).column("id").to_pylist() == ["1", "1234567890123456789012345678901234567890"]


def test_a_widened_seed_has_a_new_content_hash(tmp_path):
    """Published as DOUBLE before: its hash changes, so it is published again, exactly."""
    seed = seed_of(tmp_path, HUGE)
    old = hashlib.sha256(seed.path.read_bytes() + json.dumps(seed.column_types, sort_keys=True).encode()).hexdigest()
    assert content_hash(seed, ["id", "name"]) != old


SEED_CONFIG = 'name = "s"\ndialect = "duckdb"\ntarget = "t"\n[targets.t]\n'


def test_a_huge_integer_seed_is_published_exactly_on_duckdb(tmp_path):
    root = tmp_path / "p"
    write_files(root, {"toolkit.toml": SEED_CONFIG + 'engine = "duckdb"\npath = "warehouse/w.duckdb"\n', "warehouse/seeds/s.csv": HUGE,
                       "features/a.sql": "select id + 1 as next from {{ ref('s') }} where name = 'a'\n"})
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    with duckdb.connect(str(root / "warehouse" / "w.duckdb"), read_only=True) as connection:
        assert connection.sql("select id, typeof(id) from raw.s order by name").fetchall()[:3] == [
            (Decimal("9007199254740993"), "DECIMAL(38,0)"), (Decimal("12345678901234567890123"), "DECIMAL(38,0)"),
            (Decimal("-9223372036854775809"), "DECIMAL(38,0)")]
        assert connection.sql("select next from features.a").fetchall() == [(Decimal("9007199254740994"),)]


def test_a_huge_integer_seed_is_published_exactly_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = tmp_path / "p"
    write_files(root, {"toolkit.toml": SEED_CONFIG + f'engine = "postgres"\nurl = "{pg_url}"\n', "warehouse/seeds/s.csv": HUGE})
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    rows = pg_query(pg_url, "select id::text, pg_typeof(id)::text from raw.s order by name")
    assert rows[:3] == [("9007199254740993", "numeric"), ("12345678901234567890123", "numeric"), ("-9223372036854775809", "numeric")]


# -- estimators README says are compiled: allow-listed, trained, registered, scored ----------

# README's "Compiled:" list, phrase by phrase -> the classes it names (sklearn import path, class)
README_CLAIMS = {
    "Pipeline": [("sklearn.pipeline", "Pipeline")],
    "ColumnTransformer": [("sklearn.compose._column_transformer", "ColumnTransformer")],
    "SimpleImputer": [("sklearn.impute._base", "SimpleImputer")],
    "Standard/MinMax/Robust/MaxAbs scalers": [("sklearn.preprocessing._data", f"{name}Scaler") for name in ("Standard", "MinMax", "Robust", "MaxAbs")],
    "OneHotEncoder": [("sklearn.preprocessing._encoders", "OneHotEncoder")],
    "OrdinalEncoder": [("sklearn.preprocessing._encoders", "OrdinalEncoder")],
    "LinearRegression": [("sklearn.linear_model._base", "LinearRegression")],
    "Ridge": [("sklearn.linear_model._ridge", "Ridge")],
    "Lasso": [("sklearn.linear_model._coordinate_descent", "Lasso")],
    "ElasticNet": [("sklearn.linear_model._coordinate_descent", "ElasticNet")],
    "LogisticRegression (binary, multinomial)": [("sklearn.linear_model._logistic", "LogisticRegression")],
    "RidgeCV": [("sklearn.linear_model._ridge", "RidgeCV")],
    "LassoCV": [("sklearn.linear_model._coordinate_descent", "LassoCV")],
    "ElasticNetCV": [("sklearn.linear_model._coordinate_descent", "ElasticNetCV")],
    "LogisticRegressionCV": [("sklearn.linear_model._logistic", "LogisticRegressionCV")],
    "decision trees": [("sklearn.tree._classes", f"DecisionTree{kind}") for kind in ("Classifier", "Regressor")],
    "random forests": [("sklearn.ensemble._forest", f"RandomForest{kind}") for kind in ("Classifier", "Regressor")],
    "extra trees": [("sklearn.ensemble._forest", f"ExtraTrees{kind}") for kind in ("Classifier", "Regressor")],
    "GradientBoosting": [("sklearn.ensemble._gb", f"GradientBoosting{kind}") for kind in ("Classifier", "Regressor")],
    "HistGradientBoosting": [("sklearn.ensemble._hist_gradient_boosting.gradient_boosting", f"HistGradientBoosting{kind}")
                             for kind in ("Classifier", "Regressor")],
}
# allow-listed scikit-learn estimators README does not list, and why
COMPONENTS = {
    "sklearn.preprocessing._function_transformer.FunctionTransformer": "ColumnTransformer's passthrough remainder",
    "sklearn.impute._base.MissingIndicator": "SimpleImputer(add_indicator=True)",
    "sklearn.preprocessing._label.LabelEncoder": "labels",
    "sklearn.dummy.DummyClassifier": "GradientBoosting's init_", "sklearn.dummy.DummyRegressor": "GradientBoosting's init_",
    "sklearn.tree._classes.ExtraTreeClassifier": "extra trees", "sklearn.tree._classes.ExtraTreeRegressor": "extra trees",
}


def _compiled_list() -> str:
    return " ".join(re.search(r"Compiled: (.*?)\. Each version", README, re.S).group(1).split())


def test_every_estimator_readme_says_is_compiled_is_allow_listed_and_no_other():
    listed = _compiled_list()
    claimed = {f"{module}.{name}" for phrase, classes in README_CLAIMS.items() for module, name in classes}
    for phrase in README_CLAIMS:
        assert phrase in listed, phrase
    assert sorted(claimed - ALLOWED_TYPES) == []
    estimators = {name for name in ALLOWED_TYPES if name.startswith("sklearn.") and name.rsplit(".", 1)[1][:1].isupper()
                  and not name.startswith(("sklearn._loss", "sklearn.tree._tree", "sklearn.ensemble._hist_gradient_boosting.binning",
                                           "sklearn.ensemble._hist_gradient_boosting.predictor"))}
    assert sorted(estimators - claimed - set(COMPONENTS) - {"sklearn.compose._column_transformer.make_column_selector"}) == []


MODELS = {  # name -> (label, estimator expression): every class README_CLAIMS names
    "standard": ("y", "make_pipeline(NUMERIC(StandardScaler()), LinearRegression())"),
    "minmax": ("y", "make_pipeline(NUMERIC(MinMaxScaler()), LinearRegression())"),
    "robust": ("y", "make_pipeline(NUMERIC(RobustScaler()), LinearRegression())"),
    "maxabs": ("y", "make_pipeline(NUMERIC(MaxAbsScaler()), LinearRegression())"),
    "ordinal": ("y", "make_pipeline(make_column_transformer((OrdinalEncoder(), ['seg']), (SimpleImputer(), ['x', 'z'])), Ridge())"),
    "lasso": ("y", "make_pipeline(ENCODED, Lasso(alpha=0.1))"),
    "elastic": ("y", "make_pipeline(ENCODED, ElasticNet(alpha=0.1))"),
    "binary": ("big", "make_pipeline(ENCODED, LogisticRegression(max_iter=500))"),
    "multinomial": ("band", "make_pipeline(ENCODED, LogisticRegression(max_iter=500))"),
    "tree_c": ("big", "make_pipeline(ENCODED, DecisionTreeClassifier(max_depth=3, random_state=0))"),
    "tree_r": ("y", "make_pipeline(ENCODED, DecisionTreeRegressor(max_depth=3, random_state=0))"),
    "forest_c": ("band", "make_pipeline(ENCODED, RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0))"),
    "forest_r": ("y", "make_pipeline(ENCODED, RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0))"),
    "extra_c": ("big", "make_pipeline(ENCODED, ExtraTreesClassifier(n_estimators=3, max_depth=3, random_state=0))"),
    "extra_r": ("y", "make_pipeline(ENCODED, ExtraTreesRegressor(n_estimators=3, max_depth=3, random_state=0))"),
    "boost_c": ("big", "make_pipeline(ENCODED, GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0))"),
    "boost_r": ("y", "make_pipeline(ENCODED, GradientBoostingRegressor(n_estimators=3, max_depth=2, random_state=0))"),
    "hist_c": ("band", "make_pipeline(ENCODED, HistGradientBoostingClassifier(max_iter=3, random_state=0))"),
    "hist_r": ("y", "make_pipeline(ENCODED, HistGradientBoostingRegressor(max_iter=3, random_state=0))"),
}

MODEL_FILE = """\
from sklearn.compose import make_column_transformer
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
                              HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, OneHotEncoder, OrdinalEncoder, RobustScaler, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from toolkit import model

NUMERIC = lambda scaler: make_column_transformer((make_pipeline(SimpleImputer(), scaler), ["x", "z"]))
ENCODED = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["seg"]),
                                  remainder=make_pipeline(SimpleImputer(), StandardScaler()))
"""


def rows_of(root: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(root / "warehouse" / "w.duckdb"), read_only=True) as connection:
        return connection.execute(sql, params or []).fetchall()


@pytest.mark.slow  # one run training 19 models (~35 s)
def test_every_compiled_estimator_trains_registers_and_scores_in_sql(tmp_path):
    root = tmp_path / "p"
    models = MODEL_FILE + "".join(
        f'\n\n@model(training="rows", label="{label}", key=["id"], features=["x", "z", "seg"], scoring_table="rows", scoring="sql", metrics=None)\n'
        f"def {name}():\n    return {body}\n" for name, (label, body) in MODELS.items())
    write_files(root, {"toolkit.toml": SEED_CONFIG + 'engine = "duckdb"\npath = "warehouse/w.duckdb"\n',
                       "warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.rows]\n',
                       "features/rows.sql": "select * from {{ source('app', 'rows') }}\n", "models/all.py": models})
    with duckdb.connect(str(root / "warehouse" / "w.duckdb")) as connection:
        connection.execute("""create schema app; create table app.rows as
            select i::bigint id, i::double x, (i % 7)::double z, ['a', 'b', 'c'][1 + i % 3] seg,
                   (2 * i + 1 + i % 3)::double y, (i >= 30)::int big, i // 20 band from range(60) t(i)""")
    code, out, err = cli_tuple("run", cwd=root, timeout=600)
    assert code == 0, out + err
    registered = dict(rows_of(root, "select model, count(*) from toolkit.model_versions group by model"))
    assert registered == {name: 1 for name in MODELS}
    for name in MODELS:
        [(details,)] = rows_of(root, "select details from toolkit.step_runs where step = ?", [name])
        assert json.loads(details)["scored_in"] == "sql", name
        assert rows_of(root, f"select count(*), count(prediction) from predictions.{name}") == [(60, 60)], name

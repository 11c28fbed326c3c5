"""Column names reach the warehouse exactly as stored: a mixed-case `Age` trains and
scores, in Python and in SQL, on DuckDB and on PostgreSQL (issue 18)."""

from __future__ import annotations

import pytest
from sqlglot import exp

from postgres_support import pg_url  # noqa: F401 (a fixture)
from toolkit.config import Target
from toolkit.engines import connect
from toolkit.models import model
from toolkit.scoring import score, score_in_sql
from toolkit.training import fit_candidates, read_training

TRAIN = exp.table_("Train", db="features", quoted=True)
SOURCE = exp.table_("Population", db="features", quoted=True)


def rows_sql(name: str, rows: int) -> str:
    # quoted names, so PostgreSQL keeps the case too; same SQL on both engines
    return (
        f'create table features."{name}" as select i as "Id", (i * 7 % 50) + 18 as "Age", '
        f"(i * 13 % 100) / 10.0 + 15 as \"BMI\", case when i % 3 = 0 then 'Oslo' else 'Rome' end as \"City\", "
        f"case when (i * 7 % 50) + (i % 3) * 10 > 40 then 'yes' else 'no' end as \"Sick\" "
        f"from generate_series(1, {rows}) as t(i)"
    )


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request, tmp_path):
    if request.param == "duckdb":
        target = Target("t", "duckdb", {"path": "warehouse.duckdb"})
    else:
        target = Target("t", "postgres", {"url": request.getfixturevalue("pg_url")})
    e = connect(target, tmp_path, 5)
    for schema in ("features", "predictions"):
        e.create_schema(schema)
    e.execute(rows_sql("Train", 300))
    e.execute(rows_sql("Population", 120))
    yield e
    e.close()


def pipeline():
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["City"]), (StandardScaler(), ["Age", "BMI"])),
        LogisticRegression(max_iter=500),
    )


def test_engine_columns_keep_the_stored_case(engine):
    assert list(engine.columns(TRAIN)) == ["Id", "Age", "BMI", "City", "Sick"]


@pytest.mark.parametrize("scorer", [score, score_in_sql], ids=["python", "sql"])
def test_mixed_case_columns_train_and_score(engine, scorer):
    spec = model(training="Train", label="Sick", key="Id")(pipeline).__toolkit_model__
    data = read_training(engine, TRAIN, spec)
    assert data.column_names == ["Id", "Sick", "Age", "BMI", "City"]
    result = fit_candidates(spec, data)
    assert [f["name"] for f in result.features] == ["Age", "BMI", "City"]
    output = exp.table_("scored", db="predictions")
    report = scorer(engine, result.estimator, spec, result.features, SOURCE, output, 1, 1)
    assert report.rows == 120
    names = list(engine.columns(output))
    assert names[:2] == ["Id", "prediction"], names
    keys = [row[0] for row in engine.fetch_rows(exp.select(exp.column("Id", quoted=True)).from_(output).order_by("1"))]
    assert keys == list(range(1, 121))


def test_a_source_declared_in_lower_case_still_finds_mixed_case_columns(engine, tmp_path, monkeypatch):
    from pathlib import Path
    from types import SimpleNamespace

    import toolkit.compiler
    from toolkit import sourcecolumns
    from toolkit.project import Source
    from toolkit.sources import check_sources

    # project.py lower-cases declared source columns; the stored `Age` must still count
    source = Source("raw", "Train", "features", {"age": "integer", "city": "text"}, Path("s.toml"), 1)
    project = SimpleNamespace(sources={"raw.train": source}, root=tmp_path, config=None)
    compiled = SimpleNamespace(project=project, steps={"s": SimpleNamespace(sources=["raw.train"])})
    monkeypatch.setattr(toolkit.project, "load_project", lambda root, config: project, raising=True)
    monkeypatch.setattr(toolkit.compiler, "compile_project", lambda root, project, target: "compiled again")
    # the stored spelling is remembered, and the project compiled again to quote it
    assert check_sources(engine, compiled, {"s"}) == "compiled again"
    resolved = sourcecolumns.resolve({"raw.train": source}, tmp_path, engine.target.name)["raw.train"]  # remembered per target
    assert resolved.stored_name("age") == "Age" and resolved.stored_name("city") == "City"
    assert resolved.columns == {"age": "integer", "city": "text"}

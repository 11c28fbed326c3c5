"""toolkit.mlcore.Feature: one typed feature from training through the registry to
scoring, stored in the registry's JSON format of before ({"name", "type"[,
"categories"]}), so versions registered earlier still load and score."""

from __future__ import annotations

import json

import pytest
from sqlglot import exp

from toolkit.config import Target
from toolkit.engines.duckdb import DuckDBEngine
from toolkit.mlcore import Feature, features_of, json_safe
from toolkit.models import model
from toolkit.registry import Registry
from toolkit.scoring import score, score_in_sql
from toolkit.state import table
from toolkit.training import fit_candidates, read_training

TRAIN = exp.to_table("features.train")
SOURCE = exp.to_table("features.population")

ROWS = """
create table features.{name} as
select i as customer_id, (i * 7919 % 1000) / 100.0 as score, ((i * 31) % 17)::integer as visits,
       ['north', 'south', 'east', 'west'][1 + i % 4] as region,
       case when (i * 7919 % 1000) / 100.0 + (i % 4) > 7 then 'stay' else 'churn' end as status
from range({rows}) t(i)
"""

# A version's `features` exactly as registries wrote them before Feature existed.
OLD_FEATURES = (
    '[{"name": "score", "type": "double"}, {"name": "visits", "type": "int32"}, '
    '{"categories": ["east", "north", "south", "west"], "name": "region", "type": "string"}]'
)


def test_a_feature_round_trips_through_its_json():
    feature = Feature("region", "string", ("east", "west"))
    assert feature.to_json() == {"name": "region", "type": "string", "categories": ["east", "west"]}
    assert Feature.from_json(feature.to_json()) == feature
    assert Feature.from_json(json.loads(json.dumps(feature.to_json()))) == feature
    assert Feature("x", "int64").to_json() == {"name": "x", "type": "int64"}  # no categories key
    assert (Feature("x", "int64").family, feature.family, Feature("d", "decimal128(10, 2)").family) == ("number", "string", "number")


def test_a_feature_reads_as_its_stored_dict():
    feature = Feature("region", "string", ("east",))
    assert feature == {"name": "region", "type": "string", "categories": ["east"]}
    assert feature["name"] == "region" and "categories" in feature and "categories" not in Feature("x", "double")
    assert dict(feature) == feature.to_json()
    assert json_safe([feature]) == [feature.to_json()]
    assert len({feature, Feature("region", "string", ("east",))}) == 1


def test_a_malformed_entry_is_refused_with_its_text():
    with pytest.raises(ValueError, match="want name and type"):
        Feature.from_json({"name": "x"})
    assert features_of(None) == []


@pytest.fixture
def engine(tmp_path):
    e = DuckDBEngine(Target("t", "duckdb", {"path": str(tmp_path / "w.duckdb")}), tmp_path)
    e.open(5)
    e.create_schema("features")
    e.create_schema("predictions")
    e.execute(ROWS.format(name="train", rows=1500))
    e.execute(ROWS.format(name="population", rows=800))
    yield e
    e.close()


def pipeline():
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return make_pipeline(
        make_column_transformer((StandardScaler(), ["score", "visits"]), (OneHotEncoder(handle_unknown="ignore"), ["region"])),
        LogisticRegression(max_iter=500),
    )


def test_training_gives_features_and_the_registry_stores_the_old_format(engine):
    spec = model(training="train", label="status", key="customer_id")(pipeline).__toolkit_model__
    result = fit_candidates(spec, read_training(engine, TRAIN, spec))
    assert all(isinstance(f, Feature) for f in result.features)
    registry = Registry(engine)
    registry.ensure()
    registry.register(
        model="churn", fingerprint="f", estimator=result.estimator, candidate=result.best, metrics={},
        features=result.features, training_table="train", run_id=1,
    )
    stored = engine.fetch_rows(exp.select("features").from_(table("model_versions")))[0][0]
    assert json.loads(stored) == json.loads(OLD_FEATURES)


@pytest.mark.parametrize("scorer", [score, score_in_sql], ids=["python", "sql"])
def test_a_version_stored_in_the_old_format_loads_and_scores(engine, scorer):
    spec = model(training="train", label="status", key="customer_id")(pipeline).__toolkit_model__
    result = fit_candidates(spec, read_training(engine, TRAIN, spec))
    registry = Registry(engine)
    registry.ensure()
    version = registry.register(
        model="churn", fingerprint="f", estimator=result.estimator, candidate=result.best, metrics={},
        features=[], training_table="train", run_id=1,
    )
    engine.execute(exp.update(table("model_versions"), {"features": exp.ParseJSON(this=exp.Literal.string(OLD_FEATURES))}))
    loaded = registry.get("churn", version)
    assert loaded.features == [Feature("score", "double"), Feature("visits", "int32"), Feature("region", "string", ("east", "north", "south", "west"))]
    engine.execute("update features.population set region = 'moon' where customer_id < 5")  # unseen: counted via categories
    output = exp.table_("scored", db="predictions")
    report = scorer(engine, registry.load("churn", version), spec, loaded.features, SOURCE, output, version, 1)
    assert report.rows == 800 and report.unseen_counts == {"region": 5}
    rows = engine.fetch_rows(exp.select("customer_id", "prediction").from_(output).order_by("customer_id"))
    frame = engine.fetch_arrow(exp.select("score", "visits", "region").from_(SOURCE).order_by("customer_id"))
    from toolkit.training import to_frame

    expected = result.estimator.predict(to_frame(frame, ["score", "visits", "region"]))
    assert [p for _, p in rows] == list(expected)

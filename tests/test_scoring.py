"""Python-path scoring on a real DuckDB: checks before reading, bounded batches, counted NULLs and unseen values."""

from __future__ import annotations

import json
import weakref

import numpy as np
import pyarrow as pa
import pytest
from sqlglot import exp

from toolkit import scoring
from toolkit.config import Target
from toolkit.engines.duckdb import DuckDBEngine
from toolkit.errors import StepFailed
from toolkit.models import model
from toolkit.scoring import proba_columns, score
from toolkit.training import fit_candidates, read_training, to_frame

TRAIN = exp.to_table("features.train")
SOURCE = exp.to_table("features.population")
OUTPUT = exp.to_table("predictions.build")

ROWS = """
create table features.{name} as
select i as customer_id,
       (i * 7919 % 1000) / 100.0 as score,
       ((i * 31) % 17)::integer as visits,
       ['north', 'south', 'east', 'west'][1 + i % 4] as region,
       case when (i * 7919 % 1000) / 100.0 + (i % 4) > 7 then 'stay' when i % 3 = 0 then 'churn' else 'pause' end as status,
       (i * 7919 % 1000) / 10.0 + ((i * 31) % 17) * 3 as spend
from range({rows}) t(i)
"""


@pytest.fixture
def engine(tmp_path):
    e = DuckDBEngine(Target("t", "duckdb", {"path": str(tmp_path / "w.duckdb")}), tmp_path)
    e.open(5)
    e.create_schema("features")
    e.create_schema("predictions")
    e.execute(ROWS.format(name="train", rows=3000))
    e.execute(ROWS.format(name="population", rows=5000))
    yield e
    e.close()


def encoded_classifier():
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["region"]),
            (make_pipeline(SimpleImputer(), StandardScaler()), ["score", "visits"]),
        ),
        LogisticRegression(max_iter=500),
    )


def trained(engine, build, **declared):
    declared = {"training": "train", "label": "status", "key": "customer_id", "exclude": ["spend"], **declared}
    spec = model(**declared)(build).__toolkit_model__
    return spec, fit_candidates(spec, read_training(engine, TRAIN, spec))


def linear():
    from sklearn.linear_model import LinearRegression

    return LinearRegression()


def expected_rows(engine, columns):
    names = ", ".join(columns)
    return engine.fetch_arrow(f"select customer_id, {names} from features.population order by customer_id")


def test_classifier_predictions_equal_predict_and_predict_proba(engine):
    spec, result = trained(engine, encoded_classifier)
    report = score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, version=3, run_id=11, batch_rows=700)

    written = engine.fetch_arrow("select * from predictions.build order by customer_id")
    assert written.column_names == [
        "customer_id", "prediction", "proba_churn", "proba_pause", "proba_stay", "model_version", "scored_at", "run_id",
    ]
    source = expected_rows(engine, ["score", "visits", "region"])
    frame = to_frame(source, ["score", "visits", "region"])
    assert written.column("customer_id").equals(source.column("customer_id"))
    assert written.column("prediction").to_pylist() == list(result.estimator.predict(frame))
    proba = np.column_stack([written.column(c).to_numpy() for c in ["proba_churn", "proba_pause", "proba_stay"]])
    np.testing.assert_allclose(proba, result.estimator.predict_proba(frame), rtol=0, atol=1e-12)
    assert set(written.column("model_version").to_pylist()) == {3}
    assert set(written.column("run_id").to_pylist()) == {11}
    assert len(set(written.column("scored_at").to_pylist())) == 1
    assert report.rows == 5000
    assert report.null_counts == {"score": 0, "visits": 0, "region": 0} and report.unseen_counts == {"region": 0}


def test_regressor_predictions_equal_predict(engine):
    from sklearn.ensemble import HistGradientBoostingRegressor

    def spend():
        return HistGradientBoostingRegressor(max_iter=30, random_state=0)

    spec, result = trained(engine, spend, label="spend", features=["score", "visits"])
    score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, version=1, run_id=1, batch_rows=999)
    written = engine.fetch_arrow("select * from predictions.build order by customer_id")
    assert written.column_names == ["customer_id", "prediction", "model_version", "scored_at", "run_id"]
    frame = to_frame(expected_rows(engine, ["score", "visits"]), ["score", "visits"])
    np.testing.assert_allclose(written.column("prediction").to_numpy(), result.estimator.predict(frame), rtol=0, atol=1e-12)


def test_an_empty_scoring_table_writes_an_empty_table(engine):
    spec, result = trained(engine, encoded_classifier)
    engine.execute("delete from features.population")
    report = score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1)
    assert report.rows == 0 and engine.count_rows(OUTPUT) == 0
    assert "proba_stay" in engine.columns(OUTPUT)


def test_a_wider_type_of_the_same_family_scores(engine):
    spec, result = trained(engine, encoded_classifier)
    engine.execute("create or replace table features.population as select * replace (visits::bigint as visits) from features.population")
    assert score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1).rows == 5000


# -- bounded memory ---------------------------------------------------------------------


class TrackedReader:
    """Wraps a RecordBatchReader; counts the batches still referenced when the next one is read."""

    def __init__(self, reader):
        self.reader, self.schema = reader, reader.schema
        self.alive = self.most_alive = self.read = 0
        self.largest = 0  # rows in the largest batch

    def _released(self):
        self.alive -= 1

    def __iter__(self):
        for batch in self.reader:
            self.most_alive = max(self.most_alive, self.alive)
            self.alive += 1
            self.read += 1
            self.largest = max(self.largest, batch.num_rows)
            weakref.finalize(batch, self._released)
            yield batch
            del batch


def test_scoring_two_million_rows_holds_one_batch_at_a_time(engine, monkeypatch):
    spec, result = trained(engine, linear, label="spend", features=["score", "visits"])
    engine.execute(
        "create table features.big as select i as customer_id, (i % 1000) / 100.0 as score, (i % 17)::integer as visits "
        "from range(2000000) t(i)"
    )
    tracked: list[TrackedReader] = []
    read_batches, create = engine.read_batches, engine.create_table_from_arrow
    pulled: list[int] = []  # input batches read when each output batch was pulled by the engine
    frames = {"alive": 0, "most": 0}

    def tracking_read(statement, batch_rows):
        tracked.append(TrackedReader(read_batches(statement, batch_rows)))
        return tracked[0]

    def tracking_create(table, reader):
        def outputs():
            for batch in reader:
                pulled.append(tracked[0].read)
                yield batch

        create(table, pa.RecordBatchReader.from_batches(reader.schema, outputs()))

    def tracking_frame(data, columns, convert=scoring.to_frame):
        frames["most"] = max(frames["most"], frames["alive"])
        frame = convert(data, columns)
        frames["alive"] += 1
        weakref.finalize(frame, lambda: frames.__setitem__("alive", frames["alive"] - 1))
        return frame

    monkeypatch.setattr(engine, "read_batches", tracking_read)
    monkeypatch.setattr(engine, "create_table_from_arrow", tracking_create)
    monkeypatch.setattr(scoring, "to_frame", tracking_frame)
    report = score(engine, result.estimator, spec, result.features, exp.to_table("features.big"), OUTPUT, 1, 1, batch_rows=100_000)

    assert report.rows == 2_000_000 == engine.count_rows(OUTPUT)
    # DuckDB 2 cuts batches at its row groups too (100000 + 22880 + ...): bounded, not uniform
    assert tracked[0].largest == 100_000 and 20 <= tracked[0].read <= 40
    assert tracked[0].most_alive <= 1  # at most the previous batch, never an accumulation
    assert frames["most"] == 0  # each batch's DataFrame is gone before the next is built
    assert pulled == list(range(1, tracked[0].read + 1))  # output k is produced from input k: no read-ahead


# -- data that cannot be scored honestly ------------------------------------------------


def test_missing_feature_column_stops_before_reading(engine):
    spec, result = trained(engine, encoded_classifier)
    engine.execute("alter table features.population rename column region to area")
    with pytest.raises(StepFailed) as error:
        score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1)
    assert str(error.value) == (
        "model encoded_classifier: column 'region' is missing from scoring table features.population; "
        "the model was trained on it"
    )
    assert engine.columns(OUTPUT) is None


def test_all_null_feature_column_stops(engine):
    spec, result = trained(engine, encoded_classifier)
    engine.execute("update features.population set visits = null")
    with pytest.raises(StepFailed) as error:
        score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1)
    assert str(error.value) == (
        "model encoded_classifier: feature column 'visits' of scoring table features.population is entirely NULL or NaN "
        "(5000 rows); the model cannot score it honestly"
    )
    assert engine.columns(OUTPUT) is None


def test_changed_type_family_stops(engine):
    spec, result = trained(engine, encoded_classifier)
    engine.execute("create or replace table features.population as select * replace (score::varchar as score) from features.population")
    with pytest.raises(StepFailed) as error:
        score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1)
    assert str(error.value) == (
        "model encoded_classifier: column 'score' of scoring table features.population is string, "
        "it was double in training (number -> string)"
    )


def test_a_fractional_feature_become_integer_stops(engine):
    """score was a double in training; as an integer its fractions are cut off and the
    model scores other data than it learnt (it scored, the run said success)."""
    spec, result = trained(engine, encoded_classifier)
    engine.execute("create or replace table features.population as select * replace (score::integer as score) from features.population")
    with pytest.raises(StepFailed) as error:
        score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1)
    assert str(error.value) == (
        "model encoded_classifier: column 'score' of scoring table features.population is int32, it was double "
        "in training: its fractions are cut off (cast it back to a fractional type in the step)"
    )
    assert engine.columns(OUTPUT) is None


def test_a_null_key_stops(engine):
    """One NULL key was scored (a prediction no join finds); two were refused as a repeat."""
    spec, result = trained(engine, encoded_classifier)
    engine.execute("update features.population set customer_id = null where customer_id = 7")
    with pytest.raises(StepFailed) as error:
        score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1)
    assert str(error.value) == "model encoded_classifier: key column 'customer_id' of scoring table features.population is NULL in 1 row(s)"
    assert engine.columns(OUTPUT) is None


def test_missing_scoring_table(engine):
    spec, result = trained(engine, encoded_classifier)
    with pytest.raises(StepFailed, match="model encoded_classifier: scoring table features.nope does not exist"):
        score(engine, result.estimator, spec, result.features, exp.to_table("features.nope"), OUTPUT, 1, 1)


# -- NULLs and unseen categories: counted, then the estimator's policy ------------------


def test_nulls_and_unseen_categories_are_counted(engine):
    spec, result = trained(engine, encoded_classifier)
    engine.execute("update features.population set region = 'moon' where customer_id < 30")
    engine.execute("update features.population set region = null where customer_id between 30 and 34")
    engine.execute("update features.population set score = null where customer_id % 1000 = 7")
    report = score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1, batch_rows=1000)
    assert report.unseen_counts == {"region": 30}
    assert report.null_counts == {"score": 5, "visits": 0, "region": 5}
    assert engine.count_rows(OUTPUT) == 5000


@pytest.mark.parametrize("path", ["python", "sql"])
def test_nan_in_a_double_feature_is_counted_as_missing(engine, path):
    """NaN is missing to scikit-learn (SimpleImputer, the trees): the run record counts it
    with the NULLs, on both scoring paths."""
    spec, result = trained(engine, encoded_classifier)
    engine.execute("update features.population set score = 'nan'::double where customer_id % 1000 = 7")
    engine.execute("update features.population set score = null where customer_id % 1000 = 8")
    run = score if path == "python" else scoring.score_in_sql
    report = run(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1)
    assert report.null_counts == {"score": 10, "visits": 0, "region": 0}


def test_an_estimator_that_rejects_nulls_stops_naming_the_column(engine):
    spec, result = trained(engine, linear, label="spend", features=["score", "visits"])
    engine.execute("update features.population set score = null where customer_id = 4321")
    with pytest.raises(StepFailed) as error:
        score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1, batch_rows=1000)
    message = str(error.value)
    assert message.startswith("model linear could not score features.population: ValueError: ")
    assert message.endswith("; in this batch 'score' has 1 NULL(s)")
    assert engine.columns(OUTPUT) is None


def test_an_encoder_that_rejects_unseen_categories_stops_naming_the_column(engine):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    def strict():
        return make_pipeline(
            make_column_transformer((OneHotEncoder(), ["region"]), remainder=StandardScaler()), LogisticRegression(max_iter=500)
        )

    spec, result = trained(engine, strict)
    engine.execute("update features.population set region = 'moon' where customer_id = 2500")
    with pytest.raises(StepFailed, match=r"could not score features\.population: .*'region' has 1 value\(s\) unseen in training$"):
        score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1, batch_rows=1000)


def test_an_unknown_category_error_lists_the_unseen_values_not_unrelated_nulls(engine):
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    def strict():
        return make_pipeline(make_column_transformer((OneHotEncoder(), ["region"]), remainder=SimpleImputer()),
                             LogisticRegression(max_iter=500))

    spec, result = trained(engine, strict)
    engine.execute("update features.population set region = 'moon' where customer_id = 2500")
    engine.execute("update features.population set score = null where customer_id = 2501")  # imputed: not the cause
    with pytest.raises(StepFailed) as error:
        score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1, batch_rows=1000)
    message = str(error.value)
    assert message.endswith("; in this batch 'region' has 1 value(s) unseen in training") and "NULL" not in message, message


def test_an_error_unrelated_to_nulls_or_categories_lists_no_counts_as_its_cause(engine):
    spec, result = trained(engine, encoded_classifier)  # takes NULLs and unseen categories
    engine.execute("update features.population set region = 'moon' where customer_id < 30")
    engine.execute("update features.population set score = null where customer_id % 1000 = 7")

    def broken(frame):
        raise ValueError("the estimator broke")

    result.estimator.predict = broken
    with pytest.raises(StepFailed) as error:
        score(engine, result.estimator, spec, result.features, SOURCE, OUTPUT, 1, 1, batch_rows=1000)
    message = str(error.value)
    assert message == "model encoded_classifier could not score features.population: ValueError: the estimator broke", message
    assert json.loads(error.value.details)["unseen_counts"] == {"region": 30}  # still in the run record


def test_probability_columns_are_identifier_safe_and_unique():
    assert proba_columns(["Yes!", "no way", 1, True, "a b", -1, ""]) == [
        "proba_yes", "proba_no_way", "proba_1", "proba_true", "proba_a_b", "proba_neg_1", "proba_class",
    ]
    with pytest.raises(ValueError, match="classes 'a b' and 'a_b' would both be published as column proba_a_b "):
        proba_columns(["a b", "a_b"])  # never proba_a_b_2: a suffix names no class

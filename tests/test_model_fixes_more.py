"""Model defects found by a tester: the label listed among the features (a silent leak),
PostgreSQL's overflow on large finite values in the monitoring profile (and the error
hidden behind a JSON TypeError), and the second rollback's message."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from fractions import Fraction
from types import SimpleNamespace

import pyarrow as pa
import pytest
from sqlglot import exp

from conftest import create_tables, write_files
from postgres_support import pg_url  # noqa: F401 (a fixture)
from test_models import declaration, model_file, project_files, source_rows, versions
from toolkit import monitoring
from toolkit.config import Target
from toolkit.engines import connect


def _project(tmp_path, declared: str):
    root = tmp_path / "p"
    write_files(root, project_files(**{"models/churn.py": model_file(declared=declared)}))
    create_tables(root / "warehouse" / "test.duckdb", source_rows())
    return root


@pytest.mark.slow
def test_the_label_listed_in_features_is_exit_2_at_the_model(tmp_path, run_cli):
    """It trained on its own label (roc_auc 1.0), was promoted and scored."""
    root = _project(tmp_path, declaration() + ', features=["tenure", "spend", "churned"]')
    code, out, err = run_cli("run", cwd=root)
    assert code == 2, out + err
    assert "models/churn.py:" in err and "the label 'churned' is also listed in features" in err and "Traceback" not in err, err
    assert versions(root) == []


# -- large finite values: moments that cannot overflow ---------------------------------


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request, tmp_path):
    if request.param == "duckdb":
        target = Target("m", "duckdb", {"path": "warehouse.duckdb"})
    else:
        target = Target("m", "postgres", {"url": request.getfixturevalue("pg_url")})
    engine = connect(target, tmp_path, 5.0)
    engine.create_schema("m")
    yield engine
    engine.close()


def _exact_moments(values: list[float]) -> tuple[float, float]:
    """Mean and population std in exact arithmetic (the variance may exceed a double)."""
    exact = [Fraction(v) for v in values]
    mean = sum(exact) / len(exact)
    variance = sum((v - mean) ** 2 for v in exact) / len(exact)
    with localcontext() as context:
        context.prec = 40
        return float(mean), float((Decimal(variance.numerator) / Decimal(variance.denominator)).sqrt())


@pytest.mark.parametrize("values", [
    [1.0, 3.0, -2.5, 1e250],  # PostgreSQL: "value out of range: overflow"; DuckDB: std inf
    [1e300, -1e300, 1.7e308, 2e-300],
    [1e-300, 3e-310, 2.0],  # small values only: the plain aggregates, unchanged
])
def test_profile_moments_of_large_finite_values(engine, values):
    table = exp.table_("Big", db="m", quoted=True)
    engine.create_table_from_arrow(table, pa.table({"X": pa.array(values + [None], type=pa.float64())}))
    (feature,) = monitoring.profile(engine, table, [("X", "numeric")], bins=2).features
    mean, std = _exact_moments(values)
    assert (feature.rows, feature.nulls) == (len(values) + 1, 1)
    assert feature.mean == pytest.approx(mean, rel=1e-12) and feature.std == pytest.approx(std, rel=1e-12)
    assert sum(feature.counts) == len(values)


MODEL = """\
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from toolkit import model


@model(training="training", label="y", key="id", scoring_table="scoring")
def m():
    return make_pipeline(StandardScaler(), LogisticRegression())
"""


def _rows(n: int, first: int, large: float | None = None) -> str:
    lines = ["id,x1,x2,y"]
    for i in range(n):
        x1, x2 = (i * 37 % 100) / 10.0, (i * 11 % 50) / 10.0
        lines.append(f"{first + i},{large if large is not None and i == 5 else x1},{x2},{int(x1 + x2 / 2 > 6)}")
    return "\n".join(lines) + "\n"


def test_a_postgres_model_scores_a_row_with_a_large_finite_value(tmp_path, run_cli, pg_url):  # noqa: F811
    """The scoring table's profile overflowed in PostgreSQL; the step failed with "the JSON
    object must be str, bytes or bytearray, not list" and published nothing."""
    from postgres_support import pg_query

    root = tmp_path / "p"
    write_files(root, {
        "toolkit.toml": f'name = "p"\ndialect = "duckdb"\ntarget = "pg"\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n',
        "warehouse/seeds/train_data.csv": _rows(200, 1),
        "warehouse/seeds/score_data.csv": _rows(50, 1000, large=1e250),
        "features/training.sql": 'select id, x1, x2, y from {{ ref("train_data") }}\n',
        "features/scoring.sql": 'select id, x1, x2 from {{ ref("score_data") }}\n',
        "models/m.py": MODEL,
    })
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select count(*) from predictions.m") == [(50,)]
    scored = [f for (text,) in pg_query(pg_url, "select profile from toolkit.model_baselines")
              for f in json.loads(text)["features"] if f["name"] == "x1" and f["rows"] == 50]
    assert scored and all(f["mean"] > 1e247 and f["std"] > 1e248 for f in scored), scored  # the scoring table's profile


def test_held_back_leaves_an_engines_own_diagnostics_alone():
    """ADBC's errors carry `details` as a list of (key, value) pairs: json.loads raised a
    TypeError that replaced the engine's error (PostgreSQL's "value out of range")."""
    from toolkit.errors import engine_message
    from toolkit.modelrun import held_back

    class DataError(Exception):
        pass

    error = DataError("INVALID_DATA: [libpq] Execution error [PGRES_FATAL_ERROR]: ERROR:  value out of range: overflow\n. SQLSTATE: 22003")
    error.details = [(b"PG_DIAG_MESSAGE_PRIMARY", b"value out of range: overflow")]
    outcome = SimpleNamespace(promotion=None, version=1, trained=True, metrics={}, candidates=[], rows_trained=10,
                              scoring_note=None, reason="trained version 1")
    held_back(None, SimpleNamespace(name="m"), outcome, 1, error)
    assert engine_message(error) == "value out of range: overflow"

    ours = RuntimeError("boom")  # a toolkit error without details still carries the version
    held_back(None, SimpleNamespace(name="m"), outcome, 1, ours)
    assert json.loads(ours.details)["version"] == 1 and ours.reason == "trained version 1"


# -- a second rollback ------------------------------------------------------------------


def test_a_second_rollback_says_which_versions_were_rolled_back_from(tmp_path):
    """v1, v2 production, rollback (v1), rollback again: the hint said "version 1 has been its
    only production version" although v2 was production a moment before."""
    from sklearn.linear_model import LogisticRegression

    from test_registry import LABEL, NUMERIC, register
    from toolkit.engines.duckdb import DuckDBEngine
    from toolkit.errors import ProjectError
    from toolkit.registry import Registry

    engine = DuckDBEngine(Target("t", "duckdb", {"path": str(tmp_path / "w.duckdb")}), tmp_path)
    engine.open(5)
    try:
        registry = Registry(engine)
        registry.ensure()
        for run_id in (1, 2, 3):
            register(registry, fingerprint=f"fp{run_id}", run_id=run_id, estimator=LogisticRegression().fit(NUMERIC, LABEL))
        for version in (1, 2, 3):
            registry.promote("churn", version)
        assert registry.rollback("churn").version == 2 and registry.rollback("churn").version == 1
        with pytest.raises(ProjectError) as error:
            registry.rollback("churn")
        assert error.value.exit_code == 2 and "only production version" not in str(error.value)
        assert ("version 1 was its first production version; rollbacks since went back from versions 2, 3: "
                "toolkit models promote churn VERSION makes it production again") in str(error.value), str(error.value)
        registry.promote("churn", 3)
        assert registry.rollback("churn").version == 1
        with pytest.raises(ProjectError, match="went back from versions 2, 3: toolkit models promote churn VERSION"):
            registry.rollback("churn")
    finally:
        engine.close()

"""The declared leakage check: feature times later than the label's as-of time fail the run."""

from __future__ import annotations

import duckdb
import pytest

pytestmark = pytest.mark.slow  # end-to-end runs; the quick loop is pytest -m "not slow"

MODEL = """\
from sklearn.linear_model import LogisticRegression
from toolkit import model


@model(training="training", label="label", key="id", split="random", metrics=["accuracy"],
       as_of="snapshot_date", feature_times=["last_event_at"])
def leaky():
    return LogisticRegression()
"""

SOURCES = """\
[app]
[app.tables.events]
columns = { id = "bigint", x = "double", label = "integer", snapshot_date = "timestamp", last_event_at = "timestamp" }
"""


def rows(late: int) -> str:
    """200 rows; the first `late` of them have an event after their snapshot."""
    return f"""
        select range as id, (range % 7)::double as x, (range % 2)::integer as label,
               timestamp '2025-01-01' as snapshot_date,
               timestamp '2025-01-01' + to_days(cast(case when range < {late} then 3 else -3 end as integer)) as last_event_at
        from range(200)
    """


def project(make_project, late: int):
    return make_project(
        {
            "warehouse/sources.toml": SOURCES,
            "features/training.sql": "select id, x, label, snapshot_date, last_event_at from {{ source('app', 'events') }}\n",
            "models/leaky.py": MODEL,
        },
        {"app.events": rows(late)},
    )


def test_feature_times_before_the_as_of_time_pass(make_project, run_cli):
    root = project(make_project, late=0)

    code, out, err = run_cli("run", cwd=root)

    assert code == 0, out + err
    with duckdb.connect(str(root / "warehouse" / "test.duckdb"), read_only=True) as connection:
        assert connection.execute("select count(*) from predictions.leaky").fetchone() == (200,)


def test_a_feature_time_after_the_as_of_time_fails_the_run(make_project, run_cli):
    root = project(make_project, late=3)

    code, out, err = run_cli("run", cwd=root)

    assert code == 1
    assert "leakage: 3 row(s) of training have last_event_at later than snapshot_date" in out
    assert "Traceback" not in out + err


def test_a_half_declared_leakage_check_is_a_project_error(make_project, run_cli):
    root = project(make_project, late=0)
    (root / "models" / "leaky.py").write_text(MODEL.replace(', feature_times=["last_event_at"]', ""))

    code, out, err = run_cli("run", cwd=root)

    assert code == 2
    assert "models/leaky.py" in err and "needs both as_of" in err

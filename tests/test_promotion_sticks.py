"""A manual promote or rollback holds: the next run does not undo it (issue 14 item 1).
Only a newly trained version is put through the promotion policy again."""

from __future__ import annotations

import pytest

from conftest import create_tables, write_files
from test_models import LOGISTIC, model_file, project_files, query, source_rows

pytestmark = pytest.mark.slow  # model runs in subprocesses


def production(root) -> int:
    return query(root, "select version from toolkit.model_versions where model = 'churn' and status = 'production'")[0][0]


def test_manual_choices_survive_the_next_run(tmp_path, run_cli):
    root = tmp_path / "p"
    write_files(root, project_files())
    create_tables(root / "warehouse" / "test.duckdb", source_rows())
    assert run_cli("run", cwd=root)[0] == 0
    write_files(root, {"models/churn.py": model_file(body=LOGISTIC.replace("C=1.0", "C=0.5"))})
    assert run_cli("run", cwd=root)[0] == 0
    assert production(root) == 2

    code, out, err = run_cli("models", "rollback", "churn", cwd=root)
    assert code == 0 and production(root) == 1, out + err
    code, out, err = run_cli("run", cwd=root)  # re-scores with version 1; version 2's fingerprint is unchanged
    assert code == 0, out + err
    assert production(root) == 1
    reason = query(root, "select reason from toolkit.step_runs where step = 'churn' order by run_id desc limit 1")[0][0]
    assert "production stays version 1 (set by `toolkit models rollback`)" in reason, reason
    assert query(root, "select distinct model_version from predictions.churn") == [(1,)]

    assert run_cli("models", "promote", "churn", "2", cwd=root)[0] == 0
    assert run_cli("run", cwd=root)[0] == 0 and production(root) == 2
    assert query(root, "select distinct model_version from predictions.churn") == [(2,)]

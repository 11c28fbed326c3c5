"""The churn project of the per-environment model tests (test_env_models.py,
test_models_env_commands.py, test_models_env_promote.py) on DuckDB or PostgreSQL, and
what they read of it."""

from __future__ import annotations

from _projects import DEFAULT_CONFIG, make_test_project
from postgres_support import pg_query
from test_models import query as duck_query

PG_CONFIG = 'name = "test"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "${PG_URL}"\n'
MODEL = """\
from sklearn.linear_model import LogisticRegression
from toolkit import model


@model(training="tr", label="label", key="id", scoring_table="sc", metrics=["accuracy"])
def churn():
    return LogisticRegression(C={c})
"""
FILES = {
    "features/tr.sql": "select n as id, (n % 100) / 10.0 as x, case when n % 100 >= 50 then 1 else 0 end as label "
                       "from generate_series(1, 400) as t(n)\n",
    "features/sc.sql": "select n as id, n / 10.0 as x from generate_series(1, 10) as t(n)\n",
    "models/churn.py": MODEL.format(c="1.0"),
}


def churn_project(request, tmp_path, run_cli, files: dict[str, str]):
    """(root, read(sql) -> rows, toolkit(*args, expect=0) -> output) of a project of `files`
    on request.param's engine: "duckdb" or "postgres" (pg_url's database)."""
    if request.param == "duckdb":
        root = make_test_project(tmp_path / "p", {**files, "toolkit.toml": DEFAULT_CONFIG})
        read, env = (lambda sql: duck_query(root, sql)), {}
    else:
        url = request.getfixturevalue("pg_url")
        root = make_test_project(tmp_path / "p", {**files, "toolkit.toml": PG_CONFIG})
        read, env = (lambda sql: pg_query(url, sql)), {"PG_URL": url}

    def toolkit(*args: str, expect: int = 0) -> str:
        code, out, err = run_cli(*args, cwd=root, env=env)
        assert code == expect and "Traceback" not in out + err, f"toolkit {' '.join(args)}: exit {code}\n{out}{err}"
        return out + err

    return root, read, toolkit


def production(read) -> list[tuple]:
    return read("select version from toolkit.model_versions where model = 'churn' and status = 'production'")


def scored_with(read, relation: str) -> list[tuple]:
    return read(f"select distinct model_version from {relation}")


def churn_step(read) -> tuple[str, str]:
    return read("select action, reason from toolkit.step_runs where step = 'churn' "
                "and run_id = (select max(run_id) from toolkit.step_runs where step = 'churn')")[0]

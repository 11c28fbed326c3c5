"""The no-op run with models (toolkit/compilecache.py): a compile-cache hit takes the
model steps as they were compiled and checked, imports no project Python and no
scikit-learn, pandas or skops; every change that should make a model train or score
still does (a model file, vars, a version a person made production, a dev env)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from toolkit import compilecache, compiler
from toolkit.compiler import compile_project

from _projects import env, write_files
from test_compile_cache import assert_same, cached, fields, is_hit
from test_models import query

MODEL = """\
from sklearn.linear_model import LogisticRegression
from toolkit import model


@model(training="tr", label="label", key="id", scoring_table="sc", metrics=["accuracy"]{extra})
def churn():
    return LogisticRegression(C={c})
"""
FILES = {
    "features/tr.sql": "select n as id, (n % 100) / 10.0 as x, case when n % 100 >= {{ var('cut', 50) }} then 1 else 0 end as label "
                       "from generate_series(1, 400) as t(n)\n",
    "features/sc.sql": "select n as id, n / 10.0 as x from generate_series(1, 10) as t(n)\n",
    "features/outcomes.sql": "select n as id, n % 2 as label from generate_series(1, 10) as t(n)\n",
    "models/churn.py": MODEL.format(c="1.0", extra=""),
}


@pytest.fixture(autouse=True)
def _no_process_cache(fresh_compile_cache):
    """Every test starts as a new process would (conftest.fresh_compile_cache)."""


@pytest.fixture
def project(make_project):
    return make_project(FILES)


def test_a_hit_takes_model_steps_as_compiled_without_compiling_or_checking_them(project, monkeypatch):
    fresh = cached(project)

    def refuse(*args, **kwargs):
        raise AssertionError("a model step compiled or checked on a compile-cache hit")

    for name in ("_compile_model", "_check_model_columns", "_check_model_tags", "_check_cycles"):
        monkeypatch.setattr(compiler, name, refuse)
    loaded = cached(project)
    assert loaded.project.models["churn"].build is None  # models/churn.py not imported
    assert fields(loaded.steps["churn"]) == fields(fresh.steps["churn"])
    monkeypatch.undo()
    assert_same(compile_project(project), loaded)


def test_a_model_with_outcomes_is_cached(project):
    write_files(project, {"models/churn.py": MODEL.format(c="1.0", extra=', outcomes="outcomes"')})
    fresh = cached(project)
    assert fresh.steps["churn"].upstream == ["outcomes", "sc", "tr"]
    assert is_hit(project)
    assert_same(compile_project(project), cached(project))


def test_a_cache_without_model_steps_is_ignored(project):
    """A file of the previous format (or one whose model steps do not fit) compiles again."""
    cached(project)
    path = compilecache.cache_path(project)
    import hashlib
    import pickle

    header, _, body = path.read_bytes().split(b"\n", 2)
    payload = pickle.loads(body)
    payload["model_steps"] = []
    body = pickle.dumps(payload)
    path.write_bytes(header + b"\n" + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    assert compilecache.load(project, None, payload["key"]) is None
    assert_same(compile_project(project), cached(project))


HEAVY = ("sklearn", "pandas", "skops", "scipy", "toolkit_models_churn")
IMPORTS = """\
import sys
from toolkit.cli import main
sys.argv = ["toolkit", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as done:
    code = done.code
print("IMPORTED", sorted({name.split(".")[0] for name in sys.modules}), "EXIT", code)
"""


def toolkit(root, *args: str) -> str:
    done = subprocess.run([sys.executable, "-c", IMPORTS, *args], cwd=root, capture_output=True, text=True, env=env(), timeout=180)
    assert done.returncode == 0 and "EXIT 0" in done.stdout, done.stdout + done.stderr
    return done.stdout


def imported(out: str) -> set[str]:
    return set(eval(out.split("IMPORTED", 1)[1].split("EXIT")[0]))  # a list literal we printed


def churn_step(root) -> tuple[str, str]:
    return query(root, "select action, reason from toolkit.step_runs where step = 'churn' "
                       "and run_id = (select max(run_id) from toolkit.step_runs where step = 'churn')")[0]


def scored_with(root, relation: str = "predictions.churn") -> list[tuple]:
    return query(root, f"select distinct model_version from {relation}")


@pytest.mark.slow
def test_a_noop_run_imports_no_project_code_and_each_change_still_trains_or_scores(project):
    assert "sklearn" in imported(toolkit(project, "run"))  # trains version 1
    out = toolkit(project, "run")
    assert not imported(out) & set(HEAVY), imported(out) & set(HEAVY)
    assert churn_step(project)[0] == "reuse"
    for command in (("plan",), ("ls",)):
        assert not imported(toolkit(project, *command)) & set(HEAVY), command

    write_files(project, {"models/churn.py": MODEL.format(c="0.5", extra="")})  # the model file: trains version 2
    toolkit(project, "run")
    assert churn_step(project)[0] == "train" and scored_with(project) == [(2,)]
    toolkit(project, "run")
    assert churn_step(project)[0] == "reuse"

    toolkit(project, "models", "promote", "churn", "1")  # a person: production is version 1 again
    out = toolkit(project, "run")
    action, reason = churn_step(project)
    assert action == "score" and "version 1" in reason, (action, reason)
    assert scored_with(project) == [(1,)]
    assert "toolkit_models_churn" not in imported(out)  # scoring loads the stored artifact, not the model file

    toolkit(project, "run", "--vars", '{"cut": 40}')  # other training data: trains
    assert churn_step(project)[0] == "train"

    toolkit(project, "run", "--env", "dev")  # dev's first run: its own predictions, scored with a version
    assert churn_step(project)[0] in ("score", "train")
    assert scored_with(project, "predictions__dev.churn")


def test_duckdb_catalog_reads_as_information_schema(tmp_path):
    """The DuckDB adapter reads duckdb_columns() (the no-op run asks the catalog a dozen
    times): the same columns, types and order as information_schema.columns gives."""
    from sqlglot import exp

    from toolkit.config import Target
    from toolkit.engines import connect
    from toolkit.engines.base import Engine

    engine = connect(Target("t", "duckdb", {"path": "w.duckdb"}), tmp_path, 1.0)
    try:
        engine._run("create type mood as enum ('a', 'b')")
        engine._run("create schema s")
        engine._run('create table s.x ("Weird Name" decimal(18,3), b struct(a int, b varchar[]), c mood, d timestamptz, '
                    "e map(varchar, int), f int[3], g union(n int, s varchar), h uuid, i interval, j blob)")
        engine._run("create view s.v as select j, \"Weird Name\" from s.x")
        engine._run("create temp table x (temp_only int)")  # another catalog: not s.x's
        for schema in ("s", "main", "absent"):
            assert list(engine.catalog(schema).items()) == list(Engine.catalog(engine, schema).items()), schema
        for name in ("x", "v", "absent"):
            table = exp.table_(name, db="s")
            assert engine.columns(table) == Engine.columns(engine, table), name
            assert list(engine.columns(table) or ()) == list(Engine.columns(engine, table) or ()), name
        assert list(engine.columns(exp.table_("v", db="s"))) == ["j", "Weird Name"]
    finally:
        engine.close()


def test_sources_are_read_once_per_content_and_again_when_it_changes(make_project):
    from toolkit.errors import ProjectError
    from toolkit.project import discover_sources

    root = make_project({"warehouse/sources.toml": '[app.tables.orders]\ncolumns = { id = "bigint" }\n'})
    first = discover_sources(root)
    first.pop("app.orders")  # a caller's dict is its own
    assert discover_sources(root)["app.orders"].columns == {"id": "bigint"}
    write_files(root, {"warehouse/sources.toml": '[app.tables.orders]\ncolumns = { id = "bigint", amount = "double" }\n'})
    assert discover_sources(root)["app.orders"].columns == {"id": "bigint", "amount": "double"}
    write_files(root, {"warehouse/sources.toml": '[app.tables.orders]\ncolumns = { id = "varchr" }\n'})
    for _ in range(2):  # a mistake is reported every time, not remembered as no sources
        with pytest.raises(ProjectError, match="varchr"):
            discover_sources(root)
    (root / "warehouse/sources.toml").unlink()
    assert discover_sources(root) == {}

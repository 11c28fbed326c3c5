"""Five small defects, each with the test that failed before its fix.

1. `toolkit gc --dry-run` listed as "would drop" a physical table that a user's own view reads,
   which a real gc keeps (environments.drop_physical): the dry run now says what a real gc does.
2. A copy-on-write backfill failing at a later interval left the earlier interval's table to
   the run's closing sweep, and its rows in toolkit.intervals named a table no longer there:
   the backfill drops what it built itself and records intervals of the published table only.
3. On PostgreSQL a CSV seed integer column past BIGINT was created as plain `numeric` (ADBC),
   DuckDB DECIMAL(38,0): Arrow decimals now keep their precision and scale, numeric(38,0).
4. A docstring change in a @model file trained a new version: docstrings now count as little as
   comments; versions registered while they counted are found by that fingerprint too.
5. LogisticRegressionCV, RidgeCV, LassoCV and ElasticNetCV were refused at registration (not
   allow-listed), though the SQL compiler scores them as their base estimators (coef_, intercept_).
"""

from __future__ import annotations

import re


from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)
from test_promote_select_gc import warehouse  # noqa: F401 (fixture)
from test_promote_select_gc import physical_of


def _named(text: str, verb: str) -> set[str]:
    return {re.search(r"toolkit_physical\.([^\s:]+)", line).group(1) for line in text.splitlines()
            if line.strip().startswith(verb) and "toolkit_physical." in line}


def test_gc_dry_run_says_exactly_what_a_real_gc_drops_and_keeps(warehouse):  # noqa: F811 (fixture)
    assert warehouse.toolkit("run")[0] == 0
    old_c = physical_of(warehouse, "c")
    warehouse.sql(f"create view app.mine as select * from toolkit_physical.{old_c}")
    (warehouse.root / "features/a.sql").write_text('select id, v + 1 as v from {{ source("app", "events") }}\n')
    assert warehouse.toolkit("run", "--env", "dev")[0] == 0
    assert warehouse.toolkit("promote", "dev")[0] == 0  # prod's old a, b and c are kept for rollback only

    code, dry = warehouse.toolkit("gc", "--retention", "0s", "--dry-run")
    assert code == 0, dry
    would_drop, would_keep = _named(dry, "would drop "), _named(dry, "kept ")
    assert old_c not in would_drop and would_keep == {old_c}, dry
    assert "view app.mine reads it" in dry, dry

    code, done = warehouse.toolkit("gc", "--retention", "0s")
    assert code == 0, done
    assert would_drop and _named(done, "dropped ") == would_drop, (dry, done)
    assert _named(done, "kept ") == would_keep, done
    assert warehouse.rows("select count(*) from app.mine") == [(5,)]


# -- 2. a failed copy-on-write backfill drops the tables it built --------------------------

from test_incremental_fixes import BAD_CAST, Warehouse as IncrementalWarehouse, warehouse_url  # noqa: E402,F401 (fixture)


def _physical(w: IncrementalWarehouse) -> set[str]:
    return {name for (name,) in w.rows("select table_name from information_schema.tables where table_schema = 'toolkit_physical'")}


def test_a_failed_copy_on_write_backfill_leaves_no_table_behind(tmp_path, warehouse_url):  # noqa: F811 (fixture)
    w = IncrementalWarehouse(tmp_path, warehouse_url, 'id = "bigint", ts = "timestamp", s = "varchar"', BAD_CAST)
    w.sql("insert into app.ev values (1, '2024-01-10 00:00', '1')")
    assert w.toolkit("run", "--env", "dev").code == 0
    assert w.toolkit("promote", "dev", "prod").code == 0  # shared by dev and prod: dev's backfill copies on write
    w.sql("insert into app.ev values (2, '2024-01-02 12:00', '2')")
    done = w.toolkit("run", "--env", "dev", "--start", "2024-01-02", "--end", "2024-01-03")
    assert done.code == 0, done.out + done.err
    assert w.toolkit("promote", "dev", "prod").code == 0  # shared again
    # held: [01-02, 01-03) and [01-10, ...); missing: [01-01, 01-02) and [01-03, 01-05)
    w.sql("insert into app.ev values (3, '2024-01-01 12:00', '3'), (4, '2024-01-04 12:00', 'abc')")
    before = _physical(w)
    published = {env: w.rows(f"select id, ts, n from {schema}.inc order by id") for env, schema in (("prod", "features"), ("dev", "features__dev"))}
    done = w.toolkit("run", "--env", "dev", "--start", "2024-01-01", "--end", "2024-01-05")
    assert done.code == 1, done.out + done.err
    assert _physical(w) == before  # the first interval's table, built before the second failed, is gone
    recorded = {name for (name,) in w.rows("select distinct physical_name from toolkit.intervals")}
    assert recorded <= before, recorded - before  # no interval is recorded for a table that is not there
    assert {env: w.rows(f"select id, ts, n from {schema}.inc order by id") for env, schema in (("prod", "features"), ("dev", "features__dev"))} == published
    w.sql("delete from app.ev where id = 4")  # fixed: the same backfill goes through
    done = w.toolkit("run", "--env", "dev", "--start", "2024-01-01", "--end", "2024-01-05")
    assert done.code == 0, done.out + done.err
    assert w.rows("select id from features__dev.inc order by id") == [(1,), (2,), (3,)]


# -- 3. a CSV seed's integer past BIGINT is numeric(38,0) on PostgreSQL, as on DuckDB ------------

from test_freshness_seeds_fixes import HUGE, SEED_CONFIG  # noqa: E402
from _projects import cli_tuple, write_files  # noqa: E402


def test_a_huge_integer_seed_is_numeric_38_0_on_postgres_as_on_duckdb(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = tmp_path / "p"
    write_files(root, {"toolkit.toml": SEED_CONFIG + f'engine = "postgres"\nurl = "{pg_url}"\n', "warehouse/seeds/s.csv": HUGE,
                       "features/a.sql": "select id + 1 as next from {{ ref('s') }} where name = 'a'\n"})
    code, out, err = cli_tuple("run", cwd=root)
    assert code == 0, out + err
    physical = pg_query(pg_url, "select physical_name from toolkit.published where step = 's'")[0][0]
    assert pg_query(pg_url, "select data_type, numeric_precision, numeric_scale from information_schema.columns "
                            f"where table_schema = 'toolkit_physical' and table_name = '{physical}' and column_name = 'id'") == [("numeric", 38, 0)]
    rows = pg_query(pg_url, "select id::text from raw.s order by name")
    assert [value for (value,) in rows[:3]] == ["9007199254740993", "12345678901234567890123", "-9223372036854775809"]
    assert pg_query(pg_url, "select next::text from features.a") == [("9007199254740994",)]


# -- 4. a docstring in a model file trains no new version ----------------------------------------

import ast  # noqa: E402
import dataclasses  # noqa: E402
import hashlib  # noqa: E402

from _projects import write_files as write_model  # noqa: E402
from test_model_keywords_retrain import MODEL, _spec, _what_changes, churn_line, churn_ran, project, versions  # noqa: E402,F401 (fixture)
from toolkit.materializations.model import training_fingerprint  # noqa: E402
from toolkit.modelrun import model_fingerprint  # noqa: E402
from toolkit.models import NOTHING_ONLY, SCORING_KEYWORDS, discover_models  # noqa: E402

DOCUMENTED = MODEL.replace("def churn():\n", 'def churn():\n    """{doc}"""\n')


def _documented(root, doc: str, module_doc: str = ""):
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "models" / "churn.py").write_text((f'"""{module_doc}"""\n' if module_doc else "") + DOCUMENTED.format(extra="", c="1.0", doc=doc))
    return discover_models(root)["churn"]


def test_a_docstring_changes_neither_what_trains_nor_what_scores(tmp_path):
    base = _spec(tmp_path / "base")
    assert _what_changes(base, _documented(tmp_path / "one", "Who leaves.")) == "nothing"
    assert _what_changes(base, _documented(tmp_path / "two", "Who leaves next month.", module_doc="Churn.")) == "nothing"
    assert _what_changes(base, _spec(tmp_path / "c", c="0.5")) == "retrain"  # code still counts


def _old_rule(path) -> str:
    """The training code hash before docstrings were left out: the syntax tree without the
    re-score and nothing keywords of @model, docstrings in it."""
    tree = ast.parse(path.read_bytes())
    for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "model"):
        call.keywords = [k for k in call.keywords if k.arg not in SCORING_KEYWORDS + NOTHING_ONLY]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def test_a_version_registered_when_docstrings_counted_is_found_again(tmp_path):
    spec = _documented(tmp_path / "p", "Who leaves.")
    old = dataclasses.replace(spec, training_code_hash=_old_rule(tmp_path / "p" / "models" / "churn.py"))
    registered = model_fingerprint(old.declaration_hash("training"), "data")
    assert registered != model_fingerprint(spec.declaration_hash("training"), "data")  # the rule did change

    class Registry:
        def find(self, name: str, fingerprint: str):
            return {"version": 1} if fingerprint == registered else None

    assert training_fingerprint(Registry(), spec, "data") == registered


def test_editing_a_model_docstring_reuses_the_version(project):  # noqa: F811 (fixture)
    root, read, toolkit = project
    write_model(root, {"models/churn.py": DOCUMENTED.format(extra="", c="1.0", doc="Who leaves.")})
    toolkit("run")
    assert versions(read) == 1
    write_model(root, {"models/churn.py": DOCUMENTED.format(extra="", c="1.0", doc="Who leaves next month, by segment.")})
    line = churn_line(toolkit)
    assert "reuse" in line and "train" not in line, line
    toolkit("run")
    assert not churn_ran(read) and versions(read) == 1


# -- 5. the *CV linear estimators are registered and scored in SQL as their base estimators -----

import numpy as np  # noqa: E402

import test_sql_scoring  # noqa: E402

CV_BODIES = {
    "logistic_cv": ('training="training", label="churned"', "make_pipeline(ENCODE, LogisticRegressionCV(Cs=3, cv=3, max_iter=500))"),
    "ridge_cv": ('training="spend_training", label="future_spend"', "make_pipeline(ENCODE, RidgeCV(alphas=(0.1, 1.0, 10.0)))"),
    "lasso_cv": ('training="spend_training", label="future_spend"', "make_pipeline(ENCODE, LassoCV(alphas=(0.01, 0.1, 1.0), cv=3))"),
    "elastic_cv": ('training="spend_training", label="future_spend"', "make_pipeline(ENCODE, ElasticNetCV(alphas=(0.01, 0.1, 1.0), cv=3))"),
}


def test_cv_linear_estimators_train_register_and_score_in_sql_as_in_python(tmp_path, run_cli):
    pairs = {f"{name}_{mode}": (mode, declared, body) for name, (declared, body) in CV_BODIES.items() for mode in ("sql", "python")}
    models = "from sklearn.linear_model import ElasticNetCV, LassoCV, LogisticRegressionCV, RidgeCV\n" + test_sql_scoring.models_file(pairs)
    root = test_sql_scoring.project(tmp_path, models)
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    for name in CV_BODIES:
        assert test_sql_scoring.details(root, f"{name}_sql")["scored_in"] == "sql", name
        sql = test_sql_scoring.arrow(root, f"select * exclude (scored_at, run_id, model_version) from predictions.{name}_sql order by customer_id")
        python = test_sql_scoring.arrow(root, f"select * exclude (scored_at, run_id, model_version) from predictions.{name}_python order by customer_id")
        assert sql.num_rows == python.num_rows == 200 and sql.column_names == python.column_names, name
        for column in sql.column_names:
            left, right = sql.column(column), python.column(column)
            if column.startswith("proba_") or (column == "prediction" and name != "logistic_cv"):
                assert np.allclose(left.to_numpy(), right.to_numpy(), rtol=0, atol=1e-9), (name, column)
            else:
                assert left.to_pylist() == right.to_pylist(), (name, column)

"""The on-disk compile cache (toolkit/compilecache.py): an unchanged project loads
without compiling, and gives exactly what compiling gives; any change of any input
misses; a broken cache file is ignored."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from toolkit import compilecache, sql
from toolkit.compiler import CachedStep, compile_project
from toolkit.config import load_config
from toolkit.fingerprint import fingerprint_steps

from conftest import database_path, write_files

SOURCES = """
[app]
schema = "app"

[app.tables.orders]
columns = { id = "bigint", amount = "double", status = "varchar", ordered_at = "timestamp" }
tests = { status = [{ accepted_values = { values = ["new", "paid"], severity = "warn" } }] }
"""

FILES = {
    "warehouse/sources.toml": SOURCES,
    "warehouse/seeds/rates.csv": "status,rate\nnew,1.5\npaid,2.0\n",
    "features/macros/money.sql": "{% macro money(x) %}round({{ x }} * {{ var('scale', 1) }}, 2){% endmacro %}\n",
    "features/orders.sql": """\
        {{ config(tests={"id": ["not_null", "unique"]}, description="orders, cleaned") }}
        -- a comment
        select id, {{ money('amount') }} as amount, lower(status) as status, ordered_at
        from {{ source('app', 'orders') }}
        where amount > {{ var('min_amount', 0) }}
    """,
    "features/priced.sql": """\
        select o.id, o.amount * r.rate as priced, o.status, case when o.amount > 10 then 'big' else 'small' end as size
        from {{ ref('orders') }} o join {{ ref('rates') }} r on o.status = r.status
    """,
    "features/totals.sql": """\
        {{ config(materialized='view') }}
        select status, count(*) as n, sum(priced) as total from {{ ref('priced') }} group by status
    """,
    "features/daily.sql": """\
        {{ config(materialized='incremental', unique_key='id', time_column='ordered_at') }}
        select id, ordered_at, amount from {{ ref('orders') }}
        {% if is_incremental() %} where ordered_at > (select max(ordered_at) from {{ this }}) {% endif %}
    """,
    "features/unioned.sql": "select id from {{ ref('orders') }} union all select id from {{ ref('priced') }}\n",
    "features/tests/positive.sql": "select * from {{ ref('priced') }} where priced < 0\n",
}

ROWS = {"app.orders": "select * from (values (1, 12.5, 'new', timestamp '2024-01-01'), (2, 3.0, 'paid', timestamp '2024-01-02')) v(id, amount, status, ordered_at)"}


@pytest.fixture(autouse=True)
def _no_process_cache(fresh_compile_cache):
    """Every test starts as a new process would (conftest.fresh_compile_cache)."""


@pytest.fixture
def project(make_project):
    return make_project(FILES, ROWS)


def cached(root: Path, vars_override: dict | None = None):
    """compile_cached through the disk only (the per-process cache cleared first)."""
    compilecache._cache.clear()
    return compilecache.compile_cached(root, vars_override, disk=True)


def is_hit(root: Path, vars_override: dict | None = None) -> bool:
    key = compilecache.project_key(root, vars_override, load_config(root, vars_override))
    return compilecache._read(compilecache.cache_path(root.resolve()), key) is not None


def fields(step) -> dict:
    names = ("name", "kind", "file", "materialized", "upstream", "sources", "columns", "config", "template", "rendered",
             "content_hash", "data_tests", "tags", "key_columns")
    return {name: getattr(step, name) for name in names} | {"relation": step.relation.sql()}


def assert_same(fresh, loaded):
    assert list(fresh.steps) == list(loaded.steps)
    assert fresh.dag.order() == loaded.dag.order()
    for name, step in fresh.steps.items():
        other = loaded.steps[name]
        assert fields(step) == fields(other), name
        if step.tree is None:
            assert other.tree is None
            continue
        for dialect in ("duckdb", "postgres"):
            assert sql.to_target(step.tree, fresh.dialect, dialect) == sql.to_target(other.tree, loaded.dialect, dialect), (name, dialect)
        assert sql.canonical_text(step.tree, fresh.dialect) == sql.canonical_text(other.tree, loaded.dialect)
    assert fresh.source_tests == loaded.source_tests
    a = fingerprint_steps(fresh, fresh.dag.order(), {}, {"app.orders": "x"}, "duckdb")
    b = fingerprint_steps(loaded, loaded.dag.order(), {}, {"app.orders": "x"}, "duckdb")
    for name in a:
        assert (a[name].definition, a[name].data, a[name].columns, a[name].inputs) == \
               (b[name].definition, b[name].data, b[name].columns, b[name].inputs), name


def test_second_compile_loads_the_cache_and_equals_compiling(project):
    first = cached(project)
    assert not isinstance(first.steps["orders"], CachedStep)  # compiled
    assert compilecache.cache_path(project).is_file()
    second = cached(project)
    assert isinstance(second.steps["orders"], CachedStep)  # loaded
    assert "_tree" not in second.steps["priced"].__dict__ or second.steps["priced"].__dict__["_tree"] is None
    assert_same(compile_project(project), second)
    # the incremental variant still renders (the renderer is made on first use)
    from toolkit.compiler import incremental_tree

    text = incremental_tree(second, second.steps["daily"]).sql(dialect="duckdb")
    assert "max" in text.lower()


def test_cache_folder_ignores_itself_and_leaves_no_temporary_files(project):
    cached(project)
    assert (project / ".toolkit" / ".gitignore").read_text().strip().endswith("*")
    assert [p.name for p in (project / ".toolkit" / "cache").iterdir()] == ["compile.pkl"]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda root: (root / "features/priced.sql").write_text((root / "features/priced.sql").read_text().replace("'big'", "'large'")), id="sql-edit"),
        pytest.param(lambda root: (root / "features/priced.sql").write_text((root / "features/priced.sql").read_text() + "-- only a comment\n"), id="comment-edit"),
        pytest.param(lambda root: (root / "features/macros/money.sql").write_text("{% macro money(x) %}round({{ x }}, 3){% endmacro %}\n"), id="macro-edit"),
        pytest.param(lambda root: (root / "toolkit.toml").write_text((root / "toolkit.toml").read_text() + "\n[vars]\nmin_amount = 5\n"), id="config-vars"),
        pytest.param(lambda root: (root / "toolkit.toml").write_text((root / "toolkit.toml").read_text() + "\n# a comment\n"), id="config-text"),
        pytest.param(lambda root: (root / "warehouse/seeds/rates.csv").write_text("status,rate\nnew,1.5\npaid,2.5\n"), id="seed-bytes"),
        pytest.param(lambda root: (root / "warehouse/seeds.toml").write_text('[rates]\ncolumns = { rate = "decimal(10, 2)" }\n'), id="seeds-toml"),
        pytest.param(lambda root: (root / "warehouse/sources.toml").write_text(SOURCES.replace('"paid"]', '"paid", "void"]')), id="sources-toml"),
        pytest.param(lambda root: write_files(root, {"models/util.py": "X = 1\n"}), id="model-file-added"),
        pytest.param(lambda root: write_files(root, {"features/extra.sql": "select 1 as one\n"}), id="step-added"),
        pytest.param(lambda root: (root / "features/unioned.sql").unlink(), id="step-removed"),
        pytest.param(lambda root: (root / "features/tests/positive.sql").write_text("select * from {{ ref('priced') }} where priced <= 0\n"), id="custom-test-edit"),
    ],
)
def test_any_change_of_an_input_misses(project, change):
    cached(project)
    assert is_hit(project)
    change(project)
    assert not is_hit(project)
    after = cached(project)  # compiled again, and written
    assert not isinstance(after.steps.get("orders"), CachedStep)
    assert is_hit(project)
    assert_same(compile_project(project), cached(project))


def test_a_step_written_after_the_files_were_read_is_compiled_as_read(project):
    # The key and the steps come from one read of the files (project.ProjectFiles): a step
    # file written in between cannot be compiled under the key of its older text.
    from toolkit.project import load_project, read_project_files

    files = read_project_files(project)
    key = compilecache.project_key(project, None, load_config(project), files=files)
    before = (project / "features/priced.sql").read_text()
    (project / "features/priced.sql").write_text(before.replace("'big'", "'large'"))
    assert compilecache.project_key(project, None, load_config(project), files=files) == key
    assert load_project(project, files=files).steps["priced"].text == before
    assert compilecache.project_key(project, None, load_config(project)) != key  # read again: the new text
    assert "'large'" in load_project(project).steps["priced"].text


def test_model_file_edit_misses(project):
    write_files(project, {"models/util.py": "X = 1\n"})
    cached(project)
    assert is_hit(project)
    write_files(project, {"models/util.py": "X = 2\n"})
    assert not is_hit(project)


def test_var_override_misses_and_each_override_compiles_its_own(project):
    plain = cached(project)
    assert is_hit(project) and not is_hit(project, {"min_amount": 7})
    overridden = cached(project, {"min_amount": 7})
    assert overridden.steps["orders"].content_hash != plain.steps["orders"].content_hash
    assert "7" in overridden.steps["orders"].rendered
    assert_same(compile_project(project, {"min_amount": 7}), cached(project, {"min_amount": 7}))


def test_template_included_from_outside_features_is_checked(make_project):
    root = make_project({
        "snippets/cols.sql": "1 as one",
        "features/a.sql": "select {% include 'snippets/cols.sql' %}\n",
    })
    cached(root)
    assert isinstance(cached(root).steps["a"], CachedStep)
    (root / "snippets/cols.sql").write_text("2 as two")
    assert cached(root).steps["a"].columns == ["two"]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda path: path.write_bytes(b""), id="empty"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]), id="truncated"),
        pytest.param(lambda path: path.write_bytes(os.urandom(4096)), id="garbage"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes()[:-10] + b"0123456789"), id="checksum"),
        pytest.param(lambda path: path.write_bytes(path.read_bytes().split(b"\n", 2)[0] + b"\nnot-a-checksum\n" + pickle.dumps(["x"])), id="bad-header"),
        pytest.param(lambda path: (path.unlink(), path.mkdir()), id="a-folder"),
    ],
)
def test_a_broken_cache_file_is_ignored(project, damage):
    cached(project)
    damage(compilecache.cache_path(project))
    loaded = cached(project)
    assert_same(compile_project(project), loaded)


def test_a_well_formed_payload_that_does_not_fit_is_ignored(project):
    """A valid file whose content no longer fits the project (e.g. a step lost) is a miss, not a crash."""
    cached(project)
    path = compilecache.cache_path(project)
    header, checksum, body = path.read_bytes().split(b"\n", 2)
    payload = pickle.loads(body)
    payload["steps"] = payload["steps"][:-1]
    import hashlib

    body = pickle.dumps(payload)
    path.write_bytes(header + b"\n" + hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    assert_same(compile_project(project), cached(project))


def test_a_cached_sql_text_that_does_not_read_back_falls_back_to_compiling(project):
    cached(project)
    loaded = cached(project)
    step = loaded.steps["priced"]
    step.canonical = step.canonical.replace("SELECT", "SELECT DISTINCT", 1)  # as if it did not read back
    assert sql.canonical_text(step.tree, loaded.dialect) == sql.canonical_text(compile_project(project).steps["priced"].tree, "duckdb")


def test_an_unwritable_cache_still_compiles(project):
    (project / ".toolkit").write_text("a file where the folder would go")
    compiled = cached(project)
    assert not isinstance(compiled.steps["orders"], CachedStep)
    assert_same(compile_project(project), cached(project))


@pytest.mark.slow
def test_cli_runs_use_the_cache_and_stay_correct(project, run_cli):
    code, out, err = run_cli("run", cwd=project)
    assert code == 0, out + err
    assert compilecache.cache_path(project).is_file()
    code, out, err = run_cli("run", cwd=project)
    assert code == 0, out + err
    assert "reused" in out
    path = project / "features/priced.sql"
    path.write_text(path.read_text().replace("'big'", "'large'"))
    code, out, err = run_cli("plan", cwd=project)
    assert code == 0, out + err
    assert "SQL changed" in out and "size" in out
    code, out, err = run_cli("run", cwd=project)
    assert code == 0, out + err
    import duckdb

    with duckdb.connect(str(database_path(project)), read_only=True) as con:
        assert sorted(r[0] for r in con.execute("select size from features.priced").fetchall()) == ["large", "small"]

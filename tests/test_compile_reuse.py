"""A compile after only some SQL step files changed reuses the other steps' compiled
records (compile_project's `reuse`, fed by compilecache.py) and equals compiling
from scratch: same fields, trees, SQL in every dialect and fingerprints. A step whose
upstream columns changed, whose rendered SQL changed (a macro, a var) or any other
input change compiles afresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_compile_cache import assert_same, is_hit
from toolkit import compilecache
from toolkit.compiler import CachedStep, compile_project
from toolkit.errors import ProjectError

SOURCES = """
[app]
schema = "app"

[app.tables.orders]
columns = { id = "bigint", amount = "double", status = "varchar", ordered_at = "timestamp" }
"""

FILES = {
    "toolkit.toml": 'name = "reuse"\ndialect = "duckdb"\ntarget = "dev"\n\n[vars]\nscale = 1\n\n'
                    '[targets.dev]\nengine = "duckdb"\npath = "warehouse/w.duckdb"\n',
    "warehouse/sources.toml": SOURCES,
    "warehouse/seeds/rates.csv": "status,rate\nnew,1.5\npaid,2.0\n",
    "features/macros/money.sql": "{% macro money(x) %}round({{ x }} * {{ var('scale') }}, 2){% endmacro %}\n",
    "features/orders.sql": """\
        {{ config(tests={"id": ["not_null", "unique"], "status": [{"relationships": {"to": "rates", "field": "status"}}]}) }}
        select id, {{ money('amount') }} as amount, lower(status) as status, ordered_at
        from {{ source('app', 'orders') }}
    """,
    "features/priced.sql": """\
        select o.id, o.amount * r.rate as priced, o.status
        from {{ ref('orders') }} o join {{ ref('rates') }} r on o.status = r.status
    """,
    "features/everything.sql": "select * from {{ ref('orders') }}\n",
    "features/totals.sql": """\
        {{ config(materialized='view') }}
        select status, count(*) as n, sum(priced) as total from {{ ref('priced') }} group by status
    """,
    "features/daily.sql": """\
        {{ config(materialized='incremental', unique_key='id', time_column='ordered_at') }}
        select id, ordered_at, amount from {{ ref('orders') }}
        {% if is_incremental() %} where ordered_at > (select max(ordered_at) from {{ this }}) {% endif %}
    """,
    "features/plain.sql": "select 1 as one\n",
}


@pytest.fixture(autouse=True)
def _no_process_cache(fresh_compile_cache):
    """Every test starts as a new process would (conftest.fresh_compile_cache)."""


@pytest.fixture
def project(make_project):
    return make_project(FILES)


def cached(root: Path):
    compilecache._cache.clear()
    return compilecache.compile_cached(root, None, disk=True)


def carried_over(compiled) -> set[str]:
    """Steps taken from the previous compile's records (checked before any tree is asked for)."""
    return {name for name, step in compiled.steps.items()
            if isinstance(step, CachedStep) and step.sql_text is not None and step.kind == "feature"}


def edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / relative
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_an_edited_step_alone_is_compiled_again(project):
    cached(project)
    edit(project, "features/totals.sql", "count(*) as n", "count(*) + 0 as n")
    compiled = cached(project)
    assert carried_over(compiled) == {"orders", "priced", "everything", "daily", "plain"}
    assert_same(compile_project(project), compiled)


def test_a_step_whose_upstream_columns_changed_is_compiled_again(project):
    cached(project)
    edit(project, "features/orders.sql", "ordered_at\n", "ordered_at, amount > 10 as big\n")
    compiled = cached(project)
    # every reader of orders is qualified again; totals reads priced, whose columns are the same
    assert carried_over(compiled) == {"plain", "totals"}
    assert "big" in compiled.steps["everything"].columns
    assert_same(compile_project(project), compiled)


def test_a_macro_change_reaches_the_steps_that_render_it(project):
    cached(project)
    edit(project, "features/macros/money.sql", ", 2)", ", 3)")
    compiled = cached(project)
    assert "orders" not in carried_over(compiled)
    assert {"plain", "priced", "totals"} <= carried_over(compiled)  # same SQL, same upstream columns
    assert_same(compile_project(project), compiled)


@pytest.mark.parametrize(
    ("relative", "old", "new"),
    [
        ("toolkit.toml", "scale = 1", "scale = 2"),  # a var: the frame changed
        ("warehouse/sources.toml", 'status = "varchar"', 'status = "varchar", note = "varchar"'),
        ("warehouse/seeds/rates.csv", "paid,2.0", "paid,2.5"),
    ],
)
def test_any_other_input_compiles_everything(project, relative, old, new):
    cached(project)
    edit(project, relative, old, new)
    compiled = cached(project)
    assert carried_over(compiled) == set()
    assert_same(compile_project(project), compiled)


def test_an_added_step_compiles_everything(project):
    cached(project)
    (project / "features" / "extra.sql").write_text("select id from {{ ref('priced') }}\n")
    compiled = cached(project)
    assert carried_over(compiled) == set()
    assert_same(compile_project(project), compiled)


def test_an_error_in_the_edited_step_is_reported_and_the_fix_reuses_again(project):
    cached(project)
    edit(project, "features/priced.sql", "o.status\n", "o.statuss\n")
    with pytest.raises(ProjectError) as raised:
        cached(project)
    assert raised.value.file == "features/priced.sql" and "statuss" in str(raised.value)
    edit(project, "features/priced.sql", "o.statuss\n", "o.status\n")
    compiled = cached(project)
    assert carried_over(compiled) == {"orders", "priced", "everything", "totals", "daily", "plain"}  # the old file again
    assert_same(compile_project(project), compiled)


def test_a_chain_of_edits_stays_equal_to_compiling(project):
    cached(project)
    edits = [
        ("features/plain.sql", "1 as one", "2 as one"),
        ("features/priced.sql", "o.amount * r.rate", "o.amount * r.rate * 2"),
        ("features/orders.sql", "lower(status)", "upper(status)"),
        ("features/daily.sql", "amount from", "amount, status from"),
    ]
    for relative, old, new in edits:
        edit(project, relative, old, new)
        compiled = cached(project)
        assert len(carried_over(compiled)) >= 3, relative
        assert_same(compile_project(project), compiled)
    assert is_hit(project)  # the last compile wrote the cache: unchanged now, it loads whole
    assert_same(compile_project(project), cached(project))


def test_no_reuse_with_custom_tests(project):
    (project / "features" / "tests").mkdir()
    (project / "features" / "tests" / "positive.sql").write_text("select * from {{ ref('priced') }} where priced < 0\n")
    cached(project)
    edit(project, "features/plain.sql", "1 as one", "3 as one")
    compiled = cached(project)
    assert carried_over(compiled) == set()
    assert_same(compile_project(project), compiled)


def _layered(root: Path, n: int):
    import importlib.util
    import sys

    bench = Path(__file__).resolve().parent / "bench" / "layered_project.py"
    spec = importlib.util.spec_from_file_location("layered_project", bench)
    module = sys.modules.get("layered_project") or importlib.util.module_from_spec(spec)
    if "layered_project" not in sys.modules:
        sys.modules["layered_project"] = module
        spec.loader.exec_module(module)
    return module.generate(root, n, rows=100)


def test_random_edits_of_a_layered_project_stay_equal_to_compiling(tmp_path):
    """Seeded edits of the benchmark's project: a new column, a changed constant, a column
    taken away again, several steps at once; after each, reusing compiles what compiling
    from scratch does (or fails with the same message)."""
    import random

    project = _layered(tmp_path / "layered", 40)
    root = project.root
    cached(root)
    rng = random.Random(7)
    files = sorted((root / "features").glob("step_*.sql"))
    added: dict[Path, str] = {}
    reused = []
    for round_ in range(12):
        for path in rng.sample(files, rng.choice([1, 1, 2, 3])):
            text = path.read_text()
            if path in added and rng.random() < 0.5:
                text = text.replace(added.pop(path), "")  # the column goes away again
            elif rng.random() < 0.5:
                line = f"    {round_} * 2 as extra_{round_},\n"
                added[path] = line
                text = text.replace("select\n", "select\n" + line, 1)
            else:
                text = text.replace("% 24", f"% {20 + round_}").replace("> 60", f"> {50 + round_}")
                text = text.replace("lower(", "upper(", 1) if "lower(" in text else text.replace("upper(", "lower(", 1)
                text += f"-- edited in round {round_}\n"  # at least the rendered text changes
            path.write_text(text)
        try:
            expected = compile_project(root)
        except ProjectError as error:
            with pytest.raises(ProjectError) as raised:
                cached(root)
            assert str(raised.value) == str(error)
            continue
        compiled = cached(root)
        reused.append(len(carried_over(compiled)))
        assert_same(expected, compiled)
    assert reused and all(0 < count < 40 for count in reused), reused  # each round compiled some steps, reused others


def test_a_source_column_stored_with_capitals_stays_quoted_in_a_reused_step(make_project):
    """A catalog spelling ("OrderId", remembered from PostgreSQL) reaches a step through
    sql.quote_stored_names; a step carried over must read the same quoted name."""
    from toolkit import sourcecolumns

    files = {
        "toolkit.toml": FILES["toolkit.toml"],
        "warehouse/sources.toml": '[app]\nschema = "app"\n\n[app.tables.orders]\n',
        "features/orders.sql": "select orderid, amount from {{ source('app', 'orders') }}\n",
        "features/totals.sql": "select count(*) as n from {{ ref('orders') }}\n",
    }
    root = make_project(files)
    sourcecolumns.remember(root, {"app.orders": {"OrderId": "BIGINT", "amount": "DOUBLE"}}, "dev")  # the default target's
    cached(root)
    edit(root, "features/totals.sql", "count(*) as n", "count(*) + 1 as n")
    compiled = cached(root)
    assert carried_over(compiled) == {"orders"}
    assert '"OrderId"' in compiled.steps["orders"].tree.sql(dialect="duckdb")
    assert_same(compile_project(root), compiled)

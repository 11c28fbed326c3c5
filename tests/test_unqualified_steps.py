"""DuckDB constructs sqlglot's qualify does not model, in a step.

PIVOT and UNPIVOT statements: qualify knows no output columns for them (with `on k`
they come from the data) and used to call valid columns unknown or ambiguous (exit 2
on a query DuckDB runs). `* LIKE 'i%'`: sqlglot reads one boolean over a star, and
the alias qualify gave it (`_col_0`) DuckDB gave every matched column: published as
`_col_0`, `_col_0_1` instead of their names. Such a step now runs as written and
unchecked, like any query sqlglot cannot qualify; its explicitly named outputs still
may not repeat a name.
"""

from __future__ import annotations

import pytest

from _projects import connect, make_project, query
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url: fixture)

SOURCES = '[app]\nschema = "app"\n\n[app.tables.t]\n'
SETUP = ("create schema app; create table app.t as select * from "
         "(values (1, 'a', 10), (1, 'b', 20), (2, 'a', 5)) as v(id, k, v)")


def built(tmp_path, run_cli, text: str) -> tuple[list, list]:
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES, "features/d.sql": text}, setup_sql=SETUP)
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    columns = "select column_name from information_schema.columns where table_schema = 'features' and table_name = 'd' " \
              "order by ordinal_position"
    return query(root, "select * from features.d order by all"), [name for (name,) in query(root, columns)]


@pytest.mark.parametrize("on", ["k in ('a', 'b')", "k"], ids=["listed-values", "values-from-the-data"])
def test_pivot(tmp_path, run_cli, on):
    rows, columns = built(tmp_path, run_cli, f"select * from (pivot {{{{ source('app', 't') }}}} on {on} using sum(v))\n")
    assert columns == ["id", "a", "b"]
    assert rows == [(1, 10, 20), (2, 5, None)]


def test_unpivot(tmp_path, run_cli):
    rows, columns = built(tmp_path, run_cli,
                          "select id, n, val from (unpivot {{ source('app', 't') }} on v into name n value val)\n")
    assert columns == ["id", "n", "val"]
    assert rows == [(1, "v", 10), (1, "v", 20), (2, "v", 5)]


def test_a_name_repeated_in_a_query_that_cannot_be_qualified(tmp_path, run_cli):
    """DuckDB would publish the second `id` as `id_1`."""
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES,
                                         "features/d.sql": "select id,\n  b.ID\nfrom (pivot {{ source('app', 't') }} on k "
                                                           "using sum(v)) as b\n"}, setup_sql=SETUP)
    code, out, err = run_cli("run", cwd=root)
    assert code == 2, out + err
    assert err.startswith("error: features/d.sql:2:5: output column 'id' appears twice"), err
    assert "Traceback" not in err


PIVOT = "(pivot {{ source('app', 't') }} on k using sum(v))"
PAIR = f"select * from {PIVOT} as x, {PIVOT} as y"


@pytest.mark.parametrize(("files", "where"), [
    ({"features/d.sql": PAIR}, "what the query makes"),
    ({"features/d.sql": f"with c as ({PAIR}) select * from c"}, "its CTE c"),
    ({"features/d.sql": f"select * from ({PAIR}) as pair"}, "its derived table pair"),
    ({"features/e.sql": "{{ config(materialized='ephemeral') }}\n" + PAIR, "features/d.sql": "select * from {{ ref('e') }}"},
     "its ephemeral step e"),
    ({"features/d.sql": f"with c as (select x.*, y.* from {PIVOT} as x join {PIVOT} as y using (id)) select * from c"},
     "its CTE c"),
], ids=["select", "cte", "derived-table", "ephemeral-step", "cte-stars"])
def test_a_name_repeated_through_a_star_fails_the_step_instead_of_publishing_it_renamed(tmp_path, run_cli, files, where):
    """The compile cannot see what a star over a PIVOT makes; DuckDB published `id`, `a`,
    `b`, `id_1`, `a_1`, `b_1` (renaming at a CTE or derived table too), and a reader of
    `id` would silently read one of two."""
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES, **files}, setup_sql=SETUP)
    code, out, err = run_cli("run", cwd=root)
    assert code == 1, out + err
    assert f"features/d.sql: output columns a, b, id appear more than once in {where} (id, a, b, id, a, b)" in out, out
    assert "Traceback" not in out + err
    assert query(root, "select count(*) from information_schema.tables where table_schema = 'features'") == [(0,)]


@pytest.mark.parametrize(("text", "message"), [
    (f"with c as (select x.id, y.ID from {PIVOT} as x, {PIVOT} as y) select * from c",
     "output column id appears more than once in its CTE c (id, id)"),  # spelled out: no need to plan it
    (f"select *, id from {PIVOT} as p", "output column id appears more than once in what the query makes (id, a, b, id)"),
], ids=["written-in-a-cte", "star-and-a-column"])
def test_other_repeats_the_engine_would_rename(tmp_path, run_cli, text, message):
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES, "features/d.sql": text}, setup_sql=SETUP)
    code, out, err = run_cli("run", cwd=root)
    assert code == 1 and message in out, out + err


def test_a_cte_that_names_its_columns_builds(tmp_path, run_cli):
    """`c(x, y)` names what `select id, id` makes: nothing repeats."""
    rows, columns = built(tmp_path, run_cli, f"with c(x, y) as (select id, id from {PIVOT} as p) select * from c\n")
    assert columns == ["x", "y"] and rows == [(1, 1), (2, 2)]


def test_a_correlated_derived_table_is_left_to_the_engine(tmp_path, run_cli):
    """It cannot be planned alone: the look skips it, the query runs."""
    inner = "(select count(*) from (select * from {{ source('app', 't') }} as s where s.id = p.id) as q)"
    rows, columns = built(tmp_path, run_cli, f"select *, {inner} as n from {PIVOT} as p\n")
    assert columns == ["id", "a", "b", "n"]
    assert rows == [(1, 10, 20, 2), (2, 5, None, 1)]


def test_a_star_over_a_pivot_with_distinct_names_builds(tmp_path, run_cli):
    rows, columns = built(tmp_path, run_cli, f"select x.*, y.a as y_a from {PIVOT} as x join {PIVOT} as y using (id)\n")
    assert columns == ["id", "a", "b", "y_a"]
    assert rows == [(1, 10, 20, 10), (2, 5, None, 5)]


@pytest.mark.parametrize(("item", "expected"), [("* like '%d'", ["id"]), ("t.* similar to '(i|v).*'", ["id", "v"]),
                                                ("* not like 'k'", ["id", "v"])])
def test_star_filtered_by_a_pattern(tmp_path, run_cli, item, expected):
    rows, columns = built(tmp_path, run_cli, f"select {item} from {{{{ source('app', 't') }}}} as t\n")
    assert columns == expected
    assert len(rows) == 3


PG_CONFIG = 'name = "p"\ndialect = "duckdb"\ntarget = "pg"\n\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n'


def test_star_filtered_by_a_pattern_on_postgres(tmp_path, run_cli, pg_url):  # noqa: F811 (fixture)
    """sqlglot writes `* LIKE 'i%'` for PostgreSQL too, which fails at build: exit 2 first."""
    pg_query(pg_url, "create schema app")
    pg_query(pg_url, "create table app.t as select 1 as id, 'a' as k, 10 as v")
    root = make_project(tmp_path / "p", {"toolkit.toml": PG_CONFIG.format(url=pg_url), "warehouse/sources.toml": SOURCES,
                                         "features/d.sql": "select\n  * like 'i%'\nfrom {{ source('app', 't') }}\n"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 2, out + err
    assert err.startswith("error: features/d.sql:2: cannot translate to postgres: * LIKE 'i%'"), err


STRUCTS = ("create schema app; create table app.t as select 1 as id, {'a': 1, 'b': 2} as st, [10, 20] as l")


@pytest.mark.parametrize("item", ["unnest(st)", "unnest(st) as u", "unnest([st], recursive := true) as u"])
def test_unnest_of_a_struct_fails_the_step_instead_of_publishing_other_columns(tmp_path, run_cli, item):
    """DuckDB makes one column per field (a, b) whatever the alias: toolkit had recorded
    one column (u), which downstream steps, lineage and the docs would believe."""
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES,
                                         "features/d.sql": f"select id, {item} from {{{{ source('app', 't') }}}}\n"},
                        setup_sql=STRUCTS)
    code, out, err = run_cli("run", cwd=root)
    assert code == 1, out + err
    assert "but the query made id, a, b: an UNNEST of a STRUCT makes one column per field" in out, out
    assert query(root, "select count(*) from information_schema.tables where table_schema = 'features'") == [(0,)]


def test_unnest_of_a_list_builds(tmp_path, run_cli):
    root = make_project(tmp_path / "p", {"warehouse/sources.toml": SOURCES,
                                         "features/d.sql": "select id, unnest(l) as x, st.a from {{ source('app', 't') }}\n"},
                        setup_sql=STRUCTS)
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err
    assert query(root, "select * from features.d order by x") == [(1, 10, 1), (1, 20, 1)]


PIVOT_STEPS = {"warehouse/sources.toml": SOURCES,
               "features/d.sql": "select * from (pivot {{ source('app', 't') }} on k in ('a', 'b') using sum(v))\n",
               "features/e.sql": "select id, a + 1 as a1 from {{ ref('d') }}\n"}


def test_lineage_before_a_run_says_why_a_step_has_none_and_creates_no_warehouse(tmp_path, run_cli):
    """It said 'not known yet ... run the project once' whatever a run changed; reading the
    catalog must not create the DuckDB file either."""
    root = make_project(tmp_path / "p", PIVOT_STEPS)
    code, out, err = run_cli("lineage", "e.a1", cwd=root)
    assert code == 2, out + err
    assert "the columns of features.e are not known at compile time: sqlglot cannot qualify its query" in err, err
    assert "after `toolkit run`, lineage reads them from the published table" in err, err
    assert not (root / "warehouse" / "proj.duckdb").exists()


def test_lineage_reads_the_published_columns_of_steps_sqlglot_cannot_qualify(tmp_path, run_cli):
    """e reads the pivot d: compile time knows neither's columns, the published tables do.
    Through d itself sqlglot still cannot follow, and lineage says so."""
    root = make_project(tmp_path / "p", PIVOT_STEPS, setup_sql=SETUP)
    assert run_cli("run", cwd=root)[0] == 0
    code, out, err = run_cli("lineage", "e.a1", cwd=root)
    assert (code, out.splitlines()) == (0, ["features.e.a1", "<- features.d.a"]), out + err
    code, out, err = run_cli("lineage", "d.b", "--downstream", cwd=root)
    assert (code, out.splitlines()) == (0, ["features.d.b", "   (downstream: nothing)"]), out + err
    code, out, err = run_cli("lineage", "t.k", "--downstream", cwd=root)  # d reads it, in a way sqlglot cannot follow
    assert (code, out.splitlines()) == (0, ["app.t.k", "   (downstream: nothing followed; sqlglot could not follow "
                                                       "what features.d read)"]), out + err
    code, out, err = run_cli("lineage", "d.a", "--downstream", cwd=root)
    assert (code, out.splitlines()) == (0, ["features.d.a", "-> features.e.a1"]), out + err
    code, out, err = run_cli("lineage", "d.a", cwd=root)
    assert code == 0 and "sqlglot could not follow this step's SQL" in out, out + err


def test_lineage_of_a_busy_target_shows_what_compile_time_knows(tmp_path, run_cli):
    root = make_project(tmp_path / "p", {**PIVOT_STEPS, "features/f.sql": "select id, k from {{ source('app', 't') }}\n"},
                        setup_sql=SETUP)
    assert run_cli("run", cwd=root)[0] == 0
    with connect(root):  # another process would hold DuckDB's lock the same way
        code, out, err = run_cli("lineage", "e.a1", cwd=root)
        assert code == 2 and "a busy target: --lock-timeout" in err, out + err
        code, out, err = run_cli("lineage", "f.k", cwd=root)
        assert (code, out.splitlines()) == (0, ["features.f.k", "<- app.t.k"]), out + err

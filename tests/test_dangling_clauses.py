"""Mistakes sqlglot or Jinja would quietly accept are exit 2 at their line (issue 18 items 8, 10):
a clause keyword with no condition (`join b on` became a cross join), config() setting a key
twice to different values, a folder named like a step file, an incremental step that
would append every row again on each run."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("sql, word", [
    ("select a.x from {{ ref('base') }} a\njoin {{ ref('base') }} b on", "ON"),
    ("select x from {{ ref('base') }}\nwhere", "WHERE"),
    ("select x from {{ ref('base') }}\nwhere x = 1 and", "AND"),
    ("select x, count(*) as n from {{ ref('base') }}\ngroup by x having", "HAVING"),
    # sqlglot read it as GROUP BY ALL "status"; DuckDB refused it at build (exit 1, no line)
    ("select x, count(*) as n from {{ ref('base') }}\ngroup by all, x", "GROUP BY ALL"),
])
def test_clause_without_condition(make_project, run_cli, sql, word):
    root = make_project({"features/base.sql": "select 1 as x", "features/bad.sql": sql})
    code, out, err = run_cli("run", cwd=root)
    assert code == 2, out + err
    assert f"features/bad.sql:2:" in err and "SQL syntax error" in err and word in err.upper(), err


def test_config_key_set_twice(make_project, run_cli):
    root = make_project({"features/bad.sql": "{{ config(materialized='table') }}\n{{ config(materialized='view') }}\nselect 1 as x"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and "features/bad.sql:2" in err and "sets materialized twice" in err, out + err


def test_same_config_twice_is_fine(make_project, run_cli):
    root = make_project({"features/ok.sql": "{{ config(tags=['a']) }}{{ config(tags=['a'], materialized='view') }}select 1 as x"})
    assert run_cli("run", cwd=root)[0] == 0


def test_folder_named_like_a_step(make_project, run_cli):
    root = make_project({"features/dir.sql/x.sql": "select 1 as x"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and "features/dir.sql: a folder is named like a step file" in err, out + err


def test_incremental_that_would_reappend_every_row(make_project, run_cli):
    root = make_project({"features/events.sql": "{{ config(materialized='incremental') }}\nselect 1 as x"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 2 and "features/events.sql:1" in err and "would append all of its rows again" in err, out + err


@pytest.mark.parametrize("setting", ["unique_key='x'", "time_column='x'", "incremental_strategy='append'"])
def test_incremental_with_a_key_or_an_explicit_append_builds(make_project, run_cli, setting):
    # x a timestamp: a time_column of another type is exit 2 (test_incremental_fixes.py)
    root = make_project({"features/events.sql": f"{{{{ config(materialized='incremental', {setting}) }}}}\nselect timestamp '2024-01-01' as x"})
    code, out, err = run_cli("run", cwd=root)
    assert code == 0, out + err

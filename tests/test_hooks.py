"""config(post_hook=...): dbt's hooks as an allow-list (toolkit/hooks.py). ANALYZE the
physical table, COMMENT ON / GRANT SELECT / REVOKE on the published view, run in the
publishing transaction; anything else is exit 2 at the config() line."""

from __future__ import annotations

import pytest

from _projects import cli_tuple, make_project, query, run_in_process
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)

HOOKED = """-- daily customer amounts
{{ config(post_hook=["analyze {{ this }}", "comment on table {{this}} is 'it''s daily'",
                     "comment on column {{ this }}.Amount is 'in cents'"]) }}
select 1 as id, 10 as amount
"""
ROLE = "toolkit_hooks_reader"


def executed(monkeypatch) -> list[str]:
    """Every statement the in-process run sends to DuckDB, as generated."""
    from toolkit.engines.duckdb import DuckDBEngine

    sent: list[str] = []
    original = DuckDBEngine.execute

    def execute(self, statement):
        sent.append(self.generate(statement))
        return original(self, statement)

    monkeypatch.setattr(DuckDBEngine, "execute", execute)
    return sent


def comments(root) -> tuple[list, list]:
    views = query(root, "select view_name, comment from duckdb_views() where schema_name = 'features'")
    columns = query(root, "select column_name, comment from duckdb_columns() where schema_name = 'features' order by column_index")
    return views, columns


def test_hooks_run_on_duckdb_when_the_step_is_published(tmp_path, monkeypatch):
    root = make_project(tmp_path / "p", {"features/daily.sql": HOOKED})
    sent = executed(monkeypatch)
    assert run_in_process(root).ok
    assert comments(root) == ([("daily", "it's daily")], [("id", None), ("amount", "in cents")])
    physical = query(root, "select physical_name from toolkit.published where step = 'daily'")[0][0]
    assert f'ANALYZE "toolkit_physical"."{physical}"' in sent
    sent.clear()
    assert [r.status for r in run_in_process(root).results] == ["reused"]  # a reuse runs no hook
    assert not [s for s in sent if s.startswith(("ANALYZE", "COMMENT"))]
    assert comments(root)[0] == [("daily", "it's daily")]


def test_editing_a_hook_rebuilds_the_step(tmp_path):
    root = make_project(tmp_path / "p", {"features/daily.sql": HOOKED})
    assert run_in_process(root).ok
    (root / "features/daily.sql").write_text(HOOKED.replace("it''s daily", "hourly"))
    results = run_in_process(root).results
    assert [(r.status, r.action) for r in results] == [("success", "rebuild")]
    assert comments(root)[0] == [("daily", "hourly")]


def test_a_python_step_takes_post_hook_too(tmp_path):
    step = ("from toolkit import feature\n\n\n@feature(post_hook=\"comment on view {{ this }} is 'from ibis'\")\n"
            "def totals(ref):\n    return ref('base').select('id')\n")
    root = make_project(tmp_path / "p", {"features/base.sql": "select 1 as id\n", "features/totals.py": step})
    assert run_in_process(root).ok
    assert ("totals", "from ibis") in comments(root)[0]


def test_a_view_step_is_commented_on_its_published_view(tmp_path):
    files = {"features/base.sql": "select 1 as id\n",
             "features/v.sql": "{{ config(materialized='view', post_hook=\"comment on view {{ this }} is 'a view'\") }}\n"
                               "select id from {{ ref('base') }}\n"}
    root = make_project(tmp_path / "p", files)
    assert run_in_process(root).ok
    assert ("v", "a view") in comments(root)[0]


REFUSED = [
    ("'delete from {{ this }}'", "DELETE is not allowed"),
    ("'insert into {{ this }} select 1'", "INSERT is not allowed"),
    ("'drop table {{ this }}'", "DROP is not allowed"),
    ("'create table x as select 1'", "CREATE is not allowed"),
    ("\"copy {{ this }} to '/tmp/out.csv'\"", "COPY is not allowed"),
    ("\"attach '/tmp/other.duckdb' as other\"", "ATTACH is not allowed"),
    ("'set threads = 1'", "SET is not allowed"),
    ("'pragma version'", "PRAGMA is not allowed"),
    ("'select 1'", "SELECT is not allowed"),
    ("'analyze raw.orders'", "ANALYZE may name {{ this }} only"),
    ("\"comment on table raw.orders is 'x'\"", "COMMENT ON may name {{ this }}"),
    ("'grant select on raw.orders to r'", "GRANT may name ON {{ this }} only"),
    ("'grant select on all tables in schema features to r'", "this form of GRANT is not allowed"),
    ("'analyze {{ this }}; analyze {{ this }}'", "a hook is exactly one statement; found 2"),
    ("'analyze {{ this }}; drop table raw.orders'", "a hook is exactly one statement; found 2"),
    ("\"comment on table {{ this }} is '{{ var(\\\"x\\\") }}'\"", "the only Jinja a hook may hold is {{ this }}"),
    ("'analyze {% if true %}{{ this }}{% endif %}'", "the only Jinja a hook may hold is {{ this }}"),
    ("['analyze {{ this }}', 1]", "post_hook 2 of 2 ('1') is not a SQL string"),
    ("[{'sql': 'analyze {{ this }}'}]", "is not a SQL string"),
    ("'grant insert on {{ this }} to r'", "GRANT INSERT is not allowed; GRANT SELECT only"),
    ("'grant select on {{ this }} to r with grant option'", "grant_option is not allowed"),
    ("\"comment on table {{ this }} is 'a' || 'b'\"", "SQL syntax error: Invalid expression / Unexpected token near '||'"),
    ("\"comment on table {{ this }} is N'x'\"", "the comment must be a plain '...' string"),
]


def refused_project(tmp_path, hook: str, materialized: str = "table"):
    files = {"features/step.sql": f"-- a step\n{{{{ config(materialized='{materialized}', post_hook={hook}) }}}}\n"
                                  "select 1 as id, 2 as amount\n"}
    return make_project(tmp_path / "p", files)


@pytest.mark.parametrize(("hook", "message"), REFUSED, ids=[h for h, _ in REFUSED])
def test_a_hook_off_the_allow_list_is_exit_2_at_its_line(tmp_path, hook, message):
    root = refused_project(tmp_path, hook)
    code, out, err = cli_tuple("run", "-p", str(root), cwd=root)
    assert code == 2 and "features/step.sql:2:" in err and message in err, out + err
    assert "Traceback" not in err and "Falling back" not in err  # no sqlglot warning beside the message


@pytest.mark.parametrize(("hook", "message"), [
    ("'grant select on {{ this }} to reporter'", "post_hook ('grant select on {{ this }} to reporter'): duckdb has no GRANT"),
    ("'revoke select on {{ this }} from reporter'", "duckdb has no REVOKE"),
    ("\"comment on column {{ this }}.amout is 'x'\"", "step has no column amout"),
])
def test_a_hook_the_target_cannot_run_is_exit_2_at_compile_and_plan_time(tmp_path, hook, message):
    root = refused_project(tmp_path, hook)
    for command in ("compile", "plan"):  # compile checks against the target's engine without connecting
        code, out, err = cli_tuple(command, "-p", str(root), cwd=root)
        assert code == 2 and "features/step.sql:2:" in err and message in err and "Traceback" not in err, (command, out + err)
    code, out, err = cli_tuple("compile", "-p", str(root), "--dialect", "postgres", cwd=root)
    assert code == 0, out + err  # SQL for another dialect: not this target's hooks


@pytest.mark.parametrize(("materialized", "hook", "message"), [
    ("view", "'analyze {{ this }}'", "a view step has no table to analyze"),
    ("ephemeral", "'analyze {{ this }}'", "an ephemeral step is never built, so it has no post_hook"),
])
def test_hooks_a_materialization_cannot_take_are_exit_2(tmp_path, materialized, hook, message):
    root = refused_project(tmp_path, hook, materialized)
    code, out, err = cli_tuple("compile", "-p", str(root), cwd=root)
    assert code == 2 and "features/step.sql:2:" in err and message in err and "Traceback" not in err, out + err


def test_pre_hook_stays_refused_and_says_why(tmp_path):
    root = refused_project(tmp_path, "'analyze {{ this }}'")
    (root / "features/step.sql").write_text("-- a step\n{{ config(pre_hook='analyze {{ this }}') }}\nselect 1 as id\n")
    code, out, err = cli_tuple("compile", "-p", str(root), cwd=root)
    assert code == 2 and "features/step.sql:2:" in err and "config pre_hook= is not supported" in err, out + err
    assert "before the step's table exists" in err and "post_hook takes an allow-list" in err


def test_the_statements_are_built_and_quoted_by_sqlglot():
    from sqlglot import exp

    from toolkit import hooks
    from toolkit.engines.postgres import PostgresEngine

    parsed = hooks.parse(["grant select on table {{ this }} to Reporter, \"Mixed\", public",
                          "comment on column {{ this }}.\"Amount\" is 'it''s'"], "duckdb")
    relation, physical = exp.table_("odd name", db="features"), exp.table_("p__1", db="toolkit_physical")
    engine = PostgresEngine.__new__(PostgresEngine)
    sql = [engine.generate(s) for s in hooks.statements(parsed, engine, relation, physical)]
    assert sql == ['GRANT SELECT ON TABLE "features"."odd name" TO "reporter", "Mixed", PUBLIC',
                   'COMMENT ON COLUMN "features"."odd name"."Amount" IS \'it\'\'s\'']


# -- PostgreSQL -------------------------------------------------------------------------

def pg_project(tmp_path, url: str, step: str):
    root = make_project(tmp_path / "p", {"features/daily.sql": step})
    with open(root / "toolkit.toml", "a") as config:
        config.write(f'\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n')
    return root


def ensure_role(url: str, role: str) -> None:
    """Roles belong to the server, not the test's database: made once, kept."""
    if not pg_query(url, f"select 1 from pg_roles where rolname = '{role}'"):
        try:
            pg_query(url, f"create role {role}")
        except Exception:  # another test process made it meanwhile
            assert pg_query(url, f"select 1 from pg_roles where rolname = '{role}'")


PG_HOOKED = f"""{{{{ config(post_hook=["analyze {{{{ this }}}}", "comment on table {{{{ this }}}} is 'daily'",
                     "comment on column {{{{ this }}}}.amount is 'in cents'",
                     "grant select on {{{{ this }}}} to {ROLE}", "revoke select on {{{{ this }}}} from public"]) }}}}
select 1 as id, 10 as amount
"""


def test_hooks_run_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    ensure_role(pg_url, ROLE)
    root = pg_project(tmp_path, pg_url, PG_HOOKED)
    for edit in ("", "10 as amount"):  # a rebuild re-creates the view: its grant and comments come back
        if edit:
            (root / "features/daily.sql").write_text(PG_HOOKED.replace(edit, "20 as amount"))
        code, out, err = cli_tuple("run", "--target", "pg", "-p", str(root), cwd=root)
        assert code == 0, out + err
        assert pg_query(pg_url, "select obj_description('features.daily'::regclass), col_description('features.daily'::regclass, 2), "
                                f"has_table_privilege('{ROLE}', 'features.daily', 'select')") == [("daily", "in cents", True)]
        assert pg_query(pg_url, "select privilege_type from information_schema.role_table_grants "
                                f"where grantee = '{ROLE}' and table_schema = 'features' and table_name = 'daily'") == [("SELECT",)]
    physical = pg_query(pg_url, "select physical_name from toolkit.published where step = 'daily'")[0][0]
    # a table CREATEd AS holds reltuples -1 until it is analyzed
    assert pg_query(pg_url, f"select reltuples from pg_class where relname = '{physical}'") == [(1.0,)]
    assert not pg_query(pg_url, f"select 1 from information_schema.role_table_grants where grantee = '{ROLE}' "
                                "and table_schema = 'toolkit_physical'")  # the rehearsal was rolled back


@pytest.mark.parametrize("rehearsed", [True, False], ids=["at-build", "at-publish"])
def test_a_failing_hook_fails_the_step_and_keeps_the_published_rows(tmp_path, pg_url, monkeypatch, rehearsed):  # noqa: F811
    from toolkit import hooks
    from toolkit.compiler import compile_project
    from toolkit.execute import run as run_project

    root = pg_project(tmp_path, pg_url, "select 1 as id\n")
    code, out, err = cli_tuple("run", "--target", "pg", "-p", str(root), cwd=root)
    assert code == 0, out + err
    (root / "features/daily.sql").write_text(
        "{{ config(post_hook=['comment on table {{ this }} is \\'new\\'', 'grant select on {{ this }} to toolkit_no_such_role']) }}\n"
        "select 2 as id\n")
    hook = "post_hook 2 of 2 ('grant select on {{ this }} to toolkit_no_such_role')"
    if rehearsed:  # the CLI: exit 1, the step's line names the hook
        code, out, err = cli_tuple("run", "--target", "pg", "-p", str(root), cwd=root)
        assert code == 1 and hook in out and "Traceback" not in out + err, out + err
    else:  # the hook fails inside the publishing transaction instead
        monkeypatch.setattr(hooks, "rehearse", lambda *args: None)
        summary = run_project(compile_project(root), "pg", (), (), 2, 10.0, False)
        (result,) = summary.results
        assert not summary.ok and result.status == "failed" and hook in result.error, result.error
        assert 'role "toolkit_no_such_role" does not exist' in result.error
    assert pg_query(pg_url, "select id from features.daily") == [(1,)]
    assert pg_query(pg_url, "select obj_description('features.daily'::regclass)") == [(None,)]  # the comment rolled back too


# -- import-dbt -------------------------------------------------------------------------

DBT = {
    "dbt_project.yml": """\
        name: shop
        version: '1.0'
        config-version: 2
        models:
          shop:
            +post_hook: "analyze {{ this }}"
        """,
    "models/orders.sql": """\
        {{ config(materialized='table', post_hook=["comment on table {{ this }} is 'orders'",
                                                   "grant select on {{ this }} to reporter",
                                                   "delete from {{ this }} where id is null"]) }}
        select 1 as id
        """,
}


def test_import_dbt_keeps_the_post_hooks_toolkit_runs(tmp_path):
    from _projects import cli, write

    write(tmp_path / "dbt", DBT)
    result = cli("import-dbt", str(tmp_path / "dbt"), str(tmp_path / "out"))
    assert result.code == 0, result
    out = tmp_path / "out"
    step = (out / "features" / "orders.sql").read_text()
    assert "post_hook=['analyze {{ this }}', \"comment on table {{ this }} is 'orders'\"]" in step, step
    report = (out / "IMPORT_REPORT.md").read_text()
    assert "GRANT: the converted project's target is DuckDB" in report and "DELETE is not allowed" in report, report
    run = cli("run", "-p", str(out))
    assert run.code == 0, run
    import duckdb

    with duckdb.connect(str(out / "warehouse" / "shop.duckdb"), read_only=True) as con:
        assert con.execute("select comment from duckdb_views() where view_name = 'orders'").fetchall() == [("orders",)]


def test_spark_runs_analyze_only_in_its_own_form():
    from sqlglot import exp

    from toolkit import hooks
    from toolkit.engines.spark import SparkEngine

    engine = SparkEngine.__new__(SparkEngine)
    physical = exp.table_("p__1", db="toolkit_physical")
    (statement,) = hooks.statements(hooks.parse("analyze {{ this }}", "duckdb"), engine, exp.table_("x", db="features"), physical)
    assert engine.generate(statement) == "ANALYZE TABLE `toolkit_physical`.`p__1` COMPUTE STATISTICS"
    assert SparkEngine.HOOKS == {"analyze"}


def test_promote_and_rollback_run_the_hooks_again(tmp_path, pg_url):  # noqa: F811 (fixture)
    """A view re-created with other columns loses its grants on PostgreSQL: promote and
    rollback re-point views outside a run, so they run the step's post_hooks too."""
    ensure_role(pg_url, ROLE)
    step = f"{{{{ config(post_hook=\"grant select on {{{{ this }}}} to {ROLE}\") }}}}\nselect 1 as id, 10 as amount\n"
    root = pg_project(tmp_path, pg_url, step)
    granted = f"select has_table_privilege('{ROLE}', 'features.daily', 'select')"
    assert cli_tuple("run", "--target", "pg", "-p", str(root), cwd=root)[0] == 0
    (root / "features/daily.sql").write_text(step.replace("10 as amount", "10 as amount, 2 as extra"))
    assert cli_tuple("run", "--target", "pg", "--env", "dev", "-p", str(root), cwd=root)[0] == 0
    for command in (("promote", "dev"), ("rollback",)):
        code, out, err = cli_tuple(*command, "--target", "pg", "-p", str(root), cwd=root)
        assert code == 0, out + err
        assert pg_query(pg_url, granted) == [(True,)], command
    assert [c for (c,) in pg_query(pg_url, "select column_name from information_schema.columns where table_schema = 'features' "
                                           "and table_name = 'daily' order by ordinal_position")] == ["id", "amount"]

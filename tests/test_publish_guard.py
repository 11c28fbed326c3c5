"""A step is never published over a relation toolkit did not make (publishguard.py): a view
or table made by hand (or by dbt, before an import) under a step's published name is
refused by plan and run, exit 2 at the step's config line, before anything is built; it
stays as it was, and deleting the step later drops nothing of the user's. Before, the run
replaced the view (and deleting the step dropped it), and a table failed every publish."""

from __future__ import annotations

from _projects import cli_tuple, execute, make_project, query
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)

STEP = '{{ config(schema="app", alias="report") }}\nselect 1 as a\n'
OTHER = {"features/other.sql": "select 2 as b\n"}
MESSAGE = ("error: features/vs.sql:1: vs publishes app.report, which already exists in the warehouse "
           "and was not published by toolkit (a {kind})")


def toolkit(root, *args: str) -> tuple[int, str]:
    code, out, err = cli_tuple(*args, "-p", str(root), cwd=root)
    assert "Traceback" not in out + err, out + err
    return code, out + err


def project(tmp_path, setup_sql: str | None = None, files: dict | None = None):
    return make_project(tmp_path / "p", {"features/vs.sql": STEP, **OTHER, **(files or {})}, setup_sql)


def built_anything(root) -> bool:
    found = query(root, "select count(*) from information_schema.tables where table_schema = 'toolkit_physical'")
    return found[0][0] > 0


def test_a_users_view_under_the_published_name_is_refused_and_kept(tmp_path):
    root = project(tmp_path, "create schema app; create view app.report as select 'precious' as what")
    for command in ("plan", "run"):
        code, text = toolkit(root, command)
        assert code == 2 and MESSAGE.format(kind="view") in text, text
        assert "config(alias=...)" in text and "dbt" in text
    assert not built_anything(root)  # refused before any build
    assert query(root, "select * from app.report") == [("precious",)]
    (root / "features/vs.sql").unlink()  # then the step goes: nothing of the user's is dropped
    code, text = toolkit(root, "run")
    assert code == 0, text
    assert query(root, "select * from app.report") == [("precious",)]


def test_a_users_table_under_the_published_name_is_refused_before_building(tmp_path):
    root = project(tmp_path, "create schema app; create table app.report as select 42 as id")
    for command in ("plan", "run", "run"):
        code, text = toolkit(root, command)
        assert code == 2 and MESSAGE.format(kind="table") in text and "Catalog Error" not in text, text
    assert not built_anything(root)
    assert query(root, "select * from app.report") == [(42,)]


def test_the_line_is_the_config_line(tmp_path):
    step = "-- the report\n\n{{ config(\n    schema='app',\n    alias='report') }}\nselect 1 as a\n"
    root = project(tmp_path, "create schema app; create view app.report as select 1 as x", {"features/vs.sql": step})
    code, text = toolkit(root, "plan")
    assert code == 2 and "features/vs.sql:5: vs publishes app.report" in text, text


def test_a_projects_own_names_publish_again_and_a_second_run_reuses(tmp_path):
    root = project(tmp_path)
    assert toolkit(root, "run")[0] == 0
    code, text = toolkit(root, "run")
    assert code == 0 and "2 reused" in text, text
    execute(root, "drop view app.report")  # dropped by hand: published again, as before
    assert toolkit(root, "run")[0] == 0
    assert query(root, "select * from app.report") == [(1,)]


def test_a_step_renamed_with_its_alias_kept_keeps_its_view(tmp_path):
    """The new step takes over the deleted one's name: both toolkit's. The deleted step's
    unpublish ran after the new step's publish and dropped the view."""
    root = project(tmp_path)
    assert toolkit(root, "run")[0] == 0
    (root / "features/vs.sql").rename(root / "features/renamed.sql")
    code, text = toolkit(root, "run")
    assert code == 0, text
    assert query(root, "select * from app.report") == [(1,)]
    assert toolkit(root, "run")[0] == 0 and query(root, "select * from app.report") == [(1,)]


def test_a_step_moved_onto_a_users_view_is_refused(tmp_path):
    root = project(tmp_path, "create schema app; create view app.mine as select 'precious' as what")
    assert toolkit(root, "run")[0] == 0
    (root / "features/vs.sql").write_text(STEP.replace("report", "mine"))
    code, text = toolkit(root, "run")
    assert code == 2 and "vs publishes app.mine, which already exists" in text, text
    assert query(root, "select * from app.mine") == [("precious",)]
    assert query(root, "select * from app.report") == [(1,)]  # its own view stays where it was


def test_an_environments_schemas_are_checked(tmp_path):
    root = project(tmp_path, "create schema app__dev; create view app__dev.report as select 'precious' as what")
    assert toolkit(root, "run")[0] == 0  # prod's app.report is free
    code, text = toolkit(root, "run", "--env", "dev")
    assert code == 2 and "vs publishes app__dev.report, which already exists" in text, text
    assert query(root, "select * from app__dev.report") == [("precious",)]
    execute(root, "drop view app__dev.report")
    assert toolkit(root, "run", "--env", "dev")[0] == 0
    code, text = toolkit(root, "run", "--env", "dev")
    assert code == 0 and "2 reused" in text, text


def test_a_seed_over_a_users_table_is_refused(tmp_path):
    files = {"warehouse/seeds/countries.csv": "country\nDE\n"}
    root = project(tmp_path, "create schema raw; create table raw.countries as select 'mine' as country", files)
    code, text = toolkit(root, "plan")
    assert code == 2 and "warehouse/seeds/countries.csv:1: countries publishes raw.countries, which already exists" in text, text
    assert "rename the seed's file" in text
    assert query(root, "select * from raw.countries") == [("mine",)]


def test_a_state_row_without_a_relation_is_toolkits(tmp_path):
    """An older toolkit's published row may name no relation: its step stays publishable."""
    root = project(tmp_path)
    assert toolkit(root, "run")[0] == 0
    execute(root, "update toolkit.published set relation = null")
    code, text = toolkit(root, "run")
    assert code == 0, text
    assert query(root, "select * from app.report") == [(1,)]


def _pg(root, url: str) -> None:
    with open(root / "toolkit.toml", "a") as config:
        config.write(f'\n[targets.pg]\nengine = "postgres"\nurl = "{url}"\n')


def test_a_users_view_and_table_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = project(tmp_path, files={"features/vt.sql": STEP.replace("report", "big")})
    _pg(root, pg_url)
    for statement in ("create schema app", "create view app.report as select 'precious' as what", "create table app.big as select 42 as id"):
        pg_query(pg_url, statement)
    for command in ("plan", "run"):
        code, text = toolkit(root, command, "--target", "pg")
        assert code == 2 and "publishes app." in text and "which already exists in the warehouse" in text, text
    (root / "features/vt.sql").unlink()
    code, text = toolkit(root, "run", "--target", "pg")
    assert code == 2 and MESSAGE.format(kind="view") in text, text
    (root / "features/vs.sql").unlink()
    code, text = toolkit(root, "run", "--target", "pg")
    assert code == 0, text
    assert pg_query(pg_url, "select * from app.report") == [("precious",)]
    assert pg_query(pg_url, "select * from app.big") == [(42,)]


def test_deleting_a_step_on_postgres_drops_only_its_own_view(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = project(tmp_path)
    _pg(root, pg_url)
    assert toolkit(root, "run", "--target", "pg")[0] == 0
    (root / "features/vs.sql").rename(root / "features/renamed.sql")
    assert toolkit(root, "run", "--target", "pg")[0] == 0
    assert pg_query(pg_url, "select * from app.report") == [(1,)]
    (root / "features/renamed.sql").unlink()
    assert toolkit(root, "run", "--target", "pg")[0] == 0
    assert pg_query(pg_url, "select count(*) from information_schema.tables where table_schema = 'app'") == [(0,)]


def test_a_models_history_table_of_the_users_is_refused(tmp_path):
    from test_models import build, decorator_line, execute as change, project_files, query as read

    root = build(tmp_path / "m", project_files())
    change(root, "create schema predictions; create table predictions.churn_history as select 'mine' as what")
    code, text = toolkit(root, "run")
    line = decorator_line(root)
    assert code == 2 and f"models/churn.py:{line}: churn publishes predictions.churn_history, which already exists" in text, text
    assert "rename the model" in text
    assert read(root, "select * from predictions.churn_history") == [("mine",)]


def test_a_model_deleted_and_added_again_keeps_its_own_history(tmp_path):
    """The history outlives the model's view; a model of that name made it here."""
    from test_models import build, project_files, query as read

    root = build(tmp_path / "m", project_files())
    assert toolkit(root, "run")[0] == 0
    model = (root / "models/churn.py").read_text()
    (root / "models/churn.py").unlink()
    assert toolkit(root, "run")[0] == 0
    (root / "models/churn.py").write_text(model)
    code, text = toolkit(root, "run")
    assert code == 0, text
    assert read(root, "select count(distinct run_id) from predictions.churn_history") == [(2,)]


def test_promoting_onto_a_users_view_is_refused(tmp_path):
    """dev's schemas were free; prod's name is the user's: the promote replaced it."""
    root = project(tmp_path, "create schema app; create view app.report as select 'precious' as what")
    assert toolkit(root, "run", "--env", "dev")[0] == 0
    code, text = toolkit(root, "promote", "dev", "prod")
    assert code == 2 and "cannot promote dev -> prod: vs would be published as app.report, which already exists" in text, text
    assert query(root, "select * from app.report") == [("precious",)]
    execute(root, "drop view app.report")
    code, text = toolkit(root, "promote", "dev", "prod")
    assert code == 0, text
    assert query(root, "select * from app.report") == [(1,)]

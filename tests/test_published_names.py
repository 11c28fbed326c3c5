"""config(alias=..., schema=...): where a step is published (dbt's keys). The step's name
(ref(), plans, state) stays its file's; builds read physical relations; the published
name moves without a rebuild, and no two relations may be published under one name."""

from __future__ import annotations

import pytest

from _projects import cli_tuple, make_project, query, run_in_process
from postgres_support import pg_query, pg_url  # noqa: F401 (fixture)

STEPS = {
    "features/stg_orders.sql": "{{ config(schema='staging', alias='orders') }}\nselect 1 as id, 10 as amount\n",
    "features/big.sql": "{{ config(alias='big_orders') }}\nselect * from {{ ref('stg_orders') }} where amount > 5\n",
    "features/ids.sql": "{{ config(materialized='view', schema='marts') }}\nselect id from {{ ref('big') }}\n",
}


def relations(root) -> list[tuple[str, str]]:
    return query(root, "select table_schema, table_name from information_schema.tables "
                       "where table_schema not like 'toolkit%' order by 1, 2")


def test_steps_publish_under_their_alias_and_schema(tmp_path):
    root = make_project(tmp_path / "p", STEPS)
    assert run_in_process(root).ok
    assert relations(root) == [("features", "big_orders"), ("marts", "ids"), ("staging", "orders")]
    assert query(root, "select * from marts.ids") == [(1,)]
    code, out, err = cli_tuple("compile", "ids", "big", "-p", str(root), cwd=root)
    assert code == 0 and 'FROM "features"."big_orders"' in out and 'FROM "staging"."orders"' in out, out + err
    assert [r.status for r in run_in_process(root).results] == ["reused"] * 3


def test_a_new_alias_republishes_without_a_rebuild_and_drops_the_old_name(tmp_path):
    root = make_project(tmp_path / "p", STEPS)
    assert run_in_process(root).ok
    (root / "features/big.sql").write_text(STEPS["features/big.sql"].replace("big_orders", "large_orders"))
    results = run_in_process(root).results
    assert [r.status for r in results] == ["reused"] * 3  # nothing rebuilt
    assert relations(root) == [("features", "large_orders"), ("marts", "ids"), ("staging", "orders")]
    assert query(root, "select count(*) from features.large_orders") == [(1,)]


def test_an_environment_publishes_in_its_own_schemas(tmp_path):
    root = make_project(tmp_path / "p", STEPS)
    code, out, err = cli_tuple("run", "--env", "dev", "-p", str(root), cwd=root)
    assert code == 0, out + err
    assert relations(root) == [("features__dev", "big_orders"), ("marts__dev", "ids"), ("staging__dev", "orders")]


@pytest.mark.parametrize(("config", "message"), [
    ("alias='ids', schema='marts'", "marts.ids would be published by both"),
    ("alias='people', schema='crm'", "big would be published as crm.people, the source crm.people"),
    ("schema='raw'", "config schema='raw' is reserved"),
    ("schema='marts__dev'", "config schema='marts__dev' is reserved"),
    ("alias='big-orders'", "config alias='big-orders' is not a plain name"),
])
def test_a_published_name_that_would_replace_another_is_exit_2(tmp_path, config, message):
    files = {**STEPS, "features/big.sql": f"{{{{ config({config}) }}}}\nselect * from {{{{ ref('stg_orders') }}}}\n",
             "warehouse/sources.toml": "[crm.tables.people]\ncolumns = { id = \"bigint\" }\n"}
    root = make_project(tmp_path / "p", files)
    code, _, err = cli_tuple("compile", "-p", str(root), cwd=root)
    assert code == 2 and message in err and "Traceback" not in err, err


def test_a_seed_named_like_a_source_in_its_schema_names_both_files(tmp_path):
    """It named no sources.toml line and hinted at config(alias=...), which a seed has not."""
    files = {"warehouse/seeds/countries.csv": "country\nDE\n",
             "warehouse/sources.toml": '[app]\nschema = "raw"\n\n[app.tables.countries]\n'}
    root = make_project(tmp_path / "p", files)
    code, _, err = cli_tuple("compile", "-p", str(root), cwd=root)
    assert code == 2 and err.startswith("error: warehouse/seeds/countries.csv: seed countries would be published as "
                                        "raw.countries, the source app.countries declared at warehouse/sources.toml:4"), err
    assert "config(alias" not in err and "rename the seed's file" in err


def test_alias_and_schema_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    root = make_project(tmp_path / "p", STEPS)
    with open(root / "toolkit.toml", "a") as config:
        config.write(f'\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n')
    code, out, err = cli_tuple("run", "--target", "pg", "-p", str(root), cwd=root)
    assert code == 0, out + err
    assert pg_query(pg_url, "select * from marts.ids") == [(1,)]
    assert pg_query(pg_url, "select amount from features.big_orders") == [(10,)]


def test_an_alias_changed_only_in_case_keeps_its_view(tmp_path):
    """DuckDB matches names without case: features."Big_Orders" is features.big_orders, so
    dropping the old name after publishing the new one dropped the step's only view."""
    files = {**STEPS, "features/big.sql": STEPS["features/big.sql"].replace("big_orders", "Big_Orders")}
    root = make_project(tmp_path / "p", files)
    assert run_in_process(root).ok
    (root / "features/big.sql").write_text(STEPS["features/big.sql"])
    assert run_in_process(root).ok
    assert relations(root) == [("features", "big_orders"), ("marts", "ids"), ("staging", "orders")]
    assert query(root, "select count(*) from features.big_orders") == [(1,)]


def test_two_steps_swapping_their_aliases_keep_both(tmp_path):
    files = {"features/a.sql": "{{ config(alias='first') }}\nselect 'a' as who\n",
             "features/b.sql": "{{ config(alias='second') }}\nselect 'b' as who\n"}
    root = make_project(tmp_path / "p", files)
    assert run_in_process(root).ok
    (root / "features/a.sql").write_text(files["features/a.sql"].replace("first", "second"))
    (root / "features/b.sql").write_text(files["features/b.sql"].replace("second", "first"))
    assert run_in_process(root).ok
    assert query(root, "select who from features.first") == [("b",)]
    assert query(root, "select who from features.second") == [("a",)]


def test_an_alias_changed_only_in_case_on_postgres(tmp_path, pg_url):  # noqa: F811 (fixture)
    """On PostgreSQL "Big_Orders" and big_orders are two views: the old one goes."""
    files = {**STEPS, "features/big.sql": STEPS["features/big.sql"].replace("big_orders", "Big_Orders")}
    root = make_project(tmp_path / "p", files)
    with open(root / "toolkit.toml", "a") as config:
        config.write(f'\n[targets.pg]\nengine = "postgres"\nurl = "{pg_url}"\n')
    code, out, err = cli_tuple("run", "--target", "pg", "-p", str(root), cwd=root)
    assert code == 0, out + err
    (root / "features/big.sql").write_text(STEPS["features/big.sql"])
    code, out, err = cli_tuple("run", "--target", "pg", "-p", str(root), cwd=root)
    assert code == 0, out + err
    views = pg_query(pg_url, "select table_name from information_schema.views where table_schema = 'features'")
    assert views == [("big_orders",)]
    assert pg_query(pg_url, "select amount from features.big_orders") == [(10,)]


NAMED = {
    "features/probe.sql": '{{ config(schema="marts", alias="tot") }}\nselect 1 as u, 2 as v\n',
    "features/down.sql": "select u from {{ ref('probe') }}\n",
    "features/eph.sql": "{{ config(materialized='ephemeral') }}\nselect 3 as w\n",
    "features/reads_eph.sql": "select w from {{ ref('eph') }}\n",
}


def test_ls_lineage_and_docs_name_a_step_as_published(tmp_path):
    """ls, lineage and the docs site named an aliased step features.probe (where nothing is
    published) and lineage refused marts.tot; ls listed an ephemeral step as a table."""
    import json

    root = make_project(tmp_path / "p", NAMED)
    code, out, err = cli_tuple("ls", "-p", str(root), cwd=root)
    assert code == 0, out + err
    rows = {line.split()[0]: line for line in out.splitlines()}
    assert "marts.tot" in rows["probe"] and "features.probe" not in out, out
    assert "features.down" in rows["down"], out
    assert "(inlined into its readers)" in rows["eph"] and "features.eph" not in out, out
    code, out, err = cli_tuple("ls", "--log-format", "json", "-p", str(root), cwd=root)
    assert {r["name"]: r["relation"] for r in map(json.loads, out.splitlines())} == {
        "probe": "marts.tot", "down": "features.down", "eph": None, "reads_eph": "features.reads_eph"}, out

    code, out, err = cli_tuple("lineage", "down.u", "-p", str(root), cwd=root)
    assert (code, out.splitlines()) == (0, ["features.down.u", "<- marts.tot.u"]), out + err
    for name in ("marts.tot.u", "probe.u", "tot.u"):  # the published name, the step's, the alias alone
        code, out, err = cli_tuple("lineage", name, "--downstream", "-p", str(root), cwd=root)
        assert (code, out.splitlines()) == (0, ["marts.tot.u", "-> features.down.u"]), (name, out + err)
    code, out, err = cli_tuple("lineage", "features.probe.u", "-p", str(root), cwd=root)
    assert code == 2 and "unknown table 'features.probe'" in err, out + err

    assert run_in_process(root).ok
    code, out, err = cli_tuple("docs", "--out", str(tmp_path / "site"), "-p", str(root), cwd=root)
    assert code == 0, out + err
    text = (tmp_path / "site" / "data.js").read_text(encoding="utf-8")
    data = json.loads(text[len("window.TOOLKIT_DOCS = "):].rstrip().rstrip(";"))
    assert "features.probe" not in text
    page = data["relations"]["marts.tot"]
    assert page["step"] == "probe" and [c["downstream"] for c in page["columns"]] == [["features.down.u"], []]
    assert 'FROM "marts"."tot"' in data["relations"]["features.down"]["compiled"], data["relations"]["features.down"]
    assert {n["id"] for n in data["dag"]["nodes"]} >= {"marts.tot", "features.down"}
    assert ["marts.tot", "features.down"] in data["dag"]["edges"]


def test_lineage_reads_the_columns_of_an_aliased_step_from_its_published_table(tmp_path):
    """Columns compile time cannot know come from the catalog, which names the table as
    published (marts.piv), in a schema of the step's own."""
    files = {"warehouse/sources.toml": '[app]\nschema = "app"\n\n[app.tables.t]\n',
             "features/d.sql": "{{ config(schema='marts', alias='piv') }}\n"
                               "select * from (pivot {{ source('app', 't') }} on k in ('a', 'b') using sum(v))\n",
             "features/e.sql": "select id, a + 1 as a1 from {{ ref('d') }}\n"}
    root = make_project(tmp_path / "p", files, setup_sql="create schema app; create table app.t as select * from "
                                                         "(values (1, 'a', 10), (2, 'b', 5)) as v(id, k, v)")
    assert run_in_process(root).ok
    code, out, err = cli_tuple("lineage", "e.a1", "-p", str(root), cwd=root)
    assert (code, out.splitlines()) == (0, ["features.e.a1", "<- marts.piv.a"]), out + err
    code, out, err = cli_tuple("lineage", "d.a", "--downstream", "-p", str(root), cwd=root)
    assert (code, out.splitlines()) == (0, ["marts.piv.a", "-> features.e.a1"]), out + err


def test_ls_tag_paths_name_a_step_as_published(tmp_path):
    files = {"warehouse/sources.toml": '[app.tables.people]\ncolumns = { email = "text" }\ntags = { email = ["pii"] }\n',
             "features/clean.sql": "{{ config(schema='marts', alias='people') }}\nselect email from {{ source('app', 'people') }}\n",
             "features/domain.sql": "select email as address from {{ ref('clean') }}\n"}
    root = make_project(tmp_path / "p", files)
    code, out, err = cli_tuple("ls", "--tag", "pii", "-p", str(root), cwd=root)
    assert code == 0, out + err
    assert "features.domain.address <- marts.people.email <- app.people.email" in out, out
    assert "features.clean" not in out, out

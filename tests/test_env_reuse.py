"""What an environment reuses of prod after prod ran on new data, and what `plan --env`
says a promote would do: on DuckDB and on PostgreSQL."""

from __future__ import annotations

import json
import re

import pytest

from _projects import cli, execute, make_project, query, run, write
from postgres_support import pg_query, pg_url  # noqa: F401 (pg_url is a fixture)
from test_environments import SETUP, STEPS as ENV_STEPS

pytestmark = pytest.mark.slow

STEPS = {
    **ENV_STEPS,
    "features/large.sql": "{{ config(materialized='view') }}\nselect order_id from {{ ref('base') }} where amount > 1",
}
TRIPLED = {"features/doubled.sql": "select order_id, amount * 3 as amount2 from {{ ref('base') }}"}

PG_CONFIG = """\
name = "proj"
dialect = "duckdb"
target = "pg"

[targets.pg]
engine = "postgres"
url = "${TOOLKIT_ENV_REUSE_PG_URL}"
"""


class Warehouse:
    """One project run once in prod, on DuckDB or PostgreSQL: read and write its data."""

    def __init__(self, root, url=None):
        self.root, self.url = root, url

    def read(self, sql: str) -> list[tuple]:
        return [tuple(row) for row in (pg_query(self.url, sql) if self.url else query(self.root, sql))]

    def write(self, sql: str) -> None:
        pg_query(self.url, sql) if self.url else execute(self.root, sql)

    def steps(self, env: str = "dev") -> dict[str, tuple[str, str]]:
        """The last run's step -> (action, reason)."""
        last = self.read("select max(run_id) from toolkit.runs")[0][0]
        return {s: (a, r) for s, a, r in self.read(f"select step, action, reason from toolkit.step_runs where run_id = {last}")}

    def physical(self, env: str) -> dict[str, str]:
        return dict(self.read(f"select step, physical_name from toolkit.published where env = '{env}'"))


@pytest.fixture(params=["duckdb", "postgres"])
def make_warehouse(request, tmp_path, monkeypatch):
    """files -> a Warehouse of that project, run once in prod."""
    def make(files: dict[str, str]) -> Warehouse:
        if request.param == "duckdb":
            found = Warehouse(make_project(tmp_path / "proj", files, SETUP))
        else:
            url = request.getfixturevalue("pg_url")
            monkeypatch.setenv("TOOLKIT_ENV_REUSE_PG_URL", url)
            found = Warehouse(make_project(tmp_path / "proj", {**files, "toolkit.toml": PG_CONFIG}), url)
            found.write("create schema app")
            found.write("create table app.orders as select * from (values (1::bigint, 1.0::float8), (2, 2.0)) t(order_id, amount)")
        assert run(found.root).code == 0
        return found
    return make


@pytest.fixture
def warehouse(make_warehouse):
    return make_warehouse(STEPS)


def test_dev_reuses_what_prod_rebuilt_on_new_data_instead_of_building_it_again(warehouse):
    """dev's own published row of an unchanged step (over prod's older table) hid prod's
    newer one of the same fingerprint: dev rebuilt base and other, a copy of prod's."""
    root = warehouse.root
    write(root, TRIPLED)
    assert run(root, "--env", "dev").code == 0
    warehouse.write("insert into app.orders values (3, 3.0)")
    write(root, {"features/doubled.sql": STEPS["features/doubled.sql"]})
    assert run(root).code == 0  # prod: base, doubled, other rebuilt on the new row
    write(root, TRIPLED)
    result = run(root, "--env", "dev")
    assert result.code == 0, result
    done = warehouse.steps()
    assert {s for s, (a, _) in done.items() if a != "reuse"} == {"doubled", "report"}, done
    assert done["base"][1] == done["other"][1] == done["large"][1] == "unchanged (prod's table)", done
    dev, prod = warehouse.physical("dev"), warehouse.physical("prod")
    assert all(dev[step] == prod[step] for step in ("base", "other", "large")), (dev, prod)
    assert warehouse.read("select order_id from features__dev.large order by 1") == [(2,), (3,)]
    assert warehouse.read("select n from features__dev.other") == [(3,)]
    assert warehouse.read("select order_id, amount2 from features__dev.report order by 1") == [(1, 3.0), (2, 6.0), (3, 9.0)]
    again = run(root, "--env", "dev")
    assert again.code == 0 and {a for a, _ in warehouse.steps().values()} == {"reuse"}
    promoted = cli("promote", "dev", "prod", "-p", str(root))  # dev is not older than prod: it reads prod's tables
    assert promoted.code == 0, promoted
    assert warehouse.read("select order_id, amount2 from features.report order by 1") == [(1, 3.0), (2, 6.0), (3, 9.0)]


INCREMENTAL = {
    **STEPS,
    "features/inc.sql": "{{ config(materialized='incremental', unique_key='order_id') }}\n"
                        "select order_id, amount from {{ ref('base') }}",
}


@pytest.mark.parametrize("env", [(), ("--env", "dev")])
def test_an_incremental_step_whose_inputs_did_not_change_is_reused(make_warehouse, env):
    """Its inputs' fingerprints as recorded, an incremental step still ran ('incremental new
    rows') on every run: it read its rows again and merged them into themselves."""
    warehouse = make_warehouse(INCREMENTAL)
    root, schema = warehouse.root, "features__dev" if env else "features"
    if env:
        assert run(root, *env).code == 0 and warehouse.steps()["inc"][0] == "reuse"  # prod's table: dev has its code
    planned = cli("plan", "-p", str(root), *env)
    assert planned.code == 0 and re.search(r"^inc +reuse +unchanged \(no new input data\)$", planned.out, re.M), planned
    assert run(root, *env).code == 0
    assert warehouse.steps()["inc"] == ("reuse", "unchanged (no new input data)")
    warehouse.write("insert into app.orders values (3, 3.0)")
    assert run(root, *env).code == 0 and warehouse.steps()["inc"][0] == "incremental"
    assert run(root, *env).code == 0 and warehouse.steps()["inc"][0] == "reuse"
    assert warehouse.read(f"select order_id, amount from {schema}.inc order by 1") == [(1, 1.0), (2, 2.0), (3, 3.0)]


def test_plan_for_dev_lists_the_prod_steps_a_promote_would_remove(make_warehouse):
    """`plan --env dev` showed nothing of a step dev's project deleted that prod still
    publishes; the promote after the run removed it from prod all the same."""
    warehouse = make_warehouse(STEPS)
    root = warehouse.root
    (root / "features/other.sql").unlink()
    planned = cli("plan", "-p", str(root), "--env", "dev")
    assert planned.code == 0, planned
    assert re.search(r"^other +unpublish +removed by promote dev prod: unpublishes features\.other$", planned.out, re.M), planned
    # the run's own work, then the row listed for the promote (counted apart: not this run's work)
    assert planned.out.strip().splitlines()[-1] == "plan for env dev: 4 reuse; 1 unpublish by promote dev prod"
    events = [json.loads(line) for line in cli("plan", "-p", str(root), "--env", "dev", "--log-format", "json").out.splitlines()]
    removed = [e for e in events if e["event"] == "plan_promote"]
    assert removed == [{"event": "plan_promote", "env": "dev", "destination": "prod", "step": "other", "action": "unpublish",
                        "reason": "removed by promote dev prod: unpublishes features.other", "reason_kind": "deleted",
                        "relation": "features.other"}], events
    assert "removed by promote" not in cli("plan", "-p", str(root)).out  # prod's own plan unpublishes it itself
    assert run(root, "--env", "dev").code == 0
    promoted = cli("promote", "dev", "prod", "-p", str(root))
    assert promoted.code == 0 and "1 deleted in dev removed (other)" in promoted.out, promoted
    assert "removed by promote" not in cli("plan", "-p", str(root), "--env", "dev").out  # prod has it no more

"""A published incremental step rebuilt from scratch unasked is warned about.

A tester edited a seed an incremental step joins: plan said `rebuild  upstream changed
(codes)` and the run replaced the step's accumulated rows with what its rolling-window
source still held, exit 0, without a word about the rows it dropped. An edit of the step's
SQL, or of an upstream's, does the same. `plan` and `run` now warn (JSON: a warning event
with `history_rebuilt`); not for --full-refresh (asked for) nor for new rows taken in.
"""

from __future__ import annotations

import json

from _projects import cli_tuple, execute, make_project, query

FILES = {
    "warehouse/sources.toml": '[app]\nschema = "app"\n[app.tables.events]\n',
    "warehouse/seeds/codes.csv": "code,label\na,Alpha\nb,Beta\n",
    "features/hist.sql": """\
        {{ config(materialized='incremental', unique_key='id') }}
        select e.id, e.code, c.label from {{ source('app', 'events') }} e left join {{ ref('codes') }} c using (code)
        {% if is_incremental() %} where e.id > (select max(id) from {{ this }}) {% endif %}
    """,
}
SETUP = "create schema app; create table app.events as select * from (values (1, 'a'), (2, 'b')) t(id, code);"


def _project(tmp_path):
    root = make_project(tmp_path / "p", FILES, SETUP)
    _ok(root, "run")
    execute(root, "delete from app.events where id <= 2; insert into app.events values (3, 'a')")  # a rolling source
    _ok(root, "run")
    assert query(root, "select id from features.hist order by id") == [(1,), (2,), (3,)]
    return root


def _ok(root, *args: str) -> str:
    code, out, err = cli_tuple(*args, cwd=root)
    assert code == 0, out + err
    return out + err


def _warnings(root, *args: str) -> list[dict]:
    code, out, err = cli_tuple(*args, "--log-format", "json", cwd=root)
    assert code == 0, out + err
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [e for e in events if e.get("event") == "warning" and "history_rebuilt" in e]


def test_a_seed_edit_that_rebuilds_an_incremental_step_warns_in_plan_and_run(tmp_path):
    root = _project(tmp_path)
    (root / "warehouse/seeds/codes.csv").write_text("code,label\na,Alpha\nb,Beta\nc,Gamma\n")
    said = _ok(root, "plan")
    assert "warning: incremental hist is rebuilt from scratch (upstream changed (codes))" in said, said
    assert "rows they no longer hold are not kept" in said
    found = _warnings(root, "plan")
    assert [(w["step"], w["history_rebuilt"]) for w in found] == [("hist", "upstream changed (codes)")]
    said = _ok(root, "run")
    assert "warning: incremental hist is rebuilt from scratch" in said, said
    assert query(root, "select id from features.hist order by id") == [(3,)]  # what the warning said


def test_its_own_edit_warns_and_full_refresh_or_new_rows_do_not(tmp_path):
    root = _project(tmp_path)
    execute(root, "insert into app.events values (4, 'b')")
    assert _warnings(root, "plan") == []  # new rows: taken in, history kept
    path = root / "features/hist.sql"
    path.write_text(path.read_text().replace("c.label", "upper(c.label) as label"))
    found = _warnings(root, "plan")
    assert [w["step"] for w in found] == ["hist"] and "SQL changed" in found[0]["history_rebuilt"], found
    assert _warnings(root, "plan", "--full-refresh") == []  # asked for

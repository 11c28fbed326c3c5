"""Plans are frozen values; explain.py is the one place that turns them into words and JSON."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlglot import exp

from toolkit.actions import Action, Reason, ReasonKind as K
from toolkit.compiler import CompiledStep
from toolkit.explain import json_lines, reason_text, render_text
from toolkit.fingerprint import Fingerprint
from toolkit.planning import Plan, Planned


@pytest.mark.parametrize("reason, text", [
    (Reason(K.NEW), "new"),
    (Reason(K.FORCED), "forced (--full-refresh)"),
    (Reason(K.UNCHANGED, "prod's table"), "unchanged (prod's table)"),
    (Reason(K.SQL_CHANGED, "~ column x"), "SQL changed: ~ column x"),
    (Reason(K.SQL_CHANGED), "SQL changed"),
    (Reason(K.UPSTREAM_CHANGED, "a, b", Reason(K.SOURCE_CHANGED, "app.orders")), "upstream changed (a, b) and source data (app.orders)"),
    (Reason(K.SOURCE_CHANGED, "app.orders").and_then(Reason(K.NOT_DUE, "2024-01-02 00:00")), "source data changed (app.orders), not due until 2024-01-02 00:00"),
    (Reason(K.UPSTREAM_CHANGED).and_then(Reason(K.SCHEDULE_DUE)), "upstream changed; schedule due"),
    (Reason(K.NEW_ROWS).and_then(None), "new rows"),
])
def test_reason_text(reason, text):
    assert reason_text(reason) == text


def _plan() -> Plan:
    step = CompiledStep("clean", "feature", "features/clean.sql", "table", exp.table_("clean", db="features"))
    reason = Reason(K.UPSTREAM_CHANGED, "orders", Reason(K.SCHEDULE_DUE))
    item = Planned(step, Action.REBUILD, reason, Fingerprint("d" * 64, "f" * 64), exp.table_("clean", db="features"))
    return Plan("prod", {"clean": item}, {})


def test_plan_and_items_are_frozen():
    plan = _plan()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.steps["clean"].action = Action.REUSE
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.env = "dev"


def test_json_is_keyed_on_the_reason_kind():
    events = [json.loads(line) for line in json_lines(_plan())]
    assert events[0]["reason_kind"] == "upstream_changed"
    assert [r["kind"] for r in events[0]["reasons"]] == ["upstream_changed", "schedule_due"]
    assert events[0]["reason"] == "upstream changed (orders); schedule due"
    assert events[-1] == {"event": "plan_summary", "env": "prod", "rebuild": 1}


def test_text_lists_step_action_reason_then_counts():
    assert render_text(_plan()).splitlines() == ["clean  rebuild      upstream changed (orders); schedule due", "plan for env prod: 1 rebuild"]

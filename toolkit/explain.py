"""Renderings of a plan: the words `toolkit plan` prints and the JSON a scheduler reads.

The plan holds values (planning.Planned: an actions.Action and an actions.Reason);
this module is the only place that turns them into text. JSON keeps the reason's
kind apart (`reason_kind`, and every kind of a compound reason in `reasons`), so a
scheduler can act on `schedule_due` or `source_changed` without parsing English.
"""

from __future__ import annotations

import json

from toolkit.actions import Action, Reason, ReasonKind as K
from toolkit.state import PROD

_TEXT = {
    K.NEW: "new",
    K.FORCED: "forced (--full-refresh)",
    K.PHYSICAL_MISSING: "physical table missing",
    K.PUBLISHED_MISSING: "published relation {} missing",
    K.UNCHANGED: "unchanged",
    K.SQL_CHANGED: "SQL changed",
    K.CONFIG_CHANGED: "config changed",
    K.FILE_CHANGED: "file changed",
    K.CODE_CHANGED: "changed",
    K.UPSTREAM_CHANGED: "upstream changed",
    K.TESTS_INPUT_CHANGED: "a step its tests read changed ({})",
    K.UPSTREAM_REBUILT: "upstream {} rebuilt (a view reads its upstream's table)",
    K.REPOINT: "re-point: reads {}, rebuilt (a view over it, not selected)",
    K.UNPUBLISHED_EDITS: "its published SQL kept: its file's edits{} are not published until a run selects it",
    K.SOURCE_CHANGED: "source data changed ({})",
    K.DEFINITION_CHANGED: "definition changed",
    K.PRODUCTION_CHANGED: "production version is now {}: scored again",
    K.SCHEDULE_DUE: "schedule due",
    K.NOT_DUE: "not due until {}",
    K.NEW_ROWS: "new rows",
    K.RETYPED: "its query's column types changed: {}",
    K.BACKFILL: "backfill {}",
    K.HELD: "holds {} already",
    K.NO_BACKFILL: "--start/--end: only incremental steps with a time_column backfill",
    K.EPHEMERAL: "ephemeral: inlined into its readers",
    K.DELETED: "step deleted: unpublish {}",
    K.TESTS_CHANGED: "data tests changed: re-run on the published table",
    K.TEST_READS_WRITTEN: "{}, which this run writes: re-run on its published table",
    K.CLOCK: "freshness tests: re-run on the published table (checked every run)",
    K.VOLATILE: "reads the clock or randomness ({}): run again every run",
}
# Kinds whose detail is appended in parentheses or after a colon when present.
_PARENTHESES = {K.UNCHANGED, K.UPSTREAM_CHANGED}
_COLON = {K.SQL_CHANGED}


def reason_text(reason: Reason) -> str:
    """'upstream changed (a, b) and source data (shop.orders); schedule due'."""
    text = _one(reason)
    previous, then = reason, reason.then
    while then is not None:
        if then.kind is K.SOURCE_CHANGED and previous.kind is K.UPSTREAM_CHANGED:
            text += f" and source data ({then.detail})"
        elif then.kind is K.NOT_DUE:
            text += ", " + _one(then)
        else:
            text += "; " + _one(then)
        previous, then = then, then.then
    return text


def _one(reason: Reason) -> str:
    template = _TEXT[reason.kind]
    if reason.kind is K.UNPUBLISHED_EDITS:  # the detail is the edits' diff, when there is one
        return template.format(f" (SQL changed: {reason.detail})" if reason.detail else "")
    if "{" in template:
        return template.format(reason.detail)
    if reason.detail and reason.kind in _PARENTHESES:
        return f"{template} ({reason.detail})"
    if reason.detail and reason.kind in _COLON:
        return f"{template}: {reason.detail}"
    return template


def to_dict(item, model=None) -> dict:
    """One planned step as the JSON event fields (planning.Planned); `model`: a model step's
    modelplan.ModelIntent (model_action train | score, model_version, model_reason)."""
    step = item.step
    reasons, reason = [], item.reason
    while reason is not None:
        reasons.append({"kind": reason.kind.value, "detail": reason.detail})
        reason = reason.then
    return {
        "step": step.name, "kind": step.kind, "materialized": step.materialized,
        "action": item.action.value, "reason": reason_text(item.reason), "reason_kind": item.reason.kind.value,
        "reasons": reasons, "fingerprint": item.fingerprint[:12],
        "relation": item.relation.sql() if item.relation is not None else None,
        **(model.fields() if model is not None else {}),
    }


def step_text(plan, item) -> str:
    """The reason `toolkit plan` prints; a model step it builds also says whether it trains
    or re-scores (and with which version)."""
    model = plan.models.get(item.step.name)
    return reason_text(item.reason) + (f" -> {model.text()}" if model is not None else "") + held_text(plan.holds.get(item.step.name, ()))


def held_text(holds) -> str:
    """'; published only if custom test features/tests/x.sql (run with b) passes' (planning.Hold)."""
    if not holds:
        return ""
    return "; published only if " + " and ".join(hold.text() for hold in holds) + " passes"


def _held_fields(holds) -> dict:
    return {"held_by": [{"test": hold.test, "where": hold.where, "step": hold.owner} for hold in holds]} if holds else {}


def events(plan) -> list[dict]:
    """`toolkit plan --log-format json`: one event per step, then a summary."""
    # First what the run does first: test sources (an event of its own: a source is no step)
    found = [{"event": "plan_source_test", "env": plan.env, **tested} for tested in _source_tests(plan)]
    found += [{"event": "plan", "env": plan.env, **to_dict(item, plan.models.get(name)), **_held_fields(plan.holds.get(name))}
              for name, item in plan.steps.items()]
    found += [{"event": "plan", "env": plan.env, **deleted} for deleted in _deleted(plan)]
    # Not this run's work: what `promote <env> prod` would do after it (an event of its own)
    found += [{"event": "plan_promote", "env": plan.env, "destination": PROD, **removed} for removed in _removed_by_promote(plan)]
    found += [{"event": "warning", "env": plan.env, "step": name, "stale_upstream": upstream, "message": text}
              for name, upstream, text in stale_warnings(plan)]
    found += [{"event": "warning", "env": plan.env, "step": name, "unpublished_edits": diff, "message": text}
              for name, diff, text in kept_sql_warnings(plan)]
    found += [{"event": "warning", "env": plan.env, "test": where, "step": owner, "message": text}
              for where, owner, text in untested_warnings(plan)]
    found += [{"event": "warning", "env": plan.env, "step": name, "history_rebuilt": why, "message": text}
              for name, why, text in history_warnings(plan)]
    found += [{"event": "warning", "env": plan.env, "step": name, "held_view_read": read, "message": text}
              for name, read, text in held_view_warnings(plan)]
    found.append({"event": "plan_summary", "env": plan.env, **plan.counts(), **_promote_counts(plan)})
    return found


def stale_warnings(plan) -> list[tuple[str, str, str]]:
    """(view, step, warning) for each published view the plan leaves reading the old table
    of a step it rebuilds (--exclude named it, or a view it reads): `plan` and `run` say so."""
    return [(name, upstream, f"warning: {name} is left stale: a view still reading {upstream}'s old table "
                             f"(--exclude left it out; a run that does not exclude it re-points it)")
            for name, upstream in plan.left_stale.items()]


def kept_sql_warnings(plan) -> list[tuple[str, str, str]]:
    """(view, diff, warning) for each view the plan re-points with the SQL it was published
    with although its file was edited since: the run publishes what was selected, not the
    edits, and `plan` and `run` say where they went."""
    found = []
    for name, item in plan.steps.items():
        edits = next((r for r in _reasons(item.reason) if r.kind is K.UNPUBLISHED_EDITS), None)
        if edits is not None:
            found.append((name, edits.detail, f"warning: {name} has unpublished edits{f' (SQL changed: {edits.detail})' if edits.detail else ''}: "
                                              f"re-pointed with its published SQL; `toolkit run --select {name}` publishes them"))
    return found


def _reasons(reason: Reason | None):
    while reason is not None:
        yield reason
        reason = reason.then
def untested_warnings(plan) -> list[tuple[str, str, str]]:
    """(test, step, warning) for each custom or relationships test, of either severity, the plan
    does not run (its step is not in it: not selected, or excluded) that reads steps it writes:
    those are published untested by it (or without its warning). `plan` and `run` say so. A
    selected step runs it even when not due (re-tested)."""
    return [(where, owner, _untested_text(where, owner, written, holds)) for where, (owner, written, holds) in plan.untested.items()]


def _untested_text(where: str, owner: str, written: tuple[str, ...], holds: bool) -> str:
    named = ", ".join(written)
    then = f"the run then runs it and holds {named} until it passes" if holds else "the run then runs it"
    return (f"warning: {where} runs with {owner}, which this run leaves out, so it does not run: "
            f"{named} {'is' if len(written) == 1 else 'are'} published without it (select {owner} too: {then})")


def held_view_warnings(plan) -> list[tuple[str, str, str]]:
    """(step, step it reads, warning) for each step the plan builds that reads, through a view
    source, a step whose publish waits for a test run with it or after it: the run does not
    build it (viewsources.HeldRead). `plan` says so beforehand; the run fails it, saying why."""
    return [(name, held.step, f"warning: {held.error(name)}") for name, reads in plan.held_view_reads.items()
            if name in plan.steps and plan.steps[name].builds for held in reads]


def history_warnings(plan) -> list[tuple[str, str, str]]:
    """(step, why, warning) for each published incremental step the plan rebuilds from
    scratch unasked (not --full-refresh): its own edit, or an upstream's that redefines what
    it reads (a step's SQL, a seed's file). Its rows become what its inputs hold now: rows
    a rolling-window source no longer holds are not kept. `plan` and `run` say so."""
    found = []
    for name, item in plan.steps.items():
        if (item.step.materialized != "incremental" or item.action is not Action.REBUILD or item.current is None
                or item.reason.kind in (K.FORCED, K.PHYSICAL_MISSING)):
            continue
        why = reason_text(item.reason)
        found.append((name, why, f"warning: incremental {name} is rebuilt from scratch ({why}): its rows become what "
                                 f"its inputs hold now, and rows they no longer hold are not kept"))
    return found


def json_lines(plan) -> list[str]:
    return [json.dumps(event) for event in events(plan)]


def render_text(plan) -> str:
    """`toolkit plan`: step, action, reason per line, then the counts."""
    rows = [(t["source"], t["action"], t["reason"]) for t in _source_tests(plan)]
    rows += [(item.step.name, item.action.value, step_text(plan, item)) for item in plan.steps.values()]
    rows += [(d["step"], d["action"], d["reason"]) for d in _deleted(plan) + _removed_by_promote(plan)]
    width = max([len(step) for step, _, _ in rows] + [4])
    lines = [f"{step:<{width}}  {action:<11}  {reason}" for step, action, reason in rows]
    counts = ", ".join(f"{n} {action}" for action, n in sorted(plan.counts().items())) or "nothing selected"
    if plan.promote_removes:  # listed above as unpublish rows: counted, though a promote does it, not this run
        counts += f"; {len(plan.promote_removes)} unpublish by promote {plan.env} {PROD}"
    tested = f"; {len(plan.source_tests)} source{'s' if len(plan.source_tests) != 1 else ''} tested first" if plan.source_tests else ""
    lines += [text for _, _, text in stale_warnings(plan) + kept_sql_warnings(plan) + untested_warnings(plan) + history_warnings(plan)
              + held_view_warnings(plan)]
    lines.append(f"plan for env {plan.env}: {counts}{tested}")
    return "\n".join(lines)


def _promote_counts(plan) -> dict[str, int]:
    """The summary counts the unpublish rows a later promote does too, under a key of their
    own (not this run's work: `unpublish` counts what the run itself unpublishes)."""
    return {"promote_unpublish": len(plan.promote_removes)} if plan.promote_removes else {}


def _source_tests(plan) -> list[dict]:
    """Sources the run tests before any step reads them: a failing test of severity error
    fails the selected steps that read the source, and skips what reads those."""
    found = []
    for key, tests in plan.source_tests.items():
        readers = [name for name, item in plan.steps.items() if key in item.step.sources]
        blocking = any(test.severity == "error" for test in tests)
        labels = ", ".join(test.label for test in tests)
        effect = f"a failure fails {', '.join(readers)} and skips what reads {'them' if len(readers) > 1 else 'it'}" if blocking else "warn only"
        found.append({"source": key, "action": "test", "reason": f"source data tests: {labels} ({effect})",
                      "tests": [test.label for test in tests], "blocking": blocking, "readers": readers})
    return found


def _deleted(plan) -> list[dict]:
    """Published steps whose file is gone: the run unpublishes them."""
    return [
        {"step": name, "action": "unpublish", "reason": reason_text(Reason(K.DELETED, relation)), "reason_kind": K.DELETED.value,
         "relation": relation}
        for name, relation in plan.deleted.items()
    ]


def _removed_by_promote(plan) -> list[dict]:
    """Prod's steps this project deleted: a promote into prod after this run unpublishes them
    there (the run records them as deleted in its environment: environments.promote)."""
    return [
        {"step": name, "action": "unpublish", "reason": f"removed by promote {plan.env} {PROD}: unpublishes {relation}",
         "reason_kind": K.DELETED.value, "relation": relation}
        for name, relation in plan.promote_removes.items()
    ]

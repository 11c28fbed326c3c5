"""incremental: built once, then new rows are merged or appended into the published
physical table, tested and committed in one transaction; a changed definition rebuilds.

    merge (unique_key): rows whose key arrives again are replaced.
    append (time_column): the query's rows at or after since = max(time_column) - lookback
    replace the table's rows of that window, [since, ...) (late data inside the window
    is picked up, rows deleted from it in the source are deleted). The whole
    query is narrowed to the window by toolkit: is_incremental() is false in it.
    append (neither): the query's rows are added, as in dbt, where the template
    filters with `{% if is_incremental() %}`.
    nothing read changed (every input's fingerprint as recorded): reused, not run; an
    update would read the same rows again (a plain append: add them twice).
    backfill (--start/--end, time_column): the missing intervals are recomputed, each
    from the whole query narrowed to [start, end) by time_column, for the same reason:
    the template's `start`/`end` are None. A merge's backfill replaces its keys
    wherever they are, and keeps a key whose time moved out of the interval.

The new rows are computed into a staging table first (the query may read the table
it updates), then deleted-and-inserted, tested and committed together. Engines that
cannot (Spark: UPDATES_IN_PLACE False) copy on write: kept and new rows go into a new
physical table, tested, which the publish then points the view at. Every engine copies
on write a table another environment publishes too (after a promote) or a saved state
needs (rollback): updated in place, their data would change with this environment's;
and a step whose publish waits for a later step's custom test (planning.held_publishes).
Another environment's run of a step whose code is prod's starts from prod's table that
way (reused, or updated into a copy): a rebuild from scratch there lost prod's history
(rows a rolling-window source no longer holds), which `promote` then put into prod.
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone

from sqlglot import exp

from toolkit import hooks, schedule
from toolkit.clock import wall_time
from toolkit.actions import Action, Decision, Reason, ReasonKind
from toolkit.errors import ProjectError, StepFailed, line_of
from toolkit.materialize import check, create
from toolkit.materializations.base import Built, Materialization, volatile_calls
from toolkit.state import PHYSICAL_SCHEMA
LOOKBACK = re.compile(r"^\s*(\d+)\s*(second|minute|hour|day|week|month|year)s?\s*$", re.I)


class Incremental(Materialization):
    name = "incremental"

    def decide(self, ctx) -> Decision:
        current, options = ctx.current, ctx.options
        calls = volatile_calls(ctx.compiled, ctx.step, "volatile" if windowed(ctx.step) else "volatile_update")
        retest = None if options.start or options.end or calls else self.retest_for_tests_inputs(ctx)
        if retest is not None:  # only what its tests read changed: rebuilt, it lost its history for nothing
            return retest
        if _definition_changed(ctx):
            return Decision(Action.REBUILD, ctx.own or ctx.inputs)
        if options.start or options.end:
            return _backfill(ctx)
        if calls and current.inputs and dict(current.inputs) == dict(ctx.fp.inputs):
            return self.rerun_volatile(ctx, Action.INCREMENTAL, calls)  # `where ts > now() - interval 1 day` moved
        if current.inputs and dict(current.inputs) == dict(ctx.fp.inputs):
            # Its window or merge would read the same rows again and replace them with
            # themselves (planning._accumulated keeps the fingerprint): nothing to bring in.
            return Decision(Action.REUSE, Reason(ReasonKind.UNCHANGED, "no new input data"), keeps_recorded=True)
        if ctx.not_due is not None:
            return Decision(Action.REUSE, ctx.not_due, keeps_recorded=True)
        retyped = _retyped_now(ctx)
        if retyped:  # update() would rebuild it: the plan says so (and warns of the history it loses)
            return Decision(Action.REBUILD, Reason(ReasonKind.RETYPED, retyped).and_then(ctx.due))
        return Decision(Action.INCREMENTAL, Reason(ReasonKind.NEW_ROWS).and_then(_tests_input(ctx)).and_then(ctx.due))

    def only_tests_inputs_changed(self, ctx) -> bool:
        """As for a table, but its data fingerprint follows from its updates (planning._accumulated):
        its definition and the inputs of its last update are what it compares."""
        fp = ctx.without_tests_inputs
        return fp is not None and fp.definition == ctx.current.definition and dict(fp.inputs) == dict(ctx.current.inputs)

    def check(self, ctx, step, physical: exp.Table) -> list:
        try:
            check_time_column(ctx.engine, step, physical)
            check_key(ctx.engine, step, physical, "its rows")
        except (StepFailed, ProjectError):
            ctx.engine.drop(physical)
            raise
        return super().check(ctx, step, physical)

    def after_build(self, ctx, step, physical) -> None:
        _record_interval(ctx, step, physical)

    def update(self, ctx, planned) -> Built:
        step = planned.step
        physical = ctx.physical_of(step.name)
        check_time_column(ctx.engine, step, physical)
        retyped = None if planned.backfill else _retyped(ctx.engine, ctx.query(step.tree)[0], physical)
        if retyped:  # new rows would be cast into the old types: 1.25 published as 1
            built = self.build(ctx, planned)
            return replace(built, action=Action.REBUILD.value, reason=f"its query's column types changed: {retyped}")
        staging = exp.table_(f"{physical.name}__staging", db=PHYSICAL_SCHEMA)
        # Engines that cannot update the published table in one transaction write a new one,
        # and so does every engine when another environment or a saved state reads the table,
        # or when its publish waits for a later step's custom test (in place, its new rows
        # would be published before that test ran).
        in_place = (ctx.engine.UPDATES_IN_PLACE and not ctx.state.shared_elsewhere(ctx.env, physical.name)
                    and not ctx.held(step.name))
        into = None if in_place else ctx.new_physical(step, planned.fingerprint)
        # In place, the update commits before the publish: a hook that would fail stops it first.
        hooks.rehearse(ctx.engine, hooks.for_step(step, ctx.compiled.dialect), physical, "TABLE")
        with ctx.engine_lock:  # incremental updates commit one at a time
            if planned.backfill:
                return _backfill_intervals(ctx, planned, physical, staging, into)
            query, _ = ctx.query(step.tree if windowed(step) else ctx.compiled.variant_tree(step, **variant_values()))
            rows, tests, read = update_incremental(ctx.engine, step, physical, query, staging, ctx.tests, into)
            current = _moved(ctx, step, physical, into or physical, physical)
            if read:
                ctx.state.record_intervals(ctx.env, step.name, current.name, [read], ctx.run_id)
        return Built(current, rows, tests)


def _definition_changed(ctx) -> bool:
    """Its definition changed beyond the steps only its tests read (a relationships test's
    parent): those are in its fingerprint so that it runs after them, but its rows are not made
    from them. Edited in the same run as its source gets new rows, it is updated (an update runs
    all its tests, those reading the edited step too), not rebuilt: that lost its history."""
    if ctx.current.definition == ctx.fp.definition:
        return False
    before = ctx.without_tests_inputs  # those steps as published before this run: None when not known
    return before is None or before.definition != ctx.current.definition


def _tests_input(ctx) -> Reason | None:
    """The steps only its tests read that changed too (ctx.inputs names them apart), as the
    reason's second part: the update runs all its tests, those reading them against their new
    rows, and "new rows" alone did not say why those tests' answer may change."""
    reason = ctx.inputs
    while reason is not None and reason.kind is not ReasonKind.TESTS_INPUT_CHANGED:
        reason = reason.then
    return None if reason is None else Reason(reason.kind, reason.detail)


def _retyped(engine, query: exp.Query, physical: exp.Table) -> str | None:
    """The columns the step's query now makes in another type than its table holds (a
    source column retyped), e.g. "v INTEGER -> DOUBLE"; planned, nothing read. A column
    the query makes of no type (a bare NULL) is not compared."""
    import pyarrow as pa

    made = engine.fetch_arrow(exp.select("*").from_(query.copy().subquery("q")).limit(0)).schema
    held = {field.name.lower(): field.type for field in engine.fetch_arrow(exp.select("*").from_(physical).limit(0)).schema}
    changed = [f"{field.name} {held[field.name.lower()]} -> {field.type}" for field in made
               if field.name.lower() in held and not pa.types.is_null(field.type) and field.type != held[field.name.lower()]]
    return ", ".join(changed) or None


class _Unknown(Exception):
    """An upstream's column types cannot be known before the run (a model rebuilt, nothing published)."""


def _retyped_now(ctx) -> str | None:
    """At plan time, what update() finds (_retyped): the columns the step's query makes in
    another type than its published table holds. Upstream steps are read as the tables they
    publish now, or, rebuilt this run, as their own queries (their new tables' types). None
    when nothing changed, or when it cannot be known before the run: update() still checks."""
    try:
        query = _query_now(ctx, ctx.step.tree)
    except _Unknown:
        return None
    physical = exp.table_(ctx.current.physical_name, db=PHYSICAL_SCHEMA)
    try:
        return _retyped(ctx.engine, query, physical)
    except Exception:  # noqa: BLE001 - a look ahead only (a file source not synced yet): the run finds and says what fails
        return None


def _query_now(ctx, tree: exp.Expression | None) -> exp.Expression:
    if tree is None:
        raise _Unknown

    def relation_of(name: str) -> exp.Expression:
        planned = ctx.planned.get(name)
        if planned is not None and planned.action.builds:
            return _query_now(ctx, ctx.compiled.steps[name].tree).subquery()
        row = planned.current if planned is not None else ctx.published.get(name)
        if row is None:
            raise _Unknown
        return exp.table_(row.physical_name, db=PHYSICAL_SCHEMA)

    return ctx.compiled.inlined(tree, relation_of)


def _backfill_intervals(ctx, planned, physical: exp.Table, staging: exp.Table, into: exp.Table | None) -> Built:
    """Each missing interval's rows replace that interval. In place, all of them commit
    together or none does: a later interval failing its tests had left the earlier ones
    replaced in the published table, the step reported "not published". The intervals
    are recorded as held once they are in, up to now: rows of a later time may still arrive."""
    step, rows, tests, current, held = planned.step, 0, [], physical, []
    until = _wall_now(ctx.compiled.project.config.time_zone)
    # The whole query, narrowed by backfill(): a filter of the template's own (on another
    # column, or on one its time_column is computed from) left rows of the interval out.
    query, _ = ctx.query(step.tree)
    try:
        with ctx.engine.transaction() if into is None else nullcontext():
            for i, (start, end) in enumerate(planned.backfill):
                target = _nth(into, i, len(planned.backfill))
                written, tests = backfill(ctx.engine, step, current, query, staging, ctx.tests, start, end, target)
                if target is not None:  # copied on write: the previous interval's table is read, no longer needed
                    _drop_unpublished(ctx.engine, current, physical)
                    current = target
                rows += written
                if start < until:  # --end in the future: its rows are not in yet, a later backfill reads them
                    held.append((start, min(end, until)))
    except Exception:
        # Copied on write, the tables of the intervals built before the failure are nobody's:
        # dropped here rather than left to the run's sweep (a Ctrl-C or kill skips it).
        for table in (current, into):
            _drop_unpublished(ctx.engine, table, physical)
        raise
    finally:
        # Out of the transaction, rolled back if an interval failed: dropped inside the aborted
        # transaction, the DROP itself failed and its "transaction is aborted" replaced the real error.
        ctx.engine.drop(staging)
    # The intervals are recorded for the table that is published only: an intermediate one's
    # rows in toolkit.intervals outlived it, naming a table no longer there.
    current = _moved(ctx, step, physical, current, physical)
    ctx.state.record_intervals(ctx.env, step.name, current.name, held, ctx.run_id)
    return Built(current, rows, tests)


def _drop_unpublished(engine, table: exp.Table | None, published: exp.Table) -> None:
    """Drop a table a copy-on-write backfill wrote, never the published one it read."""
    if table is not None and table.name != published.name:
        engine.drop(table)


def _wall_now(zone: str) -> datetime:
    """schedule.now() as a wall time of the project's time zone, as intervals are recorded
    (inside the repeated hour of a fall-back: an hour earlier, claiming no row not yet in)."""
    return wall_time(schedule.now(), zone, "down")


def check_start(start: datetime | None, end: datetime | None, zone: str) -> None:
    """--start without --end: the backfill ends now, so a start at or after now is refused
    (exit 2). A wall time is compared with now in the project's time_zone, as the backfill
    ends (compared with now in UTC, Berlin's valid start an hour ago was refused and a start
    in Los Angeles' future accepted, then "held already"); an offset's instant with the instant."""
    if start is None or end is not None:
        return
    now = _wall_now(zone) if start.tzinfo is None else schedule.now().replace(tzinfo=timezone.utc)
    if start >= now:
        shown = f"{_wall_now(zone):%Y-%m-%d %H:%M} in {zone}" if start.tzinfo is None else f"{now:%Y-%m-%d %H:%M} UTC"
        raise ProjectError(f"--start {_as_typed(start)} is not before now ({shown})", hint="give an --end after it")


def _as_typed(value: datetime) -> str:
    """A time as it was likely typed: 2024-01-31, 2024-01-31T06:00, 2024-01-31T06:00+01:00."""
    if value.tzinfo is None and value.time() == time():
        return value.date().isoformat()
    return value.isoformat(timespec="minutes" if not (value.second or value.microsecond) else "auto")


def _nth(into: exp.Table | None, i: int, n: int) -> exp.Table | None:
    """The table a copy-on-write backfill writes interval i into (the last one: `into`)."""
    if into is None or i == n - 1:
        return into
    return exp.table_(f"{into.name}__{i}", db=into.db)


def _moved(ctx, step, before: exp.Table, after: exp.Table, published: exp.Table) -> exp.Table:
    """After a copy on write: the intervals `before` held now belong to `after`, and an
    intermediate table (not the published one) is dropped."""
    if after.name != before.name:
        held = ctx.state.intervals(step.name, before.name)
        if held:
            ctx.state.record_intervals(ctx.env, step.name, after.name, held, ctx.run_id)
        if before.name != published.name:
            ctx.engine.drop(before)
    return after


def _backfill(ctx) -> Decision:
    step, current, options = ctx.step, ctx.current, ctx.options
    if "time_column" not in step.config:
        return Decision(Action.REUSE, Reason(ReasonKind.NO_BACKFILL), keeps_recorded=True)
    start = _wall_time(ctx, options.start, "--start") or datetime.min
    end = _wall_time(ctx, options.end, "--end") or _wall_now(ctx.compiled.project.config.time_zone)  # intervals are wall times
    if options.start and options.end and start >= end:  # one of them had an offset: cli could not compare them before
        raise ProjectError(f"--start {options.start.isoformat()} is not before --end {options.end.isoformat()} "
                           f"(wall times in {ctx.compiled.project.config.time_zone})")
    held = ctx.state.intervals(step.name, current.physical_name)
    missing = missing_intervals(start, end, held)
    if not missing:
        return Decision(Action.REUSE, Reason(ReasonKind.HELD, f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}"), keeps_recorded=True)
    spans = ", ".join(f"{a:%Y-%m-%d %H:%M}..{b:%Y-%m-%d %H:%M}" for a, b in missing[:3]) + (" ..." if len(missing) > 3 else "")
    return Decision(Action.INCREMENTAL, Reason(ReasonKind.BACKFILL, f"{len(missing)} missing interval(s): {spans}"), backfill=tuple(missing))


def _wall_time(ctx, value: datetime | None, flag: str) -> datetime | None:
    """--start/--end as the wall time of the project's time_zone the intervals are recorded
    in: an offset's instant converted (dropped, 10:00+00:00 read 10:00 in Berlin, an hour
    early). A time_column without a zone (timestamp, date) holds no instants, so an offset
    names no row of it: refused, exit 2."""
    if value is None or value.tzinfo is None:
        return value
    import pyarrow as pa

    column = exp.column(ctx.step.time_column)
    physical = exp.table_(ctx.current.physical_name, db=PHYSICAL_SCHEMA)
    kind = ctx.engine.fetch_arrow(exp.select(column).from_(physical).limit(0)).schema.field(0).type
    if not (pa.types.is_timestamp(kind) and kind.tz):
        raise ProjectError(f"{flag} {value.isoformat()} has a UTC offset, but step {ctx.step.name}'s time_column "
                           f"{ctx.step.time_column} is a {kind} without a time zone",
                           hint="give a wall time without an offset, e.g. 2024-01-31T06:00")
    # inside a fall-back's repeated hour: --start an hour earlier, --end an hour later (read more, lose nothing)
    return wall_time(value, ctx.compiled.project.config.time_zone, "down" if flag == "--start" else "up")


def missing_intervals(start: datetime, end: datetime, held: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """[start, end) minus the union of the held [a, b) intervals."""
    missing, cursor = [], start
    for a, b in sorted(held):
        if b <= cursor:
            continue
        if a >= end:
            break
        if a > cursor:
            missing.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        missing.append((cursor, end))
    return missing


def _record_interval(ctx, step, physical: exp.Table) -> None:
    """What an incremental step with a time_column holds after a build: all of its query."""
    if "time_column" not in step.config:
        return
    span = time_span(ctx.engine, physical, step.time_column)
    if span:
        ctx.state.record_intervals(ctx.env, step.name, physical.name, [span], ctx.run_id)


def update_incremental(engine, step, physical: exp.Table, query: exp.Expression, staging: exp.Table, tests,
                       into: exp.Table | None = None) -> tuple[int, list, tuple | None]:
    """Bring new rows into the existing physical table (or, copied on write, into
    `into`); (rows inserted, test outcomes, the time span it read whole or None)."""
    window = exp.table_(staging.name + "_window", db=staging.db)
    for leftover in (staging, window):  # a killed run may have left them behind
        engine.drop(leftover)
    try:
        stale = _stage_new_rows(engine, step, physical, query, staging, window)
        outcomes = replace_rows(engine, step, physical, stale, staging, tests, into)
        # A window read its rows' span whole; the table's span would also claim a gap
        # between a backfilled interval and the window that no run read, and a backfill
        # would then skip it. A merge reads what its template picks: no span whole.
        read = time_span(engine, staging, step.time_column) if windowed(step) else None
        return engine.count_rows(staging), outcomes, read
    finally:
        engine.drop(staging)
        engine.drop(window)


def replace_rows(engine, step, physical: exp.Table, stale: exp.Expression | None, staging: exp.Table, tests,
                 into: exp.Table | None) -> list:
    """physical's rows matching `stale` replaced by staging's, tested: in one transaction
    in place (into None), or written with the kept rows into the new table `into`."""
    columns = list(engine.columns(physical) or {})
    new_rows = exp.select(*columns).from_(staging)
    if into is None:
        with engine.transaction():
            if stale is not None:
                engine.execute(exp.delete(physical, where=stale))
            engine.execute(exp.insert(new_rows, physical, columns=columns))
            return check(engine, step, physical, tests)
    kept = exp.select(*columns).from_(physical)
    if stale is not None:  # NULL (a NULL key) is not stale: DELETE would keep that row too
        kept = kept.where(exp.not_(exp.func("coalesce", stale, exp.false())))
    engine.drop(into)
    engine.execute(create("TABLE", into, exp.union(kept, new_rows, distinct=False)))
    try:
        return check(engine, step, into, tests)
    except Exception:
        engine.drop(into)
        raise


def _stage_new_rows(engine, step, physical, query, staging, window) -> exp.Expression | None:
    """Fill `staging` with the rows to bring in; the condition for rows they replace."""
    if merges(step):
        engine.execute(create("TABLE", staging, query))
        check_key(engine, step, staging, "this run's new rows")
        keys = exp.Tuple(expressions=[exp.column(k) for k in step.key_columns])
        return keys.isin(query=exp.select(*[exp.column(k) for k in step.key_columns]).from_(staging).subquery())
    if "time_column" not in step.config:  # plain append: the query's own filter picks new rows
        engine.execute(create("TABLE", staging, query))
        return None
    time_column = exp.column(step.time_column)
    since = exp.Sub(this=exp.Max(this=time_column), expression=lookback_interval(step.config.get("lookback")))
    engine.execute(create("TABLE", window, exp.select(since.as_("since")).from_(physical)))
    start = exp.select("since").from_(window).subquery()
    # A row without a time belongs to no window: it is read, and replaced, by every update,
    # as a rebuild would (only rows at or after `since` were, so new ones were never added).
    untimed = time_column.copy().is_(exp.null())
    in_window = exp.or_(start.is_(exp.null()), exp.GTE(this=time_column.copy(), expression=start), untimed)
    engine.execute(create("TABLE", staging, exp.select("*").from_(query.subquery("new_rows")).where(in_window)))
    # The whole window is replaced, from `since`: from the earliest row read instead, rows
    # deleted from the source at the window's start (or all of an emptied window) stayed published.
    return exp.or_(exp.GTE(this=time_column.copy(), expression=start.copy()), untimed.copy())


def check_time_column(engine, step, table: exp.Table) -> None:
    """time_column holds dates or timestamps in `table` (a LIMIT 0 read): the compile checks
    it only where it can infer the type (stepchecks._check_time_column_type). Text passed
    the first build, then every update failed on `max(ts) - interval` with the engine's
    Binder Error: exit 1, no line. ProjectError (exit 2) at the config line instead."""
    if "time_column" not in step.config:
        return
    import pyarrow as pa

    kind = engine.fetch_arrow(exp.select(exp.column(step.time_column)).from_(table).limit(0)).schema.field(0).type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return
    raise ProjectError(f"config time_column='{step.time_column}' of {step.name} holds {kind}, not dates or timestamps: "
                       "the lookback window and --start/--end intervals are times", step.file,
                       line_of(step.template or "", "time_column") or None,
                       hint="cast the column to a timestamp in the step, or name a date or timestamp column")


def merges(step) -> bool:
    return bool(step.key_columns) and step.config.get("incremental_strategy") != "append"


def windowed(step) -> bool:
    """An append by time_column: toolkit re-reads the window from the step's whole query, not
    from its is_incremental() variant. A filter of the template's own (on another column,
    say) left rows of the window out, and replacing the window deleted them."""
    return "time_column" in step.config and not merges(step)


def check_key(engine, step, rows: exp.Table, what: str) -> None:
    """A merge replaces the rows whose key arrives again: a key that repeats among the rows
    it brings in would be published twice, and a NULL key matches nothing, so its row
    would be added again by every run. StepFailed, naming one such key."""
    if not merges(step):
        return
    keys = [exp.column(k, quoted=True) for k in step.key_columns]  # published names: lower case, maybe reserved
    repeated = exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1))
    offending = exp.or_(repeated, *[key.copy().is_(exp.null()) for key in keys])
    found = engine.fetch_rows(exp.select(*keys, exp.Count(this=exp.Star())).from_(rows).group_by(*keys)
                              .having(offending).limit(1))
    if not found:
        return
    *values, count = found[0]
    named = ", ".join(f"{k} = {'NULL' if v is None else repr(v)}" for k, v in zip(step.key_columns, values))
    if any(v is None for v in values):
        raise StepFailed(f"unique_key {', '.join(step.key_columns)} has a NULL in {count} of {what} ({named}): a "
                         "merge matches no NULL key, so every run would add them again (filter them out or coalesce "
                         "the key)")
    raise StepFailed(f"unique_key {', '.join(step.key_columns)} repeats in {what}: {named} in {count} rows; a merge "
                     "would publish them all (return one row per key)")


def lookback_interval(text: str | None) -> exp.Interval:
    amount, unit = LOOKBACK.match(text or "0 days").groups()
    return exp.Interval(this=exp.Literal.string(amount), unit=exp.Var(this=unit.upper()))


def time_span(engine, physical: exp.Table, time_column: str):
    """[min, max + 1 microsecond) of the time column, or None for an empty table, as wall
    times of the project's time zone, as intervals and --start/--end are. A timestamptz
    arrives as an instant (from PostgreSQL in UTC: recorded as it came, its clock values
    were hours off Berlin's, and a backfill skipped rows as held); a timestamp or a date
    is a wall time already."""
    column = exp.column(time_column)
    low, high = engine.fetch_rows(exp.select(exp.Min(this=column), exp.Max(this=column.copy())).from_(physical))[0]
    if low is None or not hasattr(low, "year"):
        return None
    zone = getattr(engine.target, "time_zone", "UTC")

    def as_wall(value, side: str, later: timedelta = timedelta(0)) -> datetime:
        if not isinstance(value, datetime):
            return datetime.combine(value, time()) + later
        if value.tzinfo is None:
            return value + later
        # added to the instant: an aware wall time plus a microsecond forgets its fold
        return wall_time(value.astimezone(timezone.utc) + later, zone, side)
    # min and max are instants of rows read: a repeated hour's wall time moves inwards
    return as_wall(low, "up"), as_wall(high, "down", timedelta(microseconds=1))


def variant_values() -> dict:
    """What the template sees when an incremental step adds rows without a time_column
    window: is_incremental() true."""
    return {"incremental": True}


def backfill(engine, step, physical: exp.Table, query: exp.Expression, staging: exp.Table, tests, start, end,
             into: exp.Table | None = None) -> tuple[int, list]:
    """Replace the rows of [start, end) (by time_column) with the query's rows of that interval,
    tested and committed in one transaction (or copied on write into `into`). A merge
    (unique_key) also replaces its keys wherever they are (merge_backfill_rows)."""
    engine.drop(staging)
    window = in_interval(step.time_column, start, end)
    if merges(step):
        rows, stale = merge_backfill_rows(step, physical, query, window, staging)
    else:
        rows, stale = interval_rows(query, step.time_column, start, end), window
    engine.execute(create("TABLE", staging, rows))
    check_key(engine, step, staging, "this backfill's rows")
    outcomes = replace_rows(engine, step, physical, stale, staging, tests, into)
    written = engine.count_rows(staging)
    engine.drop(staging)  # on an error the caller drops it, once the transaction is rolled back
    return written, outcomes


def merge_backfill_rows(step, physical: exp.Table, query: exp.Expression, window: exp.Expression,
                        staging: exp.Table) -> tuple[exp.Select, exp.Expression]:
    """A merge's backfill: (the rows to bring in, the condition for the rows they replace).
    Its rows are the query's rows of the interval and its current rows of the keys the table
    holds in the interval (a key whose time moved out of it in the source: deleted with the
    interval, it was never read again). They replace the interval's rows and every row of
    their keys (a key whose time moved into the interval: published twice). A key the
    query no longer makes at all is deleted with the interval, as the source deleted it."""
    def keys() -> exp.Tuple:
        return exp.Tuple(expressions=[exp.column(k) for k in step.key_columns])

    def key_columns() -> list[exp.Column]:
        return [exp.column(k) for k in step.key_columns]

    held_keys = exp.select(*key_columns()).from_(physical).where(window.copy())
    wanted = exp.or_(window.copy(), keys().isin(query=held_keys.subquery()))
    rows = exp.select("*").from_(query.subquery("new_rows")).where(wanted)
    brought = exp.select(*key_columns()).from_(staging).subquery()
    return rows, exp.or_(window.copy(), keys().isin(query=brought))


def interval_rows(query: exp.Expression, time_column: str, start: datetime, end: datetime) -> exp.Select:
    """The query's rows of [start, end), the query as a subquery: engines push the predicate
    down to their scans where the time column is a source column (tests/bench/bench_backfill.py)."""
    return exp.select("*").from_(query.subquery("new_rows")).where(in_interval(time_column, start, end))


def in_interval(time_column: str, start: datetime, end: datetime) -> exp.Expression:
    """time_column in [start, end), the bounds timestamp literals made by the generator."""
    column = exp.column(time_column)
    low, high = (exp.cast(exp.Literal.string(t.isoformat(sep=" ")), "timestamp") for t in (start, end))
    return exp.and_(exp.GTE(this=column, expression=low), exp.LT(this=column.copy(), expression=high))

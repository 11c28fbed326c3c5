"""The `toolkit` command: thin commands over the modules, behind one error boundary.

Each command opens at most one session (session.py) and says everything through
the console (console.py), so `--log-format json` works for all of them. Heavy
modules (duckdb, sqlglot, pyarrow) are imported inside the commands, so
`toolkit --help` stays fast.
"""

from __future__ import annotations

import atexit
import gc
import json
import logging
import sys
from pathlib import Path

import click

from toolkit import interrupts
from toolkit.errors import ToolkitError

EXIT_USAGE = 2


def _one_vars(context, parameter, given: tuple[str, ...]) -> str | None:
    """--vars once: given twice, the second silently replaced the first."""
    if len(given) > 1:
        raise click.BadParameter("given twice: put every var in one --vars (JSON object or key=value,key=value)")
    return given[0] if given else None
log = logging.getLogger("toolkit")

# What the error boundary in main() needs to know, as click parsed it.
OPTIONS = {"debug": False, "log_format": "text"}


def _remember(name: str):
    def callback(ctx, param, value):
        if value is not None:
            OPTIONS[name] = value
            if name == "debug" and value:
                _debug_logging()
        return value

    return callback


def _debug_logging() -> None:
    """--debug: the `toolkit` logger speaks on stderr (a failed step's traceback included)."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("debug: %(name)s: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.DEBUG)


def common(function):
    """Options every command takes."""
    options = [
        click.option("--project-dir", "-p", default=".", type=click.Path(file_okay=False), help="Project folder (default: current)."),
        click.option("--debug", is_flag=True, expose_value=False, callback=_remember("debug"), help="Show tracebacks (of failed steps, too)."),
        click.option("--log-format", type=click.Choice(["text", "json"]), default="text", callback=_remember("log_format"),
                     help="json: one event per line, for schedulers."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _console(log_format: str):
    from toolkit.console import make_console

    return make_console(log_format)


def selection(function):
    options = [
        click.option("--select", "-s", multiple=True, help="name, +name (with upstream), name+ (with downstream), tag:x; space = union, comma = intersection."),
        click.option("--exclude", multiple=True, help="Same syntax as --select."),
        click.option("--target", "-t", default=None, help="Target from the config (default: the project's target)."),
        click.option("--vars", "vars_text", multiple=True, callback=_one_vars, help='Override vars: JSON object or key=value,key=value.'),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="toolkit")
def cli():
    """toolkit: templated SQL feature steps and models, built inside your warehouse."""


def _compile(project_dir: str, vars_text: str | None, target: str | None = None, ahead=None, config=None, write_later: bool = False):
    """The compiled project. `ahead`: the command's session.SessionAhead, already opening
    the target (a source's columns are then read in it); `config`: the loaded config;
    `write_later`: the compile cache's file is written by compilecache.write_pending()."""
    from toolkit.compilecache import compile_cached
    from toolkit.config import parse_vars
    from toolkit.errors import SourceColumnsUnknown

    root, variables, learned = Path(project_dir), parse_vars(vars_text), set()
    while True:
        try:
            # An unchanged project is loaded from .toolkit/cache/ (compilecache.py) instead of
            # compiled; templates see the target as target.name/type (dbtnames.py).
            return compile_cached(root, variables, disk=True, target=target, config=config, write_later=write_later)
        except SourceColumnsUnknown as unknown:
            # A Python step needs the columns of a table source no run has read yet (a SQL step
            # compiles unchecked until then), or a step reads a column the remembered columns
            # lack (the source gained it since): read them now, as a run's source check would.
            fresh = [key for key in unknown.sources if key not in learned]
            if not fresh:
                raise
            learned.update(fresh)
            _learn_source_columns(root, target, fresh, ahead)


def _ahead(project_dir: str, vars_text: str | None, target: str | None, lock_timeout: float, console, write: bool = True):
    """(config, the target's session opening while the command compiles: session.SessionAhead)."""
    from toolkit.config import load_config, parse_vars
    from toolkit.session import Access, SessionAhead

    config = load_config(Path(project_dir), parse_vars(vars_text))
    access = Access.WRITE if write else Access.READ
    return config, SessionAhead(config, target, access=access, lock_timeout=lock_timeout, console=console)


def _learn_source_columns(root: Path, target: str | None, keys: list[str], ahead=None) -> None:
    """Remember what the catalog says of the columns of table sources `keys` (sourcecolumns.py)."""
    from contextlib import nullcontext

    from toolkit import sourcecolumns
    from toolkit.errors import ProjectError
    from toolkit.project import discover_sources
    from toolkit.sources import catalog_columns

    opened = nullcontext(ahead.wait()) if ahead is not None else _session(str(root), target, 10.0, None, write=False)
    declared = discover_sources(root)
    with opened as session:
        columns = {key: catalog_columns(session.engine, declared[key]) for key in keys}
        name = session.engine.target.name
    try:
        sourcecolumns.remember(root, columns, name)
    except OSError as error:
        raise ProjectError(f"cannot remember the columns of source {', '.join(keys)} in {sourcecolumns.CACHE}: {error.strerror}",
                           hint="make the project folder writable, or declare the columns in warehouse/sources.toml") from None


def planning_options(function):
    """Options `run` and `plan` share: what to build and against which state."""
    options = [
        click.option("--lock-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0), help="Seconds to wait for a busy target before exiting 3."),
        click.option("--full-refresh", is_flag=True, help="Rebuild selected steps even if unchanged."),
        click.option("--env", default="prod", show_default=True, help="Environment: prod publishes features.x; dev publishes features__dev.x and reuses prod's tables."),
        click.option("--ignore-schedule", is_flag=True, help="Build steps with changed inputs even when their cron is not due."),
        click.option("--start", default=None, help="Backfill incremental steps (with a time_column) from this time (ISO, inclusive)."),
        click.option("--end", default=None, help="... up to this time (ISO, exclusive; default now)."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _options(full_refresh, env, ignore_schedule, start, end):
    from datetime import datetime

    from toolkit.errors import ProjectError
    from toolkit.planoptions import Options, check_env

    def when(value, flag):
        if value is None:
            return None
        try:
            # An offset is kept: planning converts it to the project's time_zone (or refuses
            # it for a time_column without a zone); dropped, 10:00+00:00 read 10:00 there.
            return datetime.fromisoformat(value)
        except ValueError:
            raise ProjectError(f"{flag} '{value}' is not a date or timestamp (ISO, e.g. 2024-01-31 or 2024-01-31T06:00)") from None

    if full_refresh and (start or end):
        # --full-refresh rebuilt every selected step from what its inputs hold now and ignored the
        # interval: an incremental step's history outside it (rows a rolling source no longer
        # holds) was dropped, exit 0. The two ask for opposite things: refused, nothing run.
        flags = " and ".join(flag for flag, value in (("--start", start), ("--end", end)) if value)
        raise ProjectError(f"--full-refresh cannot be combined with {flags}: it rebuilds the selected steps from scratch, "
                           "keeping no history outside the interval",
                           hint="--start/--end alone backfills the missing intervals of [start, end); --full-refresh alone rebuilds "
                                "from scratch")
    begin, finish = when(start, "--start"), when(end, "--end")
    # A wall time and an offset's instant compare only in the project's zone: planning does.
    comparable = begin and finish and (begin.tzinfo is None) == (finish.tzinfo is None)
    if comparable and begin >= finish:
        raise ProjectError(f"--start {start} is not before --end {end}")
    # --start without --end (the backfill ends now) is checked by planning, where the project's
    # time_zone is known: a wall time compared with now in UTC was hours off (incremental.check_start).
    return Options(full_refresh=full_refresh, env=check_env(env), ignore_schedule=ignore_schedule, start=begin, end=finish)


@cli.command()
@common
@selection
@click.option("--threads", default=4, show_default=True, type=click.IntRange(min=1), help="Steps built in parallel.")
@planning_options
def run(project_dir, log_format, select, exclude, target, vars_text, threads, lock_timeout, full_refresh, env, ignore_schedule, start, end):
    """Build the selected steps: render, check, build, test, publish (what `toolkit plan` shows)."""
    options = _options(full_refresh, env, ignore_schedule, start, end)
    console = _console(log_format)
    config, ahead = _ahead(project_dir, vars_text, target, lock_timeout, console)
    with ahead:
        from toolkit.compilecache import write_pending
        from toolkit.execute import run as run_project  # its imports overlap the target's open

        # The compile cache's file is written beside the run's closing work (execute.run), or
        # here if the run ended before it; written when the command ends, whatever happened.
        compiled = _compile(project_dir, vars_text, target, ahead, config, write_later=True)
        try:
            summary = run_project(
                compiled, target, select, exclude, threads, lock_timeout, full_refresh, console,
                command=" ".join(sys.argv[1:]), options=options, opened=ahead.session(),
            )
        finally:
            write_pending(wait=True)
    sys.exit(summary.exit_code)


@cli.command()
@common
@selection
@planning_options
def plan(project_dir, log_format, select, exclude, target, vars_text, lock_timeout, full_refresh, env, ignore_schedule, start, end):
    """Say what `toolkit run` would do with each selected step, and why (writes nothing)."""
    options = _options(full_refresh, env, ignore_schedule, start, end)
    console = _console(log_format)
    config, ahead = _ahead(project_dir, vars_text, target, lock_timeout, console, write=False)
    with ahead:
        from toolkit import explain
        from toolkit.execute import plan as make  # its imports overlap the target's open

        compiled = _compile(project_dir, vars_text, target, ahead, config)
        result = make(compiled, target, select, exclude, lock_timeout, options, console, opened=ahead.session())
    console.show(explain.render_text(result), explain.events(result))


def state_options(function):
    """Options of commands that open a target without compiling the project."""
    options = [
        click.option("--target", "-t", default=None, help="Target from the config (default: the project's target)."),
        click.option("--lock-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0), help="Seconds to wait for a busy target before exiting 3."),
    ]
    for option in reversed(options):
        function = option(function)
    return common(function)


def _session(project_dir: str, target: str | None, lock_timeout: float, console, write: bool = True):
    from toolkit.config import load_config
    from toolkit.session import Access, open_session

    access = Access.WRITE if write else Access.READ
    return open_session(load_config(Path(project_dir)), target, access=access, lock_timeout=lock_timeout, console=console)


def _unsuccessful(status: str) -> str:
    """How a run that did not succeed ended. Promote holds the run lock, so a run still
    recorded as running died (killed, or its machine lost) -- the rule by which the next
    run marks it abandoned (state.start_run)."""
    if status == "running":
        return "was interrupted and never finished (status running, no process holds the lock; the next run marks it abandoned)"
    if status == "abandoned":
        return "was interrupted and never finished (abandoned: its process died)"
    return f"did not succeed ({status})"


@cli.command()
@state_options
@click.argument("source")
@click.argument("destination", default="prod")
@click.option("--force", is_flag=True, help="Promote even if DESTINATION published newer tables of SOURCE's steps since SOURCE's run.")
def promote(project_dir, log_format, target, lock_timeout, source, destination, force):
    """Make SOURCE environment's published state DESTINATION's (default prod), without recomputing."""
    from toolkit.environments import promote as do_promote

    console = _console(log_format)
    compiled = _compiled_or_none(project_dir, target, console)
    with _session(project_dir, target, lock_timeout, console) as session:
        replaced = _history_replaced(session.state, source, destination)
        promoted = do_promote(session.engine, session.state, source, destination, _hooks_of_compiled(compiled), force, compiled)
        last = session.state.last_run(source)
    replaced = [name for name in replaced if name in promoted.steps]
    if replaced:  # said loudly: rows only the destination's table held are gone (a rolling-window source)
        text = (f"warning: {destination}'s incremental history of {', '.join(replaced)} is replaced by {source}'s rebuild from "
                f"scratch: rows {destination} accumulated that its sources no longer hold are gone "
                f"(toolkit rollback {destination} brings them back)")
        console.show(text, [{"event": "warning", "env": destination, "steps": replaced, "history_replaced": True, "message": text}])
    unsuccessful = last is not None and last[1] != "success"
    if unsuccessful and not promoted.nothing:  # its steps that failed still publish their last good table
        console.show(f"warning: {source}'s last run (run {last[0]}) {_unsuccessful(last[1])}: {destination} now has the tables {source} "
                     f"published before it and those that run published", [{"event": "warning", "env": source, "run_id": last[0], "status": last[1]}])
    for relation, kind in sorted(promoted.left.items()):
        text = f"warning: {relation} was left as it is: a {kind} toolkit did not make (replaced since toolkit published it)"
        console.show(text, [{"event": "warning", "env": destination, "message": text}])
    event = {"event": "promoted", "source": source, "destination": destination, "changed": not promoted.nothing, "steps": promoted.steps,
             "unchanged": promoted.unchanged, "removed": promoted.removed,
             "models": [{"model": m, "version": v, "was": promoted.was.get(m)} for m, v in sorted(promoted.models.items())]}
    if promoted.nothing:  # no state was saved: a rollback now would undo an earlier promote
        versions = " and scores with its model versions" if promoted.models else ""
        # One message: a warning that the destination "now has" the tables of a failed run contradicted it.
        failed = f"{source}'s last run (run {last[0]}) {_unsuccessful(last[1])}, and " if unsuccessful else ""
        if unsuccessful:
            event["last_run"] = {"run_id": last[0], "status": last[1]}
        console.show(f"nothing to promote: {failed}{destination} already reads {source}'s tables ({len(promoted.unchanged)} step(s)){versions}; "
                     f"no rollback state saved", [event])
        return
    role = "is production" if destination == "prod" else f"is {destination}'s"
    models = [f"{m} version {v} {role}" + (" (unchanged)" if promoted.was.get(m) == v else f" (was {promoted.was.get(m) or 'none'})")
              for m, v in sorted(promoted.models.items())]
    already = f" ({len(promoted.unchanged)} already did)" if promoted.unchanged else ""
    removed = f", {len(promoted.removed)} deleted in {source} removed ({', '.join(promoted.removed[:10])})" if promoted.removed else ""
    console.show(f"promoted {source} -> {destination}: {len(promoted.steps)} step(s) now read {source}'s tables{already}{removed}"
                 + "".join(f"; {line}" for line in models) + f" (toolkit rollback {destination} undoes it)", [event])


def _history_replaced(state, source: str, destination: str) -> list[str]:
    """Incremental steps whose destination table a promote replaces with a rebuild (incrementalhistory.py)."""
    from toolkit.incrementalhistory import history_replaced

    if not state.exists():
        return []
    return history_replaced(state, state.published(source), state.published(destination))


@cli.command()
@state_options
@click.argument("env", default="prod")
def rollback(project_dir, log_format, target, lock_timeout, env):
    """Return ENV (default prod) to its state before the last promote."""
    from toolkit.environments import rollback as do_rollback

    console = _console(log_format)
    hooks_of = _hooks_of(project_dir, target, console)
    with _session(project_dir, target, lock_timeout, console) as session:
        back = do_rollback(session.engine, session.state, env, hooks_of)
    if back.newer:  # not refused: rollback is the emergency button; but newer data went away
        runs = sorted(set(back.newer.values()))
        names = ", ".join(list(back.newer)[:10]) + (", ..." if len(back.newer) > 10 else "")
        console.show(f"warning: {env}'s run(s) {', '.join(map(str, runs))} published newer tables of {len(back.newer)} step(s) since "
                     f"the promote ({names}); the rollback replaced them with the older ones saved before it",
                     [{"event": "warning", "env": env, "message": "rollback replaced tables built since the saved state",
                       "steps": sorted(back.newer), "run_ids": runs}])
    for relation, kind in sorted(back.left.items()):
        text = f"warning: {relation} was left as it is: a {kind} toolkit did not make (replaced since toolkit published it)"
        console.show(text, [{"event": "warning", "env": env, "message": text}])
    for note in back.unrestored:  # comments and grants it could not put back as they were (viewmeta.py)
        text = f"warning: rollback could not undo everything: {note}"
        console.show(text, [{"event": "warning", "env": env, "message": text}])
    # a step back, or gone, is told apart from one re-pointed: a promote's removal undone is news
    kinds = [f"{what}{', '.join(names[:10])}{', ...' if len(names) > 10 else ''}"
             for what, names in (("", back.repointed), ("restored: ", back.restored), ("removed: ", back.removed)) if names]
    console.show(f"rolled back {env} to saved state {back.version}: {len(back.changed)} step(s) changed" + (f" ({'; '.join(kinds)})" if kinds else ""),
                 [{"event": "rolled_back", "env": env, "version": back.version, "changed": back.changed,
                   "restored": back.restored, "removed": back.removed, "repointed": back.repointed}])


def _hooks_of(project_dir, target, console):
    """step -> its post_hooks (toolkit/hooks.py) as the project declares them now: promote and
    rollback re-create views, which drops their grants and comments."""
    return _hooks_of_compiled(_compiled_or_none(project_dir, target, console))


def _compiled_or_none(project_dir, target, console):
    """The project compiled, or None: one that does not compile must not block a rollback or
    promote: its hooks are skipped (and what a promote checks of each step's reads), and the
    output says so. Compiled as `run` compiles (_compile): a step reading a column its
    table source gained since the columns were last read from the catalog compiles
    after they are read again, not "unknown column" with its hooks skipped."""
    try:
        return _compile(project_dir, None, target)
    except ToolkitError as error:
        console.show(f"warning: post_hooks not run (the project does not compile: {error})",
                     [{"event": "warning", "message": f"post_hooks not run: {error}"}])
        return None


def _hooks_of_compiled(compiled):
    from toolkit import hooks

    if compiled is None:
        return lambda step: ()
    return lambda step: hooks.for_step(compiled.steps[step], compiled.dialect) if step in compiled.steps else ()


@cli.command("gc")
@state_options
@click.option("--retention", default="7d", show_default=True, help="Keep unreferenced tables and saved states younger than this (e.g. 7d, 12h).")
@click.option("--history", default=None, help="Also forget what each step did in runs older than this (step_runs, "
              "test_results; each step's latest run is kept). Default: keep all.")
@click.option("--dry-run", is_flag=True, help="Only say what would be dropped.")
def garbage_collect(project_dir, log_format, target, lock_timeout, retention, history, dry_run):
    """Drop physical tables no environment references, older than --retention."""
    from toolkit.environments import gc as collect, parse_retention

    keep = parse_retention(retention)
    keep_history = parse_retention(history, "--history") if history is not None else None
    console = _console(log_format)
    with _session(project_dir, target, lock_timeout, console) as session:
        result = collect(session.engine, session.state, keep, dry_run, history=keep_history)
        if not dry_run:
            session.engine.optimize_storage()
    verb = "would drop" if dry_run else "dropped"
    lines = [f"  {verb} {kind} toolkit_physical.{name}" + (f" (created {born:%Y-%m-%d %H:%M})" if born else "") for name, kind, born in result.dropped]
    lines += [f"  kept toolkit_physical.{name}: something outside toolkit reads it ({why})" for name, why in result.blocked.items()]
    lines.append(f"gc: {verb} {len(result.dropped)} relation(s); kept {len(result.kept_recent)} younger than {retention}"
                 f" and {result.in_use} in use (published, saved for rollback, or read by those)"
                 + (f"; {'would forget' if dry_run else 'forgot'} {result.expired_states} saved state(s)" if result.expired_states else "")
                 + (f"; {'would forget' if dry_run else 'forgot'} {result.forgotten_intervals} interval row(s) of dropped tables"
                    if result.forgotten_intervals else "")
                 + (f"; {'would forget' if dry_run else 'forgot'} {result.forgotten_steps} step record(s) of runs older than "
                    f"{history}" if history is not None else ""))
    events = [{"event": "gc_dropped" if not dry_run else "gc_would_drop", "relation": name, "kind": kind, "created_at": born}
              for name, kind, born in result.dropped]
    events += [{"event": "gc_kept", "relation": name, "reason": why} for name, why in result.blocked.items()]
    events.append({"event": "gc", "dry_run": dry_run, "dropped": len(result.dropped), "kept_recent": len(result.kept_recent), "in_use": result.in_use,
                   "expired_states": result.expired_states, "forgotten_step_records": result.forgotten_steps,
                   "forgotten_intervals": result.forgotten_intervals})
    console.show("\n".join(lines), events)


@cli.command()
@state_options
@click.argument("model", required=False)
@click.option("--since", default=None, help="Only what was scored at or after this time (ISO, e.g. 2024-01-31).")
@click.option("--env", default="prod", show_default=True, help="Report the runs of this environment (dev: what `run --env dev` scored).")
def monitor(project_dir, log_format, target, lock_timeout, model, since, env):
    """The latest drift status of each model (or MODEL), per feature and metric, in one
    environment's runs; exit 1 when anything is in breach."""
    from datetime import datetime

    from toolkit.errors import ProjectError
    from toolkit.monitoring import watch
    from toolkit.planning import check_env

    check_env(env)
    try:
        begin = datetime.fromisoformat(since).replace(tzinfo=None) if since else None
    except ValueError:
        raise ProjectError(f"--since '{since}' is not a date or timestamp (ISO, e.g. 2024-01-31)") from None
    console = _console(log_format)
    with _session(project_dir, target, lock_timeout, console, write=False) as session:
        _require_monitored_env(session, env)
        rows = watch.latest(session.state_engine, model, begin, env)
        if model and not rows:
            session.registry.known(model)  # a name no version has is a typo, not "nothing monitored yet"
    header = ("model", "version", "run", "feature", "metric", "value", "threshold", "status")
    cells = [(r["model"], str(r["version"]), str(r["run_id"]), r["feature"] or "-", r["metric"], f"{r['value']:.4g}",
              "-" if r["threshold"] is None else f"{r['threshold']:g}", r["status"]) for r in rows]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *cells]]
    breaches = sum(r["status"] != "ok" for r in rows)
    nothing = f"nothing monitored since {since}" if since else "nothing monitored yet (a model step records drift when it scores)"
    lines.append((f"monitor: {len(rows)} metric(s), {breaches} in breach" if rows else f"monitor: {nothing}") + f" (env {env})")
    events = [{"event": "monitor", **r} for r in rows] + [{"event": "monitor_summary", "env": env, "metrics": len(rows), "breaches": breaches}]
    console.show("\n".join(lines), events)
    sys.exit(1 if breaches else 0)


def _require_monitored_env(session, env: str) -> None:
    """prod, an environment the target publishes, or one monitoring has rows of (its steps
    since removed); anything else is a typo, exit 2, not "nothing monitored yet"."""
    from toolkit.errors import ProjectError, did_you_mean
    from toolkit.monitoring import watch

    known = {watch.PROD, *session.state.environments(), *watch.environments(session.state_engine)}
    if env not in known:
        raise ProjectError(f"environment '{env}' does not exist on this target",
                           hint=did_you_mean(env, known) or f"environments: {', '.join(sorted(known))}")


@cli.command()
@common
@selection
@click.option("--unit", is_flag=True, help="Run SQL unit tests (features/**/*.unit.toml) on an in-memory DuckDB instead.")
@click.option("--lock-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0), help="Seconds to wait for a busy target before exiting 3.")
def test(project_dir, log_format, select, exclude, target, vars_text, unit, lock_timeout):
    """Run data tests on the published tables (or, with --unit, SQL unit tests)."""
    compiled = _compile(project_dir, vars_text, target)
    console = _console(log_format)
    if unit:
        from toolkit.unittests import format_results, run_unit_tests

        results = run_unit_tests(compiled, compiled.dag.select(select, exclude))
        console.show(format_results(results), [{"event": "unit_test", "step": r.step, "test": r.test, "file": r.file, "line": r.line, "passed": r.passed, "diff": r.diff}
                                                for r in results])
        sys.exit(0 if all(r.passed for r in results) else 1)
    from toolkit.audit import test_published

    result = test_published(compiled, target, select, exclude, lock_timeout, console)
    lines, events = [], []
    for name, kind, outcome in result.outcomes:
        lines.append(f"  {outcome.status:<5} {kind} {name}: {outcome.describe() if outcome.failing else outcome.test.label}")
        events.append({"event": "test", "kind": kind, "name": name, "test": outcome.test.label, "status": outcome.status, "failing_rows": outcome.failing})
    for name in result.not_built:
        shown = name if name.startswith("source ") else f"step {name}"
        lines.append(f"  skip  {shown}: not published yet (toolkit run first)")
        events.append({"event": "test_skipped", "name": name, "reason": "not published yet"})
    for name, why in result.outdated:
        lines.append(f"  skip  step {name}: published from an older definition, which today's tests cannot test ({why}): toolkit run first")
        events.append({"event": "test_skipped", "name": name, "reason": "published from an older definition", "error": why})
    for name in result.unloaded:
        lines.append(f"  skip  source {name}: no step reads it, so no run has loaded its files")
        events.append({"event": "test_skipped", "name": f"source {name}", "reason": "file source no step reads"})
    for name, why in result.unrunnable:
        shown = name if name.startswith("source ") else f"step {name}"
        lines.append(f"  error {shown}: its tests could not run ({why})")
        events.append({"event": "test_error", "name": name, "error": why})
    for name in result.older:
        lines.append(f"  note  step {name}: tested as an older definition published it (the project's changed since: toolkit run)")
        events.append({"event": "test_older_definition", "name": name})
    failed = sum(o.status == "fail" for _, _, o in result.outcomes)
    warned = sum(o.status == "warn" for _, _, o in result.outcomes)
    lines.append(f"test run {result.run_id}: {len(result.outcomes)} tests, {failed} failed, {warned} warnings")
    events.append({"event": "test_summary", "run_id": result.run_id, "tests": len(result.outcomes), "failed": failed, "warnings": warned, "ok": result.ok})
    console.show("\n".join(lines), events)
    sys.exit(0 if result.ok else 1)


@cli.command()
@common
@selection
@click.argument("steps", nargs=-1)
@click.option("--dialect", default=None, help="Write the SQL in this dialect (snowflake, bigquery, spark, trino, ...) instead of the target's.")
def compile(project_dir, log_format, select, exclude, target, vars_text, steps, dialect):
    """Print the final SQL of STEPS (or the selection) for the target's dialect, or for
    --dialect (any dialect sqlglot writes; no adapter or connection needed)."""
    from toolkit import hooks, sql
    from toolkit.compiler import cast_types, with_published_names
    from toolkit.engines import dialect_of, engine_class
    from toolkit.errors import ProjectError

    compiled = _compile(project_dir, vars_text, target)
    if dialect is not None:
        import sqlglot

        try:
            sqlglot.Dialect.get_or_raise(dialect)
        except ValueError:
            known = sorted(d.value for d in sqlglot.Dialects if d.value)
            raise ProjectError(f"--dialect: sqlglot writes no dialect '{dialect}'", hint=f"one of {', '.join(known)}") from None
    engine = compiled.project.config.target(target).engine
    hooks_for = None if dialect else engine_class(engine)  # --dialect: SQL for elsewhere, not this target's checks
    dialect = dialect or dialect_of(engine)
    names = compiled.dag.select(select + tuple(steps), exclude)
    typer = cast_types(compiled)
    lines, events = [], []
    for name in [n for n in compiled.dag.order() if n in names]:
        step = compiled.steps[name]
        if hooks_for is not None and step.config.get("post_hook"):  # what plan and run would refuse, without connecting
            hooks.check_target(step, hooks_for, compiled.dialect)
        if step.tree is None:  # a seed, a model: it printed nothing, exit 0
            lines.append(f"-- {name}: a {step.kind} ({step.file}), no SQL of its own")
            events.append({"event": "compiled", "step": name, "file": str(step.file), "dialect": dialect, "sql": None})
            continue
        try:
            types = typer(step, dialect)  # before the copy: it tags the casts the copy keeps
            if hooks_for is not None:  # this target's own checks, those that need no connection
                from toolkit.portability import check_compiled

                check_compiled(compiled, step, dialect, types)
            runs = with_published_names(compiled, step.tree)  # what a build runs, on the names readers see
            text = sql.pretty(sql.to_target(runs, compiled.dialect, dialect, types), dialect)
        except sql.SqlError as error:
            from toolkit.portability import line_of_error, read_source

            line = line_of_error(error, read_source(compiled.project.root / step.file))
            raise ProjectError(error.message, step.file, line or 1) from None
        lines += ([f"-- {step.file}"] if len(names) > 1 else []) + [text + ";"]
        events.append({"event": "compiled", "step": name, "file": str(step.file), "dialect": dialect, "sql": text})
    zone = compiled.project.config.time_zone
    if zone != "UTC" and lines:  # a TIMESTAMPTZ cast to a date depends on the session's zone
        lines.insert(0, f"-- toolkit runs this SQL in the time zone {zone} (toolkit.toml time_zone): set it in your session too")
        for event in events:
            event["time_zone"] = zone
    console = _console(log_format)
    console.show("\n".join(lines), events)


@cli.command("ls")
@common
@selection
@click.option("--tag", "column_tag", default=None, metavar="TAG",
              help="List the columns carrying a column tag (e.g. pii, from sources.toml/seeds.toml) and where it comes from.")
def list_steps(project_dir, log_format, select, exclude, target, vars_text, column_tag):
    """List steps with their materialization, upstream and tags."""
    compiled = _compile(project_dir, vars_text, target)
    names = compiled.dag.select(select, exclude)
    if column_tag:
        _list_tagged_columns(compiled, names, column_tag, log_format)
        return
    lines, events = [], []
    for name in [n for n in compiled.dag.order() if n in names]:
        step = compiled.steps[name]
        # Where it is published (config schema=/alias=); an ephemeral step is published nowhere.
        relation = None if step.strategy.inlined else step.published.sql()
        row = {
            "name": name, "kind": step.kind, "materialized": step.materialized, "relation": relation,
            "upstream": step.upstream, "sources": step.sources, "tags": sorted(step.tags), "file": step.file,
        }
        events.append(row)
        reads = ", ".join(step.upstream + step.sources) or "-"
        tags = f"  [{', '.join(sorted(step.tags))}]" if step.tags else ""
        shown = relation or "(inlined into its readers)"
        lines.append(f"{name:<28} {step.materialized:<12} {shown:<36} <- {reads}{tags}")
    _console(log_format).show("\n".join(lines), events)


def _list_tagged_columns(compiled, names, tag: str, log_format) -> None:
    from toolkit.columntags import path_text

    tag = tag.lower()  # tags are declared without case, as "PII" or "pii"
    lines, events = [], []
    for source in compiled.project.sources.values():
        for column, tags in source.column_tags.items():
            if tag in tags:
                lines.append(f"{source.schema}.{source.table}.{column}  (declared)")
                events.append({"event": "tagged_column", "tag": tag, "column": f"{source.schema}.{source.table}.{column}", "path": []})
    for name in [n for n in compiled.dag.order() if n in names]:
        for column, tags in compiled.steps[name].column_tags.items():
            if tag in tags:
                path = tags[tag]
                lines.append(path_text(path) if len(path) > 1 else f"{path[0]}  (declared)")
                events.append({"event": "tagged_column", "tag": tag, "column": path[0], "path": list(path[1:])})
    _console(log_format).show("\n".join(lines) or f"no column carries tag '{tag}'", events)


@cli.command("lineage")
@common
@click.option("--target", "-t", default=None, help="Target whose published tables tell the columns compile time cannot know.")
@click.option("--lock-timeout", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to wait for a busy target; then lineage shows what compile time knows.")
@click.argument("column", metavar="TABLE.COLUMN")
@click.option("--upstream/--downstream", default=True, help="Where it comes from (default), or what reads it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document: the columns reached, with depth, and the tree.")
@click.option("--vars", "vars_text", multiple=True, callback=_one_vars, help="Override vars: JSON object or key=value,key=value.")
def lineage(project_dir, log_format, target, lock_timeout, column, upstream, as_json, vars_text):
    """Column-level lineage of TABLE.COLUMN (a step, seed, model or source column), from
    the compiled project: through select *, CTEs, joins and macros. Where compile time
    cannot know a step's columns (a query sqlglot cannot qualify, a table source declaring
    none), they are read from the target's published tables."""
    from toolkit import lineage as columns

    compiled = _compile(project_dir, vars_text)
    graph = columns.build(compiled)
    if columns.needs_catalog(compiled) or any(not s.columns for s in compiled.project.sources.values()):
        catalog = _published_catalog(project_dir, target, lock_timeout, compiled, log_format)
        if catalog:
            graph = columns.build(compiled, catalog={name: list(found) for name, found in catalog.items()})
    start = graph.resolve(column)
    direction = "upstream" if upstream else "downstream"
    events = columns.events(graph, start, direction)
    if as_json:
        click.echo(json.dumps(events[0], default=str))
        return
    _console(log_format).show(columns.render_text(graph, start, direction), events)


def _published_catalog(project_dir, target, lock_timeout, compiled, log_format) -> dict:
    """The target's published columns, or {} where it cannot be read now (nothing built
    yet, busy past --lock-timeout): lineage then shows what compile time knows."""
    from toolkit import lineage as columns
    from toolkit.config import load_config
    from toolkit.engines import engine_class
    from toolkit.errors import ToolkitError

    config = load_config(Path(project_dir))
    chosen = config.target(target)
    if not engine_class(chosen.engine)(chosen, config.root).may_hold_tables():
        return {}
    try:
        with _session(project_dir, target, lock_timeout, _console(log_format), write=False) as session:
            return columns.published_catalog(session.engine, compiled)
    except ToolkitError:
        return {}


@cli.command("docs")
@state_options
@click.option("--out", default=None, type=click.Path(), help="Folder to write the site to (default: PROJECT/.toolkit/docs).")
@click.option("--serve", is_flag=True, help="Then serve it on 127.0.0.1 until Ctrl-C (the site also opens from disk).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="--serve's port (0: any free one).")
@click.option("--vars", "vars_text", multiple=True, callback=_one_vars, help="Override vars: JSON object or key=value,key=value.")
def docs(project_dir, log_format, target, lock_timeout, out, serve, port, vars_text):
    """Write a static site of the project: DAG, steps, column lineage, model cards, runs."""
    from toolkit import docs as site_docs

    folder = Path(out) if out else Path(project_dir) / ".toolkit" / "docs"
    site_docs.check_folder(folder)  # before anything is compiled or opened
    compiled = _compile(project_dir, vars_text)
    console = _console(log_format)
    with _session(project_dir, target, lock_timeout, console, write=False) as session:
        site = site_docs.build(compiled, session, folder)
    console.show(f"docs: {site.relations} relations, {site.models} models -> {folder / 'index.html'} "
                 f"({site.bytes / 1e6:.2f} MB, {site.seconds:.2f}s)",
                 [{"event": "docs", "folder": str(folder), "index": str(folder / "index.html"), "relations": site.relations,
                   "models": site.models, "bytes": site.bytes, "seconds": round(site.seconds, 3)}])
    if serve:
        site_docs.serve(folder, port, announce=lambda text: console.show(text, [{"event": "serving", "text": text}]))


@cli.group()
def models():
    """Model versions in the warehouse registry: list, show, history, promote, approve, rollback."""


def env_option(help_text: str, default: str | None = "prod"):
    return click.option("--env", default=default, show_default=default is not None, help=help_text)


def _require_model_env(session, env: str) -> None:
    """prod, an environment the target publishes, or one the model history names (its
    runs or people chose versions there); anything else is a typo: exit 2, naming the known ones."""
    from toolkit.errors import ProjectError, did_you_mean
    from toolkit.planning import check_env
    from toolkit.state import PROD

    check_env(env)
    known = {PROD, *session.state.environments(), *session.registry.environments()}
    if env not in known:
        raise ProjectError(f"environment '{env}' does not exist on this target",
                           hint=did_you_mean(env, known) or f"environments: {', '.join(sorted(known))}")


def _published_versions(session, models, env: str) -> dict[str, tuple[str, int]]:
    """model -> (relation, version) of the predictions `env` publishes (modelpromote.published_versions)."""
    from toolkit.modelpromote import published_versions

    return published_versions(session.engine, session.state, models, env)


def _in_use(registry, models, env: str) -> set[tuple[str, int]]:
    """(model, version) of the versions `env`'s runs score with (modelrun.current, without its imports)."""
    found = {model: registry.chosen(model, env) or registry.production(model) for model in models}
    return {(model, version.version) for model, version in found.items() if version is not None}


@models.command("list")
@state_options
@click.argument("name", required=False)
@env_option("Say which version this environment's runs score with (dev: what `run --env dev` uses).")
def models_list(project_dir, log_format, target, lock_timeout, name, env):
    """Every version of every model (or of NAME)."""
    console = _console(log_format)
    with _session(project_dir, target, lock_timeout, console, write=False) as session:
        _require_model_env(session, env)
        versions = session.registry.versions(name)
        failed = session.registry.failed_gates(name)
        in_use = _in_use(session.registry, {v.model for v in versions}, env)
        served = {(model, version) for model, (_, version) in _published_versions(session, {v.model for v in versions}, env).items()}
    # A version whose scores are published though the env no longer scores with it (rolled
    # back from, say): its readers are still served it until a run scores again.
    stale = {key for key in served if key not in in_use}
    rows = [(v.model, str(v.version), _shown_status(v, failed, env, (v.model, v.version) in in_use, (v.model, v.version) in stale), v.candidate,
             f"{v.created_at:%Y-%m-%d %H:%M}",
             ", ".join(f"{k} {val:.4f}" if isinstance(val, float) else f"{k} {val}" for k, val in v.metrics.items()))
            for v in versions]
    header = ("model", "version", "status", "candidate", "created", "metrics")
    # Widths from the content, metrics last and whole: a cut column ("roc_a") says nothing.
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in [header, *rows]]
    events = [{"event": "model_version", "model": v.model, "version": v.version, "status": v.status, "candidate": v.candidate,
               "created_at": v.created_at, "metrics": v.metrics, "failed_gate": failed.get((v.model, v.version)),
               "env": env, "in_use": (v.model, v.version) in in_use, "published": (v.model, v.version) in served} for v in versions]
    console.show("\n".join(lines), events)


def _shown_status(version, failed: dict, env: str = "prod", in_use: bool = False, stale: bool = False) -> str:
    """The stored status, except a candidate that failed its gates when trained: it waits for
    nothing (approving it needs --force), so it does not read like one waiting for approval.
    In another environment, the version its runs score with says so: "in use (dev)" for a
    candidate it chose, "production, in use (dev)" when it scores with prod's. A version
    whose scores the environment still publishes though it scores with another now (rolled
    back from) says so: "archived, still published"."""
    shown = "failed gates" if version.status == "candidate" and (version.model, version.version) in failed else version.status
    if stale:
        shown += ", still published" if env == "prod" else f", still published ({env})"
    if env == "prod" or not in_use:
        return shown
    return f"in use ({env})" if shown == "candidate" else f"{shown}, in use ({env})"


@models.command("show")
@state_options
@click.argument("name")
@click.argument("version", type=int, required=False)
@click.option("--sql", "as_sql", is_flag=True, help="Print only the version compiled to SQL (one SELECT over its scoring table).")
@env_option("Default to, and say so of, the version this environment's runs score with.")
def models_show(project_dir, log_format, target, lock_timeout, name, version, as_sql, env):
    """One version (default: the one ENV scores with, in prod production) with its metrics,
    parameters, features and history."""
    console = _console(log_format)
    with _session(project_dir, target, lock_timeout, console, write=False) as session:
        _require_model_env(session, env)
        session.registry.known(name)  # no such model: exit 2, naming the registered ones
        in_use = _in_use(session.registry, [name], env)
        if version is None:  # the one env scores with; none: get's "no production version"
            version = next((number for _, number in in_use), None)
        shown = session.registry.get(name, version)
        history = session.registry.history(name)
        failed = session.registry.failed_gates(name).get((name, shown.version))
        served = _published_versions(session, [name], env).get(name)
    using = next((number for _, number in in_use), None)
    used = f", in use ({env})" if env != "prod" and (name, shown.version) in in_use else ""
    if as_sql:
        if not shown.scoring_sql:
            from toolkit.errors import ProjectError

            raise ProjectError(f"{name} version {shown.version} has no compiled SQL: it is scored in Python (see the run record's scoring_note)")
        console.show(shown.scoring_sql.rstrip() + ";", [{"event": "model_sql", "model": name, "version": shown.version, "sql": shown.scoring_sql}])
        return
    lines = [
        f"{shown.model} version {shown.version} ({shown.status}"
        + (f", failed its gate {failed}" if failed and shown.status == "candidate" else "") + f"{used}), candidate {shown.candidate}",
        f"  trained on {shown.training_table} in run {shown.run_id} at {shown.created_at:%Y-%m-%d %H:%M:%S}",
        f"  fingerprint {shown.fingerprint[:16]}, artifact sha256 {shown.sha256}",
        f"  python {shown.python_version}, scikit-learn {shown.sklearn_version}, numpy {shown.numpy_version}, skops {shown.skops_version}",
        "  metrics: " + json.dumps(shown.metrics, sort_keys=True),
        "  features: " + ", ".join(f"{f.name} {f.type}" for f in shown.features),
        f"  scoring: {'compiled SQL (toolkit models show ' + name + ' --sql)' if shown.scoring_sql else 'Python'}",
        *_segment_lines(shown.segments or {}),
        *([_served_line(served, using)] if served else []),
        "  history:",
    ] + [f"    {_change_line(c)}" for c in history]
    event = {"event": "model", "model": shown.model, "version": shown.version, "status": shown.status, "candidate": shown.candidate,
             "training_table": shown.training_table, "run_id": shown.run_id, "created_at": shown.created_at, "metrics": shown.metrics,
             "features": [f.to_json() for f in shown.features], "sha256": shown.sha256, "scoring": "sql" if shown.scoring_sql else "python",
             "segments": shown.segments, "failed_gate": failed, "env": env, "in_use": (name, shown.version) in in_use,
             "published_version": served[1] if served else None,
             "history": [_change_event(c) for c in history]}
    console.show("\n".join(lines), [event])


def _served_line(served: tuple[str, int], using: int | None) -> str:
    """What the model's readers are served now: after a `models rollback` the scores of the
    version rolled back from, until a run scores with the one it uses now."""
    relation, version = served
    until = f" until a run scores with version {using}" if using is not None and using != version else ""
    return f"  published: {relation} holds version {version}'s scores{until}"


def _segment_lines(segments: dict) -> list[str]:
    """Per segment column: the largest gaps, then each value's rows and metrics."""
    def number(value) -> str:
        return "-" if value is None else f"{value:.4f}"

    lines = []
    for column, found in segments.items():
        gaps = ", ".join(f"{metric} {number(gap)}" for metric, gap in found["max_gap"].items())
        lines.append(f"  segments by {column} (held-out rows); largest gaps: {gaps}")
        for value, metrics in found["values"].items():
            shown = ", ".join(f"{metric} {number(v)}" for metric, v in metrics.items() if metric != "rows")
            lines.append(f"    {value}: {metrics['rows']} rows, {shown}")
    return lines


def _change_line(change) -> str:
    who = f" by {change.actor}" if change.actor else ""
    run = f" in run {change.run_id}" if change.run_id is not None else ""
    where = f" (env {change.env})" if change.in_env != "prod" else ""  # another environment's choice: prod's status unchanged
    return f"{change.changed_at:%Y-%m-%d %H:%M:%S}  version {change.version} {change.action} -> {change.status}{where}{who}{run}: {change.reason}"


def _change_event(change) -> dict:
    return {"changed_at": change.changed_at, "version": change.version, "action": change.action, "status": change.status,
            "reason": change.reason, "actor": change.actor, "run_id": change.run_id, "env": change.in_env}


@models.command("history")
@state_options
@click.argument("name")
@env_option("Only this environment's changes (prod: production's; dev: what dev's runs and people chose there).", default=None)
def models_history(project_dir, log_format, target, lock_timeout, name, env):
    """Every status change of NAME, oldest first: who, when, why."""
    console = _console(log_format)
    with _session(project_dir, target, lock_timeout, console, write=False) as session:
        if env is not None:
            _require_model_env(session, env)
        session.registry.known(name)  # no such model: exit 2, naming the registered ones
        history = session.registry.history(name, env)
    console.show("\n".join(_change_line(c) for c in history), [{"event": "model_status_change", "model": name, **_change_event(c)} for c in history])


@models.command("promote")
@state_options
@click.argument("name")
@click.argument("version", type=int)
@env_option("Make it the version this environment scores with (dev: its next runs); prod's production stays (toolkit promote ENV prod).")
def models_promote(project_dir, log_format, target, lock_timeout, name, version, env):
    """Make VERSION the production version of NAME (the next run scores with it), or with
    --env dev the version dev's runs score with."""
    from toolkit.planning import check_env

    check_env(env)
    console = _console(log_format)
    with _session(project_dir, target, lock_timeout, console) as session:
        _require_model_env(session, env)
        in_env = "" if env == "prod" else f" --env {env}"
        changed = session.registry.promote(name, version, reason=f"toolkit models promote{in_env}", env=env)
    if env == "prod":
        text = f"{name} version {version} is production"
    elif changed:
        text = (f"{name} version {version} is the version {env} scores with from its next run; prod's production is unchanged "
                f"(toolkit promote {env} prod after that run makes it production)")
    else:
        text = f"{name} version {version} is the version {env} scores with already; nothing changed"
    console.show(text, [{"event": "model_promoted", "model": name, "version": version, "env": env, "changed": changed}])


@models.command("approve")
@state_options
@click.argument("name")
@click.argument("version", type=int)
@click.option("--force", is_flag=True, help="Approve a version that fails the model's gates (the history says so).")
@env_option("Approve it for this environment: its runs score with it; prod's production stays (toolkit promote ENV prod).")
def models_approve(project_dir, log_format, target, lock_timeout, name, version, force, env):
    """Accept candidate VERSION of NAME, waiting under promote="manual": it becomes production,
    or with --env dev the version dev's runs score with. A version failing the model's
    declared gates (fairness gaps included) needs --force."""
    from toolkit.errors import ProjectError
    from toolkit.planning import check_env

    check_env(env)
    console = _console(log_format)
    spec = _compile(project_dir, None, target).project.models.get(name)  # its gates, as declared now
    with _session(project_dir, target, lock_timeout, console) as session:
        _require_model_env(session, env)
        shown = session.registry.approvable(name, version, env)  # a version not waiting is refused as such, before its gates
        failed = _failed_gate(spec, shown) if spec is not None else None
        in_env = "" if env == "prod" else f" --env {env}"
        if failed and not force:
            raise ProjectError(f"{name} version {version} fails its gate {failed}",
                               hint=f"toolkit models approve {name} {version}{in_env} --force approves it anyway (its history says so)")
        reason = f"toolkit models approve{in_env}" + (f" over its failed gate {failed} (--force)" if failed else "")
        session.registry.approve(name, version, reason=reason, env=env)
    over = f" over its failed gate {failed}" if failed else ""
    outcome = "it is production" if env == "prod" else (
        f"{env}'s runs score with it from its next run; prod's production is unchanged "
        f"(toolkit promote {env} prod after that run makes it production)")
    console.show(f"{name} version {version} approved{over}{'' if env == 'prod' else ' in ' + env}: {outcome}",
                 [{"event": "model_approved", "model": name, "version": version, "failed_gate": failed, "env": env}])


def _failed_gate(spec, version) -> str | None:
    from toolkit.training import failed_gate

    return failed_gate(spec, version.metrics, version.segments)


@models.command("rollback")
@state_options
@click.argument("name")
@env_option("Return this environment to the version it scored with before its current choice; prod's production stays.")
def models_rollback(project_dir, log_format, target, lock_timeout, name, env):
    """Return NAME to the production version before the current one, or with --env dev
    to the version dev chose before its current one."""
    from toolkit.planning import check_env

    check_env(env)
    console = _console(log_format)
    with _session(project_dir, target, lock_timeout, console) as session:
        _require_model_env(session, env)
        restored = session.registry.rollback(name, env=env, reason=None if env == "prod" else f"toolkit models rollback --env {env}")
        served = _published_versions(session, [name], env).get(name)
    where = "" if env == "prod" else f" in {env} (its next run scores with it; prod's production is unchanged)"
    # The registry changed, the predictions did not: their readers are served the version rolled
    # back from until a run scores again, which the rollback says rather than let it pass for live.
    stale = served is not None and served[1] != restored.version
    still = (f"; {served[0]} still holds version {served[1]}'s scores until a run scores with version {restored.version}: "
             f"toolkit run --select {name}{'' if env == 'prod' else ' --env ' + env}") if stale else ""
    console.show(f"{name} rolled back to version {restored.version}{where}{still}",
                 [{"event": "model_rolled_back", "model": name, "version": restored.version, "env": env,
                   "published_version": served[1] if served else None, "published_relation": served[0] if served else None}])


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="Project name (default: the folder name).")
@click.option("--debug", is_flag=True, expose_value=False, callback=_remember("debug"), help="Show tracebacks.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", callback=_remember("log_format"), help="json: one event per line.")
def init(directory, name, log_format):
    """Create a new project in DIRECTORY that `toolkit run` builds at once."""
    import shlex

    from toolkit.scaffold import project_name, scaffold

    scaffold(Path(directory), name)
    name = name or project_name(Path(directory))
    _console(log_format).show(f"created project '{name}' in {directory}: cd {shlex.quote(directory)} && toolkit run",
                              [{"event": "created", "project": name, "directory": directory}])


@cli.command("import-dbt")
@click.argument("dbt_project_dir", type=click.Path(file_okay=False))
@click.argument("out_dir", required=False, type=click.Path(file_okay=False))
@click.option("--debug", is_flag=True, expose_value=False, callback=_remember("debug"), help="Show tracebacks.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", callback=_remember("log_format"), help="json: one event per line.")
def import_dbt(dbt_project_dir, out_dir, log_format):
    """Convert the dbt project in DBT_PROJECT_DIR into a new toolkit project OUT_DIR
    (default: DBT_PROJECT_DIR_toolkit); what is not converted is in OUT_DIR/IMPORT_REPORT.md."""
    from toolkit.dbtimport import REPORT_FILE, import_dbt as convert

    report, out = convert(dbt_project_dir, out_dir)
    _console(log_format).show(report.summary(str(out / REPORT_FILE)), [{"event": "imported", "project": report.project, "directory": str(out),
                              "converted": dict(report.converted), "not_converted": report.not_converted, "check": report.check}])


_EXIT_CODE = [1]  # what the process exits with; 1 unless main() says otherwise


def console_main() -> None:
    """The `toolkit` console script and `python -m toolkit`: main(), then an exit without
    the interpreter's teardown. Python frees every module and object before it exits
    (sqlglot, duckdb, pyarrow, a compiled project): 40-50 ms of a no-op run, more than a
    fifth of what toolkit adds to starting Python. Registered first, `_exit_now` runs after
    every other exit handler (they run last-registered first: pyarrow's, joblib's, Spark's)
    and after Python has joined the threads still running; it flushes the output and
    logging, then ends the process. main() itself raises SystemExit as before (tests call
    it in-process)."""
    atexit.register(_exit_now)
    try:
        main()
        _EXIT_CODE[0] = 0
    except SystemExit as done:
        _EXIT_CODE[0] = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        # Python would join the threads still running: a worker still fitting, or one waiting
        # for an import lock the interrupted main thread never released (seen once in ~60
        # early Ctrl-Cs: hung for good). End now, exit handlers first.
        if interrupts.left_running or _EXIT_CODE[0] == 130:
            _end_now()
        raise
    except KeyboardInterrupt:  # Ctrl-C outside the command's own handling (while importing): no traceback
        _EXIT_CODE[0] = 130
        print("aborted", file=sys.stderr)
        _end_now()


def _end_now() -> None:
    atexit._run_exitfuncs()  # ends in _exit_now (registered first, run last)
    _exit_now(force=True)


def _exit_now(force: bool = False) -> None:
    if "coverage" in sys.modules and not force:  # it saves its data in an exit handler registered before ours
        return
    logging.shutdown()  # its exit handler was registered before ours (at import) and would run after it
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`toolkit ls | head`) or stream
            pass
    from toolkit.models import REAL_EXIT  # not os._exit: project code may have replaced it

    REAL_EXIT(_EXIT_CODE[0])


def main() -> None:
    # A command imports sqlglot and duckdb, loads or compiles the project and keeps most
    # of what it allocates (modules, syntax trees) until it ends: collecting young
    # objects only costs time (a fifth of a compile; 20 ms of a 500-step no-op).
    gc.set_threshold(50_000, 20, 20)
    interrupts.install()  # Ctrl-C stops the statements running, not only the Python code
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_USAGE)
    except click.Abort:
        if interrupts.left_running:
            click.echo(f"{', '.join(interrupts.left_running)}: still running after Ctrl-C (a model's fit does not "
                       f"stop for it); ended with this process, nothing of it kept", err=True)
        click.echo("aborted", err=True)
        sys.exit(130)
    except ToolkitError as error:
        if interrupts.explains(error):  # a statement Ctrl-C stopped, reported as the step's or source's error
            click.echo("aborted", err=True)
            sys.exit(130)
        if OPTIONS["debug"]:
            raise
        _fail(f"error: {error}", error.exit_code, "error")
    except Exception as error:  # a bug in toolkit, not in the project: say so briefly
        if interrupts.explains(error):
            click.echo("aborted", err=True)
            sys.exit(130)
        if OPTIONS["debug"]:
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)", 1, "internal_error")


def _fail(message: str, code: int, event: str) -> None:
    """The one line a failed command ends with: on stderr, as JSON too with --log-format json."""
    if OPTIONS["log_format"] == "json":
        click.echo(json.dumps({"event": event, "message": message.split(": ", 1)[1], "exit_code": code}), err=True)
    else:
        click.secho(message, fg="red", err=True)
    sys.exit(code)

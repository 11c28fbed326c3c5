"""The `toolkit` command: thin commands over the modules, behind one error boundary.

Heavy modules (duckdb, sqlglot, pyarrow) are imported inside the commands, so
`toolkit --help` stays fast.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import click

from toolkit.errors import ToolkitError

EXIT_USAGE = 2


def common(function):
    """Options every command takes."""
    options = [
        click.option("--project-dir", "-p", default=".", type=click.Path(file_okay=False), help="Project folder (default: current)."),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
        click.option("--log-format", type=click.Choice(["text", "json"]), default="text", help="json: one event per line, for schedulers."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def selection(function):
    options = [
        click.option("--select", "-s", multiple=True, help="name, +name (with upstream), name+ (with downstream), tag:x; space = union, comma = intersection."),
        click.option("--exclude", multiple=True, help="Same syntax as --select."),
        click.option("--target", "-t", default=None, help="Target from the config (default: the project's target)."),
        click.option("--vars", "vars_text", default=None, help='Override vars: JSON object or key=value,key=value.'),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="toolkit")
def cli():
    """toolkit: templated SQL feature steps and models, built inside your warehouse."""


def _compile(project_dir: str, vars_text: str | None):
    from toolkit.compilecache import compile_cached
    from toolkit.config import parse_vars

    # An unchanged project is loaded from .toolkit/cache/ (compilecache.py) instead of compiled.
    return compile_cached(Path(project_dir), parse_vars(vars_text), disk=True)


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
    from toolkit.planning import Options, check_env

    def when(value, flag):
        if value is None:
            return None
        try:
            return datetime.fromisoformat(value).replace(tzinfo=None)
        except ValueError:
            raise ProjectError(f"{flag} '{value}' is not a date or timestamp (ISO, e.g. 2024-01-31 or 2024-01-31T06:00)") from None

    begin, finish = when(start, "--start"), when(end, "--end")
    if begin and finish and begin >= finish:
        raise ProjectError(f"--start {start} is not before --end {end}")
    return Options(full_refresh=full_refresh, env=check_env(env), ignore_schedule=ignore_schedule, start=begin, end=finish)


@cli.command()
@common
@selection
@click.option("--threads", default=4, show_default=True, type=click.IntRange(min=1), help="Steps built in parallel.")
@planning_options
def run(project_dir, debug, log_format, select, exclude, target, vars_text, threads, lock_timeout, full_refresh, env, ignore_schedule, start, end):
    """Build the selected steps: render, check, build, test, publish (what `toolkit plan` shows)."""
    from toolkit.console import make_console
    from toolkit.execute import run as run_project

    options = _options(full_refresh, env, ignore_schedule, start, end)
    # Compiling allocates many small syntax-tree objects that live until the run
    # ends; collecting them young only costs time (about a fifth of compile time).
    gc.set_threshold(50_000, 20, 20)
    compiled = _compile(project_dir, vars_text)
    summary = run_project(
        compiled, target, select, exclude, threads, lock_timeout, full_refresh, make_console(log_format),
        command=" ".join(sys.argv[1:]), options=options,
    )
    sys.exit(0 if summary.ok else 1)


@cli.command()
@common
@selection
@planning_options
def plan(project_dir, debug, log_format, select, exclude, target, vars_text, lock_timeout, full_refresh, env, ignore_schedule, start, end):
    """Say what `toolkit run` would do with each selected step, and why (writes nothing)."""
    from toolkit.console import make_console
    from toolkit.execute import plan as make

    options = _options(full_refresh, env, ignore_schedule, start, end)
    gc.set_threshold(50_000, 20, 20)
    compiled = _compile(project_dir, vars_text)
    result = make(compiled, target, select, exclude, lock_timeout, options, make_console(log_format))
    from toolkit import explain

    click.echo("\n".join(explain.json_lines(result)) if log_format == "json" else explain.render_text(result))


def _open_state(project_dir: str, target: str | None, lock_timeout: float):
    from toolkit.config import load_config
    from toolkit.console import make_console
    from toolkit.execute import open_target
    from toolkit.state import State

    config = load_config(Path(project_dir))
    engine, side = open_target(config.target(target), config.root, lock_timeout, make_console("text"))
    return engine, side, State(engine)


def _state_options(function):
    for option in reversed([
        click.option("--project-dir", "-p", default=".", type=click.Path(file_okay=False), help="Project folder (default: current)."),
        click.option("--target", "-t", default=None, help="Target from the config (default: the project's target)."),
        click.option("--lock-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0), help="Seconds to wait for a busy target before exiting 3."),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ]):
        function = option(function)
    return function


@cli.command()
@_state_options
@click.argument("source")
@click.argument("destination", default="prod")
def promote(project_dir, target, lock_timeout, debug, source, destination):
    """Make SOURCE environment's published state DESTINATION's (default prod), without recomputing."""
    from toolkit import locking
    from toolkit.environments import promote as do_promote

    engine, side, state = _open_state(project_dir, target, lock_timeout)
    try:
        steps = do_promote(engine, state, source, destination)
    finally:
        engine.close()
        locking.remove(side)
    click.echo(f"promoted {source} -> {destination}: {len(steps)} step(s) now read {source}'s tables (toolkit rollback {destination} undoes it)")


@cli.command()
@_state_options
@click.argument("env", default="prod")
def rollback(project_dir, target, lock_timeout, debug, env):
    """Return ENV (default prod) to its state before the last promote."""
    from toolkit import locking
    from toolkit.environments import rollback as do_rollback

    engine, side, state = _open_state(project_dir, target, lock_timeout)
    try:
        version, changed = do_rollback(engine, state, env)
    finally:
        engine.close()
        locking.remove(side)
    click.echo(f"rolled back {env} to saved state {version}: {len(changed)} step(s) changed ({', '.join(changed[:10])})")


@cli.command("gc")
@_state_options
@click.option("--retention", default="7d", show_default=True, help="Keep unreferenced tables and saved states younger than this (e.g. 7d, 12h).")
@click.option("--dry-run", is_flag=True, help="Only say what would be dropped.")
def garbage_collect(project_dir, target, lock_timeout, debug, retention, dry_run):
    """Drop physical tables no environment references, older than --retention."""
    from toolkit import locking
    from toolkit.environments import gc as collect, parse_retention

    keep = parse_retention(retention)
    engine, side, state = _open_state(project_dir, target, lock_timeout)
    try:
        result = collect(engine, state, keep, dry_run)
        if not dry_run:
            engine.optimize_storage()
    finally:
        engine.close()
        locking.remove(side)
    verb = "would drop" if dry_run else "dropped"
    for name, kind, born in result.dropped:
        click.echo(f"  {verb} {kind} toolkit_physical.{name}" + (f" (created {born:%Y-%m-%d %H:%M})" if born else ""))
    click.echo(f"gc: {verb} {len(result.dropped)} relation(s); kept {len(result.kept_recent)} younger than {retention}"
               + (f"; forgot {result.expired_states} saved state(s)" if result.expired_states else ""))


@cli.command()
@common
@selection
@click.option("--unit", is_flag=True, help="Run SQL unit tests (features/**/*.unit.toml) on an in-memory DuckDB instead.")
@click.option("--lock-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0), help="Seconds to wait for a busy target before exiting 3.")
def test(project_dir, debug, log_format, select, exclude, target, vars_text, unit, lock_timeout):
    """Run data tests on the published tables (or, with --unit, SQL unit tests)."""
    compiled = _compile(project_dir, vars_text)
    if unit:
        from toolkit.unittests import format_results, run_unit_tests

        results = run_unit_tests(compiled, compiled.dag.select(select, exclude))
        click.echo(format_results(results))
        sys.exit(0 if all(r.passed for r in results) else 1)
    from toolkit.audit import test_published

    result = test_published(compiled, target, select, exclude, lock_timeout)
    for name, kind, outcome in result.outcomes:
        click.echo(f"  {outcome.status:<5} {kind} {name}: {outcome.describe() if outcome.failing else outcome.test.label}")
    for name in result.not_built:
        click.echo(f"  skip  step {name}: not published yet (toolkit run first)")
    for name in result.outdated:
        click.echo(f"  skip  step {name}: published from an older definition (toolkit run first)")
    failed = sum(o.status == "fail" for _, _, o in result.outcomes)
    warned = sum(o.status == "warn" for _, _, o in result.outcomes)
    click.echo(f"test run {result.run_id}: {len(result.outcomes)} tests, {failed} failed, {warned} warnings")
    sys.exit(0 if result.ok else 1)


@cli.command()
@common
@selection
@click.argument("steps", nargs=-1)
@click.option("--dialect", default=None, help="Write the SQL in this dialect (snowflake, bigquery, spark, trino, ...) instead of the target's.")
def compile(project_dir, debug, log_format, select, exclude, target, vars_text, steps, dialect):
    """Print the final SQL of STEPS (or the selection) for the target's dialect, or for
    --dialect (any dialect sqlglot writes; no adapter or connection needed)."""
    from toolkit import sql
    from toolkit.engines import dialect_of
    from toolkit.errors import ProjectError

    compiled = _compile(project_dir, vars_text)
    if dialect is not None:
        import sqlglot

        try:
            sqlglot.Dialect.get_or_raise(dialect)
        except ValueError:
            known = sorted(d.value for d in sqlglot.Dialects if d.value)
            raise ProjectError(f"--dialect: sqlglot writes no dialect '{dialect}'", hint=f"one of {', '.join(known)}") from None
    dialect = dialect or dialect_of(compiled.project.config.target(target).engine)
    names = compiled.dag.select(select + tuple(steps), exclude)
    for name in [n for n in compiled.dag.order() if n in names]:
        step = compiled.steps[name]
        if step.tree is None:
            continue
        try:
            text = sql.to_target(step.tree, compiled.dialect, dialect)
        except sql.SqlError as error:
            raise ProjectError(error.message, step.file, 1) from None
        if len(names) > 1:
            click.echo(f"-- {step.file}")
        click.echo(sql.pretty(text, dialect) + ";")


@cli.command("ls")
@common
@selection
def list_steps(project_dir, debug, log_format, select, exclude, target, vars_text):
    """List steps with their materialization, upstream and tags."""
    import json

    compiled = _compile(project_dir, vars_text)
    names = compiled.dag.select(select, exclude)
    for name in [n for n in compiled.dag.order() if n in names]:
        step = compiled.steps[name]
        row = {
            "name": name, "kind": step.kind, "materialized": step.materialized, "relation": step.relation.sql(),
            "upstream": step.upstream, "sources": step.sources, "tags": sorted(step.tags), "file": step.file,
        }
        if log_format == "json":
            click.echo(json.dumps(row))
        else:
            reads = ", ".join(step.upstream + step.sources) or "-"
            tags = f"  [{', '.join(sorted(step.tags))}]" if step.tags else ""
            click.echo(f"{name:<28} {step.materialized:<12} {step.relation.sql():<36} <- {reads}{tags}")


@cli.group()
def models():
    """Model versions in the warehouse registry: list, show, promote, rollback."""


def _registry_options(function):
    for option in reversed([
        click.option("--project-dir", "-p", default=".", type=click.Path(file_okay=False), help="Project folder (default: current)."),
        click.option("--target", "-t", default=None, help="Target from the config (default: the project's target)."),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ]):
        function = option(function)
    return function


def _open_registry(project_dir: str, target: str | None):
    """(engine, registry) on the target; the caller closes the engine."""
    from toolkit.config import load_config
    from toolkit.engines import connect
    from toolkit.registry import Registry

    config = load_config(Path(project_dir))
    engine = connect(config.target(target), config.root)
    return engine, Registry(engine)


@models.command("list")
@_registry_options
@click.argument("name", required=False)
def models_list(project_dir, target, debug, name):
    """Every version of every model (or of NAME)."""
    engine, registry = _open_registry(project_dir, target)
    try:
        versions = registry.versions(name)
    finally:
        engine.close()
    rows = [(v.model, str(v.version), v.status, v.candidate, f"{v.created_at:%Y-%m-%d %H:%M}",
             ", ".join(f"{k} {val:.4f}" if isinstance(val, float) else f"{k} {val}" for k, val in v.metrics.items()))
            for v in versions]
    header = ("model", "version", "status", "candidate", "created", "metrics")
    # Widths from the content, metrics last and whole: a cut column ("roc_a") says nothing.
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])


@models.command("show")
@_registry_options
@click.argument("name")
@click.argument("version", type=int, required=False)
@click.option("--sql", "as_sql", is_flag=True, help="Print only the version compiled to SQL (one SELECT over its scoring table).")
def models_show(project_dir, target, debug, name, version, as_sql):
    """One version (default: production) with its metrics, parameters, features and history."""
    import json

    engine, registry = _open_registry(project_dir, target)
    try:
        shown = registry.get(name, version)
        history = registry.history(name)
    finally:
        engine.close()
    if as_sql:
        if not shown.scoring_sql:
            from toolkit.errors import ProjectError

            raise ProjectError(f"{name} version {shown.version} has no compiled SQL: it is scored in Python (see the run record's scoring_note)")
        click.echo(shown.scoring_sql.rstrip() + ";")
        return
    click.echo(f"{shown.model} version {shown.version} ({shown.status}), candidate {shown.candidate}")
    click.echo(f"  trained on {shown.training_table} in run {shown.run_id} at {shown.created_at:%Y-%m-%d %H:%M:%S}")
    click.echo(f"  fingerprint {shown.fingerprint[:16]}, artifact sha256 {shown.sha256}")
    click.echo(f"  python {shown.python_version}, scikit-learn {shown.sklearn_version}, numpy {shown.numpy_version}, skops {shown.skops_version}")
    click.echo("  metrics: " + json.dumps(shown.metrics, sort_keys=True))
    click.echo("  features: " + ", ".join(f"{f['name']} {f['type']}" for f in shown.features))
    click.echo(f"  scoring: {'compiled SQL (toolkit models show ' + name + ' --sql)' if shown.scoring_sql else 'Python'}")
    click.echo("  history:")
    for change in history:
        click.echo(f"    {change.changed_at:%Y-%m-%d %H:%M:%S}  version {change.version} {change.action} -> {change.status} {change.reason}")


@models.command("promote")
@_registry_options
@click.argument("name")
@click.argument("version", type=int)
def models_promote(project_dir, target, debug, name, version):
    """Make VERSION the production version of NAME (the next run scores with it)."""
    engine, registry = _open_registry(project_dir, target)
    try:
        registry.promote(name, version, reason="toolkit models promote")
    finally:
        engine.close()
    click.echo(f"{name} version {version} is production")


@models.command("rollback")
@_registry_options
@click.argument("name")
def models_rollback(project_dir, target, debug, name):
    """Return NAME to the production version before the current one."""
    engine, registry = _open_registry(project_dir, target)
    try:
        restored = registry.rollback(name)
    finally:
        engine.close()
    click.echo(f"{name} rolled back to version {restored.version}")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--name", default=None, help="Project name (default: the folder name).")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def init(directory, name, debug):
    """Create a new project in DIRECTORY that `toolkit run` builds at once."""
    from toolkit.scaffold import scaffold

    created = scaffold(Path(directory), name)
    click.echo(f"created project '{created.name}' in {directory}: cd {directory} && toolkit run")


def main() -> None:
    debug = "--debug" in sys.argv
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_USAGE)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except ToolkitError as error:
        if debug:
            raise
        click.secho(f"error: {error}", fg="red", err=True)
        sys.exit(error.exit_code)
    except Exception as error:  # a bug in toolkit, not in the project: say so briefly
        if debug:
            raise
        click.secho(f"internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)", fg="red", err=True)
        sys.exit(1)

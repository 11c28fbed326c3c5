"""Where toolkit spends its time on a layered project, in-process.

    python tests/bench/profile_run.py [--n 500] [--threads 4] [--top 25] [--sort cumulative] [--rerun | --refresh] [--phases-only]

Generates a fresh N-step project, then profiles compile_project and execute.run
with cProfile. Worker threads are not seen by a profiler enabled in the main
thread, so each step execution (_Runner._execute) gets its own profiler and those
are merged into a separate "workers" listing (times summed over threads). Also
prints every SQL statement toolkit sent to DuckDB, grouped by kind, with count and
summed seconds (parallel statements overlap, so the sum can exceed wall time).
Before that, an unprofiled run on another fresh project with light timers around
the main phases (cProfile inflates sqlglot's deepcopy-heavy code several times, so
the phase table is the one to trust for proportions; cProfile shows what is inside).
Nothing in toolkit is changed on disk; the wrappers live only in this process.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from layered_project import generate  # noqa: E402


def statement_kind(sql: str) -> str:
    words = sql.lstrip().split(None, 3)
    head = " ".join(words[:2]).upper()
    if head.startswith("CREATE OR"):
        head = " ".join(words[:4][:4]).upper()
    for prefix in ("CREATE TABLE", "CREATE OR REPLACE VIEW", "CREATE VIEW", "CREATE SCHEMA", "DROP TABLE", "DROP VIEW",
                   "INSERT INTO", "DELETE FROM", "UPDATE", "BEGIN", "COMMIT", "ROLLBACK", "CHECKPOINT", "SELECT"):
        if sql.lstrip().upper().startswith(prefix):
            return prefix
    return head


class Timers:
    """Wrap functions in place with (calls, summed seconds) counters; thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.totals: dict[str, list] = {}
        self.undo: list[tuple] = []

    def add(self, label: str, seconds: float) -> None:
        with self.lock:
            entry = self.totals.setdefault(label, [0, 0.0])
            entry[0] += 1
            entry[1] += seconds

    def wrap(self, owner, attribute: str, label: str | None = None, by_sql: bool = False) -> None:
        original = getattr(owner, attribute, None)
        if original is None:  # renamed or moved since this script was written: say so, time the rest
            print(f"(profile_run: no {getattr(owner, '__name__', owner)}.{attribute} to time)")
            return
        label = label or attribute
        timers = self

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                name = f"{label}: {statement_kind(args[-1])}" if by_sql else label
                timers.add(name, time.perf_counter() - started)

        setattr(owner, attribute, wrapper)
        self.undo.append((owner, attribute, original))

    def restore(self) -> None:
        for owner, attribute, original in reversed(self.undo):
            setattr(owner, attribute, original)
        self.undo.clear()


def phase_timings(root: Path, threads: int, refresh: bool = False) -> None:
    import toolkit.compilecache as compilecache
    import toolkit.compiler as compiler
    import toolkit.compiling.sqlsteps as sqlsteps
    import toolkit.environments as environments
    import toolkit.execute as execute
    import toolkit.materialize as materialize
    import toolkit.planning as planning
    import toolkit.sql as sql
    from toolkit.engines.base import Engine
    from toolkit.engines.duckdb import DuckDBEngine
    from toolkit.materializations import Materialization
    from toolkit.state import State
    from toolkit.templating import Renderer

    timers = Timers()
    rows = [  # (owner, attribute, label, indent) in the order printed
        (compilecache, "compile_cached", "compile_cached (the project's cache file)", 0),
        (compiler, "compile_project", "compile_project", 0),
        (compiler, "load_project", "load_project (read files, toml)", 1),
        (Renderer, "render", "Renderer.render (Jinja)", 1),
        (sqlsteps, "_parse", "_parse (sqlglot parse + bind_values)", 1),
        (sqlsteps, "resolve_references", "resolve_references (replace_tables copy)", 1),
        (sql, "canonical_text", "sql.canonical_text (content hash)", 1),
        (compiler, "_check_columns", "_check_columns (sqlglot qualify)", 1),
        (execute, "run", "execute.run", 0),
        (DuckDBEngine, "open", "DuckDBEngine.open (the DuckDB file)", 1),
        (execute, "check_sources", "check_sources", 1),
        (State, "published", "State.published", 1),
        (execute, "make_plan", "make_plan", 1),
        (planning, "step_fingerprint", "step_fingerprint", 2),
        (DuckDBEngine, "table_fingerprint", "table_fingerprint (source hash)", 2),
        (planning, "check_step", "check_step (portability)", 2),
        (State, "ensure", "State.ensure", 1),
        (execute._Runner, "run", "_Runner.run (wall: build + publish)", 1),
        (execute._Runner, "query", "_Runner.query (replace_tables) [threads]", 2),
        (Materialization, "build", "Materialization.build (generate + CTAS) [threads]", 2),
        (materialize, "check", "materialize.check (data tests) [threads]", 2),
        (execute._Runner, "_publish", "_publish (group commits, on a worker)", 2),
        (environments, "drop_unreferenced", "drop_unreferenced", 1),
        (DuckDBEngine, "optimize_storage", "optimize_storage (CHECKPOINT)", 1),
        (State, "record_steps", "State.record_steps", 1),
        (State, "finish_run", "State.finish_run", 1),
        (DuckDBEngine, "close", "engine.close", 1),
    ]
    for owner, attribute, label, _ in rows:
        timers.wrap(owner, attribute, label)
    timers.wrap(Engine, "generate", "Engine.generate (sqlglot -> SQL text) [all threads]")
    timers.wrap(DuckDBEngine, "_run", "duckdb", by_sql=True)
    try:
        started = time.perf_counter()
        compiled = compilecache.compile_cached(root, disk=True) if refresh else compiler.compile_project(root)
        summary = execute.run(compiled, threads=threads, full_refresh=refresh)
        wall = time.perf_counter() - started
    finally:
        timers.restore()
    print(f"== phases, unprofiled (wall {wall:.2f} s, ok={summary.ok}); [threads] = summed over worker threads ==")
    for _, _, label, indent in rows:
        if label in timers.totals:
            count, seconds = timers.totals[label]
            print(f"{'  ' * indent}{label:<{60 - 2 * indent}} {count:>5}  {seconds:8.3f} s")
    extra = sorted((k, v) for k, v in timers.totals.items() if k not in {r[2] for r in rows})
    for label, (count, seconds) in sorted(extra, key=lambda item: -item[1][1]):
        print(f"{label:<60} {count:>5}  {seconds:8.3f} s")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--phases-only", action="store_true", help="only the unprofiled phase table")
    parser.add_argument("--rerun", action="store_true", help="profile a no-op re-run: build each project once first, untimed")
    parser.add_argument("--refresh", action="store_true",
                        help="phases of `run --full-refresh` with the compile cache warm (bench_tools' 'full, compiled')")
    options = parser.parse_args()

    import toolkit.execute as execute
    from toolkit.compiler import compile_project
    from toolkit.engines.duckdb import DuckDBEngine

    work = Path(tempfile.mkdtemp(prefix="toolkit-profile-"))
    def fresh(name: str) -> Path:
        root = generate(work / name, options.n).root
        if options.rerun:
            from toolkit.compiler import compile_project as compile_first

            assert execute.run(compile_first(root), threads=options.threads).ok
        return root

    if options.refresh:
        root = generate(work / "refreshed", options.n).root
        from toolkit.compilecache import _cache, compile_cached

        for _ in range(2):  # the first run records the sources' columns, a compile-cache input
            assert execute.run(compile_cached(root, disk=True), threads=options.threads).ok
            _cache.clear()  # a new process: the cache file, not this one's memory
    phase_timings(root if options.refresh else fresh("timed"), options.threads, options.refresh)
    if options.phases_only:
        shutil.rmtree(work, ignore_errors=True)
        return
    project_root = fresh("project")

    statements: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    lock = threading.Lock()
    original_run = DuckDBEngine._run

    def timed_run(self, sql):
        started = time.perf_counter()
        try:
            return original_run(self, sql)
        finally:
            seconds = time.perf_counter() - started
            with lock:
                entry = statements[statement_kind(sql)]
                entry[0] += 1
                entry[1] += seconds

    worker_profiles: list[cProfile.Profile] = []
    original_execute = execute._Runner._execute

    def profiled_execute(self, planned, result):
        profile = cProfile.Profile()
        profile.enable()
        try:
            return original_execute(self, planned, result)
        finally:
            profile.disable()
            with lock:
                worker_profiles.append(profile)

    DuckDBEngine._run = timed_run
    execute._Runner._execute = profiled_execute

    main_profile = cProfile.Profile()
    started = time.perf_counter()
    main_profile.enable()
    compiled = compile_project(project_root)
    compiled_at = time.perf_counter()
    summary = execute.run(compiled, threads=options.threads)
    main_profile.disable()
    finished = time.perf_counter()

    print(f"N={options.n}: compile_project {compiled_at - started:.2f} s, execute.run {finished - compiled_at:.2f} s "
          f"(profiled; ok={summary.ok}, {len(summary.results)} steps)")

    def show(title, stats):
        out = io.StringIO()
        stats.stream = out
        stats.sort_stats(options.sort).print_stats(options.top)
        text = out.getvalue()
        print(f"\n== {title} ==")
        print(text[text.find("ncalls") - 1 if "ncalls" in text else 0:].rstrip())

    show("main thread: compile_project + execute.run", pstats.Stats(main_profile))
    if worker_profiles:
        merged = pstats.Stats(worker_profiles[0])
        for profile in worker_profiles[1:]:
            merged.add(profile)
        show(f"worker threads: {len(worker_profiles)} step executions, times summed over threads", merged)

    print("\n== SQL statements sent to DuckDB (summed seconds; parallel ones overlap) ==")
    for kind, (count, seconds) in sorted(statements.items(), key=lambda item: -item[1][1]):
        print(f"{kind:<26} {count:>6}  {seconds:8.3f} s")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark toolkit against the floor: the same N statements run by one DuckDB process.

    python tests/bench/bench_run.py [--sizes 10,100,500] [--threads 4] [--repeat 3] [--repeat-large 1]

For each N (see layered_project.py for the project shape):

  floor       a fresh DuckDB file holding the same source table; one in-process
              duckdb.connect(file) runs CREATE SCHEMA + the N CREATE TABLE ... AS
              statements in dependency order, then closes (close checkpoints).
  full        `toolkit run` as a subprocess on a fresh project (process start,
              imports, compile, build, publish, state writes: what a user waits for)
  no-op       `toolkit run` again, nothing changed (everything reused)
  one-change  one step of the middle layer gets a changed computed expression;
              `toolkit run` rebuilds it and its downstream. `rebuilt` is the number
              of steps with status 'success' in toolkit.step_runs for that run.
  in-proc     optional extra: compile_project + execute.run in this process on a
              fresh project (no process start or imports)
  no-op in-proc, one-change in-proc
              the same project again in this process: compile + run with nothing
              changed, then after change_step() (what a long-lived scheduler pays)
  plan        `toolkit plan` as a subprocess after the one-change run (a no-op plan)

Each measurement is the median of --repeat runs for N <= 100, of --repeat-large above.
Nothing is asserted: the numbers are printed (goal: full <= 1.5x floor at N=500).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from layered_project import create_source, generate  # noqa: E402


def toolkit_command() -> list[str]:
    """The `toolkit` console script next to this interpreter, else `python -m toolkit`."""
    script = Path(sys.executable).parent / "toolkit"
    if script.exists():
        return [str(script)]
    found = shutil.which("toolkit")
    return [found] if found else [sys.executable, "-m", "toolkit"]


def environment() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1"}


def timed_toolkit(args: list[str], cwd: Path) -> float:
    """Wall time of one toolkit subprocess; raises if it fails."""
    started = time.perf_counter()
    done = subprocess.run(toolkit_command() + args, cwd=cwd, env=environment(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"toolkit {' '.join(args)} failed in {cwd} (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds


def time_floor(work: Path, project) -> float:
    """One DuckDB process, one connection, the N statements, close."""
    import duckdb

    database = work / "floor.duckdb"
    create_source(database, project.rows, project.seed)
    statements = project.floor_statements()
    started = time.perf_counter()
    connection = duckdb.connect(str(database))
    for statement in statements:
        connection.execute(statement)
    connection.close()
    return time.perf_counter() - started


def last_run_rebuilt(database: Path) -> int:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(
            "select count(*) from toolkit.step_runs "
            "where run_id = (select max(run_id) from toolkit.runs) and status = 'success'"
        ).fetchone()[0]


def last_step_rows(database: Path, step: str) -> int:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(f"select count(*) from features.{step}").fetchone()[0]


def time_in_process(root: Path, threads: int) -> float:
    """compile + run in this process; the compiled project is reused while no project
    file changed (toolkit.compilecache), as a long-lived scheduler process would."""
    from toolkit.compilecache import compile_cached
    from toolkit.execute import run

    started = time.perf_counter()
    summary = run(compile_cached(root), threads=threads)
    seconds = time.perf_counter() - started
    if not summary.ok:
        raise SystemExit(f"in-process run failed in {root}")
    return seconds


def measure(n: int, threads: int, repeat: int, work: Path, in_process: bool, keep: bool = False) -> dict:
    samples: dict[str, list[float]] = {"floor": [], "full": [], "noop": [], "change": [], "inproc": [], "noop_ip": [], "change_ip": [], "plan": []}
    rebuilt: set[int] = set()
    expected: set[int] = set()
    thread_args = ["--threads", str(threads)]
    for attempt in range(repeat):
        base = work / f"n{n}_{attempt}"
        project = generate(base / "project", n)
        samples["floor"].append(time_floor(base, project))
        samples["full"].append(timed_toolkit(["run", *thread_args], project.root))
        rows = last_step_rows(project.database, project.last_step)
        if rows != project.rows:
            raise SystemExit(f"N={n}: {project.last_step} has {rows} rows, expected {project.rows}")
        samples["noop"].append(timed_toolkit(["run", *thread_args], project.root))
        _, downstream = project.change_step()
        samples["change"].append(timed_toolkit(["run", *thread_args], project.root))
        rebuilt.add(last_run_rebuilt(project.database))
        expected.add(1 + len(downstream))
        samples["plan"].append(timed_toolkit(["plan"], project.root))
        if in_process:
            inproc = generate(base / "inproc", n)
            samples["inproc"].append(time_in_process(inproc.root, threads))
            samples["noop_ip"].append(time_in_process(inproc.root, threads))
            inproc.change_step()
            samples["change_ip"].append(time_in_process(inproc.root, threads))
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    result = {key: statistics.median(values) if values else None for key, values in samples.items()}
    result["rebuilt"] = "/".join(str(r) for r in sorted(rebuilt))
    result["expected"] = "/".join(str(r) for r in sorted(expected))
    return result


def help_time(runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(toolkit_command() + ["--help"], env=environment(), capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def machine_line(threads: int) -> str:
    import duckdb
    import sqlglot

    return (
        f"machine: {os.cpu_count()} cpus, {platform.machine()}, python {platform.python_version()}, "
        f"duckdb {duckdb.__version__}, sqlglot {sqlglot.__version__}, toolkit --threads {threads}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def source_state() -> str:
    """The commit the toolkit package is at, and whether its files are edited."""
    import toolkit

    folder = Path(toolkit.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=folder, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return str(folder)
    return f"{folder} at {commit}" + (f", {len(dirty.splitlines())} file(s) edited" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,500", help="comma-separated step counts (default 10,100,500)")
    parser.add_argument("--threads", type=int, default=4, help="toolkit run --threads (default 4)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement for N <= 100 (median; default 3)")
    parser.add_argument("--repeat-large", type=int, default=1, help="runs per measurement for N > 100 (default 1)")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process full run column")
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",") if s.strip()]

    print(machine_line(options.threads))
    print(f"toolkit: {' '.join(toolkit_command())} ({source_state()})")
    print(f"toolkit --help: {help_time():.3f} s (median of 7)", flush=True)

    work = Path(tempfile.mkdtemp(prefix="toolkit-bench-"))
    header = ["N", "floor s", "full s", "full/floor", "no-op s", "no-op/floor", "one-change s", "rebuilt", "one-change/floor", "plan s",
              "in-proc s", "no-op in-proc s", "no-op in-proc/floor", "one-change in-proc s", "one-change in-proc/floor"]
    rows = []
    try:
        for n in sizes:
            repeat = options.repeat if n <= 100 else options.repeat_large
            r = measure(n, options.threads, repeat, work, not options.no_in_process, options.keep)
            floor = r["floor"]
            rows.append([
                str(n), f"{floor:.3f}",
                f"{r['full']:.3f}", f"{r['full'] / floor:.1f}x",
                f"{r['noop']:.3f}", f"{r['noop'] / floor:.1f}x",
                f"{r['change']:.3f}", r["rebuilt"], f"{r['change'] / floor:.1f}x", f"{r['plan']:.3f}",
                *(["-"] * 5 if r["inproc"] is None else [
                    f"{r['inproc']:.3f}", f"{r['noop_ip']:.3f}", f"{r['noop_ip'] / floor:.1f}x",
                    f"{r['change_ip']:.3f}", f"{r['change_ip'] / floor:.1f}x",
                ]),
            ])
            if r["rebuilt"] != r["expected"]:
                print(f"note: N={n} rebuilt {r['rebuilt']} steps, the changed step plus its downstream is {r['expected']} "
                      "(fewer: downstream steps that do not read the changed column are reused)")
            print(f"N={n} done (median of {repeat})", flush=True)
    finally:
        if options.keep:
            print(f"projects kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print()
    print(" | ".join(h.rjust(w) for h, w in zip(header, widths)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(cell.rjust(w) for cell, w in zip(row, widths)))


if __name__ == "__main__":
    main()

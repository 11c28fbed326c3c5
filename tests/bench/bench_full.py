"""Interleaved first builds of the layered project: raw DuckDB against toolkit from one or
more source trees, in the same rounds, for a before/after comparison on a shared machine.

    python tests/bench/bench_full.py ROUNDS N LABEL=PYTHONPATH [LABEL=PYTHONPATH ...] [--full-refresh]

One round: raw (bench_tools' floor: one `python -c` process connects to a copy of the
source-only file, runs CREATE SCHEMA + the N CREATE TABLE ... AS, closes; timed inside
the process from connect to close), then each variant's `toolkit run --threads 1` (wall
and user+sys CPU of the whole process) on a fresh copy of the generated project: nothing
compiled, no cache. With --full-refresh each variant's project is built once untimed and
the round times `toolkit run --threads 1 --full-refresh` (the compile cache warm: bench_tools'
"full, compiled"). The table: medians, and each variant's median of its per-round ratio to
that round's raw.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_tools import FLOOR_SCRIPT, last_result  # noqa: E402
from layered_project import DATABASE, floor_statements, generate  # noqa: E402


def timed(command: list[str], cwd: Path, env: dict) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(done.stderr.decode()[-2000:])
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def raw(work: Path, source: Path, statements: Path) -> float:
    database = work / "raw.duckdb"
    shutil.copy(source, database)
    done = subprocess.run([sys.executable, "-c", FLOOR_SCRIPT, str(database), str(statements)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    database.unlink()
    return float(last_result(done.stdout))


def main() -> None:
    refresh = "--full-refresh" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--full-refresh"]
    rounds, n = int(args[0]), int(args[1])
    variants = [spec.split("=", 1) for spec in args[2:]]
    work = Path(tempfile.mkdtemp(prefix="bench-full-"))
    template = work / "template"
    generate(template, n)
    statements = work / "floor.json"
    statements.write_text(json.dumps(floor_statements(n)), encoding="utf-8")
    command = [sys.executable, "-P", "-m", "toolkit", "run", "--threads", "1"] + (["--full-refresh"] if refresh else [])
    envs = {label: {**os.environ, "NO_COLOR": "1", "PYTHONPATH": path} for label, path in variants}
    if refresh:
        for label, _ in variants:
            shutil.copytree(template, work / label)
            timed(command[:-1], work / label, envs[label])
    samples: dict[str, list] = {"raw": []} | {label: [] for label, _ in variants}
    loads = []
    for _ in range(rounds):
        loads.append(os.getloadavg()[0])
        floor = raw(work, template / DATABASE, statements)
        samples["raw"].append((floor, None, 1.0))
        for label, _ in variants:
            project = work / label
            if not refresh:
                shutil.rmtree(project, ignore_errors=True)
                shutil.copytree(template, project)
            wall, cpu = timed(command, project, envs[label])
            samples[label].append((wall, cpu, wall / floor))
    shutil.rmtree(work, ignore_errors=True)
    print(f"N = {n}, {rounds} rounds{', --full-refresh' if refresh else ''}, load average "
          f"{min(loads):.2f}-{max(loads):.2f} (median {statistics.median(loads):.2f})")
    print("| variant | wall s (median) | min | cpu s (median) | ratio to raw (median of rounds) |")
    print("|---|---|---|---|---|")
    for label, values in samples.items():
        walls = [w for w, _, _ in values]
        cpus = [c for _, c, _ in values if c is not None]
        cpu = f"{statistics.median(cpus):.2f}" if cpus else ""
        print(f"| {label} | {statistics.median(walls):.2f} | {min(walls):.2f} | {cpu} | "
              f"{statistics.median(r for _, _, r in values):.2f}x |")


if __name__ == "__main__":
    main()

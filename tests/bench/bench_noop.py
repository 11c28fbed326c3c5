"""Interleaved no-op timings of `toolkit run --threads 1` against a start floor, for a
before/after comparison on a shared machine (wall and CPU of each child, medians).

    python tests/bench/bench_noop.py ROUNDS floor=:DBFILE LABEL=PYTHONPATH:PROJECT [LABEL=PYTHONPATH:PROJECT ...]

The first variant is the floor: `python -c "import duckdb; duckdb.connect(DBFILE).close()"`
(give it a copy of the project's warehouse file). Every other variant runs toolkit from
PYTHONPATH (a worktree) in PROJECT, which must have been run once (its compile cache is
per toolkit version: give each variant its own copy of the project). One round runs each
variant once, in order; the table shows medians, the minimum and the load average seen.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time


def timed(command: list[str], cwd: str, env: dict) -> tuple[float, float]:
    """(wall, user+sys CPU) of one child process; exits if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(done.stderr.decode()[-2000:])
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    rounds, variants = int(sys.argv[1]), []
    for spec in sys.argv[2:]:
        label, rest = spec.split("=", 1)
        path, where = rest.split(":", 1)
        variants.append((label, path, where))
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in variants}
    loads = []
    for _ in range(rounds):
        loads.append(os.getloadavg()[0])
        for index, (label, path, where) in enumerate(variants):
            env = {**os.environ, "NO_COLOR": "1"}
            if index == 0:
                env.pop("PYTHONPATH", None)
                command, cwd = [sys.executable, "-c", f"import duckdb; duckdb.connect({where!r}).close()"], "/"
            else:
                env["PYTHONPATH"] = path
                command, cwd = [sys.executable, "-P", "-m", "toolkit", "run", "--threads", "1"], where
            samples[label].append(timed(command, cwd, env))
    floor = statistics.median(wall for wall, _ in samples[variants[0][0]])
    print(f"{rounds} rounds, load average {min(loads):.2f}-{max(loads):.2f} (median {statistics.median(loads):.2f})")
    print("| variant | wall s (median) | min | cpu s (median) | wall / floor |")
    print("|---|---|---|---|---|")
    for label, _, _ in variants:
        walls, cpus = [w for w, _ in samples[label]], [c for _, c in samples[label]]
        print(f"| {label} | {statistics.median(walls):.3f} | {min(walls):.3f} | {statistics.median(cpus):.3f} | "
              f"{statistics.median(walls) / floor:.2f}x |")


if __name__ == "__main__":
    main()

"""Benchmark `toolkit import-dbt` on a generated 500-model dbt project.

The dbt project holds the same SQL as tests/bench/layered_project.py's toolkit project
(500 steps in 50 layers over one source, joins and computed columns), written the
dbt way: models/layer_NN/step_XXXX.sql with `{{ ref() }}` / `{{ source() }}`, the
materialization in dbt_project.yml's models: tree, the source in a sources.yml with
typed columns, not_null + unique tests on every model's key in schema.yml files.

Measured:
  import     `toolkit import-dbt` (a subprocess, the final compile check included), and
             the conversion alone (in process, check=False)
  first run  `toolkit run` of the converted project (10,000 source rows)
  compile    compile_project() of the converted project vs the native one (same SQL,
             no tests in either), each in a fresh process, median of 3; and their first runs

    python tests/bench/bench_import_dbt.py [N_MODELS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import layered_project as lp  # noqa: E402

COMPILE = ("import sys, time; from toolkit.compiler import compile_project; t = time.perf_counter(); "
           "compile_project(sys.argv[1]); print(time.perf_counter() - t)")


def write_dbt_project(root: Path, n_models: int, tests: bool = True) -> None:
    steps = lp.plan(n_models)
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0'\nconfig-version: 2\nprofile: bench\n"
        "models:\n  bench:\n    +materialized: table\n", encoding="utf-8")
    columns = "".join(f"          - name: {c}\n            data_type: {t}\n" for c, t in lp.SOURCE_COLUMNS.items())
    (root / "models" / "sources.yml").write_text(
        f"version: 2\nsources:\n  - name: {lp.SOURCE_SCHEMA}\n    tables:\n      - name: {lp.SOURCE_TABLE}\n"
        f"        columns:\n{columns}", encoding="utf-8")

    def relation(name):
        return f"{{{{ source('{lp.SOURCE_SCHEMA}', '{lp.SOURCE_TABLE}') }}}}" if name is None else f"{{{{ ref('{name}') }}}}"

    layers: dict[int, list] = {}
    for step in steps:
        layers.setdefault(step.layer, []).append(step)
        folder = root / "models" / f"layer_{step.layer:02d}"
        folder.mkdir(exist_ok=True)
        (folder / f"{step.name}.sql").write_text(step.select(relation), encoding="utf-8")
    if tests:
        for layer, members in layers.items():
            entries = "".join(f"  - name: {s.name}\n    columns:\n      - name: id\n        tests: [not_null, unique]\n" for s in members)
            (root / "models" / f"layer_{layer:02d}" / "schema.yml").write_text(f"version: 2\nmodels:\n{entries}", encoding="utf-8")


def timed(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"toolkit {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start, done


def compile_seconds(root: Path, repeat: int = 3) -> float:
    runs = [float(subprocess.run([sys.executable, "-c", COMPILE, str(root)], capture_output=True, text=True, check=True).stdout)
            for _ in range(repeat)]
    return statistics.median(runs)


def main(n_models: int = 500) -> None:
    from toolkit.dbtimport import import_dbt

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_dbt_project(tmp / "dbt", n_models)
        import_s, done = timed("import-dbt", str(tmp / "dbt"), str(tmp / "converted"))
        print(done.stdout.strip().splitlines()[-2])
        start = time.perf_counter()
        import_dbt(tmp / "dbt", tmp / "converted_again", check=False)
        convert_s = time.perf_counter() - start
        lp.create_source(tmp / "converted" / "warehouse" / "bench.duckdb")
        run_s, _ = timed("run", "-p", str(tmp / "converted"))

        write_dbt_project(tmp / "dbt_plain", n_models, tests=False)
        import_dbt(tmp / "dbt_plain", tmp / "converted_plain", check=False)
        lp.generate(tmp / "native", n_models, with_source=False)
        converted_c, native_c = compile_seconds(tmp / "converted_plain"), compile_seconds(tmp / "native")
        for project in ("converted_plain", "native"):
            lp.create_source(tmp / project / "warehouse" / "bench.duckdb")
        plain_run_s, _ = timed("run", "-p", str(tmp / "converted_plain"))
        native_run_s, _ = timed("run", "-p", str(tmp / "native"))

    print(f"{n_models} dbt models ({n_models} x not_null+unique tests):")
    print(f"  toolkit import-dbt (process, compile check included): {import_s:6.2f} s")
    print(f"  conversion alone (in process, no check):              {convert_s:6.2f} s")
    print(f"  first toolkit run of the converted project:           {run_s:6.2f} s")
    print(f"  import-dbt + first run:                               {import_s + run_s:6.2f} s")
    print("compile_project, median of 3 fresh processes (no tests in either):")
    print(f"  converted: {converted_c:6.2f} s   native: {native_c:6.2f} s   ratio {converted_c / native_c:4.2f}x")
    print("first toolkit run without tests:")
    print(f"  converted: {plain_run_s:6.2f} s   native: {native_run_s:6.2f} s   ratio {plain_run_s / native_run_s:4.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)

"""Benchmark `toolkit docs` on a generated N-step project (tests/bench/layered_project.py).

    python tests/bench/bench_docs.py [--steps 500] [--rows 1000] [--keep DIR]

Measures, on a project that has been run once (so the site has runs, tests and types):

  build         `toolkit docs` as a subprocess: wall time (process start, imports,
                compile from the compile cache, catalog and state reads, lineage of every
                column, layout, writing) and the build's own time as it reports it
  site          the size of the folder (data.js dominates) and of data.js
  lineage       lineage.build() of the compiled project, in this process
  browser       the site opened from disk in headless Chromium (Debian's chromium +
                chromium-driver through Selenium): the DAG's DOM build + layout time as
                the page measures it (window.TOOLKIT_DAG_RENDER_MS), time to the second
                animation frame after it (painted), and page load to DAG painted
                (driver.get returns at the load event)

Nothing is asserted; the figures are printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layered_project import generate  # noqa: E402


def toolkit(*args: str, cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "toolkit", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"toolkit {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return time.perf_counter() - started, done.stdout


def browser_figures(index: Path, repeat: int) -> dict:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    render, painted, total = [], [], []
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            driver.get(index.as_uri() + "#/")
            WebDriverWait(driver, 60).until(lambda d: d.execute_script("return window.TOOLKIT_DAG_PAINTED_MS"))
            total.append((time.perf_counter() - started) * 1000)
            render.append(driver.execute_script("return window.TOOLKIT_DAG_RENDER_MS"))
            painted.append(driver.execute_script("return window.TOOLKIT_DAG_PAINTED_MS"))
            nodes = driver.execute_script("return document.querySelectorAll('#dag svg g.node').length")
            driver.get("about:blank")
    finally:
        driver.quit()
    return {"nodes": nodes, "dag_render_ms": statistics.median(render), "dag_painted_ms": statistics.median(painted),
            "load_to_painted_ms": statistics.median(total)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="build the project here and keep it")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_docs_"))
    if not (root / "toolkit.toml").exists():
        generate(root, args.steps, rows=args.rows)
        seconds, _ = toolkit("run", cwd=root)
        print(f"toolkit run of {args.steps} steps: {seconds:.1f}s (setup, not measured)")
    site = root / "site"
    walls, builds = [], []
    for _ in range(args.repeat):
        wall, out = toolkit("docs", "--out", str(site), "--log-format", "json", cwd=root)
        event = json.loads(out.strip().splitlines()[-1])
        walls.append(wall)
        builds.append(event["seconds"])
    size = sum(p.stat().st_size for p in site.iterdir())
    data = (site / "data.js").stat().st_size

    from toolkit import lineage
    from toolkit.compiler import compile_project

    compiled = compile_project(root)
    started = time.perf_counter()
    graph = lineage.build(compiled)
    lineage_seconds = time.perf_counter() - started
    columns = sum(len(r.columns) for r in graph.relations.values())

    print(f"project: {args.steps} steps, {len(graph.relations)} relations, {columns} columns, {len(graph.parents)} lineage entries")
    print(f"toolkit docs wall (median of {args.repeat}): {statistics.median(walls):.2f}s; build as reported: {statistics.median(builds):.2f}s")
    print(f"lineage.build in process: {lineage_seconds:.2f}s")
    print(f"site: {size / 1e6:.2f} MB ({data / 1e6:.2f} MB data.js)")
    if shutil.which("chromium") and shutil.which("chromedriver"):
        figures = browser_figures(site / "index.html", args.repeat)
        print(f"browser (median of {args.repeat}): {figures['nodes']} DAG nodes; DOM build + layout {figures['dag_render_ms']:.0f} ms; "
              f"painted {figures['dag_painted_ms']:.0f} ms; page load to painted {figures['load_to_painted_ms']:.0f} ms")
    else:
        print("browser: skipped (no chromium/chromedriver on PATH)")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

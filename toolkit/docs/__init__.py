"""`toolkit docs`: a static site of the project and what the warehouse knows about it.

    site = build(compiled, session, Path("target/docs"))   # index.html, app.js, style.css, data.js
    serve(Path("target/docs"), port=8080)                   # optional: http.server on 127.0.0.1

The site is four files and opens from disk (file://) with no server and no network:
index.html and the page code (assets/app.js, vanilla JavaScript, and assets/style.css,
both shipped in the package) and data.js, one `window.TOOLKIT_DOCS = {...}` document
written by collect.py from the compiled project and the target's state. Data is a
script rather than a .json file because browsers refuse fetch() from file:// pages.

What it shows: the DAG (sources, seeds, feature steps, models and their prediction
tables; laid out at build time by layout.py, drawn as SVG by the page), a page per
relation (description, columns with types, descriptions and tags, templated and
compiled SQL, data tests with their latest results, last runs), column lineage (click
a column: every column upstream of it, and what reads it), a card per model (versions,
production and since when, candidates and their metrics, the split with its cut-off
and sizes, ROC/PR/calibration curves and the confusion matrix, or residuals and
predicted vs actual for a regressor, feature importances, drift and realized
performance of prod's runs from toolkit.monitoring) and the run history. Plots are SVG made here
(plots.py, which says why not matplotlib or vega-lite).

Measured (tests/bench/bench_docs.py): see the README's docs subsection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from toolkit.errors import ProjectError

MARKER = ".toolkit-docs"  # a folder holding it was written by toolkit docs: safe to overwrite
ASSETS = ("index.html", "app.js", "style.css")


@dataclass(frozen=True)
class Site:
    folder: Path
    files: int
    bytes: int
    seconds: float
    relations: int
    models: int


def check_folder(out: Path) -> None:
    """The output folder is new, empty, or an earlier site: never anything else (exit 2)."""
    if out.exists() and not out.is_dir():
        raise ProjectError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ProjectError(f"--out {out} is a folder with other files in it; toolkit docs will not write over them",
                           hint="name a new or empty folder, or one toolkit docs wrote before")


def build(compiled, session, out: Path) -> Site:
    from toolkit.docs.collect import collect, to_json

    started = time.perf_counter()
    check_folder(out)
    document = collect(compiled, session)
    try:
        written = _write(out, to_json(document))
    except OSError as error:  # a read-only or missing place: the user's to fix, not a crash
        raise ProjectError(f"--out {out}: cannot write the site there ({error.strerror or error})") from None
    return Site(out, len(written), sum(p.stat().st_size for p in written), time.perf_counter() - started,
                len(document["relations"]), len(document["models"]))


def _write(out: Path, data: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by toolkit docs; the folder is rewritten by the next build\n")
    assets = resources.files("toolkit.docs") / "assets"
    for name in ASSETS:
        (out / name).write_bytes((assets / name).read_bytes())
    (out / "data.js").write_text("window.TOOLKIT_DOCS = " + data + ";\n", encoding="utf-8")
    return [out / name for name in (*ASSETS, "data.js")]


def serve(folder: Path, port: int = 8080, announce=print) -> None:
    """Serve `folder` on 127.0.0.1 until interrupted (the site needs no server; this is a convenience)."""
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))

    class Quiet(handler.func):  # no request log on the terminal
        def log_message(self, *args):
            pass

    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Quiet, directory=str(folder)))
    except OSError as error:
        raise ProjectError(f"--port {port}: cannot listen on 127.0.0.1:{port}: {error.strerror}", hint="choose another --port (0: any free one)") from None
    with server:
        announce(f"serving {folder} on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass

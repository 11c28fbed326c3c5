"""Build the demo on a Spark target in one process and dump what it published.

    python tests/spark_demo.py PROJECT TARGET OUT

Run as a subprocess by tests/test_spark_demo.py: one JVM generates the demo's sources
through toolkit's Spark adapter, runs `toolkit run --target TARGET` and writes every
relation of the schemas `features` and `predictions` to OUT/<schema>.<name>.arrow.
Prints the run's output; exits with the run's exit code.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
from pathlib import Path

import pyarrow as pa
from sqlglot import exp

from toolkit.cli import main as toolkit_main
from toolkit.config import load_config
from toolkit.engines import connect

DUMPED = ("features", "predictions")


def write_sources(root: Path, target) -> None:
    spec = importlib.util.spec_from_file_location("generate", root / "warehouse" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    engine = connect(target, root)
    try:
        engine.create_schema(generate.SCHEMA)
        for name, table in generate.generate(generate.SCALES["small"]).items():
            engine.create_table_from_arrow(exp.table_(name, db=generate.SCHEMA), table)
    finally:
        engine.close()


def run(target: str) -> int:
    output = io.StringIO()
    sys.argv = ["toolkit", "run", "--target", target]
    try:
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            toolkit_main()
        code = 0
    except SystemExit as done:
        code = done.code or 0
    print(output.getvalue())
    return code


def dump(root: Path, target, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    engine = connect(target, root, exclusive=False)
    try:
        for schema in DUMPED:
            for name in engine.relations(schema):
                data = engine.fetch_arrow(exp.select("*").from_(exp.table_(name, db=schema)))
                with pa.OSFile(str(out / f"{schema}.{name}.arrow"), "wb") as sink, pa.ipc.new_file(sink, data.schema) as writer:
                    writer.write_table(data)
    finally:
        engine.close()


def main() -> int:
    root, name, out = Path(sys.argv[1]).resolve(), sys.argv[2], Path(sys.argv[3]).resolve()
    os.chdir(root)  # a local Spark Connect server keeps its tables under the working directory
    target = load_config(root).target(name)
    write_sources(root, target)
    code = run(name)
    if code == 0:
        dump(root, target, out)
    return code


if __name__ == "__main__":
    sys.exit(main())

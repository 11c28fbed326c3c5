"""Read what a Spark project publishes, then run toolkit, in one process (one JVM).

    python tests/spark_probe.py PROJECT TARGET [toolkit arguments...]

Prints `PROBE {...}` (every published relation of schema `features`: rows and the
distinct values of its `version` column, or the error reading it; physical relations
the state does not know), runs `toolkit TARGET-arguments` in this process, and when the
run succeeds prints a second PROBE line. Used by tests/test_spark_kill.py, which
SIGKILLs this process group at random points of the run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from sqlglot import exp

from toolkit.cli import main as toolkit_main
from toolkit.config import load_config
from toolkit.environments import live_relations
from toolkit.session import Access, open_session
from toolkit.state import PHYSICAL_SCHEMA


def probe(root: Path, target: str) -> dict:
    seen: dict = {"relations": {}}
    with open_session(load_config(root), target, access=Access.READ) as session:
        engine = session.engine
        for name in sorted(engine.relations("features")):
            query = exp.select("count(*)", "count(distinct version)", "min(version)").from_(exp.table_(name, db="features"))
            try:
                rows, versions, version = engine.fetch_rows(query)[0]
                seen["relations"][name] = {"rows": rows, "versions": versions, "version": version}
            except Exception as error:  # the test reports what a reader would have hit
                seen["relations"][name] = {"error": str(error).splitlines()[0]}
        live = live_relations(session.state) if session.state.exists() else set()
        seen["unknown_physical"] = sorted(set(engine.relations(PHYSICAL_SCHEMA)) - live)
    return seen


def main() -> int:
    root, target, arguments = Path(sys.argv[1]).resolve(), sys.argv[2], sys.argv[3:]
    os.chdir(root)
    print("PROBE " + json.dumps(probe(root, target)), flush=True)
    sys.argv = ["toolkit", *arguments]
    try:
        toolkit_main()
        code = 0
    except SystemExit as done:
        code = done.code or 0
    if code == 0:
        print("PROBE " + json.dumps(probe(root, target)), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())

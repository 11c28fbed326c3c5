"""toolkit's compiled scoring SQL against orbital's for the same fitted pipeline (DuckDB).

    python -m venv /tmp/venv_orbital && /tmp/venv_orbital/bin/pip install orbital && \
        /tmp/venv_orbital/bin/pip install -e .      # orbital is not a toolkit dependency
    /tmp/venv_orbital/bin/python tests/bench/bench_orbital.py [--rows 1000000] [--repeat 3]

The pipeline is StandardScaler on 6 numbers + OneHotEncoder on 2 strings +
LogisticRegression, fitted on 20k rows of bench_scoring_sql's generated table
without NULLs (orbital's SQL does not handle them like scikit-learn). Each SELECT is
run as CREATE TABLE ... AS in one in-memory DuckDB (median of --repeat), then both
results are compared with scikit-learn's predict_proba on the same rows: the largest
probability difference and the number of labels that differ. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_scoring_sql import NUMBERS, STRINGS, make_table  # noqa: E402


def pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer([("numbers", StandardScaler(), NUMBERS), ("strings", OneHotEncoder(handle_unknown="ignore"), STRINGS)])
    return Pipeline([("preprocess", columns), ("model", LogisticRegression(max_iter=1000))])


def timed(connection, name: str, select: str, repeat: int) -> float:
    seconds = []
    for _ in range(repeat):
        connection.execute(f"drop table if exists {name}")
        started = time.perf_counter()
        connection.execute(f"create table {name} as {select}")
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()

    import duckdb
    import numpy as np
    import orbital
    import orbital.types
    import pyarrow.compute as pc
    from sqlglot import exp

    from toolkit.modelsql import compile_model

    data = make_table(options.rows)
    for name in NUMBERS + STRINGS:  # no NULLs: see the module doc
        data = data.set_column(data.schema.get_field_index(name), name, pc.fill_null(data[name], 0.0 if name in NUMBERS else "a"))
    frame = data.slice(0, 20_000).to_pandas()
    model = pipeline().fit(frame[NUMBERS + STRINGS], frame["label"])

    connection = duckdb.connect()
    connection.register("incoming", data)
    connection.execute("create table rows as select * from incoming")
    connection.unregister("incoming")

    features = [{"name": n, "type": "double"} for n in NUMBERS] + [{"name": n, "type": "string"} for n in STRINGS]
    started = time.perf_counter()
    ours = compile_model(model, features, ["id"], exp.table_("rows"), fence=False, guards=False).sql(dialect="duckdb")  # as for DuckDB
    ours_compile = time.perf_counter() - started
    types = {n: orbital.types.DoubleColumnType() for n in NUMBERS} | {n: orbital.types.StringColumnType() for n in STRINGS}
    started = time.perf_counter()
    theirs = orbital.export_sql("rows", orbital.parse_pipeline(model, features=types), dialect="duckdb")
    theirs_compile = time.perf_counter() - started
    # orbital's SELECT has no key column (ours carries `id`): its rows follow the table's order

    Path("/tmp/bench_orbital_toolkit.sql").write_text(ours)
    Path("/tmp/bench_orbital_orbital.sql").write_text(theirs)
    ours_s = timed(connection, "scored_toolkit", ours, options.repeat)
    theirs_s = timed(connection, "scored_orbital", theirs, options.repeat)

    expected = model.predict_proba(data.select(NUMBERS + STRINGS).to_pandas())[:, 1]
    labels = model.predict(data.select(NUMBERS + STRINGS).to_pandas())
    ours_rows = connection.execute("select prediction, proba_yes from scored_toolkit order by id").fetchnumpy()
    theirs_columns = [c for c, in connection.execute("select column_name from (describe scored_orbital)").fetchall()]
    proba_column = next(c for c in theirs_columns if "yes" in c.lower() and "prob" in c.lower())
    label_column = next(c for c in theirs_columns if "label" in c.lower())
    label_text = f'decode("{label_column}")' if "BLOB" in str(connection.execute(f'select typeof("{label_column}") from scored_orbital limit 1').fetchone()) else f'"{label_column}"'
    theirs_rows = connection.execute(f'select {label_text} as label, "{proba_column}" as proba from scored_orbital').fetchnumpy()
    print(f"rows {options.rows:,}, duckdb {duckdb.__version__}, orbital {orbital.__version__ if hasattr(orbital, '__version__') else '?'}; "
          f"median of {options.repeat} CREATE TABLE AS")
    print("| SQL | compile s | SQL bytes | run s | vs toolkit | max |proba - sklearn| | labels != sklearn |")
    print("|---|---|---|---|---|---|---|")
    for name, compile_s, text, run_s, proba, label in (
        ("toolkit", ours_compile, ours, ours_s, ours_rows["proba_yes"], ours_rows["prediction"]),
        ("orbital", theirs_compile, theirs, theirs_s, theirs_rows["proba"], theirs_rows["label"]),
    ):
        print(f"| {name} | {compile_s:.3f} | {len(text):,} | {run_s:.3f} | {run_s / ours_s:.2f}x | "
              f"{float(np.nanmax(np.abs(np.asarray(proba, dtype=float) - expected))):.2e} | {int((np.asarray(label).astype(str) != labels).sum())} |")
    Path("/tmp/bench_orbital_toolkit.sql").write_text(ours)
    Path("/tmp/bench_orbital_orbital.sql").write_text(theirs)
    print("SQL texts: /tmp/bench_orbital_toolkit.sql, /tmp/bench_orbital_orbital.sql")


if __name__ == "__main__":
    main()

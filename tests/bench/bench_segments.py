"""Segment (fairness) metrics: what `segments=[...]` adds to training.

    python tests/bench/bench_segments.py [--rows 2000000] [--segments 50] [--repeat 1]

Trains the same model (one-hot segment + StandardScaler + LogisticRegression, metrics
roc_auc and accuracy) with toolkit.training.fit_candidates on `rows` rows, half of
them held out (so 1M held-out rows by default), once without segments and once with
`segments=["segment"]` (`segments` distinct values). Prints the seconds of each and
the ratio; the baseline is the training without segments, measured in the same run.
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pyarrow as pa


def data(rows: int, segments: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    segment = rng.integers(0, segments, rows)
    x = rng.normal(size=(rows, 3))
    logit = x @ np.array([1.0, -0.5, 0.25]) + (segment % 5 - 2) * 0.3
    label = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pa.table({"id": np.arange(rows), "segment": [f"s{v:02d}" for v in segment],
                     "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "label": label})


def spec(segments: list[str]):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from toolkit.models import ModelSpec

    def build():
        encode = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["segment"]), remainder=StandardScaler())
        return make_pipeline(encode, LogisticRegression(max_iter=200))

    return ModelSpec(name="bench", build=build, training="t", label="label", key=["id"], test_fraction=0.5,
                     metrics=["roc_auc", "accuracy"], segments=segments)


def timed(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    from toolkit.training import fit_candidates

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--segments", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    table = data(args.rows, args.segments)
    plain = timed(lambda: fit_candidates(spec([]), table), args.repeat)
    segmented = timed(lambda: fit_candidates(spec(["segment"]), table), args.repeat)
    print(f"| rows | held out | segment values | training (s) | with segments (s) | added (s) | ratio |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.rows:,} | {args.rows // 2:,} | {args.segments} | {plain:.2f} | {segmented:.2f} | {segmented - plain:.2f} | {segmented / plain:.2f}x |")


if __name__ == "__main__":
    main()

"""toolkit: warehouse-native ML pipelines.

Kept import-light on purpose: `toolkit --help` must not pull in duckdb, sqlglot,
pyarrow or scikit-learn. Heavy modules are imported where they are used.
"""

__version__ = "0.1.0"

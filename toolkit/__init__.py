"""toolkit: warehouse-native ML pipelines.

Kept import-light on purpose: `toolkit --help` must not pull in duckdb, sqlglot,
pyarrow or scikit-learn. Heavy modules are imported where they are used.
"""

__version__ = "0.1.0"

from toolkit.models import model  # noqa: E402  (stdlib-only: keeps `toolkit --help` fast)

__all__ = ["model", "__version__"]

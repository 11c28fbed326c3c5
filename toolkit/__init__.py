"""toolkit: warehouse-native ML pipelines.

Kept import-light on purpose: `toolkit --help` must not pull in duckdb, sqlglot,
pyarrow or scikit-learn. Heavy modules are imported where they are used.
"""

__version__ = "0.1.0"

from toolkit.models import model  # noqa: E402  (stdlib-only: keeps `toolkit --help` fast)
from toolkit.ibissteps import feature  # noqa: E402  (stdlib-only too: ibis is imported when a step compiles)

__all__ = ["feature", "model", "__version__"]

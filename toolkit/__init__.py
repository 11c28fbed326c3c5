"""toolkit: warehouse-native ML pipelines.

Kept import-light on purpose: `toolkit --help` must not pull in duckdb, sqlglot,
pyarrow or scikit-learn. Heavy modules are imported where they are used; even the
two decorators project code imports (`from toolkit import model, feature`) are
looked up on first use, so a command that imports no project code loads neither.
"""

__version__ = "0.1.0"

__all__ = ["feature", "model", "__version__"]


def __getattr__(name: str):
    if name == "model":
        from toolkit.models import model

        return model
    if name == "feature":
        from toolkit.ibissteps import feature

        return feature
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")
